// Recurrent layers (RNN, LSTM, GRU): gradients against finite differences in f64, forward
// and backward against torch.nn on recorded cases (tests/reference/record_recurrent.py),
// and bad input.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "descent/autograd/autograd.hpp"
#include "descent/nn/nn.hpp"
#include "descent/ops.hpp"
#include "gradcheck.hpp"
#include "nn/nn_test_util.hpp"
#include "reference_data.hpp"

namespace descent {
namespace {

using testing::expect_error;

enum class Kind { rnn_tanh, rnn_relu, lstm, gru };

struct Config {
  Kind kind;
  std::int64_t input_size;
  std::int64_t hidden_size;
  std::int64_t num_layers;
  bool batch_first;
  bool bias = true;
};

std::shared_ptr<nn::Recurrent> make(const Config& c, std::uint64_t seed = 0) {
  Generator gen(seed);
  switch (c.kind) {
    case Kind::rnn_tanh:
    case Kind::rnn_relu:
      return std::make_shared<nn::RNN>(
          c.input_size, c.hidden_size, gen,
          nn::RNNOptions{.num_layers = c.num_layers,
                         .nonlinearity = c.kind == Kind::rnn_tanh ? nn::RNNNonlinearity::tanh
                                                                  : nn::RNNNonlinearity::relu,
                         .bias = c.bias,
                         .batch_first = c.batch_first});
    case Kind::lstm:
      return std::make_shared<nn::LSTM>(
          c.input_size, c.hidden_size, gen,
          nn::LSTMOptions{
              .num_layers = c.num_layers, .bias = c.bias, .batch_first = c.batch_first});
    default:
      return std::make_shared<nn::GRU>(
          c.input_size, c.hidden_size, gen,
          nn::GRUOptions{.num_layers = c.num_layers, .bias = c.bias, .batch_first = c.batch_first});
  }
}

// ---- gradient checks (f64, T = 3, B = 2, I = 3, H = 4) ----

struct GradCase {
  std::string name;
  Config config;
  bool with_state;
};

class RecurrentGradcheck : public ::testing::TestWithParam<GradCase> {};

TEST_P(RecurrentGradcheck, MatchesFiniteDifferences) {
  const GradCase& c = GetParam();
  auto layer = make(c.config, 7);
  layer->to(DType::f64);
  const std::int64_t steps = 3, batch = 2;
  const Shape x_shape = c.config.batch_first ? Shape{batch, steps, c.config.input_size}
                                             : Shape{steps, batch, c.config.input_size};
  const Shape state_shape{c.config.num_layers, batch, c.config.hidden_size};
  const bool lstm = c.config.kind == Kind::lstm;
  std::vector<Tensor> inputs{testing::leaf(x_shape, 1, 1.0)};
  if (c.with_state) {
    inputs.push_back(testing::leaf(state_shape, 2, 1.0));
    inputs.push_back(lstm ? testing::leaf(state_shape, 3, 1.0) : Tensor());
  } else {
    inputs.push_back(Tensor());
    inputs.push_back(Tensor());
  }
  const std::size_t first_param = inputs.size();
  for (const auto& [name, p] : layer->named_parameters()) inputs.push_back(p);
  // every result: output, h_n and (LSTM) c_n, flattened into one vector
  testing::expect_gradcheck(
      c.name,
      [&](const std::vector<Tensor>& in) {
        nn::RecurrentOutput r = layer->forward_with_state(in[0], in[1], in[2]);
        std::vector<Tensor> parts{ops::flatten(r.output, 0), ops::flatten(r.h_n, 0)};
        if (r.c_n.defined()) parts.push_back(ops::flatten(r.c_n, 0));
        return ops::concat(parts, 0);
      },
      inputs);
  EXPECT_GT(inputs.size(), first_param);
}

INSTANTIATE_TEST_SUITE_P(
    Cells, RecurrentGradcheck,
    ::testing::Values(GradCase{"rnn_tanh", {Kind::rnn_tanh, 3, 4, 1, false}, true},
                      GradCase{"rnn_relu", {Kind::rnn_relu, 3, 4, 1, false}, true},
                      GradCase{"rnn_tanh_2layer_bf", {Kind::rnn_tanh, 3, 4, 2, true}, false},
                      GradCase{"lstm", {Kind::lstm, 3, 4, 1, false}, true},
                      GradCase{"lstm_2layer", {Kind::lstm, 3, 4, 2, false}, true},
                      GradCase{"lstm_bf_nobias", {Kind::lstm, 3, 4, 1, true, false}, false},
                      GradCase{"gru", {Kind::gru, 3, 4, 1, false}, true},
                      GradCase{"gru_2layer_bf", {Kind::gru, 3, 4, 2, true}, true}),
    [](const auto& info) { return info.param.name; });

// ---- against PyTorch ----

struct TorchCase {
  std::string name;  // as in record_recurrent.py's CASES
  Config config;
  bool with_state;
};

class RecurrentVsTorch : public ::testing::TestWithParam<TorchCase> {};

TEST_P(RecurrentVsTorch, ForwardAndBackwardMatch) {
  const TorchCase& c = GetParam();
  static const auto records = testing::load_reference("recurrent.txt");
  auto key = [&](const std::string& k) { return c.name + "/" + k; };
  auto ref = [&](const std::string& k) { return testing::ref(records, key(k)); };
  const bool lstm = c.config.kind == Kind::lstm;

  auto layer = make(c.config);
  layer->to(DType::f64);
  nn::StateDict state;
  for (const auto& [name, p] : layer->named_parameters()) state.insert(name, ref("param/" + name));
  layer->load_state_dict(state);

  Tensor x = ref("x").clone().set_requires_grad(true);
  Tensor h0, c0;
  if (c.with_state) {
    h0 = ref("h0").clone().set_requires_grad(true);
    if (lstm) c0 = ref("c0").clone().set_requires_grad(true);
  }
  nn::RecurrentOutput r = layer->forward_with_state(x, h0, c0);
  EXPECT_LT(testing::max_abs_diff(r.output, ref("output")), 1e-12) << "output";
  EXPECT_LT(testing::max_abs_diff(r.h_n, ref("h_n")), 1e-12) << "h_n";
  ASSERT_EQ(r.output.shape(), ref("output").shape());
  ASSERT_EQ(r.h_n.shape(), ref("h_n").shape());
  Tensor loss =
      ops::sum(ops::mul(r.output, ref("w_output"))) + ops::sum(ops::mul(r.h_n, ref("w_h_n")));
  if (lstm) {
    ASSERT_EQ(r.c_n.shape(), ref("c_n").shape());
    EXPECT_LT(testing::max_abs_diff(r.c_n, ref("c_n")), 1e-12) << "c_n";
    loss = loss + ops::sum(ops::mul(r.c_n, ref("w_c_n")));
  }
  loss.backward();
  EXPECT_LT(testing::max_abs_diff(x.grad(), ref("grad/x")), 1e-11) << "grad x";
  if (c.with_state) {
    EXPECT_LT(testing::max_abs_diff(h0.grad(), ref("grad/h0")), 1e-11) << "grad h0";
    if (lstm) {
      EXPECT_LT(testing::max_abs_diff(c0.grad(), ref("grad/c0")), 1e-11) << "grad c0";
    }
  }
  for (const auto& [name, p] : layer->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_LT(testing::max_abs_diff(p.grad(), ref("grad/param/" + name)), 1e-11) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Recorded, RecurrentVsTorch,
    ::testing::Values(TorchCase{"rnn_tanh", {Kind::rnn_tanh, 3, 4, 1, false}, true},
                      TorchCase{"rnn_relu_2layer_bf", {Kind::rnn_relu, 3, 4, 2, true}, false},
                      TorchCase{"lstm_2layer_state", {Kind::lstm, 3, 4, 2, false}, true},
                      TorchCase{"lstm_bf", {Kind::lstm, 3, 4, 1, true}, false},
                      TorchCase{"gru_2layer_state", {Kind::gru, 3, 4, 2, false}, true},
                      TorchCase{"gru_bf", {Kind::gru, 3, 4, 1, true}, false}),
    [](const auto& info) { return info.param.name; });

// ---- f32, parameters, names ----

TEST(Recurrent, ParameterNamesShapesAndInit) {
  Generator gen(0);
  nn::LSTM lstm(3, 5, gen, {.num_layers = 2});
  const std::vector<std::pair<std::string, Shape>> expected{
      {"weight_ih_l0", {20, 3}}, {"weight_hh_l0", {20, 5}}, {"bias_ih_l0", {20}},
      {"bias_hh_l0", {20}},      {"weight_ih_l1", {20, 5}}, {"weight_hh_l1", {20, 5}},
      {"bias_ih_l1", {20}},      {"bias_hh_l1", {20}}};
  const auto params = lstm.named_parameters();
  ASSERT_EQ(params.size(), expected.size());
  const double bound = 1.0 / std::sqrt(5.0);
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(params[i].first, expected[i].first);
    EXPECT_EQ(params[i].second.shape(), expected[i].second);
    double lo = 1e9, hi = -1e9;
    for (double v : params[i].second.to_vector()) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_GE(lo, -bound);
    EXPECT_LE(hi, bound);
    EXPECT_LT(lo, -0.5 * bound) << "U(-1/sqrt(H), 1/sqrt(H)) should fill the range";
    EXPECT_GT(hi, 0.5 * bound);
  }
  nn::GRU gru(3, 5, gen, {.bias = false});
  EXPECT_EQ(gru.named_parameters().size(), 2u);
  EXPECT_EQ(gru.weight_ih[0].shape(), (Shape{15, 3}));
  nn::RNN rnn(3, 5, gen, {.nonlinearity = nn::RNNNonlinearity::relu});
  EXPECT_EQ(rnn.str(), "RNN(3, 5, nonlinearity='relu')");
  EXPECT_EQ(lstm.str(), "LSTM(3, 5, num_layers=2)");
}

TEST(Recurrent, FloatMatchesDouble) {
  auto layer = make({Kind::lstm, 3, 8, 2, true});
  Generator gen(5);
  Tensor x = randn({4, 6, 3}, gen);
  Tensor y32 = layer->forward(x);
  layer->to(DType::f64);
  Tensor y64 = layer->forward(x.to(DType::f64));
  EXPECT_EQ(y32.shape(), (Shape{4, 6, 8}));
  EXPECT_LT(testing::max_abs_diff(y32, y64), 1e-5);
}

TEST(Recurrent, ForwardIsDeterministicAndSummarizes) {
  auto layer = make({Kind::gru, 3, 4, 1, false});
  Generator gen(1);
  Tensor x = randn({5, 2, 3}, gen);
  EXPECT_EQ(layer->forward(x).to_vector(), layer->forward(x).to_vector());
  std::vector<nn::LayerSummary> rows;
  EXPECT_EQ(layer->summarize({5, 2, 3}, rows), (Shape{5, 2, 4}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].parameters, layer->num_parameters());
}

// ---- bad input ----

TEST(Recurrent, BadInputThrowsNamingLayerAndShapes) {
  auto lstm = make({Kind::lstm, 3, 4, 2, false});
  auto gru_bf = make({Kind::gru, 3, 4, 1, true});
  auto rnn = make({Kind::rnn_tanh, 3, 4, 1, false});
  expect_error([&] { lstm->forward(zeros({3, 2})); }, {"LSTM", "(T, B, 3)", "(3, 2)"});
  expect_error([&] { lstm->forward(zeros({3, 2, 5})); }, {"LSTM", "(T, B, 3)", "(3, 2, 5)"});
  expect_error([&] { lstm->forward(zeros({0, 2, 3})); }, {"LSTM", "(0, 2, 3)", "empty"});
  // batch and sequence dims swapped against batch_first show when the feature size no longer
  // fits
  expect_error([&] { gru_bf->forward(zeros({2, 3, 4})); }, {"GRU", "(B, T, 3)", "(2, 3, 4)"});
  expect_error(
      [&] {
        lstm->forward_with_state(zeros({5, 2, 3}), zeros({2, 3, 4}), zeros({2, 3, 4}));
      },
      {"LSTM", "h0", "(2, 2, 4)", "(2, 3, 4)"});
  expect_error(
      [&] {
        lstm->forward_with_state(zeros({5, 2, 3}), zeros({2, 2, 4}));
      },
      {"LSTM", "both h0 and c0"});
  expect_error(
      [&] {
        rnn->forward_with_state(zeros({5, 2, 3}), zeros({1, 2, 4}), zeros({1, 2, 4}));
      },
      {"RNN", "c0"});
  expect_error([&] { rnn->forward(zeros({5, 2, 3}, DType::f64)); }, {"RNN", "f64", "f32"});
  Generator gen(0);
  expect_error([&] { nn::LSTM(3, 0, gen); }, {"LSTM", "hidden_size", "0"});
  expect_error([&] { nn::GRU(3, 4, gen, {.num_layers = 0}); }, {"GRU", "num_layers"});
}

}  // namespace
}  // namespace descent
