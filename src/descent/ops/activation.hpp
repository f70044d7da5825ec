// Activation functions and softmax.
#pragma once

#include "descent/core/tensor.hpp"

namespace descent::ops {

Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
enum class GeluApproximate { none, tanh };
// Exact: x * Phi(x). tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as torch's.
Tensor gelu(const Tensor& x, GeluApproximate approximate = GeluApproximate::none);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
// Along dimension `dim` (negative counts from the end); numerically stable.
Tensor softmax(const Tensor& x, std::int64_t dim);
Tensor log_softmax(const Tensor& x, std::int64_t dim);
// Softmax over the last dim of x (..., T, S), S >= T, under a causal mask: row i sees only
// columns j <= i + (S - T), as attention scores with torch's boolean triu(ones, 1 + S - T)
// attn_mask; the masked entries are 0 and pass no gradient.
Tensor causal_softmax(const Tensor& x);

}  // namespace descent::ops
