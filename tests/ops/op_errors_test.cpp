// Bad inputs: every op throws descent::Error whose message names the op and the shapes
// (and the offending value). One entry per bad input.
#include "op_cases.hpp"

namespace descent {
namespace {

using testing::expect_error;

struct BadInput {
  std::function<void()> call;
  std::vector<std::string> needles;  // all must appear in the message
};

Tensor i64(std::initializer_list<double> values, const Shape& shape = {}) {
  return tensor(values, shape, DType::i64);
}

std::vector<BadInput> elementwise_bad_inputs() {
  const Tensor ints = zeros({2, 3}, DType::i64);
  return {
      {[=] { ops::exp(ints); }, {"exp: expected a f32 or f64 tensor, got i64 (2, 3)"}},
      {[=] { ops::log(ints); }, {"log:", "i64 (2, 3)"}},
      {[=] { ops::sqrt(ints); }, {"sqrt:", "i64 (2, 3)"}},
      {[=] { ops::pow(ints, 2.0); }, {"pow:", "i64 (2, 3)"}},
      {[=] { ops::abs(zeros({4}, DType::i32)); }, {"abs:", "i32 (4)"}},
      {[=] { ops::clamp(ints, 0.0, 1.0); }, {"clamp:", "i64 (2, 3)"}},
      {[] {
         ops::clamp(zeros({2, 3}), std::nullopt, std::nullopt);
       },
       {"clamp: at least one of min and max", "(2, 3)"}},
      {[=] { ops::leaky_relu(ints); }, {"leaky_relu:", "i64 (2, 3)"}},
      {[=] { ops::gelu(ints); }, {"gelu:", "i64 (2, 3)"}},
      {[=] { ops::tanh(ints); }, {"tanh:", "i64 (2, 3)"}},
      {[=] { ops::sigmoid(ints); }, {"sigmoid:", "i64 (2, 3)"}},
      {[=] { ops::softmax(ints, 1); }, {"softmax:", "i64 (2, 3)"}},
      {[] {
         ops::softmax(zeros({2, 3}), 2);
       },
       {"softmax: dimension 2", "shape (2, 3)"}},
      {[] {
         ops::log_softmax(zeros({2, 3}), -3);
       },
       {"log_softmax: dimension -3", "(2, 3)"}},
  };
}

std::vector<BadInput> reduce_shape_bad_inputs() {
  const Tensor x = zeros({2, 3, 4});
  return {
      {[=] { ops::sum(x, {3}); }, {"sum: dimension 3", "(2, 3, 4)"}},
      {[=] {
         ops::sum(x, {1, -2});
       },
       {"sum: dimension -2 given twice", "(2, 3, 4)"}},
      {[] { ops::sum(zeros({2}, DType::i32)); }, {"sum:", "i32 (2)"}},
      {[=] {
         ops::mean(x, {0, 0});
       },
       {"mean: dimension 0 given twice", "(2, 3, 4)"}},
      {[=] { ops::max(x, 3); }, {"max: dimension 3", "(2, 3, 4)"}},
      {[] {
         ops::max(zeros({2, 0}), 1);
       },
       {"max: cannot reduce dimension 1 of size 0", "(2, 0)"}},
      {[] {
         ops::max(zeros({0, 3}));
       },
       {"max: needs at least one element", "(0, 3)"}},
      {[] { ops::max(zeros({2}, DType::i64), 0); }, {"max:", "i64 (2)"}},
      {[=] { ops::var(x, {-4}); }, {"var: dimension -4", "(2, 3, 4)"}},
      {[=] {
         ops::var(x, {2, 2});
       },
       {"var: dimension 2 given twice", "(2, 3, 4)"}},
      {[] { ops::var(zeros({3}, DType::i64), {0}); }, {"var:", "i64 (3)"}},
      {[=] { ops::argmax(x, -4); }, {"argmax: dimension -4", "(2, 3, 4)"}},
      {[] { ops::argmax(zeros({3}, DType::i32), 0); }, {"argmax:", "i32 (3)"}},
      {[=] { ops::transpose(x, 0, 3); }, {"transpose: dimension 3", "(2, 3, 4)"}},
      {[=] {
         ops::permute(x, {0, 1});
       },
       {"permute: dims (0, 1)", "(2, 3, 4)"}},
      {[=] {
         ops::permute(x, {0, 1, 1});
       },
       {"permute: dims (0, 1, 1)", "(2, 3, 4)"}},
      {[=] {
         ops::permute(x, {0, 1, 3});
       },
       {"permute: dims (0, 1, 3)", "(2, 3, 4)"}},
      {[=] { ops::slice(x, 3, 0, 1); }, {"slice: dimension 3", "(2, 3, 4)"}},
      {[=] { ops::slice(x, 0, 0, 1, 0); }, {"slice: step must be positive, got 0", "(2, 3, 4)"}},
      {[] { ops::slice(scalar(1.0), 0, 0, 1); }, {"slice: x must have at least one dimension"}},
      {[] { ops::concat({}, 0); }, {"concat: needs at least one tensor"}},
      {[] {
         ops::concat({zeros({2, 3}), zeros({2, 4})}, 0);
       },
       {"concat: tensor 1 has shape (2, 4)", "tensor 0 has shape (2, 3)", "dimension 0"}},
      {[] {
         ops::concat({zeros({2, 3}), zeros({2, 3, 1})}, 1);
       },
       {"concat: tensor 1 has shape (2, 3, 1)", "(2, 3)"}},
      {[] {
         ops::concat({zeros({2, 3}), zeros({2, 3}, DType::f64)}, 1);
       },
       {"concat: tensor 1 is f64 but tensor 0 is f32", "(2, 3), (2, 3)"}},
      {[] {
         ops::concat({zeros({2, 3}), zeros({2, 3})}, 2);
       },
       {"concat: dimension 2", "(2, 3)"}},
      {[] {
         ops::concat({scalar(1.0), scalar(2.0)}, 0);
       },
       {"concat: tensors must have at least one dimension", "(), ()"}},
      {[] { ops::stack({}, 0); }, {"stack: needs at least one tensor"}},
      {[] {
         ops::stack({zeros({2, 3}), zeros({3, 2})}, 0);
       },
       {"stack: tensor 1 has shape (3, 2)", "tensor 0 has shape (2, 3)"}},
      {[] {
         ops::stack({zeros({2, 3}), zeros({2, 3})}, 3);
       },
       {"stack: dimension 3 is out of range", "(2, 3)"}},
  };
}

std::vector<BadInput> loss_bad_inputs() {
  const Tensor logits = zeros({4, 3});
  const Tensor target = i64({0, 1, 2, 1});
  using ops::CrossEntropyOptions;
  return {
      {[=] { ops::cross_entropy(zeros({4}), target); },
       {"cross_entropy: expected logits (N, C), got (4)"}},
      {[=] {
         ops::cross_entropy(zeros({4, 3, 2}), target);
       },
       {"cross_entropy: expected logits (N, C), got (4, 3, 2)"}},
      {[=] {
         ops::cross_entropy(zeros({4, 3}, DType::i64), target);
       },
       {"cross_entropy: expected logits of f32 or f64, got i64 (4, 3)"}},
      {[=] { ops::cross_entropy(logits, zeros({4})); },
       {"cross_entropy: expected target of i64 or i32 class indices, got f32 (4)"}},
      {[=] {
         ops::cross_entropy(logits, i64({0, 1, 2}));
       },
       {"cross_entropy: expected target (4) for logits (4, 3), got (3)"}},
      {[=] {
         ops::cross_entropy(logits, i64({0, 1, 2, 1}, {4, 1}));
       },
       {"cross_entropy: expected target (4)", "got (4, 1)"}},
      {[=] {
         ops::cross_entropy(logits, i64({0, 1, 3, 1}));
       },
       {"cross_entropy: target 3 at position 2 is out of range for C = 3", "(4, 3)"}},
      {[=] {
         ops::cross_entropy(logits, i64({0, -1, 2, 1}));
       },
       {"cross_entropy: target -1 at position 1", "C = 3"}},
      {[=] {
         ops::cross_entropy(logits, i64({0, -100, 2, 1}), {.ignore_index = 1});
       },
       {"cross_entropy: target -100 at position 1", "ignore_index 1"}},
      {[=] { ops::cross_entropy(logits, target, {.label_smoothing = 1.5}); },
       {"cross_entropy: label_smoothing must be in [0, 1], got 1.5", "(4, 3)"}},
      {[=] { ops::cross_entropy(logits, target, {.label_smoothing = -0.1}); },
       {"cross_entropy: label_smoothing", "-0.1"}},
      {[=] { ops::nll_loss(zeros({4}), target); },
       {"nll_loss: expected log_probs (N, C), got (4)"}},
      {[=] {
         ops::nll_loss(logits, i64({0, 1}));
       },
       {"nll_loss: expected target (4) for log_probs (4, 3), got (2)"}},
      {[=] { ops::nll_loss(logits, zeros({4}, DType::f64)); }, {"nll_loss:", "f64 (4)"}},
      {[=] {
         ops::nll_loss(logits, i64({0, 1, 7, 1}));
       },
       {"nll_loss: target 7 at position 2 is out of range for C = 3", "(4, 3)"}},
  };
}

std::vector<BadInput> dropout_embedding_bad_inputs() {
  const Tensor x = zeros({2, 3});
  const Tensor weight = zeros({5, 4});
  return {
      {[=] {
         Generator gen(0);
         ops::dropout(x, -0.1, true, gen);
       },
       {"dropout: p must be in [0, 1], got -0.1", "(2, 3)"}},
      {[=] {
         Generator gen(0);
         ops::dropout(x, 1.5, true, gen);
       },
       {"dropout: p must be in [0, 1], got 1.5"}},
      {[=] {
         Generator gen(0);
         ops::dropout(x, std::nan(""), true, gen);
       },
       {"dropout: p must be in [0, 1], got nan"}},
      {[] {
         Generator gen(0);
         ops::dropout(zeros({2}, DType::i64), 0.5, true, gen);
       },
       {"dropout:", "i64 (2)"}},
      {[=] {
         ops::embedding(i64({0, 5}), weight);
       },
       {"embedding: index 5 at position 1 is out of range for V = 5", "(5, 4)"}},
      {[=] { ops::embedding(i64({-1}), weight); }, {"embedding: index -1 at position 0", "V = 5"}},
      {[=] { ops::embedding(zeros({2}), weight); },
       {"embedding: expected indices of i64 or i32, got f32 (2)"}},
      {[=] { ops::embedding(i64({0}), zeros({5})); },
       {"embedding: expected weight (V, D), got (5)"}},
      {[=] {
         ops::embedding(i64({0}), zeros({5, 4}, DType::i32));
       },
       {"embedding: expected weight of f32 or f64, got i32 (5, 4)"}},
  };
}

void expect_all(const std::vector<BadInput>& inputs) {
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    SCOPED_TRACE(cat("entry ", k, ": ", inputs[k].needles.front()));
    expect_error(inputs[k].call, inputs[k].needles);
  }
}

TEST(BadInputs, ElementwiseAndSoftmax) {
  expect_all(elementwise_bad_inputs());
}
TEST(BadInputs, ReductionsAndShapes) {
  expect_all(reduce_shape_bad_inputs());
}
TEST(BadInputs, Losses) {
  expect_all(loss_bad_inputs());
}
TEST(BadInputs, DropoutAndEmbedding) {
  expect_all(dropout_embedding_bad_inputs());
}

}  // namespace
}  // namespace descent
