// Variants of core/parallel.hpp's parallel_for_if for the loops it does not fit: a sum, a
// collapsed pair of loops, a dynamic schedule. As there, the serial case runs on the calling
// thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "descent/core/parallel.hpp"

namespace descent {

// The sum of term(i) for i in [0, n): in parallel, each thread's vectorized (`#pragma omp
// simd reduction`) partial sum over its share, the partials added in thread order (the result
// depends on the thread count, not on timing); serially, one running sum in index order, not
// reassociated. Acc is the sum's type (an integer count sums exactly either way).
template <typename Acc, typename Term>
Acc parallel_sum_if(bool parallel, std::int64_t n, const Term& term) {
  const int threads =
      parallel ? static_cast<int>(std::min<std::int64_t>(parallel_threads(), n)) : 1;
  if (threads <= 1) {
    const Term local = term;
    Acc sum = 0;
    for (std::int64_t i = 0; i < n; ++i) sum += local(i);
    return sum;
  }
  std::array<Acc, kMaxThreads> partials;
  int used = 1;
  on_threads(threads, [&](int t, int nt) {
    const Term local = term;
    const auto [begin, end] = share_of(n, t, nt);
    Acc sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = begin; i < end; ++i) sum += local(i);
    partials[t] = sum;
    if (t == 0) used = nt;
  });
  Acc sum = 0;
  for (int t = 0; t < used; ++t) sum += partials[t];
  return sum;
}

// body(i, j) for i in [0, rows), j in [0, cols): the n = rows * cols iterations split over
// the threads as one loop (row-major order, contiguous shares) when `parallel` is true, else
// two nested loops on the calling thread.
template <typename Body>
void parallel_for_2d_if(bool parallel, std::int64_t rows, std::int64_t cols, const Body& body) {
  const std::int64_t n = rows * cols;
  const int threads =
      parallel ? static_cast<int>(std::min<std::int64_t>(parallel_threads(), n)) : 1;
  on_threads(threads, [&](int t, int nt) {
    const Body local = body;
    const auto [begin, end] = share_of(n, t, nt);
    if (begin >= end) return;
    std::int64_t i = begin / cols, j = begin % cols;
    for (std::int64_t k = begin; k < end; ++k) {
      local(i, j);
      if (++j == cols) {
        j = 0;
        ++i;
      }
    }
  });
}

// parallel_for_if with a dynamic schedule: chunks of `chunk` iterations handed to whichever
// thread is free, for iterations of uneven cost.
template <typename Body>
void parallel_for_dynamic_if(bool parallel, std::int64_t n, std::int64_t chunk, const Body& body) {
  chunk = std::max<std::int64_t>(chunk, 1);
  const std::int64_t chunks = (n + chunk - 1) / chunk;
  const int threads =
      parallel ? static_cast<int>(std::min<std::int64_t>(parallel_threads(), chunks)) : 1;
  std::atomic<std::int64_t> next{0};
  on_threads(threads, [&](int, int) {
    const Body local = body;
    for (std::int64_t c = next.fetch_add(1, std::memory_order_relaxed); c < chunks;
         c = next.fetch_add(1, std::memory_order_relaxed)) {
      const std::int64_t end = std::min(n, (c + 1) * chunk);
      for (std::int64_t i = c * chunk; i < end; ++i) local(i);
    }
  });
}

}  // namespace descent
