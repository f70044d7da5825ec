// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay.
//
// PyTorch 1.13 torch.optim.SGD (https://pytorch.org/docs/1.13/generated/torch.optim.SGD.html,
// _single_tensor_sgd); Nesterov momentum after Sutskever et al. 2013, "On the importance of
// initialization and momentum in deep learning".
//
//   optim::SGD opt(params, {.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
//
// The subtle point: PyTorch's momentum multiplies the lr outside the buffer,
//   b = mu b + (1 - dampening) g,  p = p - lr b,
// not b = mu b + lr g, p = p - b (Sutskever); the two differ when the lr changes. The
// buffer starts as the first gradient itself (not (1 - dampening) g).
#pragma once

#include "descent/optim/optimizer.hpp"
#include "descent/optim/registry.hpp"

namespace descent::optim {

struct SGDOptions {
  double lr = 1e-3;  // PyTorch 1.13 requires lr; 1e-3 is PyTorch 2's default
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;  // L2 penalty, added to the gradient
  bool nesterov = false;
  bool maximize = false;

  static constexpr auto fields() {
    return std::tuple{field("lr", &SGDOptions::lr),
                      field("momentum", &SGDOptions::momentum),
                      field("dampening", &SGDOptions::dampening),
                      field("weight_decay", &SGDOptions::weight_decay),
                      field("nesterov", &SGDOptions::nesterov),
                      field("maximize", &SGDOptions::maximize)};
  }
};

template <typename T, bool Momentum>
struct SGDRule {
  static constexpr std::array slots = {Slot{"momentum_buffer", Momentum}};

  T lr, momentum, one_minus_dampening, weight_decay;
  bool nesterov, maximize;
  bool first;  // the buffer starts as the gradient

  SGDRule(const SGDOptions& o, const ParamState& s)
      : lr(T(o.lr)),
        momentum(T(o.momentum)),
        one_minus_dampening(T(1.0 - o.dampening)),
        weight_decay(T(o.weight_decay)),
        nesterov(o.nesterov),
        maximize(o.maximize),
        first(s.step == 1) {}

  void update(T& param, T grad, T& momentum_buffer) const {
    T d_p = maximize ? -grad : grad;
    // L2 penalty
    if (weight_decay != T(0)) d_p += weight_decay * param;
    if constexpr (Momentum) {
      // b = mu b + (1 - dampening) g
      momentum_buffer = first ? d_p : momentum * momentum_buffer + one_minus_dampening * d_p;
      // Nesterov looks ahead along the buffer: g + mu b
      d_p = nesterov ? d_p + momentum * momentum_buffer : momentum_buffer;
    }
    param -= lr * d_p;
  }
};

class SGD : public RuleOptimizer<SGD, SGDOptions> {
 public:
  static constexpr const char* name = "SGD";
  using RuleOptimizer::RuleOptimizer;

  static void validate(const SGDOptions& o) {
    check::non_negative(name, "lr", o.lr);
    check::non_negative(name, "momentum", o.momentum);
    check::non_negative(name, "weight_decay", o.weight_decay);
    DESCENT_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), name,
                  ": nesterov needs momentum > 0 and dampening = 0, got momentum ", o.momentum,
                  " and dampening ", o.dampening);
  }

  template <typename T, typename Fn>
  static void with_rule(const SGDOptions& o, Fn&& fn) {
    if (o.momentum != 0) {
      fn.template operator()<SGDRule<T, true>>();
    } else {
      fn.template operator()<SGDRule<T, false>>();
    }
  }
};

inline const bool sgd_registered =
    register_optimizer<SGD>("sgd", "SGD with momentum, Nesterov momentum and L2 weight decay");

}  // namespace descent::optim
