// Elementwise arithmetic with broadcasting (NumPy rules: shapes align at the right; a
// dimension of 1, or a missing leading one, stretches), and scalars.
#pragma once

#include "descent/core/tensor.hpp"

namespace descent::ops {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor sub(double a, const Tensor& b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
Tensor div(double a, const Tensor& b);
Tensor neg(const Tensor& a);

// The broadcast of two shapes; throws naming `op` and both shapes if they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Differentiable: x stretched to `shape` (copying).
Tensor broadcast_to(const Tensor& x, const Shape& shape);
// Not differentiable: sums x over the dimensions that broadcasting stretched, giving `shape`
// (the gradient of a broadcast). x's shape must be a broadcast of `shape`.
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace descent::ops

namespace descent {
inline Tensor operator+(const Tensor& a, const Tensor& b) {
  return ops::add(a, b);
}
inline Tensor operator-(const Tensor& a, const Tensor& b) {
  return ops::sub(a, b);
}
inline Tensor operator*(const Tensor& a, const Tensor& b) {
  return ops::mul(a, b);
}
inline Tensor operator/(const Tensor& a, const Tensor& b) {
  return ops::div(a, b);
}
inline Tensor operator+(const Tensor& a, double b) {
  return ops::add(a, b);
}
inline Tensor operator-(const Tensor& a, double b) {
  return ops::sub(a, b);
}
inline Tensor operator*(const Tensor& a, double b) {
  return ops::mul(a, b);
}
inline Tensor operator/(const Tensor& a, double b) {
  return ops::div(a, b);
}
inline Tensor operator+(double a, const Tensor& b) {
  return ops::add(b, a);
}
inline Tensor operator-(double a, const Tensor& b) {
  return ops::sub(a, b);
}
inline Tensor operator*(double a, const Tensor& b) {
  return ops::mul(b, a);
}
inline Tensor operator/(double a, const Tensor& b) {
  return ops::div(a, b);
}
inline Tensor operator-(const Tensor& a) {
  return ops::neg(a);
}
}  // namespace descent
