// GEMM behind one interface: C = alpha * op(A) @ op(B) + beta * C, row-major.
//
// f32 goes to oneDNN's dnnl_sgemm, f64 to the CBLAS (OpenBLAS). The choice was measured
// (bench/gemm_bench.cpp, bench/RESULTS.md) and stays behind this header.
#pragma once

#include <cstdint>

namespace descent::kernels {

// op(A) is (M, K), op(B) is (K, N), C is (M, N); lda/ldb/ldc are row strides of the stored
// matrices (A stored (M, K), or (K, M) when trans_a).
// Throws Error, naming `op`, unless M, N, K >= 0 and each leading dimension covers its
// stored row: lda >= (trans_a ? M : K), ldb >= (trans_b ? K : N), ldc >= N, each at least 1.
// Every GEMM entry point (f32, f64, 16-bit) checks its arguments so.
void check_gemm_arguments(const char* op, bool trans_a, bool trans_b, std::int64_t M,
                          std::int64_t N, std::int64_t K, std::int64_t lda, std::int64_t ldb,
                          std::int64_t ldc);

void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc);
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
          const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta,
          double* C, std::int64_t ldc);

}  // namespace descent::kernels
