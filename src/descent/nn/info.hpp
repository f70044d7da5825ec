// Model summaries: the layer table, parameter count and forward FLOPs that `descent info`
// prints, computed by shape inference (Module::summarize), without running the model.
//
// ====== Intended usage ======
//   nn::ModelInfo info = nn::model_info(*model, {1, 28, 28});  // one sample's shape
//   std::cout << nn::format_info(info);
//
// FLOPs count the forward pass of one sample: convolution and linear layers 2 per
// multiply-add plus 1 per bias add; batch norm 2 per element (its inference form, a scale
// and a shift); layer norm 5 per element; activations and residual additions 1 per element;
// pooling 1 per window element; flatten, dropout and embedding lookups 0.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "descent/nn/module.hpp"

namespace descent::nn {

struct ModelInfo {
  std::string model;                 // the root module's str()
  Shape input;                       // one sample, without the batch dimension
  Shape output;                      // one sample's output
  std::vector<LayerSummary> layers;  // in forward order; shapes include a batch of 1
  std::int64_t parameters = 0;       // distinct parameter elements
  double flops = 0;                  // forward FLOPs per sample
};

// Throws, naming the layer, when `sample_shape` does not fit the model.
ModelInfo model_info(const Module& model, const Shape& sample_shape);

// The table: one line per layer (name, layer, output shape, parameters, FLOPs), then totals.
std::string format_info(const ModelInfo& info);

}  // namespace descent::nn
