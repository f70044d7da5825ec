// Layer normalization (Ba, Kiros & Hinton, "Layer Normalization", 2016), as
// https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html (biased variance).
// Rows are split across threads; the backward is one pass, each thread summing dweight and
// dbias over its own rows, the partial sums then added in thread order (no atomics,
// deterministic for a given thread count).
#include "descent/kernels/layer_norm.hpp"

#include <algorithm>
#include <cmath>

#include "descent/core/parallel.hpp"
#include "descent/kernels/workspace.hpp"

namespace descent::kernels {
namespace {

constexpr std::int64_t kParallelThreshold = 32768;

// One row of the input gradient; weight_of(j) is the affine weight (or 1).
//   g_hat = dy * weight, the gradient of xhat
//   dx = invstd * (g_hat - mean(g_hat) - xhat * mean(g_hat * xhat))
template <typename T, typename WeightOf>
void row_dx(std::int64_t D, const T* dy, const T* x, T centre, T scale, WeightOf weight_of, T* dx) {
  double sum_g = 0;
  double sum_g_xhat = 0;
#pragma omp simd reduction(+ : sum_g, sum_g_xhat)
  for (std::int64_t j = 0; j < D; ++j) {
    const double g_hat = double(dy[j]) * double(weight_of(j));
    sum_g += g_hat;
    sum_g_xhat += g_hat * double((x[j] - centre) * scale);
  }
  const T mean_g = static_cast<T>(sum_g / static_cast<double>(D));
  const T mean_g_xhat = static_cast<T>(sum_g_xhat / static_cast<double>(D));
#pragma omp simd
  for (std::int64_t j = 0; j < D; ++j) {
    const T xhat = (x[j] - centre) * scale;
    dx[j] = scale * (dy[j] * weight_of(j) - mean_g - xhat * mean_g_xhat);
  }
}

}  // namespace

template <typename T>
void layer_norm_forward(std::int64_t R, std::int64_t D, const T* x, const T* weight, const T* bias,
                        double eps, T* y, T* mean, T* invstd) {
  parallel_for_if(R * D > kParallelThreshold, R, [=](std::int64_t r) {
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
  });
}

template <typename T>
void layer_norm_backward(std::int64_t R, std::int64_t D, const T* dy, const T* x, const T* weight,
                         const T* mean, const T* invstd, T* dx, T* dweight, T* dbias) {
  const bool affine_grads = dweight != nullptr || dbias != nullptr;
  const int threads = R * D > kParallelThreshold ? parallel_threads() : 1;
  // per thread: partial sums over its rows of dy * xhat (D) and dy (D)
  Workspace<double> partials(affine_grads ? 2 * D * threads : 0);
  // row r: its dx, and its dy * xhat and dy added to the thread's sum_w and sum_b
  auto backward_row = [=](std::int64_t r, double* sum_w, double* sum_b) {
    const T* g = dy + r * D;
    const T* row = x + r * D;
    const T centre = mean[r];
    const T scale = invstd[r];
    if (affine_grads) {
#pragma omp simd
      for (std::int64_t j = 0; j < D; ++j) {
        sum_w[j] += double(g[j]) * double((row[j] - centre) * scale);
        sum_b[j] += double(g[j]);
      }
    }
    if (dx == nullptr) return;
    T* out = dx + r * D;
    if (weight != nullptr) {
      row_dx(
          D, g, row, centre, scale, [weight](std::int64_t j) { return weight[j]; }, out);
    } else {
      row_dx(
          D, g, row, centre, scale, [](std::int64_t) { return T(1); }, out);
    }
  };
  int used = 1;
  on_threads(threads, [&](int t, int nt) {
    if (t == 0) used = nt;
    double* sum_w = partials.get() + 2 * D * t;
    double* sum_b = sum_w + D;
    if (affine_grads) std::fill(sum_w, sum_w + 2 * D, 0.0);
    const auto [begin, end] = share_of(R, t, nt);
    for (std::int64_t r = begin; r < end; ++r) backward_row(r, sum_w, sum_b);
  });
  if (!affine_grads) return;
  // add the partials in thread order (deterministic for a given thread count)
  for (std::int64_t j = 0; j < D; ++j) {
    double total_w = 0;
    double total_b = 0;
    for (int t = 0; t < used; ++t) {
      total_w += partials.get()[2 * D * t + j];
      total_b += partials.get()[2 * D * t + D + j];
    }
    if (dweight != nullptr) dweight[j] = static_cast<T>(total_w);
    if (dbias != nullptr) dbias[j] = static_cast<T>(total_b);
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
