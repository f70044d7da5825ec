// What descent's AVX-512 GEMM kernels (f32_dot.cpp, bf16_dot.cpp) share: the 16x16 transpose
// of their packing and the store of a C tile. Include only from code compiled for, or marked
// with a target that includes, AVX-512F.
#pragma once

// GCC 12's AVX-512 intrinsics initialise their "undefined" operands from themselves and
// then warn about it when inlined (GCC bug 105593, fixed in 13); the warning is noise here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>

#include "descent/core/bf16_simd.hpp"
#include "descent/core/half.hpp"

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

inline std::uint16_t* low_bits(BFloat16* p) {
  return reinterpret_cast<std::uint16_t*>(p);
}

// Where a tile of C goes: C = alpha * acc + beta * C (+ bias), then max(., 0) when relu, and
// the result also rounded to bf16 into `low` (same layout and ldc as C) when not null. The
// pointers are the tile's: row 0, column 0.
struct TileStore {
  float* c;
  std::int64_t ldc;
  float alpha, beta;
  const float* bias;
  bool relu;
  std::uint16_t* low;
  __mmask16 last;  // the columns of the tile's last vector
};

// The store of the tile at row m, column n0 of a job (a GemmOf): its C, bias, relu and C_low.
template <typename Job>
TileStore tile_store(const Job& j, std::int64_t m, std::int64_t n0, __mmask16 last) {
  return {j.C + m * j.ldc + n0,
          j.ldc,
          j.alpha,
          j.beta,
          j.bias == nullptr ? nullptr : j.bias + n0,
          j.relu,
          j.C_low == nullptr ? nullptr : low_bits(j.C_low) + m * j.ldc + n0,
          last};
}

// Fetches the first `rows` rows of `to`'s tile, `width` columns (and of its bf16 copy), into
// L1 for writing. Called for the next tile before computing this one, it hides the misses
// of the store behind the tile's arithmetic: the weight gradients of a training step are C
// matrices larger than L2 (256 x 784 f32, 0.8 MB), whose rows the store reads (beta = 1) and
// writes 128 bytes at a time, 3 KB apart, where the hardware prefetchers see no stream.
// PREFETCHW (every AVX-512 CPU has it) as inline assembly: GCC 12 deletes loops of
// __builtin_prefetch (or _mm_prefetch) as loops without effects.
inline void fetch(const void* p) {
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
}
inline void prefetch_tile(const TileStore& to, std::int64_t rows, std::int64_t width) {
  for (std::int64_t i = 0; i < rows; ++i) {
    const float* row = to.c + i * to.ldc;
    for (std::int64_t j = 0; j < width; j += 16) fetch(row + j);
    fetch(row + width - 1);  // the row's last line, when rows are not 64-byte aligned
    if (to.low != nullptr) {
      fetch(to.low + i * to.ldc);
      fetch(to.low + i * to.ldc + width - 1);
    }
  }
}

// Stores acc, MR rows of NV vectors, as `to` says. beta == 0 never reads C (it may hold NaN),
// as BLAS.
template <int MR, int NV>
__attribute__((target("avx512f"), always_inline)) inline void store_tile(
    const __m512 (&acc)[MR][NV], const TileStore& to) {
  const __m512 alpha_v = _mm512_set1_ps(to.alpha);
  const __m512 beta_v = _mm512_set1_ps(to.beta);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* p = to.c + i * to.ldc + 16 * v;
      const __mmask16 m = v == NV - 1 ? to.last : __mmask16{0xFFFF};
      __m512 r = _mm512_mul_ps(alpha_v, acc[i][v]);
      if (to.beta != 0.0f) r = _mm512_fmadd_ps(beta_v, _mm512_maskz_loadu_ps(m, p), r);
      if (to.bias != nullptr) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, to.bias + 16 * v));
      if (to.relu) r = _mm512_max_ps(r, _mm512_setzero_ps());
      _mm512_mask_storeu_ps(p, m, r);
      if (to.low != nullptr) {
        _mm512_mask_cvtepi32_storeu_epi16(
            to.low + i * to.ldc + 16 * v, m,
            descent::detail::bf16_round_lanes(_mm512_castps_si512(r)));
      }
    }
  }
}

}  // namespace descent::kernels::detail
