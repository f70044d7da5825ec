// Backward functions that add a leaf's gradient into its existing buffer in place
// (autograd::Node::accumulation_buffer): linear's weight gradient, f32 and mixed.
#include <gtest/gtest.h>

#include <vector>

#include "descent/ops.hpp"
#include "descent/ops/autocast.hpp"

namespace descent {
namespace {

// The gradient of sum(linear(x, w, b)) with respect to w, twice: into a fresh leaf, and into
// a leaf whose buffer already holds `start`.
struct Twice {
  std::vector<double> fresh;
  std::vector<double> accumulated;
  const void* buffer_before = nullptr;
  const void* buffer_after = nullptr;
};

Twice weight_gradients(DType compute, bool anomaly) {
  Generator gen(3);
  const Tensor x = randn({6, 5}, gen);
  const Tensor b = randn({4}, gen).set_requires_grad(true);
  Tensor w = randn({4, 5}, gen).set_requires_grad(true);
  Twice out;
  {
    autograd::AnomalyGuard guard(anomaly);
    ops::AutocastGuard autocast(compute);
    ops::sum(ops::linear(x, w, b)).backward();
  }
  out.fresh = w.grad().to_vector();
  const Tensor start = full({4, 5}, 0.25);
  w.set_grad(start.clone());
  out.buffer_before = w.grad().raw_data();
  {
    autograd::AnomalyGuard guard(anomaly);
    ops::AutocastGuard autocast(compute);
    ops::sum(ops::linear(x, w, b)).backward();
  }
  out.buffer_after = w.grad().raw_data();
  out.accumulated = w.grad().to_vector();
  return out;
}

TEST(Accumulation, LinearAddsTheWeightGradientIntoTheExistingBuffer) {
  for (const DType compute : {DType::f32, DType::bf16}) {
    for (const bool anomaly : {false, true}) {
      const Twice r = weight_gradients(compute, anomaly);
      EXPECT_EQ(r.buffer_before, r.buffer_after) << "the leaf keeps its buffer";
      ASSERT_EQ(r.fresh.size(), r.accumulated.size());
      for (std::size_t i = 0; i < r.fresh.size(); ++i) {
        EXPECT_NEAR(r.accumulated[i], 0.25 + r.fresh[i], 1e-5)
            << dtype_name(compute) << (anomaly ? " anomaly" : "") << " element " << i;
      }
    }
  }
}

TEST(Accumulation, OnlyALeafsOwnShapedBufferIsOffered) {
  Generator gen(4);
  Tensor w = randn({3, 2}, gen).set_requires_grad(true);
  const Tensor x = randn({5, 2}, gen);
  const Tensor y = ops::linear(x, w, Tensor());
  const autograd::Node& node = *y.grad_fn();
  EXPECT_FALSE(node.accumulation_buffer(1).defined()) << "no gradient yet";
  EXPECT_FALSE(node.accumulation_buffer(0).defined()) << "x needs no gradient";
  w.set_grad(zeros({3, 2}));
  EXPECT_TRUE(node.accumulation_buffer(1).same_storage(w.grad()));
  EXPECT_FALSE(node.accumulation_buffer(7).defined()) << "no such input";
}

}  // namespace
}  // namespace descent
