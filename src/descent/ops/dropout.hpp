// Inverted dropout: in training, zeroes each element with probability p (drawn from gen, so
// seeded and thread-count independent) and scales the rest by 1 / (1 - p); the identity
// otherwise.
#pragma once

#include "descent/core/tensor.hpp"

namespace descent::ops {

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

}  // namespace descent::ops
