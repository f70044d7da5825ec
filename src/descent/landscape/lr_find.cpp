#include "descent/landscape/lr_find.hpp"

#include <cmath>

#include "descent/landscape/scan.hpp"
#include "descent/ops/loss.hpp"

namespace descent::landscape {
namespace {

// Puts the optimizer's state and options back when destroyed.
class OptimizerGuard {
 public:
  explicit OptimizerGuard(optim::Optimizer& optimizer) : optimizer_(optimizer) {
    // state_dict() shares memory with the optimizer: keep copies.
    for (const auto& [key, value] : optimizer.state_dict()) saved_[key] = value.clone();
  }
  ~OptimizerGuard() {
    try {
      optimizer_.load_state_dict(saved_);
    } catch (...) {
      // Cannot happen for the optimizer's own dict; a destructor must not throw.
    }
  }
  OptimizerGuard(const OptimizerGuard&) = delete;
  OptimizerGuard& operator=(const OptimizerGuard&) = delete;

 private:
  optim::Optimizer& optimizer_;
  optim::StateDict saved_;
};

class TrainModeGuard {
 public:
  explicit TrainModeGuard(nn::Module& model) : model_(model), was_training_(model.is_training()) {}
  ~TrainModeGuard() {
    model_.train(was_training_);
    model_.zero_grad();
  }
  TrainModeGuard(const TrainModeGuard&) = delete;
  TrainModeGuard& operator=(const TrainModeGuard&) = delete;

 private:
  nn::Module& model_;
  bool was_training_;
};

}  // namespace

LrSuggestion suggest_lr(const std::vector<LrFindPoint>& points, std::int64_t skip_start,
                        std::int64_t skip_end) {
  DESCENT_CHECK(!points.empty(), "suggest_lr: no points");
  DESCENT_CHECK(skip_start >= 0 && skip_end >= 0, "suggest_lr: skip_start and skip_end must be ",
                ">= 0, got ", skip_start, " and ", skip_end);
  const auto n = static_cast<std::int64_t>(points.size());
  std::int64_t first = skip_start;
  std::int64_t last = n - skip_end;  // exclusive
  if (last - first < 3) {
    first = 0;
    last = n;
  }
  LrSuggestion out{.steep_index = first, .minimum_index = first};
  double steepest = INFINITY;
  for (std::int64_t i = first; i < last; ++i) {
    if (points[i].smoothed_loss < points[out.minimum_index].smoothed_loss) out.minimum_index = i;
    if (i + 1 < last) {
      // slope of the smoothed loss against log(lr)
      const double slope = (points[i + 1].smoothed_loss - points[i].smoothed_loss) /
                           (std::log(points[i + 1].lr) - std::log(points[i].lr));
      if (slope < steepest) {
        steepest = slope;
        out.steep_index = i;
      }
    }
  }
  return out;
}

LrFindResult lr_find(nn::Module& model, optim::Optimizer& optimizer, data::DataLoader& loader,
                     const LrFindOptions& options) {
  DESCENT_CHECK(std::isfinite(options.min_lr) && std::isfinite(options.max_lr) &&
                    options.min_lr > 0 && options.min_lr < options.max_lr,
                "lr_find: expected 0 < min_lr < max_lr, got min_lr ", options.min_lr, ", max_lr ",
                options.max_lr);
  DESCENT_CHECK(options.steps >= 2, "lr_find: steps must be >= 2, got ", options.steps);
  DESCENT_CHECK(options.beta >= 0 && options.beta < 1, "lr_find: beta must be in [0, 1), got ",
                options.beta);
  DESCENT_CHECK(options.divergence > 1, "lr_find: divergence must be > 1, got ",
                options.divergence);
  DESCENT_CHECK(options.skip_start >= 0 && options.skip_end >= 0,
                "lr_find: skip_start and skip_end must be >= 0, got ", options.skip_start, " and ",
                options.skip_end);
  DESCENT_CHECK(loader.num_batches() > 0, "lr_find: the loader has no batches");

  // Declared in this order, so that the model's mode and gradients are reset last.
  TrainModeGuard mode(model);
  WeightsGuard weights(model);
  OptimizerGuard optimizer_state(optimizer);

  LrFindResult result;
  const double ratio = options.max_lr / options.min_lr;
  double average = 0.0;
  double best = INFINITY;
  model.train();
  std::uint64_t epoch = 0;
  loader.start_epoch(epoch);
  for (std::int64_t i = 0; i < options.steps; ++i) {
    const data::Batch* batch = loader.next();
    if (batch == nullptr) {
      loader.start_epoch(++epoch);
      batch = loader.next();
    }
    const double lr =
        options.min_lr * std::pow(ratio, static_cast<double>(i) / (options.steps - 1));
    optimizer.set_lr(lr);
    optimizer.zero_grad();
    const Tensor loss = ops::cross_entropy(model.forward(batch->inputs), batch->targets);
    const double value = loss.item();
    if (!std::isfinite(value)) {
      result.diverged = true;
      break;
    }
    loss.backward();
    optimizer.step();
    // exponential moving average, then its bias correction
    average = options.beta * average + (1.0 - options.beta) * value;
    const double smoothed = average / (1.0 - std::pow(options.beta, static_cast<double>(i + 1)));
    best = std::min(best, smoothed);
    result.points.push_back({.step = i, .lr = lr, .loss = value, .smoothed_loss = smoothed});
    if (smoothed > options.divergence * best) {
      result.diverged = true;
      break;
    }
  }
  DESCENT_CHECK(!result.points.empty(), "lr_find: the loss at the first step (lr ", options.min_lr,
                ") is not finite");
  const LrSuggestion suggestion = suggest_lr(result.points, options.skip_start, options.skip_end);
  result.suggested_step = suggestion.steep_index;
  result.suggested_lr = result.points[suggestion.steep_index].lr;
  result.min_loss_lr = result.points[suggestion.minimum_index].lr / 10.0;
  return result;
}

}  // namespace descent::landscape
