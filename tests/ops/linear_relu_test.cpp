// ops::linear_relu (the fused Linear + ReLU that nn::Sequential runs): the same values and
// gradients as relu(linear(...)) composed, bit for bit, in f32 and under a bf16 guard (where
// the GEMM's store also writes the bf16 copy the next layer reads), and gradients close to
// an f64 computation of the composed ops.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "descent/autograd/autograd.hpp"
#include "descent/core/tensor.hpp"
#include "descent/kernels/half.hpp"
#include "descent/nn/layers.hpp"
#include "descent/ops/activation.hpp"
#include "descent/ops/autocast.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/reduce.hpp"

namespace descent {
namespace {

struct Leaves {
  Tensor x, w, b;
};

Leaves copies(const Leaves& l, DType dtype = DType::f32) {
  auto leaf = [&](const Tensor& t) {
    return t.defined() ? t.to(dtype).clone().set_requires_grad(true) : Tensor();
  };
  return {leaf(l.x), leaf(l.w), leaf(l.b)};
}

void expect_same(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const Tensor fa = a.to(DType::f32), fb = b.to(DType::f32);
  for (std::int64_t i = 0; i < fa.numel(); ++i) {
    ASSERT_EQ(fa.data<float>()[i], fb.data<float>()[i]) << what << " at " << i;
  }
}

struct Shapes {
  Shape x;
  std::int64_t out;
  bool bias;
};

const Shapes kShapes[] = {{{37, 50}, 70, true}, {{2, 5, 33}, 17, false}, {{128, 256}, 256, true}};

TEST(LinearRelu, F32EqualsTheComposedOpsBitForBit) {
  const int threads_before = num_threads();
  for (const Shapes& s : kShapes) {
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      SCOPED_TRACE(shape_str(s.x) + " threads " + std::to_string(threads));
      Generator gen(3);
      const Leaves base{randn(s.x, gen), randn({s.out, s.x.back()}, gen),
                        s.bias ? randn({s.out}, gen) : Tensor()};
      Shape out_shape = s.x;
      out_shape.back() = s.out;
      const Tensor upstream = randn(out_shape, gen);

      const Leaves fused = copies(base), composed = copies(base);
      const Tensor y1 = ops::linear_relu(fused.x, fused.w, fused.b);
      ASSERT_STREQ(y1.grad_fn()->name, "linear_relu");
      y1.backward(upstream);
      const Tensor y2 = ops::relu(ops::linear(composed.x, composed.w, composed.b));
      y2.backward(upstream);
      expect_same(y1, y2, "output");
      expect_same(fused.x.grad(), composed.x.grad(), "dx");
      expect_same(fused.w.grad(), composed.w.grad(), "dW");
      if (s.bias) expect_same(fused.b.grad(), composed.b.grad(), "db");

      // and close to the composed ops in f64
      const Leaves exact = copies(base, DType::f64);
      ops::relu(ops::linear(exact.x, exact.w, exact.b)).backward(upstream.to(DType::f64));
      auto expect_close = [&](const Tensor& got, const Tensor& want, const char* what) {
        const Tensor g = got.to(DType::f64);
        for (std::int64_t i = 0; i < g.numel(); ++i) {
          const double w = want.data<double>()[i];
          ASSERT_NEAR(g.data<double>()[i], w, 1e-4 * (1 + std::abs(w))) << what << " at " << i;
        }
      };
      expect_close(y1, ops::relu(ops::linear(exact.x, exact.w, exact.b)).detach(), "output");
      expect_close(fused.x.grad(), exact.x.grad(), "dx vs f64");
      expect_close(fused.w.grad(), exact.w.grad(), "dW vs f64");
      if (s.bias) expect_close(fused.b.grad(), exact.b.grad(), "db vs f64");
    }
  }
  set_num_threads(threads_before);
}

// Under a bf16 guard, a fused layer feeding another linear layer (which reads the bf16 copy
// the fused store wrote) gives what the composed ops give; under an f16 guard the op is the
// composition itself.
TEST(LinearRelu, UnderA16BitGuardEqualsTheComposedOpsBitForBit) {
  const int threads_before = num_threads();
  for (const DType compute : {DType::bf16, DType::f16}) {
    for (const Shapes& s : kShapes) {
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        SCOPED_TRACE(std::string(dtype_name(compute)) + " " + shape_str(s.x) + " threads " +
                     std::to_string(threads));
        Generator gen(4);
        const Leaves base{randn(s.x, gen), randn({s.out, s.x.back()}, gen),
                          s.bias ? randn({s.out}, gen) : Tensor()};
        const Tensor w2_base = randn({9, s.out}, gen);
        Shape out_shape = s.x;
        out_shape.back() = 9;
        const Tensor upstream = randn(out_shape, gen);

        auto run = [&](bool fuse, Leaves& l, Tensor& w2) {
          l = copies(base);
          w2 = w2_base.clone().set_requires_grad(true);
          const ops::AutocastGuard guard(compute);
          const Tensor h =
              fuse ? ops::linear_relu(l.x, l.w, l.b) : ops::relu(ops::linear(l.x, l.w, l.b));
          const Tensor y = ops::linear(h, w2);
          y.backward(upstream);
          return std::pair{h, y};
        };
        Leaves fused, composed;
        Tensor w2_fused, w2_composed;
        const auto [h1, y1] = run(true, fused, w2_fused);
        const auto [h2, y2] = run(false, composed, w2_composed);
        if (compute == DType::bf16 && kernels::bf16_gemm_path() == kernels::Gemm16Path::dot) {
          ASSERT_STREQ(h1.grad_fn()->name, "linear_relu_mixed");  // fused here
        }
        expect_same(h1, h2, "hidden");
        expect_same(y1, y2, "output");
        expect_same(fused.x.grad(), composed.x.grad(), "dx");
        expect_same(fused.w.grad(), composed.w.grad(), "dW");
        expect_same(w2_fused.grad(), w2_composed.grad(), "dW2");
        if (s.bias) expect_same(fused.b.grad(), composed.b.grad(), "db");
      }
    }
  }
  set_num_threads(threads_before);
}

TEST(LinearRelu, SequentialFusesALinearFollowedByAReLU) {
  Generator gen(5);
  nn::Sequential seq{std::make_shared<nn::Linear>(6, 8, gen), std::make_shared<nn::ReLU>(),
                     std::make_shared<nn::Linear>(8, 3, gen)};
  const Tensor x = randn({4, 6}, gen);
  const Tensor y = seq.forward(x);
  ASSERT_STREQ(y.grad_fn()->name, "linear");
  ASSERT_STREQ(y.grad_fn()->inputs[0].grad_fn()->name, "linear_relu");
  auto& first = static_cast<nn::Linear&>(seq[0]);
  auto& last = static_cast<nn::Linear&>(seq[2]);
  const Tensor expected =
      ops::linear(ops::relu(ops::linear(x, first.weight, first.bias)), last.weight, last.bias);
  expect_same(y, expected, "output");
  // a bad input is still refused by the Linear's own check
  EXPECT_THROW(seq.forward(randn({4, 5}, gen)), Error);
}

TEST(LinearRelu, RefusesBadArgumentsWithTheOpsName) {
  try {
    ops::linear_relu(zeros({2, 3}), zeros({4, 5}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linear_relu: x (2, 3)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace descent
