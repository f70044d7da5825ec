#include "descent/ops/loss.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "descent/autograd/autograd.hpp"
#include "descent/core/parallel.hpp"
#include "descent/kernels/vmath.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/reduce.hpp"

namespace descent::ops {
namespace {

constexpr std::int64_t kParallelThreshold = kParallelElements;  // core/parallel.hpp

// Checks input (N, C) against target (N) of class indices and returns the targets as i64
// (the same storage when they already are). Every label must be in [0, C) or ignore_index.
Tensor checked_labels(const Tensor& input, const Tensor& target, std::int64_t ignore_index,
                      const char* op, const char* input_name) {
  DESCENT_CHECK(input.dtype() == DType::f32 || input.dtype() == DType::f64, op, ": expected ",
                input_name, " of f32 or f64, got ", dtype_name(input.dtype()), " ",
                shape_str(input.shape()));
  DESCENT_CHECK(input.dim() == 2, op, ": expected ", input_name, " (N, C), got ",
                shape_str(input.shape()));
  const std::int64_t N = input.size(0);
  const std::int64_t C = input.size(1);
  DESCENT_CHECK(target.dtype() == DType::i64 || target.dtype() == DType::i32, op,
                ": expected target of i64 or i32 class indices, got ", dtype_name(target.dtype()),
                " ", shape_str(target.shape()));
  DESCENT_CHECK(target.dim() == 1 && target.size(0) == N, op, ": expected target (", N, ") for ",
                input_name, " ", shape_str(input.shape()), ", got ", shape_str(target.shape()));
  Tensor labels = target.dtype() == DType::i64 ? target.detach() : target.to(DType::i64);
  const std::int64_t* label = labels.data<std::int64_t>();
  for (std::int64_t i = 0; i < N; ++i) {
    DESCENT_CHECK(label[i] == ignore_index || (label[i] >= 0 && label[i] < C), op, ": target ",
                  label[i], " at position ", i, " is out of range for C = ", C, " classes (",
                  input_name, " ", shape_str(input.shape()), ", ignore_index ", ignore_index, ")");
  }
  return labels;
}

std::int64_t count_valid(const Tensor& labels, std::int64_t ignore_index) {
  const std::int64_t* label = labels.data<std::int64_t>();
  std::int64_t valid = 0;
  for (std::int64_t i = 0; i < labels.numel(); ++i) valid += label[i] != ignore_index;
  return valid;
}

// Per-row losses (N) reduced as asked: summed in row order (deterministic), the mean over
// the rows whose target is not ignored.
// `rows` is (N) f64, from the caching allocator (no heap allocation per step).
Tensor reduce_rows(const Tensor& rows, DType dtype, Reduction reduction, std::int64_t valid) {
  const std::int64_t N = rows.numel();
  const double* losses = rows.data<double>();
  if (reduction == Reduction::none) {
    Tensor out = empty({N}, dtype);
    dispatch_float(dtype, "loss", [&]<typename T>() {
      T* po = out.data<T>();
      for (std::int64_t i = 0; i < N; ++i) po[i] = static_cast<T>(losses[i]);
    });
    return out;
  }
  double total = 0;
  for (std::int64_t i = 0; i < N; ++i) total += losses[i];
  // With every target ignored the mean is 0 / 0 = NaN, as torch.
  if (reduction == Reduction::mean) total /= static_cast<double>(valid);
  Tensor out = empty({}, dtype);
  dispatch_float(dtype, "loss", [&]<typename T>() { *out.data<T>() = static_cast<T>(total); });
  return out;
}

// The factor that multiplies row i's gradient: the output gradient of that row (none), or
// the one scalar gradient, divided by the count of targets for mean.
template <typename T>
T row_scale(const T* grad, std::int64_t i, Reduction reduction, std::int64_t valid) {
  switch (reduction) {
    case Reduction::none:
      return grad[i];
    case Reduction::sum:
      return grad[0];
    case Reduction::mean:
      break;
  }
  return grad[0] / static_cast<T>(valid);
}

}  // namespace

// Cross-entropy with label smoothing, as torch.nn.functional.cross_entropy
// (https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html; smoothing from
// Szegedy et al. 2016, https://arxiv.org/abs/1512.00567). With eps = label_smoothing,
// lse = log sum_c exp(z_c) and a row whose target t is not ignored:
//   nll    = lse - z_t
//   smooth = sum_c (lse - z_c)                   (= -sum_c log_softmax(z)_c)
//   loss   = (1 - eps) nll + (eps / C) smooth
// An ignored row has loss 0; mean divides the sum of both terms by the count of rows not
// ignored (torch's smooth_loss.sum() / (~ignore_mask).sum()).
// The gradient of a row is (softmax(z) - q) * scale, with q the smoothed one-hot target
// q_c = (1 - eps) [c == t] + eps / C.
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options) {
  const double eps = options.label_smoothing;
  DESCENT_CHECK(eps >= 0.0 && eps <= 1.0, "cross_entropy: label_smoothing must be in [0, 1], got ",
                eps, " (logits ", shape_str(logits.shape()), ")");
  const std::int64_t ignore = options.ignore_index;
  const Tensor labels = checked_labels(logits, target, ignore, "cross_entropy", "logits");
  const std::int64_t N = logits.size(0);
  const std::int64_t C = logits.size(1);
  const std::int64_t valid = count_valid(labels, ignore);
  Tensor rows = empty({N}, DType::f64);  // (N), each row's loss
  double* losses = rows.data<double>();
  Tensor lse = empty({N}, logits.dtype());  // (N), log sum exp of each row, for backward
  dispatch_float(logits.dtype(), "cross_entropy", [&]<typename T>() {
    const T* z = logits.data<T>();
    const std::int64_t* label = labels.data<std::int64_t>();
    T* row_lse = lse.data<T>();
    parallel_for_if(N * C > kParallelThreshold, N, [&](std::int64_t i) {
      const T* row = z + i * C;
      T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
      for (std::int64_t c = 0; c < C; ++c) m = row[c] > m ? row[c] : m;
      T exp_sum = 0;
      T shifted_sum = 0;  // sum_c (z_c - m)
      if constexpr (std::is_same_v<T, float>) {
#pragma omp simd reduction(+ : exp_sum, shifted_sum)
        for (std::int64_t c = 0; c < C; ++c) {
          exp_sum += kernels::vmath::exp(row[c] - m);
          shifted_sum += row[c] - m;
        }
      } else {
        // f64's exp is a library call, which costs twice as much inside a vectorized sum:
        // the exps go through a small buffer.
        constexpr std::int64_t kChunk = 256;
        T exps[kChunk];
        for (std::int64_t c0 = 0; c0 < C; c0 += kChunk) {
          const std::int64_t width = std::min(kChunk, C - c0);
          for (std::int64_t j = 0; j < width; ++j) exps[j] = std::exp(row[c0 + j] - m);
#pragma omp simd reduction(+ : exp_sum, shifted_sum)
          for (std::int64_t j = 0; j < width; ++j) {
            exp_sum += exps[j];
            shifted_sum += row[c0 + j] - m;
          }
        }
      }
      const T log_sum = std::log(exp_sum);
      row_lse[i] = m + log_sum;
      if (label[i] == ignore) {
        losses[i] = 0.0;
        return;
      }
      // lse - z_t
      const double nll = static_cast<double>(log_sum) - (row[label[i]] - m);
      // sum_c (lse - z_c) = C log_sum - sum_c (z_c - m)
      const double smooth = static_cast<double>(C) * log_sum - shifted_sum;
      losses[i] = (1.0 - eps) * nll + (eps / static_cast<double>(C)) * smooth;
    });
  });
  Tensor out = reduce_rows(rows, logits.dtype(), options.reduction, valid);
  return autograd::record(
      "cross_entropy", out, {logits},
      [z = logits.detach(), labels, lse, eps, ignore, valid, reduction = options.reduction](
          const Tensor& grad, const autograd::Node&) {
        const std::int64_t N = z.size(0);
        const std::int64_t C = z.size(1);
        Tensor gz = empty_like(z);
        dispatch_float(z.dtype(), "cross_entropy backward", [&]<typename T>() {
          const T* pz = z.data<T>();
          const T* row_lse = lse.data<T>();
          const T* pg = grad.data<T>();
          const std::int64_t* label = labels.data<std::int64_t>();
          T* pd = gz.data<T>();
          const T off_target = static_cast<T>(eps / static_cast<double>(C));  // eps / C
          const T on_target = static_cast<T>(1.0 - eps);                      // 1 - eps
          parallel_for_if(N * C > kParallelThreshold, N, [&](std::int64_t i) {
            T* out_row = pd + i * C;
            if (label[i] == ignore) {
              std::fill(out_row, out_row + C, T(0));
              return;
            }
            const T* row = pz + i * C;
            const T scale = row_scale(pg, i, reduction, valid);
            const T shift = row_lse[i];
        // (softmax - q) * scale
#pragma omp simd
            for (std::int64_t c = 0; c < C; ++c) {
              out_row[c] = (kernels::vmath::exp(row[c] - shift) - off_target) * scale;
            }
            out_row[label[i]] -= on_target * scale;
          });
        });
        return autograd::Grads{gz};
      });
}

// Negative log-likelihood, as torch.nn.functional.nll_loss: loss_i = -log_probs[i, t_i],
// 0 for ignored rows; mean divides by the count of rows not ignored.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NllLossOptions& options) {
  const std::int64_t ignore = options.ignore_index;
  const Tensor labels = checked_labels(log_probs, target, ignore, "nll_loss", "log_probs");
  const std::int64_t N = log_probs.size(0);
  const std::int64_t C = log_probs.size(1);
  const std::int64_t valid = count_valid(labels, ignore);
  Tensor rows = empty({N}, DType::f64);  // (N), each row's loss
  double* losses = rows.data<double>();
  dispatch_float(log_probs.dtype(), "nll_loss", [&]<typename T>() {
    const T* lp = log_probs.data<T>();
    const std::int64_t* label = labels.data<std::int64_t>();
    for (std::int64_t i = 0; i < N; ++i) {
      losses[i] = label[i] == ignore ? 0.0 : -static_cast<double>(lp[i * C + label[i]]);
    }
  });
  Tensor out = reduce_rows(rows, log_probs.dtype(), options.reduction, valid);
  return autograd::record(
      "nll_loss", out, {log_probs},
      [shape = log_probs.shape(), labels, ignore, valid, reduction = options.reduction](
          const Tensor& grad, const autograd::Node&) {
        const std::int64_t N = shape[0];
        const std::int64_t C = shape[1];
        Tensor gx = zeros(shape, grad.dtype());
        dispatch_float(grad.dtype(), "nll_loss backward", [&]<typename T>() {
          const T* pg = grad.data<T>();
          const std::int64_t* label = labels.data<std::int64_t>();
          T* pd = gx.data<T>();
          for (std::int64_t i = 0; i < N; ++i) {
            if (label[i] != ignore) pd[i * C + label[i]] = -row_scale(pg, i, reduction, valid);
          }
        });
        return autograd::Grads{gx};
      });
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  DESCENT_CHECK(input.shape() == target.shape(), "mse_loss: input ", shape_str(input.shape()),
                " and target ", shape_str(target.shape()), " differ in shape");
  Tensor diff = sub(input, target);
  Tensor squared = mul(diff, diff);
  switch (reduction) {
    case Reduction::none:
      return squared;
    case Reduction::sum:
      return sum(squared);
    case Reduction::mean:
      return mean(squared);
  }
  return squared;
}

}  // namespace descent::ops
