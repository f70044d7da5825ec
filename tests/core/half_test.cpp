// bf16 and f16: scalar conversions against a reference written with double arithmetic
// (frexp/ldexp/nearbyint, no bit tricks), against GCC's _Float16 and against values recorded
// from PyTorch (tests/reference/record_half.py); every vector path against the scalar one,
// bit for bit; and the Tensor API on the two dtypes.
#include "descent/core/half.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "descent/core/tensor.hpp"
#include "reference_data.hpp"

namespace descent {
namespace {

// ---- the reference: decode and round with double arithmetic ----

struct Format {
  int mantissa_bits;  // 10 for f16, 7 for bf16
  int bias;           // 15, 127
  int max_exponent;   // largest unbiased exponent of a finite value: 15, 127
};
constexpr Format kF16{10, 15, 15};
constexpr Format kBF16{7, 127, 127};

double reference_decode(std::uint16_t bits, Format format) {
  const int exponent_all_ones = 2 * format.bias + 1;
  const bool negative = (bits & 0x8000u) != 0;
  const int exponent = (bits & 0x7FFF) >> format.mantissa_bits;
  const int mantissa = bits & ((1 << format.mantissa_bits) - 1);
  double magnitude;
  if (exponent == exponent_all_ones) {
    magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity()
                              : std::numeric_limits<double>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(mantissa, 1 - format.bias - format.mantissa_bits);
  } else {
    magnitude = std::ldexp(mantissa + (1 << format.mantissa_bits),
                           exponent - format.bias - format.mantissa_bits);
  }
  return negative ? -magnitude : magnitude;
}

// Non-NaN f32 -> bits, rounding to nearest even with nearbyint in double.
std::uint16_t reference_round(float value, Format format) {
  const std::uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  const int exponent_all_ones = 2 * format.bias + 1;
  const int min_exponent = 1 - format.bias;
  const double magnitude = std::fabs(static_cast<double>(value));
  if (std::isinf(magnitude)) return sign | (exponent_all_ones << format.mantissa_bits);
  if (magnitude < std::ldexp(1.0, min_exponent)) {
    // subnormal: a whole number of the smallest subnormal (may round up to the smallest
    // normal, whose bit pattern follows on)
    const double units = std::nearbyint(std::ldexp(magnitude, format.mantissa_bits - min_exponent));
    return static_cast<std::uint16_t>(sign | static_cast<int>(units));
  }
  int exponent = 0;
  std::frexp(magnitude, &exponent);
  exponent -= 1;  // magnitude in [2^exponent, 2^(exponent+1))
  double significand = std::nearbyint(std::ldexp(magnitude, format.mantissa_bits - exponent));
  if (significand == std::ldexp(1.0, format.mantissa_bits + 1)) {
    significand /= 2;
    exponent += 1;
  }
  if (exponent > format.max_exponent) {
    return sign | (exponent_all_ones << format.mantissa_bits);
  }
  const int fraction = static_cast<int>(significand) - (1 << format.mantissa_bits);
  return static_cast<std::uint16_t>(sign | ((exponent + format.bias) << format.mantissa_bits) |
                                    fraction);
}

float from_bits(std::uint32_t bits) {
  return std::bit_cast<float>(bits);
}
std::uint32_t bits_of(float value) {
  return std::bit_cast<std::uint32_t>(value);
}

// ---- exhaustive over the 65536 16-bit patterns ----

TEST(Half, F16DecodeAndRoundTripAllPatterns) {
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  for (std::uint32_t bits = 0; bits < 65536; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    const float widened = float_from_f16_bits(h);
    const double expected = reference_decode(h, kF16);
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(widened)) << std::hex << bits;
      // quiet, same sign, payload kept in the top mantissa bits
      EXPECT_EQ(bits_of(widened), ((bits & 0x8000u) << 16) | 0x7FC00000u | ((bits & 0x3FFu) << 13))
          << std::hex << bits;
      // back to f16: the same NaN, made quiet
      EXPECT_EQ(f16_bits_from_float(widened), bits | 0x0200u) << std::hex << bits;
      continue;
    }
    ASSERT_EQ(static_cast<double>(widened), expected) << std::hex << bits;
    ASSERT_EQ(std::signbit(widened), (bits & 0x8000u) != 0) << std::hex << bits;
    ASSERT_EQ(f16_bits_from_float(widened), h) << std::hex << bits;
    // GCC's _Float16 (libgcc's soft-float) agrees both ways
    const _Float16 gcc = static_cast<_Float16>(widened);
    ASSERT_EQ(std::bit_cast<std::uint16_t>(gcc), h) << std::hex << bits;
    ASSERT_EQ(static_cast<float>(std::bit_cast<_Float16>(h)), widened) << std::hex << bits;
  }
}

TEST(Half, BF16DecodeAndRoundTripAllPatterns) {
  for (std::uint32_t bits = 0; bits < 65536; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    const float widened = float_from_bf16_bits(h);
    const double expected = reference_decode(h, kBF16);
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(widened)) << std::hex << bits;
      EXPECT_EQ(bf16_bits_from_float(widened), bits | 0x0040u) << std::hex << bits;
      continue;
    }
    ASSERT_EQ(static_cast<double>(widened), expected) << std::hex << bits;
    ASSERT_EQ(std::signbit(widened), (bits & 0x8000u) != 0) << std::hex << bits;
    ASSERT_EQ(bf16_bits_from_float(widened), h) << std::hex << bits;
  }
}

// ---- f32 -> 16 bits, against the reference ----

// Every f32 sign/exponent/top-mantissa prefix (the top `prefix_bits` bits), each with low
// bits that land below, on and above the rounding midpoints (and random ones).
std::vector<float> rounding_sweep(int low_bits, std::uint32_t seed) {
  const std::uint32_t half = 1u << (low_bits - 1);
  const std::uint32_t all = (1u << low_bits) - 1;
  std::mt19937 rng(seed);
  std::vector<float> out;
  const std::uint32_t prefixes = 1u << (32 - low_bits);
  out.reserve(prefixes * 7);
  for (std::uint32_t prefix = 0; prefix < prefixes; ++prefix) {
    const std::uint32_t base = prefix << low_bits;
    const std::uint32_t random_low = static_cast<std::uint32_t>(rng()) & all;
    for (std::uint32_t low : {0u, 1u, half - 1, half, half + 1, all, random_low}) {
      const float value = from_bits(base | low);
      if (!std::isnan(value)) out.push_back(value);
    }
  }
  return out;
}

TEST(Half, F32ToF16MatchesReferenceAtEveryRoundingBoundary) {
  // 13 dropped bits for normal f16; the subnormal range drops more, covered by the random low
  // bits and by the record from PyTorch
  for (float value : rounding_sweep(13, 1)) {
    ASSERT_EQ(f16_bits_from_float(value), reference_round(value, kF16))
        << std::hexfloat << value << " bits " << std::hex << bits_of(value);
  }
  // a dense pass over f16's subnormal and lowest normal range: every f32 in [2^-26, 2^-13)
  // with a step of 101 ulps (odd, so the low bits take every value)
  for (std::uint32_t bits = bits_of(0x1p-26f); bits < bits_of(0x1p-13f); bits += 101) {
    for (std::uint32_t sign : {0u, 0x80000000u}) {
      const float value = from_bits(bits | sign);
      ASSERT_EQ(f16_bits_from_float(value), reference_round(value, kF16)) << std::hexfloat << value;
      ASSERT_EQ(f16_bits_from_float(value), std::bit_cast<std::uint16_t>(_Float16(value)))
          << std::hexfloat << value;
    }
  }
}

TEST(Half, F32ToBF16MatchesReferenceAtEveryRoundingBoundary) {
  for (float value : rounding_sweep(16, 2)) {
    ASSERT_EQ(bf16_bits_from_float(value), reference_round(value, kBF16))
        << std::hexfloat << value << " bits " << std::hex << bits_of(value);
  }
}

TEST(Half, EdgeCasesByName) {
  EXPECT_EQ(f16_bits_from_float(65504.0f), 0x7BFF);           // largest f16
  EXPECT_EQ(f16_bits_from_float(65519.99f), 0x7BFF);          // just under the midpoint
  EXPECT_EQ(f16_bits_from_float(65520.0f), 0x7C00);           // midpoint ties to Inf
  EXPECT_EQ(f16_bits_from_float(-1e10f), 0xFC00);             // overflow to -Inf
  EXPECT_EQ(f16_bits_from_float(-0.0f), 0x8000);              // -0 kept
  EXPECT_EQ(f16_bits_from_float(0x1p-24f), 0x0001);           // smallest subnormal
  EXPECT_EQ(f16_bits_from_float(0x1p-25f), 0x0000);           // tie to even: 0
  EXPECT_EQ(f16_bits_from_float(0x1.8p-24f), 0x0002);         // tie to even: 2
  EXPECT_EQ(f16_bits_from_float(-0x1p-26f), 0x8000);          // underflow to -0
  EXPECT_EQ(f16_bits_from_float(1.0f + 0x1p-11f), 0x3C00);    // tie to even: 1
  EXPECT_EQ(bf16_bits_from_float(1.0f + 0x1p-8f), 0x3F80);    // tie to even: 1
  EXPECT_EQ(bf16_bits_from_float(1.0f + 0x1.8p-7f), 0x3F82);  // tie to even: up
  EXPECT_EQ(bf16_bits_from_float(1e-40f), 0x0001);            // f32 subnormal kept
  EXPECT_EQ(bf16_bits_from_float(std::numeric_limits<float>::max()), 0x7F80);  // to Inf
  EXPECT_EQ(bf16_bits_from_float(-std::numeric_limits<float>::infinity()), 0xFF80);
  // NaN: quiet, sign and top payload kept (a signalling NaN with a low payload too)
  EXPECT_EQ(f16_bits_from_float(from_bits(0x7F800001u)), 0x7E00);
  EXPECT_EQ(f16_bits_from_float(from_bits(0xFFC02000u)), 0xFE01);
  EXPECT_EQ(bf16_bits_from_float(from_bits(0x7F800001u)), 0x7FC0);
  EXPECT_EQ(bf16_bits_from_float(from_bits(0xFFA10000u)), 0xFFE1);
  EXPECT_TRUE(std::isnan(float(Half(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(float(BFloat16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(Half, MatchesPyTorch) {
  const auto records = testing::load_reference("half.txt");
  const auto inputs = testing::ref(records, "input_bits").to_vector();
  const auto f16 = testing::ref(records, "f16_bits").to_vector();
  const auto bf16 = testing::ref(records, "bf16_bits").to_vector();
  ASSERT_EQ(inputs.size(), f16.size());
  ASSERT_EQ(inputs.size(), bf16.size());
  ASSERT_GT(inputs.size(), 2000u);
  std::vector<float> values;
  for (double bits : inputs) values.push_back(from_bits(static_cast<std::uint32_t>(bits)));
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(f16_bits_from_float(values[i]), f16[i]) << std::hexfloat << values[i];
    EXPECT_EQ(bf16_bits_from_float(values[i]), bf16[i]) << std::hexfloat << values[i];
  }
  // and through Tensor::to (the vectorized path)
  Tensor x = from_vector(std::vector<double>(values.begin(), values.end()));
  const Tensor x_f16 = x.to(DType::f16);
  const Tensor x_bf16 = x.to(DType::bf16);
  const Half* h = x_f16.data<Half>();
  const BFloat16* b = x_bf16.data<BFloat16>();
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(h[i].bits, f16[i]) << std::hexfloat << values[i];
    EXPECT_EQ(b[i].bits, bf16[i]) << std::hexfloat << values[i];
  }
}

// ---- vector paths against the scalar one ----

std::vector<HalfIsa> available_isas() {
  std::vector<HalfIsa> out;
  for (HalfIsa isa : {HalfIsa::scalar, HalfIsa::avx2, HalfIsa::avx512, HalfIsa::avx512_bf16}) {
    if (isa <= cpu_half_isa()) out.push_back(isa);
  }
  return out;
}

// Random bit patterns (every class: NaNs, Infs, subnormals, both zeros) mixed with normal
// values of moderate size and named specials; a length that leaves a tail for every width.
std::vector<float> random_specials(std::int64_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::vector<std::uint32_t> specials = {
      0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u,
      0x7F800001u, 0xFFBFFFFFu, 0x00000001u, 0x807FFFFFu, 0x477FF000u, 0x477FEFFFu,
      0x33000000u, 0x33000001u, 0x7F7FFFFFu, 0x7F7F8000u, 0x3F808000u, 0x3F818000u};
  std::vector<float> out(static_cast<std::size_t>(n));
  for (auto& v : out) {
    switch (rng() % 5) {
      case 0:
        v = from_bits(rng());
        break;
      case 1:
        v = from_bits(specials[rng() % specials.size()]);
        break;
      case 2:
        v = from_bits(rng() & 0x807FFFFFu);  // f32 subnormal (or zero)
        break;
      case 3:
        v = normal(rng) * 0x1p-16f;  // f16 subnormals
        break;
      default:
        v = normal(rng) * 1000.0f;
    }
  }
  return out;
}

TEST(Half, VectorPathsMatchScalarBitForBit) {
  const std::int64_t n = 300007;  // above the threading threshold, odd tail
  const std::vector<float> src = random_specials(n, 7);
  std::vector<Half> f16_scalar(n), f16_vector(n);
  std::vector<BFloat16> bf16_scalar(n), bf16_vector(n);
  convert(src.data(), f16_scalar.data(), n, HalfIsa::scalar);
  convert(src.data(), bf16_scalar.data(), n, HalfIsa::scalar);
  // all 65536 patterns, repeated over an odd length, for the widening direction
  std::vector<Half> all_f16(n);
  std::vector<BFloat16> all_bf16(n);
  for (std::int64_t i = 0; i < n; ++i) {
    all_f16[i] = Half::from_bits(static_cast<std::uint16_t>(i * 40503));
    all_bf16[i] = BFloat16::from_bits(static_cast<std::uint16_t>(i * 40503));
  }
  std::vector<float> wide_scalar(n), wide_vector(n);
  for (HalfIsa isa : available_isas()) {
    SCOPED_TRACE(half_isa_name(isa));
    convert(src.data(), f16_vector.data(), n, isa);
    convert(src.data(), bf16_vector.data(), n, isa);
    for (std::int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(f16_vector[i].bits, f16_scalar[i].bits) << i << " " << std::hexfloat << src[i];
      ASSERT_EQ(bf16_vector[i].bits, bf16_scalar[i].bits) << i << " " << std::hexfloat << src[i];
    }
    convert(all_f16.data(), wide_scalar.data(), n, HalfIsa::scalar);
    convert(all_f16.data(), wide_vector.data(), n, isa);
    for (std::int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(bits_of(wide_vector[i]), bits_of(wide_scalar[i])) << std::hex << all_f16[i].bits;
    }
    convert(all_bf16.data(), wide_scalar.data(), n, HalfIsa::scalar);
    convert(all_bf16.data(), wide_vector.data(), n, isa);
    for (std::int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(bits_of(wide_vector[i]), bits_of(wide_scalar[i])) << std::hex << all_bf16[i].bits;
    }
  }
  // the scalar path itself is the scalar rule
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(f16_scalar[i].bits, f16_bits_from_float(src[i]));
    ASSERT_EQ(bf16_scalar[i].bits, bf16_bits_from_float(src[i]));
  }
}

TEST(Half, ShortArraysUseTheTails) {
  for (std::int64_t n = 0; n < 40; ++n) {
    const std::vector<float> src = random_specials(n, static_cast<std::uint32_t>(n));
    std::vector<Half> h(n);
    std::vector<BFloat16> b(n);
    convert(src.data(), h.data(), n);
    convert(src.data(), b.data(), n);
    for (std::int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(h[i].bits, f16_bits_from_float(src[i]));
      ASSERT_EQ(b[i].bits, bf16_bits_from_float(src[i]));
    }
  }
}

TEST(Half, MissingInstructionsThrow) {
  if (cpu_half_isa() == HalfIsa::avx512_bf16) GTEST_SKIP() << "this CPU has every set";
  float x = 1.0f;
  BFloat16 y;
  EXPECT_THROW(convert(&x, &y, 1, HalfIsa::avx512_bf16), Error);
}

// ---- Tensor on bf16 and f16 ----

TEST(HalfTensor, ToItemFillAndPrint) {
  Tensor x = tensor({1.0, -2.5, 0.1, 65504.0, 1e5, -0.0}, {2, 3});
  Tensor h = x.to(DType::f16);
  Tensor b = x.to(DType::bf16);
  EXPECT_EQ(h.dtype(), DType::f16);
  EXPECT_EQ(b.dtype(), DType::bf16);
  EXPECT_EQ(h.nbytes(), 12u);
  EXPECT_EQ(h.shape(), (Shape{2, 3}));
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(h.to_vector(), (std::vector<double>{1.0, -2.5, 0.0999755859375, 65504.0, inf, -0.0}));
  EXPECT_EQ(b.to_vector(), (std::vector<double>{1.0, -2.5, 0.10009765625, 65536.0, 99840.0, 0.0}));
  EXPECT_TRUE(std::signbit(h.to_vector()[5]));
  // back to f32 and f64: exact
  EXPECT_EQ(h.to(DType::f32).to_vector(), h.to_vector());
  EXPECT_EQ(b.to(DType::f64).to_vector(), b.to_vector());
  // f64 -> f16 goes through f32, as PyTorch does
  EXPECT_EQ(x.to(DType::f64).to(DType::f16).to_vector(), h.to_vector());
  EXPECT_EQ(h.to(DType::bf16).to_vector(),
            (std::vector<double>{1.0, -2.5, 0.10009765625, 65536.0, inf, -0.0}));
  EXPECT_EQ(scalar(3.14159, DType::bf16).item(), 3.140625);
  EXPECT_EQ(scalar(3.14159, DType::f16).item<float>(), 3.140625f);

  Tensor filled = full({70000}, 0.1, DType::f16);
  for (double v : filled.to_vector()) ASSERT_EQ(v, 0.0999755859375);
  filled.view_of(5, {2}).fill_(-1e9);
  EXPECT_EQ(filled.to_vector()[6], -inf);
  EXPECT_EQ(filled.to_vector()[7], 0.0999755859375);
  EXPECT_EQ(zeros({3}, DType::bf16).to_vector(), (std::vector<double>{0, 0, 0}));

  Tensor c = zeros({2, 3}, DType::bf16);
  c.copy_(x);  // f32 source into a bf16 tensor
  EXPECT_EQ(c.to_vector(), b.to_vector());
  EXPECT_EQ(b.clone().to_vector(), b.to_vector());

  EXPECT_EQ(h.str(),
            "tensor([[1.0000, -2.5000, 0.1000],\n        [65504.0000, inf, -0.0000]], "
            "shape=(2, 3), dtype=f16)");
  EXPECT_EQ(scalar(0.5, DType::bf16).str(), "tensor(0.5000, shape=(), dtype=bf16)");
}

TEST(HalfTensor, LargeConversionsAreTheScalarRule) {
  Generator gen(3);
  Tensor x = randn({1000, 131}, gen).to(DType::f32);
  const float* src = x.data<float>();
  const Tensor x_f16 = x.to(DType::f16);
  const Tensor x_bf16 = x.to(DType::bf16);
  const Half* h = x_f16.data<Half>();
  const BFloat16* b = x_bf16.data<BFloat16>();
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_EQ(h[i].bits, f16_bits_from_float(src[i]));
    ASSERT_EQ(b[i].bits, bf16_bits_from_float(src[i]));
  }
  const Tensor round_trip = x_bf16.to(DType::f32);
  const float* back = round_trip.data<float>();
  for (std::int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(back[i], float(b[i]));
}

TEST(HalfTensor, BadInputThrows) {
  Tensor b = zeros({2}, DType::bf16);
  EXPECT_THROW(b.data<Half>(), Error);
  EXPECT_THROW(b.data<float>(), Error);
  EXPECT_THROW(zeros({2}, DType::f16).data<BFloat16>(), Error);
  EXPECT_NO_THROW(b.data<BFloat16>());
}

}  // namespace
}  // namespace descent
