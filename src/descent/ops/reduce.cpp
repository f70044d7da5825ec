#include "descent/ops/reduce.hpp"

#include <algorithm>

#include "descent/autograd/autograd.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/shape.hpp"

namespace descent::ops {
namespace {

// x's shape with `dims` set to 1; also reports how many elements each output sums.
Shape kept_shape(const Tensor& x, const std::vector<std::int64_t>& dims, const char* op,
                 std::int64_t* count) {
  Shape keep = x.shape();
  std::vector<bool> seen(x.dim(), false);
  *count = 1;
  for (std::int64_t d : dims) {
    const std::int64_t k = normalize_dim(d, x.dim(), op);
    DESCENT_CHECK(!seen[k], op, ": dimension ", d, " given twice for shape ", shape_str(x.shape()));
    seen[k] = true;
    *count *= keep[k];
    keep[k] = 1;
  }
  return keep;
}

Shape drop_dims(const Shape& keep, const Tensor& x, const std::vector<std::int64_t>& dims,
                const char* op) {
  Shape out;
  std::vector<bool> reduced(x.dim(), false);
  for (std::int64_t d : dims) reduced[normalize_dim(d, x.dim(), op)] = true;
  for (std::int64_t k = 0; k < x.dim(); ++k) {
    if (!reduced[k]) out.push_back(keep[k]);
  }
  return out;
}

}  // namespace

std::int64_t normalize_dim(std::int64_t dim, std::int64_t rank, const char* op) {
  const std::int64_t k = dim < 0 ? dim + rank : dim;
  DESCENT_CHECK(k >= 0 && k < std::max<std::int64_t>(rank, 1), op, ": dimension ", dim,
                " is out of range for a tensor of rank ", rank);
  return k;
}

Tensor sum(const Tensor& x) {
  Tensor out = sum_to(x, {});
  return autograd::record("sum", out, {x},
                          [shape = x.shape()](const Tensor& grad, const autograd::Node&) {
                            return autograd::Grads{broadcast_to(grad, shape)};
                          });
}

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  std::int64_t count = 0;
  const Shape keep = kept_shape(x, dims, "sum", &count);
  Tensor out = sum_to(x, keep);
  out = autograd::record("sum", out, {x},
                         [shape = x.shape()](const Tensor& grad, const autograd::Node&) {
                           return autograd::Grads{broadcast_to(grad, shape)};
                         });
  return keepdim ? out : reshape(out, drop_dims(keep, x, dims, "sum"));
}

Tensor mean(const Tensor& x) {
  DESCENT_CHECK(x.numel() > 0, "mean: needs at least one element, got shape ",
                shape_str(x.shape()));
  return div(sum(x), static_cast<double>(x.numel()));
}

Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  std::int64_t count = 0;
  kept_shape(x, dims, "mean", &count);
  DESCENT_CHECK(count > 0, "mean: reduces over zero elements of shape ", shape_str(x.shape()));
  return div(sum(x, dims, keepdim), static_cast<double>(count));
}

}  // namespace descent::ops
