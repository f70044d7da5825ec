// Curvature of the loss: Hessian-vector products, the top Hessian eigenvalue (sharpness) by
// the Lanczos iteration, and the Hessian trace by Hutchinson's estimator.
//
// PyHessian (Yao, Gholami, Keutzer, Mahoney, "PyHessian: Neural Networks Through the Lens of
// the Hessian", 2020) computes the same three quantities with double backward. descent's
// autograd has no double backward (backward functions run with grad mode off, so a gradient
// carries no graph; see autograd.hpp), so the product comes from a central finite difference
// of two gradients:
//
//   H v  ~=  [ g(theta + h v) - g(theta - h v) ] / (2 h)
//
// Error bound, for a unit vector v and the error measured in the 2-norm:
//   truncation (Taylor to third order): <= h^2 / 6 * M, M = max over |t| <= h of
//       || d^3/dt^3 g(theta + t v) ||, the third derivative of the gradient along v (the
//       fourth of the loss); it vanishes for a quadratic loss;
//   rounding: each gradient carries an error of about eps * ||g|| (eps the unit roundoff of
//       the parameters' dtype, times a modest accumulation factor), which the quotient
//       divides by h: <= eps * ||g|| / h.
// For a smooth loss the sum is smallest at h = (3 eps ||g|| / M)^(1/3). But networks with
// ReLU or max-pooling are only piecewise smooth: their gradient jumps where a unit changes
// sign, M does not exist, and each kink within h of theta adds a term of size jump / h. So
// the default step is the smaller h = sqrt(eps) (for a unit v: 3.5e-4 in f32, 1.5e-8 in
// f64), which keeps the rounding term at sqrt(eps) ||g|| and crosses few kinks. Measured on
// a ReLU MLP (tests/landscape/hessian_test.cpp and a 2-class spirals model): f32 and f64
// agree to <= 1e-4 (relative) in the top eigenvalue for h in [1e-5, 2e-4], while h = 1e-3
// moved it from 1.47 to 2.57, and the smooth-case choice eps^(1/3) max(1, ||theta||) (0.035
// there) to 1.52 with a power iteration that no longer converged. What the difference then
// measures is the curvature of the loss averaged over the kinks within h (double backward
// would give the Hessian almost everywhere, which ignores them); on large ReLU networks some
// kinks are crossed at any h, so compare sharpness only at equal steps and subsets.
//
// ====== Intended usage ======
//   landscape::EvalSet subset(test_set, {.size = 512, .transforms = eval_transforms});
//   landscape::GradientFn gradient = [&](nn::Module& m) { return subset.gradient(m); };
//   auto top = landscape::top_hessian_eigenvalue(*model, gradient, {.tolerance = 1e-3});
//   auto trace = landscape::hessian_trace(*model, gradient, {.samples = 100, .seed = 0});
//
// The model's parameters are restored bit for bit afterwards; its gradients hold the last
// evaluated gradient. Vectors are (total,) in the model's flat layout, zero in the gaps.
#pragma once

#include <cstdint>
#include <functional>

#include "descent/nn/module.hpp"

namespace descent::landscape {

// Sets model.flat_parameters().grads to the gradient of the objective at the model's
// current parameters and returns the objective (EvalSet::gradient is one).
using GradientFn = std::function<double(nn::Module& model)>;

struct HessianOptions {
  double step = 0.0;  // the finite-difference h for unit vectors; 0: sqrt(eps) of the dtype
  // Lanczos: stop when |lambda_k - lambda_{k-1}| <= tolerance * |lambda_k|, or after
  // max_iterations products.
  std::int64_t max_iterations = 100;
  double tolerance = 1e-3;
  std::int64_t samples = 100;  // Hutchinson: Rademacher vectors
  std::uint64_t seed = 0;      // of the start vector and of the Rademacher vectors
};

// The default finite-difference step for the model's current parameters (see above).
double default_step(const nn::Module& model);

// H v for v (total,) in the model's flat layout and dtype (any norm; the step is scaled by
// 1 / ||v|| so that the parameters move by h). Two gradient evaluations. step 0: the default.
Tensor hessian_vector_product(nn::Module& model, const GradientFn& gradient, const Tensor& v,
                              double step = 0.0);

struct EigenResult {
  double eigenvalue = 0.0;  // lambda_max: the largest Ritz value
  Tensor eigenvector;       // (total,) unit norm: its Ritz vector
  // The smallest Ritz value: lambda_min's estimate, negative where the loss curves down along
  // some direction (a saddle). Extreme Ritz values converge alike, but only lambda_max's
  // convergence is checked.
  double smallest = 0.0;
  std::int64_t iterations = 0;  // Hessian-vector products
  bool converged = false;
  double step = 0.0;  // the h used
};

// The largest eigenvalue lambda_max (the "sharpness", as Keskar et al. 2017 and Cohen et al.
// 2021 use it) by the Lanczos iteration (Lanczos 1950; Golub & Van Loan, "Matrix
// Computations", 10.1) from a seeded Gaussian vector, with full reorthogonalization: k
// Hessian-vector products build an orthonormal basis V of the Krylov space and the
// tridiagonal T = V^T H V, whose extreme eigenvalues (found by bisection on Sturm counts)
// approach H's from inside. Power iteration (PyHessian's method) finds the eigenvalue of
// largest magnitude instead, which away from a minimum can be the most negative one, and
// converges as (lambda_2 / lambda_1)^k where Lanczos converges as the Chebyshev polynomials
// do: far fewer products for the same accuracy. Stops when lambda_max changes by <= tolerance
// relatively between iterations, when the basis spans an invariant subspace, or after
// max_iterations products. Memory: one vector of the parameters' size per iteration.
EigenResult top_hessian_eigenvalue(nn::Module& model, const GradientFn& gradient,
                                   const HessianOptions& options = {});

struct TraceResult {
  double trace = 0.0;           // mean of z^T H z
  double standard_error = 0.0;  // sample standard deviation / sqrt(samples)
  std::int64_t samples = 0;
  double step = 0.0;
};

// Hutchinson, "A stochastic estimator of the trace of the influence matrix for Laplacian
// smoothing splines", 1989: tr(H) = E[z^T H z] for z with independent +-1 entries
// (Rademacher), the minimum-variance choice; exact for a diagonal H.
TraceResult hessian_trace(nn::Module& model, const GradientFn& gradient,
                          const HessianOptions& options = {});

}  // namespace descent::landscape
