// f32 convolution through oneDNN's convolution primitives (used by kernels/conv.cpp; not a
// public interface). oneDNN runs its direct JIT kernels on blocked layouts (nChw16c): the
// NCHW buffers are reordered in and out on every call, and the primitives are cached per
// geometry.
#pragma once

#include "descent/kernels/conv.hpp"

namespace descent::kernels::onednn {

// True when oneDNN has a direct (JIT) kernel for this pass and geometry, rather than its own
// im2col + GEMM or reference fallback.
bool has_direct_forward(const Conv2dGeometry& g);
bool has_direct_backward_data(const Conv2dGeometry& g);
bool has_direct_backward_weights(const Conv2dGeometry& g);

void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias,
                    float* y);
void conv2d_backward_data(const Conv2dGeometry& g, const float* dy, const float* weight, float* dx);
// dweight and/or dbias (either may be null).
void conv2d_backward_weights(const Conv2dGeometry& g, const float* dy, const float* x,
                             float* dweight, float* dbias);

}  // namespace descent::kernels::onednn
