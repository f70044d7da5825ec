// kernels::conv2d_* through oneDNN against im2col + GEMM, all three passes, on geometries
// whose channel counts are multiples of the blocked layouts' 16 (and 8) and others (padded
// blocks), with H * W both a multiple of 16 and not, stride 2 and 1x1 kernels: the reorders
// between NCHW and oneDNN's blocked layouts in both directions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/kernels/conv.hpp"

namespace descent {
namespace {

using kernels::ConvAlgorithm;

struct ConvCase {
  std::string name;
  kernels::Conv2dGeometry g;
};

std::vector<float> random_values(std::int64_t n, std::uint64_t seed) {
  Generator gen(seed);
  const Tensor t = uniform({n}, -1.0, 1.0, gen);
  return std::vector<float>(t.data<float>(), t.data<float>() + n);
}

void expect_close(const std::vector<float>& actual, const std::vector<float>& expected,
                  const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  float scale = 1.0f;
  for (float v : expected) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR(actual[i], expected[i], 1e-5f * scale) << what << " element " << i;
  }
}

TEST(ConvKernel, OneDnnMatchesIm2colAcrossLayouts) {
  auto geometry = [](std::int64_t N, std::int64_t C, std::int64_t H, std::int64_t W, std::int64_t O,
                     std::int64_t K, std::int64_t stride, std::int64_t pad) {
    kernels::Conv2dGeometry g{.N = N,
                              .C = C,
                              .H = H,
                              .W = W,
                              .O = O,
                              .KH = K,
                              .KW = K,
                              .stride_h = stride,
                              .stride_w = stride,
                              .pad_h = pad,
                              .pad_w = pad};
    g.OH = g.out_h();
    g.OW = g.out_w();
    return g;
  };
  const std::vector<ConvCase> cases = {
      {"16 -> 16, 8x8 (H*W a multiple of 16)", geometry(3, 16, 8, 8, 16, 3, 1, 1)},
      {"16 -> 32, 7x7", geometry(2, 16, 7, 7, 32, 3, 1, 1)},
      {"32 -> 16, 9x5 stride 2", geometry(2, 32, 9, 5, 16, 3, 2, 1)},
      {"32 -> 32, 1x1 stride 2", geometry(3, 32, 6, 6, 32, 1, 2, 0)},
      {"3 -> 16, 6x6 (input not blocked)", geometry(2, 3, 6, 6, 16, 3, 1, 1)},
      {"16 -> 24, 5x5 (output padded)", geometry(2, 16, 5, 5, 24, 3, 1, 1)},
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.name);
    const kernels::Conv2dGeometry& g = c.g;
    const std::vector<float> x = random_values(g.N * g.C * g.H * g.W, 1);
    const std::vector<float> w = random_values(g.O * g.C * g.KH * g.KW, 2);
    const std::vector<float> b = random_values(g.O, 3);
    const std::vector<float> dy = random_values(g.N * g.O * g.OH * g.OW, 4);
    std::vector<float> y[2], dx[2], dw[2], db[2];
    const ConvAlgorithm algorithms[2] = {ConvAlgorithm::onednn, ConvAlgorithm::im2col_gemm};
    for (int a = 0; a < 2; ++a) {
      y[a].assign(dy.size(), 0.0f);
      dx[a].assign(x.size(), 0.0f);
      dw[a].assign(w.size(), 0.0f);
      db[a].assign(b.size(), 0.0f);
      kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y[a].data(), algorithms[a]);
      kernels::conv2d_backward_input(g, dy.data(), w.data(), dx[a].data(), algorithms[a]);
      kernels::conv2d_backward_weight(g, dy.data(), x.data(), dw[a].data(), db[a].data(),
                                      algorithms[a]);
    }
    expect_close(y[0], y[1], c.name + " forward");
    expect_close(dx[0], dx[1], c.name + " input gradient");
    expect_close(dw[0], dw[1], c.name + " weight gradient");
    expect_close(db[0], db[1], c.name + " bias gradient");
  }
}

}  // namespace
}  // namespace descent
