// The Trainer's step pipeline: gradient accumulation equals one large batch, the NaN policy
// (skip and go on, logged; skip too often and stop; stop naming the op with anomaly mode),
// the EMA's evaluation and its exact resume.
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "descent/autograd/autograd.hpp"
#include "descent/data/synthetic.hpp"
#include "descent/nn/flat.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/arith.hpp"
#include "descent/optim/all.hpp"
#include "descent/train/callbacks.hpp"
#include "descent/train/trainer.hpp"
#include "train_test_util.hpp"

namespace descent::train {
namespace {

using testing::bitwise_equal;
using testing::TempDir;

std::shared_ptr<const data::TensorDataset> blobs(std::int64_t samples, std::uint64_t seed = 4) {
  return std::make_shared<const data::TensorDataset>(data::make_blobs(
      {.samples = samples, .features = 2, .classes = 3, .cluster_std = 1.5, .seed = seed}));
}

struct StepsRun {
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<data::DataLoader> loader;
  std::unique_ptr<Trainer> trainer;

  StepsRun(std::shared_ptr<nn::Module> m, std::shared_ptr<const data::TensorDataset> train,
           TrainerOptions options, std::int64_t batch_size = 16) {
    model = std::move(m);
    optimizer =
        optim::create_optimizer("sgd", model->parameters(), {{"lr", "0.3"}, {"momentum", "0.9"}});
    loader = std::make_unique<data::DataLoader>(
        train, data::DataLoaderOptions{.batch_size = batch_size, .shuffle = true, .seed = 11});
    trainer = std::make_unique<Trainer>(model, *optimizer, *loader, std::move(options));
  }
  StepsRun(const std::string& spec, std::shared_ptr<const data::TensorDataset> train,
           TrainerOptions options, std::int64_t batch_size = 16, std::uint64_t seed = 1)
      : StepsRun(build(spec, seed), std::move(train), std::move(options), batch_size) {}

  static std::shared_ptr<nn::Module> build(const std::string& spec, std::uint64_t seed) {
    Generator gen(seed);
    return nn::build_model(nn::ModelSpec::parse(spec), gen);
  }
};

// One step on a batch of 4N against N micro-batches of 4 (and one of an uneven split: 60
// examples as 16 + 16 + 16 + 12, whose losses are weighted by their share). The model has no
// batch norm: BN would normalize each micro-batch by its own statistics.
TEST(TrainerSteps, AccumulationEqualsOneLargeBatch) {
  for (const auto& [samples, micro, n] :
       {std::tuple<std::int64_t, std::int64_t, std::int64_t>{16, 4, 4}, {60, 16, 4}, {24, 4, 6}}) {
    SCOPED_TRACE(cat(samples, " examples, micro-batches of ", micro, " x ", n));
    auto train = blobs(samples);
    StepsRun large("mlp:2-16-16-3", train, {.epochs = 2, .clip_norm = 0.5}, samples);
    StepsRun accumulated("mlp:2-16-16-3", train, {.epochs = 2, .clip_norm = 0.5, .accumulate = n},
                         micro);
    const TrainResult a = large.trainer->fit();
    const TrainResult b = accumulated.trainer->fit();
    EXPECT_EQ(a.steps, 2);
    EXPECT_EQ(b.steps, 2) << "one step per epoch";
    const std::vector<double> want = large.model->flat_parameters().params.to_vector();
    const std::vector<double> got = accumulated.model->flat_parameters().params.to_vector();
    const std::vector<double> start =
        StepsRun::build("mlp:2-16-16-3", 1)->flat_parameters().params.to_vector();
    double moved = 0.0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 1e-5) << i;
      moved = std::max(moved, std::abs(want[i] - start[i]));
    }
    EXPECT_GT(moved, 1e-2) << "the steps did something";
  }
}

// Passes values through; its backward returns NaN on the training forwards listed.
class PoisonGradient : public nn::Module {
 public:
  explicit PoisonGradient(std::vector<int> at) : Module("PoisonGradient"), at_(std::move(at)) {}
  Tensor forward(const Tensor& x) override {
    const bool poison =
        autograd::grad_enabled() && std::find(at_.begin(), at_.end(), ++calls_) != at_.end();
    return autograd::record(
        "poison_gradient", x.clone(), {x}, [poison](const Tensor& grad, const autograd::Node&) {
          return autograd::Grads{poison ? full(grad.shape(), std::nan(""), grad.dtype()) : grad};
        });
  }

 private:
  std::vector<int> at_;
  int calls_ = 0;
};

std::shared_ptr<nn::Module> poisoned(std::vector<int> at) {
  auto model = std::make_shared<nn::Sequential>();
  Generator gen(1);
  model->push_back("fc1", std::make_shared<nn::Linear>(2, 8, gen));
  model->push_back("poison", std::make_shared<PoisonGradient>(std::move(at)));
  model->push_back("fc2", std::make_shared<nn::Linear>(8, 3, gen));
  nn::flatten_parameters(*model);
  return model;
}

std::vector<nlohmann::json> records(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(TrainerSteps, NanPolicySkipSkipsCountsLogsAndGoesOn) {
  TempDir dir;
  StepsRun run(poisoned({3, 6}), blobs(128),  // 8 batches of 16 per epoch
               {.epochs = 2,
                .schedule = schedule::Schedule(
                    "1 / (1 + t)", [](std::int64_t t, double base) { return base / (1.0 + t); }),
                .nan_policy = NanPolicy::skip,
                .log_every = 4});
  run.trainer->add_callback(std::make_shared<MetricsLog>(dir.file("metrics.jsonl")));
  const TrainResult result = run.trainer->fit();
  EXPECT_EQ(result.stop, StopReason::completed) << result.message;
  EXPECT_EQ(result.steps, 16);
  EXPECT_EQ(run.trainer->pipeline().steps_taken(), 14);
  EXPECT_EQ(run.trainer->pipeline().skipped_steps(), 2);
  EXPECT_TRUE(autograd::all_finite(run.model->flat_parameters().params));
  EXPECT_DOUBLE_EQ(run.optimizer->lr(), 0.3 / 14) << "the schedule counted the 14 steps taken";

  std::vector<std::int64_t> skipped_at;
  int intervals = 0;
  for (const nlohmann::json& record : records(dir.file("metrics.jsonl"))) {
    if (record["type"] == "skip") {
      skipped_at.push_back(record["step"].get<std::int64_t>());
      EXPECT_EQ(record["reason"], "non_finite_grad");
      EXPECT_TRUE(record["grad_norm"].is_null());
      EXPECT_TRUE(record["loss"].is_number());
    } else if (record["type"] == "step") {
      ++intervals;
      EXPECT_TRUE(record["grad_norm"].is_number()) << "the mean over the steps taken";
      EXPECT_EQ(record["skipped"], record["step"] == 4 || record["step"] == 8 ? 1 : 0);
    } else if (record["type"] == "epoch") {
      EXPECT_EQ(record["skipped"], record["epoch"] == 1 ? 2 : 0);
    }
  }
  EXPECT_EQ(skipped_at, (std::vector<std::int64_t>{3, 6}));
  EXPECT_EQ(intervals, 4);
}

// Passes values through, but its output is NaN on the training forwards listed.
class PoisonForward : public nn::Module {
 public:
  explicit PoisonForward(std::vector<int> at) : Module("PoisonForward"), at_(std::move(at)) {}
  Tensor forward(const Tensor& x) override {
    const bool poison =
        autograd::grad_enabled() && std::find(at_.begin(), at_.end(), ++calls_) != at_.end();
    return poison ? ops::mul(x, full({}, std::nan(""), x.dtype())) : x;
  }

 private:
  std::vector<int> at_;
  int calls_ = 0;
};

TEST(TrainerSteps, ASkippedNanForwardLeavesTheBatchNormStatisticsAsTheyWere) {
  auto model = std::make_shared<nn::Sequential>();
  Generator gen(1);
  model->push_back("poison", std::make_shared<PoisonForward>(std::vector<int>{3}));
  model->push_back("fc1", std::make_shared<nn::Linear>(2, 8, gen));
  model->push_back("bn", std::make_shared<nn::BatchNorm1d>(8));
  model->push_back("fc2", std::make_shared<nn::Linear>(8, 3, gen));
  nn::flatten_parameters(*model);
  StepsRun run(model, blobs(128), {.epochs = 1, .nan_policy = NanPolicy::skip});
  const TrainResult result = run.trainer->fit();
  EXPECT_EQ(result.stop, StopReason::completed) << result.message;
  EXPECT_EQ(run.trainer->pipeline().skipped_steps(), 1);
  for (const auto& [name, buffer] : model->named_buffers()) {
    if (buffer.dtype() == DType::f32) {
      EXPECT_TRUE(autograd::all_finite(buffer)) << name;
    }
  }
}

TEST(TrainerSteps, NanPolicySkipStopsAfterTooManySkipsInARow) {
  StepsRun run(poisoned({2, 3, 4, 5, 6, 7, 8}), blobs(128),
               {.epochs = 1, .nan_policy = NanPolicy::skip, .max_consecutive_skips = 3});
  const TrainResult result = run.trainer->fit();
  EXPECT_EQ(result.stop, StopReason::non_finite);
  EXPECT_EQ(result.steps, 3) << "the third skip in a row is not counted as a step";
  EXPECT_NE(result.message.find("NaN guard: 3 steps in a row were skipped, the last as the "
                                "gradient norm is nan at step 4 (epoch 1, batch 4)"),
            std::string::npos)
      << result.message;
}

// With anomaly mode the message names the op whose backward made the NaN, and the loss.
TEST(TrainerSteps, NanPolicyStopNamesTheOpWithAnomalyMode) {
  TempDir dir;
  StepsRun run(poisoned({5}), blobs(128),
               {.epochs = 1,
                .detect_anomaly = true,
                .checkpoint_dir = dir.path().string(),
                .checkpoint_every = 2});
  const TrainResult result = run.trainer->fit();
  EXPECT_EQ(result.stop, StopReason::non_finite);
  EXPECT_EQ(result.steps, 4);
  for (const char* part :
       {"NaN guard: anomaly: the backward of 'poison_gradient' produced NaN or Inf",
        "at step 5 (epoch 1, batch 5); the loss was ", "the last good checkpoint is "}) {
    EXPECT_NE(result.message.find(part), std::string::npos) << part << " in " << result.message;
  }
  EXPECT_EQ(metadata_int(load_checkpoint(dir.file("last.safetensors")), "step"), 4);
}

// Evaluation on the averaged weights, when asked, and on the model's own otherwise.
TEST(TrainerSteps, EvaluatesOnTheAveragedWeightsWhenAsked) {
  auto eval_set = blobs(60, 5);
  for (const bool on_ema : {true, false}) {
    SCOPED_TRACE(on_ema ? "evaluate_ema" : "own weights");
    StepsRun run("mlp:2-16-3,bn=1", blobs(128),
                 {.epochs = 2, .ema = EmaOptions{.decay = 0.9}, .evaluate_ema = on_ema});
    run.trainer->set_eval_set(eval_set, "val");
    struct Last : Callback {
      double loss = 0.0;
      void on_epoch(const EpochReport& stats) override { loss = stats.eval->loss; }
    };
    auto last = std::make_shared<Last>();
    run.trainer->add_callback(last);
    run.trainer->fit();
    ASSERT_NE(run.trainer->ema(), nullptr);
    EXPECT_EQ(run.trainer->ema()->updates(), 16);
    const double own = evaluate(*run.model, *eval_set).loss;
    double averaged = 0.0;
    {
      EmaWeights scope(*run.trainer->ema());
      averaged = evaluate(*run.model, *eval_set).loss;
    }
    EXPECT_NE(own, averaged);
    EXPECT_EQ(last->loss, on_ema ? averaged : own);
  }
}

// N steps, a checkpoint, a fresh run resumed from it, N more: the same bits, EMA included,
// with skipped steps and accumulation on both sides of the checkpoint.
TEST(TrainerSteps, ResumeWithAverageSkipsAndAccumulationIsExact) {
  auto train = blobs(128);  // 8 batches of 16, 4 steps per epoch
  const std::int64_t n = 5;
  TempDir straight_dir;
  TempDir split_dir;
  auto options = [&](const TempDir& dir, std::int64_t steps) {
    return TrainerOptions{.epochs = 4,
                          .max_steps = steps,
                          .schedule = schedule::cosine(2 * n),
                          .warmup_steps = 2,
                          .clip_value = 0.5,
                          .nan_policy = NanPolicy::skip,
                          .accumulate = 2,
                          .checkpoint_dir = dir.path().string(),
                          .ema = EmaOptions{.decay = 0.8, .warmup = true}};
  };
  // the 7th training forward (step 4) and the 13th (step 7) are poisoned
  StepsRun straight(poisoned({7, 13}), train, options(straight_dir, 2 * n));
  straight.trainer->fit();
  EXPECT_EQ(straight.trainer->pipeline().skipped_steps(), 2);
  {
    StepsRun first(poisoned({7, 13}), train, options(split_dir, n));
    first.trainer->fit();
  }
  // the forwards counted from the resume: step 7's are the 3rd and 4th
  StepsRun second(poisoned({3}), train, options(split_dir, 2 * n));
  const Checkpoint checkpoint = load_checkpoint(split_dir.file("last.safetensors"));
  EXPECT_GT(checkpoint.ema.size(), 0u);
  EXPECT_EQ(metadata_int(checkpoint, "skipped_steps"), 1);
  second.trainer->resume(checkpoint);
  second.trainer->fit();
  EXPECT_EQ(second.trainer->pipeline().steps_taken(), straight.trainer->pipeline().steps_taken());
  EXPECT_TRUE(bitwise_equal(straight.model->flat_parameters().params,
                            second.model->flat_parameters().params));
  EXPECT_TRUE(bitwise_equal(straight.trainer->ema()->weights(), second.trainer->ema()->weights()));
  EXPECT_EQ(straight.trainer->ema()->updates(), second.trainer->ema()->updates());

  StepsRun without_ema("mlp:2-8-3", train, {.ema = EmaOptions{}});
  StepsRun plain("mlp:2-8-3", train, {.epochs = 1, .checkpoint_dir = split_dir.path().string()});
  plain.trainer->fit();
  EXPECT_NE(testing::error_of([&] {
              without_ema.trainer->resume(load_checkpoint(split_dir.file("last.safetensors")));
            }).find("holds no average of the weights"),
            std::string::npos);
}

TEST(TrainerSteps, BadOptionsAreNamed) {
  auto train = blobs(32);
  for (const auto& [options, message] : std::vector<std::pair<TrainerOptions, std::string>>{
           {{.clip_value = -1}, "Trainer: clip_value must be >= 0 (0: off), got -1"},
           {{.agc = -0.1}, "Trainer: agc must be >= 0 (0: off), got -0.1"},
           {{.accumulate = 0}, "Trainer: accumulate must be >= 1, got 0"},
           {{.max_consecutive_skips = -2}, "max_consecutive_skips must be >= 0"},
           {{.ema = EmaOptions{.decay = 1.5}}, "ModelEma: decay must be in (0, 1), got 1.5"}}) {
    EXPECT_NE(testing::error_of([&] { StepsRun("mlp:2-4-3", train, options); }).find(message),
              std::string::npos)
        << message;
  }
}

}  // namespace
}  // namespace descent::train
