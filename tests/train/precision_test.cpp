// Mixed precision in the Trainer: bf16 and fp16 runs learn as fp32 does on f32 master
// weights, fp16's loss scaler travels in checkpoints, a checkpoint resumes in any precision,
// a corrupted scale is a clear error, and unscaled fp16 gradients that underflow are counted
// and make the doctor speak.
#include <cmath>
#include <limits>

#include "descent/data/synthetic.hpp"
#include "descent/nn/flat.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/autocast.hpp"
#include "descent/optim/all.hpp"
#include "descent/train/callbacks.hpp"
#include "descent/train/trainer.hpp"
#include "train_test_util.hpp"

namespace descent::train {
namespace {

using testing::error_of;
using testing::TempDir;

std::shared_ptr<const data::TensorDataset> blobs(std::int64_t samples, double spread,
                                                 std::uint64_t seed = 4) {
  return std::make_shared<const data::TensorDataset>(data::make_blobs(
      {.samples = samples, .features = 2, .classes = 3, .cluster_std = spread, .seed = seed}));
}

// A model, its optimizer, its loader and the trainer over them.
struct MixedRun {
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<data::DataLoader> loader;
  std::unique_ptr<Trainer> trainer;

  MixedRun(std::shared_ptr<const data::TensorDataset> train, TrainerOptions options,
           const std::string& lr = "0.1") {
    Generator gen(1);
    model = nn::build_model(nn::ModelSpec::parse("mlp:2-32-32-3"), gen);
    optimizer =
        optim::create_optimizer("sgd", model->parameters(), {{"lr", lr}, {"momentum", "0.9"}});
    loader = std::make_unique<data::DataLoader>(
        train, data::DataLoaderOptions{.batch_size = 32, .shuffle = true, .seed = 11});
    trainer = std::make_unique<Trainer>(model, *optimizer, *loader, std::move(options));
  }
};

// Records what each step reported.
class Steps : public Callback {
 public:
  void on_step(const StepReport& report) override { reports.push_back(report); }
  std::vector<StepReport> reports;
};

TEST(Precision, Bf16AndFp16LearnAsFp32DoesOnF32MasterWeights) {
  auto train = blobs(300, 1.5);
  auto test = train;  // the blobs' centers depend on the seed
  double fp32_accuracy = 0.0;
  Tensor fp32_weights;
  for (amp::Precision precision :
       {amp::Precision::fp32, amp::Precision::bf16, amp::Precision::fp16}) {
    SCOPED_TRACE(amp::precision_name(precision));
    MixedRun run(train, {.epochs = 4, .precision = precision});
    run.trainer->set_eval_set(test, "test");
    const TrainResult result = run.trainer->fit();
    EXPECT_EQ(result.stop, StopReason::completed);
    const Tensor& weights = run.model->flat_parameters().params;
    EXPECT_EQ(weights.dtype(), DType::f32);  // the master weights
    if (precision == amp::Precision::fp32) {
      fp32_accuracy = result.best_accuracy;
      fp32_weights = weights.clone();
      EXPECT_GT(fp32_accuracy, 0.8);
      continue;
    }
    // 16-bit compute changed the trajectory, and the result is as good
    EXPECT_FALSE(testing::bitwise_equal(weights, fp32_weights));
    EXPECT_NEAR(result.best_accuracy, fp32_accuracy, 0.03);
    EXPECT_EQ(run.trainer->scaler() != nullptr, precision == amp::Precision::fp16);
  }
}

TEST(Precision, Fp16CheckpointCarriesTheScalerAndResumesInAnyPrecision) {
  TempDir dir;
  auto train = blobs(200, 1.5);
  amp::GradScalerOptions scaler{.init_scale = 1024.0, .growth_interval = 3};
  {
    MixedRun run(train, {.epochs = 1,
                         .checkpoint_dir = dir.path().string(),
                         .precision = amp::Precision::fp16,
                         .loss_scaler = scaler});
    run.trainer->fit();
    // 7 clean steps at growth interval 3: the scale doubled twice
    EXPECT_EQ(run.trainer->scaler()->get_scale(), 4096.0);
  }
  const Checkpoint checkpoint = load_checkpoint(dir.file("last.safetensors"));
  EXPECT_EQ(checkpoint.metadata.at("precision"), "fp16");
  EXPECT_EQ(checkpoint.metadata.at("scaler.scale"), "4096");
  EXPECT_EQ(checkpoint.metadata.at("scaler._growth_tracker"), "1");

  MixedRun fp16(train, {.epochs = 2, .precision = amp::Precision::fp16, .loss_scaler = scaler});
  fp16.trainer->resume(checkpoint);
  EXPECT_EQ(fp16.trainer->scaler()->get_scale(), 4096.0);
  EXPECT_EQ(fp16.trainer->scaler()->growth_tracker(), 1);
  EXPECT_EQ(fp16.trainer->fit().stop, StopReason::completed);
  for (amp::Precision other : {amp::Precision::fp32, amp::Precision::bf16}) {
    MixedRun run(train, {.epochs = 2, .precision = other});
    run.trainer->resume(checkpoint);
    EXPECT_EQ(run.trainer->fit().stop, StopReason::completed) << amp::precision_name(other);
  }
  // and an fp32 checkpoint resumes in fp16 with a fresh scaler
  TempDir dir32;
  {
    MixedRun run(train, {.epochs = 1, .checkpoint_dir = dir32.path().string()});
    run.trainer->fit();
  }
  MixedRun from32(train, {.epochs = 2, .precision = amp::Precision::fp16, .loss_scaler = scaler});
  from32.trainer->resume(load_checkpoint(dir32.file("last.safetensors")));
  EXPECT_EQ(from32.trainer->scaler()->get_scale(), 1024.0);
}

TEST(Precision, ANonFiniteScaleInACheckpointIsAClearError) {
  TempDir dir;
  auto train = blobs(200, 1.5);
  {
    MixedRun run(
        train,
        {.epochs = 1, .checkpoint_dir = dir.path().string(), .precision = amp::Precision::fp16});
    run.trainer->fit();
  }
  Checkpoint checkpoint = load_checkpoint(dir.file("last.safetensors"));
  for (const char* bad : {"inf", "nan", "0", "-2"}) {
    checkpoint.metadata["scaler.scale"] = bad;
    MixedRun run(train, {.epochs = 2, .precision = amp::Precision::fp16});
    const std::string message = error_of([&] { run.trainer->resume(checkpoint); });
    EXPECT_NE(message.find("scale must be finite and > 0"), std::string::npos) << message;
    EXPECT_NE(message.find(dir.file("last.safetensors")), std::string::npos) << message;
    EXPECT_EQ(run.trainer->step(), 0) << "nothing changed";
  }
}

TEST(Precision, UnscaledFp16GradientsUnderflowAndTheDoctorSaysSo) {
  // well separated blobs: the loss, and the gradients, become tiny (measured: 14% of the
  // unscaled gradient values underflow in the last epoch, 1.4% with scaling)
  auto train = blobs(320, 0.5);
  double underflow[2] = {0, 0};
  std::size_t diagnoses[2] = {0, 0};
  for (bool scaled : {false, true}) {
    MixedRun run(
        train,
        {.epochs = 12, .precision = amp::Precision::fp16, .loss_scaler = {.enabled = scaled}},
        "0.05");
    auto steps = std::make_shared<Steps>();
    auto doctor = std::make_shared<DoctorWatch>(DoctorOptions{}, nullptr);
    run.trainer->add_callback(steps);
    run.trainer->add_callback(doctor);
    run.trainer->fit();
    // the last epoch's steps
    const auto& reports = steps->reports;
    double sum = 0;
    for (std::size_t i = reports.size() - 10; i < reports.size(); ++i) {
      ASSERT_FALSE(std::isnan(reports[i].fp16_underflow));
      sum += reports[i].fp16_underflow;
    }
    underflow[scaled] = sum / 10;
    for (const Diagnosis& d : doctor->diagnoses()) diagnoses[scaled] += d.code == "fp16_underflow";
  }
  EXPECT_GT(underflow[false], 0.05);
  EXPECT_LT(underflow[true], underflow[false] / 4);
  EXPECT_EQ(diagnoses[false], 1u);
  EXPECT_EQ(diagnoses[true], 0u);
}

TEST(Precision, Fp32RunsReportNoUnderflowAndBadOptionsAreNamed) {
  auto train = blobs(64, 1.5);
  MixedRun run(train, {.epochs = 1});
  auto steps = std::make_shared<Steps>();
  run.trainer->add_callback(steps);
  run.trainer->fit();
  EXPECT_TRUE(std::isnan(steps->reports.back().fp16_underflow));
  const std::string message = error_of([&] {
    MixedRun bad(train, {.precision = amp::Precision::fp16, .loss_scaler = {.growth_factor = 0.5}});
  });
  EXPECT_NE(message.find("growth_factor must be > 1"), std::string::npos) << message;
}

// Throws from the first step's report, noting whether gradient rounding was being counted.
class ThrowOnStep : public Callback {
 public:
  void on_step(const StepReport&) override {
    counting = ops::counting_gradient_rounding();
    throw Error("stopped by the test");
  }
  bool counting = false;
};

TEST(Precision, ATrainerLeavesTheRoundingCounterAsItFoundIt) {
  // The switch is process-wide: an fp16 run turns it on while it trains, and must not leave
  // every later 16-bit backward in the process paying a counting pass.
  auto train = blobs(64, 1.5);
  ASSERT_FALSE(ops::counting_gradient_rounding());
  {
    MixedRun run(train, {.epochs = 1, .precision = amp::Precision::fp16});
    auto steps = std::make_shared<Steps>();
    run.trainer->add_callback(steps);
    run.trainer->fit();
    EXPECT_FALSE(std::isnan(steps->reports.back().fp16_underflow));  // it did count
  }
  EXPECT_FALSE(ops::counting_gradient_rounding());
  {
    MixedRun run(train, {.epochs = 1, .precision = amp::Precision::fp16});
    auto thrower = std::make_shared<ThrowOnStep>();
    run.trainer->add_callback(thrower);
    EXPECT_NE(error_of([&] { run.trainer->fit(); }).find("stopped by the test"), std::string::npos);
    EXPECT_TRUE(thrower->counting);
  }
  EXPECT_FALSE(ops::counting_gradient_rounding());  // also when fit() throws
  // A caller's own setting survives a run that does not count (fp32).
  ops::count_gradient_rounding(true);
  {
    MixedRun run(train, {.epochs = 1});
    run.trainer->fit();
  }
  EXPECT_TRUE(ops::counting_gradient_rounding());
  ops::count_gradient_rounding(false);
}

}  // namespace
}  // namespace descent::train
