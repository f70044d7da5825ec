// Layer normalization (Ba, Kiros & Hinton, "Layer Normalization", 2016), as
// https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html (biased variance).
// Rows are split across threads; dweight/dbias, sums over rows, are a second pass split
// over column blocks so that each thread owns its outputs (no atomics, deterministic).
#include "descent/kernels/layer_norm.hpp"

#include <algorithm>
#include <cmath>

namespace descent::kernels {
namespace {

constexpr std::int64_t kParallelThreshold = 32768;
constexpr std::int64_t kColumnBlock = 256;

}  // namespace

template <typename T>
void layer_norm_forward(std::int64_t R, std::int64_t D, const T* x, const T* weight, const T* bias,
                        double eps, T* y, T* mean, T* invstd) {
#pragma omp parallel for if (R * D > kParallelThreshold)
  for (std::int64_t r = 0; r < R; ++r) {
    const T* row = x + r * D;
    T* out = y + r * D;
    // row mean
    double total = 0;
#pragma omp simd reduction(+ : total)
    for (std::int64_t j = 0; j < D; ++j) total += double(row[j]);
    const double mu = total / static_cast<double>(D);
    // biased row variance, around the mean (two passes; the row is in cache)
    double squares = 0;
#pragma omp simd reduction(+ : squares)
    for (std::int64_t j = 0; j < D; ++j) {
      const double d = double(row[j]) - mu;
      squares += d * d;
    }
    const double inv = 1.0 / std::sqrt(squares / static_cast<double>(D) + eps);
    mean[r] = static_cast<T>(mu);
    invstd[r] = static_cast<T>(inv);
    const T centre = static_cast<T>(mu);
    const T scale = static_cast<T>(inv);
    // y = xhat * weight + bias (the affine conditions are loop-invariant: unswitched)
#pragma omp simd
    for (std::int64_t j = 0; j < D; ++j) {
      out[j] = (row[j] - centre) * scale * (weight != nullptr ? weight[j] : T(1)) +
               (bias != nullptr ? bias[j] : T(0));
    }
  }
}

template <typename T>
void layer_norm_backward(std::int64_t R, std::int64_t D, const T* dy, const T* x, const T* weight,
                         const T* mean, const T* invstd, T* dx, T* dweight, T* dbias) {
  if (dx != nullptr) {
#pragma omp parallel for if (R * D > kParallelThreshold)
    for (std::int64_t r = 0; r < R; ++r) {
      const T* g = dy + r * D;
      const T* row = x + r * D;
      const T centre = mean[r];
      const T scale = invstd[r];
      // g_hat = dy * weight, the gradient of xhat; sums of g_hat and g_hat * xhat
      double sum_g = 0;
      double sum_g_xhat = 0;
#pragma omp simd reduction(+ : sum_g, sum_g_xhat)
      for (std::int64_t j = 0; j < D; ++j) {
        const double g_hat = double(g[j]) * (weight != nullptr ? double(weight[j]) : 1.0);
        sum_g += g_hat;
        sum_g_xhat += g_hat * double((row[j] - centre) * scale);
      }
      // dx = invstd * (g_hat - mean(g_hat) - xhat * mean(g_hat * xhat))
      const T mean_g = static_cast<T>(sum_g / static_cast<double>(D));
      const T mean_g_xhat = static_cast<T>(sum_g_xhat / static_cast<double>(D));
      T* out = dx + r * D;
#pragma omp simd
      for (std::int64_t j = 0; j < D; ++j) {
        const T g_hat = g[j] * (weight != nullptr ? weight[j] : T(1));
        const T xhat = (row[j] - centre) * scale;
        out[j] = scale * (g_hat - mean_g - xhat * mean_g_xhat);
      }
    }
  }
  if (dweight == nullptr && dbias == nullptr) return;
  const std::int64_t blocks = (D + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for if (R * D > kParallelThreshold)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t j0 = b * kColumnBlock;
    const std::int64_t j1 = std::min(D, j0 + kColumnBlock);
    double sum_w[kColumnBlock] = {};
    double sum_b[kColumnBlock] = {};
    for (std::int64_t r = 0; r < R; ++r) {
      const T* g = dy + r * D;
      const T* row = x + r * D;
      const double centre = double(mean[r]);
      const double scale = double(invstd[r]);
#pragma omp simd
      for (std::int64_t j = j0; j < j1; ++j) {
        sum_w[j - j0] += double(g[j]) * (double(row[j]) - centre) * scale;
        sum_b[j - j0] += double(g[j]);
      }
    }
    for (std::int64_t j = j0; j < j1; ++j) {
      if (dweight != nullptr) dweight[j] = static_cast<T>(sum_w[j - j0]);
      if (dbias != nullptr) dbias[j] = static_cast<T>(sum_b[j - j0]);
    }
  }
}

template void layer_norm_forward<float>(std::int64_t, std::int64_t, const float*, const float*,
                                        const float*, double, float*, float*, float*);
template void layer_norm_forward<double>(std::int64_t, std::int64_t, const double*, const double*,
                                         const double*, double, double*, double*, double*);
template void layer_norm_backward<float>(std::int64_t, std::int64_t, const float*, const float*,
                                         const float*, const float*, const float*, float*, float*,
                                         float*);
template void layer_norm_backward<double>(std::int64_t, std::int64_t, const double*, const double*,
                                          const double*, const double*, const double*, double*,
                                          double*, double*);

}  // namespace descent::kernels
