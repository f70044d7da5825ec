// AdaGrad: per-coordinate step sizes from the sum of squared gradients.
//
// Duchi, Hazan & Singer 2011, "Adaptive Subgradient Methods for Online Learning and
// Stochastic Optimization" (JMLR 12). Numbers match PyTorch 1.13 torch.optim.Adagrad
// (https://pytorch.org/docs/1.13/generated/torch.optim.Adagrad.html, _single_tensor_adagrad).
//
//   optim::Adagrad opt(params, {.lr = 1e-2, .initial_accumulator_value = 0.1});
//
// The sum only grows, so the effective step only shrinks: good for sparse features,
// often too cautious for deep networks (RMSProp and Adam replace the sum by an average).
#pragma once

#include <cmath>

#include "descent/optim/optimizer.hpp"
#include "descent/optim/registry.hpp"

namespace descent::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;      // lr / (1 + (t - 1) lr_decay)
  double weight_decay = 0.0;  // L2 penalty
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
  bool maximize = false;

  static constexpr auto fields() {
    return std::tuple{
        field("lr", &AdagradOptions::lr),
        field("lr_decay", &AdagradOptions::lr_decay),
        field("weight_decay", &AdagradOptions::weight_decay),
        field("initial_accumulator_value", &AdagradOptions::initial_accumulator_value),
        field("eps", &AdagradOptions::eps),
        field("maximize", &AdagradOptions::maximize)};
  }
};

template <typename T>
struct AdagradRule {
  static constexpr std::array slots = {Slot{"sum"}};
  static double initial(const AdagradOptions& o, std::size_t) {
    return o.initial_accumulator_value;
  }

  T clr;  // decayed lr
  T weight_decay, eps;
  bool maximize;

  AdagradRule(const AdagradOptions& o, const ParamState& s)
      : clr(T(o.lr / (1.0 + double(s.step - 1) * o.lr_decay))),
        weight_decay(T(o.weight_decay)),
        eps(T(o.eps)),
        maximize(o.maximize) {}

  void update(T& param, T grad, T& sum) const {
    if (maximize) grad = -grad;
    if (weight_decay != T(0)) grad += weight_decay * param;
    // accumulate: G = G + g^2
    sum += grad * grad;
    // p = p - clr g / (sqrt(G) + eps)
    const T std = std::sqrt(sum) + eps;
    param -= clr * grad / std;
  }
};

class Adagrad : public RuleOptimizer<Adagrad, AdagradOptions> {
 public:
  static constexpr const char* name = "Adagrad";
  using RuleOptimizer::RuleOptimizer;

  static void validate(const AdagradOptions& o) {
    check::non_negative(name, "lr", o.lr);
    check::non_negative(name, "lr_decay", o.lr_decay);
    check::non_negative(name, "weight_decay", o.weight_decay);
    check::non_negative(name, "initial_accumulator_value", o.initial_accumulator_value);
    check::positive(name, "eps", o.eps);
  }

  template <typename T, typename Fn>
  static void with_rule(const AdagradOptions&, Fn&& fn) {
    fn.template operator()<AdagradRule<T>>();
  }
};

inline const bool adagrad_registered =
    register_optimizer<Adagrad>("adagrad", "AdaGrad (Duchi et al. 2011), sum of squared gradients");

}  // namespace descent::optim
