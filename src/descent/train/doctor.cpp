#include "descent/train/doctor.hpp"

#include <sstream>

#include "descent/core/error.hpp"

namespace descent::train {
namespace {

std::string fmt(double value) {
  std::ostringstream out;
  out.precision(3);
  out << value;
  return out.str();
}

// Least-squares slope of y against x.
double slope(const std::deque<std::pair<std::int64_t, double>>& points) {
  const double n = static_cast<double>(points.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [x, y] : points) {
    sx += x;
    sy += y;
    sxx += static_cast<double>(x) * x;
    sxy += x * y;
  }
  const double denominator = n * sxx - sx * sx;
  return denominator == 0 ? 0.0 : (n * sxy - sx * sy) / denominator;
}

}  // namespace

Doctor::Doctor(DoctorOptions options) : options_(options) {
  DESCENT_CHECK(options_.explode_window >= 3, "Doctor: explode_window must be >= 3, got ",
                options_.explode_window);
  DESCENT_CHECK(options_.explode_doubling_steps > 0 && options_.explode_growth > 1,
                "Doctor: explode_doubling_steps must be > 0 and explode_growth > 1");
  DESCENT_CHECK(options_.spike_factor > 1, "Doctor: spike_factor must be > 1, got ",
                options_.spike_factor);
  DESCENT_CHECK(options_.ratio_low > 0 && options_.ratio_low < options_.ratio_high,
                "Doctor: needs 0 < ratio_low < ratio_high");
  DESCENT_CHECK(options_.underflow_fraction >= 0 && options_.underflow_fraction <= 1,
                "Doctor: underflow_fraction must be in [0, 1], got ", options_.underflow_fraction);
  DESCENT_CHECK(options_.ratio_steps >= 1 && options_.dead_relu_steps >= 1,
                "Doctor: ratio_steps and dead_relu_steps must be >= 1");
}

void Doctor::issue(std::vector<Diagnosis>& out, std::string code, std::int64_t step,
                   std::string message) {
  if (!codes_.insert(code).second) return;
  Diagnosis d{std::move(code), step, std::move(message)};
  issued_.push_back(d);
  out.push_back(std::move(d));
}

std::vector<Diagnosis> Doctor::observe(const StepStats& s) {
  std::vector<Diagnosis> out;

  // exploding gradients: a steady exponential rise of the gradient norm
  if (!std::isnan(s.grad_norm)) {
    if (!std::isfinite(s.grad_norm)) {
      if (seen_finite_norm_) {
        issue(out, "exploding_gradients", s.step,
              cat("step ", s.step,
                  ": the gradient norm became non-finite after finite steps; "
                  "gradients exploded. Clip by global norm (--clip-norm 1.0) or lower the "
                  "learning rate."));
      }
    } else if (s.grad_norm > 0) {
      seen_finite_norm_ = true;
      log_norms_.emplace_back(s.step, std::log(s.grad_norm));
      while (static_cast<std::int64_t>(log_norms_.size()) > options_.explode_window) {
        log_norms_.pop_front();
      }
      if (static_cast<std::int64_t>(log_norms_.size()) == options_.explode_window) {
        const double rate = slope(log_norms_);  // per step, natural log
        const double growth = std::exp(log_norms_.back().second - log_norms_.front().second);
        if (rate >= std::log(2.0) / options_.explode_doubling_steps &&
            growth >= options_.explode_growth) {
          issue(out, "exploding_gradients", s.step,
                cat("step ", s.step, ": the gradient norm grew ", fmt(growth), "x over the last ",
                    options_.explode_window, " steps (doubling every ", fmt(std::log(2.0) / rate),
                    " steps) to ", fmt(s.grad_norm),
                    "; gradients are exploding. Clip by global norm (--clip-norm 1.0)."));
        }
      }
    }
  }

  // early divergence without warmup
  if (!std::isnan(s.loss)) {
    if (first_step_ < 0) {
      first_step_ = s.step;
      first_loss_ = s.loss;
    }
    const bool early = s.step - first_step_ < options_.early_steps;
    if (early && options_.warmup_steps == 0 && std::isfinite(first_loss_) &&
        (!std::isfinite(s.loss) || s.loss > options_.spike_factor * first_loss_)) {
      issue(out, "early_divergence", s.step,
            cat("step ", s.step, ": the loss ",
                std::isfinite(s.loss) ? "rose to " + fmt(s.loss) : std::string("became non-finite"),
                " from ", fmt(first_loss_), " in the first steps",
                std::isnan(s.lr) ? std::string() : " at learning rate " + fmt(s.lr),
                ", with no warmup. Add a linear warmup (--warmup-steps 500) or lower the "
                "learning rate."));
    }
  }

  // update-to-parameter ratio far from ~1e-3
  if (!std::isnan(s.update_ratio)) {
    high_ratio_run_ = s.update_ratio > options_.ratio_high ? high_ratio_run_ + 1 : 0;
    low_ratio_run_ = s.update_ratio < options_.ratio_low ? low_ratio_run_ + 1 : 0;
    if (high_ratio_run_ >= options_.ratio_steps) {
      issue(out, "update_ratio_high", s.step,
            cat("step ", s.step, ": updates have been more than ", fmt(options_.ratio_high),
                " of the parameters' norm for ", options_.ratio_steps, " steps (now ",
                fmt(s.update_ratio), "; ~1e-3 is typical): the learning rate",
                std::isnan(s.lr) ? std::string() : " " + fmt(s.lr),
                " is likely too high. Lower it or use a schedule that decays it."));
    }
    if (low_ratio_run_ >= options_.ratio_steps) {
      issue(out, "update_ratio_low", s.step,
            cat("step ", s.step, ": updates have been less than ", fmt(options_.ratio_low),
                " of the parameters' norm for ", options_.ratio_steps, " steps (now ",
                fmt(s.update_ratio), "; ~1e-3 is typical): the learning rate",
                std::isnan(s.lr) ? std::string() : " " + fmt(s.lr),
                " is likely too low, and the run will crawl. Raise it."));
    }
  }

  // fp16 gradients flushed to zero without loss scaling
  if (!std::isnan(s.fp16_underflow) && s.fp16_underflow > options_.underflow_fraction &&
      (std::isnan(s.loss_scale) || s.loss_scale == 1.0)) {
    issue(out, "fp16_underflow", s.step,
          cat("step ", s.step, ": ", fmt(100 * s.fp16_underflow),
              "% of the nonzero gradient values underflowed to zero in fp16, with no loss "
              "scaling: those updates are lost. Turn dynamic loss scaling on (drop "
              "--no-loss-scaling) or train in bf16 (--precision bf16), whose range is f32's."));
  }

  // dead ReLUs
  if (!std::isnan(s.dead_relu_fraction)) {
    dead_run_ = s.dead_relu_fraction > options_.dead_relu_fraction ? dead_run_ + 1 : 0;
    if (dead_run_ >= options_.dead_relu_steps) {
      issue(out, "dead_relus", s.step,
            cat("step ", s.step, ": ", fmt(100 * s.dead_relu_fraction),
                "% of ReLU units output zero for every example of the batch, for ",
                options_.dead_relu_steps,
                " steps: they no longer learn. Lower the learning "
                "rate, use batch norm, or try leaky_relu/gelu."));
    }
  }
  return out;
}

std::vector<Diagnosis> Doctor::observe_evaluation(const EvaluationStats& stats, std::int64_t step) {
  std::vector<Diagnosis> out;
  if (stats.batch_norm_in_training) {
    issue(out, "batch_norm_train_mode_in_eval", step,
          cat("step ", step, ": evaluation ran with batch norm",
              stats.module.empty() ? std::string() : " '" + stats.module + "'",
              " in training mode: it used batch statistics and changed its running statistics. "
              "Call model.eval() before evaluating (and model.train() after)."));
  }
  return out;
}

}  // namespace descent::train
