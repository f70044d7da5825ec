// f32 and bf16 convolution through oneDNN's convolution primitives (used by kernels/conv.cpp; not a
// public interface). oneDNN runs its direct JIT kernels on blocked layouts (nChw16c): the
// NCHW buffers are reordered in and out on every call, and the primitives are cached per
// geometry.
#pragma once

#include "descent/core/half.hpp"
#include "descent/kernels/conv.hpp"

namespace descent::kernels::onednn {

// True when oneDNN has a direct (JIT) kernel for this pass and geometry, rather than its own
// im2col + GEMM or reference fallback; `bf16`: for bf16 inputs.
bool has_direct_forward(const Conv2dGeometry& g, bool bf16 = false);
bool has_direct_backward_data(const Conv2dGeometry& g, bool bf16 = false);
bool has_direct_backward_weights(const Conv2dGeometry& g, bool bf16 = false);

void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias,
                    float* y);
void conv2d_backward_data(const Conv2dGeometry& g, const float* dy, const float* weight, float* dx);
// dweight and/or dbias (either may be null).
void conv2d_backward_weights(const Conv2dGeometry& g, const float* dy, const float* x,
                             float* dweight, float* dbias);

// Mixed precision: bf16 inputs (x, weight, dy), every sum in f32, f32 outputs and bias.
// has_bf16(): oneDNN has a direct bf16 kernel on this CPU (AVX-512; checked once).
bool has_bf16();
void conv2d_forward(const Conv2dGeometry& g, const BFloat16* x, const BFloat16* weight,
                    const float* bias, float* y);
void conv2d_backward_data(const Conv2dGeometry& g, const BFloat16* dy, const BFloat16* weight,
                          float* dx);
void conv2d_backward_weights(const Conv2dGeometry& g, const BFloat16* dy, const BFloat16* x,
                             float* dweight, float* dbias);

}  // namespace descent::kernels::onednn
