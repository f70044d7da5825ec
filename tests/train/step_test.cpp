// StepPipeline: clipping (by norm, value, AGC) folded with loss scaling equals clipping the
// unscaled gradients and stepping; a skipped step does not advance the schedule; the NaN
// policy (stop, skip, too many skips in a row); the EMA follows the steps taken.
#include "descent/train/step.hpp"

#include <cmath>
#include <functional>

#include "descent/clip/clip.hpp"
#include "descent/data/synthetic.hpp"
#include "descent/nn/flat.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/loss.hpp"
#include "descent/optim/all.hpp"
#include "train_test_util.hpp"

namespace descent::train {
namespace {

using testing::error_of;
using testing::model_of;

const data::TensorDataset& blobs() {
  static const data::TensorDataset set =
      data::make_blobs({.samples = 32, .features = 2, .classes = 3, .cluster_std = 1.5, .seed = 4});
  return set;
}

Tensor loss_of(nn::Module& model) {
  return ops::cross_entropy(model.forward(blobs().inputs()), blobs().targets());
}

// Sets every gradient of the flat buffer to `value` (a NaN, say), as a bad backward would.
void poison(nn::Module& model, double value) {
  model.flat_parameters().grads.fill_(value);
}

struct ClipCase {
  const char* name;
  ClipOptions clip;
  // what the clipping does to the unscaled gradients, by the clip layer's own functions
  std::function<void(const std::vector<Tensor>& params)> reference;
};

// With a loss scale of 1024 the pipeline reads scaled gradients and folds 1/1024 and the
// norm clip into the update; the reference clips unscaled gradients in place and steps.
TEST(StepPipeline, ClippingWithLossScalingEqualsClippingTheUnscaledGradients) {
  const std::vector<ClipCase> cases = {
      {"none", {}, [](const std::vector<Tensor>&) {}},
      {"norm",
       {.max_norm = 0.05},
       [](const std::vector<Tensor>& p) { EXPECT_GT(clip::clip_grad_norm_(p, 0.05), 0.05); }},
      {"value",
       {.value = 0.01},
       [](const std::vector<Tensor>& p) { clip::clip_grad_value_(p, 0.01); }},
      {"agc",
       {.agc = 0.01},
       [](const std::vector<Tensor>& p) { clip::adaptive_clip_grad_(p, 0.01); }},
      {"value then norm",
       {.max_norm = 0.02, .value = 0.01},
       [](const std::vector<Tensor>& p) {
         clip::clip_grad_value_(p, 0.01);
         clip::clip_grad_norm_(p, 0.02);
       }},
  };
  for (const ClipCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto model = model_of("mlp:2-8-3");
    optim::SGD optimizer(model->parameters(), {.lr = 0.5});
    amp::GradScaler scaler({.init_scale = 1024.0});
    StepPipeline pipeline(optimizer, {.clip = c.clip, .scaler = &scaler});
    scaler.scale(loss_of(*model)).backward();
    const StepOutcome outcome = pipeline.step();
    EXPECT_TRUE(outcome.taken);
    EXPECT_EQ(outcome.loss_scale, 1024.0);

    auto reference = model_of("mlp:2-8-3");
    optim::SGD reference_optimizer(reference->parameters(), {.lr = 0.5});
    loss_of(*reference).backward();
    const Tensor flat = reference->flat_parameters().params;
    const double norm = clip::grad_norm(std::span(&flat, 1));
    EXPECT_NEAR(outcome.grad_norm, norm, 1e-6 * norm) << "the norm before clipping";
    c.reference(reference->parameters());
    reference_optimizer.step();

    const std::vector<double> got = model->flat_parameters().params.to_vector();
    const std::vector<double> want = reference->flat_parameters().params.to_vector();
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
  }
}

TEST(StepPipeline, ASkippedStepDoesNotAdvanceTheSchedule) {
  auto model = model_of("mlp:2-8-3");
  optim::SGD optimizer(model->parameters(), {.lr = 1.0});
  const schedule::Schedule halving(
      "1 / (t + 1)", [](std::int64_t taken, double base) { return base / (taken + 1.0); });
  StepPipeline pipeline(optimizer, {.schedule = halving, .nan_policy = NanPolicy::skip});

  loss_of(*model).backward();
  EXPECT_TRUE(pipeline.step().taken);
  EXPECT_EQ(optimizer.lr(), 1.0);

  model->zero_grad();
  loss_of(*model).backward();
  poison(*model, std::nan(""));
  const Tensor before = model->flat_parameters().params.clone();
  const StepOutcome skipped = pipeline.step();
  EXPECT_FALSE(skipped.taken);
  EXPECT_FALSE(skipped.stop);
  EXPECT_EQ(skipped.skipped, SkipReason::non_finite_grad);
  EXPECT_TRUE(std::isnan(skipped.grad_norm));
  EXPECT_EQ(skipped.step, 2);
  EXPECT_TRUE(testing::bitwise_equal(before, model->flat_parameters().params))
      << "a skipped step changes no parameter";
  EXPECT_EQ(pipeline.steps_taken(), 1);
  EXPECT_EQ(pipeline.skipped_steps(), 1);

  model->zero_grad();
  loss_of(*model).backward();
  const StepOutcome next = pipeline.step();
  EXPECT_TRUE(next.taken);
  EXPECT_EQ(next.lr, 0.5) << "the schedule's second value: the skipped step did not count";
  EXPECT_EQ(next.step, 3);
  EXPECT_EQ(pipeline.consecutive_skips(), 0);
}

// Scaled gradients that overflow: the scaler backs off, the step is skipped under the stop
// policy too, and the schedule waits.
TEST(StepPipeline, AnOverflowSkipsAndBacksOffWithoutStopping) {
  auto model = model_of("mlp:2-8-3");
  optim::SGD optimizer(model->parameters(), {.lr = 1.0});
  amp::GradScaler scaler({.init_scale = 65536.0});
  const schedule::Schedule counting(
      "t + 1", [](std::int64_t taken, double base) { return base * (taken + 1.0); });
  StepPipeline pipeline(optimizer, {.schedule = counting, .scaler = &scaler});
  const Tensor before = model->flat_parameters().params.clone();
  scaler.scale(loss_of(*model)).backward();
  poison(*model, INFINITY);  // as an f16 backward overflows
  const StepOutcome outcome = pipeline.step(loss_of(*model).item());
  EXPECT_EQ(outcome.skipped, SkipReason::overflow);
  EXPECT_FALSE(outcome.stop) << outcome.message;
  EXPECT_TRUE(testing::bitwise_equal(before, model->flat_parameters().params));
  EXPECT_EQ(scaler.get_scale(), 32768.0);

  model->zero_grad();
  scaler.update(1024.0);
  scaler.scale(loss_of(*model)).backward();
  const StepOutcome taken = pipeline.step();
  EXPECT_TRUE(taken.taken) << taken.message;
  EXPECT_EQ(taken.lr, 1.0) << "the schedule's first value";
}

TEST(StepPipeline, NanPolicyStopNamesTheStepAndTheValue) {
  auto model = model_of("mlp:2-8-3");
  optim::SGD optimizer(model->parameters(), {.lr = 0.1});
  StepPipeline pipeline(optimizer);  // stop is the default
  loss_of(*model).backward();
  EXPECT_TRUE(pipeline.step().taken);
  const StepOutcome loss = pipeline.step(std::nan(""));
  EXPECT_TRUE(loss.stop);
  EXPECT_EQ(loss.skipped, SkipReason::non_finite_loss);
  EXPECT_TRUE(std::isnan(loss.grad_norm)) << "the gradients are not read after a bad loss";
  EXPECT_NE(loss.message.find("NaN guard: the loss is nan at step 2; stopping"), std::string::npos)
      << loss.message;
  poison(*model, INFINITY);
  const StepOutcome grad = pipeline.step(1.0);
  EXPECT_TRUE(grad.stop);
  EXPECT_EQ(grad.what, "the gradient norm is inf");
}

TEST(StepPipeline, NanPolicySkipStopsAfterTooManySkipsInARow) {
  auto model = model_of("mlp:2-8-3");
  optim::SGD optimizer(model->parameters(), {.lr = 0.1});
  StepPipeline pipeline(optimizer, {.nan_policy = NanPolicy::skip, .max_consecutive_skips = 3});
  poison(*model, std::nan(""));
  EXPECT_FALSE(pipeline.step().stop);
  EXPECT_FALSE(pipeline.step().stop);
  const StepOutcome third = pipeline.step();
  EXPECT_TRUE(third.stop);
  EXPECT_NE(third.message.find("3 steps in a row were skipped: stopping"), std::string::npos)
      << third.message;
  EXPECT_EQ(pipeline.skipped_steps(), 3);
  const StepOutcome anomaly = pipeline.skip(SkipReason::anomaly, "anomaly: the forward of 'x'");
  EXPECT_EQ(anomaly.what, "anomaly: the forward of 'x'");
  EXPECT_EQ(pipeline.consecutive_skips(), 4);
}

TEST(StepPipeline, TheAverageFollowsTheStepsTaken) {
  auto model = model_of("mlp:2-8-3");
  optim::SGD optimizer(model->parameters(), {.lr = 0.1});
  ModelEma ema(*model, {.decay = 0.5});
  StepPipeline pipeline(optimizer, {.nan_policy = NanPolicy::skip, .ema = &ema});
  loss_of(*model).backward();
  pipeline.step();
  poison(*model, std::nan(""));
  pipeline.step();
  EXPECT_EQ(ema.updates(), 1);
  EXPECT_TRUE(testing::bitwise_equal(ema.weights(), model->flat_parameters().params))
      << "the first update copies the weights (decay 0 at update 1, as timm)";
}

TEST(StepPipeline, BadOptionsAreNamed) {
  auto model = model_of("mlp:2-4-3");
  optim::SGD optimizer(model->parameters());
  EXPECT_NE(error_of([&] {
              StepPipeline(optimizer, {.clip = {.max_norm = -1}});
            }).find("clip.max_norm must be >= 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              StepPipeline(optimizer, {.clip = {.value = -0.5}});
            }).find("clip.value must be >= 0 (0: off), got -0.5"),
            std::string::npos);
  EXPECT_NE(error_of([&] { StepPipeline(optimizer, {.clip = {.agc = -1}}); }).find("clip.agc"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              StepPipeline(optimizer, {.max_consecutive_skips = -1});
            }).find("max_consecutive_skips must be >= 0"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_nan_policy("ignore");
            }).find("unknown NaN policy 'ignore' (known: skip, stop)"),
            std::string::npos);
  EXPECT_EQ(parse_nan_policy("skip"), NanPolicy::skip);
  EXPECT_STREQ(nan_policy_name(NanPolicy::stop), "stop");
}

}  // namespace
}  // namespace descent::train
