// batch_norm and layer_norm: validation, shapes and autograd; the fused loops are in
// kernels/batch_norm.cpp and kernels/layer_norm.cpp. Semantics follow
// https://pytorch.org/docs/stable/generated/torch.nn.functional.batch_norm.html and
// .../torch.nn.functional.layer_norm.html. The backward reuses the mean and invstd saved
// by the forward instead of recomputing them.
#include "descent/ops/norm.hpp"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "descent/autograd/autograd.hpp"
#include "descent/kernels/batch_norm.hpp"
#include "descent/kernels/layer_norm.hpp"
#include "descent/ops/autocast.hpp"

namespace descent::ops {
namespace {

std::string describe(const Tensor& t) {
  return t.defined() ? cat(shape_str(t.shape()), " ", dtype_name(t.dtype())) : "undefined";
}

// t must be undefined or have `shape` and x's dtype.
void check_optional(const Tensor& t, const char* name, const Shape& shape, const Tensor& x,
                    const char* op) {
  if (!t.defined()) return;
  DESCENT_CHECK(t.shape() == shape && t.dtype() == x.dtype(), op, ": ", name, " must be ",
                shape_str(shape), " ", dtype_name(x.dtype()), " for x ", shape_str(x.shape()),
                ", got ", describe(t));
}

template <typename T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Calls fn.template operator()<X>() with X the C++ type of x as batch_norm saved it: T, or
// for T = float its bf16/f16 rounding.
template <typename T, typename Fn>
void dispatch_saved(DType saved, Fn&& fn) {
  if constexpr (std::is_same_v<T, float>) {
    if (saved == DType::bf16) return fn.template operator()<BFloat16>();
    if (saved == DType::f16) return fn.template operator()<Half>();
  }
  fn.template operator()<T>();
}

}  // namespace

Tensor batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                  const Tensor& bias, const BatchNormOptions& options) {
  DESCENT_CHECK(x.defined(), "batch_norm: x is undefined");
  DESCENT_CHECK(x.dim() == 2 || x.dim() == 4, "batch_norm: expected x (N, C) or (N, C, H, W), got ",
                shape_str(x.shape()));
  DESCENT_CHECK(options.eps >= 0, "batch_norm: eps must be non-negative, got ", options.eps);
  DESCENT_CHECK(options.momentum >= 0 && options.momentum <= 1,
                "batch_norm: momentum must be in [0, 1], got ", options.momentum);
  kernels::BatchNormGeometry g;
  g.N = x.size(0);
  g.C = x.size(1);
  g.S = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  const Shape channels{g.C};
  DESCENT_CHECK(running_mean.defined() == running_var.defined(),
                "batch_norm: running_mean and running_var must both be defined or both "
                "undefined, got running_mean ",
                describe(running_mean), " and running_var ", describe(running_var));
  check_optional(running_mean, "running_mean", channels, x, "batch_norm");
  check_optional(running_var, "running_var", channels, x, "batch_norm");
  check_optional(weight, "weight", channels, x, "batch_norm");
  check_optional(bias, "bias", channels, x, "batch_norm");
  if (options.training) {
    DESCENT_CHECK(g.N * g.S > 1,
                  "batch_norm: expected more than 1 value per channel when training, got x ",
                  shape_str(x.shape()));
  } else {
    DESCENT_CHECK(running_mean.defined(),
                  "batch_norm: evaluation (training = false) needs running_mean and running_var, "
                  "got undefined for x ",
                  shape_str(x.shape()));
  }

  Tensor out = empty_like(x);
  Tensor mean = empty(channels, x.dtype());    // (C)
  Tensor invstd = empty(channels, x.dtype());  // (C), 1 / sqrt(var + eps)
  dispatch_float(x.dtype(), "batch_norm", [&]<typename T>() {
    if (options.training) {
      kernels::batch_norm_forward_training<T>(
          g, x.data<T>(), data_or_null<T>(weight), data_or_null<T>(bias),
          {.eps = options.eps, .momentum = options.momentum}, data_or_null<T>(running_mean),
          data_or_null<T>(running_var), out.data<T>(), mean.data<T>(), invstd.data<T>());
    } else {
      kernels::batch_norm_forward_eval<T>(
          g, x.data<T>(), data_or_null<T>(weight), data_or_null<T>(bias), running_mean.data<T>(),
          running_var.data<T>(), options.eps, out.data<T>(), mean.data<T>(), invstd.data<T>());
    }
  });
  // What the backward reads of x: x itself, or under a bf16/f16 autocast guard (with x f32)
  // its 16-bit rounding, half the memory; the statistics above came from the f32 x, and the
  // backward's arithmetic stays f32 (see kernels::batch_norm_backward)
  const Tensor x_saved = autocast_saved(x);
  auto backward = [x_saved, weight = weight.defined() ? weight.detach() : Tensor(), mean, invstd, g,
                   shape = x.shape(),
                   training = options.training](const Tensor& grad, const autograd::Node& node) {
    autograd::Grads grads(3);
    if (node.needs_grad(0)) grads[0] = empty(shape, mean.dtype());
    if (node.needs_grad(1)) grads[1] = empty_like(weight);
    if (node.needs_grad(2)) grads[2] = empty(mean.shape(), mean.dtype());
    dispatch_float(grad.dtype(), "batch_norm backward", [&]<typename T>() {
      dispatch_saved<T>(x_saved.dtype(), [&]<typename X>() {
        kernels::batch_norm_backward<T, X>(g, grad.data<T>(), x_saved.data<X>(),
                                           data_or_null<T>(weight), mean.data<T>(),
                                           invstd.data<T>(), training, data_or_null<T>(grads[0]),
                                           data_or_null<T>(grads[1]), data_or_null<T>(grads[2]));
      });
    });
    return grads;
  };
  return autograd::record("batch_norm", out, {x, weight, bias}, std::move(backward));
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  DESCENT_CHECK(x.defined(), "layer_norm: x is undefined");
  DESCENT_CHECK(!normalized_shape.empty(), "layer_norm: normalized_shape must not be empty");
  const std::size_t k = normalized_shape.size();
  const bool suffix =
      x.shape().size() >= k && std::equal(normalized_shape.begin(), normalized_shape.end(),
                                          x.shape().end() - static_cast<std::ptrdiff_t>(k));
  DESCENT_CHECK(suffix, "layer_norm: x ", shape_str(x.shape()),
                " does not end with normalized_shape ", shape_str(normalized_shape));
  DESCENT_CHECK(eps >= 0, "layer_norm: eps must be non-negative, got ", eps);
  check_optional(weight, "weight", normalized_shape, x, "layer_norm");
  check_optional(bias, "bias", normalized_shape, x, "layer_norm");
  const std::int64_t D = shape_numel(normalized_shape);
  DESCENT_CHECK(D > 0, "layer_norm: normalized_shape ", shape_str(normalized_shape),
                " has no elements");
  const std::int64_t R = x.numel() / D;

  Tensor out = empty_like(x);
  Tensor mean = empty({R}, x.dtype());    // (R), one per normalized row
  Tensor invstd = empty({R}, x.dtype());  // (R)
  dispatch_float(x.dtype(), "layer_norm", [&]<typename T>() {
    kernels::layer_norm_forward<T>(R, D, x.data<T>(), data_or_null<T>(weight),
                                   data_or_null<T>(bias), eps, out.data<T>(), mean.data<T>(),
                                   invstd.data<T>());
  });
  return autograd::record(
      "layer_norm", out, {x, weight, bias},
      [x = x.detach(), weight = weight.defined() ? weight.detach() : Tensor(), mean, invstd, R, D,
       normalized_shape](const Tensor& grad, const autograd::Node& node) {
        autograd::Grads grads(3);
        if (node.needs_grad(0)) grads[0] = empty_like(x);
        if (node.needs_grad(1)) grads[1] = empty(normalized_shape, x.dtype());
        if (node.needs_grad(2)) grads[2] = empty(normalized_shape, x.dtype());
        dispatch_float(grad.dtype(), "layer_norm backward", [&]<typename T>() {
          kernels::layer_norm_backward<T>(R, D, grad.data<T>(), x.data<T>(),
                                          data_or_null<T>(weight), mean.data<T>(), invstd.data<T>(),
                                          data_or_null<T>(grads[0]), data_or_null<T>(grads[1]),
                                          data_or_null<T>(grads[2]));
        });
        return grads;
      });
}

}  // namespace descent::ops
