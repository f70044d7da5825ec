// Losses, with PyTorch's reductions and options.
#pragma once

#include <cstdint>

#include "descent/core/tensor.hpp"

namespace descent::ops {

enum class Reduction { none, mean, sum };

struct CrossEntropyOptions {
  Reduction reduction = Reduction::mean;
  std::int64_t ignore_index = -100;
  double label_smoothing = 0.0;  // in [0, 1]
};
// logits (N, C), target (N) of class indices (i64 or i32), fused with log_softmax. With
// mean reduction, divides by the number of targets that are not ignore_index.
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options = {});
struct NllLossOptions {
  Reduction reduction = Reduction::mean;
  std::int64_t ignore_index = -100;
};
// log_probs (N, C), target (N).
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NllLossOptions& options = {});
// Same shapes.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);

}  // namespace descent::ops
