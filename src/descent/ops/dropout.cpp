// Inverted dropout (Srivastava et al. 2014, https://jmlr.org/papers/v15/srivastava14a.html;
// torch.nn.functional.dropout): scaling the kept elements by 1 / (1 - p) in training makes
// evaluation the identity.
#include "descent/ops/dropout.hpp"

#include <algorithm>

#include "descent/autograd/autograd.hpp"
#include "descent/core/parallel.hpp"

namespace descent::ops {
namespace {
constexpr std::int64_t kParallelThreshold = 16384;
}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  DESCENT_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64,
                "dropout: expected a f32 or f64 tensor, got ", dtype_name(x.dtype()), " ",
                shape_str(x.shape()));
  DESCENT_CHECK(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p, " (x ",
                shape_str(x.shape()), ")");
  if (!training || p == 0.0) return x;

  // Element i is kept when its uniform draw u >= p. One Philox call gives four 32-bit
  // words, so element i reads word i % 4 of counter first + i / 4; the generator still
  // advances by numel counters, as every other draw of numel elements does.
  const std::int64_t n = x.numel();
  const std::uint64_t first = gen.reserve(static_cast<std::uint64_t>(n));
  const std::uint64_t key = gen.seed();
  const double keep_scale = p == 1.0 ? 0.0 : 1.0 / (1.0 - p);  // p == 1 zeroes all, as torch
  Tensor mask = empty_like(x);                                 // 0 or 1 / (1 - p)
  Tensor out = empty_like(x);
  dispatch_float(x.dtype(), "dropout", [&]<typename T>() {
    const T* px = x.data<T>();
    T* pm = mask.data<T>();
    T* po = out.data<T>();
    const T scale = static_cast<T>(keep_scale);
    const std::int64_t groups = (n + 3) / 4;
    parallel_for_if(n > kParallelThreshold, groups, [=](std::int64_t group) {
      const auto words = philox4x32(first + static_cast<std::uint64_t>(group), key);
      const std::int64_t begin = group * 4;
      const std::int64_t end = std::min(n, begin + 4);
      for (std::int64_t i = begin; i < end; ++i) {
        const double u = uniform01_f32(words[i - begin]);
        pm[i] = u >= p ? scale : T(0);
        po[i] = px[i] * pm[i];
      }
    });
  });
  return autograd::record("dropout", out, {x}, [mask](const Tensor& grad, const autograd::Node&) {
    Tensor gx = empty_like(grad);
    const std::int64_t n = grad.numel();
    dispatch_float(grad.dtype(), "dropout backward", [&]<typename T>() {
      const T* pg = grad.data<T>();
      const T* pm = mask.data<T>();
      T* pd = gx.data<T>();
      parallel_simd_if(n > kParallelThreshold, n, [=](std::int64_t i) { pd[i] = pg[i] * pm[i]; });
    });
    return autograd::Grads{gx};
  });
}

}  // namespace descent::ops
