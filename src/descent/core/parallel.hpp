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

}  // namespace descent
