// What the forward keeps for backward under a bf16/f16 autocast guard: batch_norm's 16-bit
// input (the kernel reading it exactly as the f32 kernel reads the widened copy; the op's
// gradients within the bound that rounding x allows), max_pool2d's one-byte window
// positions (and the u8 dtype that holds them), relu's 16-bit copy (freed by backward, not
// held by the guard; its sign read from the bits), and, for the zoo's CNN and ResNet-20, the
// saved activations at about half of fp32's (the MLP's is in autocast_test.cpp) with
// gradients close to fp32's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "descent/amp/policy.hpp"
#include "descent/core/allocator.hpp"
#include "descent/kernels/batch_norm.hpp"
#include "descent/nn/flat.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/activation.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/autocast.hpp"
#include "descent/ops/conv.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/loss.hpp"
#include "descent/ops/norm.hpp"
#include "descent/ops/reduce.hpp"

namespace descent {
namespace {

// ---- batch norm ----

// x (N, C, H, W) with channel means far from zero (so that rounding x moves x - mean by
// much more than an f32 ulp), weight and bias (C), and an upstream gradient.
struct BatchNormCase {
  Tensor x, weight, bias, dy;
  explicit BatchNormCase(std::uint64_t seed, Shape shape = {8, 4, 6, 5}) {
    Generator gen(seed);
    Shape channel_shape = shape;  // (1, C, 1, 1) or (1, C)
    for (std::size_t d = 0; d < channel_shape.size(); ++d) {
      if (d != 1) channel_shape[d] = 1;
    }
    const Tensor channel_means = ops::add(ops::mul(randn(channel_shape, gen), 4.0), 5.0);
    x = ops::add(ops::mul(randn(shape, gen), 3.0), channel_means);
    weight = randn({shape[1]}, gen);
    bias = randn({shape[1]}, gen);
    dy = randn(shape, gen);
  }
};

// The 16-bit kernel equals the f32 kernel on the widened 16-bit x, bit for bit, for (N, C)
// and (N, C, S) and in both modes; channel 0 is scaled by 1e-5, into f16's subnormals.
template <typename L>
void check_kernel_reads_16_bit_x(const Shape& shape, bool training) {
  BatchNormCase c(3, shape);
  kernels::BatchNormGeometry g{.N = shape[0], .C = shape[1], .S = 1};
  if (shape.size() == 4) g.S = shape[2] * shape[3];
  float* px = c.x.data<float>();
  for (std::int64_t n = 0; n < g.N; ++n) {
    for (std::int64_t s = 0; s < g.S; ++s) px[n * g.C * g.S + s] *= 1e-5f;
  }
  Tensor y = empty(shape), mean = empty({g.C}), invstd = empty({g.C});
  kernels::batch_norm_forward_training<float>(
      g, c.x.data<float>(), c.weight.data<float>(), c.bias.data<float>(), {}, nullptr, nullptr,
      y.data<float>(), mean.data<float>(), invstd.data<float>());
  const Tensor x_low = c.x.to(dtype_of<L>());
  const Tensor x_widened = x_low.to(DType::f32);
  Tensor dx[2], dweight[2], dbias[2];
  for (int k = 0; k < 2; ++k) {
    dx[k] = empty(shape);
    dweight[k] = empty({g.C});
    dbias[k] = empty({g.C});
  }
  kernels::batch_norm_backward<float, L>(g, c.dy.data<float>(), x_low.data<L>(),
                                         c.weight.data<float>(), mean.data<float>(),
                                         invstd.data<float>(), training, dx[0].data<float>(),
                                         dweight[0].data<float>(), dbias[0].data<float>());
  kernels::batch_norm_backward<float>(g, c.dy.data<float>(), x_widened.data<float>(),
                                      c.weight.data<float>(), mean.data<float>(),
                                      invstd.data<float>(), training, dx[1].data<float>(),
                                      dweight[1].data<float>(), dbias[1].data<float>());
  const std::string where =
      cat(dtype_name(dtype_of<L>()), " ", shape_str(shape), training ? " training" : " eval");
  EXPECT_EQ(dx[0].to_vector(), dx[1].to_vector()) << where;
  EXPECT_EQ(dweight[0].to_vector(), dweight[1].to_vector()) << where;
  EXPECT_EQ(dbias[0].to_vector(), dbias[1].to_vector()) << where;
}

TEST(BatchNormSaved, KernelReadsSixteenBitXAsTheWidenedF32) {
  for (bool training : {true, false}) {
    for (const Shape& shape : {Shape{8, 4, 6, 5}, Shape{33, 70}}) {
      check_kernel_reads_16_bit_x<BFloat16>(shape, training);
      check_kernel_reads_16_bit_x<Half>(shape, training);
    }
  }
}

// Under a 16-bit guard, batch_norm's output is the f32 one (statistics from the f32 x) and
// its gradients differ from f32's only through x rounded to 16 bits: with u the unit
// roundoff (2^-8 bf16, 2^-11 f16: half an ulp, relative) and e_i = u |x_i| the rounding of x_i,
//   dbias   the same (it does not read x);
//   dweight differs by at most invstd * E,  E = sum over the channel of |dy_i| e_i;
//   dx_i    by at most |coef| e_i + |weight| invstd^3 (E / M) (|x_i - mean| + e_i),
// coef = -weight invstd^3 mean(dy (x - mean)) the factor of (x - mean) in dx; plus a few f32
// ulps of each of dx's terms for the f32 arithmetic of either run.
void check_batch_norm_gradients(DType compute) {
  const BatchNormCase c(5);
  const Shape shape = c.x.shape();
  const std::int64_t N = shape[0], C = shape[1], S = shape[2] * shape[3];
  const double M = static_cast<double>(N * S);
  const double u = compute == DType::bf16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11);
  std::vector<double> out[2], dx[2], dweight[2], dbias[2];
  for (int mixed : {0, 1}) {
    Tensor x = c.x.clone().set_requires_grad(true);
    Tensor weight = c.weight.clone().set_requires_grad(true);
    Tensor bias = c.bias.clone().set_requires_grad(true);
    std::optional<ops::AutocastGuard> guard;
    if (mixed) guard.emplace(compute);
    Tensor y = ops::batch_norm(x, Tensor(), Tensor(), weight, bias);
    y.backward(c.dy);
    out[mixed] = y.to_vector();
    dx[mixed] = x.grad().to_vector();
    dweight[mixed] = weight.grad().to_vector();
    dbias[mixed] = bias.grad().to_vector();
  }
  const std::string name(dtype_name(compute));
  EXPECT_EQ(out[1], out[0]) << name;
  EXPECT_EQ(dbias[1], dbias[0]) << name;
  // the statistics and the bound, in f64
  const std::vector<double> x = c.x.to_vector(), dy = c.dy.to_vector(), w = c.weight.to_vector();
  auto at = [&](std::int64_t n, std::int64_t ch, std::int64_t s) { return (n * C + ch) * S + s; };
  double worst = 0;       // the largest |difference| / bound
  double max_bound = 0;   // the largest bound on dx ...
  double max_dx = 0;      // ... and the largest |dx|
  double max_change = 0;  // the largest |difference|
  for (std::int64_t ch = 0; ch < C; ++ch) {
    double mean = 0, var = 0, E = 0, sum_dy = 0, sum_dy_xmu = 0;
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t s = 0; s < S; ++s) mean += x[at(n, ch, s)] / M;
    }
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t s = 0; s < S; ++s) {
        const std::int64_t i = at(n, ch, s);
        var += (x[i] - mean) * (x[i] - mean) / M;
        E += std::abs(dy[i]) * u * std::abs(x[i]);
        sum_dy += dy[i];
        sum_dy_xmu += dy[i] * (x[i] - mean);
      }
    }
    const double invstd = 1.0 / std::sqrt(var + 1e-5);
    const double scale = w[ch] * invstd;
    const double coef = -scale * invstd * invstd * sum_dy_xmu / M;
    const double shift = -scale * sum_dy / M;
    const double weight_bound = invstd * E + 1e-6 * invstd * std::abs(sum_dy_xmu);
    const double weight_change = std::abs(dweight[1][ch] - dweight[0][ch]);
    EXPECT_LE(weight_change, weight_bound) << name << " dweight channel " << ch;
    worst = std::max(worst, weight_change / weight_bound);
    max_change = std::max(max_change, weight_change);
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t s = 0; s < S; ++s) {
        const std::int64_t i = at(n, ch, s);
        const double e = u * std::abs(x[i]);
        const double rounding = std::abs(coef) * e + std::abs(scale) * invstd * invstd * (E / M) *
                                                         (std::abs(x[i] - mean) + e);
        const double ulps =
            1e-6 * (std::abs(dy[i] * scale) + std::abs((x[i] - mean) * coef) + std::abs(shift));
        const double bound = rounding + ulps;
        const double change = std::abs(dx[1][i] - dx[0][i]);
        EXPECT_LE(change, bound) << name << " dx " << i;
        worst = std::max(worst, change / bound);
        max_bound = std::max(max_bound, bound);
        max_dx = std::max(max_dx, std::abs(dx[0][i]));
        max_change = std::max(max_change, change);
      }
    }
  }
  // the 16-bit x was really used (the gradients moved), the bound is tight enough to
  // catch a wrong gradient (a few percent of dx at most) and not loose by orders of
  // magnitude (the changes reach a fair part of it)
  EXPECT_GT(max_change, 0.0) << name;
  EXPECT_LT(max_bound, 0.03 * max_dx) << name;
  EXPECT_GT(worst, 0.02) << name;
}

TEST(BatchNormSaved, GradientsWithinTheRoundingOfX) {
  check_batch_norm_gradients(DType::bf16);
  check_batch_norm_gradients(DType::f16);
}

// Autocast off, or on with an f64 x: the f32/f64 backward, bit for bit as without a guard.
TEST(BatchNormSaved, F32GuardAndF64InputKeepTheFullPrecisionBackward) {
  for (DType dtype : {DType::f32, DType::f64}) {
    const BatchNormCase c(7);
    std::vector<double> dx[2];
    for (int guarded : {0, 1}) {
      Tensor x = c.x.to(dtype).set_requires_grad(true);
      std::optional<ops::AutocastGuard> guard;
      if (guarded) guard.emplace(dtype == DType::f32 ? DType::f32 : DType::bf16);
      ops::batch_norm(x, Tensor(), Tensor(), c.weight.to(dtype), c.bias.to(dtype))
          .backward(c.dy.to(dtype));
      dx[guarded] = x.grad().to_vector();
    }
    EXPECT_EQ(dx[1], dx[0]) << dtype_name(dtype);
  }
}

// ---- max_pool2d ----

// The bytes max_pool2d's forward leaves behind (output and what backward keeps), x held.
std::size_t max_pool_bytes(const Tensor& x, const ops::Pool2dOptions& options, Tensor& out) {
  const std::size_t before = allocator_stats().bytes_in_use;
  out = ops::max_pool2d(x, options);
  return allocator_stats().bytes_in_use - before;
}

TEST(MaxPoolSaved, OneBytePerOutputUpTo256PositionsThenI64) {
  Generator gen(9);
  // (window, stride): 2x2 (the zoo's), 16x16 (256 positions, the largest in a byte) and
  // 17x17 (289: i64)
  struct Case {
    std::int64_t kernel, stride, index_bytes;
  };
  for (const Case& k : {Case{2, 2, 1}, Case{16, 1, 1}, Case{17, 1, 8}}) {
    Tensor x = randn({2, 3, 40, 40}, gen).set_requires_grad(true);
    Tensor out;
    const std::size_t bytes = max_pool_bytes(x, {.kernel_size = k.kernel, .stride = k.stride}, out);
    const std::size_t n = static_cast<std::size_t>(out.numel());
    // the f32 output and the positions; the allocator rounds each block up by at most a
    // quarter and 64 bytes (a wider index type would break one bound or the other)
    const double exact = static_cast<double>(n * (4 + k.index_bytes));
    EXPECT_GE(static_cast<double>(bytes), exact) << k.kernel;
    EXPECT_LE(static_cast<double>(bytes), 1.25 * exact + 128) << k.kernel;
    // the gradient reaches each window's maximum: check against a scan of the window
    Tensor dy = randn(out.shape(), gen);
    out.backward(dy);
    const std::vector<double> xs = x.to_vector(), dys = dy.to_vector(), dx = x.grad().to_vector();
    std::vector<double> expected(xs.size(), 0.0);
    const std::int64_t OH = out.size(2), OW = out.size(3);
    for (std::int64_t p = 0; p < 6; ++p) {
      for (std::int64_t oh = 0; oh < OH; ++oh) {
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          std::int64_t best = -1;
          for (std::int64_t h = oh * k.stride; h < oh * k.stride + k.kernel; ++h) {
            for (std::int64_t w = ow * k.stride; w < ow * k.stride + k.kernel; ++w) {
              const std::int64_t i = p * 1600 + h * 40 + w;
              if (best < 0 || xs[i] > xs[best]) best = i;
            }
          }
          expected[best] += dys[(p * OH + oh) * OW + ow];
        }
      }
    }
    for (std::size_t i = 0; i < dx.size(); ++i) {
      // the same sums in the same order, in f32 against f64
      ASSERT_NEAR(dx[i], expected[i], 1e-4 * (1 + std::abs(expected[i])))
          << "window " << k.kernel << " element " << i;
    }
  }
}

// u8, the dtype of those positions, is storage only: one byte per element, and the compute
// ops refuse it by name.
TEST(MaxPoolSaved, U8IsAOneByteStorageDtypeThatOpsRefuse) {
  const Tensor t = empty({2, 3}, DType::u8);
  EXPECT_EQ(t.nbytes(), 6u);
  EXPECT_EQ(dtype_name(t.dtype()), "u8");
  EXPECT_EQ(dtype_size(DType::u8), 1u);
  EXPECT_FALSE(is_floating(DType::u8));
  try {
    ops::relu(t);
    ADD_FAILURE() << "relu accepted a u8 tensor";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("u8"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ops::max_pool2d(empty({1, 1, 4, 4}, DType::u8), {.kernel_size = 2}), Error);
}

// ---- relu's 16-bit copy ----

// The copies autocast_saved makes live as long as the graph that saved them, not as long as
// the guard: after backward, under the same guard, only the weight's gradient is left. (The
// relu's copy, (512, 256) bf16, is as large as that gradient: kept, it would show.)
TEST(AutocastSaved, BackwardFreesTheSixteenBitCopiesWhileTheGuardLives) {
  Generator gen(31);
  const Tensor x = randn({512, 256}, gen);
  Tensor w = randn({256, 256}, gen).set_requires_grad(true);
  const ops::AutocastGuard autocast(DType::bf16);
  const std::size_t before = allocator_stats().bytes_in_use;
  {
    Tensor loss = ops::sum(ops::linear(ops::relu(ops::linear(x, w)), w));
    loss.backward();
  }
  const std::size_t left = allocator_stats().bytes_in_use - before;
  EXPECT_GE(left, static_cast<std::size_t>(w.grad().nbytes()));
  EXPECT_LT(static_cast<double>(left), 1.25 * static_cast<double>(w.grad().nbytes()))
      << left << " bytes left after backward";
}

// relu's backward from the 16-bit copy: the gradient where the output is positive, for the
// values whose sign bits are the subtle ones (+-0, the smallest subnormals, +-Inf, NaN).
TEST(AutocastSaved, ReluBackwardFromTheSixteenBitCopyPassesExactlyThePositives) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> values = {-0.0f, 0.0f,  1e-40f, -1e-40f, 3e-8f, -3e-8f, 1.0f,
                                     -1.0f, 3e38f, inf,    -inf,    nan,   -2.5f,  65504.0f};
  for (DType compute : {DType::bf16, DType::f16}) {
    Tensor x = empty({static_cast<std::int64_t>(values.size())});
    std::copy(values.begin(), values.end(), x.data<float>());
    x.set_requires_grad(true);
    {
      const ops::AutocastGuard autocast(compute);
      ops::relu(x).backward(ones(x.shape()));
    }
    // the rounded output's sign decides: fp16 flushes 1e-40 and 3e-8 (below 2^-25) to zero;
    // bf16 keeps both; values past fp16's range become Inf, still positive
    const std::vector<double> rounded = x.detach().to(compute).to(DType::f32).to_vector();
    const std::vector<double> grad = x.grad().to_vector();
    for (std::size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(grad[i], rounded[i] > 0 ? 1.0 : 0.0) << dtype_name(compute) << " x = " << values[i];
    }
  }
}

// ---- the zoo's CNN and ResNet-20 ----

struct ModelRun {
  std::size_t saved = 0;      // bytes the forward leaves for backward (and the loss)
  std::vector<double> grads;  // the flat gradient buffer after backward
  double loss = 0;
};

// One forward and backward of a freshly built model (same seed: same weights) on a fixed
// batch, in f32 or under a 16-bit guard with master weights, as the Trainer runs it.
ModelRun run_model(const std::string& spec, DType compute) {
  Generator gen(21);
  std::shared_ptr<nn::Module> model = nn::build_model(nn::ModelSpec::parse(spec), gen);
  nn::FlatParameters& flat = model->flat_parameters();
  Generator data_gen(22);
  const Tensor images = randn({8, 1, 28, 28}, data_gen);  // (N, C, H, W)
  const Tensor labels = arange(8, DType::i64);            // (N)
  std::optional<amp::MasterWeights> low;
  if (compute != DType::f32) low.emplace(flat.params, compute);
  ModelRun run;
  {
    std::optional<ops::AutocastGuard> guard;
    if (low) guard.emplace(compute, flat.params, low->copy());
    const std::size_t before = allocator_stats().bytes_in_use;
    Tensor loss = ops::cross_entropy(model->forward(images), labels);
    run.saved = allocator_stats().bytes_in_use - before;
    run.loss = loss.item();
    loss.backward();
  }
  run.grads = flat.grads.to_vector();
  return run;
}

// bf16 keeps 8 significant bits, and every GEMM input and incoming gradient is rounded so,
// layer after layer; through batch norm's backward, which subtracts the gradient's mean and
// its projection on x-hat, the rounding of the gradients grows toward the input. Measured:
// the CNN's whole gradient 3.4% from fp32's in L2; ResNet-20's 18% (0.3% at fc, 28% at conv1,
// the same with batch norm's input saved in f32: it is the 16-bit GEMMs' error, not the
// saved activations'). The tolerances are about 2x those; the loss, through the 16-bit
// forward only, within 0.2%.
void check_model(const std::string& spec, double tolerance) {
  const ModelRun fp32 = run_model(spec, DType::f32);
  const ModelRun bf16 = run_model(spec, DType::bf16);
  EXPECT_LT(static_cast<double>(bf16.saved), 0.55 * static_cast<double>(fp32.saved))
      << spec << ": " << bf16.saved << " vs " << fp32.saved << " bytes";
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < fp32.grads.size(); ++i) {
    diff += (bf16.grads[i] - fp32.grads[i]) * (bf16.grads[i] - fp32.grads[i]);
    norm += fp32.grads[i] * fp32.grads[i];
  }
  const double relative = std::sqrt(diff / norm);
  EXPECT_LT(relative, tolerance) << spec;
  EXPECT_GT(relative, 0.0) << spec << ": the bf16 run must differ";
  EXPECT_NEAR(bf16.loss, fp32.loss, 0.002 * std::abs(fp32.loss)) << spec;
}

TEST(ModelSaved, CnnKeepsUnderHalfOfFp32UnderBf16) {
  check_model("cnn", 0.07);
}

TEST(ModelSaved, ResNet20KeepsUnderHalfOfFp32UnderBf16) {
  check_model("resnet20", 0.35);
}

}  // namespace
}  // namespace descent
