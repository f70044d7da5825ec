// Normalization.
#pragma once

#include "descent/core/tensor.hpp"

namespace descent::ops {

struct BatchNormOptions {
  bool training = true;
  double momentum = 0.1;  // running = (1 - momentum) * running + momentum * batch
  double eps = 1e-5;
};
// x (N, C) or (N, C, H, W); statistics per channel C. In training, normalizes with the
// batch's mean and biased variance and, when running_mean/running_var are defined, updates
// them in place (running_var with the unbiased variance). In evaluation, uses the running
// statistics. weight/bias (C) may be undefined (no affine). Under a bf16/f16 autocast guard
// (ops/autocast.hpp) an f32 x is kept for backward rounded to 16 bits: the output and the
// statistics are the f32 ones, the gradients those of the f32 backward reading the rounded x.
Tensor batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                  const Tensor& bias, const BatchNormOptions& options = {});
// Normalizes over the trailing dims given by normalized_shape; weight/bias of that shape
// or undefined.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps = 1e-5);

}  // namespace descent::ops
