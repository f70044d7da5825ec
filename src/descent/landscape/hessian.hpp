// Curvature of the loss: Hessian-vector products, the top Hessian eigenvalue (sharpness) by
// power iteration, and the Hessian trace by Hutchinson's estimator.
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
// The sum is smallest at h = (3 eps ||g|| / M)^(1/3); M being unknown, the default step is the
// standard h = eps^(1/3) * max(1, ||theta||) (Nocedal & Wright, Numerical Optimization, 2nd
// ed., section 8.1): about 4.9e-3 * max(1, ||theta||) in f32 and 6.1e-6 * max(1, ||theta||)
// in f64, leaving both terms O(eps^(2/3)) relative (~1e-5 in f32, ~1e-11 in f64). For exact
// curvature in f32 models convert them to f64 first (nn::Module::to); a ReLU network's loss
// is only piecewise smooth, and the difference then averages the curvature over the kinks
// within h of theta.
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
  double step = 0.0;  // the finite-difference h for unit vectors; 0: eps^(1/3) max(1, ||theta||)
  // Power iteration: stop when |lambda_k - lambda_{k-1}| <= tolerance * |lambda_k|, or after
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
  double eigenvalue = 0.0;  // the Rayleigh quotient v^T H v of the last unit vector
  Tensor eigenvector;       // (total,) unit norm
  std::int64_t iterations = 0;
  bool converged = false;
  double step = 0.0;  // the h used
};

// The eigenvalue of largest magnitude (at a minimum: the largest, the "sharpness") by power
// iteration from a seeded Gaussian vector: v <- H v / ||H v||, lambda = v^T H v.
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
