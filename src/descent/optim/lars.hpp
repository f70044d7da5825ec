// LARS: momentum SGD with a per-layer learning rate from the weight and gradient norms.
//
// You, Gitman & Ginsburg 2017, "Large Batch Training of Convolutional Networks"
// (arXiv:1708.03888), Algorithm 1 with the trust coefficient eta of its equation (6); we
// follow that pseudo-code (not in PyTorch 1.13; the reference test runs it, written in
// tests/reference/record_optim.py):
//   local_lr = eta ||w|| / (||g|| + wd ||w|| + eps)   (1 where ||w|| or ||g|| is 0, as timm)
//   v = momentum v + lr local_lr (g + wd w)
//   w = w - v
// eps (not in the paper) guards the division. Defaults follow timm's Lars (lr 1, eta 1e-3)
// with the paper's momentum 0.9.
//
//   optim::LARS opt(per_parameter_views, {.lr = 2.0, .weight_decay = 5e-4});
//
// Unlike SGD here, the lr sits inside the buffer (as in the paper): a changed lr affects
// new steps only. "Layer" means one parameter tensor: pass the per-parameter views.
#pragma once

#include <cmath>

#include "descent/optim/optimizer.hpp"
#include "descent/optim/registry.hpp"

namespace descent::optim {

struct LARSOptions {
  double lr = 1.0;
  double momentum = 0.9;
  double weight_decay = 0.0;
  double trust_coefficient = 1e-3;  // eta
  double eps = 1e-8;

  static constexpr auto fields() {
    return std::tuple{field("lr", &LARSOptions::lr), field("momentum", &LARSOptions::momentum),
                      field("weight_decay", &LARSOptions::weight_decay),
                      field("trust_coefficient", &LARSOptions::trust_coefficient),
                      field("eps", &LARSOptions::eps)};
  }
};

template <typename T, bool Momentum>
struct LARSRule {
  static constexpr std::array slots = {Slot{"momentum_buffer", Momentum}};

  T lr, momentum, weight_decay;
  double trust_coefficient, eps;
  T local_lr = T(1);  // set by finish()

  LARSRule(const LARSOptions& o, const ParamState&)
      : lr(T(o.lr)),
        momentum(T(o.momentum)),
        weight_decay(T(o.weight_decay)),
        trust_coefficient(o.trust_coefficient),
        eps(o.eps) {}

  // Pass 1: sums of w^2 and g^2.
  void reduce(double& param_sq, double& grad_sq, T param, T grad, T&) const {
    param_sq += double(param) * double(param);
    grad_sq += double(grad) * double(grad);
  }

  void finish(double param_sq, double grad_sq) {
    const double param_norm = std::sqrt(param_sq);
    const double grad_norm = std::sqrt(grad_sq);
    // local lr = eta ||w|| / (||g|| + wd ||w|| + eps)
    local_lr = param_norm > 0 && grad_norm > 0
                   ? T(trust_coefficient * param_norm /
                       (grad_norm + double(weight_decay) * param_norm + eps))
                   : T(1);
  }

  // Pass 2: v = momentum v + lr local_lr (g + wd w),  w = w - v
  void update(T& param, T grad, T& momentum_buffer) const {
    const T step = lr * local_lr * (grad + weight_decay * param);
    if constexpr (Momentum) {
      momentum_buffer = momentum * momentum_buffer + step;
      param -= momentum_buffer;
    } else {
      param -= step;
    }
  }
};

class LARS : public RuleOptimizer<LARS, LARSOptions> {
 public:
  static constexpr const char* name = "LARS";
  using RuleOptimizer::RuleOptimizer;

  static void validate(const LARSOptions& o) {
    check::non_negative(name, "lr", o.lr);
    check::non_negative(name, "momentum", o.momentum);
    check::non_negative(name, "weight_decay", o.weight_decay);
    check::positive(name, "trust_coefficient", o.trust_coefficient);
    check::positive(name, "eps", o.eps);
  }

  template <typename T, typename Fn>
  static void with_rule(const LARSOptions& o, Fn&& fn) {
    if (o.momentum != 0) {
      fn.template operator()<LARSRule<T, true>>();
    } else {
      fn.template operator()<LARSRule<T, false>>();
    }
  }
};

inline const bool lars_registered =
    register_optimizer<LARS>("lars", "LARS (You et al. 2017), layer-wise lr for momentum SGD");

}  // namespace descent::optim
