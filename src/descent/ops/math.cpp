// Elementwise math. Derivatives follow PyTorch's tools/autograd/derivatives.yaml, including
// its choices at the edges: d|x|/dx = sgn(x) (0 at 0), d(x^0)/dx = 0, clamp passes the
// gradient where min <= x <= max (bounds included).
#include "descent/ops/math.hpp"

#include <cmath>

#include "descent/autograd/autograd.hpp"
#include "descent/kernels/vmath.hpp"
#include "descent/ops/detail/elementwise.hpp"

namespace descent::ops {
namespace {

using detail::check_float;
using detail::kParallelThreshold;
using detail::map;
using detail::map_grad;

}  // namespace

Tensor exp(const Tensor& x) {
  Tensor out = map(x, "exp", []<typename T>(T v) { return kernels::vmath::exp(v); });
  return autograd::record(
      "exp", out, {x}, [out = out.detach()](const Tensor& grad, const autograd::Node&) {
        // d e^x = e^x
        return autograd::Grads{
            map_grad(grad, out, "exp backward", []<typename T>(T g, T y) { return g * y; })};
      });
}

Tensor log(const Tensor& x) {
  Tensor out = map(x, "log", []<typename T>(T v) { return kernels::vmath::log(v); });
  return autograd::record(
      "log", out, {x}, [x = x.detach()](const Tensor& grad, const autograd::Node&) {
        // d log x = 1 / x
        return autograd::Grads{
            map_grad(grad, x, "log backward", []<typename T>(T g, T v) { return g / v; })};
      });
}

Tensor sqrt(const Tensor& x) {
  Tensor out = map(x, "sqrt", []<typename T>(T v) { return std::sqrt(v); });
  return autograd::record(
      "sqrt", out, {x}, [out = out.detach()](const Tensor& grad, const autograd::Node&) {
        // d sqrt(x) = 1 / (2 sqrt(x))
        return autograd::Grads{map_grad(grad, out, "sqrt backward",
                                        []<typename T>(T g, T y) { return g / (T(2) * y); })};
      });
}

Tensor pow(const Tensor& x, double exponent) {
  Tensor out;
  if (exponent == 2.0) {
    out = map(x, "pow", []<typename T>(T v) { return v * v; });
  } else {
    out = map(x, "pow", [exponent]<typename T>(T v) {
      return static_cast<T>(std::pow(v, static_cast<T>(exponent)));
    });
  }
  return autograd::record(
      "pow", out, {x}, [x = x.detach(), exponent](const Tensor& grad, const autograd::Node&) {
        if (exponent == 0.0) return autograd::Grads{zeros_like(grad)};
        // d x^a = a x^(a - 1)
        return autograd::Grads{map_grad(grad, x, "pow backward", [exponent]<typename T>(T g, T v) {
          const T a = static_cast<T>(exponent);
          return g * a * static_cast<T>(std::pow(v, static_cast<T>(exponent - 1.0)));
        })};
      });
}

Tensor abs(const Tensor& x) {
  Tensor out = map(x, "abs", []<typename T>(T v) { return std::abs(v); });
  return autograd::record(
      "abs", out, {x}, [x = x.detach()](const Tensor& grad, const autograd::Node&) {
        // d|x| = sgn(x), with sgn(0) = 0
        return autograd::Grads{map_grad(grad, x, "abs backward", []<typename T>(T g, T v) {
          const T sign = static_cast<T>((v > T(0)) - (v < T(0)));
          return g * sign;
        })};
      });
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  DESCENT_CHECK(min.has_value() || max.has_value(),
                "clamp: at least one of min and max must be given (x ", shape_str(x.shape()), ")");
  const bool has_min = min.has_value();
  const bool has_max = max.has_value();
  const double lo = min.value_or(0.0);
  const double hi = max.value_or(0.0);
  // min is applied first, then max, so that min > max gives max everywhere (as torch);
  // comparisons are false for NaN, which therefore passes through.
  Tensor out = map(x, "clamp", [=]<typename T>(T v) {
    if (has_min && v < static_cast<T>(lo)) v = static_cast<T>(lo);
    if (has_max && v > static_cast<T>(hi)) v = static_cast<T>(hi);
    return v;
  });
  return autograd::record(
      "clamp", out, {x},
      [x = x.detach(), has_min, has_max, lo, hi](const Tensor& grad, const autograd::Node&) {
        return autograd::Grads{map_grad(grad, x, "clamp backward", [=]<typename T>(T g, T v) {
          const bool above_min = !has_min || v >= static_cast<T>(lo);
          const bool below_max = !has_max || v <= static_cast<T>(hi);
          return above_min && below_max ? g : T(0);
        })};
      });
}

}  // namespace descent::ops
