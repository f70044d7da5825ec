// Adadelta: steps whose units match the parameters', from two running averages.
//
// Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method" (arXiv:1212.5701). Numbers
// match PyTorch 1.13 torch.optim.Adadelta
// (https://pytorch.org/docs/1.13/generated/torch.optim.Adadelta.html, _single_tensor_adadelta).
//
//   optim::Adadelta opt(params, {.rho = 0.95, .eps = 1e-6});
//
// The step is g sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps): the ratio of RMS values makes it
// scale-free, and the paper has no learning rate; PyTorch multiplies by lr (default 1).
#pragma once

#include <cmath>

#include "descent/optim/optimizer.hpp"
#include "descent/optim/registry.hpp"

namespace descent::optim {

struct AdadeltaOptions {
  double lr = 1.0;
  double rho = 0.9;  // smoothing of both running averages
  double eps = 1e-6;
  double weight_decay = 0.0;  // L2 penalty
  bool maximize = false;

  static constexpr auto fields() {
    return std::tuple{field("lr", &AdadeltaOptions::lr), field("rho", &AdadeltaOptions::rho),
                      field("eps", &AdadeltaOptions::eps),
                      field("weight_decay", &AdadeltaOptions::weight_decay),
                      field("maximize", &AdadeltaOptions::maximize)};
  }
};

template <typename T>
struct AdadeltaRule {
  static constexpr std::array slots = {Slot{"square_avg"}, Slot{"acc_delta"}};

  T lr, rho, one_minus_rho, eps, weight_decay;
  bool maximize;

  AdadeltaRule(const AdadeltaOptions& o, const ParamState&)
      : lr(T(o.lr)),
        rho(T(o.rho)),
        one_minus_rho(T(1.0 - o.rho)),
        eps(T(o.eps)),
        weight_decay(T(o.weight_decay)),
        maximize(o.maximize) {}

  void update(T& param, T grad, T& square_avg, T& acc_delta) const {
    if (maximize) grad = -grad;
    if (weight_decay != T(0)) grad += weight_decay * param;
    // E[g^2] = rho E[g^2] + (1 - rho) g^2
    square_avg = rho * square_avg + one_minus_rho * grad * grad;
    // dx = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) g
    const T std = std::sqrt(square_avg + eps);
    const T delta = std::sqrt(acc_delta + eps) / std * grad;
    // E[dx^2] = rho E[dx^2] + (1 - rho) dx^2
    acc_delta = rho * acc_delta + one_minus_rho * delta * delta;
    param -= lr * delta;
  }
};

class Adadelta : public RuleOptimizer<Adadelta, AdadeltaOptions> {
 public:
  static constexpr const char* name = "Adadelta";
  using RuleOptimizer::RuleOptimizer;

  static void validate(const AdadeltaOptions& o) {
    check::non_negative(name, "lr", o.lr);
    check::closed_unit_interval(name, "rho", o.rho);
    check::positive(name, "eps", o.eps);
    check::non_negative(name, "weight_decay", o.weight_decay);
  }

  template <typename T, typename Fn>
  static void with_rule(const AdadeltaOptions&, Fn&& fn) {
    fn.template operator()<AdadeltaRule<T>>();
  }
};

inline const bool adadelta_registered =
    register_optimizer<Adadelta>("adadelta", "Adadelta (Zeiler 2012), unit-free steps");

}  // namespace descent::optim
