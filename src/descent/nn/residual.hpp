// The residual basic block of He et al. 2016, "Deep Residual Learning for Image Recognition"
// (https://arxiv.org/abs/1512.03385), as in their CIFAR-10 networks (section 4.2):
//
//   x -> conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN -> (+ shortcut(x)) -> ReLU
//
// The shortcut is the identity when shape is kept. When the stride or the channel count
// changes it is, as chosen:
//   Shortcut::zero_pad    the paper's option A, used by its CIFAR networks: x subsampled with
//                         the block's stride (x[:, :, ::s, ::s]) and zero channels added,
//                         half before and half after; it has no parameters, so a ResNet and
//                         its plain twin have exactly the same layers;
//   Shortcut::projection  option B: a 1x1 convolution with the block's stride, then BN.
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

enum class Shortcut { zero_pad, projection };  // option A, option B

struct BasicBlockOptions {
  std::int64_t stride = 1;  // of the first convolution (and of the shortcut)
  bool skip = true;
  Shortcut shortcut = Shortcut::projection;
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
  std::shared_ptr<Sequential> shortcut;  // option B's projection; else null
  std::shared_ptr<ReLU> relu;

 private:
  Tensor shortcut_of(const Tensor& x) const;  // what the residual connection adds

  BasicBlockOptions options_;
  std::int64_t out_channels_;
  bool reshapes_;  // the stride or the channel count changes
};

}  // namespace descent::nn
