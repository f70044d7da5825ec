// The transformer's parts: causal softmax, multi-head attention against torch's
// nn.MultiheadAttention (tests/reference/record_attention.py), gradient checks in f64, and a
// small language model that learns.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "descent/autograd/autograd.hpp"
#include "descent/nn/nn.hpp"
#include "descent/ops.hpp"
#include "descent/optim/all.hpp"
#include "gradcheck.hpp"
#include "nn_test_util.hpp"
#include "reference_data.hpp"

namespace descent {
namespace {

using testing::expect_error;

TEST(CausalSoftmax, EqualsSoftmaxOfMaskedScores) {
  for (const Shape& shape : {Shape{4, 4}, Shape{2, 3, 3, 5}, Shape{1, 1}, Shape{2, 1, 3}}) {
    SCOPED_TRACE(shape_str(shape));
    const Tensor x = testing::leaf(shape, 7, 3.0);
    const std::int64_t T = shape[shape.size() - 2];
    const std::int64_t S = shape.back();
    std::vector<double> masked = x.to_vector();
    for (std::size_t i = 0; i < masked.size(); ++i) {
      const std::int64_t row = static_cast<std::int64_t>(i) / S % T;
      const std::int64_t col = static_cast<std::int64_t>(i) % S;
      if (col > row + S - T) masked[i] = -std::numeric_limits<double>::infinity();
    }
    const Tensor expected = ops::softmax(from_vector(masked, shape, DType::f64), -1);
    EXPECT_LT(testing::max_abs_diff(ops::causal_softmax(x), expected), 1e-15);
  }
}

TEST(CausalSoftmax, GradientsMatchFiniteDifferences) {
  for (const Shape& shape : {Shape{3, 3}, Shape{2, 2, 4}, Shape{1, 5}}) {
    testing::expect_gradcheck(
        "causal_softmax " + shape_str(shape),
        [](const std::vector<Tensor>& in) { return ops::causal_softmax(in[0]); },
        {testing::leaf(shape, 3)});
  }
}

TEST(CausalSoftmax, BadInput) {
  expect_error([] { ops::causal_softmax(zeros({4})); }, {"causal_softmax", "(4)"});
  expect_error([] { ops::causal_softmax(zeros({3, 2})); }, {"S >= T", "(3, 2)"});
  expect_error([] { ops::causal_softmax(zeros({2, 2}, DType::i64)); }, {"causal_softmax", "i64"});
}

// ---- multi-head attention ----

struct AttentionCase {
  std::string name;
  std::int64_t dim;
  std::int64_t heads;
  bool causal;
};

TEST(MultiheadAttention, MatchesPyTorchForwardAndBackward) {
  const auto records = testing::load_reference("attention.txt");
  for (const AttentionCase& c :
       {AttentionCase{"causal", 8, 2, true}, AttentionCase{"causal3heads", 6, 3, true},
        AttentionCase{"full", 4, 1, false}}) {
    SCOPED_TRACE(c.name);
    const std::string prefix = "attention/" + c.name + "/";
    Generator gen(0);
    nn::MultiheadAttention attn(c.dim, c.heads, gen, {.causal = c.causal});
    attn.to(DType::f64);
    nn::StateDict state;
    for (const auto& [key, value] : attn.state_dict()) {
      state.insert(key, testing::ref(records, prefix + key));
    }
    attn.load_state_dict(state);  // the names are torch's
    const Tensor x = testing::ref(records, prefix + "x").clone().set_requires_grad(true);
    const Tensor out = attn.forward(x);
    EXPECT_LT(testing::max_abs_diff(out, testing::ref(records, prefix + "out")), 1e-12);
    ops::sum(ops::mul(out, testing::ref(records, prefix + "r"))).backward();
    EXPECT_LT(testing::max_abs_diff(x.grad(), testing::ref(records, prefix + "grad_x")), 1e-12);
    for (const auto& [key, p] : attn.named_parameters()) {
      EXPECT_LT(testing::max_abs_diff(p.grad(), testing::ref(records, prefix + "grad/" + key)),
                1e-12)
          << key;
    }
  }
}

TEST(MultiheadAttention, GradientsMatchFiniteDifferences) {
  for (const bool causal : {true, false}) {
    Generator gen(3);
    nn::MultiheadAttention attn(6, 2, gen, {.causal = causal});
    attn.to(DType::f64);
    std::vector<Tensor> inputs{testing::leaf({2, 3, 6}, 5)};
    for (const Tensor& p : attn.parameters()) inputs.push_back(p);
    testing::expect_gradcheck(
        causal ? "causal attention" : "attention",
        [&](const std::vector<Tensor>& in) { return attn.forward(in[0]); }, inputs);
  }
}

TEST(MultiheadAttention, CausalOutputIgnoresTheFuture) {
  Generator gen(1);
  nn::MultiheadAttention attn(8, 2, gen);
  attn.to(DType::f64);
  Tensor x = testing::leaf({1, 5, 8}, 2);
  const std::vector<double> before = attn.forward(x).to_vector();
  x.data<double>()[4 * 8 + 3] += 1.0;  // change the last position only
  const std::vector<double> after = attn.forward(x).to_vector();
  for (std::size_t i = 0; i < 4 * 8; ++i) EXPECT_EQ(before[i], after[i]) << i;
  double changed = 0;
  for (std::size_t i = 4 * 8; i < 5 * 8; ++i) changed += std::abs(before[i] - after[i]);
  EXPECT_GT(changed, 0.0);
}

TEST(MultiheadAttention, BadInput) {
  Generator gen(0);
  expect_error([&] { nn::MultiheadAttention(6, 4, gen); }, {"multiple of heads", "6", "4"});
  nn::MultiheadAttention attn(8, 2, gen);
  expect_error([&] { attn.forward(zeros({2, 3, 7})); }, {"(B, T, 8)", "(2, 3, 7)"});
  expect_error([&] { attn.forward(zeros({3, 8})); }, {"(B, T, 8)", "(3, 8)"});
}

// ---- the language model ----

TEST(TransformerLM, ShapesNamesAndTying) {
  Generator gen(0);
  nn::TransformerLM lm({.vocab_size = 11, .max_len = 16, .dim = 8, .heads = 2, .layers = 2}, gen);
  const Tensor tokens = from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {2, 5}, DType::i64);
  EXPECT_EQ(lm.forward(tokens).shape(), (Shape{2, 5, 11}));
  const auto keys = lm.state_dict().keys();
  for (const char* key :
       {"tok_emb.weight", "pos_emb", "blocks.0.ln1.weight", "blocks.1.attn.in_proj_weight",
        "blocks.1.attn.out_proj.bias", "blocks.0.mlp.0.weight", "blocks.0.mlp.2.bias",
        "ln_f.weight", "head.weight"}) {
    EXPECT_NE(std::find(keys.begin(), keys.end(), key), keys.end()) << key;
  }
  // 2 blocks of (2 LayerNorms, attention, MLP), embeddings, final norm, head.
  const std::int64_t block =
      2 * 2 * 8 + (3 * 8 * 8 + 3 * 8 + 8 * 8 + 8) + (8 * 32 + 32 + 32 * 8 + 8);
  EXPECT_EQ(lm.num_parameters(), 11 * 8 + 16 * 8 + 2 * block + 2 * 8 + 8 * 11 + 11);
  const nn::ModelInfo info = nn::model_info(lm, {5});
  EXPECT_EQ(info.parameters, lm.num_parameters());

  Generator gen_tied(0);
  nn::TransformerLM tied({.vocab_size = 11,
                          .max_len = 16,
                          .dim = 8,
                          .heads = 2,
                          .layers = 1,
                          .positions = nn::Positions::sinusoidal,
                          .tie_weights = true},
                         gen_tied);
  EXPECT_EQ(tied.forward(tokens).shape(), (Shape{2, 5, 11}));
  for (const auto& [key, value] : tied.state_dict()) {
    EXPECT_TRUE(key != "head.weight" && key != "pos_emb") << key;
  }
  // Tied: the logits are the final features times the embedding matrix.
  autograd::NoGradGuard no_grad;
  const Tensor logits = tied.forward(tokens);
  Tensor x =
      ops::add(tied.tok_emb->forward(tokens), ops::slice(nn::sinusoidal_positions(16, 8), 0, 0, 5));
  x = tied.ln_f->forward(tied.blocks->forward(x));
  EXPECT_LT(
      testing::max_abs_diff(logits, ops::matmul(x, ops::transpose(tied.tok_emb->weight, 0, 1))),
      1e-6);
}

TEST(TransformerLM, SinusoidalPositionsFollowTheFormula) {
  const std::vector<double> pe = nn::sinusoidal_positions(7, 6, DType::f64).to_vector();
  for (int t = 0; t < 7; ++t) {
    for (int i = 0; i < 3; ++i) {
      const double angle = t / std::pow(10000.0, 2.0 * i / 6.0);
      EXPECT_DOUBLE_EQ(pe[t * 6 + 2 * i], std::sin(angle));
      EXPECT_DOUBLE_EQ(pe[t * 6 + 2 * i + 1], std::cos(angle));
    }
  }
}

TEST(TransformerLM, GradientsMatchFiniteDifferences) {
  Generator gen(4);
  nn::TransformerLM lm({.vocab_size = 5, .max_len = 4, .dim = 4, .heads = 2, .layers = 1}, gen);
  lm.to(DType::f64);
  const Tensor tokens = from_vector({0, 3, 1, 4, 2, 2}, {2, 3}, DType::i64);
  const Tensor targets = from_vector({3, 1, 4, 2, 2, 0}, {6}, DType::i64);
  std::vector<Tensor> inputs = lm.parameters();
  testing::expect_gradcheck(
      "transformer LM loss",
      [&](const std::vector<Tensor>&) {
        return ops::cross_entropy(ops::reshape(lm.forward(tokens), {6, 5}), targets);
      },
      inputs);
}

// A periodic sequence is learnable only by looking back: the model must use attention and
// positions, and about a hundred Adam steps bring the loss near zero.
TEST(TransformerLM, LearnsAPeriodicSequence) {
  Generator gen(0);
  nn::TransformerLM lm({.vocab_size = 6, .max_len = 16, .dim = 32, .heads = 2, .layers = 1}, gen);
  nn::flatten_parameters(lm);
  optim::Adam adam(lm.parameters(), {.lr = 1e-2});
  const std::vector<int> period = {0, 3, 1, 5, 2, 4, 0, 4, 1};  // 0 is followed by 3 or 4
  auto batch = [&](std::int64_t start, std::vector<double>& in, std::vector<double>& out) {
    for (std::int64_t t = 0; t < 12; ++t) {
      in.push_back(period[(start + t) % period.size()]);
      out.push_back(period[(start + t + 1) % period.size()]);
    }
  };
  double first = 0;
  double last = 0;
  for (int step = 0; step < 120; ++step) {
    std::vector<double> in;
    std::vector<double> out;
    for (std::int64_t b = 0; b < 8; ++b) batch((step * 8 + b) % period.size(), in, out);
    const Tensor tokens = from_vector(in, {8, 12}, DType::i64);
    const Tensor targets = from_vector(out, {96}, DType::i64);
    lm.zero_grad();
    const Tensor loss = ops::cross_entropy(ops::reshape(lm.forward(tokens), {96, 6}), targets);
    loss.backward();
    adam.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_GT(first, 1.5);  // about log 6 = 1.79 at the start
  // The first token of a window after a 0 is ambiguous (3 or 4) without more context, so
  // the floor is above 0; everything else is determined by the previous two tokens.
  EXPECT_LT(last, 0.2) << "first " << first;
}

TEST(TransformerLM, BadInput) {
  Generator gen(0);
  expect_error([&] { nn::TransformerLM({.vocab_size = 0}, gen); }, {"vocab_size", "0"});
  expect_error([&] { nn::TransformerLM({.vocab_size = 4, .dim = 10, .heads = 4}, gen); },
               {"multiple of heads"});
  nn::TransformerLM lm({.vocab_size = 4, .max_len = 3, .dim = 4, .heads = 1, .layers = 1}, gen);
  expect_error([&] { lm.forward(zeros({1, 4}, DType::i64)); }, {"max_len = 3", "(1, 4)"});
  expect_error([&] { lm.forward(zeros({4}, DType::i64)); }, {"(B, T)", "(4)"});
  expect_error([&] { lm.forward(full({1, 2}, 4.0, DType::i64)); }, {"embedding", "out of range"});
}

}  // namespace
}  // namespace descent
