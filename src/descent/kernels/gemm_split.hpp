// How descent's own GEMM kernels (f32_dot, bf16_dot) share a batch of GEMMs between threads:
// each GEMM is a run of items (a tile row of C against one panel of B), each item weighted
// by its cost; the items of all the GEMMs, in order, are dealt out to the threads in equal
// runs of cost, so a thread's run may cover the end of one GEMM and the start of the next.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include "descent/core/error.hpp"
#include "descent/core/thread_pool.hpp"
#include "descent/kernels/gemm.hpp"

namespace descent::kernels::detail {

inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

// Calls run(job, item0, item1) for each job of `jobs` (each with items() and item_cost) that
// has items in thread t's share of nt; `cost` is the sum of items() * item_cost.
template <typename Job, typename Run>
void for_thread_share(std::span<const Job> jobs, std::int64_t cost, std::int64_t t, std::int64_t nt,
                      Run run) {
  const std::int64_t lo = cost * t / nt, hi = cost * (t + 1) / nt;
  std::int64_t start = 0;  // the job's first cost unit
  for (const Job& j : jobs) {
    const std::int64_t end = start + j.items() * j.item_cost;
    if (lo < end && hi > start) {
      // item i is this thread's when its first cost unit, start + i * item_cost, is in [lo, hi)
      const std::int64_t item0 = std::max<std::int64_t>(0, ceil_div(lo - start, j.item_cost));
      const std::int64_t item1 = std::min(j.items(), ceil_div(hi - start, j.item_cost));
      if (item0 < item1) run(j, item0, item1);
    }
    start = end;
  }
}

// The non-empty GEMMs of a batch as the kernel's jobs (make(gemm) -> Job, with items() and
// item_cost), checked, with their total multiply-adds and cost.
template <typename Job>
struct Jobs {
  std::array<Job, kMaxGemmBatch> list;
  std::size_t count = 0;
  std::int64_t macs = 0, cost = 0;
  std::span<Job> view() { return {list.data(), count}; }
};
template <typename Job, typename T, typename Make>
Jobs<Job> make_jobs(const char* op, std::span<const GemmOf<T>> gemms, Make make) {
  check_gemm_batch(op, gemms);
  Jobs<Job> jobs;
  for (const GemmOf<T>& g : gemms) {
    if (g.M == 0 || g.N == 0) continue;
    Job& j = jobs.list[jobs.count++];
    j = make(g);
    jobs.macs += g.M * g.N * g.K;
    jobs.cost += j.items() * j.item_cost;
  }
  return jobs;
}

// How many threads a batch of `macs` multiply-adds runs on: one below parallel_macs, and one
// inside a parallel region (a caller's loop).
inline int gemm_threads(std::int64_t macs, std::int64_t parallel_macs) {
  return macs >= parallel_macs ? parallel_threads() : 1;
}

// run(job, item0, item1, thread) for every thread's share, on `threads` threads.
template <typename Job, typename Run>
void run_jobs(std::span<const Job> jobs, std::int64_t cost, int threads, Run run) {
  on_threads(threads, [&](int t, int nt) {
    for_thread_share(jobs, cost, t, nt,
                     [&](const Job& j, std::int64_t i0, std::int64_t i1) { run(j, i0, i1, t); });
  });
}

}  // namespace descent::kernels::detail
