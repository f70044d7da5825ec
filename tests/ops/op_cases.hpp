// Table-driven op checks shared by the ops tests: one Case per (op, shapes, options).
//
//   run_gradcheck(cases());      // f64 gradients against central differences
//   run_f32_matches_f64(cases()); // the f32 kernels against the f64 ones, forward and backward
//
// Inputs are seeded N(0, 1) leaves, optionally mapped by `init` (to keep log's input
// positive, or abs/clamp/leaky_relu's away from their kinks).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "descent/ops.hpp"
#include "gradcheck.hpp"

namespace descent::testing {

struct Case {
  std::string name;
  Fn fn;
  std::vector<Shape> shapes;
  std::function<double(double)> init = nullptr;
};

inline double positive(double v) {
  return std::abs(v) + 0.5;
}
inline double away_from_zero(double v) {
  return v >= 0 ? v + 0.2 : v - 0.2;
}
// Moves values within `gap` of any of `points` to `gap` away from it.
inline std::function<double(double)> away_from(std::vector<double> points, double gap = 0.05) {
  return [points, gap](double v) {
    for (double p : points) {
      if (std::abs(v - p) < gap) v = v >= p ? p + gap : p - gap;
    }
    return v;
  };
}

inline std::vector<Tensor> case_inputs(const Case& c) {
  std::vector<Tensor> inputs;
  std::uint64_t seed = 1;
  for (const Shape& s : c.shapes) {
    Tensor t = leaf(s, seed++);
    if (c.init) {
      double* p = t.data<double>();
      for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = c.init(p[i]);
    }
    inputs.push_back(t);
  }
  return inputs;
}

inline void run_gradcheck(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    expect_gradcheck(c.name, c.fn, case_inputs(c));
  }
}

// Output and input gradients (projected on a fixed random tensor) in the inputs' dtype.
inline std::vector<Tensor> forward_backward(const Case& c, const std::vector<Tensor>& inputs) {
  Tensor out = c.fn(inputs);
  Generator gen(99);
  Tensor v = randn(out.shape(), gen, DType::f64).to(out.dtype());
  ops::sum(ops::mul(out, v)).backward();
  std::vector<Tensor> results{out};
  for (const Tensor& t : inputs) results.push_back(t.grad());
  return results;
}

inline void run_f32_matches_f64(const std::vector<Case>& cases, double rtol = 2e-5) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::vector<Tensor> wide = case_inputs(c);
    std::vector<Tensor> narrow;
    for (const Tensor& t : wide) {
      Tensor f = t.to(DType::f32);
      f.set_requires_grad(true);
      narrow.push_back(f);
    }
    const auto expected = forward_backward(c, wide);
    const auto actual = forward_backward(c, narrow);
    for (std::size_t k = 0; k < expected.size(); ++k) {
      ASSERT_EQ(actual[k].dtype(), DType::f32) << c.name << " result " << k;
      ASSERT_EQ(actual[k].shape(), expected[k].shape()) << c.name << " result " << k;
      const auto a = actual[k].to_vector();
      const auto e = expected[k].to_vector();
      double scale = 1.0;
      for (double x : e) scale = std::max(scale, std::abs(x));
      for (std::size_t i = 0; i < e.size(); ++i) {
        ASSERT_NEAR(a[i], e[i], rtol * scale)
            << c.name << " result " << k << " (0 = output, k = grad of input k-1) element " << i;
      }
    }
  }
}

// max_i |a_i - b_i| / (1 + |b_i|), over tensors of the same shape (any float dtype).
inline double max_deviation(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const Tensor wa = a.to(DType::f64);
  const Tensor wb = b.to(DType::f64);
  const double* pa = wa.data<double>();
  const double* pb = wb.data<double>();
  double worst = 0;
  for (std::int64_t i = 0; i < wa.numel(); ++i) {
    const double deviation = std::abs(pa[i] - pb[i]) / (1 + std::abs(pb[i]));
    worst = std::isnan(deviation) ? INFINITY : std::max(worst, deviation);
  }
  return worst;
}

// Expects fn to throw descent::Error whose message contains every one of `needles`.
template <typename Fn>
void expect_error(Fn fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected descent::Error containing " << needles.front();
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& needle : needles) {
      EXPECT_NE(message.find(needle), std::string::npos)
          << "message: " << message << "\nmissing: " << needle;
    }
  }
}

}  // namespace descent::testing
