// Three paths behind one interface, chosen per pass by use_direct() and use_onednn() below:
// descent's direct kernels (f32 and bf16 on AVX-512; conv_direct.cpp), im2col + GEMM (f32 and
// f64; here) and oneDNN's convolution primitives (f32 and bf16; conv_onednn.cpp), which the
// automatic rule takes only on CPUs without AVX-512 (each of their executions allocates).
//
// im2col + GEMM (Chellapilla, Puri & Simard, "High Performance Convolutional Neural
// Networks for Document Processing", 2006; Caffe's conv layer). Per sample n:
//   col_n = im2col(x_n)              (C*KH*KW, OH*OW)
//   y_n   = W @ col_n + b            (O, C*KH*KW) @ (C*KH*KW, OH*OW)
//   dW   += dy_n @ col_n^T
//   dx_n  = col2im(W^T @ dy_n)
// A 1x1, stride-1, unpadded convolution skips im2col: col_n is x_n itself.
//
// Threads: with at least as many samples as threads, each thread takes whole samples and
// runs single-threaded GEMMs (kernels::gemm runs on the calling thread inside a parallel region);
// the per-sample GEMMs here are small (M = O is 16..64), so splitting the batch beats
// splitting each GEMM. With fewer samples than threads, or in f64 (OpenBLAS runs its own
// pthread pool, which must not be entered from several OpenMP threads at once), the batch
// is walked in order and the GEMM and im2col use the threads.
#include "descent/kernels/conv.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "descent/core/error.hpp"
#include "descent/core/half.hpp"
#include "descent/core/parallel.hpp"
#include "descent/kernels/conv_direct.hpp"
#include "descent/kernels/conv_onednn.hpp"
#include "descent/kernels/gemm.hpp"
#include "descent/kernels/workspace.hpp"

namespace descent::kernels {
namespace {

// im2col/col2im rows are split across threads above this many elements.
constexpr std::int64_t kParallelThreshold = 32768;

bool is_pointwise(const Conv2dGeometry& g) {
  return g.KH == 1 && g.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 &&
         g.pad_w == 0;
}

// Whether samples go to threads (true) or threads go inside each sample (false).
template <typename T>
bool batch_parallel(const Conv2dGeometry& g) {
  const int threads = parallel_threads();
  return std::is_same_v<T, float> && threads > 1 && g.N >= threads;
}

// sample(n, col) for each sample n, the samples shared between the threads, each thread with
// its own im2col buffer of col_size values.
template <typename T, typename Sample>
void over_samples(std::int64_t samples, std::int64_t col_size, const Sample& sample) {
  const int threads = parallel_threads();
  Workspace<T> col(col_size * threads);
  on_threads(threads, [&](int t, int nt) {
    T* own = col.get() + col_size * t;
    const auto [begin, end] = share_of(samples, t, nt);
    for (std::int64_t n = begin; n < end; ++n) sample(n, own);
  });
}

// Output columns [lo, hi) read input columns iw = ow * stride - pad + kw * dilation inside
// [0, W); outside they read padding.
struct ValidRange {
  std::int64_t lo;
  std::int64_t hi;
};
ValidRange valid_outputs(std::int64_t offset, std::int64_t stride, std::int64_t size,
                         std::int64_t out) {
  // smallest o with o * stride + offset >= 0, and smallest o with o * stride + offset >= size
  auto first_at_least = [&](std::int64_t bound) {
    const std::int64_t need = bound - offset;
    if (need <= 0) return std::int64_t{0};
    return std::min(out, (need + stride - 1) / stride);
  };
  return {first_at_least(0), std::max(first_at_least(0), first_at_least(size))};
}

// col (C*KH*KW, OH*OW) from one sample x (C, H, W).
template <typename T>
void im2col(const Conv2dGeometry& g, const T* x, T* col, bool parallel) {
  const std::int64_t rows = g.C * g.KH * g.KW;
  const std::int64_t cols = g.OH * g.OW;
  // parallel is false inside the batch-parallel regions (once per sample): the loop then
  // does not enter OpenMP, where a nested one-thread region would allocate a team
  parallel_for_if(parallel && rows * cols > kParallelThreshold, rows, [=](std::int64_t row) {
    const std::int64_t kw = row % g.KW;
    const std::int64_t kh = (row / g.KW) % g.KH;
    const std::int64_t c = row / (g.KW * g.KH);
    const T* plane = x + c * g.H * g.W;
    T* out = col + row * cols;
    const std::int64_t w_offset = kw * g.dilation_w - g.pad_w;
    const ValidRange valid = valid_outputs(w_offset, g.stride_w, g.W, g.OW);
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      const std::int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
      T* dst = out + oh * g.OW;
      if (ih < 0 || ih >= g.H) {
        std::fill(dst, dst + g.OW, T(0));
        continue;
      }
      const T* src = plane + ih * g.W;
      std::fill(dst, dst + valid.lo, T(0));
      if (g.stride_w == 1) {
        std::memcpy(dst + valid.lo, src + valid.lo + w_offset, (valid.hi - valid.lo) * sizeof(T));
      } else {
        for (std::int64_t ow = valid.lo; ow < valid.hi; ++ow) {
          dst[ow] = src[ow * g.stride_w + w_offset];
        }
      }
      std::fill(dst + valid.hi, dst + g.OW, T(0));
    }
  });
}

// x (C, H, W) = sum of col (C*KH*KW, OH*OW) entries over the places each input element was
// copied to by im2col. x is overwritten.
template <typename T>
void col2im(const Conv2dGeometry& g, const T* col, T* x, bool parallel) {
  const std::int64_t cols = g.OH * g.OW;
  // One channel per iteration: its KH*KW rows all land in the same plane, so channels
  // never collide and the threads need no atomics.
  const bool split = parallel && g.C * g.KH * g.KW * cols > kParallelThreshold;
  parallel_for_if(split, g.C, [=](std::int64_t c) {
    T* plane = x + c * g.H * g.W;
    std::fill(plane, plane + g.H * g.W, T(0));
    for (std::int64_t kh = 0; kh < g.KH; ++kh) {
      for (std::int64_t kw = 0; kw < g.KW; ++kw) {
        const T* in = col + ((c * g.KH + kh) * g.KW + kw) * cols;
        const std::int64_t w_offset = kw * g.dilation_w - g.pad_w;
        const ValidRange valid = valid_outputs(w_offset, g.stride_w, g.W, g.OW);
        for (std::int64_t oh = 0; oh < g.OH; ++oh) {
          const std::int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          if (ih < 0 || ih >= g.H) continue;
          T* dst = plane + ih * g.W;
          const T* src = in + oh * g.OW;
          if (g.stride_w == 1) {
#pragma omp simd
            for (std::int64_t ow = valid.lo; ow < valid.hi; ++ow) dst[ow + w_offset] += src[ow];
          } else {
            for (std::int64_t ow = valid.lo; ow < valid.hi; ++ow) {
              dst[ow * g.stride_w + w_offset] += src[ow];
            }
          }
        }
      }
    }
  });
}

// y_n = W @ col_n + b for one sample; `col` is scratch of (C*KH*KW, OH*OW).
template <typename T>
void forward_sample(const Conv2dGeometry& g, const T* x_n, const T* weight, const T* bias, T* y_n,
                    T* col, bool parallel) {
  const std::int64_t K = g.C * g.KH * g.KW;
  const std::int64_t cols = g.OH * g.OW;
  const T* b_matrix = x_n;
  if (!is_pointwise(g)) {
    im2col(g, x_n, col, parallel);
    b_matrix = col;
  }
  T beta = T(0);
  if (bias != nullptr) {
    for (std::int64_t o = 0; o < g.O; ++o) std::fill(y_n + o * cols, y_n + (o + 1) * cols, bias[o]);
    beta = T(1);
  }
  gemm(false, false, g.O, cols, K, T(1), weight, K, b_matrix, cols, beta, y_n, cols);
}

// dx_n = col2im(W^T @ dy_n) for one sample; `col` is scratch of (C*KH*KW, OH*OW).
template <typename T>
void backward_input_sample(const Conv2dGeometry& g, const T* dy_n, const T* weight, T* dx_n, T* col,
                           bool parallel) {
  const std::int64_t K = g.C * g.KH * g.KW;
  const std::int64_t cols = g.OH * g.OW;
  if (is_pointwise(g)) {
    gemm(true, false, K, cols, g.O, T(1), weight, K, dy_n, cols, T(0), dx_n, cols);
    return;
  }
  gemm(true, false, K, cols, g.O, T(1), weight, K, dy_n, cols, T(0), col, cols);
  col2im(g, col, dx_n, parallel);
}

// dweight += dy_n @ col_n^T (beta says whether dweight starts from zero) and dbias +=
// row sums of dy_n.
template <typename T>
void backward_weight_sample(const Conv2dGeometry& g, const T* dy_n, const T* x_n, T* dweight,
                            T* dbias, T beta, T* col, bool parallel) {
  const std::int64_t K = g.C * g.KH * g.KW;
  const std::int64_t cols = g.OH * g.OW;
  if (dweight != nullptr) {
    const T* col_n = x_n;
    if (!is_pointwise(g)) {
      im2col(g, x_n, col, parallel);
      col_n = col;
    }
    gemm(false, true, g.O, K, cols, T(1), dy_n, cols, col_n, cols, beta, dweight, K);
  }
  if (dbias != nullptr) {
    for (std::int64_t o = 0; o < g.O; ++o) {
      const T* row = dy_n + o * cols;
      T total = 0;
#pragma omp simd reduction(+ : total)
      for (std::int64_t i = 0; i < cols; ++i) total += row[i];
      dbias[o] = beta == T(0) ? total : dbias[o] + total;
    }
  }
}

enum class Pass { forward, backward_data, backward_weights };

// Below this many FLOPs oneDNN's fixed cost (reorders, primitive lookup) outweighs its
// faster loops.
constexpr double kOnednnMinFlops = 2.0 * 1024 * 1024;

// Whether oneDNN's f32 kernels beat im2col + GEMM on a pass (measured, 2 threads, AVX-512;
// figures in the commit that introduced it): oneDNN's direct kernels run 1.5-3x faster than
// im2col + GEMM, except for tiny problems, for 1x1 stride-1 unpadded convolutions (a plain
// GEMM here, no reorders), for backward-data with fewer than 16 input channels (its
// blocked layout pads channels to 16: 2-4x slower than col2im), and for backward-weights
// with fewer than 16 input channels unless C*KH*KW < 32 (for 3x3: 4 to 15 channels are
// slower in oneDNN, 1 to 3 much faster). Where oneDNN would fall back to its own GEMM or
// reference code, im2col is used. The bf16 convolutions follow this rule (see native()).
bool onednn_wins(Pass pass, const Conv2dGeometry& g) {
  const double flops = 2.0 * g.N * g.O * g.OH * g.OW * g.C * g.KH * g.KW;
  if (flops < kOnednnMinFlops || is_pointwise(g)) return false;
  switch (pass) {
    case Pass::forward:
      return onednn::has_direct_forward(g);
    case Pass::backward_data:
      return g.C >= 16 && onednn::has_direct_backward_data(g);
    case Pass::backward_weights:
      return (g.C >= 16 || g.C * g.KH * g.KW < 32) && onednn::has_direct_backward_weights(g);
  }
  return false;
}

// Whether descent's direct kernels take a pass under the automatic rule (measured at 1 and 2
// threads against oneDNN and im2col, bench/RESULTS.md): every convolution they handle with a
// kernel larger than 1x1, except backward data into fewer than 16 channels (a tile computes 8
// output channels at a time; col2im is faster there) and tiny problems. 1x1 convolutions,
// strided or not, are GEMMs (im2col of a 1x1 kernel is a strided copy), which run faster than
// the direct kernels' short tap loops.
bool direct_wins(Pass pass, const Conv2dGeometry& g) {
  const double flops = 2.0 * g.N * g.O * g.OH * g.OW * g.C * g.KH * g.KW;
  if (!direct::available() || flops < kOnednnMinFlops || (g.KH == 1 && g.KW == 1)) return false;
  switch (pass) {
    case Pass::forward:
      return direct::handles_forward(g);
    case Pass::backward_data:
      return g.C >= 16 && direct::handles_backward_data(g);
    case Pass::backward_weights:
      return direct::handles_backward_weights(g);
  }
  return false;
}

// Whether an f32 pass goes to oneDNN: where the CPU has AVX-512F, never under the automatic
// rule (descent's direct kernels or im2col take every pass, so that a training step makes no
// heap allocation: each oneDNN primitive execution allocates its context); elsewhere where
// onednn_wins.
template <typename T>
bool use_onednn(ConvAlgorithm algorithm, Pass pass, const Conv2dGeometry& g) {
  if constexpr (!std::is_same_v<T, float>) {
    DESCENT_CHECK(algorithm != ConvAlgorithm::onednn && algorithm != ConvAlgorithm::direct,
                  "conv2d: the oneDNN and direct convolutions are f32 only; use im2col_gemm for "
                  "f64");
    return false;
  } else {
    if (algorithm != ConvAlgorithm::automatic) return algorithm == ConvAlgorithm::onednn;
    return !direct::available() && onednn_wins(pass, g);
  }
}

// Whether a pass goes to descent's own direct kernels (conv_direct.hpp).
template <typename T>
bool use_direct(ConvAlgorithm algorithm, Pass pass, const Conv2dGeometry& g) {
  if (!std::is_same_v<T, float>) return false;  // use_onednn refuses f64 with direct
  if (algorithm != ConvAlgorithm::automatic) return algorithm == ConvAlgorithm::direct;
  return direct_wins(pass, g);
}

}  // namespace

template <typename T>
void conv2d_forward(const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y,
                    ConvAlgorithm algorithm) {
  if (use_direct<T>(algorithm, Pass::forward, g)) {
    if constexpr (std::is_same_v<T, float>) direct::conv2d_forward(g, x, weight, bias, y);
    return;
  }
  if (use_onednn<T>(algorithm, Pass::forward, g)) {
    if constexpr (std::is_same_v<T, float>) onednn::conv2d_forward(g, x, weight, bias, y);
    return;
  }
  const std::int64_t col_size = is_pointwise(g) ? 0 : g.C * g.KH * g.KW * g.OH * g.OW;
  const std::int64_t x_step = g.C * g.H * g.W;
  const std::int64_t y_step = g.O * g.OH * g.OW;
  if (batch_parallel<T>(g)) {
    over_samples<T>(g.N, col_size, [&](std::int64_t n, T* own) {
      forward_sample(g, x + n * x_step, weight, bias, y + n * y_step, own, false);
    });
    return;
  }
  Workspace<T> col(col_size);
  for (std::int64_t n = 0; n < g.N; ++n) {
    forward_sample(g, x + n * x_step, weight, bias, y + n * y_step, col.get(), true);
  }
}

template <typename T>
void conv2d_backward_input(const Conv2dGeometry& g, const T* dy, const T* weight, T* dx,
                           ConvAlgorithm algorithm) {
  if (use_direct<T>(algorithm, Pass::backward_data, g)) {
    if constexpr (std::is_same_v<T, float>) direct::conv2d_backward_data(g, dy, weight, dx);
    return;
  }
  if (use_onednn<T>(algorithm, Pass::backward_data, g)) {
    if constexpr (std::is_same_v<T, float>) onednn::conv2d_backward_data(g, dy, weight, dx);
    return;
  }
  const std::int64_t col_size = is_pointwise(g) ? 0 : g.C * g.KH * g.KW * g.OH * g.OW;
  const std::int64_t x_step = g.C * g.H * g.W;
  const std::int64_t y_step = g.O * g.OH * g.OW;
  if (batch_parallel<T>(g)) {
    over_samples<T>(g.N, col_size, [&](std::int64_t n, T* own) {
      backward_input_sample(g, dy + n * y_step, weight, dx + n * x_step, own, false);
    });
    return;
  }
  Workspace<T> col(col_size);
  for (std::int64_t n = 0; n < g.N; ++n) {
    backward_input_sample(g, dy + n * y_step, weight, dx + n * x_step, col.get(), true);
  }
}

template <typename T>
void conv2d_backward_weight(const Conv2dGeometry& g, const T* dy, const T* x, T* dweight, T* dbias,
                            ConvAlgorithm algorithm) {
  if (use_direct<T>(algorithm, Pass::backward_weights, g)) {
    if constexpr (std::is_same_v<T, float>) {
      direct::conv2d_backward_weights(g, dy, x, dweight, dbias);
    }
    return;
  }
  if (use_onednn<T>(algorithm, Pass::backward_weights, g)) {
    if constexpr (std::is_same_v<T, float>) {
      onednn::conv2d_backward_weights(g, dy, x, dweight, dbias);
    }
    return;
  }
  const std::int64_t col_size = is_pointwise(g) ? 0 : g.C * g.KH * g.KW * g.OH * g.OW;
  const std::int64_t x_step = g.C * g.H * g.W;
  const std::int64_t y_step = g.O * g.OH * g.OW;
  const std::int64_t w_size = g.O * g.C * g.KH * g.KW;
  if (batch_parallel<T>(g)) {
    // Each thread sums its own samples into its own (dweight, dbias); the partial sums are
    // then added in thread order, so the result depends only on the thread count.
    const int threads = parallel_threads();
    const std::int64_t part_size = w_size + g.O;
    Workspace<T> col(col_size * threads);
    Workspace<T> parts(part_size * threads);
    int used = 1;
    on_threads(threads, [&](int t, int nt) {
      if (t == 0) used = nt;
      T* own_col = col.get() + col_size * t;
      T* own_dw = dweight != nullptr ? parts.get() + part_size * t : nullptr;
      T* own_db = dbias != nullptr ? parts.get() + part_size * t + w_size : nullptr;
      T beta = T(0);
      const auto [begin, end] = share_of(g.N, t, nt);
      for (std::int64_t n = begin; n < end; ++n) {
        backward_weight_sample(g, dy + n * y_step, x + n * x_step, own_dw, own_db, beta, own_col,
                               false);
        beta = T(1);
      }
      if (beta == T(0)) {
        // this thread got no sample; its partial is zero
        std::fill(parts.get() + part_size * t, parts.get() + part_size * (t + 1), T(0));
      }
    });
    const T* first = parts.get();
    if (dweight != nullptr) std::copy(first, first + w_size, dweight);
    if (dbias != nullptr) std::copy(first + w_size, first + part_size, dbias);
    for (int t = 1; t < used; ++t) {
      const T* part = parts.get() + part_size * t;
      if (dweight != nullptr) {
#pragma omp simd
        for (std::int64_t i = 0; i < w_size; ++i) dweight[i] += part[i];
      }
      if (dbias != nullptr) {
        for (std::int64_t o = 0; o < g.O; ++o) dbias[o] += part[w_size + o];
      }
    }
    return;
  }
  if (g.N == 0) {
    if (dweight != nullptr) std::fill(dweight, dweight + w_size, T(0));
    if (dbias != nullptr) std::fill(dbias, dbias + g.O, T(0));
    return;
  }
  Workspace<T> col(col_size);
  for (std::int64_t n = 0; n < g.N; ++n) {
    backward_weight_sample(g, dy + n * y_step, x + n * x_step, dweight, dbias, n == 0 ? T(0) : T(1),
                           col.get(), true);
  }
}

#define DESCENT_CONV_INSTANTIATE(T)                                                          \
  template void conv2d_forward<T>(const Conv2dGeometry&, const T*, const T*, const T*, T*,   \
                                  ConvAlgorithm);                                            \
  template void conv2d_backward_input<T>(const Conv2dGeometry&, const T*, const T*, T*,      \
                                         ConvAlgorithm);                                     \
  template void conv2d_backward_weight<T>(const Conv2dGeometry&, const T*, const T*, T*, T*, \
                                          ConvAlgorithm);
DESCENT_CONV_INSTANTIATE(float)
DESCENT_CONV_INSTANTIATE(double)
#undef DESCENT_CONV_INSTANTIATE

// ---- mixed precision ----
namespace {

// Where 16-bit inputs go: descent's direct bf16 kernels (AVX512-BF16) where its f32 rule
// takes the direct kernels; oneDNN's bf16 kernels on CPUs without AVX-512 where the f32 rule
// takes oneDNN (never on AVX-512 CPUs: their executions allocate); else (f16 always; 1x1,
// small or strided backward-data passes) the inputs widened to f32 and the f32 path.
enum class Mixed { direct, onednn, widened };

template <typename L>
Mixed mixed_path(const Conv2dGeometry& g, Pass pass, bool widen) {
  if constexpr (!std::is_same_v<L, BFloat16>) {
    return Mixed::widened;
  } else {
    if (widen) return Mixed::widened;
    if (direct::available_bf16() && direct_wins(pass, g)) return Mixed::direct;
    if (direct::available() || !onednn::has_bf16() || !onednn_wins(pass, g)) return Mixed::widened;
    switch (pass) {
      case Pass::forward:
        return onednn::has_direct_forward(g, true) ? Mixed::onednn : Mixed::widened;
      case Pass::backward_data:
        return onednn::has_direct_backward_data(g, true) ? Mixed::onednn : Mixed::widened;
      case Pass::backward_weights:
        return onednn::has_direct_backward_weights(g, true) ? Mixed::onednn : Mixed::widened;
    }
    return Mixed::widened;
  }
}

// n values widened to f32 in scratch memory.
template <typename L>
class Widened {
 public:
  Widened(const L* src, std::int64_t n) : values_(n) { convert(src, values_.get(), n); }
  const float* get() const { return values_.get(); }

 private:
  Workspace<float> values_;
};

}  // namespace

template <typename L>
void conv2d_forward_mixed(const Conv2dGeometry& g, const L* x, const L* weight, const float* bias,
                          float* y, bool widen) {
  if constexpr (std::is_same_v<L, BFloat16>) {
    switch (mixed_path<L>(g, Pass::forward, widen)) {
      case Mixed::direct:
        return direct::conv2d_forward(g, x, weight, bias, y);
      case Mixed::onednn:
        return onednn::conv2d_forward(g, x, weight, bias, y);
      case Mixed::widened:
        break;
    }
  }
  const Widened<L> x32(x, g.N * g.C * g.H * g.W);
  const Widened<L> w32(weight, g.O * g.C * g.KH * g.KW);
  conv2d_forward<float>(g, x32.get(), w32.get(), bias, y);
}

template <typename L>
void conv2d_backward_input_mixed(const Conv2dGeometry& g, const L* dy, const L* weight, float* dx,
                                 bool widen) {
  if constexpr (std::is_same_v<L, BFloat16>) {
    switch (mixed_path<L>(g, Pass::backward_data, widen)) {
      case Mixed::direct:
        return direct::conv2d_backward_data(g, dy, weight, dx);
      case Mixed::onednn:
        return onednn::conv2d_backward_data(g, dy, weight, dx);
      case Mixed::widened:
        break;
    }
  }
  const Widened<L> dy32(dy, g.N * g.O * g.OH * g.OW);
  const Widened<L> w32(weight, g.O * g.C * g.KH * g.KW);
  conv2d_backward_input<float>(g, dy32.get(), w32.get(), dx);
}

template <typename L>
void conv2d_backward_weight_mixed(const Conv2dGeometry& g, const L* dy, const L* x, float* dweight,
                                  float* dbias, bool widen) {
  if constexpr (std::is_same_v<L, BFloat16>) {
    switch (mixed_path<L>(g, Pass::backward_weights, widen)) {
      case Mixed::direct:
        return direct::conv2d_backward_weights(g, dy, x, dweight, dbias);
      case Mixed::onednn:
        return onednn::conv2d_backward_weights(g, dy, x, dweight, dbias);
      case Mixed::widened:
        break;
    }
  }
  const Widened<L> dy32(dy, g.N * g.O * g.OH * g.OW);
  const Widened<L> x32(x, g.N * g.C * g.H * g.W);
  conv2d_backward_weight<float>(g, dy32.get(), x32.get(), dweight, dbias);
}

#define DESCENT_CONV_MIXED_INSTANTIATE(L)                                                          \
  template void conv2d_forward_mixed<L>(const Conv2dGeometry&, const L*, const L*, const float*,   \
                                        float*, bool);                                             \
  template void conv2d_backward_input_mixed<L>(const Conv2dGeometry&, const L*, const L*, float*,  \
                                               bool);                                              \
  template void conv2d_backward_weight_mixed<L>(const Conv2dGeometry&, const L*, const L*, float*, \
                                                float*, bool);
DESCENT_CONV_MIXED_INSTANTIATE(BFloat16)
DESCENT_CONV_MIXED_INSTANTIATE(Half)
#undef DESCENT_CONV_MIXED_INSTANTIATE

}  // namespace descent::kernels
