#include "descent/nn/transformer.hpp"

#include <cmath>

#include "descent/nn/init.hpp"
#include "descent/ops/activation.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/dropout.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/shape.hpp"

namespace descent::nn {

// ---- MultiheadAttention ----

MultiheadAttention::MultiheadAttention(std::int64_t dim, std::int64_t heads, Generator& gen,
                                       MultiheadAttentionOptions options)
    : Module("MultiheadAttention"),
      dim_(dim),
      heads_(heads),
      options_(options),
      dropout_gen_(options.seed) {
  DESCENT_CHECK(dim > 0 && heads > 0 && dim % heads == 0,
                "MultiheadAttention: dim must be a positive multiple of heads, got dim ", dim,
                " and heads ", heads);
  DESCENT_CHECK(options.dropout >= 0 && options.dropout < 1,
                "MultiheadAttention: dropout must be in [0, 1), got ", options.dropout);
  // torch creates out_proj first (Linear's default draws), then resets in_proj and the biases.
  out_proj = register_module("out_proj",
                             std::make_shared<Linear>(dim, dim, gen, LinearOptions{options.bias}));
  // Xavier (Glorot & Bengio 2010) uniform over the stacked (3 dim, dim) matrix, as torch:
  // bound = sqrt(6 / (fan_in + fan_out)) with fan_in = dim, fan_out = 3 dim.
  const double bound = std::sqrt(6.0 / static_cast<double>(dim + 3 * dim));
  in_proj_weight =
      register_parameter("in_proj_weight", uniform({3 * dim, dim}, -bound, bound, gen));
  if (options.bias) {
    in_proj_bias = register_parameter("in_proj_bias", zeros({3 * dim}), ParamKind::bias);
    out_proj->bias.fill_(0.0);
  }
}

void MultiheadAttention::check_input(const Shape& input) const {
  DESCENT_CHECK(input.size() == 3 && input[2] == dim_, describe(*this), ": expected x (B, T, ",
                dim_, "), got ", shape_str(input));
}

Tensor MultiheadAttention::forward(const Tensor& x) {  // (B, T, dim)
  check_input(x.shape());
  const std::int64_t B = x.shape()[0];
  const std::int64_t T = x.shape()[1];
  const std::int64_t d = dim_ / heads_;
  const Tensor qkv = ops::linear(x, in_proj_weight, in_proj_bias);  // (B, T, 3 dim)
  // (B, T, 3, heads, d) -> (3, B, heads, T, d)
  const Tensor split = ops::permute(ops::reshape(qkv, {B, T, 3, heads_, d}), {2, 0, 3, 1, 4});
  auto part = [&](std::int64_t i) {  // (B, heads, T, d)
    return ops::reshape(ops::slice(split, 0, i, i + 1), {B, heads_, T, d});
  };
  const Tensor q = ops::mul(part(0), 1.0 / std::sqrt(static_cast<double>(d)));
  const Tensor k = part(1);
  const Tensor v = part(2);
  const Tensor scores = ops::matmul(q, ops::transpose(k, 2, 3));  // (B, heads, T, T)
  Tensor weights = options_.causal ? ops::causal_softmax(scores) : ops::softmax(scores, -1);
  if (options_.dropout > 0) {
    weights = ops::dropout(weights, options_.dropout, is_training(), dropout_gen_);
  }
  const Tensor heads = ops::matmul(weights, v);  // (B, heads, T, d)
  const Tensor merged = ops::reshape(ops::permute(heads, {0, 2, 1, 3}), {B, T, dim_});
  return out_proj->forward(merged);  // (B, T, dim)
}

std::string MultiheadAttention::str() const {
  return cat("MultiheadAttention(", dim_, ", heads=", heads_, options_.causal ? ", causal" : "",
             options_.bias ? "" : ", bias=false", ")");
}

Shape MultiheadAttention::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  check_input(input);
  const double B = static_cast<double>(input[0]);
  const double T = static_cast<double>(input[1]);
  const double D = static_cast<double>(dim_);
  // in projection, scores, weights @ v (the out projection is its own row below)
  const double flops = B * (2 * T * D * 3 * D + 2 * T * T * D + 5 * T * T * heads_ + 2 * T * T * D);
  add_row(rows, input, flops);
  return out_proj->summarize(input, rows);
}

// ---- TransformerBlock ----

TransformerBlock::TransformerBlock(std::int64_t dim, std::int64_t heads, Generator& gen,
                                   TransformerBlockOptions options)
    : Module("TransformerBlock") {
  DESCENT_CHECK(options.mlp_ratio > 0, "TransformerBlock: mlp_ratio must be positive, got ",
                options.mlp_ratio);
  ln1 = register_module("ln1", std::make_shared<LayerNorm>(Shape{dim}));
  attn = register_module(
      "attn", std::make_shared<MultiheadAttention>(
                  dim, heads, gen,
                  MultiheadAttentionOptions{.dropout = options.dropout, .seed = options.seed}));
  ln2 = register_module("ln2", std::make_shared<LayerNorm>(Shape{dim}));
  mlp = register_module("mlp", std::make_shared<Sequential>());
  mlp->push_back(std::make_shared<Linear>(dim, options.mlp_ratio * dim, gen));
  mlp->push_back(std::make_shared<GELU>());
  mlp->push_back(std::make_shared<Linear>(options.mlp_ratio * dim, dim, gen));
  drop = register_module("drop", std::make_shared<Dropout>(options.dropout, options.seed + 1));
}

Tensor TransformerBlock::forward(const Tensor& x) {  // (B, T, dim)
  Tensor out = ops::add(x, drop->forward(attn->forward(ln1->forward(x))));
  return ops::add(out, drop->forward(mlp->forward(ln2->forward(out))));
}

Shape TransformerBlock::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  Shape shape = attn->summarize(ln1->summarize(input, rows), rows);
  shape = mlp->summarize(ln2->summarize(shape, rows), rows);
  rows.push_back(
      {path() + ".add", "residual adds", shape, 0, 2.0 * static_cast<double>(shape_numel(shape))});
  return shape;
}

// ---- TransformerLM ----

Tensor sinusoidal_positions(std::int64_t max_len, std::int64_t dim, DType dtype) {
  DESCENT_CHECK(max_len > 0 && dim > 0 && dim % 2 == 0,
                "sinusoidal_positions: need max_len > 0 and an even dim > 0, got ", max_len,
                " and ", dim);
  std::vector<double> values(static_cast<std::size_t>(max_len * dim));
  for (std::int64_t t = 0; t < max_len; ++t) {
    for (std::int64_t i = 0; i < dim / 2; ++i) {
      const double angle = static_cast<double>(t) / std::pow(10000.0, 2.0 * static_cast<double>(i) /
                                                                          static_cast<double>(dim));
      values[t * dim + 2 * i] = std::sin(angle);
      values[t * dim + 2 * i + 1] = std::cos(angle);
    }
  }
  return from_vector(values, {max_len, dim}, dtype);
}

TransformerLM::TransformerLM(const TransformerLMOptions& options, Generator& gen)
    : Module("TransformerLM"), options_(options) {
  DESCENT_CHECK(options.vocab_size > 0 && options.max_len > 0 && options.layers >= 0,
                "TransformerLM: vocab_size and max_len must be positive and layers >= 0, got ",
                options.vocab_size, ", ", options.max_len, ", ", options.layers);
  DESCENT_CHECK(options.dim > 0 && options.heads > 0 && options.dim % options.heads == 0,
                "TransformerLM: dim must be a positive multiple of heads, got dim ", options.dim,
                " and heads ", options.heads);
  tok_emb =
      register_module("tok_emb", std::make_shared<Embedding>(options.vocab_size, options.dim, gen));
  normal_(tok_emb->weight, 0.0, 0.02, gen);
  if (options.positions == Positions::learned) {
    pos_emb = register_parameter("pos_emb", normal({options.max_len, options.dim}, 0.0, 0.02, gen));
  } else {
    pos_emb = sinusoidal_positions(options.max_len, options.dim);
  }
  blocks = register_module("blocks", std::make_shared<Sequential>());
  for (std::int64_t i = 0; i < options.layers; ++i) {
    blocks->push_back(std::make_shared<TransformerBlock>(
        options.dim, options.heads, gen,
        TransformerBlockOptions{.dropout = options.dropout,
                                .seed = options.seed + 2 * static_cast<std::uint64_t>(i)}));
  }
  ln_f = register_module("ln_f", std::make_shared<LayerNorm>(Shape{options.dim}));
  if (!options.tie_weights) {
    head = register_module("head", std::make_shared<Linear>(options.dim, options.vocab_size, gen));
  }
}

void TransformerLM::check_input(const Shape& input) const {
  DESCENT_CHECK(input.size() == 2 && input[1] >= 1 && input[1] <= options_.max_len, describe(*this),
                ": expected tokens (B, T) with 1 <= T <= max_len = ", options_.max_len, ", got ",
                shape_str(input));
}

Tensor TransformerLM::forward(const Tensor& tokens) {  // (B, T)
  check_input(tokens.shape());
  const std::int64_t T = tokens.shape()[1];
  Tensor x = tok_emb->forward(tokens);                                // (B, T, dim)
  if (pos_emb.dtype() != x.dtype()) pos_emb = pos_emb.to(x.dtype());  // sinusoidal after to()
  x = ops::add(x, ops::slice(pos_emb, 0, 0, T));  // + (T, dim), broadcast over B
  x = ln_f->forward(blocks->forward(x));
  return head ? head->forward(x) : ops::linear(x, tok_emb->weight);  // (B, T, vocab)
}

std::string TransformerLM::str() const {
  return cat("TransformerLM(vocab=", options_.vocab_size, ", dim=", options_.dim,
             ", heads=", options_.heads, ", layers=", options_.layers,
             options_.positions == Positions::learned ? "" : ", sinusoidal",
             options_.tie_weights ? ", tied" : "", ")");
}

Shape TransformerLM::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  check_input(input);
  Shape shape = tok_emb->summarize(input, rows);
  rows.push_back({path().empty() ? "pos_emb" : path() + ".pos_emb", "position embedding add", shape,
                  options_.positions == Positions::learned ? pos_emb.numel() : 0,
                  static_cast<double>(shape_numel(shape))});
  shape = ln_f->summarize(blocks->summarize(shape, rows), rows);
  if (head) return head->summarize(shape, rows);
  Shape out = shape;
  out.back() = options_.vocab_size;
  rows.push_back(
      {"head (tied to tok_emb)", "x tok_emb^T", out, 0,
       2.0 * static_cast<double>(shape_numel(shape)) * static_cast<double>(options_.vocab_size)});
  return out;
}

}  // namespace descent::nn
