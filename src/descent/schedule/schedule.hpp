// Learning-rate schedules as pure functions of the step (Optax's schedules; PyTorch's
// torch.optim.lr_scheduler formulas and defaults, version 1.13).
//
// ====== Intended usage ======
//   Schedule s = warmup(500).then(cosine(9500), 500);   // linear warmup, then cosine
//   for (std::int64_t step = 0; step < 10000; ++step) {
//     for (auto& group : groups) group.lr = s(step, group.base_lr);
//     ...
//   }
// A schedule maps (step, base_lr) to the learning rate in force at that step; each param
// group keeps its own base_lr, so groups scale together as in PyTorch. Resuming needs only
// the step. "step" counts scheduler steps: iterations or epochs, as the caller chooses.
//
// PyTorch computes most schedules recursively ("chainable" form: lr_t from lr_{t-1}); descent
// uses the closed forms. tests/reference/record_schedules.py measures the two forms apart by at
// most 3e-14 relative over 1,100 steps, and the tests match PyTorch's stepped values at 1e-9.
//
// Only ReduceLROnPlateau keeps state (it reacts to a metric); it is a class of its own below.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace descent::schedule {

class Schedule {
 public:
  using Fn = std::function<double(std::int64_t step, double base_lr)>;
  Schedule(std::string description, Fn fn);

  // The learning rate at `step` (>= 0) for a group whose base learning rate is base_lr.
  double operator()(std::int64_t step, double base_lr) const;
  // This schedule for steps [0, at), then `next` from its own step 0 (PyTorch's SequentialLR
  // with one milestone).
  Schedule then(const Schedule& next, std::int64_t at) const;
  // E.g. "cosine(t_max=1000, eta_min=0)"; composed schedules join theirs with " -> ".
  const std::string& description() const { return description_; }

 private:
  std::string description_;
  Fn fn_;
};

// base_lr at every step.
Schedule constant();
// ConstantLR: base_lr * factor for steps < total_iters, then base_lr.
Schedule constant_factor(double factor = 1.0 / 3.0, std::int64_t total_iters = 5);
// StepLR: base_lr * gamma^floor(step / step_size).
Schedule step_decay(std::int64_t step_size, double gamma = 0.1);
// MultiStepLR: base_lr * gamma^(number of milestones <= step). Milestones increasing.
Schedule multi_step(std::vector<std::int64_t> milestones, double gamma = 0.1);
// ExponentialLR: base_lr * gamma^step.
Schedule exponential(double gamma);
// CosineAnnealingLR (Loshchilov & Hutter 2017, without restarts):
// eta_min + (base_lr - eta_min) (1 + cos(pi step / t_max)) / 2. Past t_max it rises again,
// as PyTorch's does.
Schedule cosine(std::int64_t t_max, double eta_min = 0.0);
// CosineAnnealingWarmRestarts (SGDR): cosine over periods t_0, t_0 t_mult, t_0 t_mult^2, ...
Schedule cosine_restarts(std::int64_t t_0, std::int64_t t_mult = 1, double eta_min = 0.0);
// LinearLR: base_lr times a factor going linearly from start_factor to end_factor over
// total_iters steps, then constant.
Schedule linear(double start_factor = 1.0 / 3.0, double end_factor = 1.0,
                std::int64_t total_iters = 5);
// PolynomialLR: base_lr (1 - min(step, total_iters) / total_iters)^power.
Schedule polynomial(std::int64_t total_iters = 5, double power = 1.0);

enum class Anneal { cos, linear };
struct OneCycleOptions {
  std::int64_t total_steps = 0;  // required
  double pct_start = 0.3;
  Anneal anneal = Anneal::cos;
  double div_factor = 25.0;       // initial_lr = max_lr / div_factor
  double final_div_factor = 1e4;  // min_lr = initial_lr / final_div_factor
  bool three_phase = false;
};
// OneCycleLR (Smith & Topin 2018) with max_lr = the group's base_lr. Steps past total_steps
// throw, as PyTorch does. (Momentum cycling is not part of the learning rate schedule.)
Schedule one_cycle(const OneCycleOptions& options);
// Linear warmup from start_factor * base_lr to base_lr over `steps` steps (then base_lr);
// combine with then(): warmup(500).then(cosine(9500), 500). start_factor in [0, 1].
Schedule warmup(std::int64_t steps, double start_factor = 0.0);
// SequentialLR: schedules[i] runs from milestones[i-1] (restarted at its own step 0).
Schedule sequential(std::vector<Schedule> schedules, std::vector<std::int64_t> milestones);

// ReduceLROnPlateau: multiplies every group's lr by `factor` when the metric has not improved
// for more than `patience` steps. Follows PyTorch's rules exactly (thresholds, cooldown,
// min_lr per group, eps).
struct PlateauOptions {
  enum class Mode { min, max };
  enum class ThresholdMode { rel, abs };
  Mode mode = Mode::min;
  double factor = 0.1;
  std::int64_t patience = 10;
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::rel;
  std::int64_t cooldown = 0;
  std::vector<double> min_lr = {0.0};  // one value for all groups, or one per group
  double eps = 1e-8;
};

class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(PlateauOptions options = {});
  // Reads the metric and lowers lrs (one per param group) in place when it has plateaued.
  // Returns true when any lr was lowered.
  bool step(double metric, std::span<double> lrs);

  double best() const { return best_; }
  std::int64_t num_bad_epochs() const { return num_bad_epochs_; }
  // PyTorch's names: best, num_bad_epochs, cooldown_counter, last_epoch.
  std::map<std::string, double> state_dict() const;
  void load_state_dict(const std::map<std::string, double>& state);

 private:
  bool is_better(double value) const;

  PlateauOptions options_;
  double best_;
  std::int64_t num_bad_epochs_ = 0;
  std::int64_t cooldown_counter_ = 0;
  std::int64_t last_epoch_ = 0;
};

}  // namespace descent::schedule
