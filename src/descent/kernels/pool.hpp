// 2-D pooling on NCHW buffers, no autograd. Each (n, c) plane is pooled on its own; the
// planes are split across threads.
//
//   kernels::Pool2dGeometry g{.planes = N * C, .H = 28, .W = 28, .KH = 2, .KW = 2,
//                             .stride_h = 2, .stride_w = 2};
//   g.OH = g.out_h(); g.OW = g.out_w();
//   std::uint8_t* argmax = ...;                      // one per output (KH * KW <= 256)
//   kernels::max_pool2d_forward(g, x, y, argmax);   // argmax: kh * KW + kw in the window
//   kernels::max_pool2d_backward(g, dy, argmax, dx);
//
// The callers validate shapes; f32 and f64 are instantiated, with the window index in
// uint8_t (windows of up to 256 elements, kMaxU8Window) or int64_t (any window).
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

// The largest window (KH * KW) whose positions fit a uint8_t.
constexpr std::int64_t kMaxU8Window = 256;

// y (planes, OH, OW) = window maxima of x (planes, H, W), padding as -inf; a NaN in a
// window wins (as PyTorch). argmax (planes, OH, OW) gets the first maximal position in the
// window, kh * KW + kw, counted from the window's corner in the padded input (the input
// position is (oh * stride_h - pad_h + kh, ow * stride_w - pad_w + kw)). Index = uint8_t
// needs KH * KW <= kMaxU8Window; int64_t takes any window.
template <typename T, typename Index>
void max_pool2d_forward(const Pool2dGeometry& g, const T* x, T* y, Index* argmax);
// dx (overwritten) = dy routed to each window's argmax.
template <typename T, typename Index>
void max_pool2d_backward(const Pool2dGeometry& g, const T* dy, const Index* argmax, T* dx);

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
