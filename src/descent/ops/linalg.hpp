// Matrix products, through kernels::gemm.
#pragma once

#include "descent/core/tensor.hpp"

namespace descent::ops {

// (M, K) @ (K, N) -> (M, N); batched: (..., M, K) @ (..., K, N) with equal batch dims, or
// (..., M, K) @ (K, N) with the right matrix shared by every batch.
Tensor matmul(const Tensor& a, const Tensor& b);
// x (..., in), weight (out, in), bias (out) or undefined -> (..., out), as torch's F.linear.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// relu(linear(x, weight, bias)) as one op (nn::Sequential uses it for a Linear followed by a
// ReLU): in f32, the relu is applied in the GEMM's store and backward masks the gradient and
// sums its columns (the bias gradient) in one pass; under a bf16/f16 guard,
// ops::linear_relu_mixed. Same values and gradients as the two ops composed; f64 composes them.
Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace descent::ops
