// Embedding lookup: indices (...) of i64/i32 in [0, V), weight (V, D) -> (..., D).
#pragma once

#include "descent/core/tensor.hpp"

namespace descent::ops {

Tensor embedding(const Tensor& indices, const Tensor& weight);

}  // namespace descent::ops
