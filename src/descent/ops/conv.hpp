// Convolution and pooling on (N, C, H, W) tensors.
#pragma once

#include <cstdint>

#include "descent/core/tensor.hpp"

namespace descent::ops {

// A pair (h, w); one number means both.
struct Size2 {
  Size2(std::int64_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose
  Size2(std::int64_t h_, std::int64_t w_) : h(h_), w(w_) {}
  std::int64_t h;
  std::int64_t w;
};

struct Conv2dOptions {
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 dilation = 1;
};
// x (N, C, H, W), weight (O, C, KH, KW), bias (O) or undefined -> (N, O, OH, OW).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {});

struct Pool2dOptions {
  Size2 kernel_size = 2;
  Size2 stride = 0;  // 0 means kernel_size, as PyTorch's default
  Size2 padding = 0;
};
// Padding counts as -inf for max and (count_include_pad, PyTorch's default) as 0 for avg.
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options);
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options);
// (N, C, H, W) -> (N, C, 1, 1), as AdaptiveAvgPool2d(1).
Tensor global_avg_pool2d(const Tensor& x);

}  // namespace descent::ops
