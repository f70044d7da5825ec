// When an element-wise loop is worth OpenMP's fork and join: loops over more than
// kParallelElements elements run on all threads (`#pragma omp parallel for ... if (n >
// kParallelElements)`), smaller ones on the calling thread.
//
// 8192 floats (32 KiB) was measured on the MLP step at 2 threads: 32768 left a batch-128
// layer's activations (128 x 256 = 32768 elements) on one thread while the other waited,
// and 8192 gave 3% more samples/s (bench/RESULTS.md, "Two threads").
#pragma once

#include <cstdint>

namespace descent {

inline constexpr std::int64_t kParallelElements = 8192;

// body(i) for i in [0, n): split over the OpenMP threads (static schedule) when `parallel`
// is true, else on the calling thread without entering OpenMP. libgomp allocates a team for
// every parallel region, a one-thread region included (`#pragma omp parallel for if (false)`),
// and frees it at the region's end: a malloc and a free for each small loop written with an
// if clause (tests/alloc counts them). parallel_simd_if adds `simd` to both loops (for a body
// without loops of its own). Each thread runs its own copy of `body`: its captures are then
// local values that the vectorizer may load unconditionally, not reads through a pointer to
// the caller's closure.
template <typename Body>
void parallel_for_if(bool parallel, std::int64_t n, const Body& body) {
  if (parallel) {
#pragma omp parallel for firstprivate(body)
    for (std::int64_t i = 0; i < n; ++i) body(i);
  } else {
    const Body local = body;
    for (std::int64_t i = 0; i < n; ++i) local(i);
  }
}
template <typename Body>
void parallel_simd_if(bool parallel, std::int64_t n, const Body& body) {
  if (parallel) {
#pragma omp parallel for simd firstprivate(body)
    for (std::int64_t i = 0; i < n; ++i) body(i);
  } else {
    const Body local = body;
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) local(i);
  }
}

}  // namespace descent
