// Gradient checks (f64, central differences) for conv2d, pooling, batch_norm and
// layer_norm. Table-driven: a new case is one new entry. Running statistics are made
// inside the functions (they are not differentiated).
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

// Fixed running statistics for evaluation mode: mean N(0, 1), variance in [0.5, 1.5).
Tensor running_mean(std::int64_t channels) {
  Generator gen(77);
  return randn({channels}, gen, DType::f64);
}
Tensor running_var(std::int64_t channels) {
  Generator gen(78);
  return uniform({channels}, 0.5, 1.5, gen, DType::f64);
}

std::vector<Case> cases() {
  using V = const std::vector<Tensor>&;
  using ops::Conv2dOptions;
  using ops::Pool2dOptions;
  const Tensor none;
  return {
      // ---- conv2d ----
      {"conv2d 3x3",
       [](V in) { return ops::conv2d(in[0], in[1], in[2]); },
       {{2, 3, 5, 5}, {4, 3, 3, 3}, {4}}},
      {"conv2d stride 2 padding 1",
       [](V in) { return ops::conv2d(in[0], in[1], in[2], {.stride = 2, .padding = 1}); },
       {{1, 2, 7, 6}, {3, 2, 3, 3}, {3}}},
      {"conv2d dilation 2 no bias",
       [](V in) { return ops::conv2d(in[0], in[1], Tensor(), {.padding = 2, .dilation = 2}); },
       {{2, 2, 6, 7}, {2, 2, 3, 3}}},
      {"conv2d non-square kernel",
       [](V in) {
         return ops::conv2d(in[0], in[1], in[2], {.stride = {2, 1}, .padding = {1, 0}});
       },
       {{1, 3, 6, 5}, {2, 3, 2, 3}, {2}}},
      {"conv2d mixed stride dilation",
       [](V in) {
         return ops::conv2d(in[0], in[1], in[2],
                            {.stride = {1, 3}, .padding = {0, 2}, .dilation = {2, 1}});
       },
       {{2, 1, 7, 8}, {2, 1, 2, 3}, {2}}},
      {"conv2d 1x1",
       [](V in) { return ops::conv2d(in[0], in[1], in[2]); },
       {{2, 4, 3, 3}, {5, 4, 1, 1}, {5}}},
      {"conv2d 1x1 strided",
       [](V in) { return ops::conv2d(in[0], in[1], Tensor(), {.stride = 2}); },
       {{1, 3, 5, 5}, {2, 3, 1, 1}}},
      {"conv2d kernel fills input",
       [](V in) { return ops::conv2d(in[0], in[1], in[2]); },
       {{3, 2, 3, 2}, {1, 2, 3, 2}, {1}}},
      // ---- pooling ----
      {"max_pool2d 2x2",
       [](V in) { return ops::max_pool2d(in[0], {.kernel_size = 2}); },
       {{2, 3, 4, 5}}},
      {"max_pool2d 3x3 stride 2 padding 1",
       [](V in) { return ops::max_pool2d(in[0], {.kernel_size = 3, .stride = 2, .padding = 1}); },
       {{1, 2, 7, 6}}},
      {"max_pool2d non-square",
       [](V in) {
         return ops::max_pool2d(in[0], {.kernel_size = {2, 3}, .stride = {1, 2}, .padding = 1});
       },
       {{1, 1, 5, 6}}},
      {"avg_pool2d 2x2 odd width",
       [](V in) { return ops::avg_pool2d(in[0], {.kernel_size = 2}); },
       {{2, 2, 4, 5}}},
      {"avg_pool2d 3x3 stride 2 padding 1",
       [](V in) { return ops::avg_pool2d(in[0], {.kernel_size = 3, .stride = 2, .padding = 1}); },
       {{1, 2, 7, 7}}},
      {"avg_pool2d non-square",
       [](V in) {
         return ops::avg_pool2d(in[0],
                                {.kernel_size = {3, 2}, .stride = {2, 1}, .padding = {1, 0}});
       },
       {{2, 1, 5, 4}}},
      {"global_avg_pool2d", [](V in) { return ops::global_avg_pool2d(in[0]); }, {{2, 3, 3, 5}}},
      {"global_avg_pool2d 1x1", [](V in) { return ops::global_avg_pool2d(in[0]); }, {{1, 2, 1, 1}}},
      // ---- batch_norm ----
      {"batch_norm train (N, C) affine",
       [](V in) {
         return ops::batch_norm(in[0], zeros({3}, DType::f64), ones({3}, DType::f64), in[1], in[2]);
       },
       {{5, 3}, {3}, {3}}},
      {"batch_norm train (N, C) plain",
       [](V in) { return ops::batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor()); },
       {{4, 2}}},
      {"batch_norm train (N, C, H, W) affine",
       [](V in) { return ops::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2]); },
       {{2, 3, 3, 2}, {3}, {3}}},
      {"batch_norm train batch 1 plain",
       [](V in) {
         return ops::batch_norm(in[0], zeros({2}, DType::f64), ones({2}, DType::f64), Tensor(),
                                Tensor());
       },
       {{1, 2, 3, 3}}},
      {"batch_norm train weight only",
       [](V in) { return ops::batch_norm(in[0], Tensor(), Tensor(), in[1], Tensor()); },
       {{3, 2, 2, 1}, {2}}},
      {"batch_norm eval (N, C, H, W) affine",
       [](V in) {
         return ops::batch_norm(in[0], running_mean(3), running_var(3), in[1], in[2],
                                {.training = false});
       },
       {{2, 3, 2, 2}, {3}, {3}}},
      {"batch_norm eval (N, C) plain",
       [](V in) {
         return ops::batch_norm(in[0], running_mean(4), running_var(4), Tensor(), Tensor(),
                                {.training = false});
       },
       {{1, 4}}},
      // ---- layer_norm ----
      {"layer_norm last dim affine",
       [](V in) { return ops::layer_norm(in[0], {4}, in[1], in[2]); },
       {{3, 4}, {4}, {4}}},
      {"layer_norm two dims affine",
       [](V in) {
         return ops::layer_norm(in[0], {3, 4}, in[1], in[2]);
       },
       {{2, 3, 4}, {3, 4}, {3, 4}}},
      {"layer_norm plain",
       [](V in) { return ops::layer_norm(in[0], {5}, Tensor(), Tensor(), 1e-3); },
       {{2, 5}}},
      {"layer_norm bias only one row",
       [](V in) {
         return ops::layer_norm(in[0], {1, 6}, Tensor(), in[1]);
       },
       {{1, 6}, {1, 6}}},
  };
}

TEST(Gradcheck, ConvPoolNormOps) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    std::vector<Tensor> inputs;
    std::uint64_t seed = 11;
    for (const Shape& s : c.shapes) inputs.push_back(leaf(s, seed++));
    expect_gradcheck(c.name, c.fn, inputs);
  }
}

// Only the gradients asked for are computed, and the others stay undefined.
TEST(Gradcheck, ConvSkipsUnneededGradients) {
  Tensor x = leaf({1, 2, 4, 4}, 1);
  Generator gen(2);
  Tensor w = randn({3, 2, 3, 3}, gen, DType::f64);  // no grad
  Tensor b = leaf({3}, 3);
  ops::sum(ops::conv2d(x, w, b)).backward();
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  EXPECT_TRUE(b.grad().defined());
  // each bias gradient is the number of output positions (sum of ones)
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{4, 4, 4}));
}

}  // namespace
}  // namespace descent
