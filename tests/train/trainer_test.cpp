// The Trainer: it learns, it is deterministic, resume is exact, the NaN guard stops naming
// the step and the quantity, early stopping, evaluation modes, schedules, clipping, logs.
#include "descent/train/trainer.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "descent/autograd/autograd.hpp"
#include "descent/clip/clip.hpp"
#include "descent/data/synthetic.hpp"
#include "descent/nn/flat.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/loss.hpp"
#include "descent/optim/all.hpp"
#include "descent/train/callbacks.hpp"
#include "train_test_util.hpp"

namespace descent::train {
namespace {

using testing::error_of;
using testing::model_of;
using testing::TempDir;

std::shared_ptr<const data::TensorDataset> blobs(std::int64_t samples, std::uint64_t seed = 4) {
  return std::make_shared<const data::TensorDataset>(data::make_blobs(
      {.samples = samples, .features = 2, .classes = 3, .cluster_std = 1.5, .seed = seed}));
}

// Everything a run is: the model, its optimizer, its loader and the trainer over them.
struct TrainingRun {
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<data::DataLoader> loader;
  std::unique_ptr<Trainer> trainer;

  TrainingRun(const std::string& spec, std::shared_ptr<const data::TensorDataset> train,
              TrainerOptions options, std::uint64_t init_seed = 1,
              optim::OptionMap optimizer_options = {{"lr", "0.1"}, {"momentum", "0.9"}},
              std::int64_t batch_size = 32) {
    model = model_of(spec, init_seed);
    optimizer = optim::create_optimizer("sgd", model->parameters(), optimizer_options);
    loader = std::make_unique<data::DataLoader>(
        train, data::DataLoaderOptions{.batch_size = batch_size, .shuffle = true, .seed = 11});
    trainer = std::make_unique<Trainer>(model, *optimizer, *loader, std::move(options));
  }
};

TEST(Trainer, LearnsGaussianBlobs) {
  // One draw split in two, so that both parts share the blobs' centres.
  const data::TensorDataset all = data::make_blobs(
      {.samples = 900, .features = 2, .classes = 3, .cluster_std = 1.5, .seed = 4});
  auto train = std::make_shared<const data::TensorDataset>(all.slice(0, 600));
  auto test = std::make_shared<const data::TensorDataset>(all.slice(600, 900));
  TrainingRun run("mlp:2-16-3", train, {.epochs = 5});
  run.trainer->set_eval_set(test, "test");
  const Evaluation before = evaluate(*run.model, *test);
  const TrainResult result = run.trainer->fit();
  EXPECT_EQ(result.stop, StopReason::completed) << result.message;
  EXPECT_EQ(result.steps, 5 * 19);
  EXPECT_EQ(result.epochs, 5);
  const Evaluation after = evaluate(*run.model, *test);
  EXPECT_LT(after.loss, before.loss);
  EXPECT_GT(after.accuracy, 0.9);
  EXPECT_EQ(after.examples, 300);
  EXPECT_GE(result.best_accuracy, after.accuracy);
}

TEST(Trainer, SameSeedSameThreadsIsBitIdentical) {
  auto train = blobs(200);
  const TrainerOptions options{.epochs = 2, .warmup_steps = 3, .clip_norm = 1.0};
  TrainingRun a("mlp:2-16-16-3,bn=1,dropout=0.2", train, options);
  TrainingRun b("mlp:2-16-16-3,bn=1,dropout=0.2", train, options);
  a.trainer->fit();
  b.trainer->fit();
  EXPECT_TRUE(
      testing::bitwise_equal(a.model->flat_parameters().params, b.model->flat_parameters().params));
  const nn::StateDict sa = a.model->state_dict();
  const nn::StateDict sb = b.model->state_dict();
  for (const auto& [name, tensor] : sa)
    EXPECT_TRUE(testing::bitwise_equal(tensor, sb.at(name))) << name;
}

// N steps, a checkpoint, a new model/optimizer/loader/trainer resumed from it, N more steps:
// the same bits as 2N steps straight. N falls inside an epoch, and the run crosses epoch
// ends (evaluation, best checkpoint) on both sides.
TEST(Trainer, ResumeIsExact) {
  auto train = blobs(200);  // 7 batches of 32 per epoch
  auto eval_set = blobs(90, 5);
  for (const std::int64_t n : {10, 14}) {
    TempDir dir_straight;
    TempDir dir_split;
    auto options = [&](const std::string& folder, std::int64_t steps) {
      return TrainerOptions{.epochs = 10,
                            .max_steps = steps,
                            .schedule = schedule::cosine(2 * n),
                            .warmup_steps = 4,
                            .clip_norm = 0.5,
                            .log_every = 3,
                            .checkpoint_dir = folder};
    };
    const std::string spec = "mlp:2-16-16-3,bn=1,dropout=0.3";
    TrainingRun straight(spec, train, options(dir_straight.path().string(), 2 * n));
    straight.trainer->set_eval_set(eval_set, "val");
    const TrainResult straight_result = straight.trainer->fit();
    EXPECT_EQ(straight_result.steps, 2 * n);

    {
      TrainingRun first(spec, train, options(dir_split.path().string(), n));
      first.trainer->set_eval_set(eval_set, "val");
      EXPECT_EQ(first.trainer->fit().stop, StopReason::max_steps);
    }
    // Another init seed: everything must come from the checkpoint.
    TrainingRun second(spec, train, options(dir_split.path().string(), 2 * n), /*init_seed=*/77);
    second.trainer->set_eval_set(eval_set, "val");
    second.trainer->resume(load_checkpoint(dir_split.file("last.safetensors")));
    EXPECT_EQ(second.trainer->step(), n);
    const TrainResult second_result = second.trainer->fit();
    EXPECT_EQ(second_result.steps, 2 * n);
    EXPECT_EQ(second_result.best_accuracy, straight_result.best_accuracy);
    EXPECT_EQ(second_result.best_epoch, straight_result.best_epoch);

    EXPECT_TRUE(testing::bitwise_equal(straight.model->flat_parameters().params,
                                       second.model->flat_parameters().params))
        << "N = " << n;
    const Checkpoint a = capture(*straight.model, straight.optimizer.get());
    const Checkpoint b = capture(*second.model, second.optimizer.get());
    for (const auto& [name, tensor] : a.model)
      EXPECT_TRUE(testing::bitwise_equal(tensor, b.model.at(name))) << name;
    for (const auto& [name, tensor] : a.optimizer) {
      EXPECT_TRUE(testing::bitwise_equal(tensor, b.optimizer.at(name))) << name;
    }
    EXPECT_EQ(a.metadata, b.metadata);
  }
}

TEST(Trainer, ResumeChecksTheRunFits) {
  TempDir dir;
  auto train = blobs(200);
  {
    TrainingRun run("mlp:2-8-3", train, {.epochs = 1, .checkpoint_dir = dir.path().string()});
    run.trainer->fit();
  }
  TrainingRun other_batch("mlp:2-8-3", train, {.epochs = 1}, 1,
                          {{"lr", "0.1"}, {"momentum", "0.9"}}, 50);
  const std::string message =
      error_of([&] { other_batch.trainer->resume(load_checkpoint(dir.file("last.safetensors"))); });
  EXPECT_NE(message.find("saved with 7 batches per epoch, this run has 4"), std::string::npos)
      << message;
}

// Passes values through; its backward returns NaN from the `from`-th training forward on.
class PoisonGradient : public nn::Module {
 public:
  explicit PoisonGradient(int from) : Module("PoisonGradient"), from_(from) {}
  Tensor forward(const Tensor& x) override {
    const bool poison = autograd::grad_enabled() && ++calls_ >= from_;
    return autograd::record(
        "poison_gradient", x.clone(), {x}, [poison](const Tensor& grad, const autograd::Node&) {
          return autograd::Grads{poison ? full(grad.shape(), std::nan(""), grad.dtype()) : grad};
        });
  }

 private:
  int from_;
  int calls_ = 0;
};

TEST(Trainer, NanGuardNamesANonFiniteGradientNormAndKeepsTheLastGoodCheckpoint) {
  TempDir dir;
  auto model = std::make_shared<nn::Sequential>();
  Generator gen(1);
  model->push_back("fc1", std::make_shared<nn::Linear>(2, 8, gen));
  model->push_back("poison", std::make_shared<PoisonGradient>(5));
  model->push_back("fc2", std::make_shared<nn::Linear>(8, 3, gen));
  nn::flatten_parameters(*model);
  optim::SGD optimizer(model->parameters(), {.lr = 0.1});
  data::DataLoader loader(blobs(200), {.batch_size = 32, .shuffle = true});
  Trainer trainer(model, optimizer, loader,
                  {.epochs = 2, .checkpoint_dir = dir.path().string(), .checkpoint_every = 1});
  const TrainResult result = trainer.fit();
  EXPECT_EQ(result.stop, StopReason::non_finite);
  EXPECT_EQ(result.steps, 4);
  EXPECT_NE(result.message.find("NaN guard: the gradient norm is nan at step 5 (epoch 1, batch 5)"),
            std::string::npos)
      << result.message;
  EXPECT_NE(result.message.find(dir.file("last.safetensors")), std::string::npos) << result.message;
  const Checkpoint last = load_checkpoint(dir.file("last.safetensors"));
  EXPECT_EQ(metadata_int(last, "step"), 4);
  for (const auto& [name, tensor] : last.model) EXPECT_TRUE(autograd::all_finite(tensor)) << name;
}

TEST(Trainer, NanGuardNamesANonFiniteLoss) {
  auto train = blobs(200);
  TrainingRun run("mlp:2-16-3", train, {.epochs = 3}, 1, {{"lr", "1e30"}});
  const TrainResult result = run.trainer->fit();
  EXPECT_EQ(result.stop, StopReason::non_finite);
  EXPECT_NE(result.message.find("NaN guard: the loss is"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find(cat("at step ", result.steps + 1, " ")), std::string::npos)
      << result.message;
  EXPECT_NE(result.message.find("no checkpoint was written"), std::string::npos) << result.message;
}

TEST(Trainer, EarlyStoppingAfterPatienceEpochsWithoutImprovement) {
  TempDir dir;
  auto train = blobs(200);
  // lr 0 after the first epoch: the eval accuracy cannot improve again.
  TrainingRun run("mlp:2-16-3", train,
                  {.epochs = 20,
                   .schedule = schedule::Schedule(
                       "first epoch only",
                       [](std::int64_t epoch, double base) { return epoch == 0 ? base : 0.0; }),
                   .schedule_unit = ScheduleUnit::epoch,
                   .patience = 2,
                   .checkpoint_dir = dir.path().string()});
  run.trainer->set_eval_set(blobs(90, 5), "val");
  const TrainResult result = run.trainer->fit();
  EXPECT_EQ(result.stop, StopReason::early_stopping) << result.message;
  EXPECT_EQ(result.epochs, 3);
  EXPECT_EQ(result.best_epoch, 1);
  EXPECT_NE(result.message.find("no better val accuracy for 2 epochs"), std::string::npos)
      << result.message;
  EXPECT_EQ(metadata_int(load_checkpoint(dir.file("best.safetensors")), "epoch"), 1);
  EXPECT_EQ(metadata_int(load_checkpoint(dir.file("last.safetensors")), "epoch"), 3);
}

// Records the mode and grad mode of every forward.
class ModeSpy : public nn::Module {
 public:
  ModeSpy() : Module("ModeSpy") {}
  Tensor forward(const Tensor& x) override {
    seen.emplace_back(is_training(), autograd::grad_enabled());
    return x;
  }
  std::vector<std::pair<bool, bool>> seen;
};

TEST(Trainer, EvaluatesInEvalModeUnderNoGradThenReturnsToTraining) {
  auto model = std::make_shared<nn::Sequential>();
  Generator gen(1);
  model->push_back("fc", std::make_shared<nn::Linear>(2, 3, gen));
  auto bn = model->push_back("bn", std::make_shared<nn::BatchNorm1d>(3));
  auto spy = model->push_back("spy", std::make_shared<ModeSpy>());
  nn::flatten_parameters(*model);
  optim::SGD optimizer(model->parameters(), {.lr = 0.1});
  data::DataLoader loader(blobs(64), {.batch_size = 32});
  Trainer trainer(model, optimizer, loader, {.epochs = 2});
  trainer.set_eval_set(blobs(50, 5), "test");
  struct Check : Callback {
    nn::Module* model;
    int epochs = 0;
    void on_epoch(const EpochReport& stats) override {
      EXPECT_TRUE(model->is_training());
      EXPECT_TRUE(stats.eval.has_value());
      ++epochs;
    }
  };
  auto check = std::make_shared<Check>();
  check->model = model.get();
  trainer.add_callback(check);
  trainer.fit();
  EXPECT_EQ(check->epochs, 2);
  int training = 0;
  int evaluating = 0;
  for (const auto& [is_training, grad] : spy->seen) {
    EXPECT_EQ(is_training, grad) << "training forwards record; evaluation forwards do not";
    (is_training ? training : evaluating) += 1;
  }
  EXPECT_EQ(training, 4);
  EXPECT_EQ(evaluating, 2);  // one batch of 50 per evaluation

  // evaluate() alone leaves BN's statistics and the mode as they were.
  const Tensor mean = bn->state_dict().at("running_mean").clone();
  const Evaluation e = evaluate(*model, *blobs(50, 5), 7);
  EXPECT_EQ(e.examples, 50);
  EXPECT_TRUE(model->is_training());
  EXPECT_TRUE(testing::bitwise_equal(mean, bn->state_dict().at("running_mean")));
}

TEST(Trainer, LearningRatePerStepOrPerEpochWithWarmup) {
  auto train = blobs(64);
  TrainingRun per_step("mlp:2-4-3", train,
                       {.epochs = 2, .schedule = schedule::cosine(100), .warmup_steps = 10});
  EXPECT_EQ(per_step.trainer->lrs_at(0, 0)[0], 0.0);  // warmup starts at 0
  EXPECT_DOUBLE_EQ(per_step.trainer->lrs_at(5, 0)[0], 0.5 * schedule::cosine(100)(5, 0.1));
  EXPECT_DOUBLE_EQ(per_step.trainer->lrs_at(40, 3)[0], schedule::cosine(100)(40, 0.1));
  TrainingRun per_epoch("mlp:2-4-3", train,
                        {.epochs = 2,
                         .schedule = schedule::step_decay(1, 0.5),
                         .schedule_unit = ScheduleUnit::epoch});
  EXPECT_DOUBLE_EQ(per_epoch.trainer->lrs_at(40, 0)[0], 0.1);
  EXPECT_DOUBLE_EQ(per_epoch.trainer->lrs_at(40, 2)[0], 0.025);
  // The optimizer follows the schedule during fit().
  per_epoch.trainer->fit();
  EXPECT_DOUBLE_EQ(per_epoch.optimizer->lr(), 0.05);  // last step was in epoch 1
}

TEST(Trainer, ClippingScalesTheStepAsClipGradNormDoes) {
  // One step of plain SGD on the whole set as one batch: the trainer's folded clip against
  // clip_grad_norm_ and a manual update.
  auto train = blobs(64);
  TrainingRun run("mlp:2-8-3", train, {.epochs = 1, .clip_norm = 0.01}, 3, {{"lr", "0.5"}}, 64);
  const Tensor start = run.model->flat_parameters().params.clone();
  run.trainer->fit();

  auto reference = model_of("mlp:2-8-3", 3);
  const Tensor x = train->inputs();
  ops::cross_entropy(reference->forward(x), train->targets()).backward();
  const Tensor flat = reference->flat_parameters().params;
  const double norm = clip::clip_grad_norm_(std::span(&flat, 1), 0.01);
  EXPECT_GT(norm, 0.01);  // clipping did something
  const std::vector<double> g = reference->flat_parameters().grads.to_vector();
  const std::vector<double> p0 = start.to_vector();
  const std::vector<double> p1 = run.model->flat_parameters().params.to_vector();
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(p1[i], p0[i] - 0.5 * g[i], 1e-6) << i;
}

TEST(Trainer, MetricsLogAndProgressBar) {
  TempDir dir;
  auto train = blobs(200);  // 7 batches
  TrainingRun run("mlp:2-8-3", train, {.epochs = 2, .log_every = 5});
  run.trainer->set_eval_set(blobs(60, 5), "test");
  run.trainer->add_callback(std::make_shared<MetricsLog>(dir.file("metrics.jsonl")));
  std::FILE* plain = std::tmpfile();
  std::FILE* terminal = std::tmpfile();
  run.trainer->add_callback(std::make_shared<ProgressBar>(plain, false));
  run.trainer->add_callback(std::make_shared<ProgressBar>(terminal, true));
  run.trainer->fit();

  std::ifstream log(dir.file("metrics.jsonl"));
  std::string line;
  int steps = 0;
  int epochs = 0;
  while (std::getline(log, line)) {
    const auto record = nlohmann::json::parse(line);
    for (const char* key : {"lr", "grad_norm", "samples_per_sec", "wall_seconds"}) {
      EXPECT_TRUE(record.contains(key)) << key << " in " << line;
    }
    if (record["type"] == "step") {
      ++steps;
      EXPECT_EQ(record["step"].get<int>() % 5, 0);
      for (const char* key : {"loss", "accuracy", "epoch"})
        EXPECT_TRUE(record.contains(key)) << key;
    } else {
      ++epochs;
      EXPECT_EQ(record["type"], "epoch");
      EXPECT_EQ(record["eval_set"], "test");
      for (const char* key : {"train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "best",
                              "epoch_seconds"}) {
        EXPECT_TRUE(record.contains(key)) << key;
      }
    }
  }
  EXPECT_EQ(steps, 2);  // steps 5 and 10 of 14
  EXPECT_EQ(epochs, 2);

  auto text_of = [](std::FILE* file) {
    std::rewind(file);
    std::string text;
    for (int c; (c = std::fgetc(file)) != EOF;) text += static_cast<char>(c);
    std::fclose(file);
    return text;
  };
  const std::string lines = text_of(plain);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 2) << lines;
  EXPECT_NE(lines.find("epoch 2/2  step 14  loss"), std::string::npos) << lines;
  EXPECT_NE(lines.find("test loss"), std::string::npos) << lines;
  EXPECT_EQ(lines.find('\r'), std::string::npos);
  const std::string redrawn = text_of(terminal);
  EXPECT_NE(redrawn.find("\r\033[Kepoch 1/2 ["), std::string::npos) << redrawn;
  EXPECT_NE(redrawn.find("ETA"), std::string::npos);
  EXPECT_NE(redrawn.find("samples/s"), std::string::npos);
}

TEST(Trainer, DoctorWatchReportsEachDiagnosisOnceOnItsStreamAndInTheLog) {
  TempDir dir;
  auto log = std::make_shared<MetricsLog>(dir.file("metrics.jsonl"));
  std::FILE* out = std::tmpfile();
  DoctorWatch watch({}, out, log);
  // The loss jumps past 3x its first value early, without warmup: early divergence.
  for (std::int64_t step = 1; step <= 6; ++step) {
    watch.on_step({.step = step, .loss = step < 4 ? 1.0 : 5.0, .lr = 0.1, .grad_norm = 1.0});
  }
  ASSERT_EQ(watch.diagnoses().size(), 1u);
  EXPECT_EQ(watch.diagnoses()[0].code, "early_divergence");
  EXPECT_EQ(watch.diagnoses()[0].step, 4);
  std::rewind(out);
  std::string printed;
  for (int c; (c = std::fgetc(out)) != EOF;) printed += static_cast<char>(c);
  std::fclose(out);
  EXPECT_TRUE(printed.starts_with("descent: doctor: ")) << printed;
  EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 1) << printed;
  std::ifstream in(dir.file("metrics.jsonl"));
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  const auto record = nlohmann::json::parse(line);
  EXPECT_EQ(record["type"], "diagnosis");
  EXPECT_EQ(record["code"], "early_divergence");
  EXPECT_EQ(record["step"], 4);
  EXPECT_FALSE(std::getline(in, line)) << "one record";
}

TEST(Trainer, BadOptionsAreNamed) {
  auto train = blobs(64);
  auto model = model_of("mlp:2-4-3");
  optim::SGD optimizer(model->parameters());
  data::DataLoader loader(train, {.batch_size = 8});
  EXPECT_NE(error_of([&] {
              Trainer(model, optimizer, loader, {.epochs = 0});
            }).find("epochs must be > 0, got 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              Trainer(model, optimizer, loader, {.clip_norm = -1});
            }).find("clip_norm must be >= 0"),
            std::string::npos);
  Trainer no_eval(model, optimizer, loader, {.patience = 2});
  EXPECT_NE(error_of([&] { no_eval.fit(); }).find("early stopping (patience 2) needs an eval set"),
            std::string::npos);
  EXPECT_EQ(format_duration(83), "1:23");
  EXPECT_EQ(format_duration(3723), "1:02:03");
}

}  // namespace
}  // namespace descent::train
