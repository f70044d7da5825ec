// Batch normalization (Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network
// Training by Reducing Internal Covariate Shift", 2015), with PyTorch's conventions
// (https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html): biased variance
// to normalize, unbiased variance in running_var, running = (1 - m) running + m batch.
//
// Work is split over channels. For (N, C, S) with S > 1, one channel is a block and each of
// its N segments is contiguous; for (N, C) a block is kRowBlock adjacent channels, so that
// each row is read with unit stride and the loop runs across channels in SIMD.
// The mean and variance take two passes (the second over data still in cache) rather than
// sum and sum of squares, whose difference cancels when |mean| >> std.
#include "descent/kernels/batch_norm.hpp"

#include <algorithm>
#include <cmath>

namespace descent::kernels {
namespace {

constexpr std::int64_t kParallelThreshold = 32768;
constexpr std::int64_t kRowBlock = 64;

struct Pair {
  double a;
  double b;
};

// Runs body(c0, c1) over blocks of channels, in parallel.
template <typename F>
void for_channel_blocks(const BatchNormGeometry& g, F body) {
  const std::int64_t block = g.S == 1 ? kRowBlock : 1;
  const std::int64_t blocks = (g.C + block - 1) / block;
#pragma omp parallel for schedule(static) if (g.N * g.C * g.S > kParallelThreshold)
  for (std::int64_t b = 0; b < blocks; ++b) body(b * block, std::min(g.C, (b + 1) * block));
}

// sum_a[c - c0], sum_b[c - c0] = sums of f(i, c) = {a, b} over the elements i of channel c,
// for the channels c in [c0, c1).
template <typename F>
void channel_sums(const BatchNormGeometry& g, std::int64_t c0, std::int64_t c1, F f, double* sum_a,
                  double* sum_b) {
  if (g.S == 1) {
    std::fill(sum_a, sum_a + (c1 - c0), 0.0);
    std::fill(sum_b, sum_b + (c1 - c0), 0.0);
    for (std::int64_t n = 0; n < g.N; ++n) {
#pragma omp simd
      for (std::int64_t c = c0; c < c1; ++c) {
        const Pair v = f(n * g.C + c, c);
        sum_a[c - c0] += v.a;
        sum_b[c - c0] += v.b;
      }
    }
    return;
  }
  double a = 0;
  double b = 0;
  for (std::int64_t n = 0; n < g.N; ++n) {
    const std::int64_t base = (n * g.C + c0) * g.S;
#pragma omp simd reduction(+ : a, b)
    for (std::int64_t s = 0; s < g.S; ++s) {
      const Pair v = f(base + s, c0);
      a += v.a;
      b += v.b;
    }
  }
  sum_a[0] = a;
  sum_b[0] = b;
}

// Calls f(i, c) for the elements i of the channels c in [c0, c1).
template <typename F>
void channel_map(const BatchNormGeometry& g, std::int64_t c0, std::int64_t c1, F f) {
  if (g.S == 1) {
    for (std::int64_t n = 0; n < g.N; ++n) {
#pragma omp simd
      for (std::int64_t c = c0; c < c1; ++c) f(n * g.C + c, c);
    }
    return;
  }
  for (std::int64_t n = 0; n < g.N; ++n) {
    const std::int64_t base = (n * g.C + c0) * g.S;
#pragma omp simd
    for (std::int64_t s = 0; s < g.S; ++s) f(base + s, c0);
  }
}

}  // namespace

template <typename T>
void batch_norm_forward_training(const BatchNormGeometry& g, const T* x, const T* weight,
                                 const T* bias, const BatchNormParams& params, T* running_mean,
                                 T* running_var, T* y, T* mean, T* invstd) {
  const double M = static_cast<double>(g.N * g.S);
  for_channel_blocks(g, [&](std::int64_t c0, std::int64_t c1) {
    double sum[kRowBlock];
    double unused[kRowBlock];
    T scale[kRowBlock];
    T shift[kRowBlock];
    double centre_exact[kRowBlock];
    T centre[kRowBlock];
    // batch mean
    channel_sums(
        g, c0, c1,
        [&](std::int64_t i, std::int64_t) {
          return Pair{double(x[i]), 0.0};
        },
        sum, unused);
    for (std::int64_t c = c0; c < c1; ++c) {
      centre_exact[c - c0] = sum[c - c0] / M;
      centre[c - c0] = static_cast<T>(centre_exact[c - c0]);
    }
    // biased batch variance
    channel_sums(
        g, c0, c1,
        [&](std::int64_t i, std::int64_t c) {
          const double d = double(x[i]) - centre_exact[c - c0];
          return Pair{d * d, 0.0};
        },
        sum, unused);
    for (std::int64_t c = c0; c < c1; ++c) {
      const double var = sum[c - c0] / M;
      const double inv = 1.0 / std::sqrt(var + params.eps);
      mean[c] = centre[c - c0];
      invstd[c] = static_cast<T>(inv);
      scale[c - c0] = static_cast<T>(weight != nullptr ? double(weight[c]) * inv : inv);
      shift[c - c0] = bias != nullptr ? bias[c] : T(0);
      if (running_mean != nullptr) {
        running_mean[c] = static_cast<T>((1.0 - params.momentum) * double(running_mean[c]) +
                                         params.momentum * centre_exact[c - c0]);
      }
      if (running_var != nullptr) {
        const double unbiased = M > 1 ? var * M / (M - 1) : var;
        running_var[c] = static_cast<T>((1.0 - params.momentum) * double(running_var[c]) +
                                        params.momentum * unbiased);
      }
    }
    // y = (x - mean) * invstd * weight + bias
    channel_map(g, c0, c1, [&](std::int64_t i, std::int64_t c) {
      y[i] = (x[i] - centre[c - c0]) * scale[c - c0] + shift[c - c0];
    });
  });
}

template <typename T>
void batch_norm_forward_eval(const BatchNormGeometry& g, const T* x, const T* weight, const T* bias,
                             const T* running_mean, const T* running_var, double eps, T* y, T* mean,
                             T* invstd) {
  for_channel_blocks(g, [&](std::int64_t c0, std::int64_t c1) {
    T scale[kRowBlock];
    T shift[kRowBlock];
    for (std::int64_t c = c0; c < c1; ++c) {
      const double inv = 1.0 / std::sqrt(double(running_var[c]) + eps);
      mean[c] = running_mean[c];
      invstd[c] = static_cast<T>(inv);
      scale[c - c0] = static_cast<T>(weight != nullptr ? double(weight[c]) * inv : inv);
      shift[c - c0] = bias != nullptr ? bias[c] : T(0);
    }
    // y = (x - running_mean) * invstd * weight + bias
    channel_map(g, c0, c1, [&](std::int64_t i, std::int64_t c) {
      y[i] = (x[i] - mean[c]) * scale[c - c0] + shift[c - c0];
    });
  });
}

template <typename T>
void batch_norm_backward(const BatchNormGeometry& g, const T* dy, const T* x, const T* weight,
                         const T* mean, const T* invstd, bool training, T* dx, T* dweight,
                         T* dbias) {
  const double M = static_cast<double>(g.N * g.S);
  const bool need_sums = (training && dx != nullptr) || dweight != nullptr || dbias != nullptr;
  for_channel_blocks(g, [&](std::int64_t c0, std::int64_t c1) {
    double sum_dy[kRowBlock];
    double sum_dy_xmu[kRowBlock];  // sum of dy * (x - mean)
    if (need_sums) {
      channel_sums(
          g, c0, c1,
          [&](std::int64_t i, std::int64_t c) {
            const double d = double(dy[i]);
            return Pair{d, d * (double(x[i]) - double(mean[c]))};
          },
          sum_dy, sum_dy_xmu);
    }
    for (std::int64_t c = c0; c < c1; ++c) {
      if (dweight != nullptr) dweight[c] = static_cast<T>(sum_dy_xmu[c - c0] * double(invstd[c]));
      if (dbias != nullptr) dbias[c] = static_cast<T>(sum_dy[c - c0]);
    }
    if (dx == nullptr) return;
    T scale[kRowBlock];
    T coef[kRowBlock];
    T shift[kRowBlock];
    for (std::int64_t c = c0; c < c1; ++c) {
      const double inv = double(invstd[c]);
      // term 1, the direct path: dy * weight * invstd
      const double direct = (weight != nullptr ? double(weight[c]) : 1.0) * inv;
      scale[c - c0] = static_cast<T>(direct);
      coef[c - c0] = T(0);
      shift[c - c0] = T(0);
      if (training) {
        // term 2, through the mean: -weight * invstd * mean(dy)
        shift[c - c0] = static_cast<T>(-direct * sum_dy[c - c0] / M);
        // term 3, through the variance: -weight * invstd^3 * (x - mean) * mean(dy * (x - mean))
        coef[c - c0] = static_cast<T>(-direct * inv * inv * sum_dy_xmu[c - c0] / M);
      }
    }
    if (training) {
      channel_map(g, c0, c1, [&](std::int64_t i, std::int64_t c) {
        dx[i] = dy[i] * scale[c - c0] + (x[i] - mean[c]) * coef[c - c0] + shift[c - c0];
      });
    } else {
      channel_map(g, c0, c1,
                  [&](std::int64_t i, std::int64_t c) { dx[i] = dy[i] * scale[c - c0]; });
    }
  });
}

#define DESCENT_BATCH_NORM_INSTANTIATE(T)                                                          \
  template void batch_norm_forward_training<T>(const BatchNormGeometry&, const T*, const T*,       \
                                               const T*, const BatchNormParams&, T*, T*, T*, T*,   \
                                               T*);                                                \
  template void batch_norm_forward_eval<T>(const BatchNormGeometry&, const T*, const T*, const T*, \
                                           const T*, const T*, double, T*, T*, T*);                \
  template void batch_norm_backward<T>(const BatchNormGeometry&, const T*, const T*, const T*,     \
                                       const T*, const T*, bool, T*, T*, T*);
DESCENT_BATCH_NORM_INSTANTIATE(float)
DESCENT_BATCH_NORM_INSTANTIATE(double)
#undef DESCENT_BATCH_NORM_INSTANTIATE

}  // namespace descent::kernels
