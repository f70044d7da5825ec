// kernels::gemm (f32) against a double-precision reference, on every transpose combination
// and at one and two threads: two threads take the column-split path for a linear layer's
// forward shape (x @ W^T at a small batch), which must give the same products.
#include "descent/kernels/gemm.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "descent/core/rng.hpp"
#include "descent/core/tensor.hpp"

namespace descent {
namespace {

struct GemmCase {
  bool trans_a;
  bool trans_b;
  std::int64_t M, N, K;
};

// C = 0.5 op(A) op(B) + 2 C0, checked element by element against f64 sums.
void expect_gemm_matches(const GemmCase& c, int threads) {
  set_num_threads(threads);
  Generator gen(11);
  const std::int64_t lda = c.trans_a ? c.M : c.K;
  const std::int64_t ldb = c.trans_b ? c.K : c.N;
  const Tensor a = randn({c.M * c.K}, gen);
  const Tensor b = randn({c.K * c.N}, gen);
  const Tensor c0 = randn({c.M * c.N}, gen);
  Tensor out = c0.clone();
  kernels::gemm(c.trans_a, c.trans_b, c.M, c.N, c.K, 0.5f, a.data<float>(), lda, b.data<float>(),
                ldb, 2.0f, out.data<float>(), c.N);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  for (std::int64_t i = 0; i < c.M; ++i) {
    for (std::int64_t j = 0; j < c.N; ++j) {
      double sum = 0;
      for (std::int64_t k = 0; k < c.K; ++k) {
        const double x = c.trans_a ? pa[k * lda + i] : pa[i * lda + k];
        const double y = c.trans_b ? pb[j * ldb + k] : pb[k * ldb + j];
        sum += x * y;
      }
      const double expected = 0.5 * sum + 2.0 * c0.data<float>()[i * c.N + j];
      ASSERT_NEAR(out.data<float>()[i * c.N + j], expected, 1e-4 * std::sqrt(double(c.K)) + 1e-5)
          << "M=" << c.M << " N=" << c.N << " K=" << c.K << " trans " << c.trans_a << c.trans_b
          << " threads " << threads << " at (" << i << ", " << j << ")";
    }
  }
}

TEST(Gemm, MatchesDoublePrecisionSumsAtOneAndTwoThreads) {
  const int threads_before = num_threads();
  const GemmCase cases[] = {
      {false, true, 128, 256, 200},  // a linear forward: split by columns at two threads
      {false, true, 64, 200, 400},   // split into 112 and 88 columns
      {false, false, 33, 17, 9},    {true, false, 40, 50, 30},
      {true, true, 7, 130, 64},     {false, true, 5, 3, 2},
  };
  for (const GemmCase& c : cases) {
    for (int threads : {1, 2}) expect_gemm_matches(c, threads);
  }
  set_num_threads(threads_before);
}

}  // namespace
}  // namespace descent
