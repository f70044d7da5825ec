// GEMM on 16-bit inputs: C = alpha * op(A) @ op(B) + beta * C with A and B in bf16 or f16,
// every product and sum in f32, C in f32 (the mixed-precision GEMM of Micikevicius et al.
// 2018, and of PyTorch's CPU autocast for linear/matmul).
//
// ====== Intended usage ======
//   // x (N, in) and w (out, in) in bf16; y (N, out) in f32
//   kernels::gemm(false, true, N, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
//
// bf16 runs, by default, descent's own AVX-512-BF16 kernel (kernels/bf16_dot.hpp) where the
// CPU has the instructions; else oneDNN's matmul primitive (its brgemm kernels), one
// primitive per shape, built on first use and cached, where oneDNN has a native bf16 kernel.
// Where neither exists (a CPU without AVX-512), and for f16 (these CPUs have no f16 dot
// product), A and B are widened to f32 (exactly) in scratch memory and go to the f32 GEMM:
// the same result up to the order of the f32 sums, at f32 speed. Arguments are as
// kernels::gemm's (gemm.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include "descent/core/half.hpp"
#include "descent/kernels/gemm.hpp"

namespace descent::kernels {

enum class Gemm16Path : std::uint8_t {
  native,  // oneDNN bf16 matmul
  dot,     // descent's AVX-512-BF16 kernel
  widen,   // widen to f32, then the f32 GEMM
};
const char* gemm16_path_name(Gemm16Path path);
// Whether `path` runs natively on this CPU (widen always does; checked once).
bool gemm16_path_available(Gemm16Path path);
// The default: dot where available, else native, else widen (chosen by measurement:
// bench/RESULTS.md, "Session 5: descent's own bf16 GEMM").
Gemm16Path bf16_gemm_path();

// `path` forces a path (tests, benchmarks); asking for one that is not available on this
// CPU throws Error.
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const BFloat16* A, std::int64_t lda, const BFloat16* B, std::int64_t ldb, float beta,
          float* C, std::int64_t ldc, Gemm16Path path = bf16_gemm_path());
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const Half* A, std::int64_t lda, const Half* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc);

// One GEMM of a batch (gemm.hpp's GemmOf).
using GemmBf16 = GemmOf<BFloat16>;
// Independent GEMMs (no C overlaps another GEMM's operands; at most 8), such as a linear
// layer's dX and dW in its backward. The dot path runs them in one parallel region, their
// work split evenly between the threads (one fork and join, and each thread on whole
// tiles); the others run them one after the other.
void gemm(std::span<const GemmBf16> gemms, Gemm16Path path = bf16_gemm_path());
// The same for f16 (widened to f32 one GEMM at a time: this CPU has no f16 dot product).
void gemm(std::span<const GemmOf<Half>> gemms);

// C = op(A) @ op(B) + bias, `bias` (N values) added to every row of C: a linear layer's
// forward. The dot path adds the bias as it stores C (one pass); the others add it in a pass
// after the GEMM (finish_gemm_rows).
void gemm_bias(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
               const BFloat16* A, std::int64_t lda, const BFloat16* B, std::int64_t ldb,
               const float* bias, float* C, std::int64_t ldc, Gemm16Path path = bf16_gemm_path());
void gemm_bias(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
               const Half* A, std::int64_t lda, const Half* B, std::int64_t ldb, const float* bias,
               float* C, std::int64_t ldc);

// A strided batch of products of one shape, C_i = alpha op(A_i) op(B_i) + beta C_i for
// i < batch, where A_i = A + i * stride_a (stride 0: one A shared by all), and so for B and C
// (the C_i must not overlap): attention's per-head products. They go through the batch entry
// points above, kMaxGemmBatch at a time: one parallel region per 8 products instead of one
// each (a transformer step entered 1,536 regions for them), the work of the 8 split evenly.
// T: float, BFloat16 or Half.
template <typename T>
void gemm_strided_batch(bool trans_a, bool trans_b, std::int64_t batch, std::int64_t M,
                        std::int64_t N, std::int64_t K, float alpha, const T* A, std::int64_t lda,
                        std::int64_t stride_a, const T* B, std::int64_t ldb, std::int64_t stride_b,
                        float beta, float* C, std::int64_t ldc, std::int64_t stride_c) {
  std::array<GemmOf<T>, kMaxGemmBatch> gemms;
  for (std::int64_t i0 = 0; i0 < batch; i0 += static_cast<std::int64_t>(kMaxGemmBatch)) {
    const std::int64_t count =
        std::min<std::int64_t>(static_cast<std::int64_t>(kMaxGemmBatch), batch - i0);
    for (std::int64_t j = 0; j < count; ++j) {
      const std::int64_t i = i0 + j;
      gemms[j] = {
          trans_a, trans_b,          M,  N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb,
          beta,    C + i * stride_c, ldc};
    }
    gemm(std::span<const GemmOf<T>>(gemms.data(), static_cast<std::size_t>(count)));
  }
}

}  // namespace descent::kernels
