#include "descent/clip/clip.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "descent/core/parallel.hpp"

namespace descent::clip {
namespace {

constexpr std::int64_t kChunk = 4096;

// sum |x|^p (or max |x| when p is infinite) over x, chunk by chunk in order.
template <typename T>
double power_sum(const T* x, std::int64_t n, double p) {
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  // (chunks) partial sums, from the caching allocator (no heap allocation per step)
  const Tensor partials = empty({chunks}, DType::f64);
  double* partial = partials.data<double>();
  const bool is_inf = std::isinf(p);
  const bool is_two = p == 2.0;
  parallel_for_if(n > 65536, chunks, [=](std::int64_t c) {
    const std::int64_t begin = c * kChunk;
    const std::int64_t end = std::min(n, begin + kChunk);
    double acc = 0;
    if (is_inf) {
      for (std::int64_t i = begin; i < end; ++i) {
        const double a = std::abs(static_cast<double>(x[i]));
        acc = (a > acc || std::isnan(a)) ? a : acc;
      }
    } else if (is_two) {
#pragma omp simd reduction(+ : acc)
      for (std::int64_t i = begin; i < end; ++i) acc += static_cast<double>(x[i]) * x[i];
    } else {
      for (std::int64_t i = begin; i < end; ++i)
        acc += std::pow(std::abs(static_cast<double>(x[i])), p);
    }
    partial[c] = acc;
  });
  double total = 0;
  for (std::int64_t c = 0; c < chunks; ++c) {
    const double v = partial[c];
    total = is_inf ? ((v > total || std::isnan(v)) ? v : total) : total + v;
  }
  return total;
}

double tensor_power_sum(const Tensor& t, double p) {
  return dispatch_float(t.dtype(), "clip",
                        [&]<typename T>() { return power_sum(t.data<T>(), t.numel(), p); });
}

void scale_in_place(const Tensor& t, double factor) {
  const std::int64_t n = t.numel();
  dispatch_float(t.dtype(), "clip", [&]<typename T>() {
    T* x = t.data<T>();
    const T f = static_cast<T>(factor);
    parallel_simd_if(n > 65536, n, [=](std::int64_t i) { x[i] *= f; });
  });
}

}  // namespace

double grad_norm(std::span<const Tensor> params, double norm_type) {
  DESCENT_CHECK(norm_type > 0 || std::isinf(norm_type),
                "grad_norm: norm_type must be > 0 or infinity, got ", norm_type);
  const bool is_inf = std::isinf(norm_type);
  double total = 0;
  for (const Tensor& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    const double s = tensor_power_sum(p.grad(), norm_type);
    total = is_inf ? ((s > total || std::isnan(s)) ? s : total) : total + s;
  }
  return is_inf ? total : std::pow(total, 1.0 / norm_type);
}

ClipScale clip_scale(std::span<const Tensor> params, double max_norm, double norm_type,
                     bool error_if_nonfinite) {
  DESCENT_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  const double total = grad_norm(params, norm_type);
  const bool finite = std::isfinite(total);
  DESCENT_CHECK(finite || !error_if_nonfinite, "clip_grad_norm: the total norm of order ",
                norm_type, " of the gradients is ", total,
                " (non-finite); the step cannot be clipped (error_if_nonfinite=true)");
  // PyTorch: clip_coef = max_norm / (total_norm + 1e-6), clamped to at most 1.
  const double scale = std::min(1.0, max_norm / (total + 1e-6));
  return {total, scale, finite};
}

double clip_grad_norm_(std::span<const Tensor> params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  const ClipScale c = clip_scale(params, max_norm, norm_type, error_if_nonfinite);
  // As PyTorch, gradients are multiplied even when the coefficient is 1 or NaN.
  for (const Tensor& p : params) {
    if (p.defined() && p.grad().defined()) scale_in_place(p.grad(), c.scale);
  }
  return c.total_norm;
}

void clip_grad_value_(std::span<const Tensor> params, double clip_value) {
  DESCENT_CHECK(clip_value >= 0, "clip_grad_value: clip_value must be >= 0, got ", clip_value);
  for (const Tensor& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    Tensor g = p.grad();
    const std::int64_t n = g.numel();
    dispatch_float(g.dtype(), "clip_grad_value", [&]<typename T>() {
      T* x = g.data<T>();
      const T hi = static_cast<T>(clip_value);
      parallel_simd_if(n > 65536, n, [=](std::int64_t i) { x[i] = std::clamp(x[i], -hi, hi); });
    });
  }
}

void adaptive_clip_grad_(std::span<const Tensor> params, double clipping, double eps) {
  DESCENT_CHECK(clipping > 0, "adaptive_clip_grad: clipping must be > 0, got ", clipping);
  DESCENT_CHECK(eps >= 0, "adaptive_clip_grad: eps must be >= 0, got ", eps);
  for (const Tensor& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    Tensor g = p.grad();
    const std::int64_t units = p.dim() <= 1 ? 1 : p.size(0);
    const std::int64_t width = units == 0 ? 0 : p.numel() / units;
    dispatch_float(g.dtype(), "adaptive_clip_grad", [&]<typename T>() {
      const T* w = p.data<T>();
      T* x = g.data<T>();
      parallel_for_if(p.numel() > 65536, units, [=](std::int64_t u) {
        const T* wu = w + u * width;
        T* gu = x + u * width;
        double w_sq = 0;
        double g_sq = 0;
        for (std::int64_t i = 0; i < width; ++i) {
          w_sq += static_cast<double>(wu[i]) * wu[i];
          g_sq += static_cast<double>(gu[i]) * gu[i];
        }
        // max_norm = clipping * max(||w_u||, eps); clip when ||g_u|| exceeds it
        const double max_norm = clipping * std::max(std::sqrt(w_sq), eps);
        const double g_norm = std::sqrt(g_sq);
        if (g_norm > max_norm) {
          const T factor = static_cast<T>(max_norm / std::max(g_norm, 1e-6));
          for (std::int64_t i = 0; i < width; ++i) gu[i] *= factor;
        }
      });
    });
  }
}

}  // namespace descent::clip
