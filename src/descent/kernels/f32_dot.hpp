// descent's own f32 GEMM on AVX-512: C = alpha * op(A) @ op(B) + beta * C (+ bias), every
// operand f32. Arguments are as kernels::gemm's (gemm.hpp), which chooses between this and
// oneDNN's dnnl_sgemm (CPUs without AVX-512).
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

// The longest K one call takes: the kernel does not block K (a tile streams K values of its
// rows of A and a K x 32 panel of B from L2). kernels::gemm splits a longer K into blocks.
inline constexpr std::int64_t kF32DotMaxK = 4096;

// Independent GEMMs (at most 8) in one parallel region, each K <= kF32DotMaxK. Throws Error
// where f32_dot_available() is false.
void gemm_f32_dot(std::span<const GemmF32> gemms);

}  // namespace descent::kernels
