#include "descent/kernels/gemm.hpp"

#include <cblas.h>
#include <dnnl.h>

#include <algorithm>

#include "descent/core/error.hpp"
#include "descent/core/parallel.hpp"
#include "descent/kernels/f32_dot.hpp"

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

void finish_gemm_rows(std::int64_t M, std::int64_t N, const float* bias, bool relu, float* C,
                      std::int64_t ldc, BFloat16* C_low) {
  if (bias == nullptr && !relu && C_low == nullptr) return;
  parallel_for_if(M * N > kParallelElements, M, [=](std::int64_t r) {
    float* row = C + r * ldc;
    if (bias != nullptr) {
#pragma omp simd
      for (std::int64_t j = 0; j < N; ++j) row[j] += bias[j];
    }
    if (relu) {
#pragma omp simd
      for (std::int64_t j = 0; j < N; ++j) row[j] = row[j] > 0.0f ? row[j] : 0.0f;
    }
    if (C_low != nullptr) convert_serial(row, C_low + r * ldc, N);
  });
}

void gemm(std::span<const GemmF32> gemms) {
  if (!f32_dot_available()) {
    check_gemm_batch("gemm", gemms);
    gemm_one_by_one(gemms, [](const GemmF32& g) {
      sgemm(g.trans_a, g.trans_b, g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, g.C,
            g.ldc);
    });
    return;
  }
  const bool short_k =
      std::all_of(gemms.begin(), gemms.end(), [](const GemmF32& g) { return g.K <= kF32DotMaxK; });
  if (short_k) {
    gemm_f32_dot(gemms);  // checks the batch itself
    return;
  }
  // A K beyond the kernel's runs as blocks of equal length, one call each, C accumulating
  // (the products of an LSTM's weight gradient over all its time steps: K = steps * batch).
  // The bias joins the first block's store, relu and the bf16 copy the last's.
  check_gemm_batch("gemm", gemms);
  for (const GemmF32& g : gemms) {
    const std::int64_t blocks = std::max<std::int64_t>(1, (g.K + kF32DotMaxK - 1) / kF32DotMaxK);
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t k0 = g.K * b / blocks, k1 = g.K * (b + 1) / blocks;
      GemmF32 part = g;
      part.K = k1 - k0;
      part.A = g.trans_a ? g.A + k0 * g.lda : g.A + k0;
      part.B = g.trans_b ? g.B + k0 : g.B + k0 * g.ldb;
      if (b > 0) {
        part.beta = 1.0f;
        part.bias = nullptr;
      }
      if (b < blocks - 1) {
        part.relu = false;
        part.C_low = nullptr;
      }
      gemm_f32_dot(std::span<const GemmF32>(&part, 1));
    }
  }
}

void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc) {
  const GemmF32 g{trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc};
  gemm(std::span<const GemmF32>(&g, 1));
}

void gemm_bias(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
               const float* A, std::int64_t lda, const float* B, std::int64_t ldb,
               const float* bias, float* C, std::int64_t ldc) {
  DESCENT_CHECK(bias != nullptr, "gemm_bias: bias is null");
  const GemmF32 g{trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, bias};
  gemm(std::span<const GemmF32>(&g, 1));
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
