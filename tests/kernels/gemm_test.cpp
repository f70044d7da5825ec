// kernels::gemm (f32) against a double-precision reference: descent's own AVX-512 kernel
// (f32_dot.hpp), with K in blocks beyond its limit, or oneDNN's dnnl_sgemm (kernels::gemm's
// choice on CPUs without AVX-512), on every
// transpose combination, ragged tiles, padded leading dimensions, alpha/beta, a bias, batches
// and at one and two threads.
#include "descent/kernels/gemm.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "descent/core/error.hpp"
#include "descent/core/half.hpp"
#include "descent/core/rng.hpp"
#include "descent/core/tensor.hpp"
#include "descent/kernels/f32_dot.hpp"

namespace descent {
namespace {

struct GemmCase {
  bool trans_a;
  bool trans_b;
  std::int64_t M, N, K;
  std::int64_t pad = 0;  // added to every leading dimension
};

enum class Kernel { dispatch, own };

// Operands for one case, and the check of C = alpha op(A) op(B) + beta C0 (+ bias) against
// f64 sums.
struct Problem {
  GemmCase c;
  std::int64_t lda, ldb, ldc;
  std::vector<float> a, b, c0, bias;

  explicit Problem(const GemmCase& gc, std::uint64_t seed = 11) : c(gc) {
    lda = (c.trans_a ? c.M : c.K) + c.pad;
    ldb = (c.trans_b ? c.K : c.N) + c.pad;
    ldc = c.N + c.pad;
    Generator gen(seed);
    auto fill = [&](std::int64_t n) {
      const Tensor t = randn({std::max<std::int64_t>(n, 1)}, gen);
      return std::vector<float>(t.data<float>(), t.data<float>() + n);
    };
    a = fill((c.trans_a ? c.K : c.M) * lda);
    b = fill((c.trans_b ? c.N : c.K) * ldb);
    c0 = fill(c.M * ldc);
    bias = fill(c.N);
  }

  kernels::GemmF32 gemm(float alpha, float beta, float* out, bool with_bias) const {
    return {c.trans_a, c.trans_b, c.M, c.N,  c.K, alpha, a.data(),
            lda,       b.data(),  ldb, beta, out, ldc,   with_bias ? bias.data() : nullptr};
  }

  void expect_matches(const std::vector<float>& out, float alpha, float beta, bool with_bias,
                      const std::string& what, bool relu = false) const {
    for (std::int64_t i = 0; i < c.M; ++i) {
      for (std::int64_t j = 0; j < c.N; ++j) {
        double sum = 0;
        for (std::int64_t k = 0; k < c.K; ++k) {
          const double x = c.trans_a ? a[k * lda + i] : a[i * lda + k];
          const double y = c.trans_b ? b[j * ldb + k] : b[k * ldb + j];
          sum += x * y;
        }
        double expected = alpha * sum + (beta != 0.0f ? beta * double(c0[i * ldc + j]) : 0.0);
        if (with_bias) expected += bias[j];
        if (relu) expected = std::max(expected, 0.0);
        ASSERT_NEAR(out[i * ldc + j], expected, 1e-4 * std::sqrt(double(c.K)) + 1e-5)
            << what << ": M=" << c.M << " N=" << c.N << " K=" << c.K << " trans " << c.trans_a
            << c.trans_b << " pad " << c.pad << " at (" << i << ", " << j << ")";
      }
      // the padding of each row of C is left as it was
      for (std::int64_t j = c.N; j < ldc; ++j) {
        ASSERT_EQ(out[i * ldc + j], c0[i * ldc + j]) << what << ": padding of row " << i;
      }
    }
  }
};

void run(Kernel kernel, std::span<const kernels::GemmF32> gemms) {
  if (kernel == Kernel::own) {
    kernels::gemm_f32_dot(gemms);
  } else {
    kernels::gemm(gemms);
  }
}

const GemmCase kCases[] = {
    {false, true, 128, 256, 200},     // a linear forward (B packed)
    {false, true, 64, 200, 400, 3},   // ragged panel, padded rows
    {false, false, 33, 17, 9},        // ragged tiles both ways, one masked vector
    {true, false, 40, 50, 30, 1},     // a weight gradient (A read by columns)
    {true, true, 7, 130, 64},         // fewer rows than a tile
    {false, true, 5, 3, 2},           // tiny
    {false, false, 128, 256, 10},     // K below one packing block
    {true, false, 10, 256, 128},      // the MLP's last layer's dW
    {false, true, 25, 47, 0, 1},      // K = 0: C = beta C (+ bias)
    {false, false, 300, 70, 700, 5},  // many tiles, two threads split inside a panel
};

TEST(Gemm, MatchesDoublePrecisionSumsOnEveryPathAtOneAndTwoThreads) {
  const int threads_before = num_threads();
  for (const Kernel kernel : {Kernel::dispatch, Kernel::own}) {
    if (kernel == Kernel::own && !kernels::f32_dot_available()) continue;
    for (const GemmCase& gc : kCases) {
      const Problem p(gc);
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        for (const bool with_bias : {false, true}) {
          std::vector<float> out = p.c0;
          const kernels::GemmF32 g = p.gemm(0.5f, 2.0f, out.data(), with_bias);
          run(kernel, {&g, 1});
          p.expect_matches(out, 0.5f, 2.0f, with_bias,
                           std::string(kernel == Kernel::own ? "own" : "dispatch") + " threads " +
                               std::to_string(threads) + (with_bias ? " bias" : ""));
        }
      }
    }
  }
  set_num_threads(threads_before);
}

// relu and the bf16 copy of C in the store: C = max(alpha A B + beta C + bias, 0), and C_low
// holds exactly C rounded to bf16 (what kernels convert gives), on the own kernel and on
// oneDNN's (a K too long for the own kernel takes it).
TEST(Gemm, ReluAndTheBf16CopyOfCInTheStore) {
  const int threads_before = num_threads();
  const GemmCase cases[] = {{false, true, 37, 70, 50, 2}, {false, false, 20, 33, 5000}};
  for (const GemmCase& gc : cases) {
    const Problem p(gc);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      std::vector<float> out = p.c0;
      std::vector<BFloat16> low(p.c.M * p.ldc, BFloat16::from_bits(0x1234));
      kernels::GemmF32 g = p.gemm(0.5f, 2.0f, out.data(), true);
      g.relu = true;
      g.C_low = low.data();
      kernels::gemm({&g, 1});
      p.expect_matches(out, 0.5f, 2.0f, true, "relu threads " + std::to_string(threads), true);
      std::int64_t zeros = 0;
      for (std::int64_t i = 0; i < p.c.M; ++i) {
        std::vector<BFloat16> expected(p.c.N);
        convert(out.data() + i * p.ldc, expected.data(), p.c.N);
        for (std::int64_t j = 0; j < p.c.N; ++j) {
          ASSERT_EQ(low[i * p.ldc + j].bits, expected[j].bits) << "row " << i << " col " << j;
          zeros += out[i * p.ldc + j] == 0.0f;
        }
        for (std::int64_t j = p.c.N; j < p.ldc; ++j) ASSERT_EQ(low[i * p.ldc + j].bits, 0x1234);
      }
      EXPECT_GT(zeros, p.c.M * p.c.N / 4);  // the relu did cut (random signs)
    }
  }
  set_num_threads(threads_before);
}

TEST(Gemm, BetaZeroNeverReadsC) {
  // as BLAS: with beta = 0, C's old values (NaN here) do not reach the result
  const Problem p({false, true, 20, 40, 16});
  std::vector<float> out = p.c0;
  for (std::int64_t i = 0; i < p.c.M; ++i) {
    for (std::int64_t j = 0; j < p.c.N; ++j) {
      out[i * p.ldc + j] = std::numeric_limits<float>::quiet_NaN();
    }
  }
  kernels::gemm(false, true, p.c.M, p.c.N, p.c.K, 1.0f, p.a.data(), p.lda, p.b.data(), p.ldb, 0.0f,
                out.data(), p.ldc);
  p.expect_matches(out, 1.0f, 0.0f, false, "beta 0");
}

TEST(Gemm, LongKRunsInBlocksWithTheSameResult) {
  // beyond kF32DotMaxK the dispatch splits K: alpha and beta, the bias (once), relu and the
  // bf16 copy (on the sum of every block) as one call would give them, on every transpose
  static_assert(kernels::kF32DotMaxK < 9000);
  for (const bool trans_a : {false, true}) {
    for (const bool trans_b : {false, true}) {
      const Problem p({trans_a, trans_b, 9, 20, 9000, 2});
      std::vector<float> out = p.c0;
      kernels::gemm(std::span<const kernels::GemmF32>{{p.gemm(-0.5f, 0.25f, out.data(), true)}});
      p.expect_matches(out, -0.5f, 0.25f, true, "long K");
      std::vector<float> relu_out = p.c0;
      std::vector<BFloat16> low(p.c.M * p.ldc, BFloat16(7.0f));
      kernels::GemmF32 g = p.gemm(1.0f, 0.0f, relu_out.data(), true);
      g.relu = true;
      g.C_low = low.data();
      kernels::gemm(std::span<const kernels::GemmF32>(&g, 1));
      p.expect_matches(relu_out, 1.0f, 0.0f, true, "long K, relu", true);
      for (std::int64_t i = 0; i < p.c.M; ++i) {
        for (std::int64_t j = 0; j < p.c.N; ++j) {
          ASSERT_EQ(static_cast<float>(low[i * p.ldc + j]),
                    static_cast<float>(BFloat16(relu_out[i * p.ldc + j])))
              << i << ", " << j;
        }
      }
    }
  }
}

TEST(Gemm, ABatchGivesWhatItsGemmsGiveOneByOne) {
  if (!kernels::f32_dot_available()) GTEST_SKIP() << "this CPU lacks AVX-512F";
  const int threads_before = num_threads();
  set_num_threads(2);
  // a linear layer's backward: dX = dY W and dW = dY^T X, and a third of another shape
  const Problem dx({false, false, 96, 200, 64}, 1);
  const Problem dw({true, false, 64, 200, 96}, 2);
  const Problem other({false, true, 13, 33, 70}, 3);
  std::vector<float> batch_dx = dx.c0, batch_dw = dw.c0, batch_other = other.c0;
  const kernels::GemmF32 gemms[] = {dx.gemm(1.0f, 0.0f, batch_dx.data(), false),
                                    dw.gemm(1.0f, 1.0f, batch_dw.data(), false),
                                    other.gemm(-2.0f, 0.5f, batch_other.data(), true)};
  kernels::gemm(gemms);
  std::vector<float> one_dx = dx.c0, one_dw = dw.c0, one_other = other.c0;
  const kernels::GemmF32 singles[] = {dx.gemm(1.0f, 0.0f, one_dx.data(), false),
                                      dw.gemm(1.0f, 1.0f, one_dw.data(), false),
                                      other.gemm(-2.0f, 0.5f, one_other.data(), true)};
  for (const kernels::GemmF32& g : singles) kernels::gemm({&g, 1});
  EXPECT_EQ(batch_dx, one_dx);  // bit for bit: the same tiles, whichever thread runs them
  EXPECT_EQ(batch_dw, one_dw);
  EXPECT_EQ(batch_other, one_other);
  other.expect_matches(batch_other, -2.0f, 0.5f, true, "batch");
  set_num_threads(threads_before);
}

TEST(Gemm, InsideAParallelRegionEachCallRunsOnItsThread) {
  // a caller's parallel loop (per-sample im2col convolutions): no nested team, same result
  const int threads_before = num_threads();
  set_num_threads(2);
  const Problem p({false, false, 64, 96, 128});
  std::vector<std::vector<float>> outs(4, p.c0);
#pragma omp parallel for
  for (int s = 0; s < 4; ++s) {
    kernels::gemm(false, false, p.c.M, p.c.N, p.c.K, 1.0f, p.a.data(), p.lda, p.b.data(), p.ldb,
                  0.0f, outs[s].data(), p.ldc);
  }
  for (const std::vector<float>& out : outs) p.expect_matches(out, 1.0f, 0.0f, false, "nested");
  set_num_threads(threads_before);
}

TEST(Gemm, RefusesBadArgumentsWithTheirNames) {
  const Problem p({false, false, 4, 4, 4});
  std::vector<float> out = p.c0;
  EXPECT_THROW(
      kernels::gemm(false, false, 4, 4, 4, 1.0f, p.a.data(), 3, p.b.data(), 4, 0.0f, out.data(), 4),
      Error);  // lda shorter than a row of A
  EXPECT_EQ(out, p.c0);
  std::vector<kernels::GemmF32> nine(9, p.gemm(1.0f, 0.0f, out.data(), false));
  EXPECT_THROW(kernels::gemm(nine), Error);
  EXPECT_THROW(kernels::gemm_bias(false, false, 4, 4, 4, p.a.data(), 4, p.b.data(), 4, nullptr,
                                  out.data(), 4),
               Error);
}

}  // namespace
}  // namespace descent
