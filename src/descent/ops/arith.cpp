#include "descent/ops/arith.hpp"

#include <algorithm>
#include <vector>

#include "descent/autograd/autograd.hpp"
#include "descent/core/parallel.hpp"

namespace descent::ops {
namespace {

constexpr std::int64_t kParallelThreshold = kParallelElements;  // core/parallel.hpp

// Element strides of `in` seen from a broadcast output of rank `rank`: 0 where stretched.
// A Shape (no heap allocation up to its inline rank).
Shape broadcast_strides(const Shape& in, std::size_t rank) {
  Shape strides(rank, 0);
  std::int64_t stride = 1;
  for (std::size_t k = 0; k < in.size(); ++k) {
    const std::size_t d = in.size() - 1 - k;
    const std::size_t out_d = rank - 1 - k;
    strides[out_d] = in[d] == 1 ? 0 : stride;
    stride *= in[d];
  }
  return strides;
}

// True when `in` (after dropping leading 1s) equals the trailing dims of `out`: the input
// then repeats as whole contiguous rows of the output (a bias, a per-feature scale).
bool is_row_broadcast(const Shape& in, const Shape& out) {
  std::size_t first = 0;
  while (first < in.size() && in[first] == 1) ++first;
  const std::size_t len = in.size() - first;
  if (len > out.size()) return false;
  return std::equal(in.begin() + first, in.end(), out.end() - len);
}

// Offset into a broadcast input for output element `index` of shape `out`.
std::int64_t broadcast_offset(std::int64_t index, const Shape& out, const Shape& strides) {
  std::int64_t offset = 0;
  for (std::size_t d = out.size(); d-- > 0;) {
    const std::int64_t i = index % out[d];
    index /= out[d];
    offset += i * strides[d];
  }
  return offset;
}

// out[i] = f(a[ia], b[ib]) over the broadcast of a and b.
template <typename T, typename F>
void binary_kernel(const Tensor& a, const Tensor& b, Tensor& out, F f) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  const std::int64_t n = out.numel();
  const bool parallel = n > kParallelThreshold;
  if (a.shape() == b.shape()) {
    parallel_simd_if(parallel, n, [=](std::int64_t i) { po[i] = f(pa[i], pb[i]); });
    return;
  }
  if (b.numel() == 1 && a.numel() == n) {
    const T vb = pb[0];
    parallel_simd_if(parallel, n, [=](std::int64_t i) { po[i] = f(pa[i], vb); });
    return;
  }
  if (a.numel() == 1 && b.numel() == n) {
    const T va = pa[0];
    parallel_simd_if(parallel, n, [=](std::int64_t i) { po[i] = f(va, pb[i]); });
    return;
  }
  // b repeats along leading dims of a (a bias row): b's shape is a suffix of out's.
  const std::int64_t nb = b.numel();
  if (a.numel() == n && nb > 0 && is_row_broadcast(b.shape(), out.shape())) {
    const std::int64_t rows = n / nb;
    parallel_for_if(parallel, rows, [=](std::int64_t r) {
      const T* ra = pa + r * nb;
      T* ro = po + r * nb;
#pragma omp simd
      for (std::int64_t j = 0; j < nb; ++j) ro[j] = f(ra[j], pb[j]);
    });
    return;
  }
  const auto sa = broadcast_strides(a.shape(), out.dim());
  const auto sb = broadcast_strides(b.shape(), out.dim());
  const Shape& shape = out.shape();
  // the Shapes by reference (a copy per thread could allocate)
  parallel_for_if(parallel, n, [&sa, &sb, &shape, po, pa, pb, f](std::int64_t i) {
    po[i] = f(pa[broadcast_offset(i, shape, sa)], pb[broadcast_offset(i, shape, sb)]);
  });
}

void check_binary(const Tensor& a, const Tensor& b, const char* op) {
  DESCENT_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ: ", dtype_name(a.dtype()), " ",
                shape_str(a.shape()), " and ", dtype_name(b.dtype()), " ", shape_str(b.shape()));
}

template <typename F>
Tensor binary_forward(const Tensor& a, const Tensor& b, const char* op, F f) {
  check_binary(a, b, op);
  Tensor out = empty(broadcast_shapes(a.shape(), b.shape(), op), a.dtype());
  dispatch_float(a.dtype(), op, [&]<typename T>() { binary_kernel<T>(a, b, out, f); });
  return out;
}

// out = f(x) elementwise.
template <typename F>
Tensor unary_forward(const Tensor& x, const char* op, F f) {
  Tensor out = empty_like(x);
  const std::int64_t n = x.numel();
  dispatch_float(x.dtype(), op, [&]<typename T>() {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_simd_if(n > kParallelThreshold, n, [=](std::int64_t i) { po[i] = f(px[i]); });
  });
  return out;
}

// Reduces a gradient of the broadcast shape to the input's shape, if they differ.
Tensor reduce_grad(const Tensor& grad, const Shape& shape) {
  return grad.shape() == shape ? grad : sum_to(grad, shape);
}

struct Add {
  template <typename T>
  T operator()(T x, T y) const {
    return x + y;
  }
};
struct Sub {
  template <typename T>
  T operator()(T x, T y) const {
    return x - y;
  }
};
struct Mul {
  template <typename T>
  T operator()(T x, T y) const {
    return x * y;
  }
};
struct Div {
  template <typename T>
  T operator()(T x, T y) const {
    return x / y;
  }
};

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t k = 0; k < rank; ++k) {
    const std::int64_t da = k < a.size() ? a[a.size() - 1 - k] : 1;
    const std::int64_t db = k < b.size() ? b[b.size() - 1 - k] : 1;
    DESCENT_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
                  shape_str(b), " do not broadcast (dimension ", rank - 1 - k, ": ", da, " vs ", db,
                  ")");
    out[rank - 1 - k] = da == 1 ? db : da;
  }
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  DESCENT_CHECK(broadcast_shapes(x.shape(), shape, "sum_to") == x.shape(),
                "sum_to: ", shape_str(x.shape()), " is not a broadcast of ", shape_str(shape));
  Tensor out = zeros(shape, x.dtype());
  const std::int64_t n = x.numel();
  const std::int64_t m = out.numel();
  dispatch_float(x.dtype(), "sum_to", [&]<typename T>() {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    if (m == 1) {
      // Fixed chunks summed in order: the same bits for any thread count.
      constexpr std::int64_t kChunk = 4096;
      const std::int64_t chunks = (n + kChunk - 1) / kChunk;
      std::vector<double> partial(static_cast<std::size_t>(chunks));
      double* pp = partial.data();
      parallel_for_if(n > kParallelThreshold, chunks, [=](std::int64_t c) {
        double acc = 0;
        const std::int64_t end = std::min(n, (c + 1) * kChunk);
        for (std::int64_t i = c * kChunk; i < end; ++i) acc += px[i];
        pp[c] = acc;
      });
      double total = 0;
      for (double v : partial) total += v;
      po[0] = static_cast<T>(total);
      return;
    }
    const auto strides = broadcast_strides(shape, x.dim());
    if (is_row_broadcast(shape, x.shape())) {
      // Sum of rows: each row added in order into the output (vectorized along the row, the
      // same sums as a column-by-column loop, without its strided reads and its chain of
      // dependent adds); blocks of columns split across threads (deterministic).
      constexpr std::int64_t kColumnBlock = 64;
      const std::int64_t rows = n / m;
      const std::int64_t blocks = (m + kColumnBlock - 1) / kColumnBlock;
      parallel_for_if(n > kParallelThreshold, blocks, [=](std::int64_t b) {
        const std::int64_t j0 = b * kColumnBlock;
        const std::int64_t j1 = std::min(m, j0 + kColumnBlock);
        for (std::int64_t r = 0; r < rows; ++r) {
          const T* row = px + r * m;
#pragma omp simd
          for (std::int64_t j = j0; j < j1; ++j) po[j] += row[j];
        }
      });
      return;
    }
    for (std::int64_t i = 0; i < n; ++i) po[broadcast_offset(i, x.shape(), strides)] += px[i];
  });
  return out;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  DESCENT_CHECK(broadcast_shapes(x.shape(), shape, "broadcast_to") == shape,
                "broadcast_to: ", shape_str(x.shape()), " cannot be stretched to ",
                shape_str(shape));
  Tensor out = empty(shape, x.dtype());
  const std::int64_t n = out.numel();
  const auto strides = broadcast_strides(x.shape(), out.dim());
  dispatch_float(x.dtype(), "broadcast_to", [&]<typename T>() {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_for_if(n > kParallelThreshold, n, [&shape, &strides, po, px](std::int64_t i) {
      po[i] = px[broadcast_offset(i, shape, strides)];
    });
  });
  const Shape in_shape = x.shape();
  return autograd::record("broadcast_to", out, {x},
                          [in_shape](const Tensor& grad, const autograd::Node&) {
                            return autograd::Grads{sum_to(grad, in_shape)};
                          });
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "add", Add{});
  return autograd::record(
      "add", out, {a, b},
      [sa = a.shape(), sb = b.shape()](const Tensor& grad, const autograd::Node& node) {
        autograd::Grads grads(2);
        if (node.needs_grad(0)) grads[0] = reduce_grad(grad, sa);
        if (node.needs_grad(1)) grads[1] = reduce_grad(grad, sb);
        return grads;
      });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "sub", Sub{});
  return autograd::record(
      "sub", out, {a, b},
      [sa = a.shape(), sb = b.shape()](const Tensor& grad, const autograd::Node& node) {
        autograd::Grads grads(2);
        if (node.needs_grad(0)) grads[0] = reduce_grad(grad, sa);
        if (node.needs_grad(1)) grads[1] = reduce_grad(neg(grad), sb);
        return grads;
      });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "mul", Mul{});
  return autograd::record(
      "mul", out, {a, b},
      [a = a.detach(), b = b.detach()](const Tensor& grad, const autograd::Node& node) {
        autograd::Grads grads(2);
        if (node.needs_grad(0)) grads[0] = reduce_grad(mul(grad, b), a.shape());
        if (node.needs_grad(1)) grads[1] = reduce_grad(mul(grad, a), b.shape());
        return grads;
      });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "div", Div{});
  return autograd::record(
      "div", out, {a, b},
      [a = a.detach(), b = b.detach()](const Tensor& grad, const autograd::Node& node) {
        autograd::Grads grads(2);
        // d(a/b)/da = 1/b; d(a/b)/db = -a/b^2
        if (node.needs_grad(0)) grads[0] = reduce_grad(div(grad, b), a.shape());
        if (node.needs_grad(1))
          grads[1] = reduce_grad(neg(div(mul(grad, a), mul(b, b))), b.shape());
        return grads;
      });
}

Tensor add(const Tensor& a, double b) {
  Tensor out = unary_forward(a, "add", [b]<typename T>(T x) { return x + static_cast<T>(b); });
  return autograd::record("add", out, {a}, [](const Tensor& grad, const autograd::Node&) {
    return autograd::Grads{grad};
  });
}

Tensor sub(const Tensor& a, double b) {
  return add(a, -b);
}

Tensor sub(double a, const Tensor& b) {
  Tensor out = unary_forward(b, "sub", [a]<typename T>(T x) { return static_cast<T>(a) - x; });
  return autograd::record("sub", out, {b}, [](const Tensor& grad, const autograd::Node&) {
    return autograd::Grads{neg(grad)};
  });
}

Tensor mul(const Tensor& a, double b) {
  Tensor out = unary_forward(a, "mul", [b]<typename T>(T x) { return x * static_cast<T>(b); });
  return autograd::record("mul", out, {a}, [b](const Tensor& grad, const autograd::Node&) {
    return autograd::Grads{mul(grad, b)};
  });
}

Tensor div(const Tensor& a, double b) {
  Tensor out = unary_forward(a, "div", [b]<typename T>(T x) { return x / static_cast<T>(b); });
  return autograd::record("div", out, {a}, [b](const Tensor& grad, const autograd::Node&) {
    return autograd::Grads{div(grad, b)};
  });
}

Tensor div(double a, const Tensor& b) {
  Tensor out = unary_forward(b, "div", [a]<typename T>(T x) { return static_cast<T>(a) / x; });
  return autograd::record("div", out, {b},
                          [a, b = b.detach()](const Tensor& grad, const autograd::Node&) {
                            // d(a/b)/db = -a/b^2
                            return autograd::Grads{div(mul(grad, -a), mul(b, b))};
                          });
}

Tensor neg(const Tensor& a) {
  Tensor out = unary_forward(a, "neg", []<typename T>(T x) { return -x; });
  return autograd::record("neg", out, {a}, [](const Tensor& grad, const autograd::Node&) {
    return autograd::Grads{neg(grad)};
  });
}

}  // namespace descent::ops
