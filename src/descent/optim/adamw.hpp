// AdamW: Adam with decoupled weight decay.
//
// Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization" (arXiv:1711.05101).
// Numbers match PyTorch 1.13 torch.optim.AdamW
// (https://pytorch.org/docs/1.13/generated/torch.optim.AdamW.html, _single_tensor_adamw).
//
//   optim::AdamW opt(params, {.lr = 3e-4, .betas = {0.9, 0.95}, .weight_decay = 0.1});
//
// The weights shrink directly, p = p (1 - lr wd), before the Adam step; the decay does not
// pass through the adaptive denominator, so it is NOT equivalent to Adam's L2 penalty.
// The decay is scaled by lr, so a schedule that lowers lr also lowers the decay.
#pragma once

#include "descent/optim/adam.hpp"

namespace descent::optim {

// As AdamOptions, with weight_decay 1e-2 (PyTorch's default).
struct AdamWOptions {
  double lr = 1e-3;
  Betas betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;  // decoupled
  bool amsgrad = false;
  bool maximize = false;

  static constexpr auto fields() {
    return std::tuple{field("lr", &AdamWOptions::lr),
                      field("betas", &AdamWOptions::betas),
                      field("eps", &AdamWOptions::eps),
                      field("weight_decay", &AdamWOptions::weight_decay),
                      field("amsgrad", &AdamWOptions::amsgrad),
                      field("maximize", &AdamWOptions::maximize)};
  }
};

class AdamW : public RuleOptimizer<AdamW, AdamWOptions> {
 public:
  static constexpr const char* name = "AdamW";
  using RuleOptimizer::RuleOptimizer;

  static void validate(const AdamWOptions& o) {
    check::non_negative(name, "lr", o.lr);
    check::betas(name, o.betas);
    check::positive(name, "eps", o.eps);
    check::non_negative(name, "weight_decay", o.weight_decay);
  }

  template <typename T, typename Fn>
  static void with_rule(const AdamWOptions& o, Fn&& fn) {
    if (o.amsgrad) {
      fn.template operator()<AdamRule<T, WeightDecay::decoupled, true>>();
    } else {
      fn.template operator()<AdamRule<T, WeightDecay::decoupled, false>>();
    }
  }
};

inline const bool adamw_registered =
    register_optimizer<AdamW>("adamw", "AdamW (Loshchilov & Hutter 2019), decoupled weight decay");

}  // namespace descent::optim
