#include "descent/nn/residual.hpp"

#include "descent/ops/arith.hpp"
#include "descent/ops/conv.hpp"
#include "descent/ops/shape.hpp"

namespace descent::nn {

BasicBlock::BasicBlock(std::int64_t in_channels, std::int64_t out_channels, Generator& gen,
                       BasicBlockOptions options)
    : Module("BasicBlock"),
      options_(options),
      out_channels_(out_channels),
      reshapes_(options.stride != 1 || in_channels != out_channels) {
  DESCENT_CHECK(options.stride >= 1, "BasicBlock: stride must be at least 1, got ", options.stride);
  // A convolution followed by BN needs no bias: BN's shift replaces it.
  const Conv2dOptions conv_3x3{.stride = options.stride, .padding = 1, .bias = !options.batch_norm};
  conv1 = register_module("conv1",
                          std::make_shared<Conv2d>(in_channels, out_channels, 3, gen, conv_3x3));
  if (options.batch_norm) bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(out_channels));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(out_channels, out_channels, 3, gen,
                                                            Conv2dOptions{
                                                                .padding = 1,
                                                                .bias = !options.batch_norm,
                                                            }));
  if (options.batch_norm) bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out_channels));
  if (reshapes_ && options.shortcut == Shortcut::zero_pad) {
    DESCENT_CHECK(out_channels >= in_channels && (out_channels - in_channels) % 2 == 0,
                  "BasicBlock: the zero-padding shortcut needs out_channels - in_channels even "
                  "and >= 0, got ",
                  in_channels, " -> ", out_channels);
  }
  if (options.skip && reshapes_ && options.shortcut == Shortcut::projection) {
    shortcut = register_module("shortcut", std::make_shared<Sequential>());
    shortcut->push_back(std::make_shared<Conv2d>(
        in_channels, out_channels, 1, gen,
        Conv2dOptions{.stride = options.stride, .bias = !options.batch_norm}));
    if (options.batch_norm) shortcut->push_back(std::make_shared<BatchNorm2d>(out_channels));
  }
  relu = register_module("relu", std::make_shared<ReLU>());
}

Tensor BasicBlock::forward(const Tensor& x) {  // (N, C, H, W)
  Tensor out = conv1->forward(x);
  if (bn1) out = bn1->forward(out);
  out = relu->forward(out);
  out = conv2->forward(out);
  if (bn2) out = bn2->forward(out);
  if (options_.skip) out = ops::add(out, shortcut_of(x));  // the residual connection
  return relu->forward(out);
}

Tensor BasicBlock::shortcut_of(const Tensor& x) const {  // (N, C, H, W)
  if (shortcut) return shortcut->forward(x);
  if (!reshapes_) return x;
  // Option A: a 1x1 max pool with the block's stride is x[:, :, ::s, ::s].
  Tensor sub =
      options_.stride == 1 ? x : ops::max_pool2d(x, {.kernel_size = 1, .stride = options_.stride});
  const std::int64_t pad = (out_channels_ - x.shape()[1]) / 2;
  if (pad == 0) return sub;
  Shape zeros_shape = sub.shape();  // (N, pad, H / s, W / s)
  zeros_shape[1] = pad;
  const Tensor zeros_part = zeros(zeros_shape, sub.dtype());
  return ops::concat({zeros_part, sub, zeros_part}, 1);
}

std::string BasicBlock::str() const {
  return cat("BasicBlock(stride=", options_.stride, options_.skip ? "" : ", skip=false",
             options_.shortcut == Shortcut::zero_pad || !reshapes_ ? "" : ", shortcut=projection",
             options_.batch_norm ? "" : ", batch_norm=false", ")");
}

Shape BasicBlock::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  Shape shape = conv1->summarize(input, rows);
  if (bn1) shape = bn1->summarize(shape, rows);
  shape = relu->summarize(shape, rows);
  shape = conv2->summarize(shape, rows);
  if (bn2) shape = bn2->summarize(shape, rows);
  if (options_.skip) {
    Shape identity = input;
    if (shortcut) {
      identity = shortcut->summarize(input, rows);
    } else if (reshapes_) {  // option A: no parameters, no FLOPs
      identity = {input[0], shape[1], (input[2] + options_.stride - 1) / options_.stride,
                  (input[3] + options_.stride - 1) / options_.stride};
      rows.push_back({path() + ".shortcut", "zero-padding shortcut (option A)", identity, 0, 0.0});
    }
    DESCENT_CHECK(identity == shape, "BasicBlock '", path(), "': shortcut gives ",
                  shape_str(identity), " but the main path gives ", shape_str(shape));
    rows.push_back(
        {path() + ".add", "residual add", shape, 0, static_cast<double>(shape_numel(shape))});
  }
  return relu->summarize(shape, rows);
}

}  // namespace descent::nn
