#include "descent/train/step.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "descent/clip/clip.hpp"

namespace descent::train {

NanPolicy parse_nan_policy(std::string_view text) {
  if (text == "stop") return NanPolicy::stop;
  if (text == "skip") return NanPolicy::skip;
  throw Error(cat("unknown NaN policy '", text, "' (known: skip, stop)"));
}

const char* nan_policy_name(NanPolicy policy) {
  return policy == NanPolicy::skip ? "skip" : "stop";
}

const char* skip_reason_name(SkipReason reason) {
  switch (reason) {
    case SkipReason::none:
      return "";
    case SkipReason::non_finite_loss:
      return "non_finite_loss";
    case SkipReason::non_finite_grad:
      return "non_finite_grad";
    case SkipReason::overflow:
      return "overflow";
    case SkipReason::anomaly:
      return "anomaly";
  }
  return "?";
}

StepPipeline::StepPipeline(optim::Optimizer& optimizer, StepPipelineOptions options,
                           std::vector<Tensor> grad_tensors)
    : optimizer_(optimizer), options_(std::move(options)), grads_of_(std::move(grad_tensors)) {
  const ClipOptions& clip = options_.clip;
  DESCENT_CHECK(clip.max_norm >= 0, "StepPipeline: clip.max_norm must be >= 0 (0: off), got ",
                clip.max_norm);
  DESCENT_CHECK(clip.value >= 0, "StepPipeline: clip.value must be >= 0 (0: off), got ",
                clip.value);
  DESCENT_CHECK(clip.agc >= 0, "StepPipeline: clip.agc must be >= 0 (0: off), got ", clip.agc);
  DESCENT_CHECK(clip.agc_eps > 0, "StepPipeline: clip.agc_eps must be > 0, got ", clip.agc_eps);
  DESCENT_CHECK(options_.max_consecutive_skips >= 0,
                "StepPipeline: max_consecutive_skips must be >= 0, got ",
                options_.max_consecutive_skips);
  for (std::size_t group = 0; group < optimizer_.num_groups(); ++group) {
    base_lrs_.push_back(optimizer_.lr(group));
    for (const Tensor& param : optimizer_.params(group)) params_.push_back(param);
  }
  if (grads_of_.empty()) grads_of_ = params_;
}

std::vector<double> StepPipeline::lrs_at(std::int64_t taken) const {
  std::vector<double> lrs;
  for (double base : base_lrs_)
    lrs.push_back(options_.schedule ? (*options_.schedule)(taken, base) : base);
  return lrs;
}

void StepPipeline::set_counters(std::int64_t taken, std::int64_t skipped,
                                std::int64_t consecutive) {
  DESCENT_CHECK(taken >= 0 && skipped >= 0 && consecutive >= 0 && consecutive <= skipped,
                "StepPipeline::set_counters: inconsistent counts: ", taken, " taken, ", skipped,
                " skipped, ", consecutive, " in a row");
  taken_ = taken;
  skipped_ = skipped;
  consecutive_ = consecutive;
}

void StepPipeline::set_lrs(StepOutcome& out) {
  if (options_.schedule) {
    for (std::size_t group = 0; group < base_lrs_.size(); ++group) {
      optimizer_.set_lr(group, (*options_.schedule)(taken_, base_lrs_[group]));
    }
  }
  out.lr = optimizer_.lr(0);
}

StepOutcome StepPipeline::skipped(StepOutcome out, SkipReason reason, const std::string& what) {
  ++skipped_;
  ++consecutive_;
  out.skipped = reason;
  out.what = what;
  out.message = cat("NaN guard: ", what, " at step ", out.step);
  const bool policy_stops =
      reason != SkipReason::overflow && options_.nan_policy == NanPolicy::stop;
  const bool too_many =
      options_.max_consecutive_skips > 0 && consecutive_ >= options_.max_consecutive_skips;
  if (policy_stops) {
    out.stop = true;
    out.message += "; stopping (NaN policy 'stop')";
  } else if (too_many) {
    out.stop = true;
    out.message += cat("; ", consecutive_, " steps in a row were skipped: stopping");
  } else {
    out.message += cat("; step skipped (", consecutive_, " in a row, ", skipped_, " in all)");
  }
  return out;
}

StepOutcome StepPipeline::skip(SkipReason reason, std::string detail, std::optional<double> loss) {
  DESCENT_CHECK(reason != SkipReason::none, "StepPipeline::skip: needs a reason");
  StepOutcome out;
  out.step = taken_ + skipped_ + 1;
  out.loss = loss.value_or(out.loss);
  const amp::GradScaler* scaler = options_.scaler;
  out.loss_scale = scaler != nullptr && scaler->is_enabled() ? scaler->get_scale() : 1.0;
  set_lrs(out);
  return skipped(std::move(out), reason, detail.empty() ? skip_reason_name(reason) : detail);
}

StepOutcome StepPipeline::step(std::optional<double> loss) {
  StepOutcome out;
  out.step = taken_ + skipped_ + 1;
  out.loss = loss.value_or(out.loss);
  amp::GradScaler* scaler = options_.scaler;
  const bool scaling = scaler != nullptr && scaler->is_enabled();
  out.loss_scale = scaling ? scaler->get_scale() : 1.0;
  set_lrs(out);

  // 1. the loss
  if (loss && !std::isfinite(*loss)) {
    return skipped(std::move(out), SkipReason::non_finite_loss, cat("the loss is ", *loss));
  }

  // 2. unscale and check: one read of every gradient, nothing written
  double inv_scale = 1.0;
  bool finite = true;
  if (scaling) {
    const amp::Unscaled unscaled = scaler->unscale_(optimizer_);
    out.grad_norm = unscaled.total_norm;
    finite = !unscaled.found_inf;
    inv_scale = static_cast<double>(static_cast<float>(1.0 / scaler->get_scale()));
  } else {
    const clip::ClipScale reduced =
        clip::clip_scale(grads_of_, std::numeric_limits<double>::infinity());
    out.grad_norm = reduced.total_norm;
    finite = reduced.finite;
  }
  if (!finite) {
    if (scaling) {
      scaler->update();  // backs off
      return skipped(std::move(out), SkipReason::overflow,
                     cat("the gradients overflowed at loss scale ", out.loss_scale));
    }
    return skipped(std::move(out), SkipReason::non_finite_grad,
                   cat("the gradient norm is ", out.grad_norm));
  }

  // 3. clip; the gradients in memory are `scale` times the true ones
  const ClipOptions& clip = options_.clip;
  const double scale = 1.0 / inv_scale;
  if (clip.value > 0) clip::clip_grad_value_(grads_of_, clip.value * scale);
  if (clip.agc > 0) clip::adaptive_clip_grad_(params_, clip.agc * scale, clip.agc_eps);
  if (clip.max_norm > 0) {
    const bool rewritten = clip.value > 0 || clip.agc > 0;
    const double norm = rewritten ? clip::grad_norm(grads_of_) * inv_scale : out.grad_norm;
    out.clip_factor = std::min(1.0, clip.max_norm / (norm + 1e-6));
  }

  // 4. the update, with unscaling and norm clipping folded into its pass
  optimizer_.step({.grad_scale = static_cast<float>(inv_scale * out.clip_factor)});
  if (scaling) scaler->update();

  // 5. the schedule moves on with the steps taken
  ++taken_;
  consecutive_ = 0;
  out.taken = true;

  // 6. the average of the weights
  if (options_.ema != nullptr) options_.ema->update();
  return out;
}

}  // namespace descent::train
