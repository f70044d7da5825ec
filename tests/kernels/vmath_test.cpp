// kernels::vmath against the C library in double: the largest error in units in the last
// place (ulp) of the f32 result over a sweep of f32 bit patterns (every sign, every
// exponent), plus the special values. Table-driven: a new function is one new entry.
#include "descent/kernels/vmath.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace descent {
namespace {

namespace vmath = kernels::vmath;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The spacing of f32 numbers at `value` (the subnormal spacing below the normal range;
// FLT_MAX's spacing beyond it).
double ulp_at(double value) {
  const double magnitude = std::min<double>(std::fabs(value), std::numeric_limits<float>::max());
  int exponent = 0;
  std::frexp(magnitude, &exponent);
  return std::max(std::ldexp(1.0, exponent - 24), std::ldexp(1.0, -149));
}

// y[i] = F(x[i]) in an `omp simd` loop, where the compiler sees F and vectorizes it: the
// form in which the ops use vmath.
template <float (*F)(float)>
void vectorized(const float* x, float* y, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) y[i] = F(x[i]);
}

// One call, compiled on its own: the scalar code path.
template <float (*F)(float)>
[[gnu::noinline]] float scalar(float x) {
  return F(x);
}

[[gnu::always_inline]] inline float exp_f(float x) {
  return vmath::exp(x);
}
[[gnu::always_inline]] inline float log_f(float x) {
  return vmath::log(x);
}
[[gnu::always_inline]] inline float tanh_f(float x) {
  return vmath::tanh(x);
}
[[gnu::always_inline]] inline float erf_f(float x) {
  return vmath::erf(x);
}
[[gnu::always_inline]] inline float erfc_f(float x) {
  return vmath::erfc(x);
}
[[gnu::always_inline]] inline float sigmoid_f(float x) {
  return vmath::sigmoid(x);
}

struct Case {
  std::string name;
  void (*batch)(const float*, float*, std::int64_t);
  float (*one)(float);
  std::function<double(double)> reference;
  double max_ulp;
};

template <float (*F)(float)>
Case make(std::string name, std::function<double(double)> reference, double max_ulp) {
  return {std::move(name), &vectorized<F>, &scalar<F>, std::move(reference), max_ulp};
}

std::vector<Case> cases() {
  return {
      make<exp_f>(
          "exp", [](double x) { return std::exp(x); }, 1.0),
      make<log_f>(
          "log", [](double x) { return std::log(x); }, 1.0),
      make<tanh_f>(
          "tanh", [](double x) { return std::tanh(x); }, 1.5),
      make<erf_f>(
          "erf", [](double x) { return std::erf(x); }, 1.5),
      make<erfc_f>(
          "erfc", [](double x) { return std::erfc(x); }, 4.0),
      make<sigmoid_f>(
          "sigmoid", [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, 3.0),
  };
}

// Every 4093rd bit pattern (about a million inputs, all signs and exponents), then dense
// runs where the methods switch or the results leave the normal range.
std::vector<float> inputs() {
  std::vector<float> xs;
  for (std::uint64_t bits = 0; bits < (std::uint64_t{1} << 32); bits += 4093) {
    xs.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
  }
  for (float center : {0.625f, 1.0f, 88.72f, -87.33f, -103.97f, 10.0f, 0.7071f, 1.4142f}) {
    for (float sign : {1.0f, -1.0f}) {
      float x = sign * center;
      for (int k = 0; k < 2000; ++k) {
        xs.push_back(x);
        x = std::nextafter(x, kInf);
      }
    }
  }
  return xs;
}

class VmathTest : public ::testing::TestWithParam<Case> {};

TEST_P(VmathTest, WithinUlpBoundOverAllExponents) {
  const Case& c = GetParam();
  const std::vector<float> xs = inputs();
  std::vector<float> ys(xs.size());
  const std::int64_t n = static_cast<std::int64_t>(xs.size());
  c.batch(xs.data(), ys.data(), n);
  double worst = 0.0;
  float worst_at = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) {
    const double expected = c.reference(static_cast<double>(xs[i]));
    const float got = ys[i];
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(got)) << c.name << "(" << xs[i] << ") = " << got;
      continue;
    }
    if (std::isinf(static_cast<float>(expected))) {
      EXPECT_EQ(got, static_cast<float>(expected)) << c.name << "(" << xs[i] << ")";
      continue;
    }
    const double error = std::fabs(static_cast<double>(got) - expected) / ulp_at(expected);
    if (!(error <= worst)) {
      worst = error;
      worst_at = xs[i];
    }
  }
  EXPECT_LE(worst, c.max_ulp) << c.name << " is " << worst << " ulp off at x = " << worst_at;
}

TEST_P(VmathTest, VectorizedLoopMatchesScalarCall) {
  const Case& c = GetParam();
  std::vector<float> xs;
  for (int k = -4000; k <= 4000; ++k) xs.push_back(0.0137f * static_cast<float>(k));
  std::vector<float> ys(xs.size());
  const std::int64_t n = static_cast<std::int64_t>(xs.size());
  c.batch(xs.data(), ys.data(), n);
  for (std::int64_t i = 0; i < n; ++i) {
    const float one = c.one(xs[i]);
    EXPECT_EQ(std::bit_cast<std::uint32_t>(ys[i]), std::bit_cast<std::uint32_t>(one))
        << c.name << "(" << xs[i] << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Functions, VmathTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

struct Special {
  const char* name;
  float (*fn)(float);  // through a pointer: the scalar path
  float x;
  float expected;  // NaN: expect NaN
};

TEST(Vmath, SpecialValues) {
  const Special table[] = {
      {"exp", exp_f, -kInf, 0.0f},        {"exp", exp_f, kInf, kInf},
      {"exp", exp_f, 89.0f, kInf},        {"exp", exp_f, -104.0f, 0.0f},
      {"exp", exp_f, 0.0f, 1.0f},         {"exp", exp_f, kNaN, kNaN},
      {"log", log_f, 0.0f, -kInf},        {"log", log_f, -0.0f, -kInf},
      {"log", log_f, -1.0f, kNaN},        {"log", log_f, kInf, kInf},
      {"log", log_f, 1.0f, 0.0f},         {"log", log_f, kNaN, kNaN},
      {"tanh", tanh_f, kInf, 1.0f},       {"tanh", tanh_f, -kInf, -1.0f},
      {"tanh", tanh_f, 0.0f, 0.0f},       {"tanh", tanh_f, kNaN, kNaN},
      {"erf", erf_f, kInf, 1.0f},         {"erf", erf_f, -kInf, -1.0f},
      {"erf", erf_f, kNaN, kNaN},         {"erfc", erfc_f, kInf, 0.0f},
      {"erfc", erfc_f, -kInf, 2.0f},      {"erfc", erfc_f, kNaN, kNaN},
      {"sigmoid", sigmoid_f, kInf, 1.0f}, {"sigmoid", sigmoid_f, -kInf, 0.0f},
      {"sigmoid", sigmoid_f, kNaN, kNaN},
  };
  for (const Special& s : table) {
    const float got = s.fn(s.x);
    if (std::isnan(s.expected)) {
      EXPECT_TRUE(std::isnan(got)) << s.name << "(" << s.x << ") = " << got;
    } else {
      EXPECT_EQ(got, s.expected) << s.name << "(" << s.x << ")";
    }
  }
}

TEST(Vmath, DoubleOverloadsAreTheCLibrary) {
  for (double x : {-3.5, -0.25, 0.0, 0.7, 2.0, 30.0}) {
    EXPECT_EQ(vmath::exp(x), std::exp(x));
    EXPECT_EQ(vmath::tanh(x), std::tanh(x));
    EXPECT_EQ(vmath::erf(x), std::erf(x));
    EXPECT_EQ(vmath::erfc(x), std::erfc(x));
  }
  EXPECT_EQ(vmath::log(0.3), std::log(0.3));
}

}  // namespace
}  // namespace descent
