// The array conversions live in core, not kernels, because Tensor::to (core) needs them and
// a layer may not call up into the one above it.
#include "descent/core/half.hpp"

// GCC 12's AVX-512 intrinsics initialise their "undefined" operands from themselves and
// then warn about it when inlined (GCC bug 105593, fixed in 13); the warning is noise here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "descent/core/bf16_simd.hpp"
#include "descent/core/cpu.hpp"
#include "descent/core/error.hpp"
#include "descent/core/parallel.hpp"

namespace descent {
namespace {

// ---- scalar (also the tails of the vector paths) ----

void f32_to_f16_scalar(const float* src, Half* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = Half(src[i]);
}
void f16_to_f32_scalar(const Half* src, float* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}
void f32_to_bf16_scalar(const float* src, BFloat16* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = BFloat16(src[i]);
}
void bf16_to_f32_scalar(const BFloat16* src, float* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

// ---- AVX2 + F16C ----

__attribute__((target("avx2,f16c"))) void f32_to_f16_avx2(const float* src, Half* dst,
                                                          std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  f32_to_f16_scalar(src + i, dst + i, n - i);
}

__attribute__((target("avx2,f16c"))) void f16_to_f32_avx2(const Half* src, float* dst,
                                                          std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  f16_to_f32_scalar(src + i, dst + i, n - i);
}

// bf16 rounding in integers: (x + 0x7FFF + lsb) >> 16, NaN -> (x >> 16) | 0x40. Returns the
// results in the low 16 bits of each 32-bit lane.
__attribute__((target("avx2"))) __m256i bf16_round_avx2(__m256i x) {
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  const __m256i bias = _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), lsb);
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(x, bias), 16);
  const __m256i magnitude = _mm256_and_si256(x, _mm256_set1_epi32(0x7FFFFFFF));
  const __m256i is_nan = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7F800000));
  const __m256i quiet_nan = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
  return _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
}

__attribute__((target("avx2"))) void f32_to_bf16_avx2(const float* src, BFloat16* dst,
                                                      std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i lo =
        bf16_round_avx2(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)));
    const __m256i hi =
        bf16_round_avx2(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 8)));
    // packus interleaves 128-bit lanes (lo0 hi0 lo1 hi1); the permute restores the order
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), packed);
  }
  f32_to_bf16_scalar(src + i, dst + i, n - i);
}

__attribute__((target("avx2"))) void bf16_to_f32_avx2(const BFloat16* src, float* dst,
                                                      std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m256i widened = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), widened);
  }
  bf16_to_f32_scalar(src + i, dst + i, n - i);
}

// ---- AVX-512F ----

__attribute__((target("avx512f"))) void f32_to_f16_avx512(const float* src, Half* dst,
                                                          std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), h);
  }
  f32_to_f16_scalar(src + i, dst + i, n - i);
}

__attribute__((target("avx512f"))) void f16_to_f32_avx512(const Half* src, float* dst,
                                                          std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(h));
  }
  f16_to_f32_scalar(src + i, dst + i, n - i);
}

// As bf16_round_avx2, sixteen lanes, narrowed to 16 bits.
__attribute__((target("avx512f"))) __m256i bf16_round_avx512(__m512i x) {
  return _mm512_cvtepi32_epi16(detail::bf16_round_lanes(x));
}

__attribute__((target("avx512f"))) void f32_to_bf16_avx512(const float* src, BFloat16* dst,
                                                           std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i x = _mm512_loadu_si512(src + i);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), bf16_round_avx512(x));
  }
  f32_to_bf16_scalar(src + i, dst + i, n - i);
}

__attribute__((target("avx512f"))) void bf16_to_f32_avx512(const BFloat16* src, float* dst,
                                                           std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm512_storeu_si512(dst + i, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  bf16_to_f32_scalar(src + i, dst + i, n - i);
}

// ---- AVX-512-BF16 ----

// vcvtneps2bf16 treats subnormal inputs as zero; lanes holding one are recomputed with the
// integer rounding, which keeps them (as PyTorch does). They are rare, so the redo is
// behind a branch.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void f32_to_bf16_avx512_bf16(
    const float* src, BFloat16* dst, std::int64_t n) {
  const __m512i exponent_bits = _mm512_set1_epi32(0x7F800000);
  const __m512i mantissa_bits = _mm512_set1_epi32(0x007FFFFF);
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(src + i);
    __m256i h = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v));
    const __m512i x = _mm512_castps_si512(v);
    const __mmask16 subnormal =
        _mm512_testn_epi32_mask(x, exponent_bits) & _mm512_test_epi32_mask(x, mantissa_bits);
    if (subnormal != 0) {
      const __m256i exact = bf16_round_avx512(x);
      h = _mm256_mask_blend_epi16(subnormal, h, exact);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), h);
  }
  f32_to_bf16_scalar(src + i, dst + i, n - i);
}

// ---- dispatch ----

HalfIsa detect_isa() {
  if (cpu_has_avx512_bf16()) return HalfIsa::avx512_bf16;
  if (cpu_has_avx512()) return HalfIsa::avx512;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) return HalfIsa::avx2;
  return HalfIsa::scalar;
}

void check_isa(HalfIsa isa) {
  DESCENT_CHECK(isa <= cpu_half_isa(), "convert: this CPU lacks ", half_isa_name(isa), " (it has ",
                half_isa_name(cpu_half_isa()), "); ask for a narrower set");
}

// Blocks of 16K elements over OpenMP threads; each block is one kernel call.
template <typename Src, typename Dst, typename Kernel>
void run_blocked(const Src* src, Dst* dst, std::int64_t n, Kernel kernel) {
  // blocks of 4096 and threads above kParallelElements: a batch-128 layer's 32768 values
  // (rounded for each mixed GEMM) are split over two threads
  constexpr std::int64_t kBlock = 4096;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for_if(n > kParallelElements, blocks, [=](std::int64_t b) {
    const std::int64_t begin = b * kBlock;
    kernel(src + begin, dst + begin, std::min(kBlock, n - begin));
  });
}

// The f32 -> 16-bit kernel for an instruction set: for convert (in blocks over the
// threads) and convert_serial (on the calling thread).
using F32ToF16 = void (*)(const float*, Half*, std::int64_t);
using F32ToBf16 = void (*)(const float*, BFloat16*, std::int64_t);

F32ToF16 f32_to_f16_kernel(HalfIsa isa) {
  switch (isa) {
    case HalfIsa::scalar:
      return f32_to_f16_scalar;
    case HalfIsa::avx2:
      return f32_to_f16_avx2;
    case HalfIsa::avx512:
    case HalfIsa::avx512_bf16:
      return f32_to_f16_avx512;
  }
  return f32_to_f16_scalar;
}

F32ToBf16 f32_to_bf16_kernel(HalfIsa isa) {
  switch (isa) {
    case HalfIsa::scalar:
      return f32_to_bf16_scalar;
    case HalfIsa::avx2:
      return f32_to_bf16_avx2;
    case HalfIsa::avx512:
      return f32_to_bf16_avx512;
    case HalfIsa::avx512_bf16:
      return f32_to_bf16_avx512_bf16;
  }
  return f32_to_bf16_scalar;
}

}  // namespace

const char* half_isa_name(HalfIsa isa) {
  switch (isa) {
    case HalfIsa::scalar:
      return "scalar";
    case HalfIsa::avx2:
      return "avx2+f16c";
    case HalfIsa::avx512:
      return "avx512";
    case HalfIsa::avx512_bf16:
      return "avx512_bf16";
  }
  return "?";
}

HalfIsa cpu_half_isa() {
  static const HalfIsa isa = detect_isa();
  return isa;
}

void convert(const float* src, Half* dst, std::int64_t n, HalfIsa isa) {
  check_isa(isa);
  run_blocked(src, dst, n, f32_to_f16_kernel(isa));
}

void convert(const Half* src, float* dst, std::int64_t n, HalfIsa isa) {
  check_isa(isa);
  switch (isa) {
    case HalfIsa::scalar:
      return run_blocked(src, dst, n, f16_to_f32_scalar);
    case HalfIsa::avx2:
      return run_blocked(src, dst, n, f16_to_f32_avx2);
    case HalfIsa::avx512:
    case HalfIsa::avx512_bf16:
      return run_blocked(src, dst, n, f16_to_f32_avx512);
  }
}

void convert(const float* src, BFloat16* dst, std::int64_t n, HalfIsa isa) {
  check_isa(isa);
  run_blocked(src, dst, n, f32_to_bf16_kernel(isa));
}

void convert(const BFloat16* src, float* dst, std::int64_t n, HalfIsa isa) {
  check_isa(isa);
  switch (isa) {
    case HalfIsa::scalar:
      return run_blocked(src, dst, n, bf16_to_f32_scalar);
    case HalfIsa::avx2:
      return run_blocked(src, dst, n, bf16_to_f32_avx2);
    case HalfIsa::avx512:
    case HalfIsa::avx512_bf16:
      return run_blocked(src, dst, n, bf16_to_f32_avx512);
  }
}

void convert_serial(const float* src, BFloat16* dst, std::int64_t n) {
  f32_to_bf16_kernel(cpu_half_isa())(src, dst, n);
}
void convert_serial(const float* src, Half* dst, std::int64_t n) {
  f32_to_f16_kernel(cpu_half_isa())(src, dst, n);
}

}  // namespace descent
