// ops::AutocastGuard and the mixed convolution: conv2d_mixed forward and backward against
// f32 conv2d on rounded operands (oneDNN's bf16 kernels and the widened path), the guard
// routing ops::linear/matmul/conv2d, the master-weight copy lookup, batched matmul_mixed,
// and the counts of gradients that underflow in 16 bits.
#include "descent/ops/autocast.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>

#include "descent/core/allocator.hpp"
#include "descent/core/error.hpp"
#include "descent/core/tensor.hpp"
#include "descent/kernels/conv.hpp"
#include "descent/ops/activation.hpp"
#include "descent/ops/conv.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/reduce.hpp"
#include "descent/ops/shape.hpp"
#include "rounded_reference.hpp"

namespace descent {
namespace {

struct ConvCase {
  Shape x, w;
  ops::Conv2dOptions options;
};

// The CNN's and ResNet's shapes: big ones go to oneDNN's bf16 kernels, the first layer
// (one channel) and small ones to the widened path.
const ConvCase kConvCases[] = {
    {{8, 16, 14, 14}, {32, 16, 3, 3}, {.stride = 1, .padding = 1}},
    {{4, 32, 16, 16}, {64, 32, 3, 3}, {.stride = 2, .padding = 1}},
    {{4, 1, 28, 28}, {16, 1, 3, 3}, {.stride = 1, .padding = 1}},
    {{2, 3, 7, 9}, {5, 3, 3, 2}, {.stride = {2, 1}, .padding = {0, 1}}},
    {{4, 16, 8, 8}, {32, 16, 1, 1}, {}},
};

TEST(Conv2dMixed, ForwardAndBackwardAreF32ConvOnRoundedOperands) {
  for (DType compute : {DType::bf16, DType::f16}) {
    for (const ConvCase& c : kConvCases) {
      SCOPED_TRACE(testing::Message()
                   << dtype_name(compute) << " x " << shape_str(c.x) << " w " << shape_str(c.w));
      Generator gen(5);
      Tensor x = randn(c.x, gen).set_requires_grad(true);
      Tensor w = randn(c.w, gen).set_requires_grad(true);
      Tensor b = randn({c.w[0]}, gen).set_requires_grad(true);
      Tensor y = ops::conv2d_mixed(x, w, b, c.options, compute);
      ASSERT_EQ(y.dtype(), DType::f32);
      Tensor upstream = randn(y.shape(), gen);
      y.backward(upstream);

      Tensor xr = round_trip(x, compute).set_requires_grad(true);
      Tensor wr = round_trip(w, compute).set_requires_grad(true);
      Tensor br = b.detach().clone().set_requires_grad(true);
      Tensor y_ref = ops::conv2d(xr, wr, br, c.options);
      y_ref.backward(round_trip(upstream, compute));
      expect_close(y, y_ref, 1e-5, "y");
      expect_close(x.grad(), xr.grad(), 1e-5, "dx");
      expect_close(w.grad(), wr.grad(), 1e-4, "dw");
      // the bias gradient is the f32 sum of the unrounded upstream gradient
      Tensor b2 = b.detach().clone().set_requires_grad(true);
      ops::conv2d(xr.detach(), wr.detach(), b2, c.options).backward(upstream);
      expect_close(b.grad(), b2.grad(), 1e-4, "db");  // sums of ~1,600 values, in another order
    }
  }
}

TEST(Conv2dMixed, NativeBf16AndWidenedKernelsAgree) {
  const ConvCase& c = kConvCases[0];
  kernels::Conv2dGeometry g{.N = c.x[0],
                            .C = c.x[1],
                            .H = c.x[2],
                            .W = c.x[3],
                            .O = c.w[0],
                            .KH = 3,
                            .KW = 3,
                            .pad_h = 1,
                            .pad_w = 1};
  g.OH = g.out_h();
  g.OW = g.out_w();
  Generator gen(6);
  Tensor x = randn(c.x, gen).to(DType::bf16);
  Tensor w = randn(c.w, gen).to(DType::bf16);
  Tensor dy = randn({g.N, g.O, g.OH, g.OW}, gen).to(DType::bf16);
  Tensor y_native = empty({g.N, g.O, g.OH, g.OW}), y_widened = empty({g.N, g.O, g.OH, g.OW});
  Tensor dx_native = empty(c.x), dx_widened = empty(c.x);
  Tensor dw_native = empty(c.w), dw_widened = empty(c.w);
  for (bool widen : {false, true}) {
    kernels::conv2d_forward_mixed(g, x.data<BFloat16>(), w.data<BFloat16>(), nullptr,
                                  (widen ? y_widened : y_native).data<float>(), widen);
    kernels::conv2d_backward_input_mixed(g, dy.data<BFloat16>(), w.data<BFloat16>(),
                                         (widen ? dx_widened : dx_native).data<float>(), widen);
    kernels::conv2d_backward_weight_mixed(g, dy.data<BFloat16>(), x.data<BFloat16>(),
                                          (widen ? dw_widened : dw_native).data<float>(), nullptr,
                                          widen);
  }
  expect_close(y_native, y_widened, 1e-5, "y");
  expect_close(dx_native, dx_widened, 1e-5, "dx");
  expect_close(dw_native, dw_widened, 1e-4, "dw");
}

TEST(Conv2dMixed, BadInputThrows) {
  Tensor x = zeros({2, 3, 8, 8});
  Tensor w = zeros({4, 3, 3, 3});
  EXPECT_THROW(ops::conv2d_mixed(x, w, Tensor(), {}, DType::i32), Error);
  EXPECT_THROW(ops::conv2d_mixed(x.to(DType::f64), w, Tensor(), {}, DType::bf16), Error);
  EXPECT_THROW(ops::conv2d_mixed(x, w.to(DType::bf16), Tensor(), {}, DType::bf16), Error);
  EXPECT_THROW(ops::conv2d_mixed(x, w, zeros({5}), {}, DType::bf16), Error);
  EXPECT_THROW(ops::conv2d_mixed(x, w, Tensor(), {}, DType::bf16, zeros({4, 3, 3, 3}, DType::f16)),
               Error);
  try {
    ops::conv2d_mixed(zeros({2, 5, 8, 8}), w, Tensor(), {}, DType::bf16);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has 5 channels but weight (4, 3, 3, 3) expects 3"),
              std::string::npos)
        << e.what();
  }
}

TEST(MatmulMixed, BatchedMatchesF32OnRoundedOperands) {
  for (DType compute : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(compute));
    Generator gen(7);
    Tensor a = randn({2, 3, 5, 16}, gen).set_requires_grad(true);  // (B, h, T, d)
    Tensor b = randn({2, 3, 16, 5}, gen).set_requires_grad(true);  // (B, h, d, T)
    Tensor y = ops::matmul_mixed(a, b, compute);
    Tensor upstream = randn(y.shape(), gen);
    y.backward(upstream);
    Tensor ar = round_trip(a, compute).set_requires_grad(true);
    Tensor br = round_trip(b, compute).set_requires_grad(true);
    Tensor y_ref = ops::matmul(ar, br);
    y_ref.backward(round_trip(upstream, compute));
    expect_close(y, y_ref, 1e-5, "y");
    expect_close(a.grad(), ar.grad(), 1e-5, "da");
    expect_close(b.grad(), br.grad(), 1e-5, "db");
  }
}

// A batch of more than 8 products runs 8 per parallel region (kernels::gemm_strided_batch):
// every product, and its gradients, must be what the product of its own slices gives,
// across the chunk boundaries (19 = 8 + 8 + 3), in f32 (ops::matmul) and mixed.
TEST(MatmulMixed, BatchesBeyondEightEqualTheirSlices) {
  constexpr std::int64_t kBatch = 19, M = 5, K = 16, N = 7;
  for (DType compute : {DType::f32, DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(compute));
    Generator gen(9);
    Tensor a = randn({kBatch, M, K}, gen).set_requires_grad(true);
    Tensor b = randn({kBatch, K, N}, gen).set_requires_grad(true);
    Tensor y = compute == DType::f32 ? ops::matmul(a, b) : ops::matmul_mixed(a, b, compute);
    Tensor upstream = randn(y.shape(), gen);
    y.backward(upstream);
    for (std::int64_t i = 0; i < kBatch; ++i) {
      Tensor ai = a.detach().view_of(i * M * K, {M, K}).clone().set_requires_grad(true);
      Tensor bi = b.detach().view_of(i * K * N, {K, N}).clone().set_requires_grad(true);
      Tensor yi = compute == DType::f32 ? ops::matmul(ai, bi) : ops::matmul_mixed(ai, bi, compute);
      yi.backward(upstream.view_of(i * M * N, {M, N}).clone());
      EXPECT_EQ(y.detach().view_of(i * M * N, {M, N}).to_vector(), yi.to_vector()) << i;
      EXPECT_EQ(a.grad().view_of(i * M * K, {M, K}).to_vector(), ai.grad().to_vector()) << i;
      EXPECT_EQ(b.grad().view_of(i * K * N, {K, N}).to_vector(), bi.grad().to_vector()) << i;
    }
  }
}

TEST(AutocastGuard, RoutesTheGemmOpsAndRestoresOnExit) {
  Generator gen(8);
  Tensor x = randn({4, 24}, gen);
  Tensor w = randn({6, 24}, gen);
  Tensor img = randn({2, 2, 6, 6}, gen);
  Tensor kernel = randn({3, 2, 3, 3}, gen);
  EXPECT_EQ(ops::autocast_dtype(), DType::f32);
  {
    ops::AutocastGuard outer(DType::f16);
    EXPECT_EQ(ops::autocast_dtype(), DType::f16);
    {
      ops::AutocastGuard inner(DType::bf16);
      EXPECT_EQ(ops::autocast_dtype(), DType::bf16);
      // the same bits as the mixed ops, which differ from f32 on these random inputs
      EXPECT_EQ(ops::linear(x, w).to_vector(),
                ops::linear_mixed(x, w, Tensor(), DType::bf16).to_vector());
      EXPECT_EQ(ops::matmul(x, ops::transpose(w, 0, 1)).to_vector(),
                ops::matmul_mixed(x, ops::transpose(w, 0, 1), DType::bf16).to_vector());
      EXPECT_EQ(ops::conv2d(img, kernel).to_vector(),
                ops::conv2d_mixed(img, kernel, Tensor(), {}, DType::bf16).to_vector());
      // compute f32 is the f32 op, even under a guard
      EXPECT_NE(ops::linear(x, w).to_vector(),
                ops::linear_mixed(x, w, Tensor(), DType::f32).to_vector());
      // f64 is never autocast
      EXPECT_EQ(ops::linear(x.to(DType::f64), w.to(DType::f64)).dtype(), DType::f64);
    }
    EXPECT_EQ(ops::autocast_dtype(), DType::f16);
  }
  EXPECT_EQ(ops::autocast_dtype(), DType::f32);
  EXPECT_THROW(ops::AutocastGuard(DType::i64), Error);
}

TEST(AutocastGuard, ParametersInTheMasterBufferReadTheLowCopy) {
  Generator gen(9);
  Tensor master = randn({100}, gen);
  Tensor low = master.to(DType::bf16);
  Tensor w = master.view_of(10, {4, 8});  // a parameter inside the buffer
  Tensor x = randn({3, 8}, gen);
  // make the copy stale on purpose: the guard must read the copy, not round the master
  master.view_of(10, {1}).fill_(1000.0);
  ops::AutocastGuard autocast(DType::bf16, master, low);
  EXPECT_EQ(ops::autocast_low_copy(w).to_vector(), low.view_of(10, {4, 8}).to_vector());
  EXPECT_FALSE(ops::autocast_low_copy(randn({4, 8}, gen)).defined());  // not in the buffer
  EXPECT_EQ(ops::linear(x, w).to_vector(),
            ops::linear_mixed(x, w, Tensor(), DType::bf16, low.view_of(10, {4, 8})).to_vector());
  // rounding the (changed) master gives something else
  EXPECT_NE(ops::linear(x, w).to_vector(),
            ops::linear_mixed(x, w, Tensor(), DType::bf16, w.to(DType::bf16)).to_vector());
  EXPECT_THROW(ops::AutocastGuard(DType::bf16, master, master.to(DType::f16)), Error);
  EXPECT_THROW(ops::AutocastGuard(DType::bf16, master, Tensor()), Error);
}

// An MLP's weights as views of one master buffer, as the Trainer has them.
struct MasterMlp {
  Tensor master, w1, w2, w3;
  explicit MasterMlp(std::uint64_t seed) {
    Generator gen(seed);
    master = randn({64 * 1024 + 1024 * 1024 + 1024 * 10}, gen);
    w1 = master.view_of(0, {1024, 64}).set_requires_grad(true);
    w2 = master.view_of(64 * 1024, {1024, 1024}).set_requires_grad(true);
    w3 = master.view_of(64 * 1024 + 1024 * 1024, {10, 1024}).set_requires_grad(true);
  }
  // the weights' gradients, one after the other; then they are cleared
  std::vector<double> take_grads() {
    std::vector<double> all;
    for (Tensor* w : {&w1, &w2, &w3}) {
      const auto g = w->grad().to_vector();
      all.insert(all.end(), g.begin(), g.end());
      w->set_grad(Tensor());
    }
    return all;
  }
  Tensor loss(const Tensor& x) const {
    const Tensor h1 = ops::relu(ops::linear(x, w1));
    const Tensor h2 = ops::relu(ops::linear(h1, w2));
    return ops::sum(ops::linear(h2, w3));
  }
};

TEST(AutocastGuard, ReluSavesOneSixteenBitCopyThatTheNextLinearShares) {
  MasterMlp mlp(10);
  Generator gen(11);
  const Tensor x = randn({256, 64}, gen);
  const Tensor low = mlp.master.to(DType::bf16);
  // the memory the forward leaves for backward (the graph's saved tensors)
  std::size_t saved[2];
  std::vector<double> grads[2];
  for (int mixed : {0, 1}) {
    const std::size_t before = allocator_stats().bytes_in_use;
    Tensor loss;
    {
      std::optional<ops::AutocastGuard> guard;
      if (mixed) guard.emplace(DType::bf16, mlp.master, low);
      loss = mlp.loss(x);
      saved[mixed] = allocator_stats().bytes_in_use - before;
      loss.backward();
    }
    grads[mixed] = mlp.take_grads();
  }
  // f32: two (256, 1024) relu outputs, 2 MiB; bf16: their 16-bit copies and x's, ~1.03 MiB
  EXPECT_LT(static_cast<double>(saved[1]), 0.55 * static_cast<double>(saved[0]))
      << saved[1] << " vs " << saved[0] << " bytes";
  // the same gradients as the mixed ops with an f32 relu in between: the saved sign is exact
  const Tensor xl = x;
  Tensor h1 =
      ops::relu(ops::linear_mixed(xl, mlp.w1, Tensor(), DType::bf16, low.view_of(0, {1024, 64})));
  Tensor h2 = ops::relu(
      ops::linear_mixed(h1, mlp.w2, Tensor(), DType::bf16, low.view_of(64 * 1024, {1024, 1024})));
  ops::sum(ops::linear_mixed(h2, mlp.w3, Tensor(), DType::bf16,
                             low.view_of(64 * 1024 + 1024 * 1024, {10, 1024})))
      .backward();
  EXPECT_EQ(mlp.take_grads(), grads[1]);
  EXPECT_NE(grads[0], grads[1]);
}

TEST(GradientRounding, CountsWhatFp16FlushesAndOverflows) {
  Tensor x = ones({1, 4}).set_requires_grad(true);
  Tensor w = ones({4, 4});
  // upstream gradients: normal, below f16's smallest subnormal (2^-24 ~ 6e-8), above 65504
  Tensor upstream = from_vector({1.0f, 1e-9f, 1e5f, 0.0f}, {1, 4});
  for (DType compute : {DType::f16, DType::bf16}) {
    ops::reset_gradient_rounding_counts();
    ops::count_gradient_rounding(true);
    ops::linear_mixed(x, w, Tensor(), compute).backward(upstream);
    ops::count_gradient_rounding(false);
    const ops::RoundingCounts counts = ops::gradient_rounding_counts();
    EXPECT_EQ(counts.values, 4);
    EXPECT_EQ(counts.nonzero, 3);
    // bf16 has f32's range: nothing flushed, nothing overflowed
    EXPECT_EQ(counts.flushed, compute == DType::f16 ? 1 : 0) << dtype_name(compute);
    EXPECT_EQ(counts.overflowed, compute == DType::f16 ? 1 : 0) << dtype_name(compute);
    x.set_grad(Tensor());
  }
  // counting off: nothing is added
  ops::reset_gradient_rounding_counts();
  ops::linear_mixed(x, w, Tensor(), DType::f16).backward(upstream);
  EXPECT_EQ(ops::gradient_rounding_counts().values, 0);
}

}  // namespace
}  // namespace descent
