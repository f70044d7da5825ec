#include "descent/schedule/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>

#include "descent/core/error.hpp"

namespace descent::schedule {
namespace {

std::string fmt(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

Schedule::Schedule(std::string description, Fn fn)
    : description_(std::move(description)), fn_(std::move(fn)) {}

double Schedule::operator()(std::int64_t step, double base_lr) const {
  DESCENT_CHECK(step >= 0, "schedule ", description_, ": step must be >= 0, got ", step);
  return fn_(step, base_lr);
}

Schedule Schedule::then(const Schedule& next, std::int64_t at) const {
  return sequential({*this, next}, {at});
}

Schedule constant() {
  return Schedule("constant", [](std::int64_t, double base_lr) { return base_lr; });
}

Schedule constant_factor(double factor, std::int64_t total_iters) {
  DESCENT_CHECK(factor >= 0.0 && factor <= 1.0, "constant_factor: factor must be in [0, 1], got ",
                factor);
  DESCENT_CHECK(total_iters >= 0, "constant_factor: total_iters must be >= 0, got ", total_iters);
  return Schedule(cat("constant_factor(factor=", fmt(factor), ", total_iters=", total_iters, ")"),
                  [=](std::int64_t step, double base_lr) {
                    return step < total_iters ? base_lr * factor : base_lr;
                  });
}

Schedule step_decay(std::int64_t step_size, double gamma) {
  DESCENT_CHECK(step_size >= 1, "step_decay: step_size must be >= 1, got ", step_size);
  DESCENT_CHECK(gamma > 0.0, "step_decay: gamma must be > 0, got ", gamma);
  return Schedule(cat("step_decay(step_size=", step_size, ", gamma=", fmt(gamma), ")"),
                  [=](std::int64_t step, double base_lr) {
                    return base_lr * std::pow(gamma, static_cast<double>(step / step_size));
                  });
}

Schedule multi_step(std::vector<std::int64_t> milestones, double gamma) {
  DESCENT_CHECK(std::is_sorted(milestones.begin(), milestones.end()),
                "multi_step: milestones must be increasing");
  DESCENT_CHECK(gamma > 0.0, "multi_step: gamma must be > 0, got ", gamma);
  std::string list;
  for (std::int64_t m : milestones) {
    if (!list.empty()) list += ',';
    list += std::to_string(m);
  }
  return Schedule(cat("multi_step(milestones=[", list, "], gamma=", fmt(gamma), ")"),
                  [milestones = std::move(milestones), gamma](std::int64_t step, double base_lr) {
                    // PyTorch: gamma ** bisect_right(milestones, step)
                    const auto passed =
                        std::upper_bound(milestones.begin(), milestones.end(), step) -
                        milestones.begin();
                    return base_lr * std::pow(gamma, static_cast<double>(passed));
                  });
}

Schedule exponential(double gamma) {
  DESCENT_CHECK(gamma > 0.0, "exponential: gamma must be > 0, got ", gamma);
  return Schedule(cat("exponential(gamma=", fmt(gamma), ")"),
                  [=](std::int64_t step, double base_lr) {
                    return base_lr * std::pow(gamma, static_cast<double>(step));
                  });
}

Schedule cosine(std::int64_t t_max, double eta_min) {
  DESCENT_CHECK(t_max >= 1, "cosine: t_max must be >= 1, got ", t_max);
  DESCENT_CHECK(eta_min >= 0.0, "cosine: eta_min must be >= 0, got ", eta_min);
  return Schedule(cat("cosine(t_max=", t_max, ", eta_min=", fmt(eta_min), ")"),
                  [=](std::int64_t step, double base_lr) {
                    const double progress = static_cast<double>(step) / t_max;
                    return eta_min +
                           (base_lr - eta_min) * (1 + std::cos(std::numbers::pi * progress)) / 2;
                  });
}

Schedule cosine_restarts(std::int64_t t_0, std::int64_t t_mult, double eta_min) {
  DESCENT_CHECK(t_0 >= 1, "cosine_restarts: t_0 must be >= 1, got ", t_0);
  DESCENT_CHECK(t_mult >= 1, "cosine_restarts: t_mult must be >= 1, got ", t_mult);
  DESCENT_CHECK(eta_min >= 0.0, "cosine_restarts: eta_min must be >= 0, got ", eta_min);
  return Schedule(
      cat("cosine_restarts(t_0=", t_0, ", t_mult=", t_mult, ", eta_min=", fmt(eta_min), ")"),
      [=](std::int64_t step, double base_lr) {
        // find the period that holds `step`: T_cur within a period of length T_i
        std::int64_t t_cur = step;
        std::int64_t t_i = t_0;
        while (t_cur >= t_i) {
          t_cur -= t_i;
          t_i *= t_mult;
        }
        const double progress = static_cast<double>(t_cur) / t_i;
        return eta_min + (base_lr - eta_min) * (1 + std::cos(std::numbers::pi * progress)) / 2;
      });
}

Schedule linear(double start_factor, double end_factor, std::int64_t total_iters) {
  DESCENT_CHECK(start_factor > 0.0 && start_factor <= 1.0,
                "linear: start_factor must be in (0, 1], got ", start_factor);
  DESCENT_CHECK(end_factor >= 0.0 && end_factor <= 1.0,
                "linear: end_factor must be in [0, 1], got ", end_factor);
  DESCENT_CHECK(total_iters >= 1, "linear: total_iters must be >= 1, got ", total_iters);
  return Schedule(cat("linear(start_factor=", fmt(start_factor), ", end_factor=", fmt(end_factor),
                      ", total_iters=", total_iters, ")"),
                  [=](std::int64_t step, double base_lr) {
                    const double progress =
                        static_cast<double>(std::min(step, total_iters)) / total_iters;
                    return base_lr * (start_factor + (end_factor - start_factor) * progress);
                  });
}

Schedule polynomial(std::int64_t total_iters, double power) {
  DESCENT_CHECK(total_iters >= 1, "polynomial: total_iters must be >= 1, got ", total_iters);
  DESCENT_CHECK(power >= 0.0, "polynomial: power must be >= 0, got ", power);
  return Schedule(cat("polynomial(total_iters=", total_iters, ", power=", fmt(power), ")"),
                  [=](std::int64_t step, double base_lr) {
                    const double progress =
                        static_cast<double>(std::min(step, total_iters)) / total_iters;
                    return base_lr * std::pow(1.0 - progress, power);
                  });
}

Schedule one_cycle(const OneCycleOptions& o) {
  DESCENT_CHECK(o.total_steps >= 1, "one_cycle: total_steps must be >= 1, got ", o.total_steps);
  DESCENT_CHECK(o.pct_start > 0.0 && o.pct_start < 1.0,
                "one_cycle: pct_start must be in (0, 1), got ", o.pct_start);
  DESCENT_CHECK(o.div_factor > 0.0 && o.final_div_factor > 0.0,
                "one_cycle: div_factor and final_div_factor must be > 0, got ", o.div_factor,
                " and ", o.final_div_factor);
  struct Phase {
    double end_step;
    double start;  // as a fraction of max_lr
    double end;
  };
  const double initial = 1.0 / o.div_factor;
  const double minimum = initial / o.final_div_factor;
  const double total = static_cast<double>(o.total_steps);
  std::vector<Phase> phases;
  if (o.three_phase) {
    phases = {{o.pct_start * total - 1, initial, 1.0},
              {2 * o.pct_start * total - 2, 1.0, initial},
              {total - 1, initial, minimum}};
  } else {
    phases = {{o.pct_start * total - 1, initial, 1.0}, {total - 1, 1.0, minimum}};
  }
  const Anneal anneal = o.anneal;
  const std::int64_t total_steps = o.total_steps;
  return Schedule(cat("one_cycle(total_steps=", o.total_steps, ", pct_start=", fmt(o.pct_start),
                      ", anneal=", anneal == Anneal::cos ? "cos" : "linear", ", div_factor=",
                      fmt(o.div_factor), ", final_div_factor=", fmt(o.final_div_factor),
                      o.three_phase ? ", three_phase" : "", ")"),
                  [=](std::int64_t step, double max_lr) {
                    DESCENT_CHECK(step <= total_steps, "one_cycle: step ", step,
                                  " is past total_steps=", total_steps, " (raise total_steps)");
                    double start_step = 0;
                    for (std::size_t i = 0; i < phases.size(); ++i) {
                      const Phase& phase = phases[i];
                      if (step <= phase.end_step || i + 1 == phases.size()) {
                        const double pct = (step - start_step) / (phase.end_step - start_step);
                        const double start = phase.start * max_lr;
                        const double end = phase.end * max_lr;
                        if (anneal == Anneal::cos) {
                          return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1);
                        }
                        return (end - start) * pct + start;
                      }
                      start_step = phase.end_step;
                    }
                    return max_lr;  // unreachable: the last phase always answers
                  });
}

Schedule warmup(std::int64_t steps, double start_factor) {
  DESCENT_CHECK(steps >= 1, "warmup: steps must be >= 1, got ", steps);
  DESCENT_CHECK(start_factor >= 0.0 && start_factor <= 1.0,
                "warmup: start_factor must be in [0, 1], got ", start_factor);
  return Schedule(cat("warmup(steps=", steps, ", start_factor=", fmt(start_factor), ")"),
                  [=](std::int64_t step, double base_lr) {
                    const double progress = static_cast<double>(std::min(step, steps)) / steps;
                    return base_lr * (start_factor + (1.0 - start_factor) * progress);
                  });
}

Schedule sequential(std::vector<Schedule> schedules, std::vector<std::int64_t> milestones) {
  DESCENT_CHECK(!schedules.empty() && milestones.size() + 1 == schedules.size(),
                "sequential: needs one milestone fewer than schedules, got ", schedules.size(),
                " schedules and ", milestones.size(), " milestones");
  DESCENT_CHECK(std::is_sorted(milestones.begin(), milestones.end()) &&
                    (milestones.empty() || milestones.front() >= 0),
                "sequential: milestones must be increasing and >= 0");
  std::string description;
  for (const Schedule& s : schedules) {
    if (!description.empty()) description += " -> ";
    description += s.description();
  }
  return Schedule(
      description, [schedules = std::move(schedules), milestones = std::move(milestones)](
                       std::int64_t step, double base_lr) {
        const auto index =
            std::upper_bound(milestones.begin(), milestones.end(), step) - milestones.begin();
        const std::int64_t start = index == 0 ? 0 : milestones[index - 1];
        return schedules[index](step - start, base_lr);
      });
}

ReduceLROnPlateau::ReduceLROnPlateau(PlateauOptions options) : options_(std::move(options)) {
  DESCENT_CHECK(options_.factor < 1.0 && options_.factor >= 0.0,
                "ReduceLROnPlateau: factor must be in [0, 1), got ", options_.factor);
  DESCENT_CHECK(options_.patience >= 0, "ReduceLROnPlateau: patience must be >= 0, got ",
                options_.patience);
  DESCENT_CHECK(options_.cooldown >= 0, "ReduceLROnPlateau: cooldown must be >= 0, got ",
                options_.cooldown);
  DESCENT_CHECK(options_.threshold >= 0, "ReduceLROnPlateau: threshold must be >= 0, got ",
                options_.threshold);
  DESCENT_CHECK(!options_.min_lr.empty(), "ReduceLROnPlateau: min_lr needs at least one value");
  best_ = options_.mode == PlateauOptions::Mode::min ? std::numeric_limits<double>::infinity()
                                                     : -std::numeric_limits<double>::infinity();
}

bool ReduceLROnPlateau::is_better(double value) const {
  using Mode = PlateauOptions::Mode;
  using ThresholdMode = PlateauOptions::ThresholdMode;
  const double t = options_.threshold;
  if (options_.mode == Mode::min) {
    return options_.threshold_mode == ThresholdMode::rel ? value < best_ * (1.0 - t)
                                                         : value < best_ - t;
  }
  return options_.threshold_mode == ThresholdMode::rel ? value > best_ * (1.0 + t)
                                                       : value > best_ + t;
}

bool ReduceLROnPlateau::step(double metric, std::span<double> lrs) {
  DESCENT_CHECK(options_.min_lr.size() == 1 || options_.min_lr.size() == lrs.size(),
                "ReduceLROnPlateau: ", options_.min_lr.size(), " min_lr values for ", lrs.size(),
                " param groups");
  ++last_epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs in cooldown do not count
  }
  bool reduced = false;
  if (num_bad_epochs_ > options_.patience) {
    for (std::size_t g = 0; g < lrs.size(); ++g) {
      const double min_lr = options_.min_lr[options_.min_lr.size() == 1 ? 0 : g];
      const double new_lr = std::max(lrs[g] * options_.factor, min_lr);
      if (lrs[g] - new_lr > options_.eps) {
        lrs[g] = new_lr;
        reduced = true;
      }
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
  return reduced;
}

std::map<std::string, double> ReduceLROnPlateau::state_dict() const {
  return {{"best", best_},
          {"num_bad_epochs", static_cast<double>(num_bad_epochs_)},
          {"cooldown_counter", static_cast<double>(cooldown_counter_)},
          {"last_epoch", static_cast<double>(last_epoch_)}};
}

void ReduceLROnPlateau::load_state_dict(const std::map<std::string, double>& state) {
  for (const char* key : {"best", "num_bad_epochs", "cooldown_counter", "last_epoch"}) {
    DESCENT_CHECK(state.count(key) == 1, "ReduceLROnPlateau::load_state_dict: missing key '", key,
                  "'");
  }
  best_ = state.at("best");
  num_bad_epochs_ = static_cast<std::int64_t>(state.at("num_bad_epochs"));
  cooldown_counter_ = static_cast<std::int64_t>(state.at("cooldown_counter"));
  last_epoch_ = static_cast<std::int64_t>(state.at("last_epoch"));
}

}  // namespace descent::schedule
