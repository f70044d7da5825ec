// Recurrent layers, as torch.nn.RNN, torch.nn.LSTM and torch.nn.GRU
// (https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html): the same constructor
// arguments, gate order, parameter names, initialization and results.
//
// ====== Intended usage ======
//   Generator gen(0);
//   auto lstm = std::make_shared<nn::LSTM>(1, 128, gen, nn::LSTMOptions{.batch_first = true});
//   Tensor y = lstm->forward(x);                       // (B, T, 1) -> (B, T, 128)
//   nn::RecurrentOutput all = lstm->forward_with_state(x, h0, c0);
//   all.output;  // (B, T, 128)   every step's hidden state of the last layer
//   all.h_n;     // (num_layers, B, 128)   the last step's hidden state of every layer
//   all.c_n;     // (num_layers, B, 128)   the last step's cell state (LSTM only)
//
// Cells, per layer l and step t (x_t is the input of the layer: the sequence for l = 0,
// layer l-1's hidden states above), sigma the logistic function, * element-wise:
//   RNN   h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   act = tanh or relu
//   LSTM  (Hochreiter & Schmidhuber 1997; with forget gate, Gers et al. 2000)
//         i = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      input gate
//         f = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf)      forget gate
//         g = tanh (W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)      candidate
//         o = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho)      output gate
//         c_t = f * c_{t-1} + i * g
//         h_t = o * tanh(c_t)
//   GRU   (Cho et al. 2014)
//         r = sigma(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)      reset gate
//         z = sigma(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)      update gate
//         n = tanh (W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
//         h_t = (1 - z) * n + z * h_{t-1}
//
// Parameters of layer l, gates stacked in the order above (G = 1, 4, 3 gates):
//   weight_ih_l{l}  (G*H, I) for l = 0, (G*H, H) above
//   weight_hh_l{l}  (G*H, H)
//   bias_ih_l{l}    (G*H)      (with bias)
//   bias_hh_l{l}    (G*H)
// all initialized from U(-1/sqrt(H), 1/sqrt(H)), PyTorch's default, drawn from `gen` in
// that order, layer by layer.
//
// Each layer runs as one autograd op: the input projection of all T steps is one GEMM,
// (T*B, I) @ W_ih^T; the time loop does one (B, H) @ W_hh^T GEMM and one element-wise
// pass per step into buffers allocated once per call, and the backward pass (through time)
// is written by hand in the same shape, ending in one GEMM per weight gradient.
//
// Not (yet) supported: bidirectional, dropout between layers, proj_size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/nn/module.hpp"

namespace descent::nn {

enum class RNNNonlinearity { tanh, relu };

struct RNNOptions {
  std::int64_t num_layers = 1;
  RNNNonlinearity nonlinearity = RNNNonlinearity::tanh;
  bool bias = true;
  bool batch_first = false;  // input and output (B, T, features) instead of (T, B, features)
};

struct LSTMOptions {
  std::int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
};

struct GRUOptions {
  std::int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
};

struct RecurrentOutput {
  Tensor output;  // (T, B, H), or (B, T, H) with batch_first: the last layer at every step
  Tensor h_n;     // (num_layers, B, H): every layer at the last step (batch_first or not)
  Tensor c_n;     // (num_layers, B, H): LSTM's cell states at the last step; else undefined
};

// The shared machinery of RNN, LSTM and GRU; construct those.
class Recurrent : public Module {
 public:
  // Input x (T, B, input_size), or (B, T, input_size) with batch_first; T and B at least 1.
  // h0 (num_layers, B, H) and, for LSTM only, c0 (num_layers, B, H): both or neither for
  // LSTM; zeros when undefined. Throws naming the layer and the shapes on a mismatch.
  RecurrentOutput forward_with_state(const Tensor& x, const Tensor& h0 = Tensor(),
                                     const Tensor& c0 = Tensor());
  // forward_with_state(x).output.
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

  std::int64_t input_size() const { return input_size_; }
  std::int64_t hidden_size() const { return hidden_size_; }
  std::int64_t num_layers() const { return num_layers_; }
  bool batch_first() const { return batch_first_; }

  // Per layer, the registered parameters (bias_* undefined without bias).
  std::vector<Tensor> weight_ih;  // [l] (G*H, I or H)
  std::vector<Tensor> weight_hh;  // [l] (G*H, H)
  std::vector<Tensor> bias_ih;    // [l] (G*H)
  std::vector<Tensor> bias_hh;    // [l] (G*H)

  // Which cell; set by the subclass.
  enum class Cell { rnn_tanh, rnn_relu, lstm, gru };
  Cell cell() const { return cell_; }

 protected:
  Recurrent(std::string type_name, Cell cell, std::int64_t input_size, std::int64_t hidden_size,
            std::int64_t num_layers, bool bias, bool batch_first, Generator& gen);

 private:
  void check_input(const Shape& input) const;
  void check_state(const char* name, const Tensor& state, std::int64_t batch) const;
  Cell cell_;
  std::int64_t input_size_;
  std::int64_t hidden_size_;
  std::int64_t num_layers_;
  bool batch_first_;
};

// Elman RNN: tanh (default) or relu.
class RNN : public Recurrent {
 public:
  RNN(std::int64_t input_size, std::int64_t hidden_size, Generator& gen, RNNOptions options = {});
};

class LSTM : public Recurrent {
 public:
  LSTM(std::int64_t input_size, std::int64_t hidden_size, Generator& gen, LSTMOptions options = {});
};

class GRU : public Recurrent {
 public:
  GRU(std::int64_t input_size, std::int64_t hidden_size, Generator& gen, GRUOptions options = {});
};

}  // namespace descent::nn
