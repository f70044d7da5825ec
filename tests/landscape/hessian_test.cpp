// Hessian-vector products, top eigenvalue and trace against exact values: for linear least
// squares, L(w) = mean_i (x_i . w - y_i)^2, the Hessian is H = 2 X^T X / N, computed here
// from X; its eigenvalues come from a Jacobi eigen-solver written in this test.
#include "descent/landscape/hessian.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "descent/landscape/eval_set.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/loss.hpp"
#include "landscape_test_util.hpp"

namespace descent {
namespace {

using Matrix = std::vector<std::vector<double>>;

// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (Golub & Van Loan 8.5).
std::vector<double> jacobi_eigenvalues(Matrix a) {
  const std::size_t n = a.size();
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0;
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t q = p + 1; q < n; ++q) off += a[p][q] * a[p][q];
    if (off < 1e-30) break;
    for (std::size_t p = 0; p < n; ++p) {
      for (std::size_t q = p + 1; q < n; ++q) {
        if (a[p][q] == 0.0) continue;
        const double theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0);
        const double s = t * c;
        for (std::size_t k = 0; k < n; ++k) {  // A <- A J
          const double akp = a[k][p];
          const double akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (std::size_t k = 0; k < n; ++k) {  // A <- J^T A
          const double apk = a[p][k];
          const double aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
      }
    }
  }
  std::vector<double> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = a[i][i];
  return values;
}

// A linear least-squares problem: the model y = x . w (no bias) and its exact Hessian.
struct LeastSquares {
  static constexpr std::int64_t kN = 40;
  static constexpr std::int64_t kF = 6;
  std::shared_ptr<nn::Linear> model;
  Tensor x;  // (N, F)
  Tensor y;  // (N, 1)
  Matrix hessian;
  landscape::GradientFn gradient;

  LeastSquares(DType dtype, bool diagonal, std::uint64_t seed) {
    Generator gen(seed);
    model = std::make_shared<nn::Linear>(kF, 1, gen, nn::LinearOptions{.bias = false});
    model->to(dtype);
    nn::flatten_parameters(*model);
    x = randn({kN, kF}, gen, DType::f64);
    if (diagonal) {  // one non-zero per row: X^T X is diagonal
      double* values = x.data<double>();
      for (std::int64_t i = 0; i < kN; ++i)
        for (std::int64_t j = 0; j < kF; ++j)
          if (j != i % kF) values[i * kF + j] = 0.0;
    }
    y = randn({kN, 1}, gen, DType::f64);
    // H = 2 X^T X / N
    hessian.assign(kF, std::vector<double>(kF, 0.0));
    const double* values = x.data<double>();
    for (std::int64_t i = 0; i < kN; ++i)
      for (std::int64_t a = 0; a < kF; ++a)
        for (std::int64_t b = 0; b < kF; ++b)
          hessian[a][b] += 2.0 * values[i * kF + a] * values[i * kF + b] / kN;
    x = x.to(dtype);
    y = y.to(dtype);
    gradient = [this](nn::Module& m) {
      m.zero_grad();
      const Tensor loss = ops::mse_loss(m.forward(x), y);
      loss.backward();
      return loss.item();
    };
  }
  const Tensor& params() const { return model->flat_parameters().params; }
};

Tensor random_vector(const Tensor& like, std::uint64_t seed) {
  Generator gen(seed);
  return randn(like.shape(), gen, like.dtype());
}

TEST(Hessian, ProductMatchesTheExactHessianOfLeastSquares) {
  for (const DType dtype : {DType::f64, DType::f32}) {
    LeastSquares problem(dtype, false, 1);
    const auto before = testing::snapshot(*problem.model);
    Tensor v = zeros(problem.params().shape(), dtype);
    v.view_of(0, {LeastSquares::kF}).copy_(random_vector(zeros({LeastSquares::kF}, dtype), 2));
    const Tensor hv = landscape::hessian_vector_product(*problem.model, problem.gradient, v);
    testing::expect_bitwise_equal(before, *problem.model);
    const std::vector<double> vs = v.to(DType::f64).to_vector();
    const std::vector<double> got = hv.to(DType::f64).to_vector();
    double error = 0.0;
    double size = 0.0;
    for (std::int64_t a = 0; a < LeastSquares::kF; ++a) {
      double expected = 0.0;
      for (std::int64_t b = 0; b < LeastSquares::kF; ++b) expected += problem.hessian[a][b] * vs[b];
      error = std::max(error, std::abs(got[a] - expected));
      size = std::max(size, std::abs(expected));
    }
    // f64: rounding only (a quadratic has no truncation error); f32: eps^(2/3) ~ 2.4e-5.
    EXPECT_LT(error, (dtype == DType::f64 ? 1e-8 : 2e-3) * size) << dtype_name(dtype);
    for (std::size_t i = LeastSquares::kF; i < got.size(); ++i) EXPECT_EQ(got[i], 0.0);  // gaps
  }
}

TEST(Hessian, TopEigenvalueMatchesJacobi) {
  LeastSquares problem(DType::f64, false, 3);
  const std::vector<double> eigenvalues = jacobi_eigenvalues(problem.hessian);
  const double top = *std::max_element(eigenvalues.begin(), eigenvalues.end());
  const auto before = testing::snapshot(*problem.model);
  const landscape::EigenResult result = landscape::top_hessian_eigenvalue(
      *problem.model, problem.gradient, {.max_iterations = 500, .tolerance = 1e-12});
  testing::expect_bitwise_equal(before, *problem.model);
  EXPECT_TRUE(result.converged);
  EXPECT_LT(result.iterations, 500);
  EXPECT_NEAR(result.eigenvalue, top, 1e-8 * top);
  EXPECT_GT(result.step, 0.0);
  // The eigenvector: H v = lambda v.
  const Tensor hv =
      landscape::hessian_vector_product(*problem.model, problem.gradient, result.eigenvector);
  const std::vector<double> v = result.eigenvector.to_vector();
  const std::vector<double> w = hv.to_vector();
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(w[i], top * v[i], 1e-5 * top);
  // A loose tolerance stops early, unconverged after too few iterations.
  const landscape::EigenResult short_run = landscape::top_hessian_eigenvalue(
      *problem.model, problem.gradient, {.max_iterations = 2, .tolerance = 1e-15});
  EXPECT_FALSE(short_run.converged);
  EXPECT_EQ(short_run.iterations, 2);
}

// Where negative curvature dominates (|lambda_min| > lambda_max), power iteration would find
// lambda_min; the top eigenvalue must still be lambda_max, and the smallest lambda_min. The
// objective is least squares minus (s / 2) ||w||^2: Hessian 2 X^T X / N - s I, eigenvalues
// shifted down by s.
TEST(Hessian, TopEigenvalueIsTheLargestWhereNegativeCurvatureDominates) {
  LeastSquares problem(DType::f64, false, 3);
  const std::vector<double> eigenvalues = jacobi_eigenvalues(problem.hessian);
  const double low = *std::min_element(eigenvalues.begin(), eigenvalues.end());
  const double high = *std::max_element(eigenvalues.begin(), eigenvalues.end());
  ASSERT_GT(high - low, 0.1 * high);
  // s = low + 0.75 (high - low): lambda_max = 0.25 spread, lambda_min = -0.75 spread. And
  // s = high + spread: every eigenvalue negative, lambda_max = -spread.
  for (const double s : {low + 0.75 * (high - low), high + (high - low)}) {
    SCOPED_TRACE(s);
    const landscape::GradientFn shifted = [&problem, s](nn::Module& m) {
      const double loss = problem.gradient(m);
      const std::vector<double> w = m.flat_parameters().params.to_vector();
      double* g = m.flat_parameters().grads.data<double>();
      double norm2 = 0.0;
      for (std::size_t i = 0; i < w.size(); ++i) {
        g[i] -= s * w[i];
        norm2 += w[i] * w[i];
      }
      return loss - 0.5 * s * norm2;
    };
    const auto before = testing::snapshot(*problem.model);
    const landscape::EigenResult result = landscape::top_hessian_eigenvalue(
        *problem.model, shifted, {.max_iterations = 50, .tolerance = 1e-10});
    testing::expect_bitwise_equal(before, *problem.model);
    EXPECT_TRUE(result.converged);
    EXPECT_NEAR(result.eigenvalue, high - s, 1e-7 * (high - low));
    EXPECT_NEAR(result.smallest, low - s, 1e-7 * (high - low));
    // its eigenvector: H v = lambda_max v
    const Tensor hv =
        landscape::hessian_vector_product(*problem.model, shifted, result.eigenvector);
    const std::vector<double> v = result.eigenvector.to_vector();
    const std::vector<double> w = hv.to_vector();
    for (std::size_t i = 0; i < v.size(); ++i) {
      EXPECT_NEAR(w[i], (high - s) * v[i], 1e-5 * (high - low));
    }
  }
}

// Lanczos against power iteration: in kF = 6 dimensions the Krylov space of 6 products is the
// whole space, so Lanczos is exact (to the products' rounding) after at most 6 (and stops at
// the 7th, or sooner); power iteration (written here, exact products) converges at the rate
// lambda_2 / lambda_1 and still misses by more than 1e-6 after 6.
TEST(Hessian, LanczosConvergesInAtMostTheDimensionsProducts) {
  LeastSquares problem(DType::f64, false, 8);
  const std::vector<double> eigenvalues = jacobi_eigenvalues(problem.hessian);
  const double top = *std::max_element(eigenvalues.begin(), eigenvalues.end());
  const landscape::EigenResult result = landscape::top_hessian_eigenvalue(
      *problem.model, problem.gradient, {.max_iterations = 100, .tolerance = 1e-12});
  EXPECT_TRUE(result.converged);
  EXPECT_LE(result.iterations, LeastSquares::kF + 1);
  EXPECT_NEAR(result.eigenvalue, top, 1e-8 * top);
  // power iteration from a vector of ones, 6 products
  std::vector<double> v(LeastSquares::kF, 1.0 / std::sqrt(double(LeastSquares::kF)));
  double lambda = 0.0;
  for (int k = 0; k < LeastSquares::kF; ++k) {
    std::vector<double> hv(LeastSquares::kF, 0.0);
    for (std::size_t a = 0; a < hv.size(); ++a)
      for (std::size_t b = 0; b < hv.size(); ++b) hv[a] += problem.hessian[a][b] * v[b];
    double norm = 0.0;
    lambda = 0.0;
    for (std::size_t a = 0; a < hv.size(); ++a) {
      lambda += v[a] * hv[a];
      norm += hv[a] * hv[a];
    }
    for (std::size_t a = 0; a < hv.size(); ++a) v[a] = hv[a] / std::sqrt(norm);
  }
  EXPECT_GT(std::abs(lambda - top), 1e-6 * top);
}

TEST(Hessian, TraceIsExactForADiagonalHessian) {
  LeastSquares problem(DType::f64, true, 4);
  double exact = 0.0;
  for (std::int64_t a = 0; a < LeastSquares::kF; ++a) exact += problem.hessian[a][a];
  ASSERT_EQ(problem.hessian[0][1], 0.0);
  const landscape::TraceResult result =
      landscape::hessian_trace(*problem.model, problem.gradient, {.samples = 3, .seed = 5});
  EXPECT_NEAR(result.trace, exact, 1e-8 * exact);  // z_i^2 = 1: every sample is exact
  EXPECT_LT(result.standard_error, 1e-8 * exact);
  EXPECT_EQ(result.samples, 3);
}

TEST(Hessian, TraceEstimateIsWithinItsStandardError) {
  LeastSquares problem(DType::f64, false, 6);
  double exact = 0.0;
  for (std::int64_t a = 0; a < LeastSquares::kF; ++a) exact += problem.hessian[a][a];
  const landscape::TraceResult result =
      landscape::hessian_trace(*problem.model, problem.gradient, {.samples = 400, .seed = 7});
  EXPECT_GT(result.standard_error, 0.0);
  EXPECT_LT(result.standard_error, 0.2 * exact);
  EXPECT_NEAR(result.trace, exact, 4.0 * result.standard_error);
  // Seeded: the same estimate again.
  const landscape::TraceResult again =
      landscape::hessian_trace(*problem.model, problem.gradient, {.samples = 400, .seed = 7});
  EXPECT_EQ(again.trace, result.trace);
}

// On a nonlinear network (f64, tanh): the subset's gradient is the derivative of its loss,
// and the finite-difference Hessian is symmetric.
TEST(Hessian, NetworkGradientAndSymmetry) {
  auto model = testing::zoo_model("mlp:2-8-3,act=tanh", 1, DType::f64);
  const data::TensorDataset data = testing::blobs(30);
  const landscape::EvalSet subset(data, {.batch_size = 12});
  const landscape::GradientFn gradient = [&](nn::Module& m) { return subset.gradient(m); };
  const Tensor params = model->flat_parameters().params.detach();
  const Tensor theta0 = params.clone();
  const Tensor u = random_vector(params, 1);
  const Tensor v = random_vector(params, 2);
  // d/dt L(theta + t v) at 0 against g . v
  subset.gradient(*model);
  const std::vector<double> g = model->flat_parameters().grads.to_vector();
  const std::vector<double> vs = v.to_vector();
  const std::vector<double> us = u.to_vector();
  double directional = 0.0;
  for (std::size_t i = 0; i < g.size(); ++i) directional += g[i] * vs[i];
  const double t = 1e-6;
  Tensor moved = params;
  moved.copy_(ops::add(theta0, ops::mul(v, t)));
  const double plus = subset.evaluate(*model).loss;
  moved.copy_(ops::sub(theta0, ops::mul(v, t)));
  const double minus = subset.evaluate(*model).loss;
  moved.copy_(theta0);
  EXPECT_NEAR((plus - minus) / (2 * t), directional, 1e-6 * (1 + std::abs(directional)));
  // u . H v == v . H u
  const std::vector<double> hv = landscape::hessian_vector_product(*model, gradient, v).to_vector();
  const std::vector<double> hu = landscape::hessian_vector_product(*model, gradient, u).to_vector();
  double u_hv = 0.0;
  double v_hu = 0.0;
  for (std::size_t i = 0; i < hv.size(); ++i) {
    u_hv += us[i] * hv[i];
    v_hu += vs[i] * hu[i];
  }
  EXPECT_NEAR(u_hv, v_hu, 1e-6 * (std::abs(u_hv) + 1e-3));
  // Halving the step changes little (the truncation error is O(h^2)).
  const std::vector<double> hv_half =
      landscape::hessian_vector_product(*model, gradient, v, landscape::default_step(*model) / 2)
          .to_vector();
  for (std::size_t i = 0; i < hv.size(); ++i) EXPECT_NEAR(hv_half[i], hv[i], 1e-6);
}

// The default step on a ReLU network (piecewise smooth): large enough for single precision's
// rounding, small enough to cross no kink: f32 at its default step agrees with f64 at a step
// 3e5 times smaller. (At step 0.03 the two differ by 0.7%.)
TEST(Hessian, DefaultStepOnAReluNetworkAgreesAcrossPrecisions) {
  const data::TensorDataset data = testing::blobs(60);
  const landscape::EvalSet subset(data, {.batch_size = 30});
  const landscape::GradientFn gradient = [&](nn::Module& m) { return subset.gradient(m); };
  auto single = testing::zoo_model("mlp:2-32-3", 4);
  auto twin = testing::zoo_model("mlp:2-32-3", 4, DType::f64);
  const landscape::HessianOptions options{.max_iterations = 200, .tolerance = 1e-7, .seed = 1};
  const landscape::EigenResult a = landscape::top_hessian_eigenvalue(*single, gradient, options);
  landscape::HessianOptions tiny = options;
  tiny.step = 1e-9;
  const landscape::EigenResult b = landscape::top_hessian_eigenvalue(*twin, gradient, tiny);
  EXPECT_TRUE(a.converged);
  EXPECT_TRUE(b.converged);
  EXPECT_NEAR(a.step, 3.45e-4, 1e-6);
  EXPECT_NEAR(landscape::default_step(*twin), 1.49e-8, 1e-10);
  EXPECT_NEAR(a.eigenvalue, b.eigenvalue, 1e-3 * std::abs(b.eigenvalue));
}

TEST(Hessian, BadInputNamesWhatIsWrong) {
  LeastSquares problem(DType::f64, false, 1);
  const auto expect_error = [](const auto& call, const std::string& part) {
    try {
      call();
      ADD_FAILURE() << "expected an Error containing '" << part << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error(
      [&] {
        landscape::hessian_vector_product(*problem.model, problem.gradient, zeros({3}, DType::f64));
      },
      cat("hessian_vector_product: expected v ", shape_str(problem.params().shape()),
          " f64 (the model's flat parameters), got (3) f64"));
  expect_error(
      [&] {
        landscape::top_hessian_eigenvalue(*problem.model, problem.gradient, {.max_iterations = 0});
      },
      "top_hessian_eigenvalue: max_iterations must be >= 1, got 0");
  expect_error([&] { landscape::hessian_trace(*problem.model, problem.gradient, {.samples = 0}); },
               "hessian_trace: samples must be >= 1, got 0");
  expect_error([&] { landscape::hessian_trace(*problem.model, problem.gradient, {.step = -1.0}); },
               "hessian_trace: step must be finite and >= 0");
  expect_error([&] { landscape::top_hessian_eigenvalue(*problem.model, nullptr); },
               "no gradient function");
}

}  // namespace
}  // namespace descent
