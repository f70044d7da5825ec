// descent's own f32 GEMM on AVX-512: C = alpha * op(A) @ op(B) + beta * C (+ bias), every
// operand f32. Arguments are as kernels::gemm's (gemm.hpp), which chooses between this and
// oneDNN's dnnl_sgemm.
//
// ====== How it works ======
// A tile of C, MR rows by 32 columns, lives in 2 * MR AVX-512 accumulators; for each k, two
// 16-float vectors of op(B)'s row k and MR broadcast values of op(A)'s column k feed 2 * MR
// FMAs. A is read in place either way it is stored (a broadcast is one load from any
// address). B is read in place when stored (K, N), its row k's 32 columns contiguous; a B
// stored (N, K) (a linear layer's x @ W^T) is packed per call, one 32-column panel at a
// time, transposed in 16x16 blocks into the calling thread's panel. A batch of GEMMs is
// split between the threads by cost in one parallel region (gemm_split.hpp). The workspace
// comes from the caching allocator: a steady-state call makes no heap allocation.
#pragma once

#include <cstdint>
#include <span>

#include "descent/kernels/gemm.hpp"

namespace descent::kernels {

// True when the CPU has AVX-512F (checked once).
bool f32_dot_available();

// Whether the kernel is the faster choice for this shape (measured against dnnl_sgemm,
// bench/RESULTS.md): it does not block K, so a K beyond a few thousand is left to oneDNN, and
// so are wide, short products (N >= 1024 columns, M <= 64 rows).
bool f32_dot_suits(std::int64_t M, std::int64_t N, std::int64_t K);

// Independent GEMMs (at most 8) in one parallel region. Throws Error where
// f32_dot_available() is false.
void gemm_f32_dot(std::span<const GemmF32> gemms);

}  // namespace descent::kernels
