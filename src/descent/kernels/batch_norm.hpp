// Fused batch normalization on (N, C, S) buffers, no autograd (S = H * W; 1 for (N, C)).
// Statistics are per channel c over M = N * S values.
//
//   kernels::BatchNormGeometry g{.N = 128, .C = 16, .S = 28 * 28};
//   kernels::batch_norm_forward_training(g, x, weight, bias, {.eps = 1e-5, .momentum = 0.1},
//                                        running_mean, running_var, y, mean, invstd);
//   ...
//   kernels::batch_norm_backward(g, dy, x, weight, mean, invstd, /*training=*/true,
//                                dx, dweight, dbias);
//
// weight/bias (C) may be null (no affine); running_mean/running_var may be null; the
// outputs dx/dweight/dbias may be null when not wanted. f32 and f64 are instantiated;
// sums are accumulated in double. The backward also reads x saved in 16 bits (mixed
// precision: T = float, X = BFloat16 or Half), widening each element as it goes.
#pragma once

#include <cstdint>

#include "descent/core/half.hpp"

namespace descent::kernels {

struct BatchNormGeometry {
  std::int64_t N = 1;
  std::int64_t C = 1;
  std::int64_t S = 1;
};

struct BatchNormParams {
  double eps = 1e-5;
  double momentum = 0.1;
};

// y = (x - mean) * invstd * weight + bias with the batch's mean and biased variance;
// writes mean (C) and invstd = 1 / sqrt(var + eps) (C) for the backward, and updates
// running_mean/running_var in place: running = (1 - momentum) running + momentum batch,
// with the unbiased variance var * M / (M - 1).
template <typename T>
void batch_norm_forward_training(const BatchNormGeometry& g, const T* x, const T* weight,
                                 const T* bias, const BatchNormParams& params, T* running_mean,
                                 T* running_var, T* y, T* mean, T* invstd);

// y with the running statistics; writes mean (a copy of running_mean) and invstd (C) for
// the backward.
template <typename T>
void batch_norm_forward_eval(const BatchNormGeometry& g, const T* x, const T* weight, const T* bias,
                             const T* running_mean, const T* running_var, double eps, T* y, T* mean,
                             T* invstd);

// Gradients from the saved mean/invstd. In training, dx is the full batch-norm backward
// (the statistics depend on x); in evaluation, dx = dy * weight * invstd. x is the forward's
// input, in T or (T = float) as its bf16/f16 rounding: the result is then exactly that of
// the T kernel on the widened x; mean and invstd are the forward's, from the unrounded x.
template <typename T, typename X = T>
void batch_norm_backward(const BatchNormGeometry& g, const T* dy, const X* x, const T* weight,
                         const T* mean, const T* invstd, bool training, T* dx, T* dweight,
                         T* dbias);

}  // namespace descent::kernels
