// descent's own direct convolution on AVX-512, f32 and bf16 inputs with f32 sums, on the NCHW
// buffers of kernels/conv.hpp (used by conv.cpp; not a public interface).
//
// ====== How it works ======
// Each sample's input is first copied, with its zero padding, into the calling thread's
// buffer; with stride s the padded plane is split into s * s phase planes (rows and columns
// of the same remainder mod s), so that every tap (c, kh, kw) of the kernel reads its phase
// plane at unit stride. An output position q = oh * Wq + ow (Wq: the phase plane's width; the
// columns ow >= OW are computed and dropped) then reads tap t at buffer[offset[t] + q] for
// every q: 16 consecutive positions are one unaligned load, whatever the tap.
//
//   forward            y[o][q] = sum_t buffer[offset[t] + q] * w[o][t]
//                      large planes: a tile of 3 x 16 positions by 8 output channels in 24
//                      accumulators; per tap, 3 loads and 8 broadcast weights feed 24 FMAs;
//                      small planes (channels in 16s): up to 28 positions of one output row by
//                      16-64 channels, the output transposed after.
//   backward data      the forward pass of dy, padded by K - 1 - pad, with the kernel
//                      flipped and its channels swapped; with stride s, one such pass per
//                      phase of dx (rows and columns of the same remainder mod s), each with
//                      the kernel taps that reach it, scattered into dx.
//   backward weights   dw[t][o] += buffer[offset[t] + q] * dy[q][o], an outer product per
//                      output position over dy transposed to (positions, channels): a tile of
//                      12 taps by 32 channels (or 24 by 16) in 24 accumulators, kept across
//                      the positions and the samples of a thread; the threads' sums are added
//                      in thread order, so the result depends only on the thread count.
//
// bf16: a 32-bit slot of the copied input and of the packed weights holds two bf16 of
// consecutive channels (forward, backward data) or positions (backward weights), which
// vdpbf16ps multiplies pairwise into the f32 accumulators; the tiles are the same.
//
// The work is split between the threads by sample (and by output-channel block in the
// forward pass); inside a caller's parallel region it runs on the calling thread. Scratch
// memory comes from the caching allocator: a warm call makes no heap allocation.
#pragma once

#include "descent/core/half.hpp"
#include "descent/kernels/conv.hpp"

namespace descent::kernels::direct {

// True when the CPU has AVX-512 F, BW and VL (checked once); available_bf16(): and
// AVX512-BF16, for bf16 inputs.
bool available();
bool available_bf16();

// Whether the kernels handle the geometry: dilation 1, equal strides, and for backward data a
// padding that every phase's taps reach (below the kernel size with stride 1).
bool handles_forward(const Conv2dGeometry& g);
bool handles_backward_data(const Conv2dGeometry& g);
bool handles_backward_weights(const Conv2dGeometry& g);

// As kernels::conv2d_forward etc. (conv.hpp): y, dx, dweight and dbias are overwritten; bias,
// dweight and dbias may be null. Throw Error where available() (available_bf16() for bf16) is
// false or the geometry is not handled. In: float, or BFloat16 (mixed precision: bf16 x, weight and
// dy, f32 outputs and bias; forward and backward data multiply pairs of channels with vdpbf16ps,
// backward weights pairs of output positions; f32 sums of the exact bf16 products).
template <typename In>
void conv2d_forward(const Conv2dGeometry& g, const In* x, const In* weight, const float* bias,
                    float* y);
template <typename In>
void conv2d_backward_data(const Conv2dGeometry& g, const In* dy, const In* weight, float* dx);
template <typename In>
void conv2d_backward_weights(const Conv2dGeometry& g, const In* dy, const In* x, float* dweight,
                             float* dbias);

}  // namespace descent::kernels::direct
