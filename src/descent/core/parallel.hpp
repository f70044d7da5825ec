// When an element-wise loop is worth a parallel region: loops over more than
// kParallelElements elements run on all threads (core/thread_pool.hpp), smaller ones on the
// calling thread.
//
// 8192 floats (32 KiB) was measured on the MLP step at 2 threads: 32768 left a batch-128
// layer's activations (128 x 256 = 32768 elements) on one thread while the other waited,
// and 8192 gave 3% more samples/s (bench/RESULTS.md, "Two threads").
#pragma once

#include <algorithm>
#include <cstdint>

#include "descent/core/thread_pool.hpp"

namespace descent {

inline constexpr std::int64_t kParallelElements = 8192;

// body(i) for i in [0, n): split over the threads in contiguous shares (OpenMP's static
// schedule) when `parallel` is true, else on the calling thread. parallel_simd_if adds
// `#pragma omp simd` to the loops (for a body without loops of its own). Each thread runs
// its own copy of `body`: its captures are then local values that the vectorizer may load
// unconditionally, not reads through a pointer to the caller's closure.
template <typename Body>
void parallel_for_if(bool parallel, std::int64_t n, const Body& body) {
  const int threads =
      parallel ? static_cast<int>(std::min<std::int64_t>(parallel_threads(), n)) : 1;
  on_threads(threads, [&](int t, int nt) {
    const Body local = body;
    const auto [begin, end] = share_of(n, t, nt);
    for (std::int64_t i = begin; i < end; ++i) local(i);
  });
}
template <typename Body>
void parallel_simd_if(bool parallel, std::int64_t n, const Body& body) {
  const int threads =
      parallel ? static_cast<int>(std::min<std::int64_t>(parallel_threads(), n)) : 1;
  on_threads(threads, [&](int t, int nt) {
    const Body local = body;
    const auto [begin, end] = share_of(n, t, nt);
#pragma omp simd
    for (std::int64_t i = begin; i < end; ++i) local(i);
  });
}

}  // namespace descent
