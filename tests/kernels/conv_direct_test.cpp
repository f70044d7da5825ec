// descent's own direct convolution kernels (kernels/conv_direct.hpp) against im2col + GEMM in
// f64, all three passes: channel counts that fill the kernels' blocks (8 output channels
// forward, 16 or 32 in backward weights) and that leave them partly empty, planes smaller
// than one vector of positions and larger than a tile, kernels 1x1 to 5x5, padding 0 to 2,
// strides 1 to 3, null bias and gradients, one sample and more samples than threads, inside
// a caller's parallel region.
#include "descent/kernels/conv_direct.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "descent/core/error.hpp"
#include "descent/core/tensor.hpp"
#include "descent/kernels/conv.hpp"

namespace descent {
namespace {

using kernels::Conv2dGeometry;

std::vector<double> random_values(std::int64_t n, std::uint64_t seed) {
  Generator gen(seed);
  const Tensor t = uniform({n}, -1.0, 1.0, gen, DType::f64);
  return std::vector<double>(t.data<double>(), t.data<double>() + n);
}

std::vector<float> to_f32(const std::vector<double>& v) {
  return std::vector<float>(v.begin(), v.end());
}

// |actual - expected| within 1e-5 of the largest expected magnitude (f32 sums of a few
// hundred terms of size 1).
void expect_close(const std::vector<float>& actual, const std::vector<double>& expected,
                  const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  double scale = 1.0;
  for (double v : expected) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR(actual[i], expected[i], 2e-5 * scale) << what << " element " << i;
  }
}

Conv2dGeometry geometry(std::int64_t N, std::int64_t C, std::int64_t H, std::int64_t W,
                        std::int64_t O, std::int64_t KH, std::int64_t KW, std::int64_t stride,
                        std::int64_t pad_h, std::int64_t pad_w) {
  Conv2dGeometry g{.N = N,
                   .C = C,
                   .H = H,
                   .W = W,
                   .O = O,
                   .KH = KH,
                   .KW = KW,
                   .stride_h = stride,
                   .stride_w = stride,
                   .pad_h = pad_h,
                   .pad_w = pad_w};
  g.OH = g.out_h();
  g.OW = g.out_w();
  return g;
}

struct Case {
  std::string name;
  Conv2dGeometry g;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> list = {
      {"16 -> 16, 28x28 (ResNet layer1)", geometry(3, 16, 28, 28, 16, 3, 3, 1, 1, 1)},
      {"32 -> 64, 14x14 (CNN conv2)", geometry(2, 32, 14, 14, 64, 3, 3, 1, 1, 1)},
      {"64 -> 64, 7x7 (ResNet layer3)", geometry(3, 64, 7, 7, 64, 3, 3, 1, 1, 1)},
      {"1 -> 32, 9x9, one input channel", geometry(3, 1, 9, 9, 32, 3, 3, 1, 1, 1)},
      {"5 -> 3, 4x6, blocks mostly empty", geometry(3, 5, 4, 6, 3, 3, 3, 1, 1, 1)},
      {"7 -> 20, 11x5, 5x5 pad 2", geometry(2, 7, 11, 5, 20, 5, 5, 1, 2, 2)},
      {"6 -> 48, 6x9, 3x2 no padding", geometry(3, 6, 6, 9, 48, 3, 2, 1, 0, 0)},
      {"9 -> 40, 8x8, 1x1", geometry(2, 9, 8, 8, 40, 1, 1, 1, 0, 0)},
      {"16 -> 32, 28x28 stride 2", geometry(3, 16, 28, 28, 32, 3, 3, 2, 1, 1)},
      {"16 -> 32, 1x1 stride 2", geometry(3, 16, 28, 28, 32, 1, 1, 2, 0, 0)},
      {"3 -> 17, 13x10 stride 3 pad 2", geometry(2, 3, 13, 10, 17, 5, 4, 3, 2, 1)},
      {"32 -> 64, 14x14 stride 2 (ResNet layer3.0)", geometry(3, 32, 14, 14, 64, 3, 3, 2, 1, 1)},
      {"5 -> 9, 9x7 stride 2, 2x2 kernel", geometry(2, 5, 9, 7, 9, 2, 2, 2, 0, 0)},
      {"4 -> 8, 11x11 stride 4, 3x3 (phases without taps)",
       geometry(2, 4, 11, 11, 8, 3, 3, 4, 0, 0)},
      {"one sample", geometry(1, 4, 5, 5, 24, 3, 3, 1, 1, 1)},
  };
  return list;
}

struct Reference {
  std::vector<double> y, dx, dw, db;
};

Reference reference(const Conv2dGeometry& g, const std::vector<double>& x,
                    const std::vector<double>& w, const std::vector<double>& b,
                    const std::vector<double>& dy) {
  Reference r{std::vector<double>(dy.size()), std::vector<double>(x.size()),
              std::vector<double>(w.size()), std::vector<double>(b.size())};
  const auto im2col = kernels::ConvAlgorithm::im2col_gemm;
  kernels::conv2d_forward(g, x.data(), w.data(), b.data(), r.y.data(), im2col);
  kernels::conv2d_backward_input(g, dy.data(), w.data(), r.dx.data(), im2col);
  kernels::conv2d_backward_weight(g, dy.data(), x.data(), r.dw.data(), r.db.data(), im2col);
  return r;
}

class ConvDirect : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kernels::direct::available()) GTEST_SKIP() << "this CPU has no AVX-512F";
  }
};

TEST_F(ConvDirect, MatchesF64OnEveryPass) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const Conv2dGeometry& g = c.g;
    const std::vector<double> x = random_values(g.N * g.C * g.H * g.W, 1);
    const std::vector<double> w = random_values(g.O * g.C * g.KH * g.KW, 2);
    const std::vector<double> b = random_values(g.O, 3);
    const std::vector<double> dy = random_values(g.N * g.O * g.OH * g.OW, 4);
    const Reference r = reference(g, x, w, b, dy);
    const std::vector<float> x32 = to_f32(x), w32 = to_f32(w), b32 = to_f32(b), dy32 = to_f32(dy);
    std::vector<float> y(dy.size(), NAN), dx(x.size(), NAN), dw(w.size(), NAN), db(b.size(), NAN);
    kernels::direct::conv2d_forward(g, x32.data(), w32.data(), b32.data(), y.data());
    expect_close(y, r.y, "forward");
    kernels::direct::conv2d_backward_weights(g, dy32.data(), x32.data(), dw.data(), db.data());
    expect_close(dw, r.dw, "weight gradient");
    expect_close(db, r.db, "bias gradient");
    ASSERT_TRUE(kernels::direct::handles_backward_data(g));
    kernels::direct::conv2d_backward_data(g, dy32.data(), w32.data(), dx.data());
    expect_close(dx, r.dx, "input gradient");
  }
}

std::vector<BFloat16> to_bf16(const std::vector<double>& v) {
  std::vector<BFloat16> out;
  for (double d : v) out.push_back(BFloat16(static_cast<float>(d)));
  return out;
}
std::vector<double> to_f64(const std::vector<BFloat16>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// bf16 inputs: forward and backward data on vdpbf16ps (pairs of channels; an odd count pads
// with a zero channel), backward weights widened; against f64 on the same rounded values.
TEST_F(ConvDirect, Bf16MatchesF64OnTheRoundedValues) {
  if (!kernels::direct::available_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const Conv2dGeometry& g = c.g;
    const std::vector<BFloat16> x = to_bf16(random_values(g.N * g.C * g.H * g.W, 11));
    const std::vector<BFloat16> w = to_bf16(random_values(g.O * g.C * g.KH * g.KW, 12));
    const std::vector<double> b = random_values(g.O, 13);
    const std::vector<BFloat16> dy = to_bf16(random_values(g.N * g.O * g.OH * g.OW, 14));
    const Reference r = reference(g, to_f64(x), to_f64(w), b, to_f64(dy));
    const std::vector<float> b32 = to_f32(b);
    std::vector<float> y(dy.size(), NAN), dx(x.size(), NAN), dw(w.size(), NAN), db(b.size(), NAN);
    kernels::direct::conv2d_forward(g, x.data(), w.data(), b32.data(), y.data());
    expect_close(y, r.y, "forward");
    kernels::direct::conv2d_backward_weights(g, dy.data(), x.data(), dw.data(), db.data());
    expect_close(dw, r.dw, "weight gradient");
    expect_close(db, r.db, "bias gradient");
    kernels::direct::conv2d_backward_data(g, dy.data(), w.data(), dx.data());
    expect_close(dx, r.dx, "input gradient");
    // the mixed-precision entry points, on whichever path they choose
    std::vector<float> y2(dy.size(), NAN), dx2(x.size(), NAN), dw2(w.size(), NAN);
    kernels::conv2d_forward_mixed(g, x.data(), w.data(), b32.data(), y2.data());
    kernels::conv2d_backward_input_mixed(g, dy.data(), w.data(), dx2.data());
    kernels::conv2d_backward_weight_mixed(g, dy.data(), x.data(), dw2.data(), nullptr);
    expect_close(y2, r.y, "forward (mixed)");
    expect_close(dx2, r.dx, "input gradient (mixed)");
    expect_close(dw2, r.dw, "weight gradient (mixed)");
  }
}

TEST_F(ConvDirect, NullBiasAndGradients) {
  const Conv2dGeometry g = geometry(3, 6, 7, 7, 20, 3, 3, 1, 1, 1);
  const std::vector<double> x = random_values(g.N * g.C * g.H * g.W, 5);
  const std::vector<double> w = random_values(g.O * g.C * g.KH * g.KW, 6);
  const std::vector<double> zero_b(g.O, 0.0);
  const std::vector<double> dy = random_values(g.N * g.O * g.OH * g.OW, 7);
  const Reference r = reference(g, x, w, zero_b, dy);
  const std::vector<float> x32 = to_f32(x), w32 = to_f32(w), dy32 = to_f32(dy);
  std::vector<float> y(dy.size(), NAN), dw(w.size(), NAN), db(g.O, NAN);
  kernels::direct::conv2d_forward(g, x32.data(), w32.data(), nullptr, y.data());
  expect_close(y, r.y, "forward without bias");
  kernels::direct::conv2d_backward_weights(g, dy32.data(), x32.data(), dw.data(), nullptr);
  expect_close(dw, r.dw, "weight gradient alone");
  kernels::direct::conv2d_backward_weights(g, dy32.data(), x32.data(), nullptr, db.data());
  expect_close(db, r.db, "bias gradient alone");
}

TEST_F(ConvDirect, SameBitsInsideACallersParallelRegion) {
  // one thread inside a region: the result of a one-thread run
  const Conv2dGeometry g = geometry(4, 16, 14, 14, 32, 3, 3, 1, 1, 1);
  const std::vector<float> x = to_f32(random_values(g.N * g.C * g.H * g.W, 8));
  const std::vector<float> w = to_f32(random_values(g.O * g.C * g.KH * g.KW, 9));
  const std::vector<float> dy = to_f32(random_values(g.N * g.O * g.OH * g.OW, 10));
  std::vector<float> y1(dy.size()), dw1(w.size()), y2(dy.size()), dw2(w.size());
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  kernels::direct::conv2d_forward(g, x.data(), w.data(), nullptr, y1.data());
  kernels::direct::conv2d_backward_weights(g, dy.data(), x.data(), dw1.data(), nullptr);
  omp_set_num_threads(threads);
#pragma omp parallel num_threads(2)
  {
#pragma omp single
    {
      kernels::direct::conv2d_forward(g, x.data(), w.data(), nullptr, y2.data());
      kernels::direct::conv2d_backward_weights(g, dy.data(), x.data(), dw2.data(), nullptr);
    }
  }
  EXPECT_EQ(y1, y2);
  EXPECT_EQ(dw1, dw2);
}

TEST_F(ConvDirect, RefusesWhatItDoesNotHandle) {
  Conv2dGeometry dilated = geometry(1, 2, 8, 8, 2, 3, 3, 1, 1, 1);
  dilated.dilation_h = 2;
  dilated.OH = dilated.out_h();
  std::vector<float> buf(1024, 0.0f);
  EXPECT_FALSE(kernels::direct::handles_forward(dilated));
  EXPECT_THROW(
      kernels::direct::conv2d_forward(dilated, buf.data(), buf.data(), nullptr, buf.data()), Error);
  // backward data as forward passes needs padding below the kernel's reach (each phase's
  // padding of dy is K - 1 - pad, per phase)
  const Conv2dGeometry padded = geometry(1, 2, 8, 8, 2, 3, 3, 1, 3, 3);
  EXPECT_TRUE(kernels::direct::handles_forward(padded));
  EXPECT_FALSE(kernels::direct::handles_backward_data(padded));
  // stride 4, padding 1: the phase of kernel row 0 starts one dy row in (a padding of -1)
  EXPECT_FALSE(kernels::direct::handles_backward_data(geometry(1, 2, 11, 11, 2, 3, 3, 4, 1, 1)));
  try {
    kernels::direct::conv2d_backward_data(padded, buf.data(), buf.data(), buf.data());
    FAIL() << "backward data with padding 3 and a 3x3 kernel was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("padding 3x3"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace descent
