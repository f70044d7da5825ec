// Fused layer normalization on (R, D) buffers, no autograd: each of the R rows is
// normalized over its D values; weight/bias (D) are the optional affine.
//
//   kernels::layer_norm_forward(R, D, x, weight, bias, eps, y, mean, invstd);
//   kernels::layer_norm_backward(R, D, dy, x, weight, mean, invstd, dx, dweight, dbias);
//
// weight/bias may be null (no affine); dx/dweight/dbias may be null when not wanted.
// f32 and f64 are instantiated; row sums are accumulated in double.
#pragma once

#include <cstdint>

namespace descent::kernels {

// y = (x - mean) * invstd * weight + bias with each row's mean and biased variance;
// writes mean (R) and invstd = 1 / sqrt(var + eps) (R) for the backward.
template <typename T>
void layer_norm_forward(std::int64_t R, std::int64_t D, const T* x, const T* weight, const T* bias,
                        double eps, T* y, T* mean, T* invstd);

template <typename T>
void layer_norm_backward(std::int64_t R, std::int64_t D, const T* dy, const T* x, const T* weight,
                         const T* mean, const T* invstd, T* dx, T* dweight, T* dbias);

}  // namespace descent::kernels
