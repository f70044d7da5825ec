// The learning-rate range test: the sweep, the smoothing and the stop recomputed here from the
// recorded losses; the suggestion rule on a curve with a known steepest point; and the model
// and optimizer restored exactly.
#include "descent/landscape/lr_find.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "descent/ops/loss.hpp"
#include "descent/optim/sgd.hpp"
#include "landscape_test_util.hpp"

namespace descent {
namespace {

using landscape::LrFindPoint;

TEST(LrFind, SweepSmoothingAndStopFollowTheRecipe) {
  auto model = testing::zoo_model("mlp:2-16-3,bn=1", 1);
  const data::TensorDataset data = testing::blobs(256, 3, 1.0);
  data::DataLoader loader(data, {.batch_size = 32, .shuffle = true, .seed = 1, .prefetch = 0});
  optim::SGD sgd(model->parameters(), {.lr = 0.01, .momentum = 0.9});
  // One real step first, so that there is momentum state to restore.
  loader.start_epoch(0);
  const data::Batch* batch = loader.next();
  ops::cross_entropy(model->forward(batch->inputs), batch->targets).backward();
  sgd.step();
  model->zero_grad();
  model->eval();
  const auto before = testing::snapshot(*model);
  optim::StateDict optimizer_before;
  for (const auto& [key, value] : sgd.state_dict()) optimizer_before[key] = value.clone();

  const landscape::LrFindOptions options{.min_lr = 1e-4, .max_lr = 1e3, .steps = 80};
  const landscape::LrFindResult result = landscape::lr_find(*model, sgd, loader, options);

  // Restored: weights, buffers, mode, optimizer state and lr; gradients zero.
  testing::expect_bitwise_equal(before, *model);
  EXPECT_FALSE(model->is_training());
  const optim::StateDict optimizer_after = sgd.state_dict();
  ASSERT_EQ(optimizer_after.size(), optimizer_before.size());
  for (const auto& [key, value] : optimizer_before) {
    EXPECT_EQ(optimizer_after.at(key).to_vector(), value.to_vector()) << key;
  }
  EXPECT_EQ(sgd.lr(), 0.01);
  for (double g : model->flat_parameters().grads.to_vector()) ASSERT_EQ(g, 0.0);

  // Up to lr 1e3 plain cross-entropy training blows up: the test stops early.
  ASSERT_TRUE(result.diverged);
  const auto& points = result.points;
  ASSERT_GT(points.size(), 20u);
  ASSERT_LT(points.size(), 80u);
  double average = 0.0;
  double best = INFINITY;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const double expected_lr = 1e-4 * std::pow(1e7, static_cast<double>(i) / 79.0);
    EXPECT_NEAR(points[i].lr, expected_lr, 1e-12 * expected_lr) << i;
    EXPECT_EQ(points[i].step, static_cast<std::int64_t>(i));
    average = 0.98 * average + 0.02 * points[i].loss;
    const double smoothed = average / (1 - std::pow(0.98, static_cast<double>(i + 1)));
    EXPECT_NEAR(points[i].smoothed_loss, smoothed, 1e-12 * smoothed) << i;
    best = std::min(best, smoothed);
    // Only the last point is past 4x the best.
    EXPECT_EQ(smoothed > 4 * best, i + 1 == points.size()) << i;
  }
  EXPECT_EQ(result.suggested_lr, points[result.suggested_step].lr);
  EXPECT_GE(result.suggested_step, 10);
  EXPECT_GT(result.min_loss_lr, 0.0);
  // Same seed, same restored state: the same curve again.
  const landscape::LrFindResult again = landscape::lr_find(*model, sgd, loader, options);
  ASSERT_EQ(again.points.size(), points.size());
  EXPECT_EQ(again.points.back().loss, points.back().loss);
}

TEST(LrFind, SteepRuleFindsTheSteepestDescent) {
  // smoothed(lr) = 2 - tanh(2 (log10 lr + 3)): steepest at lr = 1e-3, the middle point.
  std::vector<LrFindPoint> points;
  const std::int64_t n = 61;
  for (std::int64_t i = 0; i < n; ++i) {
    const double log_lr = -6.0 + 6.0 * static_cast<double>(i) / (n - 1);
    // A rise at the end, as before divergence.
    const double value = 2.0 - std::tanh(2.0 * (log_lr + 3.0)) + (i > 55 ? (i - 55) * 0.5 : 0.0);
    points.push_back(
        {.step = i, .lr = std::pow(10.0, log_lr), .loss = value, .smoothed_loss = value});
  }
  const landscape::LrSuggestion suggestion = landscape::suggest_lr(points);
  // The steepest segment is [29, 30] or [30, 31] (symmetric about log10 lr = -3).
  EXPECT_TRUE(suggestion.steep_index == 29 || suggestion.steep_index == 30)
      << suggestion.steep_index;
  EXPECT_EQ(suggestion.minimum_index, 55);  // the last 5 are skipped; the minimum before them
}

TEST(LrFind, BadInputNamesWhatIsWrong) {
  auto model = testing::zoo_model("mlp:2-4-3", 1);
  data::DataLoader loader(testing::blobs(32), {.batch_size = 8, .prefetch = 0});
  optim::SGD sgd(model->parameters(), {.lr = 0.1});
  const auto expect_error = [](const auto& call, const std::string& part) {
    try {
      call();
      ADD_FAILURE() << "expected an Error containing '" << part << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error([&] { landscape::lr_find(*model, sgd, loader, {.min_lr = 1.0, .max_lr = 0.1}); },
               "lr_find: expected 0 < min_lr < max_lr, got min_lr 1, max_lr 0.1");
  expect_error([&] { landscape::lr_find(*model, sgd, loader, {.steps = 1}); },
               "lr_find: steps must be >= 2, got 1");
  expect_error([&] { landscape::lr_find(*model, sgd, loader, {.beta = 1.0}); },
               "lr_find: beta must be in [0, 1), got 1");
  expect_error([&] { landscape::suggest_lr({}); }, "suggest_lr: no points");
}

}  // namespace
}  // namespace descent
