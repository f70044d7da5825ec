#include "descent/ops/shape.hpp"

#include "descent/autograd/autograd.hpp"
#include "descent/ops/reduce.hpp"

namespace descent::ops {

Tensor reshape(const Tensor& x, const Shape& shape) {
  Shape target = shape;
  std::int64_t known = 1;
  std::int64_t infer = -1;
  for (std::size_t k = 0; k < target.size(); ++k) {
    if (target[k] == -1) {
      DESCENT_CHECK(infer < 0, "reshape: only one dimension may be -1, got ", shape_str(shape));
      infer = static_cast<std::int64_t>(k);
    } else {
      DESCENT_CHECK(target[k] >= 0, "reshape: bad dimension in ", shape_str(shape));
      known *= target[k];
    }
  }
  if (infer >= 0) {
    DESCENT_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot reshape ",
                  shape_str(x.shape()), " into ", shape_str(shape));
    target[infer] = x.numel() / known;
  }
  DESCENT_CHECK(shape_numel(target) == x.numel(), "reshape: cannot reshape ", shape_str(x.shape()),
                " (", x.numel(), " elements) into ", shape_str(shape));
  Tensor out = x.detach().view_of(0, target);
  return autograd::record("reshape", out, {x},
                          [in_shape = x.shape()](const Tensor& grad, const autograd::Node&) {
                            return autograd::Grads{reshape(grad, in_shape)};
                          });
}

Tensor flatten(const Tensor& x, std::int64_t start_dim, std::int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  const std::int64_t start = normalize_dim(start_dim, x.dim(), "flatten");
  const std::int64_t end = normalize_dim(end_dim, x.dim(), "flatten");
  DESCENT_CHECK(start <= end, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim,
                " for shape ", shape_str(x.shape()));
  Shape target;
  std::int64_t merged = 1;
  for (std::int64_t k = 0; k < x.dim(); ++k) {
    if (k < start || k > end) {
      target.push_back(x.shape()[k]);
    } else {
      merged *= x.shape()[k];
      if (k == end) target.push_back(merged);
    }
  }
  return reshape(x, target);
}

}  // namespace descent::ops
