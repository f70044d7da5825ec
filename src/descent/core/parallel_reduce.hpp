// Variants of core/parallel.hpp's parallel_for_if for the loops it does not fit: a sum, a
// collapsed pair of loops, a dynamic schedule. As there, the serial case runs on the calling
// thread without entering OpenMP: libgomp allocates (and frees) a team for every parallel
// region it enters, a one-thread region included (`if (false)`, `num_threads(1)`).
#pragma once

#include <cstdint>

#include "descent/core/parallel.hpp"

namespace descent {

// The sum of term(i) for i in [0, n), as `#pragma omp parallel for simd reduction(+ : sum)
// if (parallel)` computed it: in parallel, each thread's vectorized partial sum, added in
// libgomp's order; serially, one running sum in index order (the former loop's `if` clause
// turned its simd part off as well, so a one-thread sum was not reassociated). Acc is the
// sum's type (an integer count sums exactly either way).
template <typename Acc, typename Term>
Acc parallel_sum_if(bool parallel, std::int64_t n, const Term& term) {
  Acc sum = 0;
  if (parallel) {
#pragma omp parallel for simd reduction(+ : sum) firstprivate(term)
    for (std::int64_t i = 0; i < n; ++i) sum += term(i);
  } else {
    const Term local = term;
    for (std::int64_t i = 0; i < n; ++i) sum += local(i);
  }
  return sum;
}

// body(i, j) for i in [0, rows), j in [0, cols): the n = rows * cols iterations split over
// the threads as one loop (`collapse(2)`, static schedule) when `parallel` is true, else
// two nested loops on the calling thread.
template <typename Body>
void parallel_for_2d_if(bool parallel, std::int64_t rows, std::int64_t cols, const Body& body) {
  if (parallel) {
#pragma omp parallel for collapse(2) firstprivate(body)
    for (std::int64_t i = 0; i < rows; ++i) {
      for (std::int64_t j = 0; j < cols; ++j) body(i, j);
    }
  } else {
    const Body local = body;
    for (std::int64_t i = 0; i < rows; ++i) {
      for (std::int64_t j = 0; j < cols; ++j) local(i, j);
    }
  }
}

// parallel_for_if with `schedule(dynamic, chunk)`: for iterations of uneven cost.
template <typename Body>
void parallel_for_dynamic_if(bool parallel, std::int64_t n, std::int64_t chunk, const Body& body) {
  if (parallel) {
#pragma omp parallel for schedule(dynamic, chunk) firstprivate(body)
    for (std::int64_t i = 0; i < n; ++i) body(i);
  } else {
    const Body local = body;
    for (std::int64_t i = 0; i < n; ++i) local(i);
  }
}

}  // namespace descent
