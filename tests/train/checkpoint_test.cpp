// Checkpoints: PyTorch's names in the file, exact round trips of model, optimizer and RNG
// streams, and refusals that change nothing.
#include "descent/train/checkpoint.hpp"

#include "descent/nn/flat.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/loss.hpp"
#include "descent/optim/all.hpp"
#include "train_test_util.hpp"

namespace descent::train {
namespace {

using testing::error_of;
using testing::model_of;
using testing::TempDir;

// A few SGD steps on random data, so that optimizer state, BN statistics and dropout streams
// all move away from their starting values.
void take_steps(nn::Module& model, optim::Optimizer& optimizer, const Shape& input, int steps) {
  Generator gen(99);
  model.train();
  for (int i = 0; i < steps; ++i) {
    Shape batch = input;
    batch.insert(batch.begin(), 8);
    const Tensor x = randn(batch, gen);
    const Tensor y = from_vector({0, 1, 2, 0, 1, 2, 0, 1}, {8}, DType::i64);
    model.zero_grad();
    ops::cross_entropy(model.forward(x), y).backward();
    optimizer.step();
  }
}

TEST(Checkpoint, FileHoldsPyTorchNamesOptimizerStateAndMetadata) {
  TempDir dir;
  auto model = model_of("cnn,classes=3");
  optim::SGD optimizer(model->parameters(), {.lr = 0.01, .momentum = 0.9});
  take_steps(*model, optimizer, {1, 28, 28}, 2);
  Checkpoint checkpoint = capture(*model, &optimizer);
  checkpoint.metadata["step"] = "2";
  const std::string path = dir.file("c.safetensors");
  save_checkpoint(path, checkpoint);

  const Safetensors file = load_safetensors(path);
  for (const char* name : {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                           "bn1.running_var", "conv2.weight", "fc1.weight", "fc1.bias",
                           "fc2.weight", "fc2.bias", "optimizer.state.0.momentum_buffer",
                           "optimizer.param_groups.0.lr", "optimizer.param_groups.0.params"}) {
    EXPECT_NE(file.find(name), nullptr) << name;
  }
  EXPECT_EQ(file.at("bn1.num_batches_tracked").dtype(), DType::i64);
  EXPECT_EQ(file.at("bn1.num_batches_tracked").item(), 2.0);
  EXPECT_EQ(file.at("conv1.weight").shape(), Shape({32, 1, 3, 3}));
  EXPECT_EQ(file.metadata.at("format"), kCheckpointFormat);
  EXPECT_EQ(file.metadata.at("optimizer"), "SGD");
  EXPECT_EQ(file.metadata.at("step"), "2");
}

TEST(Checkpoint, RestoreIsExactForModelOptimizerAndDropoutStreams) {
  TempDir dir;
  const std::string spec = "mlp:6-16-16-3,bn=1,dropout=0.2";
  auto model = model_of(spec);
  optim::Adam optimizer(model->parameters(), {.lr = 0.01});
  take_steps(*model, optimizer, {6}, 3);
  const std::string path = dir.file("c.safetensors");
  save_checkpoint(path, capture(*model, &optimizer));

  // Another model, built from another seed, becomes the same after restore ...
  auto copy = model_of(spec, 7);
  optim::Adam copy_optimizer(copy->parameters(), {.lr = 0.5});
  restore(load_checkpoint(path), *copy, &copy_optimizer);
  const nn::StateDict a = model->state_dict();
  const nn::StateDict b = copy->state_dict();
  for (const auto& [name, tensor] : a)
    EXPECT_TRUE(testing::bitwise_equal(tensor, b.at(name))) << name;
  EXPECT_EQ(copy_optimizer.lr(), 0.01);
  // ... and both continue identically: optimizer moments and dropout masks included.
  take_steps(*model, optimizer, {6}, 2);
  take_steps(*copy, copy_optimizer, {6}, 2);
  EXPECT_TRUE(
      testing::bitwise_equal(model->flat_parameters().params, copy->flat_parameters().params));
}

TEST(Checkpoint, AnotherModelIsRefusedAndNothingChanges) {
  TempDir dir;
  auto model = model_of("cnn,classes=3");
  const std::string path = dir.file("cnn.safetensors");
  save_checkpoint(path, capture(*model));

  auto other = model_of("mlp:784-32-3");
  const Tensor before = other->flat_parameters().params.clone();
  const std::string message = error_of([&] { restore(load_checkpoint(path), *other); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("does not fit the model"), std::string::npos) << message;
  EXPECT_NE(message.find("unexpected conv1.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("shapes differ for fc1.weight (128, 3136) vs the model's (32, 784)"),
            std::string::npos)
      << message;
  EXPECT_TRUE(testing::bitwise_equal(before, other->flat_parameters().params));

  const std::string mlp_path = dir.file("mlp.safetensors");
  save_checkpoint(mlp_path, capture(*other));
  const std::string missing = error_of([&] { restore(load_checkpoint(mlp_path), *model); });
  EXPECT_NE(missing.find("missing conv1.weight"), std::string::npos) << missing;

  auto wider = model_of("cnn,classes=5");
  const std::string shapes = error_of([&] { restore(load_checkpoint(path), *wider); });
  EXPECT_NE(shapes.find("shapes differ for fc2.weight (3, 128) vs the model's (5, 128)"),
            std::string::npos)
      << shapes;
}

TEST(Checkpoint, AnotherOptimizerIsRefusedAndNothingChanges) {
  TempDir dir;
  auto model = model_of("mlp:4-8-3");
  optim::SGD sgd(model->parameters(), {.lr = 0.1, .momentum = 0.9});
  take_steps(*model, sgd, {4}, 1);
  const std::string path = dir.file("sgd.safetensors");
  save_checkpoint(path, capture(*model, &sgd));

  auto fresh = model_of("mlp:4-8-3", 5);
  const Tensor before = fresh->flat_parameters().params.clone();
  optim::Adam adam(fresh->parameters());
  const std::string message = error_of([&] { restore(load_checkpoint(path), *fresh, &adam); });
  EXPECT_NE(message.find("holds the state of optimizer SGD, not Adam"), std::string::npos)
      << message;
  EXPECT_TRUE(testing::bitwise_equal(before, fresh->flat_parameters().params));

  // The same optimizer over other parameters: the optimizer's own check, prefixed with the file.
  auto params = fresh->parameters();
  optim::SGD fewer(std::vector<Tensor>(params.begin(), params.begin() + 2), {.momentum = 0.9});
  const std::string groups = error_of([&] { restore(load_checkpoint(path), *fresh, &fewer); });
  EXPECT_NE(groups.find(path), std::string::npos) << groups;
  EXPECT_NE(groups.find("parameters"), std::string::npos) << groups;
  EXPECT_TRUE(testing::bitwise_equal(before, fresh->flat_parameters().params));
}

TEST(Checkpoint, PlainSafetensorsFileIsNotACheckpoint) {
  TempDir dir;
  const std::string path = dir.file("weights.safetensors");
  save_safetensors(path, {{"fc1.weight", zeros({2, 2})}});
  const std::string message = error_of([&] { load_checkpoint(path); });
  EXPECT_NE(message.find("not a descent checkpoint"), std::string::npos) << message;
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

TEST(Checkpoint, MetadataAccessorsNameTheKey) {
  Checkpoint checkpoint;
  checkpoint.path = "x.safetensors";
  checkpoint.metadata["step"] = "12";
  checkpoint.metadata["epoch"] = "one";
  EXPECT_EQ(metadata_int(checkpoint, "step"), 12);
  EXPECT_NE(error_of([&] {
              metadata_int(checkpoint, "epoch");
            }).find("'epoch' must be an integer, got 'one'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { metadata_at(checkpoint, "batch"); }).find("no metadata entry 'batch'"),
            std::string::npos);
}

}  // namespace
}  // namespace descent::train
