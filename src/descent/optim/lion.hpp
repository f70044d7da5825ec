// Lion: the sign of an interpolated momentum, with decoupled weight decay.
//
// Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms" (arXiv:2302.06675),
// Algorithm 2; we follow its pseudo-code line by line (not in PyTorch 1.13; the reference
// test runs that pseudo-code, written in tests/reference/record_optim.py). Defaults are the
// paper's suggestions, as in lucidrains/lion-pytorch: lr 1e-4, betas (0.9, 0.99).
//
//   optim::Lion opt(params, {.lr = 3e-5, .weight_decay = 1.0});
//
// Every coordinate moves by exactly lr (the sign), so Lion wants an lr 3-10x smaller than
// AdamW's and a weight decay 3-10x larger (the decay is lr * wd per step). It keeps one
// state array, against Adam's two. The update uses c = beta1 m + (1 - beta1) g, but the
// momentum is tracked with beta2: two different interpolations of the same two vectors.
#pragma once

#include "descent/optim/optimizer.hpp"
#include "descent/optim/registry.hpp"

namespace descent::optim {

struct LionOptions {
  double lr = 1e-4;
  Betas betas = {0.9, 0.99};
  double weight_decay = 0.0;  // decoupled, scaled by lr

  static constexpr auto fields() {
    return std::tuple{field("lr", &LionOptions::lr), field("betas", &LionOptions::betas),
                      field("weight_decay", &LionOptions::weight_decay)};
  }
};

template <typename T>
struct LionRule {
  static constexpr std::array slots = {Slot{"exp_avg"}};

  T lr, beta1, beta2, one_minus_beta1, one_minus_beta2, weight_decay;

  LionRule(const LionOptions& o, const ParamState&)
      : lr(T(o.lr)),
        beta1(T(o.betas[0])),
        beta2(T(o.betas[1])),
        one_minus_beta1(T(1.0 - o.betas[0])),
        one_minus_beta2(T(1.0 - o.betas[1])),
        weight_decay(T(o.weight_decay)) {}

  void update(T& param, T grad, T& exp_avg) const {
    // c = beta1 m + (1 - beta1) g
    const T c = beta1 * exp_avg + one_minus_beta1 * grad;
    // p = p - lr (sign(c) + wd p)
    const T sign = T(c > T(0)) - T(c < T(0));
    param -= lr * (sign + weight_decay * param);
    // m = beta2 m + (1 - beta2) g
    exp_avg = beta2 * exp_avg + one_minus_beta2 * grad;
  }
};

class Lion : public RuleOptimizer<Lion, LionOptions> {
 public:
  static constexpr const char* name = "Lion";
  using RuleOptimizer::RuleOptimizer;

  static void validate(const LionOptions& o) {
    check::non_negative(name, "lr", o.lr);
    check::betas(name, o.betas);
    check::non_negative(name, "weight_decay", o.weight_decay);
  }

  template <typename T, typename Fn>
  static void with_rule(const LionOptions&, Fn&& fn) {
    fn.template operator()<LionRule<T>>();
  }
};

inline const bool lion_registered =
    register_optimizer<Lion>("lion", "Lion (Chen et al. 2023), sign of interpolated momentum");

}  // namespace descent::optim
