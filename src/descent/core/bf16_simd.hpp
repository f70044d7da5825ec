// bf16 rounding of sixteen f32 lanes in AVX-512F integer instructions, shared by the
// conversions (core/half.cpp) and the GEMM kernels' stores (kernels/avx512_gemm.hpp). Include
// only from code compiled for, or marked with a target that includes, AVX-512F.
#pragma once

// GCC 12's AVX-512 intrinsics initialise their "undefined" operands from themselves and
// then warn about it when inlined (GCC bug 105593, fixed in 13); the warning is noise here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace descent::detail {

// bf16 round-to-nearest-even of 16 f32 values (given as their bits): (x + 0x7FFF + lsb) >> 16,
// NaN -> (x >> 16) | 0x40 (quiet). Each result is in the low 16 bits of its 32-bit lane.
__attribute__((target("avx512f"), always_inline)) inline __m512i bf16_round_lanes(__m512i x) {
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
  const __m512i bias = _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), lsb);
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(x, bias), 16);
  const __m512i magnitude = _mm512_and_si512(x, _mm512_set1_epi32(0x7FFFFFFF));
  const __mmask16 is_nan = _mm512_cmpgt_epu32_mask(magnitude, _mm512_set1_epi32(0x7F800000));
  const __m512i quiet_nan = _mm512_or_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40));
  return _mm512_mask_blend_epi32(is_nan, rounded, quiet_nan);
}

}  // namespace descent::detail
