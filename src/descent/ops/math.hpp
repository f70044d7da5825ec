// Elementwise math functions.
#pragma once

#include <optional>

#include "descent/core/tensor.hpp"

namespace descent::ops {

Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor abs(const Tensor& x);  // gradient 0 at 0, as PyTorch
// Limits x to [min, max]; either bound may be absent. Gradient 1 inside, 0 where clamped.
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);

}  // namespace descent::ops
