// Vectorizable exp, log, tanh, erf and erfc for f32 loops.
//
// ====== Intended usage ======
//   #pragma omp simd
//   for (std::int64_t i = 0; i < n; ++i) y[i] = kernels::vmath::exp(x[i]);
//
// The float versions are branch-free inline code (selects, FMAs, integer bit operations)
// that the compiler vectorizes inside `omp simd` loops at the build's vector width (given
// -fno-trapping-math, which the build sets: otherwise GCC keeps the selects as branches and
// the loop scalar, still correct), where the C library's expf/logf/tanhf/erff are scalar
// calls: 8 to 30 times faster per element
// on AVX2 (bench/elementwise_bench; figures in bench/RESULTS.md). Accuracy over all f32
// inputs, measured against double by tests/kernels/vmath_test.cpp: exp and log within 1 ulp,
// tanh within 2, erf and erfc within 4 (erfc relative to its value, subnormal results
// aside). Special values follow the C library: exp(-inf) = 0, exp(+inf) = +inf, overflow to
// +inf, subnormal results kept; log(0) = -inf, log(x < 0) = NaN; tanh(+-inf) = +-1;
// erf(+-inf) = +-1, erfc(+inf) = 0, erfc(-inf) = 2; NaN gives NaN.
//
// The double overloads call the C library, so that f64 code (the reference tests, at 1e-12
// against PyTorch) gets exactly what it got before. Templated code can call
// vmath::exp(T) for T = float or double.
//
// Method: the textbook range reductions (Cody & Waite for exp; exponent and mantissa for
// log; Muller, "Elementary Functions", 3rd ed., ch. 11) around polynomials fitted for this
// file by vmath_fit.py (near-minimax relative error, against mpmath).
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>

namespace descent::kernels::vmath {

namespace detail {

// Printed by vmath_fit.py.
// e^r = 1 + r + r^2 P(r), |r| <= ln2/2; fit error 2.7e-09
inline constexpr float kExpP[] = {0.5f,         0.16666667f,   0.041666467f,
                                  0.008333361f, 0.0013933597f, 0.00019857782f};
// log(1 + f) = f - f^2/2 + f^3 P(f), sqrt(1/2) - 1 <= f < sqrt(2) - 1; fit error 6.5e-08
inline constexpr float kLogP[] = {0.3333333f,   -0.24999994f, 0.20000714f,
                                  -0.16668056f, 0.1424932f,   -0.12420172f,
                                  0.11677051f,  -0.11514416f, 0.07037301f};
// tanh(x) = x + x^3 P(x^2), |x| < 0.625; fit error 1.3e-07
inline constexpr float kTanhP[] = {-0.33333328f, 0.13332771f, -0.05385095f, 0.020997344f,
                                   -0.0060969237f};
// erf(x) = x + x P(x^2), |x| < 1; fit error 1.2e-09
inline constexpr float kErfP[] = {0.12837917f,   -0.37612626f,   0.112835854f, -0.026853811f,
                                  0.0051883273f, -0.0008010189f, 7.853847e-05f};
// erfc(x) = e^(-x^2) u P(u - 0.55), u = 1/x, 1 <= x <= 10; fit error 3.8e-08
inline constexpr float kErfcP[] = {0.5023534f,   -0.17003469f,  -0.020366294f, 0.098315045f,
                                   -0.09688789f, 0.051039416f,  0.009284216f,  -0.07385519f,
                                   0.10774889f,  -0.029590812f, -0.05218157f};

// ln 2 in two parts: kLn2Hi has 16 significant bits, so n * kLn2Hi is exact for |n| < 2^8.
inline constexpr float kLn2Hi = 0.693145751953125f;  // 0x3f317200
inline constexpr float kLn2Lo = 1.4286068e-06f;      // ln 2 - kLn2Hi
inline constexpr float kLog2e = 1.44269504088896341f;
// Adding and subtracting 1.5 * 2^23 rounds a float of magnitude < 2^22 to an integer
// (to nearest even), in two vectorizable additions.
inline constexpr float kRoundMagic = 12582912.0f;

// c[0] + x (c[1] + x (c[2] + ...)), unrolled at compile time (a loop over the coefficients
// inside the caller's loop would keep the caller from vectorizing).
template <std::size_t N, std::size_t... K>
[[gnu::always_inline]] inline float horner(const float (&c)[N], float x,
                                           std::index_sequence<K...>) {
  float acc = c[N - 1];
  ((acc = std::fma(acc, x, c[N - 2 - K])), ...);
  return acc;
}
template <std::size_t N>
[[gnu::always_inline]] inline float horner(const float (&c)[N], float x) {
  return horner(c, x, std::make_index_sequence<N - 1>{});
}

// 2^n for an integer n in [-150, 128], as two normal floats whose product is 2^n: scaling by
// one then the other rounds once, also when the result overflows or is subnormal.
struct Pow2 {
  float first, second;
};
[[gnu::always_inline]] inline Pow2 pow2(std::int32_t n) {
  const std::int32_t half = n >> 1;
  return {std::bit_cast<float>((half + 127) << 23), std::bit_cast<float>((n - half + 127) << 23)};
}

// erfc(a) for 1 <= a (0 from a = 11 on), with a^2 = hi + lo split exactly by an FMA so that
// e^(-a^2) keeps its accuracy: e^(-hi - lo) = e^(-hi) (1 - lo), |lo| < ulp(hi).
[[gnu::always_inline]] inline float erfc_tail(float a);

}  // namespace detail

// e^x.
[[gnu::always_inline]] inline float exp(float x) {
  using namespace detail;
  // Outside [-104, 88.8] the result is 0 or +inf anyway; NaN compares false and passes.
  const bool above = x > 88.8f;
  const bool below = x < -104.0f;
  float clamped = above ? 88.8f : x;
  clamped = below ? -104.0f : clamped;
  // x = n ln2 + r, |r| <= ln2/2; n rounded by the magic constant, whose sum with n holds n
  // in its low bits (read from there, with no conversion)
  const float shifted = clamped * kLog2e + kRoundMagic;
  const float n = shifted - kRoundMagic;
  float r = std::fma(n, -kLn2Hi, clamped);
  r = std::fma(n, -kLn2Lo, r);
  // e^r = 1 + r + r^2 P(r)
  const float er = std::fma(r * r, horner(kExpP, r), r) + 1.0f;
  // e^x = 2^n e^r (for NaN, n is junk and e^r is NaN)
  const Pow2 scale =
      pow2(std::bit_cast<std::int32_t>(shifted) - std::bit_cast<std::int32_t>(kRoundMagic));
  return er * scale.first * scale.second;
}

// Natural logarithm.
[[gnu::always_inline]] inline float log(float x) {
  using namespace detail;
  // Subnormal x: scale by 2^23 into the normal range, and take 23 off the exponent.
  const bool subnormal = x < std::numeric_limits<float>::min();
  const float scaled = subnormal ? x * 8388608.0f : x;
  // x = 2^k m with m in [sqrt(1/2), sqrt(2)): k from the bits of x - bits of sqrt(1/2)
  // (Unsigned arithmetic: for negative or NaN x the differences wrap instead of overflowing;
  // those results are replaced below.)
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(scaled);
  const std::int32_t k = static_cast<std::int32_t>(bits - 0x3f3504f3u) >> 23;
  const float m = std::bit_cast<float>(bits - (static_cast<std::uint32_t>(k) << 23));
  const float e = static_cast<float>(k) - (subnormal ? 23.0f : 0.0f);
  // log(m) = log(1 + f) = f - f^2/2 + f^3 P(f)
  const float f = m - 1.0f;
  const float f2 = f * f;
  float y = f * f2 * horner(kLogP, f);
  // log x = e ln2 + log(m), small terms first
  y = std::fma(e, kLn2Lo, y);
  y = std::fma(-0.5f, f2, y);
  float result = std::fma(e, kLn2Hi, f + y);
  // special values
  constexpr float inf = std::numeric_limits<float>::infinity();
  result = x == inf ? inf : result;
  result = x == 0.0f ? -inf : result;
  result = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : result;
  return x != x ? x : result;
}

// Hyperbolic tangent.
[[gnu::always_inline]] inline float tanh(float x) {
  using namespace detail;
  const float a = std::fabs(x);
  // |x| < 0.625: x + x^3 P(x^2), free of the cancellation in the form below
  const float x2 = x * x;
  const float small = std::fma(x * x2, horner(kTanhP, x2), x);
  // otherwise 1 - 2 / (e^(2|x|) + 1), signed; e^(2|x|) = inf gives exactly 1
  const float large = std::copysign(1.0f - 2.0f / (vmath::exp(2.0f * a) + 1.0f), x);
  return a < 0.625f ? small : large;
}

// Error function.
[[gnu::always_inline]] inline float erf(float x) {
  using namespace detail;
  const float a = std::fabs(x);
  // |x| < 1: x + x P(x^2)
  const float small = std::fma(x, horner(kErfP, x * x), x);
  // otherwise 1 - erfc(|x|), signed
  const float large = std::copysign(1.0f - erfc_tail(a), x);
  const float result = a < 1.0f ? small : large;
  return x != x ? x : result;
}

// Complementary error function, 1 - erf(x), accurate relative to its own (small) value for
// large x, where 1 - erf(x) would cancel.
[[gnu::always_inline]] inline float erfc(float x) {
  using namespace detail;
  const float a = std::fabs(x);
  // |x| < 1: (1 - x) - x P(x^2); 1 - x is exact for x in [0.5, 1), where erfc is smallest
  const float small = (1.0f - x) - x * horner(kErfP, x * x);
  const float tail = erfc_tail(a);
  // erfc(-a) = 2 - erfc(a)
  const float large = x > 0.0f ? tail : 2.0f - tail;
  const float result = a < 1.0f ? small : large;
  return x != x ? x : result;
}

// Logistic sigmoid 1 / (1 + e^-x), as e^x / (1 + e^x) for x < 0 (where e^-x would overflow
// before the result underflows).
[[gnu::always_inline]] inline float sigmoid(float x) {
  const float e = vmath::exp(-std::fabs(x));
  const float inverse = 1.0f / (1.0f + e);
  return x < 0.0f ? e * inverse : inverse;
}

[[gnu::always_inline]] inline float detail::erfc_tail(float a) {
  // from 11 on the result is 0 in f32; the clamp keeps a^2 finite (and NaN out, see callers)
  const float clamped = a < 11.0f ? a : 11.0f;
  const float u = 1.0f / clamped;
  // e^(-a^2) with a^2 = hi + lo exactly
  const float hi = clamped * clamped;
  const float lo = std::fma(clamped, clamped, -hi);
  const float gauss = vmath::exp(-hi) * (1.0f - lo);
  // erfc(a) = e^(-a^2) u P(u - 0.55)
  return gauss * u * horner(kErfcP, u - 0.55f);
}

// ---- double: the C library's functions ----
inline double exp(double x) {
  return std::exp(x);
}
inline double log(double x) {
  return std::log(x);
}
inline double tanh(double x) {
  return std::tanh(x);
}
inline double erf(double x) {
  return std::erf(x);
}
inline double erfc(double x) {
  return std::erfc(x);
}
inline double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

}  // namespace descent::kernels::vmath
