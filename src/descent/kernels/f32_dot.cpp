#include "descent/kernels/f32_dot.hpp"

// GCC 12's AVX-512 intrinsics initialise their "undefined" operands from themselves and
// then warn about it when inlined (GCC bug 105593, fixed in 13); the warning is noise here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>

#include "descent/core/error.hpp"
#include "descent/kernels/avx512_gemm.hpp"
#include "descent/kernels/gemm_split.hpp"
#include "descent/kernels/workspace.hpp"

#define DESCENT_F32_DOT __attribute__((target("avx512f")))

namespace descent::kernels {
namespace {

using detail::ceil_div;

constexpr int kMR = 12;                 // rows of a C tile, at most
constexpr int kNV = 2;                  // 16-lane vectors across a C tile
constexpr std::int64_t kNR = 16 * kNV;  // columns of a C tile and of a packed panel
// Below this many multiply-adds a call stays on one thread.
constexpr std::int64_t kParallelMacs = std::int64_t{1} << 18;
// The kernel does not block K (kF32DotMaxK): a tile streams K values of up to 12 rows of A
// and a K x 32 panel of B, which stay in the 1 MiB L2 of these cores up to a few thousand
// (blocking K by 192 for L1 was tried: 3-9% slower on the ResNet shapes).

// B stored (cols, K) with row stride ld: columns [col0, col0 + width) of B^T, width <= kNR,
// as K rows of kNR floats (zero past width), transposed 16x16 at a time.
DESCENT_F32_DOT void pack_transposed(const float* x, std::int64_t ld, std::int64_t K,
                                     std::int64_t col0, std::int64_t width, float* panel) {
  for (std::int64_t k0 = 0; k0 < K; k0 += 16) {
    const std::int64_t ks = std::min<std::int64_t>(16, K - k0);
    const __mmask16 mask = static_cast<__mmask16>(ks >= 16 ? 0xFFFF : (1u << ks) - 1);
    for (std::int64_t half = 0; half < kNV; ++half) {
      __m512i r[16];
      for (std::int64_t j = 0; j < 16; ++j) {
        const std::int64_t col = 16 * half + j;
        r[j] = col < width ? _mm512_maskz_loadu_epi32(mask, x + (col0 + col) * ld + k0)
                           : _mm512_setzero_si512();
      }
      detail::transpose16(r);
      for (std::int64_t c = 0; c < ks; ++c) {
        _mm512_storeu_si512(panel + (k0 + c) * kNR + 16 * half, r[c]);
      }
    }
  }
}

// B stored (K, cols) with row stride ld: columns [col0, col0 + width) as K rows of kNR floats.
DESCENT_F32_DOT void pack_rows(const float* x, std::int64_t ld, std::int64_t K, std::int64_t col0,
                               std::int64_t width, float* panel) {
  const __mmask16 m0 = static_cast<__mmask16>(width >= 16 ? 0xFFFF : (1u << width) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(width >= 32   ? 0xFFFF
                                              : width <= 16 ? 0
                                                            : (1u << (width - 16)) - 1);
  for (std::int64_t k = 0; k < K; ++k) {
    _mm512_storeu_ps(panel + k * kNR, _mm512_maskz_loadu_ps(m0, x + k * ld + col0));
    _mm512_storeu_ps(panel + k * kNR + 16, _mm512_maskz_loadu_ps(m1, x + k * ld + col0 + 16));
  }
}

// ---- the tile: C[0:MR, 0:16*NV] (last vector masked) = alpha * A B + beta * C (+ bias) ----

struct Operands {
  const float* a;  // op(A)[i][k] at a + i * a_row + k * a_k
  std::int64_t a_row, a_k;
  const float* b;  // op(B)[k][j] at b + k * b_k + j
  std::int64_t b_k;
  std::int64_t K;
};

template <int MR, int NV>
DESCENT_F32_DOT void tile(const Operands& o, const detail::TileStore& to) {
  // every loop unrolled, so that the accumulators live in registers throughout
  __m512 acc[MR][NV] = {};  // zeros
  const float* a = o.a;
  const float* b = o.b;
  for (std::int64_t k = 0; k < o.K; ++k, a += o.a_k, b += o.b_k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      // masked: a B read in place may end at the last column
      bv[v] =
          v == NV - 1 ? _mm512_maskz_loadu_ps(to.last, b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i * o.a_row]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
  detail::store_tile<MR, NV>(acc, to);
}

using TileFn = void (*)(const Operands&, const detail::TileStore&);

// table[rows - 1][vectors - 1]
template <std::size_t... R>
constexpr auto make_tiles(std::index_sequence<R...>) {
  return std::array<std::array<TileFn, kNV>, sizeof...(R)>{
      {{&tile<static_cast<int>(R) + 1, 1>, &tile<static_cast<int>(R) + 1, 2>}...}};
}
constexpr auto kTiles = make_tiles(std::make_index_sequence<kMR>{});

// One GEMM of a batch as given, with what the kernel derives from it.
struct Job : GemmF32 {
  std::int64_t panels = 0, tiles = 0;
  std::int64_t mr = 0;         // rows of its tiles (the last may have fewer)
  std::int64_t item_cost = 0;  // k steps of one item (mr rows of C against one panel) + store
  std::int64_t items() const { return panels * tiles; }
  // a B stored (K, N) is packed too when enough tiles reuse each panel (measured)
  bool packs_b() const { return trans_b || tiles >= 4; }
};

Job job_of(const GemmF32& g) {
  Job j;
  static_cast<GemmF32&>(j) = g;
  j.panels = ceil_div(g.N, kNR);
  // tiles of nearly equal height: 16 rows as 8 + 8, not 12 + 4 (a short tile has too few
  // accumulators to hide the FMA latency)
  j.mr = ceil_div(g.M, ceil_div(g.M, kMR));
  j.tiles = ceil_div(g.M, j.mr);
  j.item_cost = g.K + 4;
  return j;
}

// C rows [m0, m1) against columns [n0, n0 + kNR) of op(B), which start at b (row stride b_k).
void compute(const Job& j, std::int64_t m0, std::int64_t m1, std::int64_t n0, const float* b,
             std::int64_t b_k) {
  const std::int64_t width = std::min(kNR, j.N - n0);
  const std::int64_t vectors = ceil_div(width, 16);
  const std::int64_t rest = width - 16 * (vectors - 1);
  const __mmask16 last = static_cast<__mmask16>(rest >= 16 ? 0xFFFF : (1u << rest) - 1);
  for (std::int64_t m = m0; m < m1; m += j.mr) {
    const std::int64_t rows = std::min(j.mr, m1 - m);
    if (m + j.mr < m1) {
      detail::prefetch_tile(detail::tile_store(j, m + j.mr, n0, last),
                            std::min(j.mr, m1 - m - j.mr), width);
    }
    const Operands o = j.trans_a ? Operands{j.A + m, 1, j.lda, b, b_k, j.K}
                                 : Operands{j.A + m * j.lda, j.lda, 1, b, b_k, j.K};
    const detail::TileStore to = detail::tile_store(j, m, n0, last);
    kTiles[rows - 1][vectors - 1](o, to);
  }
}

// Items [item0, item1) of a job, panel by panel: whole panels, and at the ends part of one.
// A B stored (N, K) is packed one panel at a time into `panel` (K x kNR floats).
void run_items(const Job& j, std::int64_t item0, std::int64_t item1, float* panel) {
  const std::int64_t panel0 = item0 / j.tiles;
  const std::int64_t panel1 = (item1 - 1) / j.tiles + 1;
  for (std::int64_t p = panel0; p < panel1; ++p) {
    const std::int64_t n0 = p * kNR;
    const std::int64_t tile0 = p == panel0 ? item0 % j.tiles : 0;
    const std::int64_t tile1 = p == panel1 - 1 ? (item1 - 1) % j.tiles + 1 : j.tiles;
    const std::int64_t m0 = tile0 * j.mr, m1 = std::min(j.M, tile1 * j.mr);
    if (j.packs_b()) {
      if (j.trans_b) {
        pack_transposed(j.B, j.ldb, j.K, n0, std::min(kNR, j.N - n0), panel);
      } else {
        pack_rows(j.B, j.ldb, j.K, n0, std::min(kNR, j.N - n0), panel);
      }
      compute(j, m0, m1, n0, panel, kNR);
    } else {
      compute(j, m0, m1, n0, j.B + n0, j.ldb);
    }
  }
}

bool detect() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

}  // namespace

bool f32_dot_available() {
  static const bool available = detect();
  return available;
}

void gemm_f32_dot(std::span<const GemmF32> gemms) {
  DESCENT_CHECK(f32_dot_available(), "gemm: this CPU lacks AVX-512F");
  for (const GemmF32& g : gemms) {
    DESCENT_CHECK(g.K <= kF32DotMaxK, "gemm_f32_dot: K=", g.K, " is above ", kF32DotMaxK,
                  " (kernels::gemm splits it)");
  }
  detail::Jobs<Job> jobs = detail::make_jobs<Job>("gemm", gemms, job_of);
  std::int64_t panel_floats = 0;  // one panel per thread, for the jobs that pack B
  for (const Job& j : jobs.view()) {
    if (j.packs_b()) panel_floats = std::max(panel_floats, j.K * kNR);
  }
  const int threads = detail::gemm_threads(jobs.macs, kParallelMacs);
  Workspace<float> workspace(threads * panel_floats);
  detail::run_jobs<Job>(jobs.view(), jobs.cost, threads,
                        [&](const Job& j, std::int64_t i0, std::int64_t i1, std::int64_t t) {
                          run_items(j, i0, i1, workspace.get() + t * panel_floats);
                        });
}

}  // namespace descent::kernels
