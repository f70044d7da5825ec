// The Trainer on sequence tasks: the loss follows the targets (Objective). A small LSTM
// learns the adding problem by mean squared error; a small transformer learns tokens by
// cross-entropy per token; the best checkpoint follows the eval loss; mismatches are named.
#include <cmath>
#include <limits>

#include "descent/data/sequence_tasks.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/loss.hpp"
#include "descent/ops/shape.hpp"
#include "descent/optim/all.hpp"
#include "descent/train/trainer.hpp"
#include "train_test_util.hpp"

namespace descent::train {
namespace {

using testing::error_of;
using testing::model_of;
using testing::TempDir;

struct SequenceRun {
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<data::DataLoader> loader;
  std::unique_ptr<Trainer> trainer;

  SequenceRun(const std::string& spec, std::shared_ptr<const data::Dataset> train,
              TrainerOptions options, double lr = 0.01, std::int64_t batch_size = 32) {
    model = model_of(spec);
    optimizer = optim::create_optimizer("adam", model->parameters(), {{"lr", std::to_string(lr)}});
    loader = std::make_unique<data::DataLoader>(
        train, data::DataLoaderOptions{.batch_size = batch_size, .shuffle = true, .seed = 3});
    trainer = std::make_unique<Trainer>(model, *optimizer, *loader, std::move(options));
  }
};

// Records every epoch report.
struct EpochLog : Callback {
  std::vector<EpochReport> epochs;
  void on_epoch(const EpochReport& report) override { epochs.push_back(report); }
};

std::shared_ptr<const data::TensorDataset> adding(std::int64_t samples, std::int64_t length,
                                                  std::uint64_t seed) {
  return std::make_shared<const data::TensorDataset>(
      data::make_adding({.samples = samples, .length = length, .seed = seed}));
}

// Sequences of a 5-token cycle (each starts at a random phase): (N, T) inputs and the next
// tokens as (N, T) targets. A model that reads the current token predicts the next exactly.
std::shared_ptr<const data::TensorDataset> cycles(std::int64_t samples, std::int64_t length) {
  Tensor inputs = empty({samples, length}, DType::i64);
  Tensor targets = empty({samples, length}, DType::i64);
  for (std::int64_t i = 0; i < samples; ++i) {
    for (std::int64_t t = 0; t < length; ++t) {
      inputs.data<std::int64_t>()[i * length + t] = (i * 7 + t) % 5;
      targets.data<std::int64_t>()[i * length + t] = (i * 7 + t + 1) % 5;
    }
  }
  return std::make_shared<const data::TensorDataset>(inputs, targets);
}

TEST(SequenceTrainer, ObjectiveFollowsTheTargets) {
  EXPECT_EQ(objective_of(*adding(4, 5, 0)), Objective::regression);
  EXPECT_EQ(objective_of(data::make_temporal_order({.samples = 4, .length = 10})),
            Objective::classification);
  EXPECT_EQ(objective_of(*cycles(4, 6)), Objective::tokens);
  const data::TensorDataset cube(zeros({4, 2}), zeros({4, 2, 2}, DType::i64));
  EXPECT_NE(error_of([&] { objective_of(cube); }).find("integer targets must be a class"),
            std::string::npos);
}

TEST(SequenceTrainer, LstmLearnsTheAddingProblemByMeanSquaredError) {
  // T = 10: predicting the mean (1) always gives the variance of the sum, 1/6; a model that
  // reads only one of the two marked values cannot go below the variance of the other, 1/12.
  const data::TensorDataset all = data::make_adding({.samples = 1800, .length = 10, .seed = 5});
  auto train = std::make_shared<const data::TensorDataset>(all.slice(0, 1500));
  auto test = std::make_shared<const data::TensorDataset>(all.slice(1500, 1800));
  SequenceRun run("lstm:16,input=10x2", train, {.epochs = 8, .log_every = 0});
  EXPECT_EQ(run.trainer->objective(), Objective::regression);
  run.trainer->set_eval_set(test, "test");
  auto log = std::make_shared<EpochLog>();
  run.trainer->add_callback(log);
  const Evaluation before = evaluate(*run.model, *test);
  const TrainResult result = run.trainer->fit();
  EXPECT_EQ(result.stop, StopReason::completed) << result.message;
  const Evaluation after = evaluate(*run.model, *test);
  EXPECT_EQ(after.objective, Objective::regression);
  EXPECT_GT(before.loss, 0.1);
  EXPECT_LT(after.loss, 0.04) << "the variance of the target is 0.167";
  EXPECT_TRUE(std::isnan(after.accuracy));
  EXPECT_LT(after.error_rate, 0.3);
  EXPECT_GT(before.error_rate, 0.5);
  // The loss evaluate reports is the mean squared error of the whole set.
  const Tensor y = run.model->forward(test->inputs());
  EXPECT_NEAR(after.loss, ops::mse_loss(y, test->targets()).item(), 1e-6);
  // No accuracy in the reports, and the best epoch is the one with the lowest eval loss.
  ASSERT_EQ(log->epochs.size(), 8u);
  double lowest = std::numeric_limits<double>::infinity();
  for (const EpochReport& epoch : log->epochs) {
    EXPECT_TRUE(std::isnan(epoch.train_accuracy));
    EXPECT_EQ(epoch.best, epoch.eval->loss < lowest) << "epoch " << epoch.epoch;
    lowest = std::min(lowest, epoch.eval->loss);
  }
  EXPECT_EQ(result.best_loss, lowest);
  EXPECT_EQ(result.best_accuracy, -1.0);
}

TEST(SequenceTrainer, TransformerLearnsTokensByCrossEntropyPerToken) {
  auto train = cycles(64, 12);
  auto test = cycles(16, 12);
  SequenceRun run("transformer,vocab=5,len=12,dim=16,heads=2,layers=1", train,
                  {.epochs = 8, .log_every = 0}, 0.01, 16);
  EXPECT_EQ(run.trainer->objective(), Objective::tokens);
  run.trainer->set_eval_set(test, "val");
  const Evaluation before = evaluate(*run.model, *test);
  run.trainer->fit();
  const Evaluation after = evaluate(*run.model, *test);
  EXPECT_EQ(after.objective, Objective::tokens);
  EXPECT_EQ(after.examples, 16);
  // Uniform guessing over 5 tokens is log2(5) = 2.32 bits per token.
  EXPECT_GT(before.bits_per_char(), 1.5);
  EXPECT_LT(after.bits_per_char(), 0.3);
  EXPECT_DOUBLE_EQ(after.bits_per_char(), after.loss / std::log(2.0));
  EXPECT_GT(after.accuracy, 0.95);
  EXPECT_TRUE(std::isnan(after.error_rate));
  // The loss is the mean cross-entropy over all N*T tokens.
  const Tensor logits = run.model->forward(test->inputs());  // (16, 12, 5)
  const Tensor reference = ops::cross_entropy(ops::reshape(logits, {16 * 12, 5}),
                                              ops::reshape(test->targets(), {16 * 12}));
  EXPECT_NEAR(after.loss, reference.item(), 1e-5);
}

TEST(SequenceTrainer, BestCheckpointByEvalLossSurvivesAResume) {
  TempDir dir;
  auto train = adding(320, 8, 1);
  auto val = adding(100, 8, 2);
  TrainerOptions options{.epochs = 3, .log_every = 0, .checkpoint_dir = dir.path().string()};
  TrainResult first;
  {
    SequenceRun run("lstm:8,input=8x2", train, options);
    run.trainer->set_eval_set(val, "val");
    first = run.trainer->fit();
  }
  ASSERT_FALSE(first.best_checkpoint.empty());
  EXPECT_TRUE(std::isfinite(first.best_loss));
  const Checkpoint best = load_checkpoint(first.best_checkpoint);
  EXPECT_EQ(std::stod(best.metadata.at("best_loss")), first.best_loss);
  EXPECT_EQ(std::stoll(best.metadata.at("epoch")), first.best_epoch);
  // The best model's eval loss is the best loss.
  auto model = model_of("lstm:8,input=8x2", 9);
  restore(best, *model);
  EXPECT_NEAR(evaluate(*model, *val).loss, first.best_loss, 1e-12);

  // Continued: the best loss so far comes from the checkpoint.
  options.epochs = 4;
  SequenceRun resumed("lstm:8,input=8x2", train, options);
  resumed.trainer->set_eval_set(val, "val");
  resumed.trainer->resume(load_checkpoint(first.last_checkpoint));
  auto log = std::make_shared<EpochLog>();
  resumed.trainer->add_callback(log);
  const TrainResult second = resumed.trainer->fit();
  ASSERT_EQ(log->epochs.size(), 1u);
  EXPECT_EQ(log->epochs[0].best, log->epochs[0].eval->loss < first.best_loss);
  EXPECT_EQ(second.best_loss, std::min(first.best_loss, log->epochs[0].eval->loss));
}

TEST(SequenceTrainer, MismatchesAreNamed) {
  auto train = adding(64, 6, 1);
  {
    SequenceRun run("lstm:8,input=6x2", train, {.epochs = 1});
    const std::string message = error_of([&] {
      run.trainer->set_eval_set(std::make_shared<const data::TensorDataset>(
                                    data::make_temporal_order({.samples = 8, .length = 10})),
                                "val");
    });
    EXPECT_NE(message.find("the eval set 'val' has classification targets"), std::string::npos)
        << message;
    EXPECT_NE(message.find("regression"), std::string::npos) << message;
  }
  {
    SequenceRun run("lstm:8,input=6x2,outputs=3", train, {.epochs = 1});
    const std::string message = error_of([&] { run.trainer->fit(); });
    EXPECT_NE(
        message.find("expected outputs of the targets' size, got (32, 3) for targets (32, 1)"),
        std::string::npos)
        << message;
  }
  {
    SequenceRun run("lstm:8,input=12x5,outputs=5", cycles(64, 12), {.epochs = 1});
    const std::string message = error_of([&] { run.trainer->fit(); });
    EXPECT_FALSE(message.empty());
  }
}

}  // namespace
}  // namespace descent::train
