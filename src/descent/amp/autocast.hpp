// The GEMM-bound ops in 16 bits with f32 accumulation (Micikevicius et al. 2018; PyTorch's
// CPU autocast runs linear and matmul so in bf16).
//
// ====== Intended usage ======
//   // x (N, in) f32, weight (out, in) f32 master, weight_low its bf16 copy (MasterWeights)
//   Tensor y = amp::linear(x, weight, bias, DType::bf16, weight_low);   // (N, out) f32
//   Tensor z = amp::matmul(a, b, DType::bf16);                           // (M, K) @ (K, N)
//
// Forward: the inputs are rounded to `compute` (bf16 or f16); every product and sum is f32;
// the output is f32, so what follows (bias, batch norm, softmax, the loss) runs in f32.
// The input saved for backward is the rounded copy: half the memory of f32.
// Backward: the incoming gradient is rounded to `compute` as well (where fp16's range
// matters: small gradients underflow to zero without loss scaling, large ones overflow to
// Inf, which the GradScaler then finds), and dx = dy W, dW = dy^T x run in the same 16-bit
// GEMM. Gradients come out f32 and go to the f32 tensors (the master weights); the bias
// gradient is the f32 column sum of dy. With compute = f32 these are ops::linear/matmul.
#pragma once

#include "descent/core/tensor.hpp"

namespace descent::amp {

// y = x @ weight^T + bias. x (..., in) f32 (or already in `compute`), weight (out, in) f32,
// bias (out) f32 or undefined. `weight_low`, when given, is weight already rounded to
// `compute` (shape (out, in)); otherwise weight is rounded here.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, DType compute,
              const Tensor& weight_low = Tensor());

// a (M, K) @ b (K, N), both f32 (or already in `compute`); the result is (M, N) f32.
Tensor matmul(const Tensor& a, const Tensor& b, DType compute);

}  // namespace descent::amp
