// cross_entropy, nll_loss, embedding and dropout: gradient checks for every option, f32
// against f64, and the behaviour of dropout's random mask.
#include <cstring>

#include "op_cases.hpp"

namespace descent {
namespace {

using testing::Case;
using V = const std::vector<Tensor>&;

Tensor labels(std::initializer_list<double> values, DType dtype = DType::i64) {
  return tensor(values, {}, dtype);
}

std::vector<Case> loss_cases() {
  using ops::Reduction;
  const Tensor t4 = labels({0, 4, 2, 1});
  const Tensor t6 = labels({0, 2, 1, 2, 0, 1});
  const Tensor t6_ignored = labels({0, -100, 1, 2, -100, 1});
  const Tensor t1 = labels({6});
  const Tensor t5_i32 = labels({2, 0, 1, 1, 2}, DType::i32);
  return {
      {"cross_entropy mean", [=](V in) { return ops::cross_entropy(in[0], t4); }, {{4, 5}}},
      {"cross_entropy batch 1", [=](V in) { return ops::cross_entropy(in[0], t1); }, {{1, 7}}},
      {"cross_entropy sum",
       [=](V in) { return ops::cross_entropy(in[0], t6, {.reduction = Reduction::sum}); },
       {{6, 3}}},
      {"cross_entropy none",
       [=](V in) { return ops::cross_entropy(in[0], t6, {.reduction = Reduction::none}); },
       {{6, 3}}},
      {"cross_entropy ignore_index mean",
       [=](V in) { return ops::cross_entropy(in[0], t6, {.ignore_index = 2}); },
       {{6, 3}}},
      {"cross_entropy smoothing mean",
       [=](V in) { return ops::cross_entropy(in[0], t4, {.label_smoothing = 0.1}); },
       {{4, 5}}},
      {"cross_entropy smoothing ignore mean",
       [=](V in) { return ops::cross_entropy(in[0], t6_ignored, {.label_smoothing = 0.2}); },
       {{6, 3}}},
      {"cross_entropy smoothing ignore sum",
       [=](V in) {
         return ops::cross_entropy(in[0], t6_ignored,
                                   {.reduction = Reduction::sum, .label_smoothing = 0.3});
       },
       {{6, 3}}},
      {"cross_entropy smoothing ignore none",
       [=](V in) {
         return ops::cross_entropy(in[0], t6_ignored,
                                   {.reduction = Reduction::none, .label_smoothing = 0.25});
       },
       {{6, 3}}},
      {"cross_entropy smoothing 1",
       [=](V in) { return ops::cross_entropy(in[0], t4, {.label_smoothing = 1.0}); },
       {{4, 5}}},
      {"cross_entropy i32 target",
       [=](V in) { return ops::cross_entropy(in[0], t5_i32); },
       {{5, 3}}},
      {"cross_entropy large logits",
       [=](V in) { return ops::cross_entropy(ops::mul(in[0], 50.0), t4); },
       {{4, 5}}},
      {"nll_loss mean", [=](V in) { return ops::nll_loss(in[0], t4); }, {{4, 5}}},
      {"nll_loss of log_softmax batch 1",
       [=](V in) { return ops::nll_loss(ops::log_softmax(in[0], 1), t1); },
       {{1, 7}}},
      {"nll_loss sum ignore",
       [=](V in) { return ops::nll_loss(in[0], t6_ignored, {.reduction = Reduction::sum}); },
       {{6, 3}}},
      {"nll_loss none ignore",
       [=](V in) { return ops::nll_loss(in[0], t6_ignored, {.reduction = Reduction::none}); },
       {{6, 3}}},
      {"nll_loss mean ignore", [=](V in) { return ops::nll_loss(in[0], t6_ignored); }, {{6, 3}}},
      {"nll_loss i32 target", [=](V in) { return ops::nll_loss(in[0], t5_i32); }, {{5, 3}}},
  };
}

std::vector<Case> embedding_dropout_cases() {
  const Tensor index = labels({3, 0, 3, 4, 1, 3});
  const Tensor index_2d = labels({1, 2, 2, 0, 1, 1}, DType::i32);
  return {
      {"embedding repeats", [=](V in) { return ops::embedding(index, in[0]); }, {{5, 4}}},
      {"embedding 2-D indices",
       [=](V in) {
         return ops::embedding(ops::reshape(index_2d, {2, 3}), in[0]);
       },
       {{3, 7}}},
      {"dropout 0.3",
       [](V in) {
         Generator gen(7);  // the same mask at every evaluation
         return ops::dropout(in[0], 0.3, true, gen);
       },
       {{3, 5, 2}}},
      {"dropout batch 1",
       [](V in) {
         Generator gen(8);
         return ops::dropout(in[0], 0.5, true, gen);
       },
       {{1, 7}}},
      {"dropout eval",
       [](V in) {
         Generator gen(9);
         return ops::mul(ops::dropout(in[0], 0.5, false, gen), 1.0);
       },
       {{4, 3}}},
  };
}

TEST(Gradcheck, LossesEveryOption) {
  testing::run_gradcheck(loss_cases());
}

TEST(Gradcheck, EmbeddingAndDropout) {
  testing::run_gradcheck(embedding_dropout_cases());
}

TEST(F32MatchesF64, LossesEmbeddingDropout) {
  testing::run_f32_matches_f64(loss_cases());
  testing::run_f32_matches_f64(embedding_dropout_cases());
}

TEST(Losses, CrossEntropyIsNllOfLogSoftmax) {
  // Without smoothing, the fused op equals the composition, for every reduction, on a size
  // that takes the parallel path.
  Generator gen(5);
  Tensor logits = randn({700, 60}, gen, DType::f64);
  Tensor target = empty({700}, DType::i64);
  for (std::int64_t i = 0; i < 700; ++i) target.data<std::int64_t>()[i] = (i * 37) % 60;
  target.data<std::int64_t>()[3] = -100;
  for (auto reduction : {ops::Reduction::mean, ops::Reduction::sum, ops::Reduction::none}) {
    Tensor fused = ops::cross_entropy(logits, target, {.reduction = reduction});
    Tensor composed = ops::nll_loss(ops::log_softmax(logits, 1), target, {.reduction = reduction});
    EXPECT_LE(testing::max_deviation(fused, composed), 1e-13);
  }
}

TEST(Losses, AllIgnoredMeanIsNaNWithZeroGradient) {
  Tensor logits = tensor({1, 2, 3, 4}, {2, 2}, DType::f64).set_requires_grad(true);
  Tensor loss = ops::cross_entropy(logits, labels({-100, -100}));
  EXPECT_TRUE(std::isnan(loss.item()));
  loss.backward();
  EXPECT_EQ(logits.grad().to_vector(), (std::vector<double>(4, 0.0)));
  EXPECT_TRUE(std::isnan(ops::nll_loss(logits, labels({-100, -100})).item()));
}

TEST(Embedding, RowsAndDeterministicScatter) {
  Generator gen(4);
  Tensor weight = randn({50, 16}, gen, DType::f32).set_requires_grad(true);
  Tensor index = empty({4000}, DType::i64);
  for (std::int64_t i = 0; i < 4000; ++i) index.data<std::int64_t>()[i] = (i * i) % 50;
  Tensor out = ops::embedding(index, weight);
  ASSERT_EQ(out.shape(), (Shape{4000, 16}));
  for (std::int64_t i : {0, 7, 3999}) {
    const std::int64_t row = index.data<std::int64_t>()[i];
    EXPECT_EQ(std::memcmp(out.data<float>() + i * 16, weight.data<float>() + row * 16, 64), 0);
  }
  Tensor grad = randn({4000, 16}, gen, DType::f32);
  auto weight_grad = [&](int threads) {
    const int saved = num_threads();
    set_num_threads(threads);
    weight.set_grad(Tensor());
    ops::embedding(index, weight).backward(grad);
    set_num_threads(saved);
    return weight.grad().clone();
  };
  const Tensor one = weight_grad(1);
  const Tensor two = weight_grad(2);
  EXPECT_EQ(std::memcmp(one.raw_data(), two.raw_data(), one.nbytes()), 0);
  // Each row's gradient is the sum of the gradient rows that read it.
  std::vector<double> expected(50 * 16, 0.0);
  for (std::int64_t i = 0; i < 4000; ++i) {
    for (std::int64_t d = 0; d < 16; ++d) {
      expected[index.data<std::int64_t>()[i] * 16 + d] += grad.data<float>()[i * 16 + d];
    }
  }
  EXPECT_LE(testing::max_deviation(one, from_vector(expected, {50, 16}, DType::f64)), 1e-5);
}

// ---- dropout

Tensor dropout_mask(double p, std::uint64_t seed, std::int64_t n, int threads) {
  const int saved = num_threads();
  set_num_threads(threads);
  Generator gen(seed);
  Tensor out = ops::dropout(ones({n}, DType::f32), p, true, gen);
  set_num_threads(saved);
  return out;
}

TEST(Dropout, FractionScaleSeedAndThreads) {
  const std::int64_t n = 200000;
  for (double p : {0.1, 0.5, 0.8}) {
    SCOPED_TRACE(p);
    Tensor out = dropout_mask(p, 42, n, 2);
    const float* po = out.data<float>();
    std::int64_t zeros_seen = 0;
    const float scale = static_cast<float>(1.0 / (1.0 - p));
    for (std::int64_t i = 0; i < n; ++i) {
      if (po[i] == 0.0f) {
        ++zeros_seen;
      } else {
        ASSERT_EQ(po[i], scale) << "element " << i;
      }
    }
    // Binomial(n, p): 5 standard deviations is at most 0.0056 here.
    EXPECT_NEAR(static_cast<double>(zeros_seen) / n, p, 0.006);
    // Same seed, same mask; one thread or two, same mask; another seed, another mask.
    Tensor again = dropout_mask(p, 42, n, 2);
    Tensor single = dropout_mask(p, 42, n, 1);
    Tensor other = dropout_mask(p, 43, n, 2);
    EXPECT_EQ(std::memcmp(out.raw_data(), again.raw_data(), out.nbytes()), 0);
    EXPECT_EQ(std::memcmp(out.raw_data(), single.raw_data(), out.nbytes()), 0);
    EXPECT_NE(std::memcmp(out.raw_data(), other.raw_data(), out.nbytes()), 0);
  }
}

TEST(Dropout, AdvancesTheGeneratorAndEvalIsIdentity) {
  Generator gen(1);
  Tensor x = ones({10, 10}, DType::f64);
  Tensor first = ops::dropout(x, 0.5, true, gen);
  EXPECT_EQ(gen.offset(), 100u);
  Tensor second = ops::dropout(x, 0.5, true, gen);
  EXPECT_NE(first.to_vector(), second.to_vector());  // the next call draws a new mask

  Tensor y = randn({3, 4}, gen, DType::f64);
  const auto offset = gen.offset();
  EXPECT_EQ(ops::dropout(y, 0.5, false, gen).to_vector(), y.to_vector());
  EXPECT_EQ(ops::dropout(y, 0.0, true, gen).to_vector(), y.to_vector());
  EXPECT_EQ(gen.offset(), offset);  // no draws when nothing is dropped
  // p == 1 zeroes everything (as torch), and so does its gradient.
  Tensor z = randn({5}, gen, DType::f64).set_requires_grad(true);
  Tensor all = ops::dropout(z, 1.0, true, gen);
  EXPECT_EQ(all.to_vector(), (std::vector<double>(5, 0.0)));
  ops::sum(all).backward();
  EXPECT_EQ(z.grad().to_vector(), (std::vector<double>(5, 0.0)));
}

}  // namespace
}  // namespace descent
