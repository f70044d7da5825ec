// GEMM on 16-bit inputs: C = alpha * op(A) @ op(B) + beta * C with A and B in bf16 or f16,
// every product and sum in f32, C in f32 (the mixed-precision GEMM of Micikevicius et al.
// 2018, and of PyTorch's CPU autocast for linear/matmul).
//
// ====== Intended usage ======
//   // x (N, in) and w (out, in) in bf16; y (N, out) in f32
//   kernels::gemm(false, true, N, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
//
// bf16 runs oneDNN's matmul primitive (its brgemm kernels use AVX-512-BF16's vdpbf16ps),
// one primitive per shape, built on first use and cached. Where oneDNN has no native bf16
// kernel (a CPU without AVX-512), and for f16 (these CPUs have no f16 dot product), A and B
// are widened to f32 (exactly) in scratch memory and go to the f32 GEMM: the same result up
// to the order of the f32 sums, at f32 speed. Arguments are as kernels::gemm's (gemm.hpp).
#pragma once

#include <cstdint>

#include "descent/core/half.hpp"

namespace descent::kernels {

enum class Gemm16Path : std::uint8_t {
  native,  // oneDNN bf16 matmul
  widen,   // widen to f32, then the f32 GEMM
};
const char* gemm16_path_name(Gemm16Path path);
// native when oneDNN has a native bf16 matmul on this CPU (checked once).
Gemm16Path bf16_gemm_path();

// `path` forces the widening path (tests, benchmarks); asking for native where it is not
// available throws Error.
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const BFloat16* A, std::int64_t lda, const BFloat16* B, std::int64_t ldb, float beta,
          float* C, std::int64_t ldc, Gemm16Path path = bf16_gemm_path());
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const Half* A, std::int64_t lda, const Half* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc);

}  // namespace descent::kernels
