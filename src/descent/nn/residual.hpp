// The residual basic block of He et al. 2016, "Deep Residual Learning for Image Recognition"
// (https://arxiv.org/abs/1512.03385), as in their CIFAR-10 networks (section 4.2):
//
//   x -> conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN -> (+ shortcut(x)) -> ReLU
//
// The shortcut is the identity when shape is kept, and a 1x1 convolution with the block's
// stride followed by BN when the stride or the channel count changes (the paper's option B;
// its CIFAR networks used option A, zero-padding, which has no parameters).
//
// Switches, for the experiments that show what each part does:
//   skip = false        the "plain" twin: the same main path with no addition, and no
//                       shortcut layers (a plain block has nothing to project);
//   batch_norm = false  no BN layers; the convolutions then get biases.
//
// Names (PyTorch's akamaster/pytorch_resnet_cifar10 layout): conv1, bn1, conv2, bn2, and
// shortcut.0 (1x1 conv), shortcut.1 (its BN); e.g. "layer2.0.shortcut.0.weight".
#pragma once

#include <cstdint>
#include <memory>

#include "descent/nn/layers.hpp"

namespace descent::nn {

struct BasicBlockOptions {
  std::int64_t stride = 1;  // of the first convolution (and of the projection)
  bool skip = true;
  bool batch_norm = true;
};

// (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride) (sizes rounded up).
class BasicBlock : public Module {
 public:
  BasicBlock(std::int64_t in_channels, std::int64_t out_channels, Generator& gen,
             BasicBlockOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;  // null without batch_norm
  std::shared_ptr<Conv2d> conv2;
  std::shared_ptr<BatchNorm2d> bn2;      // null without batch_norm
  std::shared_ptr<Sequential> shortcut;  // projection; null for the identity or without skip
  std::shared_ptr<ReLU> relu;

 private:
  BasicBlockOptions options_;
};

}  // namespace descent::nn
