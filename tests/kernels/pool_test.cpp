// kernels::max_pool2d_forward against a direct scan of each window (row by row, left to
// right; a larger value or a NaN takes the place, as PyTorch), values and argmax (the
// position kh * KW + kw in the window) exactly, on inputs full of ties, -inf and NaN, with
// the positions in uint8_t and int64_t; and max_pool2d_backward against routing each dy to
// that position. The 2x2 stride-2 geometries go through the kernel's own fast path; the
// others through its general loop.
#include "descent/kernels/pool.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent {
namespace {

struct PoolCase {
  std::string name;
  std::int64_t planes, H, W, K, stride, pad;
};

template <typename T>
void reference(const kernels::Pool2dGeometry& g, const std::vector<T>& x, std::vector<T>& y,
               std::vector<std::int64_t>& argmax) {
  for (std::int64_t p = 0; p < g.planes; ++p) {
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        const std::int64_t h0 = std::max<std::int64_t>(oh * g.stride_h - g.pad_h, 0);
        const std::int64_t w0 = std::max<std::int64_t>(ow * g.stride_w - g.pad_w, 0);
        const std::int64_t h1 = std::min(oh * g.stride_h - g.pad_h + g.KH, g.H);
        const std::int64_t w1 = std::min(ow * g.stride_w - g.pad_w + g.KW, g.W);
        // the window's corner in the padded input
        const std::int64_t top = oh * g.stride_h - g.pad_h;
        const std::int64_t left = ow * g.stride_w - g.pad_w;
        T best = -std::numeric_limits<T>::infinity();
        std::int64_t index = (h0 - top) * g.KW + (w0 - left);
        for (std::int64_t h = h0; h < h1; ++h) {
          for (std::int64_t w = w0; w < w1; ++w) {
            const T v = x[p * g.H * g.W + h * g.W + w];
            if (v > best || std::isnan(v)) {
              best = v;
              index = (h - top) * g.KW + (w - left);
            }
          }
        }
        const std::int64_t o = p * g.OH * g.OW + oh * g.OW + ow;
        y[o] = best;
        argmax[o] = index;
      }
    }
  }
}

template <typename T, typename Index>
void check(const PoolCase& c) {
  kernels::Pool2dGeometry g{.planes = c.planes,
                            .H = c.H,
                            .W = c.W,
                            .KH = c.K,
                            .KW = c.K,
                            .stride_h = c.stride,
                            .stride_w = c.stride,
                            .pad_h = c.pad,
                            .pad_w = c.pad};
  g.OH = g.out_h();
  g.OW = g.out_w();
  // values from {-inf, -1, 0, 1, NaN}, so that windows hold ties, all -inf, and NaNs
  Generator gen(7);
  const Tensor u = rand({g.planes * g.H * g.W}, gen, DType::f64);
  std::vector<T> x(u.numel());
  const T choices[] = {-std::numeric_limits<T>::infinity(), T(-1), T(0), T(1),
                       std::numeric_limits<T>::quiet_NaN()};
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double r = u.data<double>()[i];
    x[i] = choices[r < 0.25 ? 0 : r < 0.5 ? 1 : r < 0.7 ? 2 : r < 0.95 ? 3 : 4];
  }
  const std::size_t n_out = static_cast<std::size_t>(g.planes * g.OH * g.OW);
  std::vector<T> y(n_out), y_ref(n_out);
  std::vector<Index> argmax(n_out);
  std::vector<std::int64_t> argmax_ref(n_out);
  kernels::max_pool2d_forward(g, x.data(), y.data(), argmax.data());
  reference(g, x, y_ref, argmax_ref);
  for (std::size_t o = 0; o < n_out; ++o) {
    if (std::isnan(y_ref[o])) {
      EXPECT_TRUE(std::isnan(y[o])) << c.name << " output " << o;
    } else {
      EXPECT_EQ(y[o], y_ref[o]) << c.name << " output " << o;
    }
    EXPECT_EQ(static_cast<std::int64_t>(argmax[o]), argmax_ref[o]) << c.name << " output " << o;
  }
  // backward: dy[o] = o + 1 added at input (top + kh, left + kw) of the window's position
  std::vector<T> dy(n_out), dx(x.size()), dx_ref(x.size(), T(0));
  for (std::size_t o = 0; o < n_out; ++o) {
    dy[o] = static_cast<T>(o + 1);
    const std::int64_t p = static_cast<std::int64_t>(o) / (g.OH * g.OW);
    const std::int64_t oh = static_cast<std::int64_t>(o) / g.OW % g.OH;
    const std::int64_t ow = static_cast<std::int64_t>(o) % g.OW;
    const std::int64_t h = oh * g.stride_h - g.pad_h + argmax_ref[o] / g.KW;
    const std::int64_t w = ow * g.stride_w - g.pad_w + argmax_ref[o] % g.KW;
    dx_ref[p * g.H * g.W + h * g.W + w] += dy[o];
  }
  kernels::max_pool2d_backward(g, dy.data(), argmax.data(), dx.data());
  EXPECT_EQ(dx, dx_ref) << c.name;
}

TEST(MaxPool2dKernel, MatchesWindowScanWithTiesInfAndNaN) {
  const std::vector<PoolCase> cases = {
      {"2x2 stride 2, even", 6, 28, 28, 2, 2, 0},
      {"2x2 stride 2, odd", 5, 7, 9, 2, 2, 0},
      {"2x2 stride 2, one row", 3, 2, 6, 2, 2, 0},
      {"2x2 stride 1", 4, 6, 5, 2, 1, 0},
      {"3x3 stride 2 padding 1", 4, 9, 8, 3, 2, 1},
      {"2x2 stride 2 padding 1", 3, 6, 6, 2, 2, 1},
      {"16x16 stride 3 padding 8 (256 positions)", 2, 20, 19, 16, 3, 8},
  };
  for (const PoolCase& c : cases) {
    check<float, std::uint8_t>(c);
    check<double, std::uint8_t>(c);
    check<float, std::int64_t>(c);
  }
  // windows past uint8_t's 256 positions
  check<float, std::int64_t>({"17x17 stride 2 padding 3", 2, 21, 23, 17, 2, 3});
  check<double, std::int64_t>({"17x17 stride 2 padding 3", 2, 21, 23, 17, 2, 3});
}

}  // namespace
}  // namespace descent
