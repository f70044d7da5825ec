// What descent's AVX-512 GEMM kernels (f32_dot.cpp, bf16_dot.cpp) share: the 16x16 transpose
// of their packing and the store of a C tile. Include only from code compiled for, or marked
// with a target that includes, AVX-512F.
#pragma once

// GCC 12's AVX-512 intrinsics initialise their "undefined" operands from themselves and
// then warn about it when inlined (GCC bug 105593, fixed in 13); the warning is noise here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

namespace descent::kernels::detail {

// r[i] holds row i of a 16x16 matrix of words; afterwards r[i] holds column i.
__attribute__((target("avx512f"))) inline void transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  // s[4i + c], 128-bit lane L: rows 4i..4i+3 of column 4L + c
  __m512i s[16];
  for (int i = 0; i < 4; ++i) {
    s[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    s[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    s[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    s[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512i u0 = _mm512_shuffle_i32x4(s[c], s[4 + c], 0x44);
    const __m512i u1 = _mm512_shuffle_i32x4(s[c], s[4 + c], 0xEE);
    const __m512i u2 = _mm512_shuffle_i32x4(s[8 + c], s[12 + c], 0x44);
    const __m512i u3 = _mm512_shuffle_i32x4(s[8 + c], s[12 + c], 0xEE);
    r[c] = _mm512_shuffle_i32x4(u0, u2, 0x88);
    r[4 + c] = _mm512_shuffle_i32x4(u0, u2, 0xDD);
    r[8 + c] = _mm512_shuffle_i32x4(u1, u3, 0x88);
    r[12 + c] = _mm512_shuffle_i32x4(u1, u3, 0xDD);
  }
}

// C[0:MR, 0:16*NV] = alpha * acc + beta * C (+ bias), the last vector of each row masked by
// `last`. beta == 0 never reads C (it may hold NaN), as BLAS.
template <int MR, int NV>
__attribute__((target("avx512f"), always_inline)) inline void store_tile(
    const __m512 (&acc)[MR][NV], float* c, std::int64_t ldc, float alpha, float beta,
    const float* bias, __mmask16 last) {
  const __m512 alpha_v = _mm512_set1_ps(alpha);
  const __m512 beta_v = _mm512_set1_ps(beta);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* p = c + i * ldc + 16 * v;
      const __mmask16 m = v == NV - 1 ? last : __mmask16{0xFFFF};
      __m512 r = _mm512_mul_ps(alpha_v, acc[i][v]);
      if (beta != 0.0f) r = _mm512_fmadd_ps(beta_v, _mm512_maskz_loadu_ps(m, p), r);
      if (bias != nullptr) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, bias + 16 * v));
      _mm512_mask_storeu_ps(p, m, r);
    }
  }
}

}  // namespace descent::kernels::detail
