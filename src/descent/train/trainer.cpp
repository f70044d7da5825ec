#include "descent/train/trainer.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "descent/autograd/autograd.hpp"
#include "descent/clip/clip.hpp"
#include "descent/nn/flat.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/autocast.hpp"
#include "descent/ops/loss.hpp"
#include "descent/ops/shape.hpp"

namespace descent::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Exact text of a double (shortest round-trip form), for checkpoint metadata.
std::string exact(double value) {
  char buffer[32];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

double parse_double(const Checkpoint& checkpoint, const std::string& key) {
  const std::string& text = metadata_at(checkpoint, key);
  double value = 0.0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  DESCENT_CHECK(error == std::errc() && end == text.data() + text.size(), "checkpoint '",
                checkpoint.path, "': metadata '", key, "' must be a number, got '", text, "'");
  return value;
}

// Rows of logits (N, C) whose largest entry (the first, on ties) is the target (N).
std::int64_t count_correct(const Tensor& logits, const Tensor& targets) {
  DESCENT_CHECK(logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0),
                "Trainer: expected logits (N, C) and targets (N), got ", shape_str(logits.shape()),
                " and ", shape_str(targets.shape()));
  const std::int64_t rows = logits.size(0);
  const std::int64_t classes = logits.size(1);
  std::int64_t correct = 0;
  dispatch_float(logits.dtype(), "Trainer", [&]<typename T>() {
    const T* values = logits.data<T>();
    for (std::int64_t i = 0; i < rows; ++i) {
      const T* row = values + i * classes;
      std::int64_t best = 0;
      for (std::int64_t c = 1; c < classes; ++c) best = row[c] > row[best] ? c : best;
      const std::int64_t target = targets.dtype() == DType::i32 ? targets.data<std::int32_t>()[i]
                                                                : targets.data<std::int64_t>()[i];
      correct += best == target ? 1 : 0;
    }
  });
  return correct;
}

// Of an (N, T, V) tensor: its (N*T, V) rows.
Tensor token_rows(const Tensor& logits) {
  return ops::reshape(logits, {logits.size(0) * logits.size(1), logits.size(2)});
}

// The loss of one batch for the objective, and how many of its examples (classification) or
// tokens were predicted right (0 for regression). Shapes are checked here, once per batch,
// so that a model that does not fit the data fails with both shapes named.
struct BatchLoss {
  Tensor loss;
  std::int64_t correct = 0;
};

BatchLoss batch_loss(Objective objective, const Tensor& outputs, const Tensor& targets,
                     const ops::CrossEntropyOptions& options) {
  switch (objective) {
    case Objective::classification: {
      Tensor loss = ops::cross_entropy(outputs, targets, options);  // outputs (N, C)
      return {loss, count_correct(outputs, targets)};
    }
    case Objective::tokens: {
      DESCENT_CHECK(outputs.dim() == 3 && targets.dim() == 2 &&
                        outputs.size(0) == targets.size(0) && outputs.size(1) == targets.size(1),
                    "Trainer: expected logits (N, T, V) for tokens (N, T), got ",
                    shape_str(outputs.shape()), " for ", shape_str(targets.shape()));
      const Tensor logits = token_rows(outputs);                       // (N*T, V)
      const Tensor tokens = ops::reshape(targets, {targets.numel()});  // (N*T)
      return {ops::cross_entropy(logits, tokens, options), count_correct(logits, tokens)};
    }
    case Objective::regression: {
      // (N) outputs for (N, 1) targets and the reverse are the same thing.
      DESCENT_CHECK(outputs.numel() == targets.numel() && outputs.dim() >= 1 &&
                        outputs.size(0) == targets.size(0),
                    "Trainer: expected outputs of the targets' size, got ",
                    shape_str(outputs.shape()), " for targets ", shape_str(targets.shape()));
      const Tensor y =
          outputs.shape() == targets.shape() ? outputs : ops::reshape(outputs, targets.shape());
      return {ops::mse_loss(y, targets), 0};
    }
  }
  return {};
}

// Checks the options before any member is built from them.
TrainerOptions checked(const std::shared_ptr<nn::Module>& model, TrainerOptions options) {
  DESCENT_CHECK(model != nullptr, "Trainer: no model");
  DESCENT_CHECK(model->is_flat(), "Trainer: the model's parameters must be flattened first ",
                "(nn::flatten_parameters, or build it with nn::build_model)");
  DESCENT_CHECK(options.epochs > 0, "Trainer: epochs must be > 0, got ", options.epochs);
  DESCENT_CHECK(options.max_steps >= 0, "Trainer: max_steps must be >= 0, got ", options.max_steps);
  DESCENT_CHECK(options.warmup_steps >= 0, "Trainer: warmup_steps must be >= 0, got ",
                options.warmup_steps);
  DESCENT_CHECK(options.clip_norm >= 0, "Trainer: clip_norm must be >= 0, got ", options.clip_norm);
  DESCENT_CHECK(options.clip_value >= 0, "Trainer: clip_value must be >= 0 (0: off), got ",
                options.clip_value);
  DESCENT_CHECK(options.agc >= 0, "Trainer: agc must be >= 0 (0: off), got ", options.agc);
  DESCENT_CHECK(options.max_consecutive_skips >= 0,
                "Trainer: max_consecutive_skips must be >= 0, got ", options.max_consecutive_skips);
  DESCENT_CHECK(options.accumulate >= 1, "Trainer: accumulate must be >= 1, got ",
                options.accumulate);
  DESCENT_CHECK(options.patience >= 0, "Trainer: patience must be >= 0, got ", options.patience);
  DESCENT_CHECK(options.log_every >= 0, "Trainer: log_every must be >= 0, got ", options.log_every);
  DESCENT_CHECK(options.checkpoint_every >= 0, "Trainer: checkpoint_every must be >= 0, got ",
                options.checkpoint_every);
  DESCENT_CHECK(options.eval_batch_size > 0, "Trainer: eval_batch_size must be > 0, got ",
                options.eval_batch_size);
  DESCENT_CHECK(options.label_smoothing >= 0 && options.label_smoothing <= 1,
                "Trainer: label_smoothing must be in [0, 1], got ", options.label_smoothing);
  if (options.precision != amp::Precision::fp32) {
    DESCENT_CHECK(model->flat_parameters().params.dtype() == DType::f32, "Trainer: precision ",
                  amp::precision_name(options.precision),
                  " needs f32 parameters (the master weights), got ",
                  dtype_name(model->flat_parameters().params.dtype()));
  }
  if (options.precision == amp::Precision::fp16) amp::GradScaler check(options.loss_scaler);
  return options;
}

// The lrs the optimizer was built with: the schedule scales them (a resume overwrites the
// optimizer's lrs with the scheduled ones, so they are read now).
std::vector<double> lrs_of(const optim::Optimizer& optimizer) {
  std::vector<double> lrs;
  for (std::size_t group = 0; group < optimizer.num_groups(); ++group) {
    lrs.push_back(optimizer.lr(group));
  }
  return lrs;
}

// An integer metadata entry, or `fallback` when the checkpoint predates it.
std::int64_t metadata_int_or(const Checkpoint& checkpoint, const std::string& key,
                             std::int64_t fallback) {
  return checkpoint.metadata.contains(key) ? metadata_int(checkpoint, key) : fallback;
}

}  // namespace

Objective objective_of(const data::Dataset& dataset) {
  const bool integer = dataset.target_dtype() == DType::i64 || dataset.target_dtype() == DType::i32;
  if (!integer) return Objective::regression;
  DESCENT_CHECK(dataset.target_shape().size() <= 1,
                "Trainer: integer targets must be a class per example () or a token per step (T), "
                "got ",
                shape_str(dataset.target_shape()), " per example");
  return dataset.target_shape().empty() ? Objective::classification : Objective::tokens;
}

const char* objective_name(Objective objective) {
  switch (objective) {
    case Objective::classification:
      return "classification";
    case Objective::tokens:
      return "tokens";
    case Objective::regression:
      return "regression";
  }
  return "?";
}

double Evaluation::bits_per_char() const {
  return loss / std::log(2.0);
}

Evaluation evaluate(nn::Module& model, const data::Dataset& dataset, std::int64_t batch_size,
                    const std::vector<std::shared_ptr<const data::Transform>>& transforms) {
  DESCENT_CHECK(batch_size > 0, "evaluate: batch_size must be > 0, got ", batch_size);
  Evaluation result;
  if (dataset.size() == 0) return result;
  const bool was_training = model.is_training();
  model.eval();
  autograd::NoGradGuard no_grad;
  // The loader shares the caller's dataset for the duration of this call only.
  data::DataLoader loader(
      std::shared_ptr<const data::Dataset>(&dataset, [](const data::Dataset*) {}),
      {.batch_size = batch_size, .transforms = transforms});
  result.objective = objective_of(dataset);
  constexpr double kWrong = 0.04;  // Pascanu et al.'s threshold for a wrong sum
  double loss_sum = 0.0;
  std::int64_t correct = 0;
  std::int64_t wrong = 0;
  std::int64_t units = 0;  // examples, tokens, or regression outputs
  try {
    for (const data::Batch& batch : loader.epoch(0)) {
      const Tensor outputs = model.forward(batch.inputs);  // (B, C), (B, T, V) or (B, K)
      if (result.objective == Objective::regression) {
        const std::int64_t n = batch.targets.numel();
        const BatchLoss mse = batch_loss(result.objective, outputs, batch.targets, {});
        loss_sum += mse.loss.item() * static_cast<double>(n);
        const std::vector<double> y = outputs.to_vector();
        const std::vector<double> t = batch.targets.to_vector();
        for (std::int64_t i = 0; i < n; ++i) {
          const double e = (y[i] - t[i]) * (y[i] - t[i]);
          wrong += !(e <= kWrong);  // NaN counts as wrong
        }
        units += n;
      } else {
        const BatchLoss ce = batch_loss(result.objective, outputs, batch.targets,
                                        {.reduction = ops::Reduction::sum});
        loss_sum += ce.loss.item();
        correct += ce.correct;
        units += batch.targets.numel();
      }
      result.examples += batch.size();
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  result.loss = loss_sum / static_cast<double>(units);
  if (result.objective == Objective::regression) {
    result.accuracy = std::numeric_limits<double>::quiet_NaN();
    result.error_rate = static_cast<double>(wrong) / static_cast<double>(units);
  } else {
    result.accuracy = static_cast<double>(correct) / static_cast<double>(units);
  }
  return result;
}

Trainer::Trainer(std::shared_ptr<nn::Module> model, optim::Optimizer& optimizer,
                 data::DataLoader& loader, TrainerOptions options)
    : model_(std::move(model)),
      optimizer_(optimizer),
      loader_(loader),
      options_(checked(model_, std::move(options))),
      objective_(objective_of(loader.dataset())),
      base_lrs_(lrs_of(optimizer_)),
      ema_(options_.ema ? std::make_unique<ModelEma>(*model_, *options_.ema) : nullptr),
      scaler_(options_.precision == amp::Precision::fp16 && options_.loss_scaler.enabled
                  ? std::make_unique<amp::GradScaler>(options_.loss_scaler)
                  : nullptr),
      low_weights_(options_.precision != amp::Precision::fp32
                       ? std::make_unique<amp::MasterWeights>(
                             model_->flat_parameters().params,
                             amp::PrecisionPolicy{options_.precision}.compute_dtype())
                       : nullptr),
      // one tensor for the norm and value clipping: one pass over the flat gradient buffer
      pipeline_(optimizer_, pipeline_options(), {model_->flat_parameters().params}) {
  // the optimizer rounds the weights into the 16-bit copy as it updates them
  if (low_weights_ != nullptr) {
    optimizer_.write_low_copy(low_weights_->master(), low_weights_->copy());
  }
}

Trainer::~Trainer() {
  if (low_weights_ != nullptr) optimizer_.write_low_copy(Tensor(), Tensor());
}

StepPipelineOptions Trainer::pipeline_options() {
  return {
      .clip = {.max_norm = options_.clip_norm, .value = options_.clip_value, .agc = options_.agc},
      // the schedule counts the steps taken; an epoch schedule reads the current epoch
      .schedule = schedule::Schedule(
          "trainer",
          [this](std::int64_t taken, double base) { return lr_at(base, taken, epoch_); }),
      .nan_policy = options_.nan_policy,
      .max_consecutive_skips = options_.max_consecutive_skips,
      .scaler = scaler_.get(),
      .ema = ema_.get()};
}

double Trainer::lr_at(double base_lr, std::int64_t step, std::int64_t epoch) const {
  double lr = base_lr;
  if (options_.schedule) {
    lr = (*options_.schedule)(options_.schedule_unit == ScheduleUnit::step ? step : epoch, base_lr);
  }
  if (options_.warmup_steps > 0) lr = schedule::warmup(options_.warmup_steps)(step, lr);
  return lr;
}

std::int64_t Trainer::batch_size_at(std::int64_t batch) const {
  const std::int64_t size = loader_.options().batch_size;
  return std::min(size, loader_.dataset().size() - batch * size);
}

void Trainer::set_eval_set(std::shared_ptr<const data::Dataset> dataset, std::string name,
                           std::vector<std::shared_ptr<const data::Transform>> transforms) {
  if (dataset != nullptr) {
    const Objective objective = objective_of(*dataset);
    DESCENT_CHECK(objective == objective_, "Trainer: the eval set '", name, "' has ",
                  objective_name(objective), " targets ", shape_str(dataset->target_shape()), " ",
                  dtype_name(dataset->target_dtype()), ", the training data ",
                  objective_name(objective_), " targets ",
                  shape_str(loader_.dataset().target_shape()), " ",
                  dtype_name(loader_.dataset().target_dtype()));
  }
  eval_set_ = std::move(dataset);
  eval_name_ = std::move(name);
  eval_transforms_ = std::move(transforms);
}

void Trainer::add_callback(std::shared_ptr<Callback> callback) {
  callbacks_.push_back(std::move(callback));
}

std::vector<double> Trainer::lrs_at(std::int64_t step, std::int64_t epoch) const {
  std::vector<double> lrs;
  for (double base : base_lrs_) lrs.push_back(lr_at(base, step, epoch));
  return lrs;
}

void Trainer::resume(const Checkpoint& checkpoint) {
  const std::int64_t step = metadata_int(checkpoint, "step");
  const std::int64_t epoch = metadata_int(checkpoint, "epoch");
  const std::int64_t batch = metadata_int(checkpoint, "batch");
  const std::int64_t batches = metadata_int(checkpoint, "batches_per_epoch");
  const double best_accuracy = parse_double(checkpoint, "best_accuracy");
  const std::int64_t best_epoch = metadata_int(checkpoint, "best_epoch");
  const std::int64_t bad_epochs = metadata_int(checkpoint, "bad_epochs");
  DESCENT_CHECK(batches == loader_.num_batches(), "checkpoint '", checkpoint.path,
                "' was saved with ", batches, " batches per epoch, this run has ",
                loader_.num_batches(), " (another batch size or dataset?)");
  DESCENT_CHECK(step >= 0 && epoch >= 0 && batch >= 0 && batch < batches, "checkpoint '",
                checkpoint.path, "': inconsistent position: step ", step, ", epoch ", epoch,
                ", batch ", batch);
  const std::int64_t taken = metadata_int_or(checkpoint, "steps_taken", step);
  const std::int64_t skipped = metadata_int_or(checkpoint, "skipped_steps", 0);
  const std::int64_t consecutive = metadata_int_or(checkpoint, "consecutive_skips", 0);
  const double best_loss = checkpoint.metadata.contains("best_loss")
                               ? parse_double(checkpoint, "best_loss")
                               : std::numeric_limits<double>::infinity();
  DESCENT_CHECK(taken >= 0 && skipped >= 0 && consecutive >= 0 && consecutive <= skipped,
                "checkpoint '", checkpoint.path, "': inconsistent step counts: ", taken, " taken, ",
                skipped, " skipped, ", consecutive, " in a row");
  std::int64_t ema_updates = 0;
  if (ema_ != nullptr) {
    DESCENT_CHECK(checkpoint.ema.size() > 0, "checkpoint '", checkpoint.path,
                  "' holds no average of the weights (ema.*), but this run keeps one (--ema)");
    ema_updates = metadata_int(checkpoint, "ema_updates");
  }
  restore(checkpoint, *model_, &optimizer_);
  if (ema_ != nullptr) {
    try {
      ema_->load_state_dict(checkpoint.ema, ema_updates);
    } catch (const Error& e) {
      throw Error(cat("checkpoint '", checkpoint.path, "': ", e.what()));
    }
  }
  if (scaler_ != nullptr && checkpoint.metadata.count("scaler.scale") > 0) {
    // a checkpoint of an fp32 or bf16 run has none: the scaler starts afresh
    optim::StateDict state;
    for (const char* key :
         {"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"}) {
      state[key] = scalar(parse_double(checkpoint, cat("scaler.", key)), DType::f64);
    }
    try {
      scaler_->load_state_dict(state);
    } catch (const Error& e) {
      throw Error(cat("checkpoint '", checkpoint.path, "': ", e.what()));
    }
  }
  if (low_weights_ != nullptr) low_weights_->refresh();  // the master weights were loaded
  pipeline_.set_counters(taken, skipped, consecutive);
  step_ = step;
  epoch_ = epoch;
  batch_ = batch;
  best_accuracy_ = best_accuracy;
  best_loss_ = best_loss;
  best_epoch_ = best_epoch;
  bad_epochs_ = bad_epochs;
}

void Trainer::save(const std::string& name, std::int64_t epoch, std::int64_t batch) {
  if (options_.checkpoint_dir.empty()) return;
  Checkpoint checkpoint = capture(*model_, &optimizer_);
  for (const auto& [key, value] : options_.checkpoint_metadata) checkpoint.metadata[key] = value;
  checkpoint.metadata["step"] = std::to_string(step_);
  checkpoint.metadata["epoch"] = std::to_string(epoch);
  checkpoint.metadata["batch"] = std::to_string(batch);
  checkpoint.metadata["batches_per_epoch"] = std::to_string(loader_.num_batches());
  checkpoint.metadata["best_accuracy"] = exact(best_accuracy_);
  if (objective_ != Objective::classification) checkpoint.metadata["best_loss"] = exact(best_loss_);
  checkpoint.metadata["best_epoch"] = std::to_string(best_epoch_);
  checkpoint.metadata["bad_epochs"] = std::to_string(bad_epochs_);
  checkpoint.metadata["steps_taken"] = std::to_string(pipeline_.steps_taken());
  checkpoint.metadata["skipped_steps"] = std::to_string(pipeline_.skipped_steps());
  checkpoint.metadata["consecutive_skips"] = std::to_string(pipeline_.consecutive_skips());
  if (ema_ != nullptr) {
    checkpoint.ema = ema_->state_dict();
    checkpoint.metadata["ema_updates"] = std::to_string(ema_->updates());
  }
  checkpoint.metadata["precision"] = std::string(amp::precision_name(options_.precision));
  if (scaler_ != nullptr) {
    for (const auto& [key, value] : scaler_->state_dict()) {
      checkpoint.metadata["scaler." + key] = exact(value.item());
    }
  }
  const std::string path = (std::filesystem::path(options_.checkpoint_dir) / name).string();
  save_checkpoint(path, checkpoint, options_.checkpoint_save);
}

TrainResult Trainer::fit() {
  DESCENT_CHECK(options_.patience == 0 || eval_set_ != nullptr,
                "Trainer: early stopping (patience ", options_.patience, ") needs an eval set");
  const std::int64_t batches = loader_.num_batches();
  DESCENT_CHECK(batches > 0, "Trainer: the training set gives no batch (", loader_.dataset().size(),
                " examples, batch size ", loader_.options().batch_size, ")");
  const std::int64_t steps_per_epoch = (batches + options_.accumulate - 1) / options_.accumulate;
  std::int64_t total = options_.epochs * steps_per_epoch;
  if (options_.max_steps > 0) total = std::min(total, options_.max_steps);
  const std::string last_path =
      options_.checkpoint_dir.empty()
          ? std::string()
          : (std::filesystem::path(options_.checkpoint_dir) / "last.safetensors").string();
  const std::string best_path =
      options_.checkpoint_dir.empty()
          ? std::string()
          : (std::filesystem::path(options_.checkpoint_dir) / "best.safetensors").string();

  // fp16 runs count the gradient values that round to zero (StepReport::fp16_underflow); the
  // process-wide switch is as it was once fit() returns or throws
  const bool count_underflow = options_.precision == amp::Precision::fp16;
  const ops::CountGradientRoundingGuard counting(count_underflow);
  // Correct examples or tokens over the examples they came from; NaN for regression.
  const auto accuracy = [this](std::int64_t correct, std::int64_t examples) {
    if (objective_ == Objective::regression) return std::numeric_limits<double>::quiet_NaN();
    const std::int64_t per_example =
        objective_ == Objective::tokens ? shape_numel(loader_.dataset().target_shape()) : 1;
    return static_cast<double>(correct) / static_cast<double>(examples * per_example);
  };

  TrainResult result;
  const Clock::time_point start = Clock::now();
  double train_seconds = 0.0;  // in training steps, without evaluation and checkpoints
  std::int64_t samples_this_run = 0;
  std::int64_t steps_this_run = 0;
  auto finish = [&](StopReason stop, std::string message) {
    result.stop = stop;
    result.message = std::move(message);
    result.steps = step_;
    result.epochs = epoch_;
    result.best_accuracy = best_accuracy_;
    result.best_loss = best_loss_;
    result.best_epoch = best_epoch_;
    result.samples_per_sec = train_seconds > 0 ? samples_this_run / train_seconds : 0.0;
    result.wall_seconds = seconds_since(start);
    if (!last_path.empty() && std::filesystem::exists(last_path))
      result.last_checkpoint = last_path;
    if (!best_path.empty() && std::filesystem::exists(best_path))
      result.best_checkpoint = best_path;
    for (const auto& callback : callbacks_) callback->on_end(result);
    return result;
  };
  // The NaN guard's stop: the step, what was not finite, the loss, the checkpoint kept.
  auto non_finite = [&](const StepOutcome& outcome) {
    const std::string kept = std::filesystem::exists(last_path)
                                 ? cat("the last good checkpoint is ", last_path)
                                 : std::string("no checkpoint was written");
    std::string what = outcome.what;
    if (pipeline_.consecutive_skips() > 1) {
      what = cat(pipeline_.consecutive_skips(), " steps in a row were skipped, the last as ", what);
    }
    std::string loss;  // unless `what` is the loss
    if (outcome.skipped != SkipReason::non_finite_loss) {
      loss = std::isnan(outcome.loss) ? std::string("; the loss was not computed")
                                      : cat("; the loss was ", outcome.loss);
    }
    return cat("NaN guard: ", what, " at step ", step_ + 1, " (epoch ", epoch_ + 1, ", batch ",
               batch_ + 1, ")", loss, "; stopped without saving; ", kept,
               " (try a lower learning rate, or gradient clipping",
               options_.detect_anomaly ? "" : "; detect_anomaly names the op", ")");
  };

  model_->train();
  IntervalReport interval;
  std::int64_t interval_steps = 0;  // taken, in the means
  std::int64_t interval_samples = 0;
  std::int64_t interval_taken_samples = 0;  // of the steps taken: the accuracy's denominator
  std::int64_t interval_correct = 0;
  double interval_seconds = 0.0;
  while (epoch_ < options_.epochs && step_ < total) {
    const Clock::time_point epoch_start = Clock::now();
    loader_.start_epoch(static_cast<std::uint64_t>(epoch_));
    // Resuming inside an epoch: the order is a function of (seed, epoch), so skipping the
    // batches already taken puts the loader where it was.
    for (std::int64_t i = 0; i < batch_; ++i) loader_.next();
    double epoch_loss = 0.0;
    double epoch_norm = 0.0;
    std::int64_t epoch_steps = 0;  // taken
    std::int64_t epoch_skipped = 0;
    std::int64_t epoch_samples = 0;
    std::int64_t epoch_taken_samples = 0;
    std::int64_t epoch_correct = 0;
    double epoch_train_seconds = 0.0;

    // Under the skip policy a forward that makes NaN must not leave it in the running
    // statistics of batch norm: the buffers as they were before the step, copied into
    // storage allocated once.
    std::vector<Tensor> buffers_before;
    if (options_.nan_policy == NanPolicy::skip) {
      for (const auto& [name, buffer] : model_->named_buffers()) {
        buffers_before.push_back(buffer.clone());
      }
    }
    while (step_ < total && batch_ < batches) {
      const Clock::time_point step_start = Clock::now();
      const std::int64_t micro_batches = std::min(options_.accumulate, batches - batch_);
      // each micro-batch's mean loss is weighted by its share of the step's examples
      std::int64_t step_samples = 0;
      for (std::int64_t k = 0; k < micro_batches; ++k) step_samples += batch_size_at(batch_ + k);

      model_->zero_grad();
      if (count_underflow) ops::reset_gradient_rounding_counts();
      if (options_.nan_policy == NanPolicy::skip) {
        std::size_t i = 0;
        for (const auto& [name, buffer] : model_->named_buffers())
          buffers_before[i++].copy_(buffer);
      }
      double loss_value = 0.0;
      std::int64_t correct = 0;  // examples or tokens
      bool finite = true;
      std::string anomaly;  // anomaly mode's message
      bool loss_known = true;
      for (std::int64_t k = 0; k < micro_batches; ++k) {
        const data::Batch* batch = loader_.next();
        DESCENT_CHECK(batch != nullptr, "Trainer: the loader ended before batch ", batch_ + k + 1,
                      " of ", batches);
        if (!finite) continue;  // the step is lost: only move the loader on
        const double share = static_cast<double>(batch->size()) / static_cast<double>(step_samples);
        try {
          std::optional<autograd::AnomalyGuard> guard;
          if (options_.detect_anomaly) guard.emplace();
          std::optional<ops::AutocastGuard> autocast;
          if (low_weights_ != nullptr) {
            autocast.emplace(low_weights_->copy().dtype(), low_weights_->master(),
                             low_weights_->copy());
          }
          loss_known = false;
          const Tensor outputs = model_->forward(batch->inputs);  // (B, C), (B, T, V), (B, K)
          const BatchLoss batch_result = batch_loss(objective_, outputs, batch->targets,
                                                    {.label_smoothing = options_.label_smoothing});
          const Tensor& loss = batch_result.loss;
          const double value = loss.item();
          loss_known = true;
          loss_value += micro_batches == 1 ? value : share * value;
          if (!std::isfinite(value)) {
            finite = false;
            continue;
          }
          const Tensor step_loss = micro_batches == 1 ? loss : ops::mul(loss, share);
          (scaler_ != nullptr ? scaler_->scale(step_loss) : step_loss).backward();
          correct += batch_result.correct;
        } catch (const Error& e) {
          if (!options_.detect_anomaly || !std::string_view(e.what()).starts_with("anomaly: ")) {
            throw;
          }
          anomaly = e.what();
          finite = false;
        }
      }
      const StepOutcome outcome =
          anomaly.empty() ? pipeline_.step(loss_value)
                          : pipeline_.skip(SkipReason::anomaly, anomaly,
                                           loss_known ? std::optional(loss_value) : std::nullopt);
      if (outcome.stop) return finish(StopReason::non_finite, non_finite(outcome));
      if (outcome.skipped == SkipReason::non_finite_loss ||
          outcome.skipped == SkipReason::anomaly) {
        std::size_t i = 0;
        for (auto& [name, buffer] : model_->named_buffers()) {
          if (i < buffers_before.size()) buffer.copy_(buffers_before[i++]);
        }
      }
      if (low_weights_ != nullptr && outcome.taken && !optimizer_.writes_low_copy()) {
        low_weights_->refresh();
      }
      double underflow = std::nan("");
      if (count_underflow) {
        const ops::RoundingCounts counts = ops::gradient_rounding_counts();
        if (counts.nonzero > 0) underflow = static_cast<double>(counts.flushed) / counts.nonzero;
      }
      const double step_seconds = seconds_since(step_start);

      ++step_;
      batch_ += micro_batches;
      ++steps_this_run;
      samples_this_run += step_samples;
      train_seconds += step_seconds;
      epoch_samples += step_samples;
      epoch_train_seconds += step_seconds;
      interval_samples += step_samples;
      interval_seconds += step_seconds;
      if (outcome.taken) {
        epoch_loss += loss_value;
        epoch_norm += outcome.grad_norm;
        ++epoch_steps;
        epoch_correct += correct;
        epoch_taken_samples += step_samples;
        interval_taken_samples += step_samples;
        interval.loss += loss_value;
        interval.grad_norm += outcome.grad_norm;
        ++interval_steps;
        interval_correct += correct;
      } else {
        ++epoch_skipped;
        ++interval.skipped;
      }

      if (!callbacks_.empty()) {
        const double speed = samples_this_run / train_seconds;
        const double seconds_per_step = train_seconds / static_cast<double>(steps_this_run);
        const StepReport stats{.step = step_,
                               .total_steps = total,
                               .epoch = epoch_,
                               .epochs = options_.epochs,
                               .batch = batch_,
                               .batches_per_epoch = batches,
                               .loss = outcome.taken ? loss_value : outcome.loss,
                               .accuracy = accuracy(correct, step_samples),
                               .lr = outcome.lr,
                               .grad_norm = outcome.grad_norm,
                               .samples_per_sec = speed,
                               .eta_seconds = seconds_per_step * static_cast<double>(total - step_),
                               .wall_seconds = seconds_since(start),
                               .skipped = !outcome.taken,
                               .skip_reason = outcome.skipped,
                               .skipped_steps = pipeline_.skipped_steps(),
                               .loss_scale = outcome.loss_scale,
                               .fp16_underflow = underflow};
        for (const auto& callback : callbacks_) callback->on_step(stats);
      }

      if (options_.log_every > 0 && step_ % options_.log_every == 0) {
        const double taken = static_cast<double>(interval_steps);
        interval.step = step_;
        interval.epoch = epoch_;
        interval.loss = interval_steps > 0 ? interval.loss / taken : std::nan("");
        interval.grad_norm = interval_steps > 0 ? interval.grad_norm / taken : std::nan("");
        interval.accuracy = accuracy(interval_correct, interval_taken_samples);
        interval.lr = outcome.lr;
        interval.samples_per_sec = interval_samples / interval_seconds;
        interval.wall_seconds = seconds_since(start);
        interval.skipped_steps = pipeline_.skipped_steps();
        for (const auto& callback : callbacks_) callback->on_interval(interval);
        interval = IntervalReport{};
        interval_steps = interval_samples = interval_taken_samples = interval_correct = 0;
        interval_seconds = 0.0;
      }
      if (options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0 &&
          batch_ < batches) {
        save("last.safetensors", epoch_, batch_);
      }
    }

    if (batch_ < batches) {  // stopped inside the epoch by max_steps
      save("last.safetensors", epoch_, batch_);
      break;
    }

    // The epoch is complete: evaluate, keep the best, check for a plateau.
    EpochReport stats;
    stats.epochs = options_.epochs;
    stats.step = step_;
    stats.skipped = epoch_skipped;
    const double steps_done = static_cast<double>(std::max<std::int64_t>(epoch_steps, 1));
    stats.train_loss = epoch_steps > 0 ? epoch_loss / steps_done : std::nan("");
    stats.train_accuracy =
        epoch_taken_samples > 0 ? accuracy(epoch_correct, epoch_taken_samples) : std::nan("");
    stats.grad_norm = epoch_steps > 0 ? epoch_norm / steps_done : std::nan("");
    stats.lr = optimizer_.lr(0);
    stats.samples_per_sec = epoch_train_seconds > 0 ? epoch_samples / epoch_train_seconds : 0.0;
    if (eval_set_ != nullptr) {
      if (ema_ != nullptr && options_.evaluate_ema) {
        EmaWeights averaged(*ema_);
        stats.eval = evaluate(*model_, *eval_set_, options_.eval_batch_size, eval_transforms_);
      } else {
        stats.eval = evaluate(*model_, *eval_set_, options_.eval_batch_size, eval_transforms_);
      }
      stats.eval_name = eval_name_;
      const bool better = objective_ == Objective::classification
                              ? stats.eval->accuracy > best_accuracy_
                              : stats.eval->loss < best_loss_;
      if (better) {
        if (objective_ == Objective::classification) {
          best_accuracy_ = stats.eval->accuracy;
        } else {
          best_loss_ = stats.eval->loss;
        }
        best_epoch_ = epoch_ + 1;
        bad_epochs_ = 0;
        stats.best = true;
      } else {
        ++bad_epochs_;
      }
    }
    ++epoch_;
    batch_ = 0;
    stats.epoch = epoch_;
    if (stats.best) save("best.safetensors", epoch_, 0);
    save("last.safetensors", epoch_, 0);
    stats.epoch_seconds = seconds_since(epoch_start);
    stats.wall_seconds = seconds_since(start);
    for (const auto& callback : callbacks_) callback->on_epoch(stats);

    if (options_.patience > 0 && bad_epochs_ >= options_.patience) {
      char best[32];
      if (objective_ == Objective::classification) {
        std::snprintf(best, sizeof best, "%.2f%%", 100.0 * best_accuracy_);
      } else {
        std::snprintf(best, sizeof best, "%.4f", best_loss_);
      }
      return finish(StopReason::early_stopping,
                    cat("early stopping: no better ", eval_name_,
                        objective_ == Objective::classification ? " accuracy" : " loss", " for ",
                        bad_epochs_, " epochs (best ", best, " at epoch ", best_epoch_, ")"));
    }
  }
  if (epoch_ >= options_.epochs) {
    return finish(StopReason::completed, cat("completed ", epoch_, " epochs (", step_, " steps)"));
  }
  return finish(StopReason::max_steps, cat("stopped after ", step_, " steps (max_steps)"));
}

}  // namespace descent::train
