#include "descent/ops/loss.hpp"

#include "descent/autograd/autograd.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/reduce.hpp"

namespace descent::ops {

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  DESCENT_CHECK(input.shape() == target.shape(), "mse_loss: input ", shape_str(input.shape()),
                " and target ", shape_str(target.shape()), " differ in shape");
  Tensor diff = sub(input, target);
  Tensor squared = mul(diff, diff);
  switch (reduction) {
    case Reduction::none:
      return squared;
    case Reduction::sum:
      return sum(squared);
    case Reduction::mean:
      return mean(squared);
  }
  return squared;
}

}  // namespace descent::ops
