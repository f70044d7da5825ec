// RMSProp: steps scaled by a running average of squared gradients.
//
// Hinton, Srivastava & Swersky 2012, Neural Networks for Machine Learning, lecture 6e;
// the centered form after Graves 2013, "Generating Sequences With Recurrent Neural Networks"
// (arXiv:1308.0850). Numbers match PyTorch 1.13 torch.optim.RMSprop
// (https://pytorch.org/docs/1.13/generated/torch.optim.RMSprop.html, _single_tensor_rmsprop).
//
//   optim::RMSprop opt(params, {.lr = 1e-3, .alpha = 0.9, .momentum = 0.9, .centered = true});
//
// Unlike Adam there is no bias correction: with v starting at 0 the first steps are large
// (about lr / sqrt(1 - alpha)). eps is added after the square root, as in PyTorch
// (TensorFlow adds it inside).
#pragma once

#include <cmath>

#include "descent/optim/optimizer.hpp"
#include "descent/optim/registry.hpp"

namespace descent::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;  // smoothing of the squared-gradient average
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2 penalty
  double momentum = 0.0;
  bool centered = false;  // divide by the estimated variance instead of the raw second moment
  bool maximize = false;

  static constexpr auto fields() {
    return std::tuple{field("lr", &RMSpropOptions::lr),
                      field("alpha", &RMSpropOptions::alpha),
                      field("eps", &RMSpropOptions::eps),
                      field("weight_decay", &RMSpropOptions::weight_decay),
                      field("momentum", &RMSpropOptions::momentum),
                      field("centered", &RMSpropOptions::centered),
                      field("maximize", &RMSpropOptions::maximize)};
  }
};

// Momentum and Centered each keep one more state array.
template <typename T, bool Momentum, bool Centered>
struct RMSpropRule {
  static constexpr std::array slots = {Slot{"square_avg"}, Slot{"momentum_buffer", Momentum},
                                       Slot{"grad_avg", Centered}};

  T lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
  bool maximize;

  RMSpropRule(const RMSpropOptions& o, const ParamState&)
      : lr(T(o.lr)),
        alpha(T(o.alpha)),
        one_minus_alpha(T(1.0 - o.alpha)),
        eps(T(o.eps)),
        weight_decay(T(o.weight_decay)),
        momentum(T(o.momentum)),
        maximize(o.maximize) {}

  void update(T& param, T grad, T& square_avg, T& momentum_buffer, T& grad_avg) const {
    if (maximize) grad = -grad;
    if (weight_decay != T(0)) grad += weight_decay * param;
    // v = alpha v + (1 - alpha) g^2
    square_avg = alpha * square_avg + one_minus_alpha * grad * grad;
    T avg;
    if constexpr (Centered) {
      // centered: subtract the squared mean gradient, g_avg = alpha g_avg + (1 - alpha) g
      grad_avg = alpha * grad_avg + one_minus_alpha * grad;
      avg = std::sqrt(square_avg - grad_avg * grad_avg);
    } else {
      avg = std::sqrt(square_avg);
    }
    avg += eps;
    if constexpr (Momentum) {
      // b = mu b + g / (sqrt(v) + eps),  p = p - lr b
      momentum_buffer = momentum * momentum_buffer + grad / avg;
      param -= lr * momentum_buffer;
    } else {
      // p = p - lr g / (sqrt(v) + eps)
      param -= lr * grad / avg;
    }
  }
};

class RMSprop : public RuleOptimizer<RMSprop, RMSpropOptions> {
 public:
  static constexpr const char* name = "RMSprop";
  using RuleOptimizer::RuleOptimizer;

  static void validate(const RMSpropOptions& o) {
    check::non_negative(name, "lr", o.lr);
    check::closed_unit_interval(name, "alpha", o.alpha);
    check::positive(name, "eps", o.eps);
    check::non_negative(name, "weight_decay", o.weight_decay);
    check::non_negative(name, "momentum", o.momentum);
  }

  template <typename T, typename Fn>
  static void with_rule(const RMSpropOptions& o, Fn&& fn) {
    const bool momentum = o.momentum > 0;
    if (momentum && o.centered) {
      fn.template operator()<RMSpropRule<T, true, true>>();
    } else if (momentum) {
      fn.template operator()<RMSpropRule<T, true, false>>();
    } else if (o.centered) {
      fn.template operator()<RMSpropRule<T, false, true>>();
    } else {
      fn.template operator()<RMSpropRule<T, false, false>>();
    }
  }
};

inline const bool rmsprop_registered = register_optimizer<RMSprop>(
    "rmsprop", "RMSProp (Hinton 2012), optional momentum and centered variance");

}  // namespace descent::optim
