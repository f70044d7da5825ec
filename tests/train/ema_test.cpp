// ModelEma: the averages against a direct computation of timm's rule (with and without the
// decay warmup), buffers copied, the swap in and out, state round trips, bad options.
#include "descent/train/ema.hpp"

#include <cmath>

#include "descent/nn/flat.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/loss.hpp"
#include "descent/optim/all.hpp"
#include "train_test_util.hpp"

namespace descent::train {
namespace {

using testing::bitwise_equal;
using testing::error_of;
using testing::model_of;

// One SGD step on random data (the BN model's running statistics move too).
void train_step(nn::Module& model, optim::Optimizer& optimizer, std::uint64_t seed) {
  Generator gen(seed);
  const Tensor x = randn({8, 2}, gen);
  const Tensor y = from_vector({0, 1, 2, 0, 1, 2, 0, 1}, {8}, DType::i64);
  model.zero_grad();
  ops::cross_entropy(model.forward(x), y).backward();
  optimizer.step();
}

// timm's ModelEmaV3.get_decay, written out again: 0 at the first update, then the decay or
// its warmup 1 - (1 + t / gamma)^-power (t = update - 1), capped by the decay.
double timm_decay(std::int64_t update, const EmaOptions& o) {
  const double t = static_cast<double>(update - 1);
  if (t <= 0) return 0.0;
  if (!o.warmup) return o.decay;
  return std::min(o.decay, 1.0 - std::pow(1.0 + t / o.warmup_gamma, -o.warmup_power));
}

TEST(ModelEma, AveragesAsADirectComputationAndCopiesBuffers) {
  for (const EmaOptions options :
       {EmaOptions{.decay = 0.9}, EmaOptions{.decay = 0.6, .warmup = true},
        EmaOptions{.decay = 0.99, .warmup = true, .warmup_gamma = 2.0, .warmup_power = 1.0}}) {
    SCOPED_TRACE(cat("decay ", options.decay, " warmup ", options.warmup));
    auto model = model_of("mlp:2-16-3,bn=1");
    optim::SGD optimizer(model->parameters(), {.lr = 0.2, .momentum = 0.9});
    ModelEma ema(*model, options);
    std::vector<double> reference = model->flat_parameters().params.to_vector();
    for (std::int64_t update = 1; update <= 6; ++update) {
      train_step(*model, optimizer, static_cast<std::uint64_t>(update));
      ema.update();
      const double decay = timm_decay(update, options);
      EXPECT_DOUBLE_EQ(ema.decay_at(update), decay);
      const std::vector<double> param = model->flat_parameters().params.to_vector();
      for (std::size_t i = 0; i < reference.size(); ++i) {
        reference[i] = decay * reference[i] + (1.0 - decay) * param[i];
      }
    }
    EXPECT_EQ(ema.updates(), 6);
    const std::vector<double> got = ema.weights().to_vector();
    double farthest = 0.0;  // the averages are not simply the weights
    const std::vector<double> param = model->flat_parameters().params.to_vector();
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i], reference[i], 1e-6) << i;
      farthest = std::max(farthest, std::abs(got[i] - param[i]));
    }
    EXPECT_GT(farthest, 1e-3);
    const nn::StateDict averaged = ema.state_dict();
    for (const auto& [name, buffer] : model->named_buffers()) {
      EXPECT_TRUE(bitwise_equal(averaged.at(name), buffer)) << name << ": copied, not averaged";
    }
    EXPECT_EQ(averaged.keys(), model->state_dict().keys()) << "the model's own names";
  }
}

TEST(ModelEma, SwapsTheAveragesInAndOut) {
  auto model = model_of("mlp:2-16-3,bn=1");
  optim::SGD optimizer(model->parameters(), {.lr = 0.2});
  ModelEma ema(*model, {.decay = 0.8});
  for (std::uint64_t s = 1; s <= 3; ++s) {
    train_step(*model, optimizer, s);
    ema.update();
  }
  std::vector<std::pair<std::string, Tensor>> own_buffers;
  for (const auto& [name, buffer] : model->named_buffers())
    own_buffers.emplace_back(name, buffer.clone());
  train_step(*model, optimizer, 9);  // the buffers move on; the EMA's copies do not
  const Tensor after_step = model->flat_parameters().params.clone();
  const Tensor averages = ema.weights().clone();
  {
    EmaWeights scope(ema);
    EXPECT_TRUE(ema.swapped());
    EXPECT_TRUE(bitwise_equal(model->flat_parameters().params, averages));
    for (const auto& [name, buffer] : own_buffers) {
      EXPECT_TRUE(bitwise_equal(model->state_dict().at(name), buffer)) << name;
    }
    EXPECT_NE(error_of([&] { ema.update(); }).find("the model holds the averaged weights"),
              std::string::npos);
  }
  EXPECT_FALSE(ema.swapped());
  EXPECT_TRUE(bitwise_equal(model->flat_parameters().params, after_step));
  EXPECT_TRUE(bitwise_equal(ema.weights(), averages));
}

TEST(ModelEma, StateRoundTripsAndChecksNames) {
  auto model = model_of("mlp:2-16-3,bn=1");
  optim::SGD optimizer(model->parameters(), {.lr = 0.2});
  ModelEma ema(*model, {.decay = 0.7, .warmup = true});
  for (std::uint64_t s = 1; s <= 3; ++s) {
    train_step(*model, optimizer, s);
    ema.update();
  }
  nn::StateDict saved;
  for (const auto& [name, tensor] : ema.state_dict()) saved.insert(name, tensor.clone());

  auto other = model_of("mlp:2-16-3,bn=1", 5);
  ModelEma loaded(*other, {.decay = 0.7, .warmup = true});
  loaded.load_state_dict(saved, ema.updates());
  EXPECT_EQ(loaded.updates(), 3);
  EXPECT_TRUE(bitwise_equal(loaded.weights(), ema.weights()));

  auto smaller = model_of("mlp:2-8-3,bn=1");
  ModelEma wrong(*smaller);
  const Tensor before = wrong.weights().clone();
  EXPECT_NE(error_of([&] { wrong.load_state_dict(saved, 3); }).find("ModelEma::load_state_dict: '"),
            std::string::npos);
  EXPECT_TRUE(bitwise_equal(wrong.weights(), before)) << "a refusal changes nothing";
}

TEST(ModelEma, BadOptionsAreNamed) {
  auto model = model_of("mlp:2-4-3");
  EXPECT_NE(error_of([&] {
              ModelEma(*model, {.decay = 1.0});
            }).find("ModelEma: decay must be in (0, 1), got 1"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ModelEma(*model, {.decay = 0.0}); }).find("decay must be in (0, 1)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ModelEma(*model, {.warmup_gamma = 0}); }).find("warmup_gamma"),
            std::string::npos);
  nn::Sequential unflat;
  EXPECT_NE(error_of([&] { ModelEma{unflat}; }).find("must be flattened"), std::string::npos);
}

}  // namespace
}  // namespace descent::train
