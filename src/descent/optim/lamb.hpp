// LAMB: Adam's step rescaled per layer by a trust ratio, for large batches.
//
// You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT in 76
// minutes" (arXiv:1904.00962), Algorithm 2, with phi the identity; we follow its
// pseudo-code (not in PyTorch 1.13; the reference test runs that pseudo-code, written in
// tests/reference/record_optim.py). As in common implementations (NVIDIA apex, timm), the
// trust ratio is 1 where ||x|| or ||r + wd x|| is 0.
//
//   optim::LAMB opt(per_parameter_views, {.lr = 2e-3, .weight_decay = 0.01});
//
// "Layer" means one parameter tensor: pass the per-parameter views, not the flat buffer,
// or the whole model shares one trust ratio. Each step is two passes over a tensor: the
// moments and the two norms, then the update.
#pragma once

#include <cmath>

#include "descent/optim/optimizer.hpp"
#include "descent/optim/registry.hpp"

namespace descent::optim {

struct LAMBOptions {
  double lr = 1e-3;
  Betas betas = {0.9, 0.999};
  double eps = 1e-6;
  double weight_decay = 0.0;  // decoupled: inside the trust-scaled update

  static constexpr auto fields() {
    return std::tuple{field("lr", &LAMBOptions::lr), field("betas", &LAMBOptions::betas),
                      field("eps", &LAMBOptions::eps),
                      field("weight_decay", &LAMBOptions::weight_decay)};
  }
};

template <typename T>
struct LAMBRule {
  static constexpr std::array slots = {Slot{"exp_avg"}, Slot{"exp_avg_sq"}};

  T lr, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay;
  T bias_correction1, bias_correction2;  // 1 - beta^t
  T trust_ratio = T(1);                  // ||x|| / ||r + wd x||, set by finish()

  LAMBRule(const LAMBOptions& o, const ParamState& s)
      : lr(T(o.lr)),
        beta1(T(o.betas[0])),
        beta2(T(o.betas[1])),
        one_minus_beta1(T(1.0 - o.betas[0])),
        one_minus_beta2(T(1.0 - o.betas[1])),
        eps(T(o.eps)),
        weight_decay(T(o.weight_decay)),
        bias_correction1(T(1.0 - std::pow(o.betas[0], double(s.step)))),
        bias_correction2(T(1.0 - std::pow(o.betas[1], double(s.step)))) {}

  // r + wd x, from the updated moments
  T direction(T param, T exp_avg, T exp_avg_sq) const {
    // bias-corrected moments: m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t)
    const T m_hat = exp_avg / bias_correction1;
    const T v_hat = exp_avg_sq / bias_correction2;
    // r = m_hat / (sqrt(v_hat) + eps)
    const T r = m_hat / (std::sqrt(v_hat) + eps);
    return r + weight_decay * param;
  }

  // Pass 1: the moments, and sums of x^2 and (r + wd x)^2.
  void reduce(double& param_sq, double& direction_sq, T param, T grad, T& exp_avg,
              T& exp_avg_sq) const {
    // m = beta1 m + (1 - beta1) g
    exp_avg = beta1 * exp_avg + one_minus_beta1 * grad;
    // v = beta2 v + (1 - beta2) g^2
    exp_avg_sq = beta2 * exp_avg_sq + one_minus_beta2 * grad * grad;
    const T d = direction(param, exp_avg, exp_avg_sq);
    param_sq += double(param) * double(param);
    direction_sq += double(d) * double(d);
  }

  void finish(double param_sq, double direction_sq) {
    const double param_norm = std::sqrt(param_sq);
    const double direction_norm = std::sqrt(direction_sq);
    trust_ratio = param_norm > 0 && direction_norm > 0 ? T(param_norm / direction_norm) : T(1);
  }

  // Pass 2: x = x - lr ||x|| / ||r + wd x|| (r + wd x)
  void update(T& param, T, T& exp_avg, T& exp_avg_sq) const {
    param -= lr * trust_ratio * direction(param, exp_avg, exp_avg_sq);
  }
};

class LAMB : public RuleOptimizer<LAMB, LAMBOptions> {
 public:
  static constexpr const char* name = "LAMB";
  using RuleOptimizer::RuleOptimizer;

  static void validate(const LAMBOptions& o) {
    check::non_negative(name, "lr", o.lr);
    check::betas(name, o.betas);
    check::positive(name, "eps", o.eps);
    check::non_negative(name, "weight_decay", o.weight_decay);
  }

  template <typename T, typename Fn>
  static void with_rule(const LAMBOptions&, Fn&& fn) {
    fn.template operator()<LAMBRule<T>>();
  }
};

inline const bool lamb_registered =
    register_optimizer<LAMB>("lamb", "LAMB (You et al. 2020), layer-wise trust ratio on Adam");

}  // namespace descent::optim
