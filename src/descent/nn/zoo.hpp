// The model zoo: the networks the experiments compare, buildable by name.
//
// ====== Intended usage ======
//   Generator gen(seed);
//   nn::ModelSpec spec = nn::ModelSpec::parse("resnet56,skip=0");   // the plain twin
//   std::shared_ptr<nn::Module> model = nn::build_model(spec, gen);  // parameters flattened
//   nn::FlatParameters& flat = model->flat_parameters();
//   Tensor logits = model->forward(images);                         // (N, 1, 28, 28) -> (N, 10)
//
// Spec strings: <model>[:<argument>][,<option>=<value>]...
//   mlp[:<sizes>]  sizes joined by '-', default 784-256-256-10
//                  act=relu|leaky_relu|gelu|tanh|sigmoid (relu), bn=0|1 (0), dropout=<p> (0)
//   cnn            conv(C->32,3,pad 1)-BN-ReLU-maxpool2, conv(32->64,3,pad 1)-BN-ReLU-maxpool2,
//                  flatten, linear(64*H/4*W/4 -> 128)-ReLU-linear(128 -> classes)
//                  bn=0|1 (1), classes=<n> (10), input=<C>x<H>x<W> (1x28x28)
//   resnet<depth>  He et al.'s CIFAR ResNet, depth = 6n+2 (20, 32, 44, 56, 110, ...)
//                  skip=0|1 (1), bn=0|1 (1), classes=<n> (10), input=<C>x<H>x<W> (1x28x28),
//                  shortcut=A|B (A: zero-padding, no parameters; B: 1x1 conv + BN projection),
//                  init=pytorch|he (pytorch), zero_init_residual=0|1 (0)
//   rnn[:<hidden>], lstm[:<hidden>], gru[:<hidden>]   (hidden 128)
//                  a recurrent net read at its last step by a linear layer:
//                  (N, T, F) -> (N, outputs); layers=<n> (1), act=tanh|relu (rnn only; tanh),
//                  input=<T>x<F> (100x2: the adding problem), outputs=<K> (1)
//   transformer    TransformerLM (transformer.hpp): (N, T) tokens -> (N, T, vocab);
//                  vocab=<V> (256), len=<max T> (128), dim=<d> (128), heads=<h> (4),
//                  layers=<n> (2), pos=learned|sinusoidal (learned), tied=0|1 (0),
//                  dropout=<p> (0)
// e.g. "resnet20", "resnet110,bn=0", "mlp:784-512-10,act=gelu,bn=1", "cnn,bn=0".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "descent/nn/layers.hpp"
#include "descent/nn/recurrent.hpp"
#include "descent/nn/residual.hpp"
#include "descent/nn/transformer.hpp"

namespace descent::nn {

enum class Activation { relu, leaky_relu, gelu, tanh, sigmoid };
// "relu" -> Activation::relu; throws listing the known names.
Activation parse_activation(std::string_view name);
std::string_view activation_name(Activation activation);
std::shared_ptr<Module> make_activation(Activation activation);

// ---- MLP ----

struct MLPOptions {
  std::vector<std::int64_t> sizes = {784, 256, 256, 10};  // input, hidden..., output
  Activation activation = Activation::relu;
  bool batch_norm = false;  // BatchNorm1d after each hidden linear layer, before the activation
  double dropout = 0.0;     // Dropout after each hidden activation when > 0
  std::uint64_t dropout_seed = 0;
};

// flatten, then for each hidden layer k: fc<k> [bn<k>] act<k> [drop<k>], then the output
// fc. (N, ...) with sizes[0] elements per sample -> (N, sizes.back()).
class MLP : public Sequential {
 public:
  MLP(const MLPOptions& options, Generator& gen);
  std::string str() const override;

 private:
  MLPOptions options_;
};

// ---- CNN ----

struct CNNOptions {
  std::int64_t in_channels = 1;
  ops::Size2 image_size = 28;
  std::int64_t num_classes = 10;
  bool batch_norm = true;
};

// conv1 bn1 relu1 pool1 conv2 bn2 relu2 pool2 flatten fc1 relu3 fc2, as in the header.
class CNN : public Sequential {
 public:
  CNN(const CNNOptions& options, Generator& gen);
  std::string str() const override;

 private:
  CNNOptions options_;
};

// ---- ResNet ----

struct ResNetOptions {
  std::int64_t depth = 20;  // 6n + 2: n basic blocks per stage
  std::int64_t in_channels = 1;
  std::int64_t num_classes = 10;
  bool skip = true;  // false: the plain twin
  // Option A (He et al.'s CIFAR networks, and the default: the plain twin then has exactly
  // the same layers) or option B (1x1 convolution + BN where the shape changes).
  Shortcut shortcut = Shortcut::zero_pad;
  bool batch_norm = true;  // false: no BN anywhere; convolutions get biases
  // The convolutions' weights: PyTorch's layer default (kaiming_uniform_, a = sqrt(5)), or
  // he: N(0, 2 / fan_out) as torchvision's ResNets (biases, BN and fc keep their defaults).
  bool he_init = false;
  // Each block's last BN starts with weight 0, so every residual block starts as the
  // identity (torchvision's zero_init_residual; Goyal et al. 2017, section 5.1). Needs BN
  // and skip connections.
  bool zero_init_residual = false;
};

// He et al. 2016, section 4.2 (CIFAR-10): conv3x3(16) BN ReLU, three stages of n BasicBlocks
// with 16, 32, 64 channels (the first block of stages 2 and 3 has stride 2), global average
// pooling, a linear layer. Names: conv1, bn1, layer1..layer3 (blocks "0".."n-1"), fc.
// (N, in_channels, H, W) -> (N, num_classes).
class ResNet : public Module {
 public:
  ResNet(const ResNetOptions& options, Generator& gen);
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;  // null without batch_norm
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<Sequential> layer1, layer2, layer3;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Flatten> flatten;
  std::shared_ptr<Linear> fc;

 private:
  ResNetOptions options_;
};

// ---- a recurrent net for sequence tasks ----

enum class RecurrentCell { rnn_tanh, rnn_relu, lstm, gru };

struct SequenceModelOptions {
  RecurrentCell cell = RecurrentCell::lstm;
  std::int64_t input_size = 2;  // features per step
  std::int64_t hidden_size = 128;
  std::int64_t num_layers = 1;
  std::int64_t outputs = 1;  // regression targets or classes
};

// rnn (RNN, LSTM or GRU, batch_first), then fc on the last step's output of the last layer:
// (N, T, input_size) -> (N, outputs). Names: rnn.weight_ih_l0, ..., fc.weight, fc.bias.
class SequenceModel : public Module {
 public:
  SequenceModel(const SequenceModelOptions& options, Generator& gen);
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

  std::shared_ptr<Recurrent> rnn;
  std::shared_ptr<Linear> fc;

 private:
  SequenceModelOptions options_;
};

// ---- building by name ----

struct ModelSpec {
  std::string text;  // what it was parsed from
  std::variant<MLPOptions, CNNOptions, ResNetOptions, SequenceModelOptions, TransformerLMOptions>
      options;
  Shape input = {1, 28, 28};  // one sample, without the batch dimension: (T, F) for the
                              // recurrent nets, (T) tokens for the transformer

  // Throws Error quoting the spec and saying what is wrong and what is accepted.
  static ModelSpec parse(std::string_view text);
};

// Builds the model with parameters drawn from `gen` and flattened (flat_parameters()).
std::shared_ptr<Module> build_model(const ModelSpec& spec, Generator& gen);

}  // namespace descent::nn
