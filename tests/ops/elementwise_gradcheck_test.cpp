// Gradient checks for the elementwise math ops, the activations and softmax/log_softmax,
// on several shapes (batch 1, odd sizes, every softmax dim). A new case is one entry.
#include "op_cases.hpp"

namespace descent {
namespace {

using testing::away_from;
using testing::away_from_zero;
using testing::Case;
using testing::positive;
using V = const std::vector<Tensor>&;

std::vector<Case> math_cases() {
  return {
      {"exp", [](V in) { return ops::exp(in[0]); }, {{3, 5, 2}}},
      {"exp batch 1", [](V in) { return ops::exp(in[0]); }, {{1, 7}}},
      {"log", [](V in) { return ops::log(in[0]); }, {{4, 3}}, positive},
      {"log batch 1", [](V in) { return ops::log(in[0]); }, {{1, 7}}, positive},
      {"sqrt", [](V in) { return ops::sqrt(in[0]); }, {{3, 5, 2}}, positive},
      {"pow 2", [](V in) { return ops::pow(in[0], 2.0); }, {{1, 7}}},
      {"pow 3", [](V in) { return ops::pow(in[0], 3.0); }, {{3, 5, 2}}},
      {"pow 0", [](V in) { return ops::mul(ops::pow(in[0], 0.0), in[1]); }, {{2, 3}, {2, 3}}},
      {"pow -1.5", [](V in) { return ops::pow(in[0], -1.5); }, {{4, 3}}, positive},
      {"pow 0.5", [](V in) { return ops::pow(in[0], 0.5); }, {{5}}, positive},
      {"abs", [](V in) { return ops::abs(in[0]); }, {{3, 5, 2}}, away_from_zero},
      {"abs batch 1", [](V in) { return ops::abs(in[0]); }, {{1, 7}}, away_from_zero},
      {"clamp both",
       [](V in) { return ops::clamp(in[0], -0.5, 0.5); },
       {{3, 5, 2}},
       away_from({-0.5, 0.5})},
      {"clamp min",
       [](V in) { return ops::clamp(in[0], 0.1, std::nullopt); },
       {{1, 7}},
       away_from({0.1})},
      {"clamp max",
       [](V in) { return ops::clamp(in[0], std::nullopt, -0.2); },
       {{4, 3}},
       away_from({-0.2})},
  };
}

std::vector<Case> activation_cases() {
  return {
      {"relu", [](V in) { return ops::relu(in[0]); }, {{1, 7}}, away_from_zero},
      {"leaky_relu", [](V in) { return ops::leaky_relu(in[0]); }, {{3, 5, 2}}, away_from_zero},
      {"leaky_relu 0.2",
       [](V in) { return ops::leaky_relu(in[0], 0.2); },
       {{1, 7}},
       away_from_zero},
      {"gelu", [](V in) { return ops::gelu(in[0]); }, {{3, 5, 2}}},
      {"gelu batch 1", [](V in) { return ops::gelu(in[0]); }, {{1, 7}}},
      {"gelu tanh", [](V in) { return ops::gelu(in[0], ops::GeluApproximate::tanh); }, {{3, 5, 2}}},
      {"gelu tanh wide",
       [](V in) { return ops::gelu(ops::mul(in[0], 3.0), ops::GeluApproximate::tanh); },
       {{4, 3}}},
      {"tanh", [](V in) { return ops::tanh(in[0]); }, {{3, 5, 2}}},
      {"tanh batch 1", [](V in) { return ops::tanh(in[0]); }, {{1, 7}}},
      {"sigmoid", [](V in) { return ops::sigmoid(in[0]); }, {{3, 5, 2}}},
      {"sigmoid wide", [](V in) { return ops::sigmoid(ops::mul(in[0], 4.0)); }, {{1, 7}}},
  };
}

std::vector<Case> softmax_cases() {
  std::vector<Case> cases;
  struct Layout {
    Shape shape;
    std::vector<std::int64_t> dims;
  };
  const std::vector<Layout> layouts = {
      {{1, 7}, {0, 1, -1}},   {{3, 5, 2}, {0, 1, 2, -2}}, {{4}, {0}},
      {{2, 3, 2, 3}, {1, 3}}, {{2, 3, 70}, {1}},  // inner 70: a full block of columns and a partial
                                                  // one
  };
  for (const Layout& layout : layouts) {
    for (std::int64_t dim : layout.dims) {
      const std::string where = cat(" ", shape_str(layout.shape), " dim ", dim);
      cases.push_back({cat("softmax", where),
                       [dim](V in) { return ops::softmax(in[0], dim); },
                       {layout.shape}});
      cases.push_back({cat("log_softmax", where),
                       [dim](V in) { return ops::log_softmax(in[0], dim); },
                       {layout.shape}});
    }
  }
  // Large logits: the max shift keeps exp finite.
  cases.push_back({"log_softmax large",
                   [](V in) { return ops::log_softmax(ops::add(in[0], 500.0), 1); },
                   {{3, 4}}});
  cases.push_back(
      {"softmax large", [](V in) { return ops::softmax(ops::mul(in[0], 30.0), 0); }, {{3, 4}}});
  return cases;
}

TEST(Gradcheck, MathOps) {
  testing::run_gradcheck(math_cases());
}

TEST(Gradcheck, Activations) {
  testing::run_gradcheck(activation_cases());
}

TEST(Gradcheck, SoftmaxEveryDim) {
  testing::run_gradcheck(softmax_cases());
}

TEST(F32MatchesF64, ElementwiseAndSoftmax) {
  testing::run_f32_matches_f64(math_cases());
  testing::run_f32_matches_f64(activation_cases());
  testing::run_f32_matches_f64(softmax_cases());
}

// Edge values where a formula taken naively would give NaN or a wrong gradient.
TEST(ElementwiseOps, EdgeValues) {
  Tensor x = tensor({-1000, -20, 0, 20, 1000}, {5}, DType::f64);
  const auto s = ops::sigmoid(x).to_vector();
  EXPECT_EQ(s[0], 0.0);
  EXPECT_EQ(s[2], 0.5);
  EXPECT_EQ(s[4], 1.0);

  // abs and clamp at their kinks take PyTorch's choices: 0 at 0, 1 on a bound.
  Tensor y = tensor({0, -2, 2}, {3}, DType::f64).set_requires_grad(true);
  ops::sum(ops::abs(y)).backward();
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{0, -1, 1}));
  Tensor z = tensor({-1, -0.5, 0, 0.5, 1}, {5}, DType::f64).set_requires_grad(true);
  ops::sum(ops::clamp(z, -0.5, 0.5)).backward();
  EXPECT_EQ(z.grad().to_vector(), (std::vector<double>{0, 1, 1, 1, 0}));
  EXPECT_EQ(ops::clamp(z, -0.5, 0.5).to_vector(), (std::vector<double>{-0.5, -0.5, 0, 0.5, 0.5}));
  // min > max gives max everywhere, as torch.clamp.
  EXPECT_EQ(ops::clamp(z, 2.0, 1.0).to_vector(), (std::vector<double>(5, 1.0)));
  // NaN passes through clamp.
  EXPECT_TRUE(std::isnan(ops::clamp(tensor({NAN}), 0.0, 1.0).item()));

  // softmax of a row with one huge logit does not overflow.
  Tensor big = tensor({1e4, 0, -1e4}, {1, 3}, DType::f64);
  const auto p = ops::softmax(big, 1).to_vector();
  EXPECT_EQ(p[0], 1.0);
  EXPECT_EQ(p[1], 0.0);
  const auto lp = ops::log_softmax(big, 1).to_vector();
  EXPECT_EQ(lp[0], 0.0);
  EXPECT_EQ(lp[1], -1e4);
}

// softmax along a dim agrees with the same softmax taken on rows (last dim) of the
// transposed tensor, on sizes that take the parallel paths.
TEST(ElementwiseOps, SoftmaxLargeAlongEveryDim) {
  Generator gen(3);
  for (DType dtype : {DType::f32, DType::f64}) {
    Tensor x = randn({20, 64, 40}, gen, dtype);  // 51200 elements
    for (std::int64_t dim : {0, 1, 2}) {
      SCOPED_TRACE(dim);
      for (bool log : {false, true}) {
        Tensor along = log ? ops::log_softmax(x, dim) : ops::softmax(x, dim);
        Tensor moved = ops::transpose(x, dim, 2);
        Tensor rows = log ? ops::log_softmax(moved, 2) : ops::softmax(moved, 2);
        Tensor back = ops::transpose(rows, dim, 2);
        EXPECT_LE(testing::max_deviation(along, back), dtype == DType::f32 ? 1e-5 : 1e-13);
      }
    }
  }
}

}  // namespace
}  // namespace descent
