// The training loop: batches -> forward -> loss -> backward -> StepPipeline (clip, step,
// schedule, EMA), with evaluation each epoch, checkpoints, early stopping and a NaN guard;
// callbacks watch. The loss follows the training data's targets (Objective, below):
// cross-entropy for class labels and for next-token targets, mean squared error for real
// targets.
//
// ====== Intended usage ======
//   auto model = nn::build_model(nn::ModelSpec::parse("cnn"), gen);       // flattened
//   auto opt = optim::create_optimizer("sgd", params, {{"lr", "0.05"}, {"momentum", "0.9"}});
//   data::DataLoader loader(train_set, {.batch_size = 128, .shuffle = true, .seed = 1});
//   train::Trainer trainer(model, *opt, loader, {
//       .epochs = 10,
//       .schedule = schedule::cosine(10 * loader.num_batches()),
//       .warmup_steps = 200,
//       .clip_norm = 5.0,
//       .nan_policy = train::NanPolicy::skip,               // or stop (the default)
//       .checkpoint_dir = "runs/a",
//       .ema = train::EmaOptions{.decay = 0.999}});         // evaluate on averaged weights
//   trainer.set_eval_set(test_set);                       // evaluated after each epoch
//   trainer.add_callback(std::make_shared<train::ProgressBar>(stdout, true));
//   train::TrainResult result = trainer.fit();             // see result.stop
//   // to continue a run: trainer.resume(train::load_checkpoint("runs/a/last.safetensors"));
//
// One step (llm.c's loop, in words), over `accumulate` micro-batches (1 by default):
//   zero the gradients
//   for each micro-batch i of the step (n_i examples of the step's n):
//     loss_i = loss(model(x_i), y_i)                       a non-finite loss skips the rest
//     backward of loss_i * n_i / n                         gradients add up in the flat buffer
//   StepPipeline::step (step.hpp): norm ||g||_2 in one pass, the NaN guard, clipping (by
//     norm folded into the optimizer's pass; by value and AGC in place), the update with
//     lr = warmup(t) applied to schedule(t or epoch), t = steps taken, then the EMA
// The n_i / n weights make the accumulated gradient that of one batch of n examples, up to
// float rounding, for a model without batch norm: BN normalizes each micro-batch with its
// own statistics, so a BN model's gradients (and running statistics) differ.
//
// The NaN guard (nan_policy): a non-finite loss or gradient norm either stops the run
// (stop: result.message names the step, the loss and, with detect_anomaly, the first op
// that produced the NaN or Inf) or skips the step and goes on (skip: counted in
// StepReport / metrics.jsonl; max_consecutive_skips skips in a row stop the run). A stop
// writes nothing: the last good checkpoint is the one on disk. "step" counts iterations,
// skipped ones included (max_steps, log_every, checkpoints); the schedule counts only the
// steps taken.
//
// After each epoch: evaluation of the eval set in eval() mode under no-grad (back to train()
// after), on the EMA weights when `ema` is set and evaluate_ema is on, then best.safetensors
// when the eval result improved (a higher accuracy for classification, a lower loss for the
// other objectives), last.safetensors, and the early-stopping test.
//
// Deterministic: with the same seed and thread count the run is bit-identical, and a run
// resumed from a checkpoint (in any process) continues exactly as if it had not stopped:
// the checkpoint holds the parameters, buffers, optimizer state, dropout streams, the step,
// the epoch and the batch within it (the loader's order is a function of (seed, epoch)), the
// best accuracy and the early-stopping count, the steps taken and skipped, and the EMA
// weights ("ema.<name>") with their update count.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "descent/amp/grad_scaler.hpp"
#include "descent/amp/policy.hpp"
#include "descent/data/loader.hpp"
#include "descent/nn/module.hpp"
#include "descent/optim/optimizer.hpp"
#include "descent/schedule/schedule.hpp"
#include "descent/train/checkpoint.hpp"
#include "descent/train/ema.hpp"
#include "descent/train/step.hpp"

namespace descent::train {

enum class ScheduleUnit { step, epoch };

// What the model learns, read from the dataset's targets by objective_of:
//   classification  targets (N) class indices, outputs (N, C) logits:
//                   cross-entropy, accuracy
//   tokens          targets (N, T) token indices, outputs (N, T, V) logits (a language
//                   model): cross-entropy per token in nats (bits per character =
//                   loss / ln 2), token accuracy
//   regression      targets (N, K) or (N) real numbers, outputs of the same size: mean
//                   squared error; no accuracy (NaN in the reports)
// Best checkpoint and early stopping follow the eval accuracy for classification and the
// eval loss (lower is better) for the others.
enum class Objective { classification, tokens, regression };
Objective objective_of(const data::Dataset& dataset);
const char* objective_name(Objective objective);  // "classification", "tokens", "regression"

struct TrainerOptions {
  std::int64_t epochs = 1;
  // Stop after this many steps in all (skipped ones included), counting those before a
  // resume (0: the epochs alone decide).
  std::int64_t max_steps = 0;
  // Of the step or of the epoch (schedule_unit); unset: the optimizer's lr throughout.
  std::optional<schedule::Schedule> schedule = std::nullopt;
  ScheduleUnit schedule_unit = ScheduleUnit::step;
  // Linear warmup from 0 over this many steps, multiplying the schedule's lr.
  std::int64_t warmup_steps = 0;
  double clip_norm = 0.0;   // max global L2 norm of the gradients; 0: no clipping
  double clip_value = 0.0;  // clamp every gradient element to [-clip_value, clip_value]; 0: off
  double agc = 0.0;         // adaptive gradient clipping factor (clip::adaptive_clip_grad_); 0: off
  NanPolicy nan_policy = NanPolicy::stop;
  std::int64_t max_consecutive_skips = 20;  // skip policy: stop after this many in a row
  // Runs forward and backward under autograd::AnomalyGuard (slower): a NaN/Inf then names
  // the op that made it.
  bool detect_anomaly = false;
  std::int64_t accumulate = 1;  // micro-batches (loader batches) per optimizer step
  double label_smoothing = 0.0;
  // Early stopping: stop after this many epochs without a better eval result (0: never).
  std::int64_t patience = 0;
  std::int64_t log_every = 50;        // steps per metrics record (0: epochs only)
  std::string checkpoint_dir = "";    // last.safetensors, best.safetensors; empty: none
  std::int64_t checkpoint_every = 0;  // also write last.safetensors every so many steps
  Metadata checkpoint_metadata = {};  // added to every checkpoint (e.g. the run's config)
  SaveOptions checkpoint_save = {};   // passed to save_checkpoint (progress hooks)
  std::int64_t eval_batch_size = 1000;
  // An average of the weights, updated after every step taken; evaluate_ema: the per-epoch
  // evaluation (and so the best checkpoint and early stopping) uses the averaged weights.
  std::optional<EmaOptions> ema = std::nullopt;
  bool evaluate_ema = true;
  // Mixed precision (Micikevicius et al. 2018; amp/policy.hpp): bf16 or fp16 runs linear,
  // matmul and conv2d in 16 bits with f32 sums (ops/autocast.hpp) on a 16-bit copy of the
  // weights refreshed after each step; the model's flat f32 buffer stays the master copy, so
  // checkpoints are f32 and resume in any precision. Evaluation runs in f32.
  amp::Precision precision = amp::Precision::fp32;
  // fp16 only: dynamic loss scaling (PyTorch GradScaler's defaults); its state travels in
  // checkpoints. enabled = false trains fp16 unscaled (small gradients flush to zero).
  amp::GradScalerOptions loss_scaler = {};
};

// Loss and accuracy of a model on a dataset.
struct Evaluation {
  double loss = 0.0;      // mean cross-entropy (per example or per token) or squared error
  double accuracy = 0.0;  // fraction in [0, 1] of examples or tokens; NaN for regression
  std::int64_t examples = 0;
  Objective objective = Objective::classification;
  // Regression: the fraction of examples with a squared error above 0.04 (Pascanu et al.'s
  // error on the adding problem, where targets are sums in [0, 2)); NaN otherwise.
  double error_rate = std::numeric_limits<double>::quiet_NaN();

  double bits_per_char() const;  // loss / ln 2 (tokens)
};

// Evaluates in eval() mode under no-grad, then restores the model's mode, with the loss of
// objective_of(dataset). `transforms` are applied to each batch's inputs, as a loader would
// (e.g. the training data's normalization).
Evaluation evaluate(nn::Module& model, const data::Dataset& dataset, std::int64_t batch_size = 1000,
                    const std::vector<std::shared_ptr<const data::Transform>>& transforms = {});

// ---- what callbacks see ----

struct StepReport {
  std::int64_t step = 0;  // steps taken, this one included
  std::int64_t total_steps = 0;
  std::int64_t epoch = 0;  // 0-based epoch of this step
  std::int64_t epochs = 0;
  std::int64_t batch = 0;  // 1-based batch within the epoch
  std::int64_t batches_per_epoch = 0;
  double loss = 0.0;
  double accuracy = 0.0;         // of this batch (NaN for regression)
  double lr = 0.0;               // of group 0
  double grad_norm = 0.0;        // before clipping
  double samples_per_sec = 0.0;  // since the start of this process's run
  double eta_seconds = 0.0;      // to the last step, at that speed
  double wall_seconds = 0.0;     // since fit() began
  bool skipped = false;          // the NaN guard skipped this step (skip policy)
  SkipReason skip_reason = SkipReason::none;
  std::int64_t skipped_steps = 0;  // in all, this one included
  double loss_scale = 1.0;
  // fp16 runs: the fraction of the nonzero gradient values rounded to fp16 in this step's
  // backward (the mixed ops' incoming gradients, scaled) that became zero; NaN otherwise.
  double fp16_underflow = std::numeric_limits<double>::quiet_NaN();
};

// Means over the steps since the previous record (every log_every steps).
struct IntervalReport {
  std::int64_t step = 0;
  std::int64_t epoch = 0;
  double loss = 0.0;
  double accuracy = 0.0;
  double lr = 0.0;
  double grad_norm = 0.0;
  double samples_per_sec = 0.0;
  double wall_seconds = 0.0;
  std::int64_t skipped = 0;        // steps skipped in the interval (not in the means above)
  std::int64_t skipped_steps = 0;  // in all
};

struct EpochReport {
  std::int64_t epoch = 0;  // 1-based: epochs completed
  std::int64_t epochs = 0;
  std::int64_t step = 0;
  double train_loss = 0.0;  // means over this epoch's steps (in this process)
  double train_accuracy = 0.0;
  std::optional<Evaluation> eval;  // unset without an eval set
  std::string eval_name;           // as given to set_eval_set
  double lr = 0.0;
  double grad_norm = 0.0;  // mean over the epoch's steps
  double samples_per_sec = 0.0;
  double epoch_seconds = 0.0;
  double wall_seconds = 0.0;
  bool best = false;         // the eval result is the best so far (see Objective)
  std::int64_t skipped = 0;  // steps skipped in this epoch
};

enum class StopReason { completed, max_steps, early_stopping, non_finite };

struct TrainResult {
  StopReason stop = StopReason::completed;
  std::string message;  // why it stopped, one line
  std::int64_t steps = 0;
  std::int64_t epochs = 0;      // completed
  double best_accuracy = -1.0;  // of the eval set; -1 without one (and for other objectives)
  // of the eval set (tokens, regression); +inf without one
  double best_loss = std::numeric_limits<double>::infinity();
  std::int64_t best_epoch = 0;
  double samples_per_sec = 0.0;  // this process's training steps only
  double wall_seconds = 0.0;
  std::string last_checkpoint;  // empty when none was written
  std::string best_checkpoint;
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_step(const StepReport&) {}
  virtual void on_interval(const IntervalReport&) {}
  virtual void on_epoch(const EpochReport&) {}
  virtual void on_end(const TrainResult&) {}
};

class Trainer {
 public:
  // The model must be flattened (nn::build_model does it) and its parameters must be the
  // optimizer's. Keeps references to all three.
  Trainer(std::shared_ptr<nn::Module> model, optim::Optimizer& optimizer, data::DataLoader& loader,
          TrainerOptions options);

  // Evaluated after each epoch; its accuracy (or loss, see Objective) picks the best
  // checkpoint and drives early stopping. Its objective must be the training data's. `name` ("val",
  // "test") labels it in EpochReport; `transforms` as in evaluate().
  void set_eval_set(std::shared_ptr<const data::Dataset> dataset, std::string name = "eval",
                    std::vector<std::shared_ptr<const data::Transform>> transforms = {});
  void add_callback(std::shared_ptr<Callback> callback);
  // Continues from a checkpoint written by a Trainer: restores model, optimizer and RNG
  // streams, and the position of the run. Throws (changing nothing) when it does not fit.
  void resume(const Checkpoint& checkpoint);

  TrainResult fit();

  // Stops the optimizer writing this trainer's 16-bit weight copy.
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  std::int64_t step() const { return step_; }
  const StepPipeline& pipeline() const { return pipeline_; }
  // The average of the weights; null unless options.ema is set.
  ModelEma* ema() { return ema_.get(); }
  // The loss scaler of an fp16 run; null otherwise (or with loss_scaler.enabled = false).
  const amp::GradScaler* scaler() const { return scaler_.get(); }
  const TrainerOptions& options() const { return options_; }
  Objective objective() const { return objective_; }
  // The lr of each group at step `step` of epoch `epoch`.
  std::vector<double> lrs_at(std::int64_t step, std::int64_t epoch) const;

 private:
  void save(const std::string& name, std::int64_t epoch, std::int64_t batch);
  StepPipelineOptions pipeline_options();
  double lr_at(double base_lr, std::int64_t step, std::int64_t epoch) const;
  std::int64_t batch_size_at(std::int64_t batch) const;  // examples in batch `batch` of an epoch

  std::shared_ptr<nn::Module> model_;
  optim::Optimizer& optimizer_;
  data::DataLoader& loader_;
  TrainerOptions options_;
  Objective objective_;
  std::shared_ptr<const data::Dataset> eval_set_;
  std::string eval_name_;
  std::vector<std::shared_ptr<const data::Transform>> eval_transforms_;
  std::vector<std::shared_ptr<Callback>> callbacks_;
  std::vector<double> base_lrs_;
  std::unique_ptr<ModelEma> ema_;            // declared before pipeline_, which points at it
  std::unique_ptr<amp::GradScaler> scaler_;  // likewise
  std::unique_ptr<amp::MasterWeights> low_weights_;  // the 16-bit copy (bf16, fp16 runs)
  StepPipeline pipeline_;

  // The run's position: what a checkpoint saves.
  std::int64_t step_ = 0;
  std::int64_t epoch_ = 0;  // current epoch (0-based)
  std::int64_t batch_ = 0;  // batches of epoch_ already taken
  double best_accuracy_ = -1.0;
  double best_loss_ = std::numeric_limits<double>::infinity();  // tokens, regression
  std::int64_t best_epoch_ = 0;
  std::int64_t bad_epochs_ = 0;
};

}  // namespace descent::train
