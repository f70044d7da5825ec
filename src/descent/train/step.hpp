// One optimizer step, called once per iteration after backward():
//   unscale -> inf/NaN check -> clip -> optimizer update -> schedule -> EMA
//
// ====== Intended usage ======
//   amp::GradScaler scaler;                                     // optional
//   train::ModelEma ema(*model, {.decay = 0.999});              // optional
//   train::StepPipeline pipeline(optimizer, {
//       .clip = {.max_norm = 1.0},
//       .schedule = schedule::warmup(500).then(schedule::cosine(9500), 500),
//       .nan_policy = train::NanPolicy::skip,
//       .scaler = &scaler,
//       .ema = &ema});
//   for (...) {
//     optimizer.zero_grad();
//     const Tensor loss = ops::cross_entropy(model->forward(x), y);
//     scaler.scale(loss).backward();
//     const train::StepOutcome r = pipeline.step(loss.item());
//     if (r.stop) throw Error(r.message);                       // the NaN policy said stop
//   }
//
// What one call does, in order:
//   1. the loss given is checked first: NaN or Inf skips the step (NaN policy, below)
//   2. unscale and check: one reduction over the gradients gives their global L2 norm (of
//      the unscaled gradients: grad_norm, before any clipping) and whether any is Inf/NaN.
//      Nothing is written: the gradients stay scaled in memory (GradScaler's one-pass design)
//   3. clip: by value (clamp to +-clip.value) and AGC (clip.agc) rewrite the gradients in
//      place, with thresholds multiplied by the loss scale, so that they act on the unscaled
//      values; by norm is a factor min(1, max_norm / (norm + 1e-6)) (PyTorch's
//      clip_grad_norm_), taken from step 2's norm or, after value or AGC clipping changed
//      the gradients, from one more reduction
//   4. update: optimizer.step({.grad_scale = clip factor / loss scale}): unscaling and norm
//      clipping cost no pass of their own (DESIGN.md "one pass per step")
//   5. schedule: the lrs for the next step are schedule(steps_taken, base_lr); they are set
//      before each update, from the count of steps TAKEN, so a skipped step does not move
//      the schedule (PyTorch's "lr_scheduler.step() before optimizer.step()" warning after
//      a GradScaler skip cannot happen here)
//   6. EMA: ema->update() after each step taken
//   then scaler->update() (after steps taken and overflow skips alike).
// With a scaler, call only scaler.scale(loss).backward() yourself: the pipeline calls its
// unscale_() and update() (calling them too is an Error from the scaler).
//
// NaN policy (for a non-finite loss, or non-finite gradients without an enabled scaler):
//   stop  the step is skipped and StepOutcome.stop is set, with a message naming the step
//         and the value; the caller stops (the Trainer then keeps the last good checkpoint)
//   skip  the step is skipped and counted, and training goes on
// With an enabled GradScaler, non-finite gradients are an overflow: skipped, and the scaler
// backs off, under either policy (that is what loss scaling expects). Under both policies,
// max_consecutive_skips skipped steps in a row stop the run.
//
// Gradient accumulation over micro-batches: call backward() on each micro-batch's loss
// weighted by its share of the examples (mean-reduced loss * n_i / n), then step() once:
// the gradients add up to those of the large batch. (Batch norm sees each micro-batch
// alone, so its statistics, and thus a BN model's gradients, differ from the large batch's.)
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "descent/amp/grad_scaler.hpp"
#include "descent/optim/optimizer.hpp"
#include "descent/schedule/schedule.hpp"
#include "descent/train/ema.hpp"

namespace descent::train {

enum class NanPolicy { stop, skip };
// "stop" or "skip"; anything else throws Error naming the text.
NanPolicy parse_nan_policy(std::string_view text);
const char* nan_policy_name(NanPolicy policy);

struct ClipOptions {
  double max_norm = 0.0;  // bound on the global L2 norm (0: off)
  double value = 0.0;     // clamp each element to [-value, value] (0: off)
  double agc = 0.0;       // adaptive clipping factor, clip::adaptive_clip_grad_ (0: off)
  double agc_eps = 1e-3;
};

struct StepPipelineOptions {
  ClipOptions clip = {};
  // Of the steps taken so far; unset: the optimizer's lrs are left alone.
  std::optional<schedule::Schedule> schedule = std::nullopt;
  NanPolicy nan_policy = NanPolicy::stop;
  std::int64_t max_consecutive_skips = 20;  // 0: never stop for skipping
  amp::GradScaler* scaler = nullptr;        // not owned
  ModelEma* ema = nullptr;                  // not owned
};

enum class SkipReason { none, non_finite_loss, non_finite_grad, overflow, anomaly };
// "non_finite_loss", ... ("" for none)
const char* skip_reason_name(SkipReason reason);

struct StepOutcome {
  bool taken = false;
  SkipReason skipped = SkipReason::none;
  bool stop = false;    // the NaN policy (or too many skips in a row) says stop
  std::string what;     // what was not finite: "the gradient norm is nan"; empty when taken
  std::string message;  // "NaN guard: <what> at step 7; ...": why skipped or stopping
  double loss = std::numeric_limits<double>::quiet_NaN();       // as given
  double grad_norm = std::numeric_limits<double>::quiet_NaN();  // before clipping; NaN: unread
  double clip_factor = 1.0;                                     // norm clipping's factor
  double lr = 0.0;                                              // of group 0, for this step
  double loss_scale = 1.0;  // in force for this step (1 without an enabled scaler)
  std::int64_t step = 0;    // calls so far, this one included (steps taken + skipped)
};

class StepPipeline {
 public:
  // Keeps a reference to the optimizer (and the scaler and EMA given in options); the
  // schedule scales the lrs the optimizer has now. `grad_tensors` are the tensors whose
  // gradients the norm and value clipping read, by default the optimizer's parameters; pass
  // a model's flat parameter tensor to make them one pass over one buffer. (AGC always
  // works on the optimizer's parameters: it needs each weight's rows.) Throws naming the
  // option for a negative clip threshold or max_consecutive_skips.
  StepPipeline(optim::Optimizer& optimizer, StepPipelineOptions options = {},
               std::vector<Tensor> grad_tensors = {});

  // One step, after backward(); `loss` is the (unscaled) loss value, std::nullopt when it
  // is not known (then only the gradients are checked).
  StepOutcome step(std::optional<double> loss = std::nullopt);
  // Records a step skipped for a reason found by the caller (say, anomaly mode's error),
  // under the same policy; nothing is read or changed but the counters.
  StepOutcome skip(SkipReason reason, std::string detail = "",
                   std::optional<double> loss = std::nullopt);

  std::int64_t steps_taken() const { return taken_; }
  std::int64_t skipped_steps() const { return skipped_; }
  std::int64_t consecutive_skips() const { return consecutive_; }
  const StepPipelineOptions& options() const { return options_; }
  // The lr of each group after `taken` steps.
  std::vector<double> lrs_at(std::int64_t taken) const;

  // For a resume: the counters as they were.
  void set_counters(std::int64_t taken, std::int64_t skipped, std::int64_t consecutive);

 private:
  StepOutcome skipped(StepOutcome out, SkipReason reason, const std::string& detail);
  void set_lrs(StepOutcome& out);

  optim::Optimizer& optimizer_;
  StepPipelineOptions options_;
  std::vector<Tensor> grads_of_;  // whose grads the norm reads
  std::vector<Tensor> params_;    // the optimizer's, for AGC
  std::vector<double> base_lrs_;
  std::int64_t taken_ = 0;
  std::int64_t skipped_ = 0;
  std::int64_t consecutive_ = 0;
};

}  // namespace descent::train
