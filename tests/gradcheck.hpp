// Gradient checks against central finite differences in f64, as torch.autograd.gradcheck
// (eps 1e-6, atol 1e-5, rtol 1e-3).
//
//   expect_gradcheck("conv2d", [](const std::vector<Tensor>& in) {
//     return ops::conv2d(in[0], in[1], in[2]);
//   }, {x, w, b});
//
// Inputs must be f64; those with requires_grad are checked. The output is projected on a
// fixed random tensor, so every output element's gradient is exercised.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "descent/autograd/autograd.hpp"
#include "descent/core/tensor.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/reduce.hpp"

namespace descent::testing {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

inline double projected(const Fn& f, const std::vector<Tensor>& inputs, const Tensor& v) {
  autograd::NoGradGuard no_grad;
  Tensor out = f(inputs);
  const double* po = out.data<double>();
  const double* pv = v.data<double>();
  double total = 0;
  for (std::int64_t i = 0; i < out.numel(); ++i) total += po[i] * pv[i];
  return total;
}

inline void expect_gradcheck(const std::string& name, const Fn& f, std::vector<Tensor> inputs,
                             GradcheckOptions options = {}) {
  for (Tensor& t : inputs) {
    if (t.defined()) {
      ASSERT_EQ(t.dtype(), DType::f64) << name << ": gradcheck needs f64 inputs";
      t.set_grad(Tensor());
    }
  }
  Tensor out = f(inputs);
  ASSERT_EQ(out.dtype(), DType::f64);
  Generator gen(1234);
  Tensor v = randn(out.shape(), gen, DType::f64);
  ops::sum(ops::mul(out, v)).backward();

  for (std::size_t k = 0; k < inputs.size(); ++k) {
    Tensor& t = inputs[k];
    if (!t.defined() || !t.requires_grad()) continue;
    ASSERT_TRUE(t.grad().defined()) << name << ": input " << k << " got no gradient";
    const double* analytic = t.grad().data<double>();
    double* p = t.data<double>();
    int failures = 0;
    for (std::int64_t i = 0; i < t.numel() && failures < 5; ++i) {
      const double saved = p[i];
      p[i] = saved + options.eps;
      const double plus = projected(f, inputs, v);
      p[i] = saved - options.eps;
      const double minus = projected(f, inputs, v);
      p[i] = saved;
      const double numeric = (plus - minus) / (2 * options.eps);
      const bool ok =
          std::abs(analytic[i] - numeric) <= options.atol + options.rtol * std::abs(numeric);
      if (!ok) {
        ++failures;
        ADD_FAILURE() << name << ": input " << k << " " << shape_str(t.shape()) << " element " << i
                      << ": analytic " << analytic[i] << " vs numeric " << numeric;
      }
    }
  }
}

// A f64 leaf with values from N(0, 1) (seeded), requiring grad.
inline Tensor leaf(const Shape& shape, std::uint64_t seed, double scale = 1.0) {
  Generator gen(seed);
  Tensor t = normal(shape, 0.0, scale, gen, DType::f64);
  t.set_requires_grad(true);
  return t;
}

}  // namespace descent::testing
