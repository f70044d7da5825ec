#include "descent/train/ema.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "descent/core/dtype.hpp"
#include "descent/core/parallel.hpp"
#include "descent/nn/flat.hpp"

namespace descent::train {

ModelEma::ModelEma(nn::Module& model, EmaOptions options) : model_(model), options_(options) {
  DESCENT_CHECK(model_.is_flat(), "ModelEma: the model's parameters must be flattened first ",
                "(nn::flatten_parameters, or build it with nn::build_model)");
  DESCENT_CHECK(options_.decay > 0 && options_.decay < 1, "ModelEma: decay must be in (0, 1), got ",
                options_.decay);
  DESCENT_CHECK(options_.warmup_gamma > 0, "ModelEma: warmup_gamma must be > 0, got ",
                options_.warmup_gamma);
  DESCENT_CHECK(options_.warmup_power > 0, "ModelEma: warmup_power must be > 0, got ",
                options_.warmup_power);
  weights_ = model_.flat_parameters().params.detach().clone();
  for (auto& [name, buffer] : model_.named_buffers()) {
    buffers_.emplace_back(name, buffer.clone());
    live_buffers_.push_back(buffer);
  }
}

double ModelEma::decay_at(std::int64_t update) const {
  const std::int64_t t = std::max<std::int64_t>(update - 1, 0);
  if (t == 0) return 0.0;
  if (!options_.warmup) return options_.decay;
  const double warm =
      1.0 - std::pow(1.0 + static_cast<double>(t) / options_.warmup_gamma, -options_.warmup_power);
  return std::min(options_.decay, std::max(warm, 0.0));
}

void ModelEma::update() {
  DESCENT_CHECK(!swapped_, "ModelEma::update: the model holds the averaged weights (swap() them ",
                "back, or leave the EmaWeights scope, first)");
  const Tensor& params = model_.flat_parameters().params;
  DESCENT_CHECK(params.numel() == weights_.numel() && params.dtype() == weights_.dtype(),
                "ModelEma::update: the model's flat buffer changed since construction (",
                params.numel(), " ", dtype_name(params.dtype()), " vs ", weights_.numel(), " ",
                dtype_name(weights_.dtype()), "); was it flattened again?");
  ++updates_;
  const double decay = decay_at(updates_);
  const std::int64_t n = params.numel();
  dispatch_float(params.dtype(), "ModelEma::update", [&]<typename T>() {
    const T* param = params.data<T>();
    T* average = weights_.data<T>();
    const T weight = static_cast<T>(1.0 - decay);
    // the lerp of timm's ModelEmaV3: ema += (1 - decay) * (param - ema)
    const bool parallel = n > 32768;
    parallel_simd_if(parallel, n,
                     [=](std::int64_t i) { average[i] += weight * (param[i] - average[i]); });
  });
  for (std::size_t k = 0; k < buffers_.size(); ++k) buffers_[k].second.copy_(live_buffers_[k]);
}

void ModelEma::swap() {
  const Tensor& params = model_.flat_parameters().params;
  DESCENT_CHECK(params.nbytes() == weights_.nbytes(),
                "ModelEma::swap: the model's flat buffer changed since construction");
  auto* a = static_cast<std::byte*>(params.raw_data());
  auto* b = static_cast<std::byte*>(weights_.raw_data());
  const auto bytes = static_cast<std::int64_t>(params.nbytes());
  constexpr std::int64_t kBlock = 1 << 16;
  // in place, block by block, so that no third copy is made
  parallel_for_if(bytes > 4 * kBlock, (bytes + kBlock - 1) / kBlock, [=](std::int64_t block) {
    const std::int64_t begin = block * kBlock;
    const std::int64_t end = std::min(bytes, begin + kBlock);
    std::swap_ranges(a + begin, a + end, b + begin);
  });
  for (std::size_t k = 0; k < buffers_.size(); ++k) {
    auto* x = static_cast<std::byte*>(live_buffers_[k].raw_data());
    auto* y = static_cast<std::byte*>(buffers_[k].second.raw_data());
    std::swap_ranges(x, x + live_buffers_[k].nbytes(), y);
  }
  swapped_ = !swapped_;
}

nn::StateDict ModelEma::state_dict() const {
  // in the order of the model's own state dict
  const nn::FlatParameters& flat = model_.flat_parameters();
  nn::StateDict out;
  for (const auto& [name, tensor] : model_.state_dict()) {
    const auto range = std::find_if(flat.ranges.begin(), flat.ranges.end(),
                                    [&](const nn::ParamRange& r) { return r.name == name; });
    if (range != flat.ranges.end()) {
      out.insert(name, weights_.view_of(range->offset, range->shape));
      continue;
    }
    const auto buffer = std::find_if(buffers_.begin(), buffers_.end(),
                                     [&](const auto& entry) { return entry.first == name; });
    DESCENT_CHECK(buffer != buffers_.end(), "ModelEma::state_dict: the model's entry '", name,
                  "' is neither a flat parameter nor a buffer seen at construction");
    out.insert(name, buffer->second);
  }
  return out;
}

void ModelEma::load_state_dict(const nn::StateDict& dict, std::int64_t updates) {
  DESCENT_CHECK(updates >= 0, "ModelEma::load_state_dict: updates must be >= 0, got ", updates);
  const nn::StateDict own = state_dict();
  for (const auto& [name, tensor] : own) {
    const Tensor* saved = dict.find(name);
    DESCENT_CHECK(saved != nullptr, "ModelEma::load_state_dict: no entry '", name, "'");
    DESCENT_CHECK(saved->shape() == tensor.shape(), "ModelEma::load_state_dict: '", name, "' is ",
                  shape_str(saved->shape()), " but the model's is ", shape_str(tensor.shape()));
  }
  DESCENT_CHECK(dict.size() == own.size(), "ModelEma::load_state_dict: ", dict.size(),
                " entries, the model has ", own.size());
  for (const auto& [name, tensor] : own) {
    Tensor target = tensor;  // a view of weights_ or one of the buffer copies
    target.copy_(dict.at(name));
  }
  updates_ = updates;
}

EmaWeights::EmaWeights(ModelEma& ema) : ema_(ema) {
  DESCENT_CHECK(!ema_.swapped(), "EmaWeights: the model already holds the averaged weights");
  ema_.swap();
}

EmaWeights::~EmaWeights() {
  ema_.swap();
}

}  // namespace descent::train
