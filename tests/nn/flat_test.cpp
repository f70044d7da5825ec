// Flat parameter storage: views, alignment, gradients accumulating into the flat buffer,
// training over the flat buffer, and no allocation per step.
#include <gtest/gtest.h>

#include <cmath>

#include "descent/core/allocator.hpp"
#include "descent/nn/nn.hpp"
#include "descent/ops.hpp"
#include "nn_test_util.hpp"

namespace descent {
namespace {

using testing::expect_error;

nn::MLPOptions small_mlp() {
  return {.sizes = {5, 7, 3}, .batch_norm = true};
}

TEST(FlatParameters, ParametersBecomeAlignedViewsOfOneBuffer) {
  Generator gen(0);
  nn::MLP model(small_mlp(), gen);
  const auto named = model.named_parameters();
  std::vector<std::vector<double>> values;
  for (const auto& [name, p] : named) values.push_back(p.to_vector());
  const std::vector<std::string> keys = model.state_dict().keys();

  nn::FlatParameters& flat = nn::flatten_parameters(model);
  EXPECT_TRUE(model.is_flat());
  EXPECT_EQ(&model.flat_parameters(), &flat);
  ASSERT_EQ(flat.ranges.size(), named.size());
  EXPECT_EQ(flat.num_parameters(), model.num_parameters());
  EXPECT_EQ(model.state_dict().keys(), keys);  // names do not change

  const float* params = flat.params.data<float>();
  const float* grads = flat.grads.data<float>();
  std::int64_t end = 0;
  for (std::size_t i = 0; i < named.size(); ++i) {
    const auto& [name, p] = named[i];  // handles taken before flattening
    const nn::ParamRange& r = flat.ranges[i];
    SCOPED_TRACE(name);
    EXPECT_EQ(r.name, name);
    EXPECT_EQ(r.shape, p.shape());
    EXPECT_EQ(r.numel, p.numel());
    EXPECT_EQ(r.offset % 16, 0);  // 64 bytes of f32
    EXPECT_GE(r.offset, end);
    end = r.offset + r.numel;
    EXPECT_TRUE(p.same_storage(flat.params));
    EXPECT_EQ(p.data<float>(), params + r.offset);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p.data<float>()) % 64, 0u);
    EXPECT_TRUE(p.grad().same_storage(flat.grads));
    EXPECT_EQ(p.grad().data<float>(), grads + r.offset);
    EXPECT_EQ(p.to_vector(), values[i]);  // values survive
    EXPECT_TRUE(p.requires_grad());
  }
  EXPECT_EQ(flat.params.numel(), end);
  // The gaps between ranges are zero.
  std::vector<bool> covered(static_cast<std::size_t>(flat.params.numel()), false);
  for (const nn::ParamRange& r : flat.ranges) {
    for (std::int64_t k = 0; k < r.numel; ++k) covered[r.offset + k] = true;
  }
  for (std::int64_t k = 0; k < flat.params.numel(); ++k) {
    if (!covered[k]) {
      EXPECT_EQ(params[k], 0.0f) << "gap element " << k;
    }
  }
  EXPECT_TRUE(flat.params.requires_grad());
  EXPECT_TRUE(flat.params.grad().same_storage(flat.grads));
  EXPECT_EQ(flat.params.grad().data<float>(), grads);
}

TEST(FlatParameters, RangesFlagBiasesAndNormParameters) {
  Generator gen(0);
  nn::MLP model(small_mlp(), gen);
  nn::FlatParameters& flat = nn::flatten_parameters(model);
  std::vector<std::pair<std::string, bool>> flags;
  for (const nn::ParamRange& r : flat.ranges) flags.emplace_back(r.name, r.is_bias_or_norm);
  // fc1 has no bias: BN follows it.
  EXPECT_EQ(flags, (std::vector<std::pair<std::string, bool>>{
                       {"fc1.weight", false},
                       {"bn1.weight", true},
                       {"bn1.bias", true},
                       {"fc2.weight", false},
                       {"fc2.bias", true},
                   }));
  EXPECT_EQ(flat.range("fc2.weight").shape, (Shape{3, 7}));
  expect_error([&] { flat.range("nope"); }, {"no parameter named 'nope'"});
}

TEST(FlatParameters, BackwardAccumulatesIntoTheFlatGradients) {
  Generator gen_a(3), gen_b(3);
  nn::MLP flat_model(small_mlp(), gen_a);
  nn::MLP plain_model(small_mlp(), gen_b);  // same seed: same values, not flattened
  nn::FlatParameters& flat = nn::flatten_parameters(flat_model);
  Generator data(9);
  const Tensor x = randn({6, 5}, data);
  const Tensor y = randn({6, 3}, data);

  ops::mse_loss(flat_model.forward(x), y).backward();
  ops::mse_loss(plain_model.forward(x), y).backward();
  const auto flat_params = flat_model.named_parameters();
  const auto plain_params = plain_model.named_parameters();
  for (std::size_t i = 0; i < flat_params.size(); ++i) {
    SCOPED_TRACE(flat_params[i].first);
    const nn::ParamRange& r = flat.ranges[i];
    const Tensor in_buffer = flat.grads.view_of(r.offset, r.shape);
    EXPECT_EQ(in_buffer.to_vector(), plain_params[i].second.grad().to_vector());
    EXPECT_GT(testing::max_abs_diff(in_buffer, zeros(r.shape)), 0.0);
  }
  // A second backward adds to the same buffer.
  const std::vector<double> once = flat.grads.to_vector();
  ops::mse_loss(flat_model.forward(x), y).backward();
  const std::vector<double> twice = flat.grads.to_vector();
  for (std::size_t k = 0; k < once.size(); ++k) EXPECT_FLOAT_EQ(twice[k], 2 * once[k]);

  flat_model.zero_grad();
  EXPECT_EQ(testing::max_abs_diff(flat.grads, zeros_like(flat.grads)), 0.0);
  for (const Tensor& p : flat_model.parameters()) EXPECT_TRUE(p.grad().same_storage(flat.grads));

  // A gradient replaced after flattening lives outside the buffer; zero_grad reaches it too.
  Tensor detached = flat_model.parameters().back();
  detached.set_grad(ones(detached.shape()));
  flat_model.zero_grad();
  EXPECT_EQ(testing::max_abs_diff(detached.grad(), zeros(detached.shape())), 0.0);
}

TEST(FlatParameters, ZeroGradWithoutFlatteningZerosEachGradient) {
  Generator gen(0);
  nn::Linear fc(3, 2, gen);
  ops::sum(fc.forward(ones({4, 3}))).backward();
  EXPECT_GT(testing::max_abs_diff(fc.weight.grad(), zeros({2, 3})), 0.0);
  fc.zero_grad();
  EXPECT_EQ(testing::max_abs_diff(fc.weight.grad(), zeros({2, 3})), 0.0);
  EXPECT_EQ(testing::max_abs_diff(fc.bias.grad(), zeros({2})), 0.0);
  expect_error([&] { fc.flat_parameters(); }, {"Linear", "flatten_parameters"});
}

TEST(FlatParameters, FlatteningAgainStartsAFreshBuffer) {
  Generator gen(0);
  nn::MLP model(small_mlp(), gen);
  const Tensor first = nn::flatten_parameters(model).params;
  const std::vector<double> values = model.named_parameters()[0].second.to_vector();
  const Tensor second = nn::flatten_parameters(model).params;
  EXPECT_FALSE(first.same_storage(second));
  EXPECT_TRUE(model.named_parameters()[0].second.same_storage(second));
  EXPECT_EQ(model.named_parameters()[0].second.to_vector(), values);
}

TEST(FlatParameters, MixedDtypesAreRefused) {
  nn::Sequential model;
  model.register_parameter("a", zeros({2}));
  model.register_parameter("b", zeros({2}, DType::f64));
  expect_error([&] { nn::flatten_parameters(model); }, {"one dtype", "'a' is f32", "'b' is f64"});
}

// One step of plain gradient descent over the whole flat buffer: p -= lr * grad.
void sgd_step(nn::FlatParameters& flat, float lr) {
  float* p = flat.params.data<float>();
  const float* g = flat.grads.data<float>();
  for (std::int64_t i = 0; i < flat.params.numel(); ++i) p[i] -= lr * g[i];
}

TEST(FlatParameters, GradientDescentOverTheFlatBufferFitsAnMLP) {
  Generator gen(0);
  auto model = nn::build_model(nn::ModelSpec::parse("mlp:2-32-32-1"), gen);
  nn::FlatParameters& flat = model->flat_parameters();
  // 32 points of a smooth function on [-1, 1]^2.
  Generator data(1);
  const Tensor x = uniform({32, 2}, -1.0, 1.0, data);
  std::vector<double> targets;
  for (std::int64_t i = 0; i < 32; ++i) {
    const double x0 = x.data<float>()[2 * i];
    const double x1 = x.data<float>()[2 * i + 1];
    targets.push_back(0.5 * x0 - 0.3 * x1 + 0.2 * x0 * x1);
  }
  const Tensor y = from_vector(targets, {32, 1});

  double first_loss = 0;
  double loss_value = 0;
  for (int step = 0; step < 1000; ++step) {
    model->zero_grad();
    Tensor loss = ops::mse_loss(model->forward(x), y);
    loss.backward();
    sgd_step(flat, 0.1f);
    loss_value = loss.item();
    if (step == 0) first_loss = loss_value;
  }
  EXPECT_GT(first_loss, 0.05);
  EXPECT_LT(loss_value, 5e-4) << "from " << first_loss;
}

TEST(FlatParameters, TrainingStepsAllocateNothingAfterTheFirst) {
  Generator gen(0);
  auto model = nn::build_model(nn::ModelSpec::parse("mlp:64-128-128-10"), gen);
  nn::FlatParameters& flat = model->flat_parameters();
  Generator data(1);
  const Tensor x = randn({32, 64}, data);
  const Tensor y = randn({32, 10}, data);
  auto step = [&] {
    model->zero_grad();
    Tensor loss = ops::mse_loss(model->forward(x), y);
    loss.backward();
    sgd_step(flat, 0.01f);
  };
  step();
  const std::uint64_t allocs = allocator_stats().system_allocs;
  for (int i = 0; i < 5; ++i) step();
  EXPECT_EQ(allocator_stats().system_allocs, allocs);
}

}  // namespace
}  // namespace descent
