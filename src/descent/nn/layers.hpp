// Layers, as PyTorch's torch.nn classes of the same names: the same constructor arguments
// (required ones positional, optional ones in an options aggregate with PyTorch's defaults),
// the same parameter and buffer names, the same default initialization (init.hpp).
//
// ====== Intended usage ======
//   Generator gen(0);
//   auto net = std::make_shared<nn::Sequential>();
//   net->push_back("conv", std::make_shared<nn::Conv2d>(1, 16, 3, gen, nn::Conv2dOptions{.padding =
//   1})); net->push_back("bn", std::make_shared<nn::BatchNorm2d>(16)); net->push_back("relu",
//   std::make_shared<nn::ReLU>()); net->push_back("pool",
//   std::make_shared<nn::AdaptiveAvgPool2d>(1)); net->push_back("flatten",
//   std::make_shared<nn::Flatten>()); net->push_back("fc", std::make_shared<nn::Linear>(16, 10,
//   gen)); Tensor logits = net->forward(images);   // (N, 1, H, W) -> (N, 10)
//
// Every layer checks its input's rank and sizes and throws Error naming the layer, its
// path in the model and the shape: "BatchNorm2d 'layer1.0.bn1': expected (N, C, H, W),
// got (3, 4)".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/nn/module.hpp"
#include "descent/ops/activation.hpp"
#include "descent/ops/conv.hpp"

namespace descent::nn {

// ---- Linear ----

struct LinearOptions {
  bool bias = true;
};

// y = x W^T + b: (..., in_features) -> (..., out_features).
class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, Generator& gen,
         LinearOptions options = {});
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)) as one op (ops::linear_relu): Sequential's path for a Linear followed
  // by a ReLU.
  Tensor forward_relu(const Tensor& x);
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

  Tensor weight;  // (out_features, in_features)
  Tensor bias;    // (out_features), undefined without bias

 private:
  void check_input(const Shape& input) const;
  std::int64_t in_features_;
  std::int64_t out_features_;
};

// ---- Conv2d ----

struct Conv2dOptions {
  ops::Size2 stride = 1;
  ops::Size2 padding = 0;
  ops::Size2 dilation = 1;
  bool bias = true;
};

// (N, in_channels, H, W) -> (N, out_channels, OH, OW),
// OH = (H + 2 padding - dilation (kernel - 1) - 1) / stride + 1.
class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, ops::Size2 kernel_size,
         Generator& gen, Conv2dOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

  Tensor weight;  // (out_channels, in_channels, KH, KW)
  Tensor bias;    // (out_channels), undefined without bias

 private:
  Shape output_shape(const Shape& input) const;
  std::int64_t in_channels_;
  std::int64_t out_channels_;
  ops::Size2 kernel_size_;
  Conv2dOptions options_;
};

// ---- normalization ----

struct BatchNormOptions {
  double eps = 1e-5;
  // running = (1 - momentum) running + momentum batch; nullopt: cumulative average
  // (momentum = 1 / num_batches_tracked), as PyTorch's momentum=None.
  std::optional<double> momentum = 0.1;
  bool affine = true;               // learn weight (gamma) and bias (beta)
  bool track_running_stats = true;  // keep running_mean, running_var, num_batches_tracked
};

// Batch normalization, Ioffe & Szegedy 2015
// (https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html). In training it
// normalizes with the batch's statistics and updates the running ones (running_var with
// the unbiased variance) and increments num_batches_tracked; in evaluation it uses the
// running statistics (the batch's, without track_running_stats).
//
// Running a model in training mode under autograd::NoGradGuard is almost always a
// forgotten eval(): the first such call warns once per model (see set_warning_handler).
class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

  Tensor weight;               // (C) gamma, undefined without affine
  Tensor bias;                 // (C) beta, undefined without affine
  Tensor running_mean;         // (C) buffer, undefined without track_running_stats
  Tensor running_var;          // (C) buffer
  Tensor num_batches_tracked;  // () i64 buffer

 protected:
  BatchNorm(std::string type_name, std::int64_t num_features, BatchNormOptions options);
  // Throws naming the layer unless `input` has an accepted rank and C channels.
  virtual void check_input(const Shape& input) const = 0;
  std::int64_t num_features_;

 private:
  BatchNormOptions options_;
};

// (N, C) or (N, C, L).
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(std::int64_t num_features, BatchNormOptions options = {});

 private:
  void check_input(const Shape& input) const override;
};

// (N, C, H, W).
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(std::int64_t num_features, BatchNormOptions options = {});

 private:
  void check_input(const Shape& input) const override;
};

struct LayerNormOptions {
  double eps = 1e-5;
  bool elementwise_affine = true;
  bool bias = true;  // with elementwise_affine
};

// Layer normalization, Ba et al. 2016: over the trailing dimensions `normalized_shape`,
// (..., *normalized_shape) -> same shape.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, LayerNormOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

  Tensor weight;  // normalized_shape, undefined without elementwise_affine
  Tensor bias;    // normalized_shape, undefined without elementwise_affine or bias

 private:
  void check_input(const Shape& input) const;
  Shape normalized_shape_;
  LayerNormOptions options_;
};

// ---- activations (no parameters; same shape out) ----

// Base of the element-wise layers: shape in = shape out, `flops_per_element` each.
class Elementwise : public Module {
 public:
  std::string str() const override { return type_name() + "()"; }
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

 protected:
  Elementwise(std::string type_name, double flops_per_element);

 private:
  double flops_per_element_;
};

class ReLU : public Elementwise {
 public:
  ReLU();
  Tensor forward(const Tensor& x) override;
};

class LeakyReLU : public Elementwise {
 public:
  explicit LeakyReLU(double negative_slope = 0.01);
  Tensor forward(const Tensor& x) override;
  std::string str() const override;

 private:
  double negative_slope_;
};

class GELU : public Elementwise {
 public:
  explicit GELU(ops::GeluApproximate approximate = ops::GeluApproximate::none);
  Tensor forward(const Tensor& x) override;
  std::string str() const override;

 private:
  ops::GeluApproximate approximate_;
};

class Tanh : public Elementwise {
 public:
  Tanh();
  Tensor forward(const Tensor& x) override;
};

class Sigmoid : public Elementwise {
 public:
  Sigmoid();
  Tensor forward(const Tensor& x) override;
};

// Inverted dropout with its own seeded Generator, so that a model's dropout masks do not
// depend on how many numbers other code drew. The identity in evaluation.
class Dropout : public Elementwise {
 public:
  explicit Dropout(double p = 0.5, std::uint64_t seed = 0);
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  // The mask stream; save and restore its state to resume a run exactly.
  Generator& generator() { return gen_; }

 private:
  double p_;
  Generator gen_;
};

// ---- pooling and reshaping ----

struct Pool2dOptions {
  ops::Size2 stride = 0;   // 0: kernel_size, as PyTorch's default
  ops::Size2 padding = 0;  // at most half the kernel
};

// (N, C, H, W) -> (N, C, OH, OW), OH = (H + 2 padding - kernel) / stride + 1.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(ops::Size2 kernel_size, Pool2dOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

 private:
  ops::Pool2dOptions options_;
};

// As MaxPool2d; padding counts as zeros (count_include_pad, PyTorch's default).
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(ops::Size2 kernel_size, Pool2dOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

 private:
  ops::Pool2dOptions options_;
};

// Global average pooling: (N, C, H, W) -> (N, C, 1, 1). Only output_size 1 is supported.
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(std::int64_t output_size = 1);
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;
};

// Merges dimensions start_dim..end_dim (negative from the end): (N, C, H, W) -> (N, C*H*W).
// A view: no copy.
class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1);
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

 private:
  Shape output_shape(const Shape& input) const;
  std::int64_t start_dim_;
  std::int64_t end_dim_;
};

// ---- Embedding ----

// A lookup table: indices (...) of i64/i32 in [0, num_embeddings) -> (..., embedding_dim).
class Embedding : public Module {
 public:
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, Generator& gen);
  Tensor forward(const Tensor& indices) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

  Tensor weight;  // (num_embeddings, embedding_dim)

 private:
  std::int64_t num_embeddings_;
  std::int64_t embedding_dim_;
};

// ---- Sequential ----

// Children called in order, each on the previous one's output. Children are named "0",
// "1", ... unless given names. A Linear followed by a ReLU (those exact types) runs as one op,
// Linear::forward_relu (ops::linear_relu): the same values and gradients, one pass less each
// way.
class Sequential : public Module {
 public:
  Sequential();
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    return push_back(std::to_string(size()), std::move(module));
  }
  template <typename M>
  std::shared_ptr<M> push_back(std::string name, std::shared_ptr<M> module) {
    register_module(std::move(name), module);
    return module;
  }
  std::size_t size() const { return named_children().size(); }
  Module& operator[](std::size_t index) const;

  Tensor forward(const Tensor& x) override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

 protected:
  // For models that are a sequence under their own name (MLP, CNN).
  explicit Sequential(std::string type_name);
};

// "BatchNorm2d 'layer1.0.bn1'" (or just the type for a module that is not in a model), for
// messages about a module.
std::string describe(const Module& module);

}  // namespace descent::nn
