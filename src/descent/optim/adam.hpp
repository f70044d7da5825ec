// Adam, and the AMSGrad variant, with L2 weight decay.
//
// Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization" (arXiv:1412.6980);
// AMSGrad: Reddi et al. 2018, "On the Convergence of Adam and Beyond". Numbers match
// PyTorch 1.13 torch.optim.Adam (https://pytorch.org/docs/1.13/generated/torch.optim.Adam.html,
// _single_tensor_adam).
//
//   optim::Adam opt(params, {.lr = 1e-3, .betas = {0.9, 0.999}, .amsgrad = true});
//
// weight_decay here is an L2 penalty added to the gradient, which then passes through the
// adaptive scaling; AdamW (adamw.hpp) decays the weights directly, which is not the same.
// As in PyTorch, eps is added to sqrt(v_hat), after bias correction.
#pragma once

#include <algorithm>
#include <cmath>

#include "descent/optim/optimizer.hpp"
#include "descent/optim/registry.hpp"

namespace descent::optim {

struct AdamOptions {
  double lr = 1e-3;
  Betas betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2 penalty
  bool amsgrad = false;
  bool maximize = false;

  static constexpr auto fields() {
    return std::tuple{
        field("lr", &AdamOptions::lr),           field("betas", &AdamOptions::betas),
        field("eps", &AdamOptions::eps),         field("weight_decay", &AdamOptions::weight_decay),
        field("amsgrad", &AdamOptions::amsgrad), field("maximize", &AdamOptions::maximize)};
  }
};

// How weight decay enters: as an L2 term in the gradient (Adam) or as a direct shrink of
// the weights, p = p (1 - lr wd) (AdamW, Loshchilov & Hutter).
enum class WeightDecay { l2, decoupled };

// Adam's update for one element; AMSGrad keeps a third state, the running maximum of v.
// Shared by Adam and AdamW (Decay) and by both AMSGrad settings (Amsgrad).
template <typename T, WeightDecay Decay, bool Amsgrad>
struct AdamRule {
  static constexpr std::array slots = {Slot{"exp_avg"}, Slot{"exp_avg_sq"},
                                       Slot{"max_exp_avg_sq", Amsgrad}};

  T beta1, beta2, one_minus_beta1, one_minus_beta2;
  T weight_decay;           // L2 term
  T decay_factor;           // decoupled: 1 - lr wd
  T step_size;              // lr / (1 - beta1^t)
  T bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  T eps;
  bool maximize;

  template <typename Options>
  AdamRule(const Options& o, const ParamState& s)
      : beta1(T(o.betas[0])),
        beta2(T(o.betas[1])),
        one_minus_beta1(T(1.0 - o.betas[0])),
        one_minus_beta2(T(1.0 - o.betas[1])),
        weight_decay(T(o.weight_decay)),
        decay_factor(T(1.0 - o.lr * o.weight_decay)),
        step_size(T(o.lr / (1.0 - std::pow(o.betas[0], double(s.step))))),
        bias_correction2_sqrt(T(std::sqrt(1.0 - std::pow(o.betas[1], double(s.step))))),
        eps(T(o.eps)),
        maximize(o.maximize) {}

  void update(T& param, T grad, T& exp_avg, T& exp_avg_sq, T& max_exp_avg_sq) const {
    if (maximize) grad = -grad;
    if constexpr (Decay == WeightDecay::l2) {
      if (weight_decay != T(0)) grad += weight_decay * param;
    } else {
      param *= decay_factor;
    }
    // first moment: m = beta1 m + (1 - beta1) g
    exp_avg = beta1 * exp_avg + one_minus_beta1 * grad;
    // second moment: v = beta2 v + (1 - beta2) g^2
    exp_avg_sq = beta2 * exp_avg_sq + one_minus_beta2 * grad * grad;
    T second = exp_avg_sq;
    if constexpr (Amsgrad) {
      // AMSGrad: the largest v so far
      max_exp_avg_sq = std::max(max_exp_avg_sq, exp_avg_sq);
      second = max_exp_avg_sq;
    }
    // bias-corrected: p = p - lr m_hat / (sqrt(v_hat) + eps)
    const T denom = std::sqrt(second) / bias_correction2_sqrt + eps;
    param -= step_size * exp_avg / denom;
  }
};

class Adam : public RuleOptimizer<Adam, AdamOptions> {
 public:
  static constexpr const char* name = "Adam";
  using RuleOptimizer::RuleOptimizer;

  static void validate(const AdamOptions& o) {
    check::non_negative(name, "lr", o.lr);
    check::betas(name, o.betas);
    check::positive(name, "eps", o.eps);
    check::non_negative(name, "weight_decay", o.weight_decay);
  }

  template <typename T, typename Fn>
  static void with_rule(const AdamOptions& o, Fn&& fn) {
    if (o.amsgrad) {
      fn.template operator()<AdamRule<T, WeightDecay::l2, true>>();
    } else {
      fn.template operator()<AdamRule<T, WeightDecay::l2, false>>();
    }
  }
};

inline const bool adam_registered =
    register_optimizer<Adam>("adam", "Adam (Kingma & Ba 2015), L2 weight decay, AMSGrad");

}  // namespace descent::optim
