// 2-D convolution (cross-correlation, as PyTorch's conv2d) on NCHW buffers, no autograd.
//
//   kernels::Conv2dGeometry g{.N = 128, .C = 16, .H = 28, .W = 28, .O = 16, .KH = 3, .KW = 3,
//                             .pad_h = 1, .pad_w = 1};
//   g.OH = g.out_h(); g.OW = g.out_w();              // or let the op fill them
//   kernels::conv2d_forward(g, x, weight, bias, y);  // x (N, C, H, W) -> y (N, O, OH, OW)
//   kernels::conv2d_backward_input(g, dy, weight, dx);
//   kernels::conv2d_backward_weight(g, dy, x, dweight, dbias);
//
// The callers validate shapes; these functions trust the geometry. f32 and f64 are
// instantiated. Pointers are to contiguous row-major buffers; bias/dbias may be null.
#pragma once

#include <cstdint>

#include "descent/core/half.hpp"

namespace descent::kernels {

struct Conv2dGeometry {
  std::int64_t N = 1, C = 1, H = 1, W = 1;  // input (N, C, H, W)
  std::int64_t O = 1, KH = 1, KW = 1;       // weight (O, C, KH, KW)
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t OH = 1, OW = 1;  // output (N, O, OH, OW)

  // Output size as PyTorch: floor((H + 2 pad - dilation (K - 1) - 1) / stride) + 1.
  std::int64_t out_h() const { return (H + 2 * pad_h - dilation_h * (KH - 1) - 1) / stride_h + 1; }
  std::int64_t out_w() const { return (W + 2 * pad_w - dilation_w * (KW - 1) - 1) / stride_w + 1; }
};

// How to compute: automatic picks, per pass and geometry, the faster one measured here
// (see conv.cpp); the others force a path (for tests and benchmarks). onednn and direct
// (descent's own AVX-512 kernels, conv_direct.hpp) are f32 only; direct throws where the CPU
// has no AVX-512 or the geometry is not one it handles (dilation, unequal strides, backward
// data with a padding past the kernel's reach).
enum class ConvAlgorithm { automatic, im2col_gemm, onednn, direct };

// y = conv(x, weight) + bias.   x (N, C, H, W), weight (O, C, KH, KW), bias (O), y (N, O, OH, OW)
template <typename T>
void conv2d_forward(const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y,
                    ConvAlgorithm algorithm = ConvAlgorithm::automatic);

// dx = gradient of the input (overwritten).   dy (N, O, OH, OW) -> dx (N, C, H, W)
template <typename T>
void conv2d_backward_input(const Conv2dGeometry& g, const T* dy, const T* weight, T* dx,
                           ConvAlgorithm algorithm = ConvAlgorithm::automatic);

// dweight (O, C, KH, KW) and, when dbias is not null, dbias (O); both overwritten. dweight
// may be null when only dbias is wanted.
template <typename T>
void conv2d_backward_weight(const Conv2dGeometry& g, const T* dy, const T* x, T* dweight, T* dbias,
                            ConvAlgorithm algorithm = ConvAlgorithm::automatic);

// ---- mixed precision: 16-bit inputs, f32 sums and outputs ----
// x, weight and dy in bf16 or f16 (L); y, dx, dweight, bias and dbias in f32. bf16 runs
// oneDNN's bf16 kernels (AVX-512-BF16's vdpbf16ps; emulated on other AVX-512 CPUs) where the
// f32 rule above picks oneDNN and oneDNN has a direct bf16 kernel for the geometry; every
// other case (f16: these CPUs have no f16 dot product; small or pointwise convolutions; CPUs
// without AVX-512) widens the inputs to f32, exactly, and runs the f32 convolution: the same
// result up to the order of the f32 sums. `widen` forces the second path (tests, benchmarks).
template <typename L>
void conv2d_forward_mixed(const Conv2dGeometry& g, const L* x, const L* weight, const float* bias,
                          float* y, bool widen = false);
template <typename L>
void conv2d_backward_input_mixed(const Conv2dGeometry& g, const L* dy, const L* weight, float* dx,
                                 bool widen = false);
template <typename L>
void conv2d_backward_weight_mixed(const Conv2dGeometry& g, const L* dy, const L* x, float* dweight,
                                  float* dbias, bool widen = false);

}  // namespace descent::kernels
