// Internal to the ops layer: the element-wise loops that math.cpp and activation.cpp share.
#pragma once

#include <cstdint>

#include "descent/core/dtype.hpp"
#include "descent/core/error.hpp"
#include "descent/core/parallel.hpp"
#include "descent/core/tensor.hpp"

namespace descent::ops::detail {

// Tensors above this many elements are split over OpenMP threads. Loops use `parallel for
// simd if (parallel : ...)`: a plain `if` on the combined construct also applies to its
// simd part (OpenMP 5.0) and leaves small tensors unvectorized.
constexpr std::int64_t kParallelThreshold = kParallelElements;  // core/parallel.hpp

inline void check_float(const Tensor& x, const char* op) {
  DESCENT_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op,
                ": expected a f32 or f64 tensor, got ", dtype_name(x.dtype()), " ",
                shape_str(x.shape()));
}

// out[i] = f(x[i]).
template <typename F>
Tensor map(const Tensor& x, const char* op, F f) {
  check_float(x, op);
  Tensor out = empty_like(x);
  const std::int64_t n = x.numel();
  dispatch_float(x.dtype(), op, [&]<typename T>() {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    // each thread runs its own copy of f (parallel_simd_if): its captures (leaky_relu's
    // slope) are local values the vectorizer may load unconditionally
    parallel_simd_if(n > kParallelThreshold, n, [po, px, f](std::int64_t i) { po[i] = f(px[i]); });
  });
  return out;
}

// grad_x[i] = f(grad[i], saved[i]): one pass over the output gradient and one saved tensor.
template <typename F>
Tensor map_grad(const Tensor& grad, const Tensor& saved, const char* op, F f) {
  Tensor gx = empty_like(grad);
  const std::int64_t n = grad.numel();
  dispatch_float(grad.dtype(), op, [&]<typename T>() {
    const T* pg = grad.data<T>();
    const T* ps = saved.data<T>();
    T* pd = gx.data<T>();
    parallel_simd_if(n > kParallelThreshold, n,
                     [pd, pg, ps, f](std::int64_t i) { pd[i] = f(pg[i], ps[i]); });
  });
  return gx;
}

}  // namespace descent::ops::detail
