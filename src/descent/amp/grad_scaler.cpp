#include "descent/amp/grad_scaler.hpp"

#include <algorithm>
#include <cmath>

#include "descent/core/parallel.hpp"
#include "descent/ops/arith.hpp"

namespace descent::amp {
namespace {

constexpr std::int64_t kChunk = 4096;

struct Reduction {
  double power_sum = 0.0;  // sum |g|^p, or max |g| for the infinity norm
  bool non_finite = false;
};

// One read of `grad`: the p-norm's sum and whether any element is Inf or NaN. Chunks of
// kChunk are summed in order, so the result does not depend on the thread count.
// `partial` is scratch (2 doubles per chunk).
template <typename T>
Reduction reduce(const T* grad, std::int64_t n, double p, std::vector<double>& partial) {
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  partial.resize(static_cast<std::size_t>(2 * chunks));
  double* const parts = partial.data();
  const bool is_inf = std::isinf(p);
  const bool is_two = p == 2.0;
  parallel_for_if(n > 65536, chunks, [=](std::int64_t c) {
    const std::int64_t begin = c * kChunk;
    const std::int64_t end = std::min(n, begin + kChunk);
    double acc = 0.0;
    // x * 0 is 0 for finite x and NaN for Inf or NaN: the sum is NaN iff one is not finite
    // (exact, unlike testing the norm, which a large finite f64 gradient could overflow)
    T probe = 0;
    if (is_two) {
#pragma omp simd reduction(+ : acc, probe)
      for (std::int64_t i = begin; i < end; ++i) {
        acc += static_cast<double>(grad[i]) * grad[i];
        probe += grad[i] * T(0);
      }
    } else if (is_inf) {
#pragma omp simd reduction(max : acc) reduction(+ : probe)
      for (std::int64_t i = begin; i < end; ++i) {
        acc = std::max(acc, std::abs(static_cast<double>(grad[i])));
        probe += grad[i] * T(0);
      }
    } else {
      for (std::int64_t i = begin; i < end; ++i) {
        acc += std::pow(std::abs(static_cast<double>(grad[i])), p);
        probe += grad[i] * T(0);
      }
    }
    parts[2 * c] = acc;
    parts[2 * c + 1] = static_cast<double>(probe);
  });
  Reduction out;
  for (std::int64_t c = 0; c < chunks; ++c) {
    const double acc = partial[2 * c];
    out.power_sum = is_inf ? std::max(out.power_sum, acc) : out.power_sum + acc;
    out.non_finite = out.non_finite || std::isnan(partial[2 * c + 1]);
  }
  return out;
}

void scale_in_place(const Tensor& grad, float factor) {
  const std::int64_t n = grad.numel();
  dispatch_float(grad.dtype(), "GradScaler::unscale_", [&]<typename T>() {
    T* g = grad.data<T>();
    const T f = static_cast<T>(factor);
    parallel_simd_if(n > 65536, n, [=](std::int64_t i) { g[i] *= f; });
  });
}

double read_entry(const optim::StateDict& dict, const char* key) {
  const auto it = dict.find(key);
  DESCENT_CHECK(it != dict.end(), "GradScaler::load_state_dict: no entry '", key, "'");
  DESCENT_CHECK(it->second.defined() && it->second.numel() == 1, "GradScaler::load_state_dict: '",
                key, "' must hold one value, got ",
                it->second.defined() ? shape_str(it->second.shape()) : "an undefined tensor");
  return it->second.item();
}

// `scale_name` is "init_scale" for the options, "scale" for a state dict.
void check_options(const char* where, const char* scale_name, double scale, double growth_factor,
                   double backoff_factor, double growth_interval) {
  DESCENT_CHECK(std::isfinite(scale) && scale > 0 && std::isfinite(static_cast<float>(scale)) &&
                    static_cast<float>(scale) > 0,
                where, ": ", scale_name, " must be finite and > 0 (as a f32), got ", scale);
  DESCENT_CHECK(std::isfinite(growth_factor) && growth_factor > 1.0, where,
                ": growth_factor must be > 1, got ", growth_factor);
  DESCENT_CHECK(backoff_factor > 0.0 && backoff_factor < 1.0, where,
                ": backoff_factor must be in (0, 1), got ", backoff_factor);
  DESCENT_CHECK(growth_interval >= 1 && growth_interval == std::floor(growth_interval), where,
                ": growth_interval must be a whole number >= 1, got ", growth_interval);
}

}  // namespace

GradScaler::GradScaler(const GradScalerOptions& options)
    : options_(options), scale_(static_cast<float>(options.init_scale)) {
  check_options("GradScaler", "init_scale", options.init_scale, options.growth_factor,
                options.backoff_factor, static_cast<double>(options.growth_interval));
}

Tensor GradScaler::scale(const Tensor& loss) const {
  DESCENT_CHECK(loss.defined(), "GradScaler::scale: the loss is an undefined tensor");
  if (!options_.enabled) return loss;
  return ops::mul(loss, static_cast<double>(scale_));
}

Unscaled GradScaler::unscale_(optim::Optimizer& optimizer, const UnscaleOptions& options) {
  DESCENT_CHECK(options.max_norm > 0, "GradScaler::unscale_: max_norm must be > 0, got ",
                options.max_norm);
  DESCENT_CHECK(options.norm_type > 0, "GradScaler::unscale_: norm_type must be > 0, got ",
                options.norm_type);
  PerOptimizer& state = per_optimizer_[&optimizer];
  if (options_.enabled) {
    DESCENT_CHECK(state.stage != Stage::unscaled, "GradScaler::unscale_: unscale_() has already ",
                  "been called on this ", optimizer.name(), " optimizer since the last update()");
    DESCENT_CHECK(state.stage != Stage::stepped, "GradScaler::unscale_: unscale_() is being ",
                  "called after step(); call update() first");
  }
  // PyTorch takes the reciprocal in f64, then rounds it to f32
  const float inv_scale = options_.enabled ? static_cast<float>(1.0 / scale_) : 1.0f;

  // one read of every gradient: the norm of the scaled gradients and the inf/NaN check
  const double p = options.norm_type;
  const bool is_inf = std::isinf(p);
  Reduction total;
  for (std::size_t group = 0; group < optimizer.num_groups(); ++group) {
    for (const Tensor& param : optimizer.params(group)) {
      const Tensor grad = param.grad();
      if (!grad.defined()) continue;
      const Reduction r = dispatch_float(grad.dtype(), "GradScaler::unscale_", [&]<typename T>() {
        return reduce(grad.data<T>(), grad.numel(), p, partial_);
      });
      total.power_sum =
          is_inf ? std::max(total.power_sum, r.power_sum) : total.power_sum + r.power_sum;
      total.non_finite = total.non_finite || r.non_finite;
    }
  }
  const double scaled_norm = is_inf ? total.power_sum : std::pow(total.power_sum, 1.0 / p);
  Unscaled out;
  out.found_inf = total.non_finite;
  // ||g / s|| = ||g|| / s (exact when s is a power of two)
  out.total_norm = scaled_norm * static_cast<double>(inv_scale);
  if (out.found_inf && std::isfinite(out.total_norm)) out.total_norm = std::nan("");
  // PyTorch's clip coefficient, clamped to 1 (clip::clip_scale)
  const bool clipping = std::isfinite(options.max_norm) && !out.found_inf;
  out.clip = clipping ? std::min(1.0, options.max_norm / (out.total_norm + 1e-6)) : 1.0;

  if (options.in_place && options_.enabled) {
    for (std::size_t group = 0; group < optimizer.num_groups(); ++group) {
      for (const Tensor& param : optimizer.params(group)) {
        if (param.grad().defined()) scale_in_place(param.grad(), inv_scale);
      }
    }
  }
  const double unapplied = options.in_place ? 1.0 : static_cast<double>(inv_scale);
  state.grad_scale = static_cast<float>(unapplied * out.clip);
  state.found_inf = out.found_inf;
  state.stage = Stage::unscaled;
  return out;
}

bool GradScaler::step(optim::Optimizer& optimizer) {
  if (!options_.enabled) {
    // never skips; applies a clip factor from unscale_ if there was one
    const auto it = per_optimizer_.find(&optimizer);
    const float grad_scale = it != per_optimizer_.end() ? it->second.grad_scale : 1.0f;
    per_optimizer_.erase(&optimizer);
    optimizer.step({.grad_scale = grad_scale});
    return true;
  }
  PerOptimizer& state = per_optimizer_[&optimizer];
  DESCENT_CHECK(state.stage != Stage::stepped, "GradScaler::step: step() has already been called ",
                "on this ", optimizer.name(), " optimizer since the last update()");
  if (state.stage == Stage::ready) unscale_(optimizer);
  optimizer.step({.grad_scale = state.grad_scale, .skip = state.found_inf});
  state.stage = Stage::stepped;
  return !state.found_inf;
}

void GradScaler::update() {
  if (!options_.enabled) {
    per_optimizer_.clear();
    return;
  }
  DESCENT_CHECK(!per_optimizer_.empty(), "GradScaler::update: no inf checks were recorded ",
                "prior to update(); call unscale_() or step() for an optimizer first");
  bool found_inf = false;
  for (const auto& [optimizer, state] : per_optimizer_) found_inf = found_inf || state.found_inf;

  // PyTorch's _amp_update_scale_ (aten/src/ATen/native/cuda/AmpKernels.cu); the products
  // are taken in f64 and stored in f32
  if (found_inf) {
    // back off
    scale_ = static_cast<float>(static_cast<double>(scale_) * options_.backoff_factor);
    growth_tracker_ = 0;
  } else {
    // one more clean step; grow after growth_interval of them, unless the scale would overflow
    const std::int64_t successful = growth_tracker_ + 1;
    if (successful == options_.growth_interval) {
      const float grown = static_cast<float>(static_cast<double>(scale_) * options_.growth_factor);
      if (std::isfinite(grown)) scale_ = grown;
      growth_tracker_ = 0;
    } else {
      growth_tracker_ = successful;
    }
  }
  last_found_inf_ = found_inf;
  per_optimizer_.clear();
}

void GradScaler::update(double new_scale) {
  if (!options_.enabled) {
    per_optimizer_.clear();
    return;
  }
  DESCENT_CHECK(std::isfinite(new_scale) && new_scale > 0 &&
                    std::isfinite(static_cast<float>(new_scale)) &&
                    static_cast<float>(new_scale) > 0,
                "GradScaler::update: new_scale must be finite and > 0 as a f32, got ", new_scale);
  scale_ = static_cast<float>(new_scale);
  per_optimizer_.clear();
}

double GradScaler::get_scale() const {
  return options_.enabled ? static_cast<double>(scale_) : 1.0;
}

optim::StateDict GradScaler::state_dict() const {
  if (!options_.enabled) return {};
  return {
      {"scale", scalar(static_cast<double>(scale_), DType::f64)},
      {"growth_factor", scalar(options_.growth_factor, DType::f64)},
      {"backoff_factor", scalar(options_.backoff_factor, DType::f64)},
      {"growth_interval", scalar(static_cast<double>(options_.growth_interval), DType::f64)},
      {"_growth_tracker", scalar(static_cast<double>(growth_tracker_), DType::f64)},
  };
}

void GradScaler::load_state_dict(const optim::StateDict& dict) {
  if (!options_.enabled) return;
  DESCENT_CHECK(!dict.empty(), "GradScaler::load_state_dict: the state dict is empty, possibly ",
                "because it was saved from a disabled GradScaler");
  const double scale = read_entry(dict, "scale");
  const double growth_factor = read_entry(dict, "growth_factor");
  const double backoff_factor = read_entry(dict, "backoff_factor");
  const double growth_interval = read_entry(dict, "growth_interval");
  const double tracker = read_entry(dict, "_growth_tracker");
  check_options("GradScaler::load_state_dict", "scale", scale, growth_factor, backoff_factor,
                growth_interval);
  DESCENT_CHECK(tracker >= 0 && tracker < growth_interval && tracker == std::floor(tracker),
                "GradScaler::load_state_dict: _growth_tracker must be a whole number in [0, ",
                "growth_interval = ", growth_interval, "), got ", tracker);
  scale_ = static_cast<float>(scale);
  options_.growth_factor = growth_factor;
  options_.backoff_factor = backoff_factor;
  options_.growth_interval = static_cast<std::int64_t>(growth_interval);
  growth_tracker_ = static_cast<std::int64_t>(tracker);
}

}  // namespace descent::amp
