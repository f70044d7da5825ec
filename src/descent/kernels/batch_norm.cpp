// Batch normalization (Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network
// Training by Reducing Internal Covariate Shift", 2015), with PyTorch's conventions
// (https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html): biased variance
// to normalize, unbiased variance in running_var, running = (1 - m) running + m batch.
//
// Work is split over channels. For (N, C, S) with S > 1 a block is one channel, whose N
// segments of S values are contiguous; for (N, C) a block is kRowBlock adjacent channels,
// so that each row is read with unit stride and the loops run across channels in SIMD.
// The mean and variance take two passes (the second over data still in cache) rather than
// sum and sum of squares, whose difference cancels when |mean| >> std.
#include "descent/kernels/batch_norm.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "descent/core/half.hpp"
#include "descent/core/parallel.hpp"

namespace descent::kernels {
namespace {

constexpr std::int64_t kParallelThreshold = 32768;
constexpr std::int64_t kRowBlock = 64;

// The saved input as a number: exact for every X (f32, f64, and the 16-bit copies, whose
// widening to f32 is exact). Both 16-bit ones are branch-free, so that the loops reading
// them vectorize as the f32 ones do (and give the f32 kernel's result on the widened x).
inline double widen(float v) {
  return v;
}
inline double widen(double v) {
  return v;
}
inline double widen(BFloat16 v) {
  return float_from_bf16_bits(v.bits);
}
// f16: the exponent and mantissa moved to f32's places read as 2^(e - 127) 1.m (or, for a
// subnormal, as an f32 subnormal), which times 2^112 is the f16 value 2^(e - 15) 1.m,
// exactly; Inf and NaN (e = 31) take f32's all-ones exponent, a NaN made quiet: the bits of
// core/half.hpp's float_from_f16_bits for all 65536 inputs. Selected by masks, not a
// branch, so that the loops still vectorize.
inline double widen(Half v) {
  const std::uint32_t bits = v.bits;
  const std::uint32_t magnitude = (bits & 0x7FFFu) << 13;
  const std::uint32_t sign = (bits & 0x8000u) << 16;
  const std::uint32_t finite =
      std::bit_cast<std::uint32_t>(std::bit_cast<float>(magnitude) * 0x1p112f);
  const std::uint32_t special_mask = 0u - static_cast<std::uint32_t>(magnitude >= 0x0F800000u);
  const std::uint32_t quiet = static_cast<std::uint32_t>(magnitude > 0x0F800000u) << 22;
  const std::uint32_t special = magnitude | 0x7F800000u | quiet;
  return std::bit_cast<float>((special & special_mask) | (finite & ~special_mask) | sign);
}

// Runs body(c0, c1) over blocks of channels, in parallel.
template <typename F>
void for_channel_blocks(const BatchNormGeometry& g, F body) {
  const std::int64_t block = g.S == 1 ? kRowBlock : 1;
  const std::int64_t blocks = (g.C + block - 1) / block;
  const bool parallel = g.N * g.C * g.S > kParallelThreshold;
  parallel_for_if(parallel, blocks,
                  [=](std::int64_t b) { body(b * block, std::min(g.C, (b + 1) * block)); });
}

// Sums in double with kSumLanes independent partial sums: a single running sum is bound by
// the latency of its additions (about 1.3 elements per cycle), not by memory.
constexpr int kSumLanes = 16;

// sum[c - c0] = sum over channel c's elements of (v - centre[c - c0]) ^ power, power 1 or 2.
template <int power, typename T>
void channel_sums(const BatchNormGeometry& g, const T* v, std::int64_t c0, std::int64_t c1,
                  const double* centre, double* sum) {
  auto term = [](double d) { return power == 1 ? d : d * d; };
  if (g.S == 1) {
    std::fill(sum, sum + (c1 - c0), 0.0);
    for (std::int64_t n = 0; n < g.N; ++n) {
      const T* row = v + n * g.C;
#pragma omp simd
      for (std::int64_t c = c0; c < c1; ++c) sum[c - c0] += term(double(row[c]) - centre[c - c0]);
    }
    return;
  }
  const double mu = centre[0];
  double partial[kSumLanes] = {};
  double total = 0;
  for (std::int64_t n = 0; n < g.N; ++n) {
    const T* segment = v + (n * g.C + c0) * g.S;
    std::int64_t s = 0;
    for (; s + kSumLanes <= g.S; s += kSumLanes) {
#pragma omp simd
      for (int k = 0; k < kSumLanes; ++k) partial[k] += term(double(segment[s + k]) - mu);
    }
    for (; s < g.S; ++s) total += term(double(segment[s]) - mu);
  }
  for (double p : partial) total += p;
  sum[0] = total;
}

// sum_dy[c - c0] = sum of dy, sum_dy_xmu[c - c0] = sum of dy * (x - mean[c]), one pass.
template <typename T, typename X>
void gradient_sums(const BatchNormGeometry& g, const T* dy, const X* x, const T* mean,
                   std::int64_t c0, std::int64_t c1, double* sum_dy, double* sum_dy_xmu) {
  if (g.S == 1) {
    std::fill(sum_dy, sum_dy + (c1 - c0), 0.0);
    std::fill(sum_dy_xmu, sum_dy_xmu + (c1 - c0), 0.0);
    for (std::int64_t n = 0; n < g.N; ++n) {
      const T* dy_row = dy + n * g.C;
      const X* x_row = x + n * g.C;
#pragma omp simd
      for (std::int64_t c = c0; c < c1; ++c) {
        sum_dy[c - c0] += double(dy_row[c]);
        sum_dy_xmu[c - c0] += double(dy_row[c]) * (widen(x_row[c]) - double(mean[c]));
      }
    }
    return;
  }
  const double mu = double(mean[c0]);
  double partial_dy[kSumLanes] = {};
  double partial_dy_xmu[kSumLanes] = {};
  double total_dy = 0;
  double total_dy_xmu = 0;
  for (std::int64_t n = 0; n < g.N; ++n) {
    const T* dy_segment = dy + (n * g.C + c0) * g.S;
    const X* x_segment = x + (n * g.C + c0) * g.S;
    std::int64_t s = 0;
    for (; s + kSumLanes <= g.S; s += kSumLanes) {
#pragma omp simd
      for (int k = 0; k < kSumLanes; ++k) {
        partial_dy[k] += double(dy_segment[s + k]);
        partial_dy_xmu[k] += double(dy_segment[s + k]) * (widen(x_segment[s + k]) - mu);
      }
    }
    for (; s < g.S; ++s) {
      total_dy += double(dy_segment[s]);
      total_dy_xmu += double(dy_segment[s]) * (widen(x_segment[s]) - mu);
    }
  }
  for (int k = 0; k < kSumLanes; ++k) {
    total_dy += partial_dy[k];
    total_dy_xmu += partial_dy_xmu[k];
  }
  sum_dy[0] = total_dy;
  sum_dy_xmu[0] = total_dy_xmu;
}

// out = (in - centre) * a + b per channel (centre, a, b indexed by c - c0).
template <typename T>
void channel_affine(const BatchNormGeometry& g, const T* in, std::int64_t c0, std::int64_t c1,
                    const T* centre, const T* a, const T* b, T* out) {
  if (g.S == 1) {
    for (std::int64_t n = 0; n < g.N; ++n) {
      const T* row = in + n * g.C;
      T* out_row = out + n * g.C;
#pragma omp simd
      for (std::int64_t c = c0; c < c1; ++c) {
        out_row[c] = (row[c] - centre[c - c0]) * a[c - c0] + b[c - c0];
      }
    }
    return;
  }
  for (std::int64_t n = 0; n < g.N; ++n) {
    const T* segment = in + (n * g.C + c0) * g.S;
    T* out_segment = out + (n * g.C + c0) * g.S;
#pragma omp simd
    for (std::int64_t s = 0; s < g.S; ++s) {
      out_segment[s] = (segment[s] - centre[0]) * a[0] + b[0];
    }
  }
}

// dx = dy * scale + (x - mean) * coef + shift per channel (indexed by c - c0).
template <typename T, typename X>
void training_dx(const BatchNormGeometry& g, const T* dy, const X* x, std::int64_t c0,
                 std::int64_t c1, const T* mean, const T* scale, const T* coef, const T* shift,
                 T* dx) {
  if (g.S == 1) {
    for (std::int64_t n = 0; n < g.N; ++n) {
      const std::int64_t row = n * g.C;
#pragma omp simd
      for (std::int64_t c = c0; c < c1; ++c) {
        const std::int64_t k = c - c0;
        dx[row + c] =
            dy[row + c] * scale[k] + (T(widen(x[row + c])) - mean[k]) * coef[k] + shift[k];
      }
    }
    return;
  }
  for (std::int64_t n = 0; n < g.N; ++n) {
    const std::int64_t base = (n * g.C + c0) * g.S;
#pragma omp simd
    for (std::int64_t s = 0; s < g.S; ++s) {
      dx[base + s] =
          dy[base + s] * scale[0] + (T(widen(x[base + s])) - mean[0]) * coef[0] + shift[0];
    }
  }
}

}  // namespace

template <typename T>
void batch_norm_forward_training(const BatchNormGeometry& g, const T* x, const T* weight,
                                 const T* bias, const BatchNormParams& params, T* running_mean,
                                 T* running_var, T* y, T* mean, T* invstd) {
  const double M = static_cast<double>(g.N * g.S);
  for_channel_blocks(g, [&](std::int64_t c0, std::int64_t c1) {
    const std::int64_t width = c1 - c0;
    double zero[kRowBlock] = {};
    double centre[kRowBlock] = {};
    double sum[kRowBlock];
    // batch mean
    channel_sums<1>(g, x, c0, c1, zero, sum);
    for (std::int64_t k = 0; k < width; ++k) centre[k] = sum[k] / M;
    // biased batch variance, around the mean
    channel_sums<2>(g, x, c0, c1, centre, sum);
    T centre_t[kRowBlock];
    T scale[kRowBlock];
    T shift[kRowBlock];
    for (std::int64_t k = 0; k < width; ++k) {
      const std::int64_t c = c0 + k;
      const double var = sum[k] / M;
      const double inv = 1.0 / std::sqrt(var + params.eps);
      mean[c] = centre_t[k] = static_cast<T>(centre[k]);
      invstd[c] = static_cast<T>(inv);
      scale[k] = static_cast<T>(weight != nullptr ? double(weight[c]) * inv : inv);
      shift[k] = bias != nullptr ? bias[c] : T(0);
      if (running_mean != nullptr) {
        running_mean[c] = static_cast<T>((1.0 - params.momentum) * double(running_mean[c]) +
                                         params.momentum * centre[k]);
      }
      if (running_var != nullptr) {
        const double unbiased = M > 1 ? var * M / (M - 1) : var;
        running_var[c] = static_cast<T>((1.0 - params.momentum) * double(running_var[c]) +
                                        params.momentum * unbiased);
      }
    }
    // y = (x - mean) * invstd * weight + bias
    channel_affine(g, x, c0, c1, centre_t, scale, shift, y);
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
    channel_affine(g, x, c0, c1, mean + c0, scale, shift, y);
  });
}

template <typename T, typename X>
void batch_norm_backward(const BatchNormGeometry& g, const T* dy, const X* x, const T* weight,
                         const T* mean, const T* invstd, bool training, T* dx, T* dweight,
                         T* dbias) {
  const double M = static_cast<double>(g.N * g.S);
  const bool need_sums = (training && dx != nullptr) || dweight != nullptr || dbias != nullptr;
  for_channel_blocks(g, [&](std::int64_t c0, std::int64_t c1) {
    const std::int64_t width = c1 - c0;
    double sum_dy[kRowBlock];
    double sum_dy_xmu[kRowBlock];  // sum of dy * (x - mean)
    if (need_sums) gradient_sums(g, dy, x, mean, c0, c1, sum_dy, sum_dy_xmu);
    for (std::int64_t k = 0; k < width; ++k) {
      const std::int64_t c = c0 + k;
      if (dweight != nullptr) dweight[c] = static_cast<T>(sum_dy_xmu[k] * double(invstd[c]));
      if (dbias != nullptr) dbias[c] = static_cast<T>(sum_dy[k]);
    }
    if (dx == nullptr) return;
    T scale[kRowBlock];
    T zero[kRowBlock] = {};
    for (std::int64_t k = 0; k < width; ++k) {
      const std::int64_t c = c0 + k;
      // term 1, the direct path: dy * weight * invstd
      scale[k] = static_cast<T>((weight != nullptr ? double(weight[c]) : 1.0) * double(invstd[c]));
    }
    if (!training) {
      channel_affine(g, dy, c0, c1, zero, scale, zero, dx);
      return;
    }
    T coef[kRowBlock];
    T shift[kRowBlock];
    for (std::int64_t k = 0; k < width; ++k) {
      const double inv = double(invstd[c0 + k]);
      // term 2, through the mean: -weight * invstd * mean(dy)
      shift[k] = static_cast<T>(-double(scale[k]) * sum_dy[k] / M);
      // term 3, through the variance: -weight * invstd^3 * (x - mean) * mean(dy * (x - mean))
      coef[k] = static_cast<T>(-double(scale[k]) * inv * inv * sum_dy_xmu[k] / M);
    }
    // dx = term 1 + term 2 + term 3
    training_dx(g, dy, x, c0, c1, mean + c0, scale, coef, shift, dx);
  });
}

#define DESCENT_BATCH_NORM_INSTANTIATE(T)                                                          \
  template void batch_norm_forward_training<T>(const BatchNormGeometry&, const T*, const T*,       \
                                               const T*, const BatchNormParams&, T*, T*, T*, T*,   \
                                               T*);                                                \
  template void batch_norm_forward_eval<T>(const BatchNormGeometry&, const T*, const T*, const T*, \
                                           const T*, const T*, double, T*, T*, T*);                \
  template void batch_norm_backward<T, T>(const BatchNormGeometry&, const T*, const T*, const T*,  \
                                          const T*, const T*, bool, T*, T*, T*);
DESCENT_BATCH_NORM_INSTANTIATE(float)
DESCENT_BATCH_NORM_INSTANTIATE(double)
#undef DESCENT_BATCH_NORM_INSTANTIATE
template void batch_norm_backward<float, BFloat16>(const BatchNormGeometry&, const float*,
                                                   const BFloat16*, const float*, const float*,
                                                   const float*, bool, float*, float*, float*);
template void batch_norm_backward<float, Half>(const BatchNormGeometry&, const float*, const Half*,
                                               const float*, const float*, const float*, bool,
                                               float*, float*, float*);

}  // namespace descent::kernels
