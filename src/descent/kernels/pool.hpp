// 2-D pooling on NCHW buffers, no autograd. Each (n, c) plane is pooled on its own; the
// planes are split across threads.
//
//   kernels::Pool2dGeometry g{.planes = N * C, .H = 28, .W = 28, .KH = 2, .KW = 2,
//                             .stride_h = 2, .stride_w = 2};
//   g.OH = g.out_h(); g.OW = g.out_w();
//   kernels::max_pool2d_forward(g, x, y, argmax);   // argmax: i64 index h * W + w per output
//   kernels::max_pool2d_backward(g, dy, argmax, dx);
//
// The callers validate shapes; f32 and f64 are instantiated.
#pragma once

#include <cstdint>

namespace descent::kernels {

struct Pool2dGeometry {
  std::int64_t planes = 1;  // N * C
  std::int64_t H = 1, W = 1;
  std::int64_t KH = 1, KW = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t OH = 1, OW = 1;

  // floor((H + 2 pad - K) / stride) + 1, as PyTorch with ceil_mode=false.
  std::int64_t out_h() const { return (H + 2 * pad_h - KH) / stride_h + 1; }
  std::int64_t out_w() const { return (W + 2 * pad_w - KW) / stride_w + 1; }
};

// y (planes, OH, OW) = window maxima of x (planes, H, W), padding as -inf; a NaN in a
// window wins (as PyTorch). argmax gets the first maximal position h * W + w in the plane.
template <typename T>
void max_pool2d_forward(const Pool2dGeometry& g, const T* x, T* y, std::int64_t* argmax);
// dx (overwritten) = dy routed to each window's argmax.
template <typename T>
void max_pool2d_backward(const Pool2dGeometry& g, const T* dy, const std::int64_t* argmax, T* dx);

// Window means; padding counts as zeros in the divisor (count_include_pad=true).
template <typename T>
void avg_pool2d_forward(const Pool2dGeometry& g, const T* x, T* y);
template <typename T>
void avg_pool2d_backward(const Pool2dGeometry& g, const T* dy, T* dx);

// y (planes) = mean of each plane of x (planes, size), and its gradient.
template <typename T>
void plane_mean_forward(std::int64_t planes, std::int64_t size, const T* x, T* y);
template <typename T>
void plane_mean_backward(std::int64_t planes, std::int64_t size, const T* dy, T* dx);

}  // namespace descent::kernels
