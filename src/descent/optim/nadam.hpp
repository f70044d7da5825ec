// NAdam: Adam with Nesterov momentum and a warming momentum schedule.
//
// Dozat 2016, "Incorporating Nesterov Momentum into Adam" (ICLR workshop). Numbers match
// PyTorch 1.13 torch.optim.NAdam
// (https://pytorch.org/docs/1.13/generated/torch.optim.NAdam.html) with foreach=True
// (_multi_tensor_nadam).
//
//   optim::NAdam opt(params, {.lr = 2e-3, .momentum_decay = 4e-3});
//
// The momentum coefficient warms up, mu_t = beta1 (1 - 0.5 * 0.96^(t psi)), and the first
// moment is corrected by the running product of the mu's (the scalar state mu_product),
// not by 1 - beta1^t. The look-ahead term divides by 1 - mu_product mu_{t+1}, as in the paper
// and PyTorch 1.13's foreach path; 1.13's single-tensor path (its CPU default) multiplies
// in mu_t twice there (1 - mu_product mu_t mu_{t+1}), which moves step 1 by about 1e-4 on
// the reference problem and disagrees with its own foreach path. PyTorch keeps mu_product as a
// float32 scalar tensor; we keep it in double, which moves f32 results by less than their
// rounding does.
#pragma once

#include <cmath>

#include "descent/optim/optimizer.hpp"
#include "descent/optim/registry.hpp"

namespace descent::optim {

struct NAdamOptions {
  double lr = 2e-3;
  Betas betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;     // L2 penalty
  double momentum_decay = 4e-3;  // psi

  static constexpr auto fields() {
    return std::tuple{field("lr", &NAdamOptions::lr), field("betas", &NAdamOptions::betas),
                      field("eps", &NAdamOptions::eps),
                      field("weight_decay", &NAdamOptions::weight_decay),
                      field("momentum_decay", &NAdamOptions::momentum_decay)};
  }
};

template <typename T>
struct NAdamRule {
  static constexpr std::array slots = {Slot{"exp_avg"}, Slot{"exp_avg_sq"}};
  static constexpr std::array scalars = {Scalar{"mu_product", 1.0}};

  T beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay;
  T bias_correction2;  // 1 - beta2^t
  T grad_step;         // lr (1 - mu_t) / (1 - prod_{i<=t} mu_i)
  T exp_avg_step;      // lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i)

  // Advances mu_product: once per tensor per step.
  NAdamRule(const NAdamOptions& o, ParamState& s)
      : beta1(T(o.betas[0])),
        beta2(T(o.betas[1])),
        one_minus_beta1(T(1.0 - o.betas[0])),
        one_minus_beta2(T(1.0 - o.betas[1])),
        eps(T(o.eps)),
        weight_decay(T(o.weight_decay)) {
    const double step = double(s.step);
    bias_correction2 = T(1.0 - std::pow(o.betas[1], step));
    // momentum schedule mu_t and mu_{t+1}
    const double mu = o.betas[0] * (1.0 - 0.5 * std::pow(0.96, step * o.momentum_decay));
    const double mu_next =
        o.betas[0] * (1.0 - 0.5 * std::pow(0.96, (step + 1.0) * o.momentum_decay));
    double& mu_product = s.scalars[0];
    mu_product *= mu;
    const double mu_product_next = mu_product * mu_next;
    grad_step = T(o.lr * (1.0 - mu) / (1.0 - mu_product));
    exp_avg_step = T(o.lr * mu_next / (1.0 - mu_product_next));
  }

  void update(T& param, T grad, T& exp_avg, T& exp_avg_sq) const {
    if (weight_decay != T(0)) grad += weight_decay * param;
    // m = beta1 m + (1 - beta1) g
    exp_avg = beta1 * exp_avg + one_minus_beta1 * grad;
    // v = beta2 v + (1 - beta2) g^2
    exp_avg_sq = beta2 * exp_avg_sq + one_minus_beta2 * grad * grad;
    const T denom = std::sqrt(exp_avg_sq / bias_correction2) + eps;
    // Nesterov: the current gradient's share, then the look-ahead momentum's share
    param -= grad_step * grad / denom;
    param -= exp_avg_step * exp_avg / denom;
  }
};

class NAdam : public RuleOptimizer<NAdam, NAdamOptions> {
 public:
  static constexpr const char* name = "NAdam";
  using RuleOptimizer::RuleOptimizer;

  static void validate(const NAdamOptions& o) {
    check::non_negative(name, "lr", o.lr);
    check::betas(name, o.betas);
    check::positive(name, "eps", o.eps);
    check::non_negative(name, "weight_decay", o.weight_decay);
    check::non_negative(name, "momentum_decay", o.momentum_decay);
  }

  template <typename T, typename Fn>
  static void with_rule(const NAdamOptions&, Fn&& fn) {
    fn.template operator()<NAdamRule<T>>();
  }
};

inline const bool nadam_registered =
    register_optimizer<NAdam>("nadam", "NAdam (Dozat 2016), Adam with Nesterov momentum");

}  // namespace descent::optim
