// Shape ops. reshape/view/flatten share storage with their input (no copy); transpose,
// permute, slice, concat and stack copy (storage is always contiguous).
#pragma once

#include <initializer_list>
#include <span>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::ops {

// One dimension may be -1 (inferred).
Tensor reshape(const Tensor& x, const Shape& shape);
inline Tensor view(const Tensor& x, const Shape& shape) {
  return reshape(x, shape);
}
// Merges dimensions start..end (inclusive, negative from the end) into one.
Tensor flatten(const Tensor& x, std::int64_t start_dim = 1, std::int64_t end_dim = -1);
Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1);
Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims);
// Elements start, start+step, ... < end along dim (negative start/end count from the end).
Tensor slice(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t end,
             std::int64_t step = 1);
Tensor concat(const std::vector<Tensor>& tensors, std::int64_t dim);
Tensor concat(std::initializer_list<Tensor> tensors, std::int64_t dim);  // ops::concat({a, b}, 1)
Tensor concat(std::span<const Tensor> tensors, std::int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim);

}  // namespace descent::ops
