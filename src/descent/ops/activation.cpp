#include "descent/ops/activation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "descent/autograd/autograd.hpp"
#include "descent/kernels/vmath.hpp"
#include "descent/ops/autocast.hpp"
#include "descent/ops/detail/elementwise.hpp"
#include "descent/ops/detail/relu_mask.hpp"
#include "descent/ops/reduce.hpp"

namespace descent::ops {
namespace {

namespace vmath = kernels::vmath;

using detail::check_float;
using detail::kParallelThreshold;
using detail::map;
using detail::map_grad;

// ---- GELU (Hendrycks & Gimpel 2016, https://arxiv.org/abs/1606.08415). f64 follows the
// constants and the order of operations of torch's GeluKernel.cpp, so that results agree to
// rounding; f32 uses vmath (vectorized) and, for the exact form, erfc, which keeps its
// accuracy for negative x where 1 + erf(x / sqrt 2) cancels.

// Phi(x) = 1/2 (1 + erf(x / sqrt 2)) = 1/2 erfc(-x / sqrt 2).
template <typename T>
[[gnu::always_inline]] inline T normal_cdf(T x) {
  const T alpha = static_cast<T>(M_SQRT1_2);
  if constexpr (std::is_same_v<T, float>) {
    return 0.5f * vmath::erfc(-x * alpha);
  } else {
    return T(0.5) * (T(1) + std::erf(x * alpha));
  }
}

// Exact: x Phi(x) (for f64 the same rounding as torch's x * 0.5 * (1 + erf): halving is exact).
template <typename T>
[[gnu::always_inline]] inline T gelu_exact(T x) {
  return x * normal_cdf(x);
}
template <typename T>
[[gnu::always_inline]] inline T gelu_exact_grad(T x) {
  const T beta = static_cast<T>(M_2_SQRTPI * M_SQRT1_2 * 0.5);  // 1 / sqrt(2 pi)
  // term 1: Phi(x)
  const T cdf = normal_cdf(x);
  // term 2: x phi(x)
  const T pdf = beta * vmath::exp(x * x * T(-0.5));
  return cdf + x * pdf;
}

// tanh approximation: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
template <typename T>
[[gnu::always_inline]] inline T gelu_tanh(T x) {
  const T beta = static_cast<T>(M_SQRT2 * M_2_SQRTPI * 0.5);  // sqrt(2 / pi)
  const T kappa = static_cast<T>(0.044715);
  const T x_cube = x * x * x;
  const T inner = beta * (x + kappa * x_cube);
  return T(0.5) * x * (T(1) + vmath::tanh(inner));
}
template <typename T>
[[gnu::always_inline]] inline T gelu_tanh_grad(T x) {
  const T beta = static_cast<T>(M_SQRT2 * M_2_SQRTPI * 0.5);
  const T kappa = static_cast<T>(0.044715);
  const T x_sq = x * x;
  const T x_cube = x_sq * x;
  const T inner = beta * (x + kappa * x_cube);
  const T tanh_inner = vmath::tanh(inner);
  // product rule on (x/2) (1 + tanh(inner))
  const T left = T(0.5) * x;
  const T right = T(1) + tanh_inner;
  const T left_derivative = T(0.5) * right;
  const T right_derivative = T(1) - tanh_inner * tanh_inner;
  const T inner_derivative = beta * (T(1) + T(3) * kappa * x_sq);
  return left_derivative + left * right_derivative * inner_derivative;
}

// ---- softmax and log_softmax along one dimension, as torch.softmax / torch.log_softmax
// (https://pytorch.org/docs/stable/generated/torch.nn.functional.log_softmax.html).
//
// x is seen as (outer, C, inner) with the softmax over C. When inner == 1 (the last dim)
// each row is contiguous and the loops vectorize along C. Otherwise a task takes a block of
// up to kLanes neighbouring columns of one outer index and vectorizes across them, reading
// each of the C rows of the block once per pass (no transposing copy).
//
// Forward:  m = max_c x_c;  s = sum_c exp(x_c - m)
//           softmax:      y_c = exp(x_c - m) / s
//           log_softmax:  y_c = x_c - m - log(s)
// Backward: softmax:      dx_c = y_c (g_c - sum_k g_k y_k)
//           log_softmax:  dx_c = g_c - exp(y_c) sum_k g_k

constexpr std::int64_t kLanes = 64;

struct DimSplit {
  std::int64_t outer;
  std::int64_t classes;
  std::int64_t inner;
};

DimSplit split_at(const Shape& shape, std::int64_t dim) {
  DimSplit split{1, shape.empty() ? 1 : shape[dim], 1};
  for (std::int64_t k = 0; k < dim; ++k) split.outer *= shape[k];
  for (std::size_t k = dim + 1; k < shape.size(); ++k) split.inner *= shape[k];
  return split;
}

template <bool Log, typename T>
void softmax_row(const T* x, T* y, std::int64_t C) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (std::int64_t c = 0; c < C; ++c) m = x[c] > m ? x[c] : m;  // (std::max does not vectorize)
  // y holds the exps for now (log_softmax overwrites them below). f64's exp is a library
  // call, which costs twice as much inside a vectorized sum: its sum is a loop of its own.
  T s = 0;
  if constexpr (std::is_same_v<T, float>) {
#pragma omp simd reduction(+ : s)
    for (std::int64_t c = 0; c < C; ++c) {
      y[c] = vmath::exp(x[c] - m);
      s += y[c];
    }
  } else {
    for (std::int64_t c = 0; c < C; ++c) y[c] = std::exp(x[c] - m);
#pragma omp simd reduction(+ : s)
    for (std::int64_t c = 0; c < C; ++c) s += y[c];
  }
  if constexpr (Log) {
    const T shift = m + std::log(s);
#pragma omp simd
    for (std::int64_t c = 0; c < C; ++c) y[c] = x[c] - shift;
  } else {
    const T inv = T(1) / s;
#pragma omp simd
    for (std::int64_t c = 0; c < C; ++c) y[c] *= inv;
  }
}

template <bool Log, typename T>
void softmax_columns(const T* x, T* y, std::int64_t C, std::int64_t stride, std::int64_t width) {
  T m[kLanes];
  T s[kLanes];
  for (std::int64_t j = 0; j < width; ++j) {
    m[j] = -std::numeric_limits<T>::infinity();
    s[j] = 0;
  }
  for (std::int64_t c = 0; c < C; ++c) {
    const T* row = x + c * stride;
#pragma omp simd
    for (std::int64_t j = 0; j < width; ++j) m[j] = row[j] > m[j] ? row[j] : m[j];
  }
  for (std::int64_t c = 0; c < C; ++c) {
    const T* row = x + c * stride;
    T* out = y + c * stride;
#pragma omp simd
    for (std::int64_t j = 0; j < width; ++j) {
      const T e = vmath::exp(row[j] - m[j]);
      if constexpr (!Log) out[j] = e;
      s[j] += e;
    }
  }
  if constexpr (Log) {
    for (std::int64_t j = 0; j < width; ++j) m[j] += std::log(s[j]);
  } else {
    for (std::int64_t j = 0; j < width; ++j) s[j] = T(1) / s[j];
  }
  for (std::int64_t c = 0; c < C; ++c) {
    const T* row = x + c * stride;
    T* out = y + c * stride;
#pragma omp simd
    for (std::int64_t j = 0; j < width; ++j) {
      if constexpr (Log) {
        out[j] = row[j] - m[j];
      } else {
        out[j] *= s[j];
      }
    }
  }
}

template <bool Log, typename T>
void softmax_grad_row(const T* y, const T* g, T* gx, std::int64_t C) {
  T dot = 0;
  if constexpr (Log) {
#pragma omp simd reduction(+ : dot)
    for (std::int64_t c = 0; c < C; ++c) dot += g[c];
#pragma omp simd
    for (std::int64_t c = 0; c < C; ++c) gx[c] = g[c] - vmath::exp(y[c]) * dot;
  } else {
#pragma omp simd reduction(+ : dot)
    for (std::int64_t c = 0; c < C; ++c) dot += g[c] * y[c];
#pragma omp simd
    for (std::int64_t c = 0; c < C; ++c) gx[c] = y[c] * (g[c] - dot);
  }
}

template <bool Log, typename T>
void softmax_grad_columns(const T* y, const T* g, T* gx, std::int64_t C, std::int64_t stride,
                          std::int64_t width) {
  T dot[kLanes];
  for (std::int64_t j = 0; j < width; ++j) dot[j] = 0;
  for (std::int64_t c = 0; c < C; ++c) {
    const T* yr = y + c * stride;
    const T* gr = g + c * stride;
#pragma omp simd
    for (std::int64_t j = 0; j < width; ++j) {
      if constexpr (Log) {
        dot[j] += gr[j];
      } else {
        dot[j] += gr[j] * yr[j];
      }
    }
  }
  for (std::int64_t c = 0; c < C; ++c) {
    const T* yr = y + c * stride;
    const T* gr = g + c * stride;
    T* out = gx + c * stride;
#pragma omp simd
    for (std::int64_t j = 0; j < width; ++j) {
      if constexpr (Log) {
        out[j] = gr[j] - vmath::exp(yr[j]) * dot[j];
      } else {
        out[j] = yr[j] * (gr[j] - dot[j]);
      }
    }
  }
}

// Runs row(offset) for every contiguous row (inner == 1) or columns(offset, width) for every
// block of columns, in parallel; each output element is written by exactly one task.
template <typename Row, typename Columns>
void for_each_slice(const DimSplit& split, Row row, Columns columns) {
  const std::int64_t work = split.outer * split.classes * split.inner;
  if (split.inner == 1) {
    const bool parallel = work > kParallelThreshold;
    parallel_for_if(parallel, split.outer, [=](std::int64_t o) { row(o * split.classes); });
    return;
  }
  const std::int64_t blocks = (split.inner + kLanes - 1) / kLanes;
  parallel_for_if(work > kParallelThreshold, split.outer * blocks, [=](std::int64_t task) {
    const std::int64_t o = task / blocks;
    const std::int64_t j0 = (task % blocks) * kLanes;
    const std::int64_t width = std::min(kLanes, split.inner - j0);
    columns(o * split.classes * split.inner + j0, width);
  });
}

template <bool Log>
Tensor softmax_impl(const Tensor& x, std::int64_t dim, const char* op) {
  check_float(x, op);
  const std::int64_t d = normalize_dim(dim, x.shape(), op);
  const DimSplit split = split_at(x.shape(), d);
  Tensor out = empty_like(x);
  if (x.numel() > 0) {
    dispatch_float(x.dtype(), op, [&]<typename T>() {
      const T* px = x.data<T>();
      T* py = out.data<T>();
      for_each_slice(
          split, [&](std::int64_t at) { softmax_row<Log>(px + at, py + at, split.classes); },
          [&](std::int64_t at, std::int64_t width) {
            softmax_columns<Log>(px + at, py + at, split.classes, split.inner, width);
          });
    });
  }
  return autograd::record(
      op, out, {x}, [y = out.detach(), split](const Tensor& grad, const autograd::Node&) {
        Tensor gx = empty_like(grad);
        if (grad.numel() == 0) return autograd::Grads{gx};
        dispatch_float(grad.dtype(), Log ? "log_softmax backward" : "softmax backward",
                       [&]<typename T>() {
                         const T* py = y.data<T>();
                         const T* pg = grad.data<T>();
                         T* pd = gx.data<T>();
                         for_each_slice(
                             split,
                             [&](std::int64_t at) {
                               softmax_grad_row<Log>(py + at, pg + at, pd + at, split.classes);
                             },
                             [&](std::int64_t at, std::int64_t width) {
                               softmax_grad_columns<Log>(py + at, pg + at, pd + at, split.classes,
                                                         split.inner, width);
                             });
                       });
        return autograd::Grads{gx};
      });
}

// relu's backward from its output saved in 16 bits (bf16 or f16) and an f32 gradient
// (detail::relu_passes). No f32 copy of y, which would be as large as the gradient.
Tensor relu_grad_16_bit(const Tensor& grad, const Tensor& saved) {
  DESCENT_CHECK(grad.dtype() == DType::f32 && grad.numel() == saved.numel(),
                "relu backward: expected an f32 gradient of ", saved.numel(), " elements, got ",
                shape_str(grad.shape()), " ", dtype_name(grad.dtype()));
  const std::uint16_t inf_bits =
      saved.dtype() == DType::bf16 ? detail::kBf16InfBits : detail::kF16InfBits;
  Tensor gx = empty_like(grad);
  const float* pg = grad.data<float>();
  const auto* py = static_cast<const std::uint16_t*>(saved.raw_data());
  float* pd = gx.data<float>();
  const std::int64_t n = grad.numel();
  parallel_simd_if(n > kParallelThreshold, n, [=](std::int64_t i) {
    const float g = pg[i];  // read unconditionally: the loop vectorizes to a select
    pd[i] = detail::relu_passes(py[i], inf_bits) ? g : 0.0f;
  });
  return gx;
}

// Under a bf16/f16 guard, f32 relu writes its output and the output rounded (what backward
// and the next mixed op read) in one pass: blocks of 2048, each rounded while in L1.
Tensor relu_and_rounded(const Tensor& x, DType low_dtype, Tensor& low) {
  Tensor out = empty_like(x);
  low = empty(x.shape(), low_dtype);
  const float* px = x.data<float>();
  float* po = out.data<float>();
  void* pl = low.raw_data();
  const std::int64_t n = x.numel();
  constexpr std::int64_t kBlock = 2048;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for_if(n > kParallelThreshold, blocks, [=](std::int64_t b) {
    const std::int64_t begin = b * kBlock;
    const std::int64_t end = std::min(n, begin + kBlock);
#pragma omp simd
    for (std::int64_t i = begin; i < end; ++i) po[i] = px[i] > 0.0f ? px[i] : 0.0f;
    if (low_dtype == DType::bf16) {
      convert_serial(po + begin, static_cast<BFloat16*>(pl) + begin, end - begin);
    } else {
      convert_serial(po + begin, static_cast<Half*>(pl) + begin, end - begin);
    }
  });
  return out;
}

}  // namespace

Tensor relu(const Tensor& x) {
  const DType low_dtype = autocast_dtype();
  Tensor out, low;
  if (x.defined() && x.dtype() == DType::f32 &&
      (low_dtype == DType::bf16 || low_dtype == DType::f16)) {
    out = relu_and_rounded(x, low_dtype, low);
  } else {
    out = map(x, "relu", []<typename T>(T v) { return v > T(0) ? v : T(0); });
  }
  // under autocast, the output is saved in 16 bits (the sign is all backward needs)
  return autograd::record(
      "relu", out, {x},
      [saved = low.defined() ? autocast_saved(out, low) : autocast_saved(out)](
          const Tensor& grad, const autograd::Node&) {
        if (saved.dtype() == DType::bf16 || saved.dtype() == DType::f16) {
          return autograd::Grads{relu_grad_16_bit(grad, saved)};
        }
        return autograd::Grads{map_grad(grad, saved, "relu backward",
                                        []<typename T>(T g, T v) { return v > T(0) ? g : T(0); })};
      });
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  Tensor out = map(x, "leaky_relu", [negative_slope]<typename T>(T v) {
    return v > T(0) ? v : v * static_cast<T>(negative_slope);
  });
  return autograd::record(
      "leaky_relu", out, {x},
      [x = x.detach(), negative_slope](const Tensor& grad, const autograd::Node&) {
        return autograd::Grads{
            map_grad(grad, x, "leaky_relu backward", [negative_slope]<typename T>(T g, T v) {
              return v > T(0) ? g : g * static_cast<T>(negative_slope);
            })};
      });
}

Tensor gelu(const Tensor& x, GeluApproximate approximate) {
  const bool exact = approximate == GeluApproximate::none;
  Tensor out = exact ? map(x, "gelu", []<typename T>(T v) { return gelu_exact(v); })
                     : map(x, "gelu", []<typename T>(T v) { return gelu_tanh(v); });
  return autograd::record(
      "gelu", out, {x}, [x = x.detach(), exact](const Tensor& grad, const autograd::Node&) {
        if (exact) {
          return autograd::Grads{map_grad(grad, x, "gelu backward", []<typename T>(T g, T v) {
            return g * gelu_exact_grad(v);
          })};
        }
        return autograd::Grads{map_grad(
            grad, x, "gelu backward", []<typename T>(T g, T v) { return g * gelu_tanh_grad(v); })};
      });
}

Tensor tanh(const Tensor& x) {
  Tensor out = map(x, "tanh", []<typename T>(T v) { return vmath::tanh(v); });
  return autograd::record(
      "tanh", out, {x}, [out = out.detach()](const Tensor& grad, const autograd::Node&) {
        // d tanh = 1 - tanh^2
        return autograd::Grads{map_grad(grad, out, "tanh backward",
                                        []<typename T>(T g, T y) { return g * (T(1) - y * y); })};
      });
}

Tensor sigmoid(const Tensor& x) {
  // 1 / (1 + e^-x) saturates to 0 (e^-x = inf) or 1 without producing NaN (f32: vmath's
  // form, e^x / (1 + e^x) for x < 0, which keeps the subnormal results too).
  Tensor out = map(x, "sigmoid", []<typename T>(T v) { return vmath::sigmoid(v); });
  return autograd::record(
      "sigmoid", out, {x}, [out = out.detach()](const Tensor& grad, const autograd::Node&) {
        // d sigma = sigma (1 - sigma)
        return autograd::Grads{map_grad(grad, out, "sigmoid backward",
                                        []<typename T>(T g, T y) { return g * y * (T(1) - y); })};
      });
}

// Row i of each (T, S) matrix is the softmax of its first i + 1 + (S - T) entries; the rest
// are 0 (exp(-inf)) and get no gradient. One pass per row, parallel over rows.
Tensor causal_softmax(const Tensor& x) {
  check_float(x, "causal_softmax");
  DESCENT_CHECK(x.dim() >= 2 && x.shape()[x.dim() - 1] >= x.shape()[x.dim() - 2],
                "causal_softmax: expected x (..., T, S) with S >= T, got ", shape_str(x.shape()));
  const std::int64_t T_rows = x.shape()[x.dim() - 2];
  const std::int64_t S = x.shape()[x.dim() - 1];
  const std::int64_t rows = S == 0 ? 0 : x.numel() / S;
  const std::int64_t offset = S - T_rows;  // row i sees columns 0 .. i + offset
  auto seen = [=](std::int64_t row) { return row % T_rows + 1 + offset; };
  Tensor out = empty_like(x);
  dispatch_float(x.dtype(), "causal_softmax", [&]<typename T>() {
    const T* px = x.data<T>();
    T* py = out.data<T>();
    parallel_for_if(x.numel() > kParallelThreshold, rows, [=](std::int64_t r) {
      const std::int64_t n = seen(r);
      softmax_row<false>(px + r * S, py + r * S, n);
      std::fill(py + r * S + n, py + (r + 1) * S, T(0));
    });
  });
  return autograd::record(
      "causal_softmax", out, {x},
      [y = out.detach(), rows, S, seen](const Tensor& grad, const autograd::Node&) {
        Tensor gx = empty_like(grad);
        dispatch_float(grad.dtype(), "causal_softmax backward", [&]<typename T>() {
          const T* py = y.data<T>();
          const T* pg = grad.data<T>();
          T* pd = gx.data<T>();
          parallel_for_if(grad.numel() > kParallelThreshold, rows, [=](std::int64_t r) {
            const std::int64_t n = seen(r);
            softmax_grad_row<false>(py + r * S, pg + r * S, pd + r * S, n);
            std::fill(pd + r * S + n, pd + (r + 1) * S, T(0));
          });
        });
        return autograd::Grads{gx};
      });
}

Tensor softmax(const Tensor& x, std::int64_t dim) {
  return softmax_impl<false>(x, dim, "softmax");
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  return softmax_impl<true>(x, dim, "log_softmax");
}

}  // namespace descent::ops
