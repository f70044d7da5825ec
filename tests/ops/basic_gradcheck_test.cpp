// Gradient checks for arithmetic, reductions, shapes, matmul/linear, relu and mse_loss.
// Table-driven: a new op is one new entry.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "descent/ops.hpp"
#include "gradcheck.hpp"

namespace descent {
namespace {

using testing::expect_gradcheck;
using testing::leaf;

struct Case {
  std::string name;
  testing::Fn fn;
  std::vector<Shape> shapes;
};

std::vector<Case> cases() {
  using V = const std::vector<Tensor>&;
  return {
      {"add same", [](V in) { return ops::add(in[0], in[1]); }, {{2, 3}, {2, 3}}},
      {"add bias row", [](V in) { return ops::add(in[0], in[1]); }, {{4, 3}, {3}}},
      {"add leading", [](V in) { return ops::add(in[0], in[1]); }, {{1, 3}, {5, 2, 3}}},
      {"add column", [](V in) { return ops::add(in[0], in[1]); }, {{2, 3, 4}, {2, 1, 4}}},
      {"add scalar tensor", [](V in) { return ops::add(in[0], in[1]); }, {{3, 2}, {}}},
      {"sub broadcast", [](V in) { return ops::sub(in[0], in[1]); }, {{3, 1}, {1, 4}}},
      {"mul broadcast", [](V in) { return ops::mul(in[0], in[1]); }, {{2, 3, 5}, {3, 1}}},
      {"mul batch 1", [](V in) { return ops::mul(in[0], in[1]); }, {{1, 7}, {1, 7}}},
      {"div",
       [](V in) { return ops::div(in[0], ops::add(ops::mul(in[1], in[1]), 1.0)); },
       {{3, 4}, {4}}},
      {"scalar ops",
       [](V in) { return ops::div(2.0, ops::add(ops::mul(ops::sub(1.5, in[0]), in[0]), 5.0)); },
       {{5}}},
      {"scalar div sub", [](V in) { return ops::sub(ops::div(in[0], 3.0), 2.0); }, {{2, 2}}},
      {"neg", [](V in) { return ops::neg(in[0]); }, {{3}}},
      {"sum all", [](V in) { return ops::sum(in[0]); }, {{3, 4}}},
      {"sum dim", [](V in) { return ops::sum(in[0], {1}); }, {{2, 3, 4}}},
      {"sum dims keepdim",
       [](V in) {
         return ops::sum(in[0], {0, -1}, true);
       },
       {{2, 3, 4}}},
      {"mean all", [](V in) { return ops::mean(in[0]); }, {{5, 3}}},
      {"mean dim", [](V in) { return ops::mean(in[0], {-1}); }, {{1, 3, 5}}},
      {"broadcast_to",
       [](V in) {
         return ops::broadcast_to(in[0], {4, 2, 3});
       },
       {{2, 1}}},
      {"reshape",
       [](V in) {
         return ops::mul(ops::reshape(in[0], {3, -1}), in[1]);
       },
       {{2, 6}, {3, 4}}},
      {"flatten", [](V in) { return ops::mul(ops::flatten(in[0]), in[1]); }, {{2, 3, 2}, {6}}},
      {"matmul", [](V in) { return ops::matmul(in[0], in[1]); }, {{3, 4}, {4, 5}}},
      {"matmul batch 1", [](V in) { return ops::matmul(in[0], in[1]); }, {{1, 4}, {4, 1}}},
      {"matmul batched", [](V in) { return ops::matmul(in[0], in[1]); }, {{2, 3, 4}, {2, 4, 5}}},
      {"matmul shared", [](V in) { return ops::matmul(in[0], in[1]); }, {{2, 3, 4}, {4, 5}}},
      {"linear", [](V in) { return ops::linear(in[0], in[1], in[2]); }, {{5, 3}, {4, 3}, {4}}},
      {"linear no bias", [](V in) { return ops::linear(in[0], in[1]); }, {{2, 3, 3}, {7, 3}}},
      {"relu", [](V in) { return ops::relu(in[0]); }, {{4, 5}}},
      {"mse mean", [](V in) { return ops::mse_loss(in[0], in[1]); }, {{3, 4}, {3, 4}}},
      {"mse sum",
       [](V in) { return ops::mse_loss(in[0], in[1], ops::Reduction::sum); },
       {{5}, {5}}},
      {"mse none",
       [](V in) { return ops::mse_loss(in[0], in[1], ops::Reduction::none); },
       {{2, 2}, {2, 2}}},
  };
}

TEST(Gradcheck, BasicOps) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    std::vector<Tensor> inputs;
    std::uint64_t seed = 1;
    for (const Shape& s : c.shapes) inputs.push_back(leaf(s, seed++));
    expect_gradcheck(c.name, c.fn, inputs);
  }
}

TEST(Ops, ForwardValues) {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = tensor({10, 20, 30});
  EXPECT_EQ(ops::add(a, b).to_vector(), (std::vector<double>{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ(ops::sum(a, {0}).to_vector(), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(ops::sum(a, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(ops::mean(a).item(), 3.5);
  Tensor m = ops::matmul(a, tensor({1, 0, 0, 1, 1, 1}, {3, 2}));
  EXPECT_EQ(m.to_vector(), (std::vector<double>{4, 5, 10, 11}));
  Tensor l = ops::linear(a, tensor({1, 1, 1, 0, 0, 1}, {2, 3}), tensor({0.5, -1}));
  EXPECT_EQ(l.to_vector(), (std::vector<double>{6.5, 2, 15.5, 5}));
}

TEST(Ops, ShapeErrorsNameOpAndShapes) {
  auto expect_message = [](auto fn, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "expected Error containing " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_message([] { ops::add(zeros({2, 3}), zeros({4})); }, "add: shapes (2, 3) and (4)");
  expect_message(
      [] {
        ops::matmul(zeros({2, 3}), zeros({4, 5}));
      },
      "matmul: inner dimensions differ: (2, 3) @ (4, 5)");
  expect_message([] { ops::matmul(zeros({3}), zeros({3, 5})); }, "matmul");
  expect_message([] { ops::linear(zeros({2, 3}), zeros({4, 5})); }, "linear: x (2, 3)");
  expect_message([] { ops::mul(zeros({2}), zeros({2}, DType::f64)); }, "mul: dtypes differ");
  expect_message([] { ops::reshape(zeros({2, 3}), {4, 2}); }, "reshape: cannot reshape (2, 3)");
  expect_message([] { ops::sum(zeros({2, 3}), {2}); }, "sum: dimension 2");
  expect_message([] { ops::mse_loss(zeros({2}), zeros({3})); }, "mse_loss");
  expect_message([] { ops::relu(zeros({2}, DType::i64)); }, "relu: expected a f32 or f64");
}

}  // namespace
}  // namespace descent

namespace descent {
namespace {

// The checker itself must catch a wrong gradient: an op whose backward is off by 10%.
Tensor wrong_square(const Tensor& x) {
  Tensor out = ops::mul(x.detach(), x.detach());
  return autograd::record("wrong_square", out, {x},
                          [x = x.detach()](const Tensor& grad, const autograd::Node&) {
                            return autograd::Grads{ops::mul(ops::mul(grad, x), 2.2)};
                          });
}

TEST(Gradcheck, CatchesAWrongGradient) {
  EXPECT_NONFATAL_FAILURE(
      testing::expect_gradcheck("wrong_square",
                                [](const std::vector<Tensor>& in) { return wrong_square(in[0]); },
                                {testing::leaf({1}, 5)}),
      "analytic");
}

}  // namespace
}  // namespace descent
