// The training doctor: watches a run's per-step numbers and says, once and specifically,
// what looks wrong and what to try.
//
// ====== Intended usage ======
//   train::Doctor doctor({.warmup_steps = config.warmup_steps});
//   for (...) {
//     ...
//     for (const train::Diagnosis& d : doctor.observe({.step = step, .loss = loss,
//                                                       .grad_norm = norm, .lr = lr}))
//       log.warn(d);   // print once, and write to metrics.jsonl
//   }
//   doctor.observe_evaluation({.batch_norm_in_training = ...});
//
// Every field of StepStats but `step` may be left NaN when unknown; a rule that needs it then
// stays quiet. Each kind of warning is issued at most once per run. The rules and their
// thresholds (all in DoctorOptions):
//   exploding_gradients  log(grad norm) rises steadily over a window (least-squares slope of at
//                        least one doubling per `explode_doubling_steps`) and by a factor of at
//                        least `explode_growth`; or the gradient norm becomes non-finite after
//                        finite steps. Suggests clipping by global norm (Pascanu et al. 2013).
//   early_divergence     within the first `early_steps`, without warmup, the loss exceeds
//                        `spike_factor` times its first value or turns non-finite. Suggests a
//                        linear warmup (Goyal et al. 2017).
//   update_ratio_high    the update-to-parameter norm ratio ||dθ|| / ||θ|| stays above
//   update_ratio_low     `ratio_high` (below `ratio_low`) for `ratio_steps` observations in a
//                        row: a healthy run sits near 1e-3 (Karpathy's rule of thumb), so the
//                        learning rate is likely too high (too low).
//   dead_relus           the fraction of ReLU outputs that are zero for the whole batch stays
//                        above `dead_relu_fraction` for `dead_relu_steps` observations.
//   batch_norm_train_mode_in_eval  an evaluation ran with batch norm in training mode.
//   fp16_underflow       an fp16 run without loss scaling (loss_scale 1) flushed more than
//                        `underflow_fraction` of its nonzero gradient values to zero
//                        (Micikevicius et al. 2018): suggests dynamic loss scaling or bf16.
#pragma once

#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <set>
#include <string>
#include <vector>

namespace descent::train {

inline constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();

struct StepStats {
  std::int64_t step = 0;
  double loss = kUnknown;
  double grad_norm = kUnknown;  // global gradient norm before clipping
  double lr = kUnknown;
  double update_ratio = kUnknown;        // ||dθ|| / ||θ|| of this step
  double dead_relu_fraction = kUnknown;  // fraction of ReLU units dead for the whole batch
  double fp16_underflow = kUnknown;      // fraction of nonzero gradients fp16 flushed to zero
  double loss_scale = kUnknown;          // the loss scale in force (1: none)
};

struct EvaluationStats {
  bool batch_norm_in_training = false;
  std::string module = {};  // the first such module's name, for the message
};

struct DoctorOptions {
  std::int64_t warmup_steps = 0;  // the run's warmup; 0 means none
  std::int64_t explode_window = 20;
  double explode_doubling_steps = 5.0;
  double explode_growth = 100.0;
  std::int64_t early_steps = 200;
  double spike_factor = 3.0;
  double ratio_high = 3e-2;
  double ratio_low = 1e-5;
  std::int64_t ratio_steps = 50;
  double dead_relu_fraction = 0.5;
  std::int64_t dead_relu_steps = 20;
  double underflow_fraction = 1e-3;
};

struct Diagnosis {
  std::string code;     // "exploding_gradients", ...
  std::int64_t step;    // when it was noticed
  std::string message;  // one or two sentences: what was seen, what to try
};

class Doctor {
 public:
  explicit Doctor(DoctorOptions options = {});
  // Returns the warnings first noticed at this step (usually none).
  std::vector<Diagnosis> observe(const StepStats& stats);
  std::vector<Diagnosis> observe_evaluation(const EvaluationStats& stats, std::int64_t step);
  // Every warning issued so far, in order.
  const std::vector<Diagnosis>& diagnoses() const { return issued_; }

 private:
  void issue(std::vector<Diagnosis>& out, std::string code, std::int64_t step, std::string message);

  DoctorOptions options_;
  std::deque<std::pair<std::int64_t, double>> log_norms_;  // (step, log grad norm)
  bool seen_finite_norm_ = false;
  double first_loss_ = kUnknown;
  std::int64_t first_step_ = -1;
  std::int64_t high_ratio_run_ = 0;
  std::int64_t low_ratio_run_ = 0;
  std::int64_t dead_run_ = 0;
  std::set<std::string> codes_;
  std::vector<Diagnosis> issued_;
};

}  // namespace descent::train
