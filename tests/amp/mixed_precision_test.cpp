// The 16-bit GEMM (every path, every transpose) against an f64 reference on the rounded
// operands; ops::linear_mixed and ops::matmul_mixed forward and backward against f32 ops on rounded
// operands; fp16's underflow and overflow and what loss scaling does to them; the precision
// policy, master weights, a small training run per precision, and bad input.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "descent/amp/grad_scaler.hpp"
#include "descent/amp/policy.hpp"
#include "descent/kernels/gemm.hpp"
#include "descent/kernels/half.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/autocast.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/loss.hpp"
#include "descent/ops/reduce.hpp"
#include "descent/optim/adam.hpp"
#include "descent/optim/lamb.hpp"
#include "descent/optim/sgd.hpp"
#include "rounded_reference.hpp"

namespace descent::amp {
namespace {

// ---- the 16-bit GEMM ----

struct GemmCase {
  bool trans_a, trans_b;
  std::int64_t M, N, K;
  std::int64_t pad;  // extra elements per stored row (lda, ldb, ldc > the row length)
  float alpha, beta;
};

const GemmCase kGemmCases[] = {
    {false, true, 64, 128, 784, 0, 1.0f, 0.0f},  // the MLP's fc1 forward (narrowed)
    {true, false, 256, 78, 128, 0, 1.0f, 0.0f},  // its dW (narrowed)
    {false, false, 64, 96, 256, 0, 1.0f, 1.0f},  // dX, accumulating
    {true, true, 33, 17, 65, 3, 0.5f, -2.0f},    // odd sizes, strided, alpha and beta
    {false, false, 1, 1, 1, 0, 1.0f, 0.0f},
    {false, true, 5, 7, 0, 1, 1.0f, 1.0f},  // K = 0: C = beta C
    // the AVX-512-BF16 kernel's edges: odd K read in place and packed, ragged tiles (M not a
    // multiple of 8, N of 16 or 32), more than one 16-pair transpose block, a thread split
    // by rows (N <= 32) and by panels
    {false, true, 131, 100, 47, 1, 1.0f, 0.0f},
    {false, false, 9, 33, 35, 2, 2.0f, 0.5f},
    {true, false, 130, 31, 257, 0, 1.0f, 1.0f},
    {true, true, 17, 65, 3, 5, -1.0f, 0.0f},
    {false, true, 128, 10, 256, 0, 1.0f, 0.0f},  // the MLP's fc3
    {true, false, 10, 256, 128, 0, 1.0f, 1.0f},  // its dW
};

template <typename L>
void check_gemm(const GemmCase& c, kernels::Gemm16Path path, bool use_path) {
  Generator gen(11);
  // stored shapes
  const std::int64_t a_rows = c.trans_a ? c.K : c.M, a_cols = c.trans_a ? c.M : c.K;
  const std::int64_t b_rows = c.trans_b ? c.N : c.K, b_cols = c.trans_b ? c.K : c.N;
  const std::int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  Tensor a = randn({std::max<std::int64_t>(a_rows * lda, 1)}, gen).to(dtype_of<L>());
  Tensor b = randn({std::max<std::int64_t>(b_rows * ldb, 1)}, gen).to(dtype_of<L>());
  Tensor c0 = randn({c.M * ldc}, gen);
  Tensor out = c0.clone();
  if (use_path) {
    if constexpr (std::is_same_v<L, BFloat16>) {
      kernels::gemm(c.trans_a, c.trans_b, c.M, c.N, c.K, c.alpha, a.data<L>(), lda, b.data<L>(),
                    ldb, c.beta, out.data<float>(), ldc, path);
    }
  } else {
    kernels::gemm(c.trans_a, c.trans_b, c.M, c.N, c.K, c.alpha, a.data<L>(), lda, b.data<L>(), ldb,
                  c.beta, out.data<float>(), ldc);
  }
  const auto av = a.to_vector(), bv = b.to_vector(), cv = c0.to_vector(), ov = out.to_vector();
  for (std::int64_t i = 0; i < c.M; ++i) {
    for (std::int64_t j = 0; j < c.N; ++j) {
      double sum = 0, magnitude = 0;
      for (std::int64_t k = 0; k < c.K; ++k) {
        const double x = c.trans_a ? av[k * lda + i] : av[i * lda + k];
        const double y = c.trans_b ? bv[j * ldb + k] : bv[k * ldb + j];
        sum += x * y;
        magnitude += std::abs(x * y);
      }
      const double expected = c.alpha * sum + c.beta * cv[i * ldc + j];
      const double tolerance = 1e-5 * (std::abs(c.alpha) * magnitude + std::abs(c.beta)) + 1e-6;
      ASSERT_NEAR(ov[i * ldc + j], expected, tolerance) << i << ", " << j;
    }
    // the padding of C is not written
    for (std::int64_t j = c.N; j < ldc; ++j) ASSERT_EQ(ov[i * ldc + j], cv[i * ldc + j]);
  }
}

// fn(path) for every bf16 GEMM path this CPU runs, at one thread and with the work split
// between two; the thread count is restored afterwards.
template <typename Fn>
void for_each_bf16_path_at_1_and_2_threads(Fn fn) {
  const int threads = omp_get_max_threads();
  for (const auto path :
       {kernels::Gemm16Path::native, kernels::Gemm16Path::dot, kernels::Gemm16Path::widen}) {
    if (!kernels::gemm16_path_available(path)) continue;
    for (int t : {1, 2}) {
      SCOPED_TRACE(testing::Message()
                   << kernels::gemm16_path_name(path) << ", " << t << " threads");
      omp_set_num_threads(t);
      fn(path);
    }
  }
  omp_set_num_threads(threads);
}

TEST(Gemm16, EveryPathMatchesF64OnRoundedOperands) {
  for (const GemmCase& c : kGemmCases) {
    SCOPED_TRACE(testing::Message() << c.trans_a << c.trans_b << " " << c.M << "x" << c.N << "x"
                                    << c.K << " pad " << c.pad);
    check_gemm<BFloat16>(c, kernels::bf16_gemm_path(), false);
    for_each_bf16_path_at_1_and_2_threads(
        [&](kernels::Gemm16Path path) { check_gemm<BFloat16>(c, path, true); });
    check_gemm<Half>(c, kernels::Gemm16Path::widen, false);
  }
}

template <typename L>
void check_gemm_bias(kernels::Gemm16Path path, int threads) {
  // x (M, K) @ w (N, K)^T + b, C with padded rows; sizes ragged for every tile shape, K odd,
  // and enough work (M N K > 2^19) for the dot path to split it between threads
  const std::int64_t M = 37, N = 70, K = 233, ldc = N + 3;
  Generator gen(12);
  const Tensor x = randn({M, K}, gen).to(dtype_of<L>());
  const Tensor w = randn({N, K}, gen).to(dtype_of<L>());
  const Tensor b = randn({N}, gen);
  Tensor out = full({M * ldc}, 7.0f);
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  if constexpr (std::is_same_v<L, BFloat16>) {
    kernels::gemm_bias(false, true, M, N, K, x.data<L>(), K, w.data<L>(), K, b.data<float>(),
                       out.data<float>(), ldc, path);
  } else {  // f16 has one path: widen
    kernels::gemm_bias(false, true, M, N, K, x.data<L>(), K, w.data<L>(), K, b.data<float>(),
                       out.data<float>(), ldc);
  }
  omp_set_num_threads(before);
  const auto xv = x.to_vector(), wv = w.to_vector(), bv = b.to_vector(), ov = out.to_vector();
  for (std::int64_t i = 0; i < M; ++i) {
    for (std::int64_t j = 0; j < N; ++j) {
      double sum = bv[j], magnitude = std::abs(bv[j]);
      for (std::int64_t k = 0; k < K; ++k) {
        sum += xv[i * K + k] * wv[j * K + k];
        magnitude += std::abs(xv[i * K + k] * wv[j * K + k]);
      }
      ASSERT_NEAR(ov[i * ldc + j], sum, 1e-5 * magnitude + 1e-6) << i << ", " << j;
    }
    for (std::int64_t j = N; j < ldc; ++j) ASSERT_EQ(ov[i * ldc + j], 7.0f);
  }
}

TEST(Gemm16, BiasIsAddedToEveryRowOnEveryPath) {
  for (const auto path :
       {kernels::Gemm16Path::native, kernels::Gemm16Path::dot, kernels::Gemm16Path::widen}) {
    if (!kernels::gemm16_path_available(path)) continue;
    for (int threads : {1, 2}) {
      SCOPED_TRACE(testing::Message()
                   << kernels::gemm16_path_name(path) << ", " << threads << " threads");
      check_gemm_bias<BFloat16>(path, threads);
    }
  }
  check_gemm_bias<Half>(kernels::Gemm16Path::widen, 2);
  float c = 0;
  const BFloat16 one(1.0f);
  EXPECT_THROW(kernels::gemm_bias(false, true, 1, 1, 1, &one, 1, &one, 1, nullptr, &c, 1), Error);
}

TEST(Gemm16, ABatchGivesWhatItsGemmsGiveOneByOne) {
  // a linear layer's dX and dW, and a forward with a bias: the split between threads crosses
  // from one GEMM to the next; every tile sums in the same order however the work is split,
  // so the dot path's batch is bit-identical to its single calls
  Generator gen(13);
  const std::int64_t rows = 96, in = 200, out = 75;
  const Tensor dy = randn({rows, out}, gen).to(DType::bf16);
  const Tensor w = randn({out, in}, gen).to(DType::bf16);
  const Tensor x = randn({rows, in}, gen).to(DType::bf16);
  const Tensor bias = randn({out}, gen);
  const Tensor gw0 = randn({out, in}, gen);
  auto run = [&](bool batch, kernels::Gemm16Path path) {
    Tensor gx = full({rows, in}, 3.0f), gw = gw0.clone(), y = full({rows, out}, 5.0f);
    const std::array<kernels::GemmBf16, 3> gemms = {{
        {false, false, rows, in, out, 1.0f, dy.data<BFloat16>(), out, w.data<BFloat16>(), in, 0.0f,
         gx.data<float>(), in},
        {true, false, out, in, rows, 0.5f, dy.data<BFloat16>(), out, x.data<BFloat16>(), in, 1.0f,
         gw.data<float>(), in},
        {false, true, rows, out, in, 1.0f, x.data<BFloat16>(), in, w.data<BFloat16>(), in, 0.0f,
         y.data<float>(), out, bias.data<float>()},
    }};
    if (batch) {
      kernels::gemm(gemms, path);
    } else {
      for (const kernels::GemmBf16& g : gemms) kernels::gemm(std::span(&g, 1), path);
    }
    return std::array<std::vector<double>, 3>{gx.to_vector(), gw.to_vector(), y.to_vector()};
  };
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto reference = run(false, kernels::Gemm16Path::widen);
  omp_set_num_threads(threads);
  for_each_bf16_path_at_1_and_2_threads([&](kernels::Gemm16Path path) {
    const auto one_by_one = run(false, path);
    const auto together = run(true, path);
    for (std::size_t k = 0; k < 3; ++k) {
      ASSERT_EQ(together[k].size(), reference[k].size());
      for (std::size_t i = 0; i < together[k].size(); ++i) {
        if (path == kernels::Gemm16Path::dot) {
          ASSERT_EQ(together[k][i], one_by_one[k][i]);
        }
        ASSERT_NEAR(together[k][i], reference[k][i], 1e-4 * (1 + std::abs(reference[k][i])))
            << "GEMM " << k << " element " << i;
      }
    }
  });
}

// relu and the bf16 copy of C (GemmBf16's relu and C_low; ops::linear_relu_mixed's store):
// C = max(x W^T + b, 0) on every path, and C_low is C rounded, exactly as convert() rounds it.
TEST(Gemm16, ReluAndTheBf16CopyOfCOnEveryPath) {
  Generator gen(17);
  const std::int64_t rows = 45, in = 70, out = 37;
  const Tensor x = randn({rows, in}, gen);
  const Tensor w = randn({out, in}, gen);
  const Tensor bias = randn({out}, gen);
  // the batch form of L's GEMM, on `path` for bf16: without, then with relu and C_low
  auto check = [&]<typename L>(auto run) {
    const Tensor xl = x.to(dtype_of<L>()), wl = w.to(dtype_of<L>());
    Tensor y = full({rows, out}, 5.0f), y_low = empty({rows, out}, DType::bf16);
    Tensor plain = full({rows, out}, 5.0f);
    kernels::GemmOf<L> g = kernels::linear_forward_gemm(xl.data<L>(), wl.data<L>(), rows, out, in,
                                                        bias.data<float>(), plain.data<float>());
    run(std::span<const kernels::GemmOf<L>>(&g, 1));
    g.C = y.data<float>();
    g.relu = true;
    g.C_low = y_low.data<BFloat16>();
    run(std::span<const kernels::GemmOf<L>>(&g, 1));
    const Tensor expected_low = y.to(DType::bf16);
    std::int64_t zeros = 0;
    for (std::int64_t i = 0; i < rows * out; ++i) {
      ASSERT_EQ(y.data<float>()[i], std::max(plain.data<float>()[i], 0.0f)) << i;
      ASSERT_EQ(y_low.data<BFloat16>()[i].bits, expected_low.data<BFloat16>()[i].bits) << i;
      zeros += y.data<float>()[i] == 0.0f;
    }
    EXPECT_GT(zeros, rows * out / 4);
  };
  for_each_bf16_path_at_1_and_2_threads([&](kernels::Gemm16Path path) {
    check.operator()<BFloat16>(
        [path](std::span<const kernels::GemmBf16> g) { kernels::gemm(g, path); });
  });
  SCOPED_TRACE("f16");
  check.operator()<Half>([](std::span<const kernels::GemmOf<Half>> g) { kernels::gemm(g); });
}

// A leading dimension shorter than the stored row it steps over would read and write the
// wrong elements: every GEMM entry point refuses it, naming the argument, before touching C.
TEST(Gemm16, ShortLeadingDimensionsAreRefused) {
  std::vector<BFloat16> a16(64, BFloat16(1.0f)), b16(64, BFloat16(1.0f));
  std::vector<Half> ah(64, Half(1.0f)), bh(64, Half(1.0f));
  std::vector<float> a32(64, 1.0f), b32(64, 1.0f), c(64, 7.0f), bias(8, 0.0f);
  auto message = [](auto call) {
    try {
      call();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // A (4, 6) stored with lda 5; A^T stored (6, 4) with lda 3; B (6, 4) with ldb 3; C ldc 3
  for (const auto path :
       {kernels::Gemm16Path::native, kernels::Gemm16Path::dot, kernels::Gemm16Path::widen}) {
    if (!kernels::gemm16_path_available(path)) continue;
    SCOPED_TRACE(kernels::gemm16_path_name(path));
    EXPECT_NE(message([&] {
                kernels::gemm(false, false, 4, 4, 6, 1.0f, a16.data(), 5, b16.data(), 4, 0.0f,
                              c.data(), 4, path);
              }).find("lda 5"),
              std::string::npos);
    EXPECT_NE(message([&] {
                kernels::gemm(true, false, 4, 4, 6, 1.0f, a16.data(), 3, b16.data(), 4, 0.0f,
                              c.data(), 4, path);
              }).find("lda 3"),
              std::string::npos);
    EXPECT_NE(message([&] {
                kernels::gemm(false, false, 4, 4, 6, 1.0f, a16.data(), 6, b16.data(), 3, 0.0f,
                              c.data(), 4, path);
              }).find("ldb 3"),
              std::string::npos);
    EXPECT_NE(message([&] {
                kernels::gemm_bias(false, true, 4, 4, 6, a16.data(), 6, b16.data(), 6, bias.data(),
                                   c.data(), 3, path);
              }).find("ldc 3"),
              std::string::npos);
    const kernels::GemmBf16 g{false, true,       4, 4,    6,        1.0f, a16.data(),
                              6,     b16.data(), 5, 0.0f, c.data(), 4};
    EXPECT_NE(message([&] { kernels::gemm(std::span(&g, 1), path); }).find("ldb 5"),
              std::string::npos);
  }
  EXPECT_NE(message([&] {
              kernels::gemm(false, false, 4, 4, 6, 1.0f, ah.data(), 5, bh.data(), 4, 0.0f, c.data(),
                            4);
            }).find("lda 5"),
            std::string::npos);
  EXPECT_NE(message([&] {
              kernels::gemm(false, false, 4, 4, 6, 1.0f, a32.data(), 5, b32.data(), 4, 0.0f,
                            c.data(), 4);
            }).find("lda 5"),
            std::string::npos);
  EXPECT_EQ(c, std::vector<float>(64, 7.0f));  // nothing written
}

TEST(Gemm16, NativeBf16IsUsedWhereTheCpuHasIt) {
  // oneDNN's native bf16 matmul exists wherever AVX-512 does; descent's kernel where
  // AVX-512-BF16 does, and then it is the default
  EXPECT_EQ(kernels::gemm16_path_available(kernels::Gemm16Path::native),
            cpu_half_isa() >= HalfIsa::avx512);
  EXPECT_EQ(kernels::gemm16_path_available(kernels::Gemm16Path::dot),
            cpu_half_isa() >= HalfIsa::avx512_bf16);
  EXPECT_TRUE(kernels::gemm16_path_available(kernels::Gemm16Path::widen));
  EXPECT_EQ(kernels::bf16_gemm_path(),
            cpu_half_isa() >= HalfIsa::avx512_bf16 ? kernels::Gemm16Path::dot
            : cpu_half_isa() >= HalfIsa::avx512    ? kernels::Gemm16Path::native
                                                   : kernels::Gemm16Path::widen);
  for (const auto path : {kernels::Gemm16Path::native, kernels::Gemm16Path::dot}) {
    if (!kernels::gemm16_path_available(path)) {
      EXPECT_THROW(
          kernels::gemm(false, false, 1, 1, 1, 1.0f, static_cast<const BFloat16*>(nullptr), 1,
                        static_cast<const BFloat16*>(nullptr), 1, 0.0f, nullptr, 1, path),
          Error);
    }
  }
  float c = 0;
  const BFloat16 one(1.0f);
  EXPECT_THROW(kernels::gemm(false, false, -1, 1, 1, 1.0f, &one, 1, &one, 1, 0.0f, &c, 1), Error);
}

// ---- ops::linear_mixed and ops::matmul_mixed ----

// The bias gradient comes from the same pass that rounds dy; it is sum_to's column sums,
// bit for bit, over several column blocks split between threads, counting on or off.
TEST(Autocast, LinearBiasGradientIsTheColumnSumOfItsGradient) {
  for (DType compute : {DType::bf16, DType::f16}) {
    for (bool counting : {false, true}) {
      SCOPED_TRACE(testing::Message() << dtype_name(compute) << " counting " << counting);
      Generator gen(23);
      const Tensor x = randn({96, 40}, gen);
      Tensor w = randn({150, 40}, gen).set_requires_grad(true);
      Tensor b = randn({150}, gen).set_requires_grad(true);
      const Tensor upstream = randn({96, 150}, gen);
      ops::count_gradient_rounding(counting);
      ops::linear_mixed(x, w, b, compute).backward(upstream);
      ops::count_gradient_rounding(false);
      EXPECT_EQ(b.grad().to_vector(), ops::sum_to(upstream, {150}).to_vector());
      EXPECT_TRUE(w.grad().defined());
    }
  }
  ops::reset_gradient_rounding_counts();
}

TEST(Autocast, LinearForwardAndBackwardAreF32OpsOnRoundedOperands) {
  for (DType compute : {DType::bf16, DType::f16}) {
    for (bool given_low : {false, true}) {
      for (bool with_bias : {false, true}) {
        SCOPED_TRACE(testing::Message() << dtype_name(compute) << " weight_low " << given_low
                                        << " bias " << with_bias);
        Generator gen(21);
        Tensor x = randn({2, 3, 40}, gen).set_requires_grad(true);  // (..., in)
        Tensor w = randn({24, 40}, gen).set_requires_grad(true);    // (out, in)
        Tensor b = with_bias ? randn({24}, gen).set_requires_grad(true) : Tensor();
        Tensor upstream = randn({2, 3, 24}, gen);
        const Tensor w_low = given_low ? w.to(compute) : Tensor();
        Tensor y = ops::linear_mixed(x, w, b, compute, w_low);
        ASSERT_EQ(y.dtype(), DType::f32);
        y.backward(upstream);

        // reference: f32 ops on the rounded x, w and dy
        const Tensor xr = round_trip(x, compute), wr = round_trip(w, compute);
        const Tensor dyr = round_trip(upstream, compute).view_of(0, {6, 24});
        Tensor y_ref = ops::linear(xr, wr, with_bias ? b.detach() : Tensor());
        expect_close(y, y_ref, 1e-5, "y");
        expect_close(x.grad(), ops::matmul(dyr, wr).view_of(0, {2, 3, 40}), 1e-5, "dx");
        // dW = dy^T x
        Tensor dw_ref = zeros({24, 40});
        kernels::gemm(true, false, 24, 40, 6, 1.0f, dyr.data<float>(), 24,
                      xr.view_of(0, {6, 40}).data<float>(), 40, 0.0f, dw_ref.data<float>(), 40);
        expect_close(w.grad(), dw_ref, 1e-5, "dW");
        if (with_bias) {
          // db in f32 from the unrounded upstream gradient
          expect_close(b.grad(), ops::sum_to(upstream.view_of(0, {6, 24}), {24}), 1e-6, "db");
        }
      }
    }
  }
}

TEST(Autocast, MatmulForwardAndBackward) {
  for (DType compute : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(compute));
    Generator gen(22);
    Tensor a = randn({9, 31}, gen).set_requires_grad(true);
    Tensor b = randn({31, 12}, gen).set_requires_grad(true);
    Tensor upstream = randn({9, 12}, gen);
    Tensor y = ops::matmul_mixed(a, b, compute);
    y.backward(upstream);
    const Tensor ar = round_trip(a, compute), br = round_trip(b, compute);
    const Tensor dyr = round_trip(upstream, compute);
    expect_close(y, ops::matmul(ar, br), 1e-5, "y");
    Tensor da = zeros({9, 31}), db = zeros({31, 12});
    kernels::gemm(false, true, 9, 31, 12, 1.0f, dyr.data<float>(), 12, br.data<float>(), 12, 0.0f,
                  da.data<float>(), 31);
    kernels::gemm(true, false, 31, 12, 9, 1.0f, ar.data<float>(), 31, dyr.data<float>(), 12, 0.0f,
                  db.data<float>(), 12);
    expect_close(a.grad(), da, 1e-5, "da");
    expect_close(b.grad(), db, 1e-5, "db");
  }
  // f32 is ops::matmul
  Tensor a = tensor({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(ops::matmul_mixed(a, a, DType::f32).to_vector(), ops::matmul(a, a).to_vector());
}

// The point of loss scaling (Micikevicius et al. 2018, figure 3): fp16 gradients below 2^-24
// become zero, and scaling the loss by 2^16 brings them back; too large a scale overflows
// to Inf, which the scaler finds.
TEST(Autocast, Fp16GradientsUnderflowWithoutScalingAndOverflowWithTooMuch) {
  Tensor x = full({4, 8}, 1.0);
  Tensor w = full({2, 8}, 0.5).set_requires_grad(true);
  const double tiny = 1e-8;  // below fp16's smallest subnormal, 2^-24 = 6e-8
  auto dw = [&](double loss_scale, DType compute) {
    w.set_grad(Tensor());
    ops::linear_mixed(x, w, Tensor(), compute).backward(full({4, 2}, tiny * loss_scale));
    return w.grad().to_vector()[0];
  };
  EXPECT_EQ(dw(1.0, DType::f16), 0.0);                           // underflow: the signal is lost
  EXPECT_NEAR(dw(1.0, DType::bf16), 4 * tiny, 4 * tiny * 1e-2);  // bf16 has f32's range
  EXPECT_NEAR(dw(65536.0, DType::f16) / 65536.0, 4 * tiny, 4 * tiny * 1e-2);  // scaled: kept
  EXPECT_TRUE(std::isinf(dw(1e13, DType::f16)));  // 1e5 per element: Inf in fp16

  // the scaler sees that Inf and skips
  optim::SGD opt({w}, {.lr = 0.1});
  GradScaler scaler;
  EXPECT_FALSE(scaler.step(opt));
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 32768.0);
  EXPECT_EQ(w.to_vector()[0], 0.5);
}

// ---- policy and master weights ----

TEST(Policy, ParseNamesAndOptions) {
  for (const char* name : {"fp32", "bf16", "fp16"}) {
    EXPECT_EQ(precision_name(parse_precision(name)), name);
  }
  EXPECT_EQ(PrecisionPolicy{Precision::fp32}.compute_dtype(), DType::f32);
  EXPECT_EQ(PrecisionPolicy{Precision::bf16}.compute_dtype(), DType::bf16);
  EXPECT_EQ(PrecisionPolicy{Precision::fp16}.compute_dtype(), DType::f16);
  EXPECT_FALSE(PrecisionPolicy{Precision::fp32}.is_low_precision());
  EXPECT_FALSE(PrecisionPolicy{Precision::bf16}.scaler_options().enabled);
  EXPECT_TRUE(PrecisionPolicy{Precision::fp16}.scaler_options().enabled);
  EXPECT_EQ(PrecisionPolicy{Precision::fp16}.scaler_options().init_scale, 65536.0);
  try {
    parse_precision("fp8");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "precision: expected fp32, bf16 or fp16, got 'fp8'");
  }
}

TEST(Policy, MasterWeightsRefreshAndViews) {
  Generator gen(4);
  Tensor master = randn({100}, gen);
  for (DType compute : {DType::bf16, DType::f16}) {
    MasterWeights low(master, compute);
    EXPECT_EQ(low.copy().dtype(), compute);
    EXPECT_EQ(low.copy().to_vector(), master.to(compute).to_vector());
    master.view_of(10, {5}).fill_(3.0);
    EXPECT_NE(low.view(10, {5}).to_vector()[0], 3.0);  // stale until refreshed
    low.refresh();
    EXPECT_EQ(low.view(10, {5}).to_vector(), (std::vector<double>(5, 3.0)));
    EXPECT_EQ(low.view(20, {2, 3}).shape(), (Shape{2, 3}));
    EXPECT_TRUE(low.view(20, {2, 3}).same_storage(low.copy()));
    normal_(master, 0.0, 1.0, gen);
  }
  EXPECT_THROW(MasterWeights(master.to(DType::f64), DType::bf16), Error);
  EXPECT_THROW(MasterWeights(master, DType::f32), Error);
  EXPECT_THROW(MasterWeights(Tensor(), DType::bf16), Error);
}

// The optimizer's own rounding pass (write_low_copy) leaves the copy exactly as refresh()
// after the step would: one-pass rules and a two-pass one (LAMB), parameters below and above
// the parallel threshold and the 2048-value block, bf16 and f16; a parameter outside the
// master buffer is not written.
TEST(Policy, TheOptimizerWritesTheCopyAsRefreshWould) {
  for (DType compute : {DType::bf16, DType::f16}) {
    for (int which = 0; which < 3; ++which) {
      SCOPED_TRACE(testing::Message() << dtype_name(compute) << " optimizer " << which);
      Generator gen(5);
      const std::int64_t big = 3 * kParallelElements + 2049, small = 77;
      Tensor master = randn({big + small}, gen);
      std::vector<Tensor> params = {master.view_of(0, {big}), master.view_of(big, {small}),
                                    randn({9}, gen)};  // the last one lies outside master
      for (Tensor& p : params) {
        p.set_requires_grad(true);
        p.set_grad(randn(p.shape(), gen));
      }
      std::unique_ptr<optim::Optimizer> opt;
      if (which == 0) opt = std::make_unique<optim::SGD>(params, optim::SGDOptions{0.1, 0.9});
      if (which == 1) opt = std::make_unique<optim::Adam>(params, optim::AdamOptions{0.01});
      if (which == 2) opt = std::make_unique<optim::LAMB>(params, optim::LAMBOptions{0.01});
      MasterWeights low(master, compute);
      EXPECT_FALSE(opt->writes_low_copy());
      opt->write_low_copy(master, low.copy());
      EXPECT_TRUE(opt->writes_low_copy());
      const std::vector<double> outside_before = params[2].to_vector();
      for (int step = 0; step < 3; ++step) {
        opt->step();
        EXPECT_EQ(low.copy().to_vector(), master.to(compute).to_vector()) << "step " << step;
      }
      EXPECT_NE(params[2].to_vector(), outside_before);  // stepped, and no copy to write
      opt->write_low_copy(Tensor(), Tensor());
      EXPECT_FALSE(opt->writes_low_copy());
      opt->step();
      EXPECT_NE(low.copy().to_vector(), master.to(compute).to_vector());  // stale again
      EXPECT_THROW(opt->write_low_copy(master, master), Error);
      EXPECT_THROW(opt->write_low_copy(master, low.copy().view_of(0, {big})), Error);
      EXPECT_THROW(opt->write_low_copy(master.to(DType::f64), low.copy()), Error);
    }
  }
}

// A linear regression y = x w*^T + b* trained with the policy's recipe: the 16-bit runs
// reach the f32 run's loss, and a run switched from bf16 to fp16 halfway (a checkpoint
// resumed in another precision: the master weights are f32) carries on.
double train(std::vector<Precision> schedule, int steps_each) {
  Generator gen(8);
  Tensor x = randn({64, 16}, gen);
  Tensor w_true = randn({4, 16}, gen);
  const Tensor target = ops::linear(x, w_true, Tensor()).detach();  // (N, 4)
  Tensor weight = zeros({4, 16}).set_requires_grad(true);
  Tensor bias = zeros({4}).set_requires_grad(true);
  weight.set_grad(zeros({4, 16}));
  bias.set_grad(zeros({4}));
  optim::SGD opt({weight, bias}, {.lr = 2.0, .momentum = 0.5});
  double loss_value = 0;
  for (Precision precision : schedule) {
    const PrecisionPolicy policy{precision};
    GradScaler scaler(policy.scaler_options());
    std::optional<MasterWeights> low;
    if (policy.is_low_precision()) low.emplace(weight.detach(), policy.compute_dtype());
    for (int step = 0; step < steps_each; ++step) {
      opt.zero_grad();
      Tensor y =
          ops::linear_mixed(x, weight, bias, policy.compute_dtype(), low ? low->copy() : Tensor());
      Tensor loss = ops::mse_loss(y, target);
      loss_value = loss.item();
      scaler.scale(loss).backward();
      scaler.step(opt);
      scaler.update();
      if (low) low->refresh();
    }
  }
  return loss_value;
}

TEST(Policy, TrainingReachesTheF32LossInEveryPrecision) {
  const double fp32 = train({Precision::fp32}, 60);
  const double bf16 = train({Precision::bf16}, 60);
  const double fp16 = train({Precision::fp16}, 60);
  const double switched = train({Precision::bf16, Precision::fp16}, 30);
  std::printf("final loss: fp32 %.3g, bf16 %.3g, fp16 %.3g, bf16 then fp16 %.3g\n", fp32, bf16,
              fp16, switched);
  EXPECT_LT(fp32, 1e-8);
  // the floor is the rounding of x and w: bf16 keeps 8 bits, fp16 11
  EXPECT_LT(bf16, 1e-3);
  EXPECT_LT(fp16, 1e-4);
  EXPECT_LT(switched, 1e-4);
}

// ---- bad input ----

TEST(Autocast, BadInputThrows) {
  Tensor x = zeros({3, 8});
  Tensor w = zeros({4, 8});
  Tensor b = zeros({4});
  EXPECT_THROW(ops::linear_mixed(x, w, b, DType::i32), Error);
  EXPECT_THROW(ops::linear_mixed(zeros({3, 7}), w, b, DType::bf16), Error);
  EXPECT_THROW(ops::linear_mixed(x.to(DType::f64), w, b, DType::bf16), Error);
  EXPECT_THROW(ops::linear_mixed(x, w.to(DType::bf16), b, DType::bf16),
               Error);  // master must be f32
  EXPECT_THROW(ops::linear_mixed(x, w, zeros({5}), DType::bf16), Error);
  EXPECT_THROW(ops::linear_mixed(x, w, b, DType::bf16, zeros({4, 8}, DType::f16)), Error);
  EXPECT_THROW(ops::linear_mixed(x, w, b, DType::bf16, zeros({8, 4}, DType::bf16)), Error);
  EXPECT_THROW(ops::linear_mixed(x, zeros({8}), b, DType::bf16), Error);
  EXPECT_THROW(ops::matmul_mixed(zeros({3, 8}), zeros({7, 2}), DType::f16), Error);
  EXPECT_THROW(ops::matmul_mixed(zeros({3, 8, 1}), zeros({2, 1, 2}), DType::f16), Error);
  EXPECT_THROW(ops::matmul_mixed(zeros({3, 8}, DType::i64), zeros({8, 2}), DType::f16), Error);
  try {
    ops::linear_mixed(zeros({3, 7}), w, b, DType::bf16);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linear_mixed: x (3, 7)"), std::string::npos) << e.what();
  }
  // an x already in the compute dtype is used as it is
  EXPECT_EQ(ops::linear_mixed(x.to(DType::bf16), w, b, DType::bf16).shape(), (Shape{3, 4}));
}

}  // namespace
}  // namespace descent::amp
