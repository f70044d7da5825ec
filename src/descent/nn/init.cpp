#include "descent/nn/init.hpp"

#include <cmath>

namespace descent::nn::init {

namespace {

// The elements of one input-output connection: the product of the sizes after size(1) (a
// convolution's kernel), as torch.nn.init._calculate_fan_in_and_fan_out.
std::int64_t receptive_field(const Tensor& weight, const char* op) {
  DESCENT_CHECK(weight.dim() >= 2, op, ": needs a weight of rank >= 2, got ",
                shape_str(weight.shape()));
  std::int64_t receptive = 1;
  for (std::int64_t d = 2; d < weight.dim(); ++d) receptive *= weight.size(d);
  return receptive;
}

}  // namespace

std::int64_t fan_in(const Tensor& weight) {
  const std::int64_t receptive = receptive_field(weight, "fan_in");
  return weight.size(1) * receptive;
}

std::int64_t fan_out(const Tensor& weight) {
  const std::int64_t receptive = receptive_field(weight, "fan_out");
  return weight.size(0) * receptive;
}

void kaiming_normal_fan_out_(Tensor& weight, Generator& gen) {
  const std::int64_t fan = fan_out(weight);
  DESCENT_CHECK(fan > 0, "kaiming_normal_fan_out_: weight ", shape_str(weight.shape()),
                " has no outputs (fan_out = 0)");
  normal_(weight, 0.0, std::sqrt(2.0 / static_cast<double>(fan)), gen);
}

void kaiming_uniform_(Tensor& weight, double a, Generator& gen) {
  const std::int64_t fan = fan_in(weight);
  DESCENT_CHECK(fan > 0, "kaiming_uniform_: weight ", shape_str(weight.shape()),
                " has no inputs (fan_in = 0)");
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double bound = gain * std::sqrt(3.0 / static_cast<double>(fan));
  uniform_(weight, -bound, bound, gen);
}

void default_bias_(Tensor& bias, std::int64_t fan_in, Generator& gen) {
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  uniform_(bias, -bound, bound, gen);
}

}  // namespace descent::nn::init
