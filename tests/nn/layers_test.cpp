// Layers: default initialization, input checks, BatchNorm's modes and statistics, Dropout,
// shape inference against forward, and a residual block against PyTorch.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "descent/autograd/autograd.hpp"
#include "descent/nn/nn.hpp"
#include "descent/ops.hpp"
#include "gradcheck.hpp"
#include "nn_test_util.hpp"
#include "reference_data.hpp"

namespace descent {
namespace {

using testing::expect_error;

struct Moments {
  double mean = 0, var = 0, min = 1e300, max = -1e300;
};

Moments moments(const Tensor& t) {
  const std::vector<double> v = t.to_vector();
  Moments m;
  for (double x : v) {
    m.mean += x;
    m.min = std::min(m.min, x);
    m.max = std::max(m.max, x);
  }
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= static_cast<double>(v.size());
  return m;
}

// U(-b, b): mean 0, variance b^2 / 3, all values inside and some near each end.
void expect_uniform(const Tensor& t, double bound) {
  const Moments m = moments(t);
  const double n = static_cast<double>(t.numel());
  const double var = bound * bound / 3;
  EXPECT_NEAR(m.mean, 0.0, 5 * std::sqrt(var / n));
  EXPECT_NEAR(m.var, var, 0.05 * var);
  EXPECT_GE(m.min, -bound);
  EXPECT_LE(m.max, bound);
  EXPECT_LT(m.min, -0.95 * bound);
  EXPECT_GT(m.max, 0.95 * bound);
}

TEST(Init, LinearIsKaimingUniformWithASqrt5) {
  Generator gen(0);
  nn::Linear fc(400, 300, gen);
  expect_uniform(fc.weight, 1.0 / std::sqrt(400.0));
  nn::Linear wide(10, 5000, gen);  // enough bias elements for statistics
  expect_uniform(wide.bias, 1.0 / std::sqrt(10.0));
}

TEST(Init, Conv2dFanInIsChannelsTimesKernel) {
  Generator gen(0);
  nn::Conv2d conv(16, 64, 3, gen);
  expect_uniform(conv.weight, 1.0 / std::sqrt(16.0 * 9.0));
  nn::Conv2d many(2, 4000, {1, 2}, gen);
  expect_uniform(many.bias, 1.0 / std::sqrt(2.0 * 1.0 * 2.0));
}

TEST(Init, NormLayersStartAtIdentity) {
  nn::BatchNorm2d bn(5);
  EXPECT_EQ(bn.weight.to_vector(), std::vector<double>(5, 1.0));
  EXPECT_EQ(bn.bias.to_vector(), std::vector<double>(5, 0.0));
  EXPECT_EQ(bn.running_mean.to_vector(), std::vector<double>(5, 0.0));
  EXPECT_EQ(bn.running_var.to_vector(), std::vector<double>(5, 1.0));
  EXPECT_EQ(bn.num_batches_tracked.item(), 0.0);
  nn::LayerNorm ln({3, 4});
  EXPECT_EQ(ln.weight.to_vector(), std::vector<double>(12, 1.0));
  EXPECT_EQ(ln.bias.to_vector(), std::vector<double>(12, 0.0));
}

TEST(Init, EmbeddingIsStandardNormal) {
  Generator gen(0);
  nn::Embedding emb(1000, 20, gen);
  const Moments m = moments(emb.weight);
  EXPECT_NEAR(m.mean, 0.0, 0.02);
  EXPECT_NEAR(m.var, 1.0, 0.03);
}

TEST(Init, SeededAndReproducible) {
  Generator a(7), b(7), c(8);
  nn::Linear fa(8, 8, a), fb(8, 8, b), fc(8, 8, c);
  EXPECT_EQ(fa.weight.to_vector(), fb.weight.to_vector());
  EXPECT_EQ(fa.bias.to_vector(), fb.bias.to_vector());
  EXPECT_NE(fa.weight.to_vector(), fc.weight.to_vector());
  EXPECT_NE(fa.weight.to_vector(), fa.bias.to_vector());
}

// ---- input checks: one entry per layer and bad input ----

struct BadInput {
  std::string name;
  std::function<std::shared_ptr<nn::Module>(Generator&)> make;
  Shape input;
  std::string message;
  bool forward_only = false;  // a check that needs the values' mode, not only the shape
};

TEST(Layers, WrongInputsNameTheLayerAndTheShape) {
  using M = std::shared_ptr<nn::Module>;
  const std::vector<BadInput> cases = {
      {"linear features",
       [](Generator& g) -> M { return std::make_shared<nn::Linear>(4, 2, g); },
       {3, 5},
       "Linear: expected (..., 4), got (3, 5)"},
      {"conv rank",
       [](Generator& g) -> M { return std::make_shared<nn::Conv2d>(3, 4, 3, g); },
       {3, 8, 8},
       "Conv2d: expected (N, 3, H, W), got (3, 8, 8)"},
      {"conv channels",
       [](Generator& g) -> M { return std::make_shared<nn::Conv2d>(3, 4, 3, g); },
       {1, 1, 8, 8},
       "Conv2d: expected (N, 3, H, W), got (1, 1, 8, 8)"},
      {"conv too small",
       [](Generator& g) -> M { return std::make_shared<nn::Conv2d>(1, 1, 5, g); },
       {1, 1, 4, 8},
       "Conv2d: input (1, 1, 4, 8) is smaller than the kernel"},
      {"bn2d rank",
       [](Generator&) -> M { return std::make_shared<nn::BatchNorm2d>(4); },
       {3, 4},
       "BatchNorm2d: expected (N, 4, H, W), got (3, 4)"},
      {"bn2d channels",
       [](Generator&) -> M { return std::make_shared<nn::BatchNorm2d>(4); },
       {2, 3, 5, 5},
       "BatchNorm2d: expected (N, 4, H, W), got (2, 3, 5, 5)"},
      {"bn1d rank",
       [](Generator&) -> M { return std::make_shared<nn::BatchNorm1d>(4); },
       {2, 4, 1, 1},
       "BatchNorm1d: expected (N, 4) or (N, 4, L), got (2, 4, 1, 1)"},
      {"bn one value",
       [](Generator&) -> M { return std::make_shared<nn::BatchNorm1d>(4); },
       {1, 4},
       "BatchNorm1d: expected more than 1 value per channel when training",
       true},
      {"layer norm",
       [](Generator&) -> M {
         return std::make_shared<nn::LayerNorm>(Shape{3, 4});
       },
       {2, 4, 3},
       "LayerNorm: expected (..., 3, 4), got (2, 4, 3)"},
      {"max pool",
       [](Generator&) -> M { return std::make_shared<nn::MaxPool2d>(2); },
       {4, 6, 6},
       "MaxPool2d: expected (N, C, H, W), got (4, 6, 6)"},
      {"avg pool",
       [](Generator&) -> M { return std::make_shared<nn::AvgPool2d>(3); },
       {1, 1, 2, 2},
       "AvgPool2d: input (1, 1, 2, 2) is smaller than the kernel"},
      {"global pool",
       [](Generator&) -> M { return std::make_shared<nn::AdaptiveAvgPool2d>(1); },
       {4, 6},
       "AdaptiveAvgPool2d: expected (N, C, H, W), got (4, 6)"},
      {"flatten",
       [](Generator&) -> M { return std::make_shared<nn::Flatten>(2, 3); },
       {4, 6},
       "Flatten: cannot flatten dims 2..3 of (4, 6)"},
  };
  for (const BadInput& c : cases) {
    SCOPED_TRACE(c.name);
    Generator gen(0);
    auto layer = c.make(gen);
    expect_error([&] { layer->forward(zeros(c.input)); }, {c.message});
    if (c.forward_only) continue;
    std::vector<nn::LayerSummary> rows;
    expect_error([&] { layer->summarize(c.input, rows); }, {c.message});
  }
}

TEST(Layers, ErrorsNameThePathInTheModel) {
  Generator gen(0);
  auto model = nn::build_model(nn::ModelSpec::parse("resnet8"), gen);
  expect_error(
      [&] {
        model->forward(zeros({2, 3, 8, 8}));
      },
      {"Conv2d 'conv1': expected (N, 1, H, W), got (2, 3, 8, 8)"});
  nn::Sequential seq;
  seq.push_back("a", std::make_shared<nn::Flatten>());
  auto bn = seq.push_back("bn", std::make_shared<nn::BatchNorm2d>(4));
  expect_error(
      [&] {
        bn->forward(zeros({2, 4}));
      },
      {"BatchNorm2d 'bn': expected (N, 4, H, W), got (2, 4)"});
}

TEST(Layers, BadConstructorArgumentsThrow) {
  Generator gen(0);
  expect_error([&] { nn::Linear(0, 3, gen); }, {"Linear: in_features must be positive, got 0"});
  expect_error([&] { nn::Conv2d(1, 1, 3, gen, {.stride = 0}); }, {"Conv2d: stride", "got 0"});
  expect_error([&] { nn::BatchNorm2d(4, {.momentum = 1.5}); }, {"momentum", "1.5"});
  expect_error([&] { nn::BatchNorm1d(4, {.eps = 0}); }, {"eps must be positive"});
  expect_error([&] { nn::Dropout(1.5); }, {"Dropout: p must be in [0, 1], got 1.5"});
  expect_error([&] { nn::MaxPool2d(2, {.padding = 2}); }, {"padding 2", "half the kernel 2"});
  expect_error([&] { nn::AdaptiveAvgPool2d(2); }, {"only output_size 1"});
  expect_error([&] { nn::LayerNorm(Shape{}); }, {"LayerNorm: normalized_shape"});
  expect_error([&] { nn::Embedding(5, 0, gen); }, {"embedding_dim must be positive"});
  nn::Embedding emb(5, 2, gen);
  expect_error([&] { emb.forward(zeros({3})); }, {"Embedding: expected indices of i64 or i32"});
}

// ---- BatchNorm ----

TEST(BatchNorm, TrainingUpdatesRunningStatisticsAsPyTorch) {
  nn::BatchNorm1d bn(2);
  // Channel 0 holds 1, 2, 3, 4; channel 1 holds 10, 10, 10, 14.
  const Tensor x = tensor({1, 10, 2, 10, 3, 10, 4, 14}, {4, 2});
  bn.forward(x);
  // running = 0.9 running + 0.1 batch, with the unbiased variance.
  const std::vector<double> mean = bn.running_mean.to_vector();
  const std::vector<double> var = bn.running_var.to_vector();
  EXPECT_NEAR(mean[0], 0.1 * 2.5, 1e-6);
  EXPECT_NEAR(mean[1], 0.1 * 11.0, 1e-6);
  EXPECT_NEAR(var[0], 0.9 + 0.1 * (5.0 / 3.0), 1e-6);
  EXPECT_NEAR(var[1], 0.9 + 0.1 * 4.0, 1e-6);
  EXPECT_EQ(bn.num_batches_tracked.item(), 1.0);
  bn.forward(x);
  EXPECT_EQ(bn.num_batches_tracked.item(), 2.0);
  bn.eval();
  bn.forward(x);
  EXPECT_EQ(bn.num_batches_tracked.item(), 2.0);  // evaluation tracks nothing
}

TEST(BatchNorm, EvaluationUsesRunningStatistics) {
  nn::BatchNorm1d bn(2);
  bn.running_mean.copy_(tensor({1.0, -2.0}));
  bn.running_var.copy_(tensor({4.0, 0.25}));
  bn.weight.copy_(tensor({2.0, 1.0}));
  bn.bias.copy_(tensor({0.5, 0.0}));
  bn.eval();
  const Tensor y = bn.forward(tensor({3.0, -1.0}, {1, 2}));  // one sample is fine in eval
  const double eps = 1e-5;
  EXPECT_NEAR(y.to_vector()[0], 2.0 * (3.0 - 1.0) / std::sqrt(4.0 + eps) + 0.5, 1e-5);
  EXPECT_NEAR(y.to_vector()[1], (-1.0 + 2.0) / std::sqrt(0.25 + eps), 1e-5);
}

TEST(BatchNorm, CumulativeAverageWithoutMomentum) {
  nn::BatchNorm1d bn(1, {.momentum = std::nullopt});
  bn.forward(tensor({1, 3}, {2, 1}));              // batch mean 2
  bn.forward(tensor({5, 7}, {2, 1}));              // batch mean 6
  EXPECT_NEAR(bn.running_mean.item(), 4.0, 1e-6);  // the average of the two batches
}

TEST(BatchNorm, ThreeDimensionalInputAndNoRunningStatistics) {
  Generator gen(0);
  nn::BatchNorm1d bn(3, {.affine = false, .track_running_stats = false});
  EXPECT_TRUE(bn.state_dict().keys().empty());
  const Tensor x = randn({4, 3, 5}, gen);
  const Tensor y = bn.forward(x);
  EXPECT_EQ(y.shape(), x.shape());
  // Normalized per channel over (N, L): mean 0, biased variance 1.
  for (std::int64_t c = 0; c < 3; ++c) {
    double sum = 0, sq = 0;
    for (std::int64_t n = 0; n < 4; ++n) {
      for (std::int64_t l = 0; l < 5; ++l) {
        const double v = y.data<float>()[(n * 3 + c) * 5 + l];
        sum += v;
        sq += v * v;
      }
    }
    EXPECT_NEAR(sum / 20, 0.0, 1e-5);
    EXPECT_NEAR(sq / 20, 1.0, 1e-3);
  }
  bn.eval();  // without running statistics, evaluation uses the batch's
  EXPECT_LT(testing::max_abs_diff(bn.forward(x), y), 1e-6);
}

// ---- Dropout ----

TEST(Dropout, SeededInTrainingAndIdentityInEvaluation) {
  nn::Dropout a(0.25, 5), b(0.25, 5);
  const Tensor x = ones({4000});
  const Tensor ya = a.forward(x);
  EXPECT_EQ(ya.to_vector(), b.forward(x).to_vector());
  int zeros_seen = 0;
  for (double v : ya.to_vector()) {
    if (v == 0.0) {
      ++zeros_seen;
    } else {
      EXPECT_NEAR(v, 1.0 / 0.75, 1e-6);
    }
  }
  EXPECT_NEAR(zeros_seen / 4000.0, 0.25, 0.03);
  EXPECT_NE(ya.to_vector(), a.forward(x).to_vector());  // the stream moves on
  a.eval();
  EXPECT_EQ(a.forward(x).to_vector(), x.to_vector());
}

// ---- shape inference agrees with forward ----

TEST(Layers, SummarizeGivesForwardsShape) {
  Generator gen(0);
  using M = std::shared_ptr<nn::Module>;
  const std::vector<std::pair<M, Shape>> cases = {
      {std::make_shared<nn::Linear>(6, 4, gen), {2, 3, 6}},
      {std::make_shared<nn::Conv2d>(2, 3, ops::Size2(3, 2), gen,
                                    nn::Conv2dOptions{.stride = {2, 1}, .padding = 1}),
       {2, 2, 7, 6}},
      {std::make_shared<nn::Conv2d>(2, 3, 3, gen, nn::Conv2dOptions{.dilation = 2}), {1, 2, 9, 8}},
      {std::make_shared<nn::BatchNorm2d>(3), {2, 3, 4, 4}},
      {std::make_shared<nn::LayerNorm>(Shape{4}), {2, 3, 4}},
      {std::make_shared<nn::MaxPool2d>(3, nn::Pool2dOptions{.stride = 2, .padding = 1}),
       {1, 2, 7, 6}},
      {std::make_shared<nn::AvgPool2d>(2), {1, 2, 5, 5}},
      {std::make_shared<nn::AdaptiveAvgPool2d>(1), {2, 3, 5, 4}},
      {std::make_shared<nn::Flatten>(), {2, 3, 4}},
      {std::make_shared<nn::GELU>(), {2, 5}},
      {std::make_shared<nn::BasicBlock>(3, 5, gen, nn::BasicBlockOptions{.stride = 2}),
       {2, 3, 7, 7}},
  };
  for (const auto& [layer, shape] : cases) {
    SCOPED_TRACE(layer->str());
    std::vector<nn::LayerSummary> rows;
    EXPECT_EQ(layer->summarize(shape, rows), layer->forward(randn(shape, gen)).shape());
  }
}

TEST(Sequential, NamesChildrenByIndexAndChains) {
  Generator gen(0);
  nn::Sequential seq{std::make_shared<nn::Linear>(3, 4, gen), std::make_shared<nn::ReLU>(),
                     std::make_shared<nn::Linear>(4, 2, gen)};
  EXPECT_EQ(seq.size(), 3u);
  EXPECT_EQ(seq[1].type_name(), "ReLU");
  EXPECT_EQ(seq.state_dict().keys(),
            (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(seq.forward(ones({5, 3})).shape(), (Shape{5, 2}));
  expect_error([&] { seq[3]; }, {"index 3 out of range"});
}

// ---- a residual block: finite differences in f64, and PyTorch ----

struct BlockCase {
  std::string variant;
  nn::BasicBlockOptions options;
  std::int64_t out_channels = 3;
};

TEST(BasicBlock, GradientsMatchFiniteDifferencesInF64) {
  const std::vector<BlockCase> cases = {
      {"projection, BN", {.stride = 2}},
      {"plain, BN", {.stride = 2, .skip = false}},
      {"projection, no BN", {.stride = 2, .batch_norm = false}},
      {"zero padding, BN", {.stride = 2, .shortcut = nn::Shortcut::zero_pad}, 4},
      {"zero padding, stride 1", {.shortcut = nn::Shortcut::zero_pad}, 6},
  };
  for (const BlockCase& c : cases) {
    SCOPED_TRACE(c.variant);
    Generator gen(1);
    nn::BasicBlock block(2, c.out_channels, gen, c.options);
    block.to(DType::f64);
    // The checked inputs: x, then every parameter (perturbed in place, so the block sees it).
    std::vector<Tensor> inputs{testing::leaf({2, 2, 5, 5}, 3)};
    for (const Tensor& p : block.parameters()) inputs.push_back(p);
    testing::expect_gradcheck(
        c.variant, [&](const std::vector<Tensor>& in) { return block.forward(in[0]); }, inputs);
  }
}

TEST(BasicBlock, ZeroPaddingShortcutIsSubsampledInputBetweenZeroChannels) {
  Generator gen(2);
  nn::BasicBlock block(2, 4, gen, {.stride = 2, .shortcut = nn::Shortcut::zero_pad});
  block.to(DType::f64);
  for (Tensor p : block.parameters()) p.fill_(0.0);  // main path: relu(BN(0)) = relu(beta)
  const Tensor x = testing::leaf({1, 2, 5, 5}, 4);
  const std::vector<double> out = block.forward(x).to_vector();  // (1, 4, 3, 3)
  const std::vector<double> in = x.to_vector();
  for (std::int64_t c = 0; c < 4; ++c) {
    for (std::int64_t i = 0; i < 3; ++i) {
      for (std::int64_t j = 0; j < 3; ++j) {
        const double shortcut = c == 0 || c == 3 ? 0.0 : in[((c - 1) * 5 + 2 * i) * 5 + 2 * j];
        EXPECT_EQ(out[(c * 3 + i) * 3 + j], std::max(shortcut, 0.0)) << c << " " << i << " " << j;
      }
    }
  }
  expect_error([&] { nn::BasicBlock(2, 3, gen, {.shortcut = nn::Shortcut::zero_pad}); },
               {"zero-padding shortcut", "2 -> 3"});
}

TEST(Module, ToConvertsParametersAndBuffersInPlace) {
  Generator gen(0);
  auto model = nn::build_model(nn::ModelSpec::parse("mlp:4-3-2,bn=1"), gen);
  const Tensor weight = model->named_parameters().front().second;
  const std::vector<double> values = weight.to_vector();
  model->to(DType::f64);
  EXPECT_EQ(weight.dtype(), DType::f64);  // the old handle follows
  EXPECT_EQ(weight.to_vector(), values);
  EXPECT_EQ(model->state_dict().at("bn1.running_var").dtype(), DType::f64);
  EXPECT_EQ(model->state_dict().at("bn1.num_batches_tracked").dtype(), DType::i64);
  EXPECT_EQ(model->flat_parameters().params.dtype(), DType::f64);
  EXPECT_TRUE(weight.same_storage(model->flat_parameters().params));
  const Tensor out = model->forward(randn({5, 4}, gen, DType::f64));
  EXPECT_EQ(out.dtype(), DType::f64);
  expect_error([&] { model->to(DType::i32); }, {"f32 or f64", "i32"});
}

// ---- a residual block against PyTorch (tests/reference/record_nn.py) ----

TEST(BasicBlock, MatchesPyTorchInTrainingAndEvaluation) {
  const auto records = testing::load_reference("nn.txt");
  const std::vector<BlockCase> cases = {
      {"residual", {.stride = 2}},
      {"plain", {.stride = 2, .skip = false}},
      {"nobn", {.stride = 2, .batch_norm = false}},
  };
  for (const BlockCase& c : cases) {
    SCOPED_TRACE(c.variant);
    const std::string prefix = "block/" + c.variant + "/";
    Generator gen(0);
    nn::BasicBlock block(2, 3, gen, c.options);
    nn::StateDict state;
    for (const auto& [key, value] : block.state_dict()) {
      state.insert(key, testing::ref(records, prefix + "state/" + key));
    }
    block.load_state_dict(state);  // also proves the names match PyTorch's
    const Tensor x = testing::ref(records, prefix + "x").to(DType::f32).set_requires_grad(true);

    block.eval();
    {
      autograd::NoGradGuard no_grad;
      EXPECT_LT(testing::max_abs_diff(block.forward(x), testing::ref(records, prefix + "out_eval")),
                1e-4);
    }
    block.train();
    const Tensor out = block.forward(x);
    EXPECT_LT(testing::max_abs_diff(out, testing::ref(records, prefix + "out_train")), 1e-4);
    const Tensor projection = testing::ref(records, prefix + "projection").to(DType::f32);
    ops::sum(ops::mul(out, projection)).backward();
    EXPECT_LT(testing::max_abs_diff(x.grad(), testing::ref(records, prefix + "grad_x")), 1e-4);
    for (const auto& [key, p] : block.named_parameters()) {
      EXPECT_LT(testing::max_abs_diff(p.grad(), testing::ref(records, prefix + "grad/" + key)),
                1e-4)
          << key;
    }
    for (const auto& [key, b] : block.named_buffers()) {
      EXPECT_LT(testing::max_abs_diff(b, testing::ref(records, prefix + "after/" + key)), 1e-5)
          << key;
    }
  }
}

}  // namespace
}  // namespace descent
