// Matrix products, through kernels::gemm.
#pragma once

#include "descent/core/tensor.hpp"

namespace descent::ops {

// (M, K) @ (K, N) -> (M, N); batched: (..., M, K) @ (..., K, N) with equal batch dims, or
// (..., M, K) @ (K, N) with the right matrix shared by every batch.
Tensor matmul(const Tensor& a, const Tensor& b);
// x (..., in), weight (out, in), bias (out) or undefined -> (..., out), as torch's F.linear.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace descent::ops
