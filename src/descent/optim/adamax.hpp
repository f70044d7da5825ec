// Adamax: Adam with the infinity norm in place of the second moment.
//
// Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization" (arXiv:1412.6980),
// section 7.1. Numbers match PyTorch 1.13 torch.optim.Adamax
// (https://pytorch.org/docs/1.13/generated/torch.optim.Adamax.html, _single_tensor_adamax).
//
//   optim::Adamax opt(params, {.lr = 2e-3});
//
// u = max(beta2 u, |g|) needs no bias correction. PyTorch adds eps inside the max
// (max(beta2 u, |g| + eps)), not to the denominator; so do we.
#pragma once

#include <algorithm>
#include <cmath>

#include "descent/optim/optimizer.hpp"
#include "descent/optim/registry.hpp"

namespace descent::optim {

struct AdamaxOptions {
  double lr = 2e-3;
  Betas betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2 penalty
  bool maximize = false;

  static constexpr auto fields() {
    return std::tuple{field("lr", &AdamaxOptions::lr), field("betas", &AdamaxOptions::betas),
                      field("eps", &AdamaxOptions::eps),
                      field("weight_decay", &AdamaxOptions::weight_decay),
                      field("maximize", &AdamaxOptions::maximize)};
  }
};

template <typename T>
struct AdamaxRule {
  static constexpr std::array slots = {Slot{"exp_avg"}, Slot{"exp_inf"}};

  T beta1, beta2, one_minus_beta1, eps, weight_decay;
  T clr;  // lr / (1 - beta1^t)
  bool maximize;

  AdamaxRule(const AdamaxOptions& o, const ParamState& s)
      : beta1(T(o.betas[0])),
        beta2(T(o.betas[1])),
        one_minus_beta1(T(1.0 - o.betas[0])),
        eps(T(o.eps)),
        weight_decay(T(o.weight_decay)),
        clr(T(o.lr / (1.0 - std::pow(o.betas[0], double(s.step))))),
        maximize(o.maximize) {}

  void update(T& param, T grad, T& exp_avg, T& exp_inf) const {
    if (maximize) grad = -grad;
    if (weight_decay != T(0)) grad += weight_decay * param;
    // m = beta1 m + (1 - beta1) g
    exp_avg = beta1 * exp_avg + one_minus_beta1 * grad;
    // u = max(beta2 u, |g| + eps)
    exp_inf = std::max(exp_inf * beta2, std::abs(grad) + eps);
    // p = p - lr / (1 - beta1^t) m / u
    param -= clr * exp_avg / exp_inf;
  }
};

class Adamax : public RuleOptimizer<Adamax, AdamaxOptions> {
 public:
  static constexpr const char* name = "Adamax";
  using RuleOptimizer::RuleOptimizer;

  static void validate(const AdamaxOptions& o) {
    check::non_negative(name, "lr", o.lr);
    check::betas(name, o.betas);
    check::positive(name, "eps", o.eps);
    check::non_negative(name, "weight_decay", o.weight_decay);
  }

  template <typename T, typename Fn>
  static void with_rule(const AdamaxOptions&, Fn&& fn) {
    fn.template operator()<AdamaxRule<T>>();
  }
};

inline const bool adamax_registered =
    register_optimizer<Adamax>("adamax", "Adamax (Kingma & Ba 2015), infinity-norm Adam");

}  // namespace descent::optim
