// Parameter initialization, as torch.nn.init (https://pytorch.org/docs/stable/nn.init.html),
// drawn from a seeded Generator. The layers use PyTorch's defaults:
//   Linear, Conv2d   weight kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in));
//                    bias   U(-1/sqrt(fan_in), 1/sqrt(fan_in))
//   BatchNorm, LayerNorm  weight 1, bias 0 (running_mean 0, running_var 1)
//   Embedding        weight N(0, 1)
#pragma once

#include <cstdint>

#include "descent/core/tensor.hpp"

namespace descent::nn::init {

// Inputs feeding one output: size(1) * (product of the sizes after it), as
// torch.nn.init._calculate_fan_in_and_fan_out. Needs rank >= 2.
std::int64_t fan_in(const Tensor& weight);

// Outputs fed by one input: size(0) * (product of the sizes after size(1)). Needs rank >= 2.
std::int64_t fan_out(const Tensor& weight);

// He et al. 2015 for ReLU, as torch.nn.init.kaiming_normal_(w, mode="fan_out",
// nonlinearity="relu"), torchvision's ResNet convolutions: N(0, 2 / fan_out).
void kaiming_normal_fan_out_(Tensor& weight, Generator& gen);

// He et al. 2015, "Delving Deep into Rectifiers": U(-bound, bound) with
//   gain  = sqrt(2 / (1 + a^2))        (leaky_relu gain for negative slope a)
//   bound = gain * sqrt(3 / fan_in)
// a = sqrt(5) gives bound = 1 / sqrt(fan_in), PyTorch's default for Linear and Conv2d.
void kaiming_uniform_(Tensor& weight, double a, Generator& gen);

// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default bias for Linear and Conv2d, whose
// fan_in is that of their weight.
void default_bias_(Tensor& bias, std::int64_t fan_in, Generator& gen);

}  // namespace descent::nn::init
