// Max and average pooling as PyTorch's CPU kernels (aten/src/ATen/native/cpu/
// MaxPoolKernel.cpp, AvgPoolKernel.cpp; ceil_mode=false): window [oh*stride - pad, +K)
// clipped to the input; the average divides by the window clipped to the padded input.
#include "descent/kernels/pool.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace descent::kernels {
namespace {

constexpr std::int64_t kParallelThreshold = 32768;

// The window of output (oh, ow): input rows [h0, h1), columns [w0, w1), and the divisor of
// count_include_pad.
struct Window {
  std::int64_t h0, h1, w0, w1;
  std::int64_t padded_size;
};
Window window(const Pool2dGeometry& g, std::int64_t oh, std::int64_t ow) {
  const std::int64_t h_start = oh * g.stride_h - g.pad_h;
  const std::int64_t w_start = ow * g.stride_w - g.pad_w;
  const std::int64_t h_end = std::min(h_start + g.KH, g.H + g.pad_h);
  const std::int64_t w_end = std::min(w_start + g.KW, g.W + g.pad_w);
  return {std::max<std::int64_t>(h_start, 0), std::min(h_end, g.H),
          std::max<std::int64_t>(w_start, 0), std::min(w_end, g.W),
          (h_end - h_start) * (w_end - w_start)};
}

}  // namespace

template <typename T>
void max_pool2d_forward(const Pool2dGeometry& g, const T* x, T* y, std::int64_t* argmax) {
  const std::int64_t in_plane = g.H * g.W;
  const std::int64_t out_plane = g.OH * g.OW;
#pragma omp parallel for if (g.planes * out_plane * g.KH * g.KW > kParallelThreshold)
  for (std::int64_t p = 0; p < g.planes; ++p) {
    const T* in = x + p * in_plane;
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        const Window win = window(g, oh, ow);
        T best = -std::numeric_limits<T>::infinity();
        std::int64_t best_index = win.h0 * g.W + win.w0;
        for (std::int64_t h = win.h0; h < win.h1; ++h) {
          for (std::int64_t w = win.w0; w < win.w1; ++w) {
            const T value = in[h * g.W + w];
            if (value > best || std::isnan(value)) {
              best = value;
              best_index = h * g.W + w;
            }
          }
        }
        y[p * out_plane + oh * g.OW + ow] = best;
        argmax[p * out_plane + oh * g.OW + ow] = best_index;
      }
    }
  }
}

template <typename T>
void max_pool2d_backward(const Pool2dGeometry& g, const T* dy, const std::int64_t* argmax, T* dx) {
  const std::int64_t in_plane = g.H * g.W;
  const std::int64_t out_plane = g.OH * g.OW;
#pragma omp parallel for if (g.planes * (in_plane + out_plane) > kParallelThreshold)
  for (std::int64_t p = 0; p < g.planes; ++p) {
    T* grad_in = dx + p * in_plane;
    std::fill(grad_in, grad_in + in_plane, T(0));
    for (std::int64_t i = 0; i < out_plane; ++i) {
      grad_in[argmax[p * out_plane + i]] += dy[p * out_plane + i];
    }
  }
}

template <typename T>
void avg_pool2d_forward(const Pool2dGeometry& g, const T* x, T* y) {
  const std::int64_t in_plane = g.H * g.W;
  const std::int64_t out_plane = g.OH * g.OW;
#pragma omp parallel for if (g.planes * out_plane * g.KH * g.KW > kParallelThreshold)
  for (std::int64_t p = 0; p < g.planes; ++p) {
    const T* in = x + p * in_plane;
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        const Window win = window(g, oh, ow);
        T total = 0;
        for (std::int64_t h = win.h0; h < win.h1; ++h) {
          for (std::int64_t w = win.w0; w < win.w1; ++w) total += in[h * g.W + w];
        }
        y[p * out_plane + oh * g.OW + ow] = total / static_cast<T>(win.padded_size);
      }
    }
  }
}

template <typename T>
void avg_pool2d_backward(const Pool2dGeometry& g, const T* dy, T* dx) {
  const std::int64_t in_plane = g.H * g.W;
  const std::int64_t out_plane = g.OH * g.OW;
#pragma omp parallel for if (g.planes * out_plane * g.KH * g.KW > kParallelThreshold)
  for (std::int64_t p = 0; p < g.planes; ++p) {
    T* grad_in = dx + p * in_plane;
    std::fill(grad_in, grad_in + in_plane, T(0));
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        const Window win = window(g, oh, ow);
        const T share = dy[p * out_plane + oh * g.OW + ow] / static_cast<T>(win.padded_size);
        for (std::int64_t h = win.h0; h < win.h1; ++h) {
          for (std::int64_t w = win.w0; w < win.w1; ++w) grad_in[h * g.W + w] += share;
        }
      }
    }
  }
}

template <typename T>
void plane_mean_forward(std::int64_t planes, std::int64_t size, const T* x, T* y) {
#pragma omp parallel for if (planes * size > kParallelThreshold)
  for (std::int64_t p = 0; p < planes; ++p) {
    const T* in = x + p * size;
    T total = 0;
#pragma omp simd reduction(+ : total)
    for (std::int64_t i = 0; i < size; ++i) total += in[i];
    y[p] = total / static_cast<T>(size);
  }
}

template <typename T>
void plane_mean_backward(std::int64_t planes, std::int64_t size, const T* dy, T* dx) {
#pragma omp parallel for if (planes * size > kParallelThreshold)
  for (std::int64_t p = 0; p < planes; ++p) {
    const T share = dy[p] / static_cast<T>(size);
    std::fill(dx + p * size, dx + (p + 1) * size, share);
  }
}

#define DESCENT_POOL_INSTANTIATE(T)                                                               \
  template void max_pool2d_forward<T>(const Pool2dGeometry&, const T*, T*, std::int64_t*);        \
  template void max_pool2d_backward<T>(const Pool2dGeometry&, const T*, const std::int64_t*, T*); \
  template void avg_pool2d_forward<T>(const Pool2dGeometry&, const T*, T*);                       \
  template void avg_pool2d_backward<T>(const Pool2dGeometry&, const T*, T*);                      \
  template void plane_mean_forward<T>(std::int64_t, std::int64_t, const T*, T*);                  \
  template void plane_mean_backward<T>(std::int64_t, std::int64_t, const T*, T*);
DESCENT_POOL_INSTANTIATE(float)
DESCENT_POOL_INSTANTIATE(double)
#undef DESCENT_POOL_INSTANTIATE

}  // namespace descent::kernels
