// Flat parameter storage: every parameter of a model in one contiguous buffer, every
// gradient in another (DESIGN.md "Flat parameter storage"; llm.c's
// malloc_and_point_parameters).
//
// ====== Intended usage ======
//   auto model = std::make_shared<nn::ResNet>(nn::ResNetOptions{.depth = 20}, gen);
//   nn::FlatParameters& flat = nn::flatten_parameters(*model);
//   loss.backward();                        // accumulates straight into flat.grads
//   // the whole model as one tensor:
//   float* p = flat.params.data<float>();   // (total,)
//   const float* g = flat.grads.data<float>();
//   for (std::int64_t i = 0; i < flat.params.numel(); ++i) p[i] -= lr * g[i];
//   // or as ranges, e.g. a param group without weight decay:
//   for (const nn::ParamRange& r : flat.ranges) if (r.is_bias_or_norm) ...;
//   model->zero_grad();                     // one fill of flat.grads
//
// After flattening, each parameter is a view of flat.params (its storage and offset change,
// its handle does not: layers, named_parameters() and state_dict() see the same tensors),
// and its grad() is preset to the matching view of flat.grads, so that backward adds into
// the flat buffer in place. Each range starts 64-byte aligned (16 floats); the few elements
// between ranges are zero in both buffers and stay zero under any element-wise update.
// Flatten the whole model once, after it is built; registering parameters afterwards, or
// setting a parameter's grad to another tensor, detaches that parameter from the buffers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/nn/module.hpp"

namespace descent::nn {

struct ParamRange {
  std::string name;     // "layer1.0.conv1.weight"
  std::int64_t offset;  // first element in params / grads, a multiple of 64 bytes
  std::int64_t numel;
  Shape shape;
  bool is_bias_or_norm;  // a bias, or a normalization layer's weight or bias
};

struct FlatParameters {
  Tensor params;                   // (total,) a leaf with requires_grad; params.grad() is grads
  Tensor grads;                    // (total,)
  std::vector<ParamRange> ranges;  // in named_parameters() order
  // Parameter elements, not counting the alignment gaps.
  std::int64_t num_parameters() const;
  // The range named `name`; throws if there is none.
  const ParamRange& range(const std::string& name) const;
};

// Moves `model`'s parameters into one buffer and their gradients into another, copying
// values (and any existing gradients) over, and keeps the result on the model
// (model.flat_parameters()). Parameters must share one floating dtype. Calling it again
// flattens afresh.
FlatParameters& flatten_parameters(Module& model);

// Every range's offset is a multiple of this many bytes.
constexpr std::int64_t kFlatAlignmentBytes = 64;

}  // namespace descent::nn
