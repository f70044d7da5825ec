#include "descent/ops/activation.hpp"

#include "descent/autograd/autograd.hpp"

namespace descent::ops {
namespace {
constexpr std::int64_t kParallelThreshold = 32768;
}  // namespace

Tensor relu(const Tensor& x) {
  Tensor out = empty_like(x);
  const std::int64_t n = x.numel();
  dispatch_float(x.dtype(), "relu", [&]<typename T>() {
    const T* px = x.data<T>();
    T* po = out.data<T>();
#pragma omp parallel for simd if (n > kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) po[i] = px[i] > T(0) ? px[i] : T(0);
  });
  return autograd::record("relu", out, {x},
                          [out = out.detach()](const Tensor& grad, const autograd::Node&) {
                            Tensor gx = empty_like(grad);
                            const std::int64_t n = grad.numel();
                            dispatch_float(grad.dtype(), "relu backward", [&]<typename T>() {
                              const T* py = out.data<T>();
                              const T* pg = grad.data<T>();
                              T* pd = gx.data<T>();
#pragma omp parallel for simd if (n > kParallelThreshold)
                              for (std::int64_t i = 0; i < n; ++i)
                                pd[i] = py[i] > T(0) ? pg[i] : T(0);
                            });
                            return autograd::Grads{gx};
                          });
}

}  // namespace descent::ops
