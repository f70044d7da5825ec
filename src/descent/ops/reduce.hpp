// Reductions. `dims` may be negative (counted from the end); keepdim keeps them as size 1.
// An empty `dims` reduces every dimension, as torch 1.13's sum/mean/var with dim=[].
#pragma once

#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::ops {

Tensor sum(const Tensor& x);  // all elements, shape ()
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);
// Maximum along one dimension (values; the gradient goes to the first maximal element).
Tensor max(const Tensor& x, std::int64_t dim, bool keepdim = false);
// All elements, shape (); tied maxima share the gradient equally, as torch.max(x).
Tensor max(const Tensor& x);
// Variance over dims (none given: all), as torch.var; unbiased divides by (n - 1).
Tensor var(const Tensor& x, const std::vector<std::int64_t>& dims, bool unbiased = true,
           bool keepdim = false);
// Not differentiable: index of the maximum along dim, i64.
Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim = false);

// Normalizes a possibly negative dimension for a tensor of rank `rank`; throws naming op.
std::int64_t normalize_dim(std::int64_t dim, std::int64_t rank, const char* op);
// The same for a tensor of `shape`, whose error names the shape too.
std::int64_t normalize_dim(std::int64_t dim, const Shape& shape, const char* op);

}  // namespace descent::ops
