// Gradient clipping: by global norm, by value, and adaptive (AGC).
//
// ====== Intended usage ======
//   loss.backward();
//   double norm = clip::clip_grad_norm_(params, /*max_norm=*/1.0);   // as PyTorch
// or, to fold the clipping into the optimizer's own pass (DESIGN.md "one pass per step"):
//   clip::ClipScale c = clip::clip_scale(params, 1.0);     // one reduction pass, no writes
//   optimizer.step({.grad_scale = c.scale, .skip = !c.finite});
//
// Parameters are tensors whose .grad() holds the gradient (undefined grads are skipped), e.g.
// a model's flat parameter tensor, or its per-parameter views. Norms are accumulated in f64
// over fixed 4096-element chunks summed in order, so the result does not depend on the
// thread count.
#pragma once

#include <span>

#include "descent/core/tensor.hpp"

namespace descent::clip {

// The p-norm of all gradients together (p > 0, or infinity for the max-abs norm), equal to
// the p-norm of the per-tensor p-norms, as torch.nn.utils.clip_grad_norm_ computes it.
double grad_norm(std::span<const Tensor> params, double norm_type = 2.0);

struct ClipScale {
  double total_norm;  // the gradients' global norm before clipping
  double scale;       // min(1, max_norm / (total_norm + 1e-6)), PyTorch's clip coefficient
  bool finite;        // total_norm is finite (when false, skip the step)
};
// The clip coefficient without touching the gradients. With error_if_nonfinite, a NaN/Inf
// norm throws Error (PyTorch's error_if_nonfinite); otherwise finite is false.
ClipScale clip_scale(std::span<const Tensor> params, double max_norm, double norm_type = 2.0,
                     bool error_if_nonfinite = false);
// Scales every gradient in place by clip_scale(...).scale; returns the total norm, as
// torch.nn.utils.clip_grad_norm_.
double clip_grad_norm_(std::span<const Tensor> params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
// Clamps every gradient element to [-clip_value, clip_value], as clip_grad_value_.
void clip_grad_value_(std::span<const Tensor> params, double clip_value);
// Adaptive gradient clipping (Brock, De, Smith & Simonyan 2021, "High-Performance
// Large-Scale Image Recognition Without Normalization", section 4.1): for each unit (a row
// along dim 0 of a weight of rank >= 2; the whole tensor for rank <= 1), a gradient whose
// norm exceeds clipping * max(||w||, eps) is rescaled to that size. Unlike norm clipping,
// the bound is relative to the weights, so it is scale-free.
void adaptive_clip_grad_(std::span<const Tensor> params, double clipping = 0.01, double eps = 1e-3);

}  // namespace descent::clip
