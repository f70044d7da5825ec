// GEMM behind one interface: C = alpha * op(A) @ op(B) + beta * C, row-major.
//
// f32 goes to descent's own AVX-512 kernel (kernels/f32_dot.hpp) where the CPU has AVX-512F
// (a K beyond kF32DotMaxK in blocks), else to oneDNN's dnnl_sgemm; f64 to the CBLAS
// (OpenBLAS). On AVX-512 CPUs no f32 product reaches oneDNN: dnnl_sgemm was 13-23% faster on
// wide, short products (N >= 1024, M <= 64) and on a long K, but it allocates on each call
// (a training step allocates nothing else), and under the opt-in thread pool
// (DESCENT_REGIONS=pool, core/thread_pool.hpp) its OpenMP threads spun next to the pool's
// workers and took a fifth off the LSTM's step (bench/RESULTS.md, session 8).
#pragma once

#include <cstdint>
#include <span>

#include "descent/core/error.hpp"
#include "descent/core/half.hpp"

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
// One GEMM of a batch: C = alpha * op(A) @ op(B) + beta * C (+ bias, N values added to
// every row, when not null), arguments as above; A and B hold T (f32 here, bf16 in half.hpp).
template <typename T>
struct GemmOf {
  bool trans_a, trans_b;
  std::int64_t M, N, K;
  float alpha;
  const T* A;
  std::int64_t lda;
  const T* B;
  std::int64_t ldb;
  float beta;
  float* C;
  std::int64_t ldc;
  const float* bias = nullptr;
  // C = max(C, 0) after the bias, and C also rounded to bf16 into C_low (same layout and
  // ldc): in the GEMM's store on descent's own kernels, in a pass over C on the others.
  bool relu = false;
  BFloat16* C_low = nullptr;
};
using GemmF32 = GemmOf<float>;

// A linear layer's forward as one GEMM: C (rows, out) = x (rows, in) @ w^T (w stored (out,
// in)) + bias (out values, or null), every matrix contiguous.
template <typename T>
GemmOf<T> linear_forward_gemm(const T* x, const T* w, std::int64_t rows, std::int64_t out,
                              std::int64_t in, const float* bias, float* C) {
  return {false, true, rows, out, in, 1.0f, x, in, w, in, 0.0f, C, out, bias};
}
// Its backward: dx (rows, in) = dy (rows, out) @ w, and dw (out, in) = dy^T @ x + beta dw
// (beta 1 adds into a gradient buffer).
template <typename T>
GemmOf<T> linear_input_grad_gemm(const T* dy, const T* w, std::int64_t rows, std::int64_t out,
                                 std::int64_t in, float* dx) {
  return {false, false, rows, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in};
}
template <typename T>
GemmOf<T> linear_weight_grad_gemm(const T* dy, const T* x, std::int64_t rows, std::int64_t out,
                                  std::int64_t in, float beta, float* dw) {
  return {true, false, out, in, rows, 1.0f, dy, out, x, in, beta, dw, in};
}

// GemmOf's bias, relu and C_low as one pass over C (M x N, row stride ldc) after a GEMM
// that did not apply them (oneDNN's, the widened 16-bit path): C += bias, C = max(C, 0),
// C_low = C rounded, each where asked.
void finish_gemm_rows(std::int64_t M, std::int64_t N, const float* bias, bool relu, float* C,
                      std::int64_t ldc, BFloat16* C_low);

// The checks every batch entry point makes, naming `op`: at most 8 GEMMs, and each one's
// arguments (check_gemm_arguments).
inline constexpr std::size_t kMaxGemmBatch = 8;
template <typename T>
void check_gemm_batch(const char* op, std::span<const GemmOf<T>> gemms) {
  DESCENT_CHECK(gemms.size() <= kMaxGemmBatch, op, ": at most ", kMaxGemmBatch,
                " GEMMs in a batch, got ", gemms.size());
  for (const GemmOf<T>& g : gemms) {
    check_gemm_arguments(op, g.trans_a, g.trans_b, g.M, g.N, g.K, g.lda, g.ldb, g.ldc);
  }
}

// A batch on a kernel without a batch form: one(g) computes alpha op(A) op(B) + beta C for
// each non-empty GEMM, then finish_gemm_rows applies its bias, relu and C_low.
template <typename T, typename One>
void gemm_one_by_one(std::span<const GemmOf<T>> gemms, One one) {
  for (const GemmOf<T>& g : gemms) {
    if (g.M == 0 || g.N == 0) continue;
    one(g);
    finish_gemm_rows(g.M, g.N, g.bias, g.relu, g.C, g.ldc, g.C_low);
  }
}

// Independent GEMMs (at most 8; no C may overlap another's operands) in one call: on
// descent's own kernel, one parallel region for all of them (a layer's dX and dW).
void gemm(std::span<const GemmF32> gemms);
// C = op(A) @ op(B) + bias, bias (N) added to every row in the GEMM's store where the kernel
// allows (else in a second pass).
void gemm_bias(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
               const float* A, std::int64_t lda, const float* B, std::int64_t ldb,
               const float* bias, float* C, std::int64_t ldc);

void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
          const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta,
          double* C, std::int64_t ldc);

}  // namespace descent::kernels
