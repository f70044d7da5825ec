// Reductions. Every reduction here sees its input as (outer, C, inner) with C the reduced
// extent: rows (inner == 1) vectorize along C; otherwise a task takes a block of columns
// and vectorizes across them. Several reduced dims that are not neighbours are reduced one
// neighbouring run at a time. Each output element is computed by one task in a fixed order,
// so results are bit-identical for any thread count.
#include "descent/ops/reduce.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "descent/autograd/autograd.hpp"
#include "descent/core/parallel.hpp"
#include "descent/core/parallel_reduce.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/shape.hpp"

namespace descent::ops {
namespace {

constexpr std::int64_t kParallelThreshold = kParallelElements;  // core/parallel.hpp
// A long row is summed in chunks of this many elements (vectorized in T), whose partial sums
// are added in double in order; the chunks of one row may go to different threads.
constexpr std::int64_t kChunk = 4096;
// Columns per task when reducing over a non-trailing dimension.
constexpr std::int64_t kLanes = 128;

struct Split {
  std::int64_t outer;
  std::int64_t reduced;
  std::int64_t inner;
};

// Dims first..last (inclusive) of shape as the middle of (outer, C, inner).
Split split_range(const Shape& shape, std::int64_t first, std::int64_t last) {
  Split split{1, 1, 1};
  for (std::int64_t k = 0; k < static_cast<std::int64_t>(shape.size()); ++k) {
    if (k < first) {
      split.outer *= shape[k];
    } else if (k <= last) {
      split.reduced *= shape[k];
    } else {
      split.inner *= shape[k];
    }
  }
  return split;
}

void check_float(const Tensor& x, const char* op) {
  DESCENT_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op,
                ": expected a f32 or f64 tensor, got ", dtype_name(x.dtype()), " ",
                shape_str(x.shape()));
}

// The dims to reduce: normalized, sorted, each once. A scalar has nothing to reduce.
std::vector<std::int64_t> reduce_dims(const Tensor& x, const std::vector<std::int64_t>& dims,
                                      const char* op) {
  std::vector<std::int64_t> sorted;
  if (dims.empty()) {  // torch 1.13: an empty dim list reduces every dimension
    for (std::int64_t k = 0; k < x.dim(); ++k) sorted.push_back(k);
    return sorted;
  }
  for (std::int64_t d : dims) {
    const std::int64_t k = normalize_dim(d, x.shape(), op);
    DESCENT_CHECK(std::find(sorted.begin(), sorted.end(), k) == sorted.end(), op, ": dimension ", d,
                  " given twice for shape ", shape_str(x.shape()));
    sorted.push_back(k);
  }
  if (x.dim() == 0) return {};
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

// Maximal runs of neighbouring dims, as (first, last) pairs.
std::vector<std::pair<std::int64_t, std::int64_t>> runs_of(
    const std::vector<std::int64_t>& sorted) {
  std::vector<std::pair<std::int64_t, std::int64_t>> runs;
  for (std::int64_t d : sorted) {
    if (!runs.empty() && runs.back().second + 1 == d) {
      runs.back().second = d;
    } else {
      runs.emplace_back(d, d);
    }
  }
  return runs;
}

Shape keep_shape(const Shape& shape, const std::vector<std::int64_t>& sorted) {
  Shape keep = shape;
  for (std::int64_t d : sorted) keep[d] = 1;
  return keep;
}

Shape drop_shape(const Shape& shape, const std::vector<std::int64_t>& sorted) {
  Shape out;
  for (std::int64_t k = 0; k < static_cast<std::int64_t>(shape.size()); ++k) {
    if (!std::binary_search(sorted.begin(), sorted.end(), k)) out.push_back(shape[k]);
  }
  return out;
}

std::int64_t count_of(const Shape& shape, const std::vector<std::int64_t>& sorted) {
  std::int64_t count = 1;
  for (std::int64_t d : sorted) count *= shape[d];
  return count;
}

// ---- sum

template <typename T>
double chunk_sum(const T* x, std::int64_t n) {
  T total = 0;
#pragma omp simd reduction(+ : total)
  for (std::int64_t i = 0; i < n; ++i) total += x[i];
  return total;
}

// out[r] = sum of row r of x (rows, C).
template <typename T>
void sum_rows(const T* x, T* out, std::int64_t rows, std::int64_t C) {
  const std::int64_t chunks = (C + kChunk - 1) / kChunk;
  const bool parallel = rows * C > kParallelThreshold;
  if (chunks <= 1) {
    parallel_for_if(parallel, rows,
                    [=](std::int64_t r) { out[r] = static_cast<T>(chunk_sum(x + r * C, C)); });
    return;
  }
  std::vector<double> partial(static_cast<std::size_t>(rows * chunks));
  double* const parts = partial.data();
  parallel_for_if(parallel, rows * chunks, [=](std::int64_t task) {
    const std::int64_t r = task / chunks;
    const std::int64_t begin = (task % chunks) * kChunk;
    parts[task] = chunk_sum(x + r * C + begin, std::min(kChunk, C - begin));
  });
  for (std::int64_t r = 0; r < rows; ++r) {
    double total = 0;
    for (std::int64_t k = 0; k < chunks; ++k) total += partial[r * chunks + k];
    out[r] = static_cast<T>(total);
  }
}

// out (outer, inner) = x (outer, C, inner) summed over C, with inner > 1.
template <typename T>
void sum_columns(const T* x, T* out, const Split& s) {
  const std::int64_t blocks = (s.inner + kLanes - 1) / kLanes;
  const std::int64_t n = s.outer * s.reduced * s.inner;
  parallel_for_if(n > kParallelThreshold, s.outer * blocks, [=](std::int64_t task) {
    const std::int64_t o = task / blocks;
    const std::int64_t j0 = (task % blocks) * kLanes;
    const std::int64_t width = std::min(kLanes, s.inner - j0);
    double total[kLanes] = {};
    for (std::int64_t c = 0; c < s.reduced; ++c) {
      const T* row = x + (o * s.reduced + c) * s.inner + j0;
#pragma omp simd
      for (std::int64_t j = 0; j < width; ++j) total[j] += row[j];
    }
    T* dst = out + o * s.inner + j0;
    for (std::int64_t j = 0; j < width; ++j) dst[j] = static_cast<T>(total[j]);
  });
}

// x summed over `sorted` dims, keeping them as size 1. No history.
Tensor sum_raw(const Tensor& x, const std::vector<std::int64_t>& sorted) {
  const auto runs = runs_of(sorted);
  if (runs.empty()) return x.clone();
  Tensor current = x;
  for (auto run = runs.rbegin(); run != runs.rend(); ++run) {
    const Split s = split_range(current.shape(), run->first, run->second);
    Shape next_shape = current.shape();
    for (std::int64_t d = run->first; d <= run->second; ++d) next_shape[d] = 1;
    Tensor next = empty(next_shape, x.dtype());
    dispatch_float(x.dtype(), "sum", [&]<typename T>() {
      if (s.inner == 1) {
        sum_rows(current.data<T>(), next.data<T>(), s.outer, s.reduced);
      } else {
        sum_columns(current.data<T>(), next.data<T>(), s);
      }
    });
    current = next;
  }
  return current;
}

// g (keep shape) stretched back over the `sorted` dims to `shape`. No history.
Tensor expand_raw(const Tensor& g, const Shape& shape, const std::vector<std::int64_t>& sorted) {
  Tensor current = g;
  for (const auto& [first, last] : runs_of(sorted)) {
    Shape next_shape = current.shape();
    for (std::int64_t d = first; d <= last; ++d) next_shape[d] = shape[d];
    const Split s = split_range(next_shape, first, last);
    Tensor next = empty(next_shape, g.dtype());
    dispatch_float(g.dtype(), "sum backward", [&]<typename T>() {
      const T* src = current.data<T>();
      T* dst = next.data<T>();
      const bool parallel = next.numel() > kParallelThreshold;
      parallel_for_if(parallel, s.outer * s.reduced, [=](std::int64_t row) {
        const T* from = src + (row / s.reduced) * s.inner;
        T* to = dst + row * s.inner;
#pragma omp simd
        for (std::int64_t j = 0; j < s.inner; ++j) to[j] = from[j];
      });
    });
    current = next;
  }
  return current;
}

// ---- max and argmax

// True when v should replace best: larger, or the first NaN (NaN wins, as in torch).
template <typename T>
bool beats(T v, T best) {
  return v > best || (v != v && best == best);
}

// The largest of n > 0 values, vectorized; *nan tells whether any of them is NaN (then
// the result is the largest of the others).
template <typename T>
T row_max(const T* row, std::int64_t n, bool* nan) {
  T best = row[0];
  int any_nan = 0;
#pragma omp simd reduction(max : best) reduction(| : any_nan)
  for (std::int64_t c = 0; c < n; ++c) {
    best = row[c] > best ? row[c] : best;  // (std::max does not vectorize)
    any_nan |= row[c] != row[c];
  }
  *nan = any_nan != 0;
  return best;
}

// Values and first indices of the max over C of x (outer, C, inner).
template <typename T>
void max_kernel(const T* x, T* values, std::int64_t* indices, const Split& s) {
  const std::int64_t n = s.outer * s.reduced * s.inner;
  if (s.inner == 1) {
    // Two passes per row: the maximum (vectorized, noting any NaN), then its first index.
    parallel_for_if(n > kParallelThreshold, s.outer, [=](std::int64_t o) {
      const T* row = x + o * s.reduced;
      bool nan = false;
      const T best = row_max(row, s.reduced, &nan);
      // Then the first element equal to it (or the first NaN, which wins as in torch). The
      // search skips whole blocks of 16 with one vectorized test each.
      std::int64_t at = 0;
      if (nan) {
        while (row[at] == row[at]) ++at;
      } else {
        for (; at + 16 <= s.reduced; at += 16) {
          int found = 0;
#pragma omp simd reduction(| : found)
          for (std::int64_t j = 0; j < 16; ++j) found |= row[at + j] == best;
          if (found) break;
        }
        while (row[at] != best) ++at;
      }
      values[o] = row[at];
      indices[o] = at;
    });
    return;
  }
  const std::int64_t blocks = (s.inner + kLanes - 1) / kLanes;
  parallel_for_if(n > kParallelThreshold, s.outer * blocks, [=](std::int64_t task) {
    const std::int64_t o = task / blocks;
    const std::int64_t j0 = (task % blocks) * kLanes;
    const std::int64_t width = std::min(kLanes, s.inner - j0);
    const T* base = x + o * s.reduced * s.inner + j0;
    T* best = values + o * s.inner + j0;
    std::int64_t* at = indices + o * s.inner + j0;
    for (std::int64_t j = 0; j < width; ++j) {
      best[j] = base[j];
      at[j] = 0;
    }
    for (std::int64_t c = 1; c < s.reduced; ++c) {
      const T* row = base + c * s.inner;
#pragma omp simd
      for (std::int64_t j = 0; j < width; ++j) {
        const bool take = beats(row[j], best[j]);
        best[j] = take ? row[j] : best[j];
        at[j] = take ? c : at[j];
      }
    }
  });
}

struct MaxResult {
  Tensor values;   // keep shape
  Tensor indices;  // keep shape, i64
  Split split;
};

MaxResult max_along(const Tensor& x, std::int64_t dim, const char* op) {
  check_float(x, op);
  const std::int64_t d = normalize_dim(dim, x.shape(), op);
  const Shape work = x.dim() == 0 ? Shape{1} : x.shape();
  DESCENT_CHECK(work[d] > 0, op, ": cannot reduce dimension ", dim, " of size 0 in shape ",
                shape_str(x.shape()));
  MaxResult result;
  result.split = split_range(work, d, d);
  Shape keep = x.shape();
  if (!keep.empty()) keep[d] = 1;
  result.values = empty(keep, x.dtype());
  result.indices = empty(keep, DType::i64);
  dispatch_float(x.dtype(), op, [&]<typename T>() {
    max_kernel(x.data<T>(), result.values.data<T>(), result.indices.data<std::int64_t>(),
               result.split);
  });
  return result;
}

Shape without_dim(const Shape& shape, std::int64_t dim) {
  if (shape.empty()) return shape;
  Shape out = shape;
  out.erase(out.begin() + dim);
  return out;
}

// ---- variance (two passes per output: the mean, then the squared deviations)

template <typename T>
void var_kernel(const T* x, T* mean, T* out, const Split& s, double divisor) {
  const std::int64_t n = s.outer * s.reduced * s.inner;
  const std::int64_t blocks = (s.inner + kLanes - 1) / kLanes;
  const double count = static_cast<double>(s.reduced);
  if (s.inner == 1) {  // rows: vectorize along C
    parallel_for_if(n > kParallelThreshold, s.outer, [=](std::int64_t o) {
      const T* row = x + o * s.reduced;
      double total = 0;
#pragma omp simd reduction(+ : total)
      for (std::int64_t c = 0; c < s.reduced; ++c) total += row[c];
      const double mu = total / count;
      double squares = 0;
#pragma omp simd reduction(+ : squares)
      for (std::int64_t c = 0; c < s.reduced; ++c) {
        const double deviation = row[c] - mu;
        squares += deviation * deviation;
      }
      mean[o] = static_cast<T>(mu);
      out[o] = static_cast<T>(squares / divisor);
    });
    return;
  }
  parallel_for_if(n > kParallelThreshold, s.outer * blocks, [=](std::int64_t task) {
    const std::int64_t o = task / blocks;
    const std::int64_t j0 = (task % blocks) * kLanes;
    const std::int64_t width = std::min(kLanes, s.inner - j0);
    const T* base = x + o * s.reduced * s.inner + j0;
    double total[kLanes] = {};
    for (std::int64_t c = 0; c < s.reduced; ++c) {
      const T* row = base + c * s.inner;
#pragma omp simd
      for (std::int64_t j = 0; j < width; ++j) total[j] += row[j];
    }
    double mu[kLanes];
    double squares[kLanes] = {};
    for (std::int64_t j = 0; j < width; ++j) mu[j] = total[j] / count;
    for (std::int64_t c = 0; c < s.reduced; ++c) {
      const T* row = base + c * s.inner;
#pragma omp simd
      for (std::int64_t j = 0; j < width; ++j) {
        const double deviation = row[j] - mu[j];
        squares[j] += deviation * deviation;
      }
    }
    for (std::int64_t j = 0; j < width; ++j) {
      mean[o * s.inner + j0 + j] = static_cast<T>(mu[j]);
      out[o * s.inner + j0 + j] = static_cast<T>(squares[j] / divisor);
    }
  });
}

}  // namespace

std::int64_t normalize_dim(std::int64_t dim, std::int64_t rank, const char* op) {
  const std::int64_t k = dim < 0 ? dim + rank : dim;
  DESCENT_CHECK(k >= 0 && k < std::max<std::int64_t>(rank, 1), op, ": dimension ", dim,
                " is out of range for a tensor of rank ", rank);
  return k;
}

std::int64_t normalize_dim(std::int64_t dim, const Shape& shape, const char* op) {
  const std::int64_t rank = static_cast<std::int64_t>(shape.size());
  const std::int64_t k = dim < 0 ? dim + rank : dim;
  DESCENT_CHECK(k >= 0 && k < std::max<std::int64_t>(rank, 1), op, ": dimension ", dim,
                " is out of range for a tensor of shape ", shape_str(shape));
  return k;
}

Tensor sum(const Tensor& x) {
  check_float(x, "sum");
  std::vector<std::int64_t> all(x.dim());
  for (std::int64_t k = 0; k < x.dim(); ++k) all[k] = k;
  Tensor out = sum_raw(x, all).view_of(0, {});
  return autograd::record("sum", out, {x},
                          [shape = x.shape(), all](const Tensor& grad, const autograd::Node&) {
                            Shape keep(shape.size(), 1);
                            return autograd::Grads{expand_raw(grad.view_of(0, keep), shape, all)};
                          });
}

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  check_float(x, "sum");
  const auto sorted = reduce_dims(x, dims, "sum");
  Tensor out = sum_raw(x, sorted);
  if (!keepdim) out = out.view_of(0, drop_shape(x.shape(), sorted));
  return autograd::record(
      "sum", out, {x}, [shape = x.shape(), sorted](const Tensor& grad, const autograd::Node&) {
        return autograd::Grads{
            expand_raw(grad.view_of(0, keep_shape(shape, sorted)), shape, sorted)};
      });
}

Tensor mean(const Tensor& x) {
  DESCENT_CHECK(x.numel() > 0, "mean: needs at least one element, got shape ",
                shape_str(x.shape()));
  return div(sum(x), static_cast<double>(x.numel()));
}

Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  const auto sorted = reduce_dims(x, dims, "mean");
  const std::int64_t count = count_of(x.shape(), sorted);
  DESCENT_CHECK(count > 0, "mean: reduces over zero elements of shape ", shape_str(x.shape()));
  return div(sum(x, dims, keepdim), static_cast<double>(count));
}

Tensor max(const Tensor& x, std::int64_t dim, bool keepdim) {
  MaxResult result = max_along(x, dim, "max");
  const std::int64_t d = normalize_dim(dim, x.shape(), "max");
  Tensor out = keepdim ? result.values : result.values.view_of(0, without_dim(x.shape(), d));
  return autograd::record("max", out, {x},
                          [shape = x.shape(), indices = result.indices, s = result.split](
                              const Tensor& grad, const autograd::Node&) {
                            // The gradient goes to the element that was picked; the others get 0.
                            Tensor gx = zeros(shape, grad.dtype());
                            const std::int64_t* at = indices.data<std::int64_t>();
                            dispatch_float(grad.dtype(), "max backward", [&]<typename T>() {
                              const T* pg = grad.data<T>();
                              T* pd = gx.data<T>();
                              parallel_for_if(s.outer * s.inner > kParallelThreshold,
                                              s.outer * s.inner, [=](std::int64_t k) {
                                                const std::int64_t o = k / s.inner;
                                                const std::int64_t j = k % s.inner;
                                                pd[(o * s.reduced + at[k]) * s.inner + j] = pg[k];
                                              });
                            });
                            return autograd::Grads{gx};
                          });
}

Tensor max(const Tensor& x) {
  check_float(x, "max");
  DESCENT_CHECK(x.numel() > 0, "max: needs at least one element, got shape ", shape_str(x.shape()));
  const std::int64_t n = x.numel();
  Tensor out = empty({}, x.dtype());
  dispatch_float(x.dtype(), "max", [&]<typename T>() {
    // Chunk maxima in parallel, then combined in chunk order.
    const T* px = x.data<T>();
    const std::int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<T> partial(static_cast<std::size_t>(chunks));
    T* const parts = partial.data();
    parallel_for_if(n > kParallelThreshold, chunks, [=](std::int64_t k) {
      const std::int64_t begin = k * kChunk;
      bool nan = false;
      const T best = row_max(px + begin, std::min(kChunk, n - begin), &nan);
      parts[k] = nan ? std::numeric_limits<T>::quiet_NaN() : best;
    });
    T best = partial[0];
    for (std::int64_t k = 1; k < chunks; ++k) best = beats(partial[k], best) ? partial[k] : best;
    *out.data<T>() = best;
  });
  return autograd::record(
      "max", out, {x},
      [x = x.detach(), value = out.detach()](const Tensor& grad, const autograd::Node&) {
        // As torch's evenly_distribute_backward: the gradient is shared equally by all the
        // elements equal to the maximum (or by the NaNs when the maximum is NaN).
        Tensor gx = empty_like(x);
        const std::int64_t n = x.numel();
        dispatch_float(x.dtype(), "max backward", [&]<typename T>() {
          const T* px = x.data<T>();
          T* pd = gx.data<T>();
          const T best = *value.data<T>();
          const bool nan = best != best;
          // a count: exact in any order
          const std::int64_t ties = parallel_sum_if<std::int64_t>(
              n > kParallelThreshold, n,
              [=](std::int64_t i) -> std::int64_t { return nan ? px[i] != px[i] : px[i] == best; });
          const T share = static_cast<T>(*grad.data<T>() / static_cast<T>(ties));
          parallel_simd_if(n > kParallelThreshold, n, [=](std::int64_t i) {
            const bool hit = nan ? px[i] != px[i] : px[i] == best;
            pd[i] = hit ? share : T(0);
          });
        });
        return autograd::Grads{gx};
      });
}

Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim) {
  MaxResult result = max_along(x, dim, "argmax");
  const std::int64_t d = normalize_dim(dim, x.shape(), "argmax");
  return keepdim ? result.indices : result.indices.view_of(0, without_dim(x.shape(), d));
}

Tensor var(const Tensor& x, const std::vector<std::int64_t>& dims, bool unbiased, bool keepdim) {
  check_float(x, "var");
  // No dims means all of them, as torch.var.
  std::vector<std::int64_t> sorted;
  if (dims.empty()) {
    for (std::int64_t k = 0; k < x.dim(); ++k) sorted.push_back(k);
  } else {
    sorted = reduce_dims(x, dims, "var");
  }
  const auto runs = runs_of(sorted);
  const std::int64_t count = count_of(x.shape(), sorted);
  // torch divides by max(0, n - correction): n == 1 unbiased gives NaN, n == 0 NaN.
  const double divisor = std::max<double>(0.0, static_cast<double>(count) - (unbiased ? 1 : 0));

  // The reduced dims must be one neighbouring run: otherwise move them last (a copy).
  Tensor work = x.detach();
  std::vector<std::int64_t> order;
  Split s{1, count, 1};
  if (runs.size() <= 1) {
    if (!runs.empty()) s = split_range(x.shape(), runs[0].first, runs[0].second);
    s.outer = runs.empty() ? x.numel() : s.outer;
  } else {
    for (std::int64_t k = 0; k < x.dim(); ++k) {
      if (!std::binary_search(sorted.begin(), sorted.end(), k)) order.push_back(k);
    }
    order.insert(order.end(), sorted.begin(), sorted.end());
    work = permute(work, order);
    s.outer = count == 0 ? 0 : x.numel() / count;
  }

  const Shape keep = keep_shape(x.shape(), sorted);
  Tensor mean_keep = empty(keep, x.dtype());
  Tensor out = empty(keep, x.dtype());
  dispatch_float(x.dtype(), "var", [&]<typename T>() {
    var_kernel(work.data<T>(), mean_keep.data<T>(), out.data<T>(), s, divisor);
  });
  if (!keepdim) out = out.view_of(0, drop_shape(x.shape(), sorted));
  return autograd::record(
      "var", out, {x},
      [work, mean_keep, s, divisor, order](const Tensor& grad, const autograd::Node&) {
        // d var / d x_c = 2 (x_c - mean) / (n - correction)
        Tensor gw = empty_like(work);
        const std::int64_t n = work.numel();
        dispatch_float(work.dtype(), "var backward", [&]<typename T>() {
          const T* px = work.data<T>();
          const T* pm = mean_keep.data<T>();
          const T* pg = grad.data<T>();
          T* pd = gw.data<T>();
          const T scale = static_cast<T>(2.0 / divisor);
          parallel_for_if(n > kParallelThreshold, s.outer * s.reduced, [=](std::int64_t row) {
            const std::int64_t at = (row / s.reduced) * s.inner;
#pragma omp simd
            for (std::int64_t j = 0; j < s.inner; ++j) {
              pd[row * s.inner + j] = pg[at + j] * scale * (px[row * s.inner + j] - pm[at + j]);
            }
          });
        });
        if (order.empty()) return autograd::Grads{gw};
        std::vector<std::int64_t> inverse(order.size());
        for (std::size_t k = 0; k < order.size(); ++k) inverse[order[k]] = k;
        return autograd::Grads{permute(gw, inverse)};
      });
}

}  // namespace descent::ops
