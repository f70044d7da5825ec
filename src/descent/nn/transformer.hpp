// A small decoder-only transformer: multi-head self-attention with a causal mask, pre-norm
// blocks with a GELU MLP, learned or sinusoidal positions, a token embedding and an output
// layer that may share its weight with it.
//
// ====== Intended usage ======
//   Generator gen(0);
//   nn::TransformerLM lm({.vocab_size = 96, .max_len = 128, .dim = 128, .heads = 4,
//                         .layers = 2}, gen);
//   Tensor logits = lm.forward(tokens);          // (B, T) i64 -> (B, T, vocab_size)
//   Tensor loss = ops::cross_entropy(ops::reshape(logits, {-1, 96}), ops::reshape(next, {-1}));
//
// Attention (Vaswani et al. 2017, "Attention Is All You Need", section 3.2), as
// torch.nn.MultiheadAttention with batch_first=True
// (https://pytorch.org/docs/stable/generated/torch.nn.MultiheadAttention.html), per head h
// of size d = dim / heads:
//   q, k, v = x W_q^T + b_q, x W_k^T + b_k, x W_v^T + b_v   (the three stacked in in_proj)
//   A_h     = softmax(q_h k_h^T / sqrt(d))                    row t sees keys <= t (causal)
//   out     = concat_h(A_h v_h) W_o^T + b_o                   (out_proj)
// Parameter names and initialization are torch's: in_proj_weight (3 dim, dim) Xavier-uniform,
// in_proj_bias zeros, out_proj.weight as Linear's default, out_proj.bias zeros.
//
// Block (pre-norm, as GPT-2; Xiong et al. 2020 show it trains without the warmup the
// post-norm original needs):
//   x = x + attn(ln1(x))
//   x = x + mlp(ln2(x))          mlp = Linear(dim, 4 dim) -> GELU -> Linear(4 dim, dim)
// Model: tok_emb (vocab, dim) and, when learned, pos_emb (max_len, dim), both N(0, 0.02^2)
// as GPT-2; sinusoidal positions (Vaswani et al., section 3.5) are a buffer that is not
// saved; blocks.<i>; ln_f; head (dim -> vocab), or with tie_weights the logits are
// x tok_emb^T (Press & Wolf 2017) and there is no head.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "descent/nn/layers.hpp"

namespace descent::nn {

struct MultiheadAttentionOptions {
  bool bias = true;
  bool causal = true;    // mask the future: position t attends to positions <= t
  double dropout = 0.0;  // on the attention weights, in training
  std::uint64_t seed = 0;
};

// Self-attention: (B, T, dim) -> (B, T, dim).
class MultiheadAttention : public Module {
 public:
  MultiheadAttention(std::int64_t dim, std::int64_t heads, Generator& gen,
                     MultiheadAttentionOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

  Tensor in_proj_weight;  // (3 dim, dim): W_q, W_k, W_v stacked
  Tensor in_proj_bias;    // (3 dim), undefined without bias
  std::shared_ptr<Linear> out_proj;

 private:
  void check_input(const Shape& input) const;
  std::int64_t dim_;
  std::int64_t heads_;
  MultiheadAttentionOptions options_;
  Generator dropout_gen_;
};

struct TransformerBlockOptions {
  std::int64_t mlp_ratio = 4;
  double dropout = 0.0;  // on the attention weights and after each residual branch
  std::uint64_t seed = 0;
};

// Pre-norm: x + attn(ln1(x)), then + mlp(ln2(x)). (B, T, dim) -> (B, T, dim).
class TransformerBlock : public Module {
 public:
  TransformerBlock(std::int64_t dim, std::int64_t heads, Generator& gen,
                   TransformerBlockOptions options = {});
  Tensor forward(const Tensor& x) override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;

  std::shared_ptr<LayerNorm> ln1;
  std::shared_ptr<MultiheadAttention> attn;
  std::shared_ptr<LayerNorm> ln2;
  std::shared_ptr<Sequential> mlp;  // 0: Linear, 1: GELU, 2: Linear
  std::shared_ptr<Dropout> drop;
};

enum class Positions { learned, sinusoidal };

struct TransformerLMOptions {
  std::int64_t vocab_size = 0;
  std::int64_t max_len = 128;  // longest sequence
  std::int64_t dim = 128;
  std::int64_t heads = 4;
  std::int64_t layers = 2;
  Positions positions = Positions::learned;
  bool tie_weights = false;
  double dropout = 0.0;
  std::uint64_t seed = 0;  // of dropout
};

// Token indices (B, T), T <= max_len, i64 or i32 -> next-token logits (B, T, vocab_size).
class TransformerLM : public Module {
 public:
  TransformerLM(const TransformerLMOptions& options, Generator& gen);
  Tensor forward(const Tensor& tokens) override;
  std::string str() const override;
  Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const override;
  const TransformerLMOptions& options() const { return options_; }

  std::shared_ptr<Embedding> tok_emb;
  Tensor pos_emb;  // (max_len, dim): a parameter (learned) or a buffer that is not saved
  std::shared_ptr<Sequential> blocks;
  std::shared_ptr<LayerNorm> ln_f;
  std::shared_ptr<Linear> head;  // null with tie_weights

 private:
  void check_input(const Shape& input) const;
  TransformerLMOptions options_;
};

// Sinusoidal position encodings (max_len, dim): PE(t, 2i) = sin(t / 10000^(2i/dim)),
// PE(t, 2i+1) = cos(t / 10000^(2i/dim)).
Tensor sinusoidal_positions(std::int64_t max_len, std::int64_t dim, DType dtype = DType::f32);

}  // namespace descent::nn
