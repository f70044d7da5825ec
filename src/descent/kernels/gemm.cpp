#include "descent/kernels/gemm.hpp"

#include <cblas.h>
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <exception>

#include "descent/core/error.hpp"

namespace descent::kernels {

namespace {

void sgemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
           const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
           std::int64_t ldc) {
  const dnnl_status_t status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha,
                                          A, lda, B, ldb, beta, C, ldc);
  DESCENT_CHECK(status == dnnl_success, "gemm: dnnl_sgemm failed with status ",
                static_cast<int>(status), " for M=", M, " N=", N, " K=", K);
}

// A linear layer's forward at a small batch, x (M, K) @ W^T with W (N, K): at two threads
// dnnl_sgemm splits it unevenly; two calls on the two column halves of C, one per thread
// (oneDNN runs single-threaded inside a parallel region), ran 10-19% faster on the MLP's
// 128x256x784 and 128x256x256 (and no better elsewhere: bench/RESULTS.md, "Two threads").
bool split_by_columns(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K) {
  return !trans_a && trans_b && M <= 512 && N >= 128 && M * N * K >= (1 << 22) &&
         omp_get_max_threads() == 2 && !omp_in_parallel();
}

}  // namespace

void check_gemm_arguments(const char* op, bool trans_a, bool trans_b, std::int64_t M,
                          std::int64_t N, std::int64_t K, std::int64_t lda, std::int64_t ldb,
                          std::int64_t ldc) {
  DESCENT_CHECK(M >= 0 && N >= 0 && K >= 0, op, ": negative size M=", M, " N=", N, " K=", K);
  const std::int64_t a_row = std::max<std::int64_t>(1, trans_a ? M : K);
  const std::int64_t b_row = std::max<std::int64_t>(1, trans_b ? K : N);
  DESCENT_CHECK(lda >= a_row, op, ": lda ", lda, " is shorter than a stored row of A (", a_row,
                trans_a ? ", A stored (K, M))" : ", A stored (M, K))");
  DESCENT_CHECK(ldb >= b_row, op, ": ldb ", ldb, " is shorter than a stored row of B (", b_row,
                trans_b ? ", B stored (N, K))" : ", B stored (K, N))");
  DESCENT_CHECK(ldc >= std::max<std::int64_t>(1, N), op, ": ldc ", ldc,
                " is shorter than a row of C (", N, ")");
}

void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc) {
  check_gemm_arguments("gemm", trans_a, trans_b, M, N, K, lda, ldb, ldc);
  if (M == 0 || N == 0) return;
  if (!split_by_columns(trans_a, trans_b, M, N, K)) {
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const std::int64_t half = (N / 2 + 15) / 16 * 16;  // whole 16-float vectors for thread 0
  std::exception_ptr failure;
#pragma omp parallel num_threads(2)
  {
    const bool second = omp_get_thread_num() == 1;
    const std::int64_t first_col = second ? half : 0;
    const std::int64_t cols = second ? N - half : half;
    try {
      // op(B) = B^T: columns first_col.. of op(B) are rows first_col.. of B
      sgemm(false, true, M, cols, K, alpha, A, lda, B + first_col * ldb, ldb, beta, C + first_col,
            ldc);
    } catch (...) {
#pragma omp critical(descent_gemm_failure)
      failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
          const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta,
          double* C, std::int64_t ldc) {
  check_gemm_arguments("gemm (f64)", trans_a, trans_b, M, N, K, lda, ldb, ldc);
  if (M == 0 || N == 0) return;
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(M), static_cast<blasint>(N),
              static_cast<blasint>(K), alpha, A, static_cast<blasint>(lda), B,
              static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
}

}  // namespace descent::kernels
