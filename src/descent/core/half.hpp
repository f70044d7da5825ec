// bf16 and f16: the 16-bit storage types of mixed precision, and their conversions.
//
// ====== Intended usage ======
//   Tensor h = x.to(DType::bf16);          // (N, C) f32 -> bf16, vectorized, threaded
//   const BFloat16* p = h.data<BFloat16>();
//   float first = p[0];                     // widening is exact
//   Half one(1.0f);                         // a single value, rounded to nearest even
//   convert(src, dst, n);                   // raw arrays, the CPU's best instructions
//
// Formats (IEEE 754 binary16 and Google Brain's bfloat16):
//   f16:  1 sign, 5 exponent, 10 mantissa bits; largest 65504, smallest normal 2^-14,
//         subnormals down to 2^-24.
//   bf16: 1 sign, 8 exponent, 7 mantissa bits; the top half of a f32, so the same range
//         (largest about 3.39e38, subnormals down to 2^-133) with 8 bits of precision.
//
// Narrowing from f32 rounds to nearest, ties to even, as torch.Tensor.half()/.bfloat16()
// and the hardware do:
//   - finite values too large for f16 (|x| >= 65520) become +-Inf; those too large for bf16
//     (|x| >= 2^128 - 2^119) become +-Inf; Inf stays Inf;
//   - f32 subnormals and values below f16's normal range keep their subnormal value (no
//     flush to zero), rounding to nearest even, down to +-0; -0 stays -0;
//   - NaN stays NaN, quiet, with its sign and the top bits of its payload (the rule of
//     the F16C and AVX-512-BF16 instructions; PyTorch returns a canonical NaN instead,
//     so compare NaNs by isnan, not by bits).
// Widening to f32 is exact; a signalling f16 NaN comes back quiet (as F16C does it), a
// bf16 NaN keeps its bits (widening bf16 is a shift).
//
// Array conversions pick the widest instructions the CPU has, at run time: AVX-512-BF16's
// vcvtneps2bf16 (its subnormal inputs, which it flushes to zero, are redone exactly),
// AVX-512F / F16C's vcvtps2ph and vcvtph2ps, AVX2 integer rounding for bf16, or the
// portable scalar code. Every path gives the same bits as the scalar one.
#pragma once

#include <bit>
#include <cstdint>

namespace descent {

// ---- scalar conversions on bit patterns ----

// f32 -> f16 bits, round to nearest even.
constexpr std::uint16_t f16_bits_from_float(float value) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t magnitude = x & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) {
    // NaN: quiet bit set, top 9 payload bits kept
    return static_cast<std::uint16_t>(sign | 0x7E00u | ((magnitude >> 13) & 0x03FFu));
  }
  if (magnitude >= 0x477FF000u) {
    // |x| >= 65520 = 65504 + half an ulp: rounds to Inf (and Inf stays Inf)
    return static_cast<std::uint16_t>(sign | 0x7C00u);
  }
  if (magnitude >= 0x38800000u) {
    // normal in f16 (|x| >= 2^-14): rebias the exponent by 127 - 15, round at bit 13;
    // a carry out of the mantissa correctly bumps the exponent
    const std::uint32_t rebiased = magnitude - 0x38000000u;
    const std::uint32_t lsb = (rebiased >> 13) & 1u;
    return static_cast<std::uint16_t>(sign | ((rebiased + 0x0FFFu + lsb) >> 13));
  }
  // subnormal in f16: the result is round(|x| * 2^24) units of 2^-24
  const std::uint32_t exponent = magnitude >> 23;
  if (exponent < 102) return static_cast<std::uint16_t>(sign);  // |x| < 2^-25: rounds to 0
  const std::uint32_t mantissa = (magnitude & 0x007FFFFFu) | 0x00800000u;
  const std::uint32_t shift = 126 - exponent;  // 14 .. 24
  const std::uint32_t kept = mantissa >> shift;
  const std::uint32_t rest = mantissa & ((1u << shift) - 1u);
  const std::uint32_t halfway = 1u << (shift - 1);
  const bool round_up = rest > halfway || (rest == halfway && (kept & 1u) != 0);
  return static_cast<std::uint16_t>(sign | (kept + (round_up ? 1u : 0u)));
}

// f16 bits -> f32, exact.
constexpr float float_from_f16_bits(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1Fu;
  std::uint32_t mantissa = bits & 0x03FFu;
  if (exponent == 0x1F) {
    // Inf, or NaN made quiet with its payload kept
    const std::uint32_t quiet = mantissa != 0 ? 0x00400000u : 0u;
    return std::bit_cast<float>(sign | 0x7F800000u | quiet | (mantissa << 13));
  }
  if (exponent == 0) {
    if (mantissa == 0) return std::bit_cast<float>(sign);
    // subnormal: normalize, moving the leading 1 to bit 10
    std::uint32_t f32_exponent = 127 - 14;
    while ((mantissa & 0x0400u) == 0) {
      mantissa <<= 1;
      --f32_exponent;
    }
    return std::bit_cast<float>(sign | (f32_exponent << 23) | ((mantissa & 0x03FFu) << 13));
  }
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

// f32 -> bf16 bits, round to nearest even (the top 16 bits of the rounded f32).
constexpr std::uint16_t bf16_bits_from_float(float value) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) {
    // NaN: keep sign and top payload bits, set the quiet bit
    return static_cast<std::uint16_t>((x >> 16) | 0x0040u);
  }
  // add just under half an ulp, plus the lsb for ties to even; the carry may reach the
  // exponent (and turn the largest finite values into Inf, correctly)
  const std::uint32_t lsb = (x >> 16) & 1u;
  return static_cast<std::uint16_t>((x + 0x7FFFu + lsb) >> 16);
}

// bf16 bits -> f32, exact.
constexpr float float_from_bf16_bits(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

// ---- the scalar types (what Tensor::data<BFloat16>() and data<Half>() point at) ----

struct BFloat16 {
  std::uint16_t bits = 0;

  BFloat16() = default;
  constexpr explicit BFloat16(float value) : bits(bf16_bits_from_float(value)) {}
  static constexpr BFloat16 from_bits(std::uint16_t bits) {
    BFloat16 out;
    out.bits = bits;
    return out;
  }
  constexpr operator float() const { return float_from_bf16_bits(bits); }
};

struct Half {
  std::uint16_t bits = 0;

  Half() = default;
  constexpr explicit Half(float value) : bits(f16_bits_from_float(value)) {}
  static constexpr Half from_bits(std::uint16_t bits) {
    Half out;
    out.bits = bits;
    return out;
  }
  constexpr operator float() const { return float_from_f16_bits(bits); }
};

static_assert(sizeof(BFloat16) == 2 && sizeof(Half) == 2);

// ---- array conversions ----

// Instruction sets for the array conversions, each including those before it.
enum class HalfIsa : std::uint8_t {
  scalar,       // portable C++
  avx2,         // AVX2 + F16C
  avx512,       // AVX-512F (+BW, VL)
  avx512_bf16,  // AVX-512F + AVX-512-BF16
};
const char* half_isa_name(HalfIsa isa);
// The widest set this CPU supports (checked once, at first use).
HalfIsa cpu_half_isa();

// dst[i] = src[i] converted, for i in [0, n). `isa` forces a narrower instruction set (for
// tests and benchmarks); asking for one the CPU lacks throws Error. Large arrays are split
// over OpenMP threads.
void convert(const float* src, Half* dst, std::int64_t n, HalfIsa isa = cpu_half_isa());
void convert(const Half* src, float* dst, std::int64_t n, HalfIsa isa = cpu_half_isa());
void convert(const float* src, BFloat16* dst, std::int64_t n, HalfIsa isa = cpu_half_isa());
void convert(const BFloat16* src, float* dst, std::int64_t n, HalfIsa isa = cpu_half_isa());
// As convert, with the CPU's best instructions, on the calling thread only: for a caller
// that already runs one chunk per thread (an optimizer writing the 16-bit copy of the
// weights it has just updated).
void convert_serial(const float* src, Half* dst, std::int64_t n);
void convert_serial(const float* src, BFloat16* dst, std::int64_t n);

}  // namespace descent
