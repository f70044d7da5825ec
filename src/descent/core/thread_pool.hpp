// descent's parallel regions: on_threads(threads, work) runs work(t, nt) for t in [0, nt) on
// nt threads, the calling thread as t = 0, and returns when every share has finished. The
// other shares run on OpenMP's threads (`#pragma omp parallel`, the default) or on the
// workers of descent's own pool (DESCENT_REGIONS=pool, or set_region_runtime).
//
//   on_threads(parallel_threads(), [&](int t, int nt) {
//     const auto [begin, end] = share_of(n, t, nt);
//     for (std::int64_t i = begin; i < end; ++i) y[i] = f(x[i]);
//   });
//
// Why a pool: libgomp's fork and its join each make a futex system call, and an empty
// region cost 3.2-4.3 us on the 2-vCPU virtual machine of bench/RESULTS.md, where the MLP's
// training step enters ten of them; a worker that spins on its own counter answers in about
// half a microsecond (a cache line's round trip between the two cores). Alone on its CPUs the
// pool is faster (the bf16 MLP step +8%, the transformer's +45%, RESULTS.md session 8). Why
// not by default: two processes whose pools spin on the same CPUs can fall into waiting out
// a time slice per region (20x slower), where OpenMP's threads sleep in the kernel. A region
// of more threads than the machine has CPUs runs on OpenMP in any case. Either way the
// thread count is OpenMP's (OMP_NUM_THREADS, set_num_threads).
//
// A region asked for inside a region (a share calling on_threads) or inside an OpenMP
// parallel region runs on the calling thread alone: work(0, 1); so does a pool region asked
// for while another thread of the program runs one. Pool workers spin for about a
// millisecond after their last share, then sleep until the next region wakes them. An
// exception thrown by a share is rethrown by on_threads once every share has finished (the
// first one, when several throw). Entering a pool region allocates nothing once the pool has
// its workers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace descent {

// What runs a region: descent's pool, or `#pragma omp parallel` (both call work(t, nt) the
// same way). The default is OpenMP; DESCENT_REGIONS=pool (read at the first region) or
// set_region_runtime chooses the pool.
enum class RegionRuntime { pool, openmp };
RegionRuntime region_runtime();
void set_region_runtime(RegionRuntime runtime);
// DESCENT_REGIONS's value: null or empty -> openmp, "pool", "openmp"; anything else throws
// Error naming the variable and the value.
RegionRuntime parse_region_runtime(const char* value);

// The most threads a region runs on; larger requests are cut to this.
inline constexpr int kMaxThreads = 256;

// True on a thread that runs a share of a region (descent's or OpenMP's).
bool in_parallel_region();

// The threads a region entered here would get: 1 inside a region, else the thread count
// (omp_get_max_threads(), at most kMaxThreads).
int parallel_threads();

// Element range [begin, end) of share t of nt over n elements: contiguous, sizes differing
// by at most one, the larger ones first (OpenMP's static schedule).
inline std::pair<std::int64_t, std::int64_t> share_of(std::int64_t n, std::int64_t t,
                                                      std::int64_t nt) {
  const std::int64_t base = n / nt;
  const std::int64_t extra = n % nt;
  const std::int64_t begin = t * base + std::min(t, extra);
  return {begin, begin + base + (t < extra ? 1 : 0)};
}

namespace detail {
using RegionFn = void (*)(void* context, int t, int nt);
// Runs fn(context, t, nt) on min(threads, kMaxThreads) threads (on the calling thread alone
// where a region cannot start here), as on_threads says.
void run_region(int threads, RegionFn fn, void* context);

// One compiled copy of a region's work, whichever thread runs a share and however many
// share it: a sum's vectorized loop then adds in the same order on one thread as on many
// (an inlined second copy may be vectorized differently).
template <typename W>
[[gnu::noinline]] void run_share(void* context, int t, int nt) {
  (*static_cast<W*>(context))(t, nt);
}
}  // namespace detail

template <typename Work>
void on_threads(int threads, Work&& work) {
  using W = std::remove_reference_t<Work>;
  void* context = const_cast<void*>(static_cast<const void*>(std::addressof(work)));
  if (threads <= 1) {
    detail::run_share<W>(context, 0, 1);
    return;
  }
  detail::run_region(threads, &detail::run_share<W>, context);
}

}  // namespace descent
