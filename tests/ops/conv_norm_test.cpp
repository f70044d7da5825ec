// Forward values of matmul, conv2d, pooling, batch_norm and layer_norm against PyTorch
// (tests/reference/record_conv_norm.py -> tests/data/conv_norm.txt), in f64 and, for
// conv2d and batch_norm, in f32; the threaded f32 conv path against the f64 one; and the
// errors for bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "descent/kernels/conv.hpp"
#include "descent/kernels/conv_direct.hpp"
#include "descent/ops.hpp"
#include "reference_data.hpp"

namespace descent {
namespace {

using testing::ref;

const std::map<std::string, Tensor>& records() {
  static const std::map<std::string, Tensor> loaded = testing::load_reference("conv_norm.txt");
  return loaded;
}
const Tensor& r(const std::string& key) {
  return ref(records(), key);
}

// |actual - expected| <= rtol * (|expected| + max |expected|) elementwise: relative to the
// element, with a floor at the tensor's scale so that values near zero are not held to
// more digits than their neighbours.
void expect_close(const Tensor& actual, const Tensor& expected, double rtol,
                  const std::string& what) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const std::vector<double> a = actual.to_vector();
  const std::vector<double> e = expected.to_vector();
  double scale = 0;
  for (double v : e) scale = std::max(scale, std::abs(v));
  int failures = 0;
  for (std::size_t i = 0; i < a.size() && failures < 5; ++i) {
    if (!(std::abs(a[i] - e[i]) <= rtol * (std::abs(e[i]) + scale))) {
      ++failures;
      ADD_FAILURE() << what << " element " << i << ": got " << a[i] << ", PyTorch " << e[i];
    }
  }
}

constexpr double kF64 = 1e-10;
constexpr double kF32 = 1e-5;

TEST(Reference, Matmul) {
  expect_close(ops::matmul(r("matmul_2d_a"), r("matmul_2d_b")), r("matmul_2d_out"), kF64,
               "matmul 2-D");
  expect_close(ops::matmul(r("matmul_batched_a"), r("matmul_batched_b")), r("matmul_batched_out"),
               kF64, "matmul batched");
}

struct ConvCase {
  std::string name;
  bool bias;
  ops::Conv2dOptions options;
};

// Same configurations as CONVS in record_conv_norm.py.
std::vector<ConvCase> conv_cases() {
  return {
      {"basic", true, {.padding = 1}},
      {"strided", true, {.stride = {2, 1}, .padding = {1, 0}}},
      {"dilated", false, {.padding = 2, .dilation = 2}},
      {"pointwise", true, {}},
      {"wide", true, {.stride = 2, .padding = 1}},
  };
}

TEST(Reference, Conv2d) {
  for (const ConvCase& c : conv_cases()) {
    for (DType dtype : {DType::f64, DType::f32}) {
      const std::string what = "conv2d " + c.name + " " + std::string(dtype_name(dtype));
      const std::string key = "conv_" + c.name;
      Tensor bias = c.bias ? r(key + "_b").to(dtype) : Tensor();
      Tensor out = ops::conv2d(r(key + "_x").to(dtype), r(key + "_w").to(dtype), bias, c.options);
      EXPECT_EQ(out.dtype(), dtype);
      expect_close(out, r(key + "_out"), dtype == DType::f64 ? kF64 : kF32, what);
    }
  }
}

TEST(Reference, Pooling) {
  struct PoolCase {
    std::string name;
    ops::Pool2dOptions options;
  };
  const std::vector<PoolCase> pools = {
      {"square", {.kernel_size = 3, .stride = 2, .padding = 1}},
      {"rect", {.kernel_size = {2, 3}, .stride = {2, 1}, .padding = {1, 1}}},
      {"default", {.kernel_size = 2}},
  };
  for (const PoolCase& p : pools) {
    const Tensor& x = r("pool_" + p.name + "_x");
    expect_close(ops::max_pool2d(x, p.options), r("max_pool_" + p.name + "_out"), kF64,
                 "max_pool2d " + p.name);
    expect_close(ops::avg_pool2d(x, p.options), r("avg_pool_" + p.name + "_out"), kF64,
                 "avg_pool2d " + p.name);
  }
  expect_close(ops::global_avg_pool2d(r("global_pool_x")), r("global_pool_out"), kF64,
               "global_avg_pool2d");
}

// Two training steps update the running statistics in place; evaluation then uses them.
void check_batch_norm(const std::string& prefix, std::int64_t channels, bool affine,
                      ops::BatchNormOptions options, DType dtype) {
  const double tol = dtype == DType::f64 ? kF64 : kF32;
  const std::string tag = prefix + " " + std::string(dtype_name(dtype));
  Tensor running_mean = zeros({channels}, dtype);
  Tensor running_var = ones({channels}, dtype);
  Tensor weight = affine ? r(prefix + "_weight").to(dtype) : Tensor();
  Tensor bias = affine ? r(prefix + "_bias").to(dtype) : Tensor();
  for (int step : {1, 2}) {
    const std::string s = std::to_string(step);
    options.training = true;
    Tensor out = ops::batch_norm(r(prefix + "_x" + s).to(dtype), running_mean, running_var, weight,
                                 bias, options);
    expect_close(out, r(prefix + "_out" + s), tol, tag + " out" + s);
    expect_close(running_mean, r(prefix + "_running_mean" + s), tol, tag + " running_mean" + s);
    expect_close(running_var, r(prefix + "_running_var" + s), tol, tag + " running_var" + s);
  }
  options.training = false;
  Tensor out = ops::batch_norm(r(prefix + "_eval_x").to(dtype), running_mean, running_var, weight,
                               bias, options);
  expect_close(out, r(prefix + "_eval_out"), tol, tag + " eval");
  expect_close(running_mean, r(prefix + "_running_mean2"), tol, tag + " eval keeps running_mean");
}

TEST(Reference, BatchNorm) {
  for (DType dtype : {DType::f64, DType::f32}) {
    check_batch_norm("bn4", 3, true, {}, dtype);
    check_batch_norm("bn2", 4, false, {.momentum = 0.3, .eps = 1e-3}, dtype);
  }
}

TEST(Reference, LayerNorm) {
  expect_close(ops::layer_norm(r("ln_affine_x"), {4, 5}, r("ln_affine_w"), r("ln_affine_b")),
               r("ln_affine_out"), kF64, "layer_norm affine");
  expect_close(ops::layer_norm(r("ln_plain_x"), {8}, Tensor(), Tensor(), 1e-3), r("ln_plain_out"),
               kF64, "layer_norm plain");
}

struct ConvConfig {
  Shape x, w;
  ops::Conv2dOptions options;
};

std::vector<ConvConfig> conv_configs() {
  return {
      {{8, 16, 10, 11}, {16, 16, 3, 3}, {.padding = 1}},  // big enough for oneDNN (automatic)
      {{4, 6, 5, 5}, {3, 6, 1, 1}, {}},
      {{3, 2, 9, 9}, {2, 2, 3, 2}, {.stride = 2, .padding = {1, 0}, .dilation = {1, 2}}},
      {{2, 1, 12, 12}, {8, 1, 5, 5}, {.stride = {1, 2}, .padding = 2}},
      {{1, 17, 6, 7}, {5, 17, 2, 2}, {.stride = 3, .padding = {0, 1}}},
  };
}

// f32 through autograd (the automatic choice, batch split over 2 threads) against f64 (the
// batch in order).
TEST(Conv2d, F32MatchesF64ThroughAutograd) {
  const int saved_threads = num_threads();
  set_num_threads(2);
  for (const ConvConfig& c : conv_configs()) {
    Generator gen(9);
    Tensor x64 = randn(c.x, gen, DType::f64).set_requires_grad(true);
    Tensor w64 = randn(c.w, gen, DType::f64).set_requires_grad(true);
    Tensor b64 = randn({c.w[0]}, gen, DType::f64).set_requires_grad(true);
    Tensor x32 = x64.to(DType::f32).set_requires_grad(true);
    Tensor w32 = w64.to(DType::f32).set_requires_grad(true);
    Tensor b32 = b64.to(DType::f32).set_requires_grad(true);
    Tensor y64 = ops::conv2d(x64, w64, b64, c.options);
    Tensor y32 = ops::conv2d(x32, w32, b32, c.options);
    Tensor g64 = randn(y64.shape(), gen, DType::f64);
    y64.backward(g64);
    y32.backward(g64.to(DType::f32));
    const std::string what = shape_str(c.x) + " * " + shape_str(c.w);
    expect_close(y32, y64, kF32, what + " out");
    expect_close(x32.grad(), x64.grad(), kF32, what + " dx");
    expect_close(w32.grad(), w64.grad(), kF32, what + " dweight");
    expect_close(b32.grad(), b64.grad(), kF32, what + " dbias");
  }
  set_num_threads(saved_threads);
}

// Each f32 kernel path, forced, against the f64 op, on 1 and 2 threads.
TEST(Conv2d, EveryF32AlgorithmMatchesF64) {
  using kernels::ConvAlgorithm;
  const int saved_threads = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const ConvConfig& c : conv_configs()) {
      Generator gen(4);
      Tensor x64 = randn(c.x, gen, DType::f64).set_requires_grad(true);
      Tensor w64 = randn(c.w, gen, DType::f64).set_requires_grad(true);
      Tensor b64 = randn({c.w[0]}, gen, DType::f64).set_requires_grad(true);
      Tensor y64 = ops::conv2d(x64, w64, b64, c.options);
      Tensor g64 = randn(y64.shape(), gen, DType::f64);
      y64.backward(g64);
      kernels::Conv2dGeometry g{.N = c.x[0],
                                .C = c.x[1],
                                .H = c.x[2],
                                .W = c.x[3],
                                .O = c.w[0],
                                .KH = c.w[2],
                                .KW = c.w[3],
                                .stride_h = c.options.stride.h,
                                .stride_w = c.options.stride.w,
                                .pad_h = c.options.padding.h,
                                .pad_w = c.options.padding.w,
                                .dilation_h = c.options.dilation.h,
                                .dilation_w = c.options.dilation.w};
      g.OH = g.out_h();
      g.OW = g.out_w();
      const Tensor x = x64.to(DType::f32);
      const Tensor w = w64.to(DType::f32);
      const Tensor b = b64.to(DType::f32);
      const Tensor dy = g64.to(DType::f32);
      for (ConvAlgorithm algorithm :
           {ConvAlgorithm::im2col_gemm, ConvAlgorithm::onednn, ConvAlgorithm::direct}) {
        const bool direct = algorithm == ConvAlgorithm::direct;
        // the direct kernels: on AVX-512 CPUs, for what they handle (conv_direct_test.cpp
        // checks the refusals)
        if (direct && (!kernels::direct::available() || !kernels::direct::handles_forward(g))) {
          continue;
        }
        const std::string what = shape_str(c.x) + " * " + shape_str(c.w) +
                                 (algorithm == ConvAlgorithm::onednn ? " oneDNN"
                                  : direct                           ? " direct"
                                                                     : " im2col") +
                                 " threads " + std::to_string(threads);
        Tensor y = empty(y64.shape());
        Tensor dx = empty(c.x);
        Tensor dw = empty(c.w);
        Tensor db = empty({c.w[0]});
        kernels::conv2d_forward<float>(g, x.data<float>(), w.data<float>(), b.data<float>(),
                                       y.data<float>(), algorithm);
        const bool with_dx = !direct || kernels::direct::handles_backward_data(g);
        if (with_dx) {
          kernels::conv2d_backward_input<float>(g, dy.data<float>(), w.data<float>(),
                                                dx.data<float>(), algorithm);
        }
        kernels::conv2d_backward_weight<float>(g, dy.data<float>(), x.data<float>(),
                                               dw.data<float>(), db.data<float>(), algorithm);
        expect_close(y, y64, kF32, what + " out");
        if (with_dx) expect_close(dx, x64.grad(), kF32, what + " dx");
        expect_close(dw, w64.grad(), kF32, what + " dweight");
        expect_close(db, b64.grad(), kF32, what + " dbias");
        // without bias; dbias alone; dweight alone
        kernels::conv2d_forward<float>(g, x.data<float>(), w.data<float>(), nullptr,
                                       y.data<float>(), algorithm);
        expect_close(y, ops::sub(y64, ops::reshape(b64, {1, -1, 1, 1})), kF32, what + " no bias");
        db.zero_();
        kernels::conv2d_backward_weight<float>(g, dy.data<float>(), x.data<float>(), nullptr,
                                               db.data<float>(), algorithm);
        expect_close(db, b64.grad(), kF32, what + " dbias alone");
        dw.zero_();
        kernels::conv2d_backward_weight<float>(g, dy.data<float>(), x.data<float>(),
                                               dw.data<float>(), nullptr, algorithm);
        expect_close(dw, w64.grad(), kF32, what + " dweight alone");
      }
    }
  }
  set_num_threads(saved_threads);
  Tensor x = zeros({1, 1, 3, 3}, DType::f64);
  kernels::Conv2dGeometry g{.H = 3, .W = 3};
  EXPECT_THROW(kernels::conv2d_forward<double>(g, x.data<double>(), x.data<double>(), nullptr,
                                               x.data<double>(), kernels::ConvAlgorithm::onednn),
               Error);
}

// Same inputs, same thread count: bit-identical results (DESIGN.md, "Deterministic"), for
// every path that sums across threads.
TEST(Conv2d, RepeatsBitForBit) {
  using kernels::ConvAlgorithm;
  const int saved_threads = num_threads();
  set_num_threads(2);
  kernels::Conv2dGeometry g{
      .N = 8, .C = 16, .H = 10, .W = 11, .O = 16, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1};
  g.OH = g.out_h();
  g.OW = g.out_w();
  Generator gen(3);
  const Tensor x = randn({g.N, g.C, g.H, g.W}, gen);
  const Tensor dy = randn({g.N, g.O, g.OH, g.OW}, gen);
  for (ConvAlgorithm algorithm :
       {ConvAlgorithm::im2col_gemm, ConvAlgorithm::onednn, ConvAlgorithm::direct}) {
    if (algorithm == ConvAlgorithm::direct && !kernels::direct::available()) continue;
    std::vector<double> first;
    for (int run = 0; run < 2; ++run) {
      Tensor dw = empty({g.O, g.C, g.KH, g.KW});
      Tensor db = empty({g.O});
      kernels::conv2d_backward_weight<float>(g, dy.data<float>(), x.data<float>(), dw.data<float>(),
                                             db.data<float>(), algorithm);
      std::vector<double> values = dw.to_vector();
      const std::vector<double> bias_values = db.to_vector();
      values.insert(values.end(), bias_values.begin(), bias_values.end());
      if (run == 0) {
        first = values;
      } else {
        EXPECT_TRUE(values == first) << "conv2d backward weights differ between runs";
      }
    }
  }
  set_num_threads(saved_threads);
}

// (N, C) inputs take the channel-block path (rows across channels). The same values laid
// out as (N, C, 2, 1), each one twice, take the per-channel path with the same mean and
// variance, so the outputs must agree; with the upstream gradient doubled too, each copy's
// dx equals the row's dx and dweight/dbias are twice the rows'. C spans several blocks.
TEST(BatchNorm, ChannelBlocksMatchPlanes) {
  Generator gen(5);
  const std::int64_t N = 7;
  const std::int64_t C = 150;
  const Tensor x = randn({N, C}, gen, DType::f64);
  const Tensor dy = randn({N, C}, gen, DType::f64);
  auto twice = [&](const Tensor& t) {
    Tensor out = empty({N, C, 2, 1}, DType::f64);
    const double* in = t.data<double>();
    double* po = out.data<double>();
    for (std::int64_t i = 0; i < N * C; ++i) po[2 * i] = po[2 * i + 1] = in[i];
    return out;
  };
  for (bool training : {true, false}) {
    Tensor weight = randn({C}, gen, DType::f64).set_requires_grad(true);
    Tensor bias = randn({C}, gen, DType::f64).set_requires_grad(true);
    Tensor weight2 = weight.detach().clone().set_requires_grad(true);
    Tensor bias2 = bias.detach().clone().set_requires_grad(true);
    Tensor x_rows = x.clone().set_requires_grad(true);
    Tensor x_planes = twice(x).set_requires_grad(true);
    const Tensor running_mean = randn({C}, gen, DType::f64);
    const Tensor running_var = ones({C}, DType::f64);
    const ops::BatchNormOptions options{.training = training};
    Tensor rows =
        ops::batch_norm(x_rows, running_mean.clone(), running_var.clone(), weight, bias, options);
    Tensor planes = ops::batch_norm(x_planes, running_mean.clone(), running_var.clone(), weight2,
                                    bias2, options);
    rows.backward(dy);
    planes.backward(twice(dy));
    const std::string mode = training ? "training" : "eval";
    expect_close(twice(rows), planes, 1e-12, mode + " out");
    expect_close(twice(x_rows.grad()), x_planes.grad(), 1e-12, mode + " dx");
    expect_close(ops::mul(weight.grad(), 2.0), weight2.grad(), 1e-12, mode + " dweight");
    expect_close(ops::mul(bias.grad(), 2.0), bias2.grad(), 1e-12, mode + " dbias");
  }
}

TEST(BatchNorm, EvalLeavesRunningStatsAlone) {
  Tensor running_mean = tensor({0.5, -1}, {2}, DType::f64);
  Tensor running_var = tensor({2, 0.25}, {2}, DType::f64);
  Tensor x = tensor({1, 2, 3, 4}, {2, 2}, DType::f64);
  Tensor out = ops::batch_norm(x, running_mean, running_var, Tensor(), Tensor(),
                               {.training = false, .eps = 0});
  EXPECT_EQ(running_mean.to_vector(), (std::vector<double>{0.5, -1}));
  EXPECT_EQ(running_var.to_vector(), (std::vector<double>{2, 0.25}));
  const std::vector<double> y = out.to_vector();
  EXPECT_NEAR(y[0], (1 - 0.5) / std::sqrt(2.0), 1e-15);
  EXPECT_NEAR(y[1], (2 + 1) / 0.5, 1e-15);
}

// ---- bad input ----

void expect_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected descent::Error containing " << needles.front();
  } catch (const Error& e) {
    for (const std::string& needle : needles) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
          << "message '" << e.what() << "' lacks '" << needle << "'";
    }
  }
}

TEST(Errors, Conv2d) {
  const Tensor x = zeros({2, 3, 5, 5});
  const Tensor w = zeros({4, 3, 3, 3});
  expect_error(
      [&] {
        ops::conv2d(zeros({3, 5, 5}), w);
      },
      {"conv2d: expected x (N, C, H, W), got (3, 5, 5)"});
  expect_error(
      [&] {
        ops::conv2d(x, zeros({4, 3, 3}));
      },
      {"conv2d: expected weight (O, C, KH, KW), got (4, 3, 3)"});
  expect_error(
      [&] {
        ops::conv2d(x, zeros({4, 2, 3, 3}));
      },
      {"conv2d:", "(2, 3, 5, 5) has 3 channels", "(4, 2, 3, 3) expects 2"});
  expect_error([&] { ops::conv2d(x, w, zeros({3})); },
               {"conv2d: bias must be (4) f32", "got (3) f32"});
  expect_error([&] { ops::conv2d(x, w, zeros({4}, DType::f64)); }, {"conv2d: bias", "f64"});
  expect_error(
      [&] {
        ops::conv2d(x, zeros({4, 3, 3, 3}, DType::f64));
      },
      {"conv2d: dtypes differ: x f32 (2, 3, 5, 5), weight f64 (4, 3, 3, 3)"});
  expect_error(
      [&] {
        ops::conv2d(zeros({2, 3, 5, 5}, DType::i64), zeros({4, 3, 3, 3}, DType::i64));
      },
      {"conv2d: expected a f32 or f64 tensor, got i64"});
  expect_error(
      [&] {
        ops::conv2d(x, w, Tensor(), {.stride = {1, 0}});
      },
      {"conv2d: stride must be positive, got (1, 0)"});
  expect_error([&] { ops::conv2d(x, w, Tensor(), {.stride = -1}); },
               {"conv2d: stride must be positive, got (-1, -1)"});
  expect_error([&] { ops::conv2d(x, w, Tensor(), {.dilation = 0}); },
               {"conv2d: dilation must be positive, got (0, 0)"});
  expect_error(
      [&] {
        ops::conv2d(x, w, Tensor(), {.padding = {0, -1}});
      },
      {"conv2d: padding must be non-negative, got (0, -1)"});
  expect_error(
      [&] {
        ops::conv2d(zeros({1, 3, 2, 2}), w);
      },
      {"conv2d: kernel (3, 3)", "larger than the padded input (2, 2)", "(1, 3, 2, 2)"});
  expect_error([&] { ops::conv2d(x, w, Tensor(), {.dilation = 3}); },
               {"conv2d: kernel (3, 3) with dilation (3, 3) spans (7, 7)", "padded input (5, 5)"});
  expect_error(
      [&] {
        ops::conv2d(x, zeros({0, 3, 3, 3}));
      },
      {"conv2d: weight (0, 3, 3, 3) has an empty dimension"});
  expect_error([&] { ops::conv2d(Tensor(), w); }, {"conv2d: x is undefined"});
}

TEST(Errors, Pooling) {
  const Tensor x = zeros({1, 2, 4, 4});
  for (const char* op : {"max_pool2d", "avg_pool2d"}) {
    const std::string name = op;
    auto pool = [&](const Tensor& input, const ops::Pool2dOptions& options) {
      return name == "max_pool2d" ? ops::max_pool2d(input, options)
                                  : ops::avg_pool2d(input, options);
    };
    expect_error(
        [&] {
          pool(zeros({4, 4}), {});
        },
        {name + ": expected x (N, C, H, W), got (4, 4)"});
    expect_error([&] { pool(x, {.kernel_size = 0}); },
                 {name + ": kernel_size must be positive, got (0, 0)"});
    expect_error([&] { pool(x, {.kernel_size = 2, .stride = -1}); },
                 {name + ": stride must be positive (or 0 for kernel_size), got (-1, -1)"});
    expect_error([&] { pool(x, {.kernel_size = 2, .padding = -1}); },
                 {name + ": padding must be non-negative, got (-1, -1)"});
    expect_error([&] { pool(x, {.kernel_size = 2, .padding = 2}); },
                 {name + ": padding (2, 2) must be at most half of kernel_size (2, 2)"});
    expect_error(
        [&] {
          pool(x, {.kernel_size = {5, 2}});
        },
        {name + ": kernel_size (5, 2) is larger than the padded input (4, 4)", "(1, 2, 4, 4)"});
    expect_error(
        [&] {
          pool(zeros({1, 2, 4, 4}, DType::i32), {});
        },
        {name + ": expected a f32 or f64 tensor, got i32"});
  }
  expect_error(
      [&] {
        ops::global_avg_pool2d(zeros({2, 3, 4}));
      },
      {"global_avg_pool2d: expected x (N, C, H, W), got (2, 3, 4)"});
  expect_error(
      [&] {
        ops::global_avg_pool2d(zeros({2, 3, 0, 4}));
      },
      {"global_avg_pool2d: x (2, 3, 0, 4) has empty planes"});
}

TEST(Errors, BatchNorm) {
  const Tensor x = zeros({4, 3, 2, 2});
  const Tensor c3 = ones({3});
  expect_error([&] { ops::batch_norm(zeros({4}), Tensor(), Tensor(), Tensor(), Tensor()); },
               {"batch_norm: expected x (N, C) or (N, C, H, W), got (4)"});
  expect_error(
      [&] {
        ops::batch_norm(zeros({2, 3, 4}), Tensor(), Tensor(), Tensor(), Tensor());
      },
      {"batch_norm: expected x (N, C) or (N, C, H, W), got (2, 3, 4)"});
  expect_error([&] { ops::batch_norm(x, zeros({4}), ones({4}), Tensor(), Tensor()); },
               {"batch_norm: running_mean must be (3) f32 for x (4, 3, 2, 2), got (4) f32"});
  expect_error([&] { ops::batch_norm(x, c3, ones({2}), Tensor(), Tensor()); },
               {"batch_norm: running_var must be (3) f32", "got (2) f32"});
  expect_error([&] { ops::batch_norm(x, Tensor(), Tensor(), ones({5}), Tensor()); },
               {"batch_norm: weight must be (3) f32 for x (4, 3, 2, 2), got (5) f32"});
  expect_error([&] { ops::batch_norm(x, Tensor(), Tensor(), c3, ones({3}, DType::f64)); },
               {"batch_norm: bias must be (3) f32", "got (3) f64"});
  expect_error([&] { ops::batch_norm(x, c3, Tensor(), Tensor(), Tensor()); },
               {"batch_norm: running_mean and running_var must both be defined"});
  expect_error(
      [&] {
        ops::batch_norm(zeros({1, 3}), Tensor(), Tensor(), c3, c3);
      },
      {"batch_norm: expected more than 1 value per channel when training, got x (1, 3)"});
  expect_error(
      [&] {
        ops::batch_norm(zeros({1, 3, 1, 1}), Tensor(), Tensor(), c3, c3);
      },
      {"more than 1 value per channel", "(1, 3, 1, 1)"});
  expect_error([&] { ops::batch_norm(x, Tensor(), Tensor(), c3, c3, {.training = false}); },
               {"batch_norm: evaluation (training = false) needs running_mean and running_var"});
  expect_error([&] { ops::batch_norm(x, Tensor(), Tensor(), c3, c3, {.momentum = 1.5}); },
               {"batch_norm: momentum must be in [0, 1], got 1.5"});
  expect_error([&] { ops::batch_norm(x, Tensor(), Tensor(), c3, c3, {.eps = -1}); },
               {"batch_norm: eps must be non-negative, got -1"});
  expect_error(
      [&] {
        ops::batch_norm(zeros({4, 3}, DType::i64), Tensor(), Tensor(), Tensor(), Tensor());
      },
      {"batch_norm: expected a f32 or f64 tensor, got i64"});
}

TEST(Errors, LayerNorm) {
  const Tensor x = zeros({2, 3, 4});
  expect_error([&] { ops::layer_norm(x, {}, Tensor(), Tensor()); },
               {"layer_norm: normalized_shape must not be empty"});
  expect_error([&] { ops::layer_norm(x, {3}, Tensor(), Tensor()); },
               {"layer_norm: x (2, 3, 4) does not end with normalized_shape (3)"});
  expect_error(
      [&] {
        ops::layer_norm(x, {1, 2, 3, 4}, Tensor(), Tensor());
      },
      {"layer_norm: x (2, 3, 4) does not end with normalized_shape (1, 2, 3, 4)"});
  expect_error(
      [&] {
        ops::layer_norm(x, {3, 4}, ones({4}), Tensor());
      },
      {"layer_norm: weight must be (3, 4) f32 for x (2, 3, 4), got (4) f32"});
  expect_error([&] { ops::layer_norm(x, {4}, Tensor(), ones({4}, DType::f64)); },
               {"layer_norm: bias must be (4) f32", "got (4) f64"});
  expect_error([&] { ops::layer_norm(x, {4}, Tensor(), Tensor(), -1e-5); },
               {"layer_norm: eps must be non-negative"});
  expect_error(
      [&] {
        ops::layer_norm(zeros({2, 0}), {0}, Tensor(), Tensor());
      },
      {"layer_norm: normalized_shape (0) has no elements"});
}

}  // namespace
}  // namespace descent
