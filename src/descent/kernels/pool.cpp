// Max and average pooling as PyTorch's CPU kernels (aten/src/ATen/native/cpu/
// MaxPoolKernel.cpp, AvgPoolKernel.cpp; ceil_mode=false): window [oh*stride - pad, +K)
// clipped to the input. The average divides by the window clipped to the padded input
// (count_include_pad); without ceil_mode no window reaches past the padding
// (ow * stride + K <= W + 2 pad), so that is always KH * KW.
#include "descent/kernels/pool.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "descent/core/parallel.hpp"

namespace descent::kernels {
namespace {

constexpr std::int64_t kParallelThreshold = 32768;
// Outputs whose input positions max_pool2d_backward computes before scattering their dy.
constexpr std::int64_t kScatterChunk = 256;

// Output columns [lo, hi) whose window column ow * stride - pad + kw lies inside [0, W);
// the others read padding at that kw.
struct ColumnRange {
  std::int64_t lo;
  std::int64_t hi;
};
inline ColumnRange valid_columns(const Pool2dGeometry& g, std::int64_t kw) {
  const std::int64_t offset = kw - g.pad_w;
  // smallest ow with ow * stride + offset >= bound
  auto first_at_least = [&](std::int64_t bound) {
    const std::int64_t need = bound - offset;
    return need <= 0 ? std::int64_t{0} : std::min(g.OW, (need + g.stride_w - 1) / g.stride_w);
  };
  const std::int64_t lo = first_at_least(0);
  return {lo, std::max(lo, first_at_least(g.W))};
}

// Input rows [h0, h1) of output row oh.
struct RowWindow {
  std::int64_t h0;
  std::int64_t h1;
};
inline RowWindow row_window(const Pool2dGeometry& g, std::int64_t oh) {
  const std::int64_t start = oh * g.stride_h - g.pad_h;
  return {std::max<std::int64_t>(start, 0), std::min(start + g.KH, g.H)};
}

}  // namespace

// Loops run over the window (h, kw) outside and over a row of outputs ow inside: the inner
// loop is then branch-free and vectorizes, and for a given output the window is still
// scanned row by row, left to right (so the first maximum wins, as in PyTorch).

namespace {

// The 2x2 window with stride 2 and no padding (the zoo's MaxPool2d(2)). One vectorized
// loop runs over a whole output plane, each output reading its four inputs (gathered
// through a table of window offsets) in the general loop's order: row by row, left to
// right. The general loop below vectorizes along an output row only, and rows of 14 or 7
// leave it mostly in scalar remainders: this one measured 5 to 14 times faster on the
// CNN's (128, 32, 28, 28) and (128, 64, 14, 14).
template <typename T, typename Index>
bool max_pool2x2_forward(const Pool2dGeometry& g, const T* x, T* y, Index* argmax) {
  const std::int64_t W = g.W;
  const std::int64_t in_plane = g.H * W;
  const std::int64_t out_plane = g.OH * g.OW;
  if (g.KH != 2 || g.KW != 2 || g.stride_h != 2 || g.stride_w != 2 || g.pad_h != 0 ||
      g.pad_w != 0 || in_plane >= (std::int64_t{1} << 31)) {
    return false;
  }
  // offsets[o] = position of output o's window in the plane (kept across calls: no
  // allocation once warm)
  thread_local std::vector<std::int32_t> offsets;
  offsets.resize(static_cast<std::size_t>(out_plane));
  for (std::int64_t oh = 0; oh < g.OH; ++oh) {
    for (std::int64_t ow = 0; ow < g.OW; ++ow) {
      offsets[oh * g.OW + ow] = static_cast<std::int32_t>(2 * oh * W + 2 * ow);
    }
  }
  const std::int32_t* window = offsets.data();
  parallel_for_if(g.planes * out_plane * 4 > kParallelThreshold, g.planes, [=](std::int64_t p) {
    // The captures are read once into locals: the stores below (an Index of uint8_t may
    // alias anything) would otherwise make the loop reload them, and it would not vectorize.
    // simdlen(16): the parallel path calls this lambda out of line, where GCC vectorizes the
    // loop 32 wide for a uint8_t Index with no vector epilogue, and a 7 x 7 plane ran 17 of
    // its 49 outputs in scalar code (5x slower on the CNN's (128, 64, 14, 14), conv_bench at
    // 1 thread); 16 wide keeps the former speed on both CNN shapes.
    const std::int64_t width = W;
    const std::int64_t outputs = out_plane;
    const std::int32_t* offset = window;
    const T* in = x + p * in_plane;
    T* best_out = y + p * outputs;
    Index* index_out = argmax + p * outputs;
#pragma omp simd simdlen(16)
    for (std::int64_t o = 0; o < outputs; ++o) {
      const std::int64_t at = offset[o];
      T best = -std::numeric_limits<T>::infinity();
      std::int32_t index = 0;
      // a NaN wins, as in PyTorch
      auto consider = [&](T value, std::int32_t position) {
        const bool take = (value > best) | (value != value);
        best = take ? value : best;
        index = take ? position : index;
      };
      consider(in[at], 0);
      consider(in[at + 1], 1);
      consider(in[at + width], 2);
      consider(in[at + width + 1], 3);
      best_out[o] = best;
      index_out[o] = static_cast<Index>(index);
    }
  });
  return true;
}

// Max pooling's backward over every plane: zero dx, then add each dy at the input position
// position_of(o, k) of output o's saved window position k. The positions are computed a
// chunk at a time in `Position` (a vectorized pass: the loads do not wait on the scatter),
// then scattered.
template <typename Position, typename T, typename Index, typename PositionOf>
void scatter_to_positions(const Pool2dGeometry& g, const T* dy, const Index* argmax, T* dx,
                          PositionOf position_of) {
  const std::int64_t in_plane = g.H * g.W;
  const std::int64_t out_plane = g.OH * g.OW;
  const bool parallel = g.planes * (in_plane + out_plane) > kParallelThreshold;
  parallel_for_if(parallel, g.planes, [=](std::int64_t p) {
    T* grad_in = dx + p * in_plane;
    const T* grad_out = dy + p * out_plane;
    const Index* index = argmax + p * out_plane;
    std::fill(grad_in, grad_in + in_plane, T(0));
    Position position[kScatterChunk];
    for (std::int64_t o0 = 0; o0 < out_plane; o0 += kScatterChunk) {
      const std::int64_t count = std::min(kScatterChunk, out_plane - o0);
#pragma omp simd
      for (std::int64_t i = 0; i < count; ++i) position[i] = position_of(o0 + i, index[o0 + i]);
      for (std::int64_t i = 0; i < count; ++i) grad_in[position[i]] += grad_out[o0 + i];
    }
  });
}

// Its backward: zero dx, then add each dy at 2 oh W + 2 ow + (k / 2) W + k % 2 for its saved
// position k, the positions computed in int32 a chunk at a time (a vectorized pass), then
// scattered. Against the former scatter through saved i64 plane positions (conv_bench, best
// of 8, 1 thread): about the same time on the CNN's (128, 32, 28, 28), 1.15x on its
// (128, 64, 14, 14), whose planes of 49 outputs pay the per-plane work.
template <typename T, typename Index>
bool max_pool2x2_backward(const Pool2dGeometry& g, const T* dy, const Index* argmax, T* dx) {
  const std::int64_t in_plane = g.H * g.W;
  const std::int64_t out_plane = g.OH * g.OW;
  if (g.KH != 2 || g.KW != 2 || g.stride_h != 2 || g.stride_w != 2 || g.pad_h != 0 ||
      g.pad_w != 0 || in_plane >= (std::int64_t{1} << 31)) {
    return false;
  }
  const auto W = static_cast<std::int32_t>(g.W);
  // corners[o] = position of output o's window in the plane (kept across calls)
  thread_local std::vector<std::int32_t> corners;
  corners.resize(static_cast<std::size_t>(out_plane));
  for (std::int64_t oh = 0; oh < g.OH; ++oh) {
    for (std::int64_t ow = 0; ow < g.OW; ++ow) {
      corners[oh * g.OW + ow] = static_cast<std::int32_t>(2 * oh * g.W + 2 * ow);
    }
  }
  const std::int32_t* corner = corners.data();
  scatter_to_positions<std::int32_t>(
      g, dy, argmax, dx,
      [corner, W](std::int64_t o, std::int32_t k) { return corner[o] + (k >> 1) * W + (k & 1); });
  return true;
}

}  // namespace

template <typename T, typename Index>
void max_pool2d_forward(const Pool2dGeometry& g, const T* x, T* y, Index* argmax) {
  if (max_pool2x2_forward(g, x, y, argmax)) return;
  const std::int64_t in_plane = g.H * g.W;
  const std::int64_t out_plane = g.OH * g.OW;
  parallel_for_if(
      g.planes * out_plane * g.KH * g.KW > kParallelThreshold, g.planes, [=](std::int64_t p) {
        const T* in = x + p * in_plane;
        for (std::int64_t oh = 0; oh < g.OH; ++oh) {
          T* best = y + p * out_plane + oh * g.OW;
          Index* best_index = argmax + p * out_plane + oh * g.OW;
          const RowWindow rows = row_window(g, oh);
          const std::int64_t top = oh * g.stride_h - g.pad_h;  // the window's first row (padded)
          // until a value is taken: the window's first position inside the input
          for (std::int64_t ow = 0; ow < g.OW; ++ow) {
            best[ow] = -std::numeric_limits<T>::infinity();
            const std::int64_t first_kw = std::max<std::int64_t>(g.pad_w - ow * g.stride_w, 0);
            best_index[ow] = static_cast<Index>((rows.h0 - top) * g.KW + first_kw);
          }
          for (std::int64_t h = rows.h0; h < rows.h1; ++h) {
            const T* row = in + h * g.W;
            const std::int64_t stride = g.stride_w;
            for (std::int64_t kw = 0; kw < g.KW; ++kw) {
              const ColumnRange cols = valid_columns(g, kw);
              const std::int64_t offset = kw - g.pad_w;
              const Index position = static_cast<Index>((h - top) * g.KW + kw);
#pragma omp simd
              for (std::int64_t ow = cols.lo; ow < cols.hi; ++ow) {
                const T value = row[ow * stride + offset];
                const T current = best[ow];
                const Index current_index = best_index[ow];
                // a NaN wins, as in PyTorch
                const bool take = (value > current) | (value != value);
                best[ow] = take ? value : current;
                best_index[ow] = take ? position : current_index;
              }
            }
          }
        }
      });
}

template <typename T, typename Index>
void max_pool2d_backward(const Pool2dGeometry& g, const T* dy, const Index* argmax, T* dx) {
  if (max_pool2x2_backward(g, dy, argmax, dx)) return;
  const std::int64_t out_plane = g.OH * g.OW;
  // corners[o] = plane position of output o's window corner (before the plane when padded),
  // offsets[k] = that of window element k = (kh, kw) from the corner; kept across calls
  thread_local std::vector<std::int64_t> corners;
  thread_local std::vector<std::int64_t> offsets;
  corners.resize(static_cast<std::size_t>(out_plane));
  offsets.resize(static_cast<std::size_t>(g.KH * g.KW));
  for (std::int64_t oh = 0; oh < g.OH; ++oh) {
    for (std::int64_t ow = 0; ow < g.OW; ++ow) {
      corners[oh * g.OW + ow] = (oh * g.stride_h - g.pad_h) * g.W + ow * g.stride_w - g.pad_w;
    }
  }
  for (std::int64_t k = 0; k < g.KH * g.KW; ++k) offsets[k] = (k / g.KW) * g.W + k % g.KW;
  const std::int64_t* corner = corners.data();
  const std::int64_t* offset = offsets.data();
  scatter_to_positions<std::int64_t>(
      g, dy, argmax, dx,
      [corner, offset](std::int64_t o, std::int64_t k) { return corner[o] + offset[k]; });
}

template <typename T>
void avg_pool2d_forward(const Pool2dGeometry& g, const T* x, T* y) {
  const std::int64_t in_plane = g.H * g.W;
  const std::int64_t out_plane = g.OH * g.OW;
  const bool parallel = g.planes * out_plane * g.KH * g.KW > kParallelThreshold;
  parallel_for_if(parallel, g.planes, [=](std::int64_t p) {
    const T* in = x + p * in_plane;
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      T* out = y + p * out_plane + oh * g.OW;
      const RowWindow rows = row_window(g, oh);
      std::fill(out, out + g.OW, T(0));
      for (std::int64_t h = rows.h0; h < rows.h1; ++h) {
        const T* row = in + h * g.W;
        for (std::int64_t kw = 0; kw < g.KW; ++kw) {
          const ColumnRange cols = valid_columns(g, kw);
          const std::int64_t offset = kw - g.pad_w;
#pragma omp simd
          for (std::int64_t ow = cols.lo; ow < cols.hi; ++ow)
            out[ow] += row[ow * g.stride_w + offset];
        }
      }
      const T inv_area = T(1) / static_cast<T>(g.KH * g.KW);
      for (std::int64_t ow = 0; ow < g.OW; ++ow) out[ow] *= inv_area;
    }
  });
}

template <typename T>
void avg_pool2d_backward(const Pool2dGeometry& g, const T* dy, T* dx) {
  const std::int64_t in_plane = g.H * g.W;
  const std::int64_t out_plane = g.OH * g.OW;
  const T inv_area = T(1) / static_cast<T>(g.KH * g.KW);
  const bool parallel = g.planes * out_plane * g.KH * g.KW > kParallelThreshold;
  parallel_for_if(parallel, g.planes, [=](std::int64_t p) {
    T* grad_in = dx + p * in_plane;
    std::fill(grad_in, grad_in + in_plane, T(0));
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      const T* grad_out = dy + p * out_plane + oh * g.OW;
      const RowWindow rows = row_window(g, oh);
      for (std::int64_t h = rows.h0; h < rows.h1; ++h) {
        T* row = grad_in + h * g.W;
        for (std::int64_t kw = 0; kw < g.KW; ++kw) {
          const ColumnRange cols = valid_columns(g, kw);
          const std::int64_t offset = kw - g.pad_w;
          // for a fixed kw, distinct ow touch distinct columns: no conflict within the loop
#pragma omp simd
          for (std::int64_t ow = cols.lo; ow < cols.hi; ++ow) {
            row[ow * g.stride_w + offset] += grad_out[ow] * inv_area;
          }
        }
      }
    }
  });
}

template <typename T>
void plane_mean_forward(std::int64_t planes, std::int64_t size, const T* x, T* y) {
  parallel_for_if(planes * size > kParallelThreshold, planes, [=](std::int64_t p) {
    const T* in = x + p * size;
    T total = 0;
#pragma omp simd reduction(+ : total)
    for (std::int64_t i = 0; i < size; ++i) total += in[i];
    y[p] = total / static_cast<T>(size);
  });
}

template <typename T>
void plane_mean_backward(std::int64_t planes, std::int64_t size, const T* dy, T* dx) {
  parallel_for_if(planes * size > kParallelThreshold, planes, [=](std::int64_t p) {
    const T share = dy[p] / static_cast<T>(size);
    std::fill(dx + p * size, dx + (p + 1) * size, share);
  });
}

#define DESCENT_MAX_POOL_INSTANTIATE(T, Index)                                             \
  template void max_pool2d_forward<T, Index>(const Pool2dGeometry&, const T*, T*, Index*); \
  template void max_pool2d_backward<T, Index>(const Pool2dGeometry&, const T*, const Index*, T*);
DESCENT_MAX_POOL_INSTANTIATE(float, std::uint8_t)
DESCENT_MAX_POOL_INSTANTIATE(float, std::int64_t)
DESCENT_MAX_POOL_INSTANTIATE(double, std::uint8_t)
DESCENT_MAX_POOL_INSTANTIATE(double, std::int64_t)
#undef DESCENT_MAX_POOL_INSTANTIATE

#define DESCENT_POOL_INSTANTIATE(T)                                              \
  template void avg_pool2d_forward<T>(const Pool2dGeometry&, const T*, T*);      \
  template void avg_pool2d_backward<T>(const Pool2dGeometry&, const T*, T*);     \
  template void plane_mean_forward<T>(std::int64_t, std::int64_t, const T*, T*); \
  template void plane_mean_backward<T>(std::int64_t, std::int64_t, const T*, T*);
DESCENT_POOL_INSTANTIATE(float)
DESCENT_POOL_INSTANTIATE(double)
#undef DESCENT_POOL_INSTANTIATE

}  // namespace descent::kernels
