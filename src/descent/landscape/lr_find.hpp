// The learning-rate range test: train for a few steps while the learning rate grows
// exponentially, watch the smoothed loss, and read a learning rate off the curve.
//
// Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017, section 3.3
// (the "LR range test"), as fastai's lr_find runs it (docs.fast.ai/callback.schedule.html,
// LRFinder; fastai v1's Recorder for the smoothing):
//   lr_i        = min_lr * (max_lr / min_lr)^(i / (steps - 1)),   i = 0 .. steps-1
//   loss_i      = cross-entropy of batch i, before the step taken with lr_i
//   avg_i       = beta * avg_{i-1} + (1 - beta) * loss_i,          avg_{-1} = 0
//   smoothed_i  = avg_i / (1 - beta^(i+1))                         (bias correction)
//   stop after the first i where smoothed_i > divergence * min_{j<=i} smoothed_j, or loss_i
//   is not finite (fastai: 4x the best).
// The suggested lr is fastai's "steep" rule: the lr at the start of the steepest descent
// of the smoothed loss against log(lr),
//   i* = argmin_i (smoothed_{i+1} - smoothed_i) / (log lr_{i+1} - log lr_i),
// over the points left after dropping the first skip_start (the smoothing's warm-up) and the
// last skip_end (the blow-up); when fewer than 3 remain, all points are used. Also reported:
// fastai's "minimum" rule, the lr of the lowest smoothed loss divided by 10.
//
// ====== Intended usage ======
//   data::DataLoader loader(train_set, {.batch_size = 128, .shuffle = true, .seed = 0});
//   auto result = landscape::lr_find(*model, *optimizer, loader, {.min_lr = 1e-6});
//   std::printf("suggested lr %g\n", result.suggested_lr);
//
// Every param group gets lr_i. The model (parameters and buffers), its mode, and the
// optimizer (state and options) are restored afterwards, also when a step throws; the
// gradients are zeroed. The loader restarts at epoch 0 and runs as many epochs as the steps
// need.
#pragma once

#include <cstdint>
#include <vector>

#include "descent/data/loader.hpp"
#include "descent/nn/module.hpp"
#include "descent/optim/optimizer.hpp"

namespace descent::landscape {

struct LrFindOptions {
  double min_lr = 1e-7;
  double max_lr = 10.0;
  std::int64_t steps = 100;  // >= 2
  double beta = 0.98;        // smoothing, in [0, 1)
  double divergence = 4.0;   // > 1
  std::int64_t skip_start = 10;
  std::int64_t skip_end = 5;
};

struct LrFindPoint {
  std::int64_t step = 0;
  double lr = 0.0;
  double loss = 0.0;
  double smoothed_loss = 0.0;
};

struct LrFindResult {
  std::vector<LrFindPoint> points;  // up to and including the step that diverged
  double suggested_lr = 0.0;        // the "steep" rule
  std::int64_t suggested_step = 0;  // its index in points
  double min_loss_lr = 0.0;         // lr of the lowest smoothed loss / 10 (the "minimum" rule)
  bool diverged = false;            // stopped before max_lr
};

LrFindResult lr_find(nn::Module& model, optim::Optimizer& optimizer, data::DataLoader& loader,
                     const LrFindOptions& options = {});

// The suggestion rules alone, on a recorded curve (points with increasing lr).
struct LrSuggestion {
  std::int64_t steep_index = 0;
  std::int64_t minimum_index = 0;
};
LrSuggestion suggest_lr(const std::vector<LrFindPoint>& points, std::int64_t skip_start = 10,
                        std::int64_t skip_end = 5);

}  // namespace descent::landscape
