// RAdam: Adam whose adaptive step is switched on once the variance estimate is reliable.
//
// Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond"
// (arXiv:1908.03265). Numbers match PyTorch 1.13 torch.optim.RAdam
// (https://pytorch.org/docs/1.13/generated/torch.optim.RAdam.html, _single_tensor_radam).
//
//   optim::RAdam opt(params, {.lr = 1e-3});
//
// rho_t estimates how many gradients the second moment averages. While rho_t <= 5 the step
// is plain momentum SGD on the bias-corrected m (a built-in warmup); after, Adam's step
// times the rectification sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t)).
#pragma once

#include <cmath>

#include "descent/optim/optimizer.hpp"
#include "descent/optim/registry.hpp"

namespace descent::optim {

struct RAdamOptions {
  double lr = 1e-3;
  Betas betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2 penalty

  static constexpr auto fields() {
    return std::tuple{field("lr", &RAdamOptions::lr), field("betas", &RAdamOptions::betas),
                      field("eps", &RAdamOptions::eps),
                      field("weight_decay", &RAdamOptions::weight_decay)};
  }
};

template <typename T>
struct RAdamRule {
  static constexpr std::array slots = {Slot{"exp_avg"}, Slot{"exp_avg_sq"}};

  T lr, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay;
  T bias_correction1;       // 1 - beta1^t
  T bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  T rect;                   // the variance rectification term
  bool rectified;           // rho_t > 5: take the adaptive step

  RAdamRule(const RAdamOptions& o, const ParamState& s)
      : lr(T(o.lr)),
        beta1(T(o.betas[0])),
        beta2(T(o.betas[1])),
        one_minus_beta1(T(1.0 - o.betas[0])),
        one_minus_beta2(T(1.0 - o.betas[1])),
        eps(T(o.eps)),
        weight_decay(T(o.weight_decay)) {
    const double step = double(s.step);
    const double correction2 = 1.0 - std::pow(o.betas[1], step);
    bias_correction1 = T(1.0 - std::pow(o.betas[0], step));
    bias_correction2_sqrt = T(std::sqrt(correction2));
    // length of the approximated simple moving average: its limit, then its value at t
    const double rho_inf = 2.0 / (1.0 - o.betas[1]) - 1.0;
    const double rho_t = rho_inf - 2.0 * step * std::pow(o.betas[1], step) / correction2;
    rectified = rho_t > 5.0;
    rect = rectified ? T(std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                                   ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)))
                     : T(0);
  }

  void update(T& param, T grad, T& exp_avg, T& exp_avg_sq) const {
    if (weight_decay != T(0)) grad += weight_decay * param;
    // m = beta1 m + (1 - beta1) g
    exp_avg = beta1 * exp_avg + one_minus_beta1 * grad;
    // v = beta2 v + (1 - beta2) g^2
    exp_avg_sq = beta2 * exp_avg_sq + one_minus_beta2 * grad * grad;
    const T corrected_exp_avg = exp_avg / bias_correction1;
    if (rectified) {
      // adaptive step: sqrt(1 - beta2^t) / (sqrt(v) + eps), rectified
      const T adaptive_lr = bias_correction2_sqrt / (std::sqrt(exp_avg_sq) + eps);
      param -= corrected_exp_avg * lr * adaptive_lr * rect;
    } else {
      // too few gradients for a variance: momentum SGD
      param -= corrected_exp_avg * lr;
    }
  }
};

class RAdam : public RuleOptimizer<RAdam, RAdamOptions> {
 public:
  static constexpr const char* name = "RAdam";
  using RuleOptimizer::RuleOptimizer;

  static void validate(const RAdamOptions& o) {
    check::non_negative(name, "lr", o.lr);
    check::betas(name, o.betas);
    check::positive(name, "eps", o.eps);
    check::non_negative(name, "weight_decay", o.weight_decay);
  }

  template <typename T, typename Fn>
  static void with_rule(const RAdamOptions&, Fn&& fn) {
    fn.template operator()<RAdamRule<T>>();
  }
};

inline const bool radam_registered =
    register_optimizer<RAdam>("radam", "RAdam (Liu et al. 2020), rectified Adam");

}  // namespace descent::optim
