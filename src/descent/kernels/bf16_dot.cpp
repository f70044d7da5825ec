#include "descent/kernels/bf16_dot.hpp"

// GCC 12's AVX-512 intrinsics initialise their "undefined" operands from themselves and
// then warn about it when inlined (GCC bug 105593, fixed in 13); the warning is noise here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "descent/core/cpu.hpp"
#include "descent/core/error.hpp"
#include "descent/kernels/avx512_gemm.hpp"
#include "descent/kernels/gemm.hpp"
#include "descent/kernels/gemm_split.hpp"
#include "descent/kernels/workspace.hpp"

#define DESCENT_BF16_DOT __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace descent::kernels {
namespace {

using u16 = std::uint16_t;
using u32 = std::uint32_t;

constexpr int kMR = 8;                  // rows of a C tile
constexpr int kNV = 2;                  // 16-lane vectors across a C tile
constexpr std::int64_t kNR = 16 * kNV;  // columns of a C tile and of a packed panel
// Below this many multiply-adds a call stays on one thread.
constexpr std::int64_t kParallelMacs = std::int64_t{1} << 19;

using detail::ceil_div;

// ---- packing: a panel is kp_count rows of kNR words, word j of row kp holding the pair
// (X[2kp][j], X[2kp+1][j]) (low half first), zero past the matrix ----

// X stored (K, cols) with row stride ld: rows 2kp and 2kp+1 interleaved; columns
// [col0, col0 + width), width <= kNR.
DESCENT_BF16_DOT void pack_interleaved(const u16* x, std::int64_t ld, std::int64_t K,
                                       std::int64_t col0, std::int64_t width, std::int64_t kp_count,
                                       u32* panel) {
  alignas(64) static constexpr u16 kLow[32] = {0,  32, 1,  33, 2,  34, 3,  35, 4,  36, 5,
                                               37, 6,  38, 7,  39, 8,  40, 9,  41, 10, 42,
                                               11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
  alignas(64) static constexpr u16 kHigh[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21,
                                                53, 22, 54, 23, 55, 24, 56, 25, 57, 26, 58,
                                                27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
  const __m512i low = _mm512_load_si512(kLow);
  const __m512i high = _mm512_load_si512(kHigh);
  const __mmask32 mask = width >= 32 ? ~__mmask32{0} : (__mmask32{1} << width) - 1;
  for (std::int64_t kp = 0; kp < kp_count; ++kp) {
    const u16* r0 = x + 2 * kp * ld + col0;
    const __m512i v0 = _mm512_maskz_loadu_epi16(mask, r0);
    const __m512i v1 =
        2 * kp + 1 < K ? _mm512_maskz_loadu_epi16(mask, r0 + ld) : _mm512_setzero_si512();
    _mm512_storeu_si512(panel + kp * kNR, _mm512_permutex2var_epi16(v0, low, v1));
    _mm512_storeu_si512(panel + kp * kNR + 16, _mm512_permutex2var_epi16(v0, high, v1));
  }
}

// X stored (cols, K) with row stride ld (X^T is the matrix packed): the words (k-pairs) of
// each stored row become a column of the panel, 16x16 words at a time; columns
// [col0, col0 + width), width <= kNR.
DESCENT_BF16_DOT void pack_transposed(const u16* x, std::int64_t ld, std::int64_t K,
                                      std::int64_t col0, std::int64_t width, std::int64_t kp_count,
                                      u32* panel) {
  for (std::int64_t kp0 = 0; kp0 < kp_count; kp0 += 16) {
    const std::int64_t values = std::min<std::int64_t>(32, K - 2 * kp0);  // bf16 per row
    const __mmask32 mask = values >= 32 ? ~__mmask32{0} : (__mmask32{1} << values) - 1;
    const std::int64_t kps = std::min<std::int64_t>(16, kp_count - kp0);
    for (std::int64_t half = 0; half < kNR / 16; ++half) {
      __m512i r[16];
      for (std::int64_t j = 0; j < 16; ++j) {
        const std::int64_t col = 16 * half + j;
        r[j] = col < width ? _mm512_maskz_loadu_epi16(mask, x + (col0 + col) * ld + 2 * kp0)
                           : _mm512_setzero_si512();
      }
      detail::transpose16(r);
      for (std::int64_t c = 0; c < kps; ++c) {
        _mm512_storeu_si512(panel + (kp0 + c) * kNR + 16 * half, r[c]);
      }
    }
  }
}

// ---- the tile: C[0:MR, 0:16*NV] (last vector masked) = alpha * A B + beta * C (+ bias) ----

struct TileA {
  const u16* a;  // pair (row i, kp) at a + i * row_stride + kp * kp_stride (bf16 units)
  std::int64_t row_stride, kp_stride;
  std::int64_t full_pairs;  // k-pairs whose both halves may be read
  bool odd_tail;            // one more k whose pair has only its low half (K odd, A in place)
};

template <int MR, int NV>
DESCENT_BF16_DOT void tile(const TileA& A, const u32* panel, const detail::TileStore& to) {
  // every loop unrolled, so that the accumulators live in registers throughout
  __m512 acc[MR][NV] = {};  // zeros
  const u16* a = A.a;
  const u32* b = panel;
  const std::int64_t pairs = A.full_pairs + (A.odd_tail ? 1 : 0);
  for (std::int64_t kp = 0; kp < pairs; ++kp, a += A.kp_stride, b += kNR) {
    __m512bh bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(b + 16 * v);
    const bool half = kp == A.full_pairs;  // the odd tail: only the low half exists
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      u32 pair;
      if (half) [[unlikely]] {
        pair = a[i * A.row_stride];
      } else {
        std::memcpy(&pair, a + i * A.row_stride, sizeof pair);
      }
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(pair));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], av, bv[v]);
    }
  }
  detail::store_tile<MR, NV>(acc, to);
}

using TileFn = void (*)(const TileA&, const u32*, const detail::TileStore&);

template <int MR>
constexpr TileFn tile_for(int nv) {
  return nv == 1 ? &tile<MR, 1> : &tile<MR, 2>;
}

TileFn tile_fn(std::int64_t rows, std::int64_t vectors) {
  static_assert(kMR == 8 && kNV == 2);
  const int nv = static_cast<int>(vectors);
  switch (rows) {
    case 1:
      return tile_for<1>(nv);
    case 2:
      return tile_for<2>(nv);
    case 3:
      return tile_for<3>(nv);
    case 4:
      return tile_for<4>(nv);
    case 5:
      return tile_for<5>(nv);
    case 6:
      return tile_for<6>(nv);
    case 7:
      return tile_for<7>(nv);
    default:
      return tile_for<8>(nv);
  }
}

// One GEMM of a batch as given, with what the kernel derives from it and its share of the
// workspace: per thread, a copy of the panels of A (when packed) and of B that the thread
// packs for itself.
struct Job : GemmBf16 {
  std::int64_t kp_count = 0;  // k-pairs: ceil(K / 2)
  std::int64_t a_panels = 0, b_panels = 0, tiles = 0;
  std::int64_t item_cost = 0;  // k-pairs of one item (8 rows of C against one panel), + its store
  std::int64_t workspace = 0;  // offset of its part, in words
  const u16* a() const { return reinterpret_cast<const u16*>(A); }
  const u16* b() const { return reinterpret_cast<const u16*>(B); }
  std::int64_t panel_words() const { return kp_count * kNR; }
  std::int64_t items() const { return b_panels * tiles; }
  std::int64_t words_per_thread() const { return (a_panels + b_panels) * panel_words(); }
};

Job job_of(const GemmBf16& g) {
  Job j;
  static_cast<GemmBf16&>(j) = g;
  j.kp_count = ceil_div(g.K, 2);
  j.a_panels = g.trans_a ? ceil_div(g.M, kNR) : 0;
  j.b_panels = ceil_div(g.N, kNR);
  j.tiles = ceil_div(g.M, kMR);
  j.item_cost = j.kp_count + 4;
  return j;
}

void pack_b_panel(const Job& j, std::int64_t panel, u32* packed_b) {
  const std::int64_t n0 = panel * kNR;
  const std::int64_t width = std::min(kNR, j.N - n0);
  u32* dst = packed_b + panel * j.panel_words();
  if (j.trans_b) {
    pack_transposed(j.b(), j.ldb, j.K, n0, width, j.kp_count, dst);
  } else {
    pack_interleaved(j.b(), j.ldb, j.K, n0, width, j.kp_count, dst);
  }
}

void pack_a_panel(const Job& j, std::int64_t panel, u32* packed_a) {
  const std::int64_t m0 = panel * kNR;
  pack_interleaved(j.a(), j.lda, j.K, m0, std::min(kNR, j.M - m0), j.kp_count,
                   packed_a + panel * j.panel_words());
}

// C rows [m0, m1) against one panel of B.
void compute(const Job& j, std::int64_t m0, std::int64_t m1, std::int64_t panel,
             const u32* packed_a, const u32* packed_b) {
  const std::int64_t n0 = panel * kNR;
  const std::int64_t width = std::min(kNR, j.N - n0);
  const std::int64_t vectors = ceil_div(width, 16);
  const std::int64_t rest = width - 16 * (vectors - 1);
  const __mmask16 last = static_cast<__mmask16>(rest >= 16 ? 0xFFFF : (1u << rest) - 1);
  const u32* b = packed_b + panel * j.panel_words();
  for (std::int64_t m = m0; m < m1; m += kMR) {
    const std::int64_t rows = std::min<std::int64_t>(kMR, m1 - m);
    if (m + kMR < m1) {
      detail::prefetch_tile(detail::tile_store(j, m + kMR, n0, last),
                            std::min<std::int64_t>(kMR, m1 - m - kMR), width);
    }
    TileA a;
    if (j.trans_a) {
      a = {reinterpret_cast<const u16*>(packed_a + (m / kNR) * j.panel_words() + m % kNR), 2,
           2 * kNR, j.kp_count, false};
    } else {
      a = {j.a() + m * j.lda, j.lda, 2, j.K / 2, j.K % 2 == 1};
    }
    const detail::TileStore to = detail::tile_store(j, m, n0, last);
    tile_fn(rows, vectors)(a, b, to);
  }
}

// Items [item0, item1) of a job, panel by panel: whole panels, and at the ends part of one.
// The thread packs what they use into its own workspace: those panels of B, and the panels
// of A (when packed) that their rows need.
void run_items(const Job& j, std::int64_t item0, std::int64_t item1, u32* own) {
  if (item0 >= item1) return;
  u32* own_a = own;
  u32* own_b = own + j.a_panels * j.panel_words();
  const std::int64_t panel0 = item0 / j.tiles;
  const std::int64_t panel1 = (item1 - 1) / j.tiles + 1;
  const bool one_panel = panel1 - panel0 == 1;
  const std::int64_t rows0 = one_panel ? item0 % j.tiles * kMR : 0;
  const std::int64_t rows1 = one_panel ? std::min(j.M, ((item1 - 1) % j.tiles + 1) * kMR) : j.M;
  for (std::int64_t panel = rows0 / kNR; panel < std::min(j.a_panels, ceil_div(rows1, kNR));
       ++panel) {
    pack_a_panel(j, panel, own_a);
  }
  for (std::int64_t panel = panel0; panel < panel1; ++panel) {
    pack_b_panel(j, panel, own_b);
    const std::int64_t tile0 = panel == panel0 ? item0 % j.tiles : 0;
    const std::int64_t tile1 = panel == panel1 - 1 ? (item1 - 1) % j.tiles + 1 : j.tiles;
    compute(j, tile0 * kMR, std::min(j.M, tile1 * kMR), panel, own_a, own_b);
  }
}

bool detect() {
  return cpu_has_avx512_bf16();
}

}  // namespace

bool bf16_dot_available() {
  static const bool available = detect();
  return available;
}

void gemm_bf16_dot(std::span<const GemmBf16> gemms) {
  DESCENT_CHECK(bf16_dot_available(), "gemm (bf16): this CPU lacks AVX-512-BF16");
  detail::Jobs<Job> jobs = detail::make_jobs<Job>("gemm (bf16)", gemms, job_of);
  std::int64_t words = 0;  // per thread: each job's panels, one after the other
  for (Job& j : jobs.view()) {
    j.workspace = words;
    words += j.words_per_thread();
  }
  const int threads = detail::gemm_threads(jobs.macs, kParallelMacs);
  Workspace<u32> workspace(threads * words);
  detail::run_jobs<Job>(jobs.view(), jobs.cost, threads,
                        [&](const Job& j, std::int64_t i0, std::int64_t i1, std::int64_t t) {
                          run_items(j, i0, i1, workspace.get() + t * words + j.workspace);
                        });
}

void gemm_bf16_dot(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                   float alpha, const BFloat16* A, std::int64_t lda, const BFloat16* B,
                   std::int64_t ldb, float beta, float* C, std::int64_t ldc, const float* bias) {
  const GemmBf16 g{trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias};
  gemm_bf16_dot(std::span<const GemmBf16>(&g, 1));
}

}  // namespace descent::kernels
