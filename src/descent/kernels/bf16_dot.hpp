// descent's own bf16 GEMM on AVX-512-BF16: C = alpha * op(A) @ op(B) + beta * C, A and B in
// bf16, every product and sum in f32 (vdpbf16ps), C in f32. Arguments are as kernels::gemm's
// (gemm.hpp); kernels/half.hpp chooses between this, oneDNN's matmul and widening to f32.
//
// ====== How it works ======
// vdpbf16ps multiplies 16 pairs of bf16 values by 16 pairs and adds both products to 16 f32
// sums, so each operand is read as pairs of consecutive k. B is packed per call into panels
// of 32 columns, each k-pair of a column one 32-bit word (rows of B interleaved, or a stored
// B^T transposed in 16x16 blocks), zero past K and N; A is read in place when it is stored
// (M, K) (its k-pairs are already adjacent) and packed like B when it is stored (K, M). An
// 8x32 tile of C is 16 accumulators; one packed B row and eight broadcast A pairs feed 16
// vdpbf16ps. The panels of B are split between the threads (rows of C when there are fewer
// panels than threads), each thread packing what it uses; the workspace comes from the
// caching allocator, so a steady-state call makes no heap allocation.
#pragma once

#include <cstdint>
#include <span>

#include "descent/core/half.hpp"
#include "descent/kernels/half.hpp"

namespace descent::kernels {

// True when the CPU has AVX-512 (F, BW, VL) and AVX-512-BF16 (checked once).
bool bf16_dot_available();

// Independent GEMMs (at most 8) in one parallel region, their work split evenly between
// the threads (kernels::gemm's batch form, half.hpp). Throws Error where
// bf16_dot_available() is false.
void gemm_bf16_dot(std::span<const GemmBf16> gemms);

// One GEMM. Throws Error where bf16_dot_available() is false. `bias` (N values, or null) is added
// to every row of C in the same pass: C = alpha * op(A) op(B) + beta * C + bias.
void gemm_bf16_dot(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                   float alpha, const BFloat16* A, std::int64_t lda, const BFloat16* B,
                   std::int64_t ldb, float beta, float* C, std::int64_t ldc,
                   const float* bias = nullptr);

}  // namespace descent::kernels
