#include "descent/nn/layers.hpp"

#include <algorithm>
#include <cmath>
#include <typeinfo>

#include "descent/autograd/autograd.hpp"
#include "descent/nn/init.hpp"
#include "descent/ops/dropout.hpp"
#include "descent/ops/embedding.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/norm.hpp"
#include "descent/ops/reduce.hpp"
#include "descent/ops/shape.hpp"

namespace descent::nn {
namespace {

std::string size2_str(const ops::Size2& s) {
  return s.h == s.w ? std::to_string(s.h) : cat("(", s.h, ", ", s.w, ")");
}

const char* bool_str(bool value) {
  return value ? "true" : "false";
}

void check_positive(const Module& module, const char* what, std::int64_t value) {
  DESCENT_CHECK(value > 0, module.type_name(), ": ", what, " must be positive, got ", value);
}

void check_size2(const Module& module, const char* what, const ops::Size2& value,
                 std::int64_t minimum) {
  DESCENT_CHECK(value.h >= minimum && value.w >= minimum, module.type_name(), ": ", what,
                " must be at least ", minimum, ", got ", size2_str(value));
}

// One spatial output size of a convolution or pooling window; throws when the window does
// not fit.
std::int64_t window_output(const Module& module, const Shape& input, std::int64_t size,
                           std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                           std::int64_t dilation) {
  const std::int64_t span = dilation * (kernel - 1) + 1;
  DESCENT_CHECK(size + 2 * padding >= span, describe(module), ": input ", shape_str(input),
                " is smaller than the kernel window (", span, " with padding ", padding, ")");
  return (size + 2 * padding - span) / stride + 1;
}

}  // namespace

std::string describe(const Module& module) {
  return module.path().empty() ? module.type_name()
                               : cat(module.type_name(), " '", module.path(), "'");
}

// ---- Linear ----

Linear::Linear(std::int64_t in_features, std::int64_t out_features, Generator& gen,
               LinearOptions options)
    : Module("Linear"), in_features_(in_features), out_features_(out_features) {
  check_positive(*this, "in_features", in_features);
  check_positive(*this, "out_features", out_features);
  Tensor w = empty({out_features, in_features});
  init::kaiming_uniform_(w, std::sqrt(5.0), gen);
  weight = register_parameter("weight", w);
  if (options.bias) {
    Tensor b = empty({out_features});
    init::default_bias_(b, in_features, gen);
    bias = register_parameter("bias", b, ParamKind::bias);
  }
}

void Linear::check_input(const Shape& input) const {
  DESCENT_CHECK(!input.empty() && input.back() == in_features_, describe(*this),
                ": expected (..., ", in_features_, "), got ", shape_str(input));
}

Tensor Linear::forward(const Tensor& x) {
  check_input(x.shape());
  return ops::linear(x, weight, bias);
}

Tensor Linear::forward_relu(const Tensor& x) {
  check_input(x.shape());
  return ops::linear_relu(x, weight, bias);
}

std::string Linear::str() const {
  return cat("Linear(", in_features_, ", ", out_features_, ", bias=", bool_str(bias.defined()),
             ")");
}

Shape Linear::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  check_input(input);
  Shape output = input;
  output.back() = out_features_;
  const double vectors = static_cast<double>(shape_numel(input) / in_features_);
  const double per_vector =
      2.0 * in_features_ * out_features_ + (bias.defined() ? out_features_ : 0);
  return add_row(rows, output, vectors * per_vector);
}

// ---- Conv2d ----

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, ops::Size2 kernel_size,
               Generator& gen, Conv2dOptions options)
    : Module("Conv2d"),
      in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_size_(kernel_size),
      options_(options) {
  check_positive(*this, "in_channels", in_channels);
  check_positive(*this, "out_channels", out_channels);
  check_size2(*this, "kernel_size", kernel_size, 1);
  check_size2(*this, "stride", options.stride, 1);
  check_size2(*this, "padding", options.padding, 0);
  check_size2(*this, "dilation", options.dilation, 1);
  Tensor w = empty({out_channels, in_channels, kernel_size.h, kernel_size.w});
  init::kaiming_uniform_(w, std::sqrt(5.0), gen);
  weight = register_parameter("weight", w);
  if (options.bias) {
    Tensor b = empty({out_channels});
    init::default_bias_(b, init::fan_in(w), gen);
    bias = register_parameter("bias", b, ParamKind::bias);
  }
}

Shape Conv2d::output_shape(const Shape& input) const {
  DESCENT_CHECK(input.size() == 4 && input[1] == in_channels_, describe(*this), ": expected (N, ",
                in_channels_, ", H, W), got ", shape_str(input));
  const std::int64_t oh = window_output(*this, input, input[2], kernel_size_.h, options_.stride.h,
                                        options_.padding.h, options_.dilation.h);
  const std::int64_t ow = window_output(*this, input, input[3], kernel_size_.w, options_.stride.w,
                                        options_.padding.w, options_.dilation.w);
  return {input[0], out_channels_, oh, ow};
}

Tensor Conv2d::forward(const Tensor& x) {
  output_shape(x.shape());
  return ops::conv2d(
      x, weight, bias,
      {.stride = options_.stride, .padding = options_.padding, .dilation = options_.dilation});
}

std::string Conv2d::str() const {
  std::string out =
      cat("Conv2d(", in_channels_, ", ", out_channels_, ", kernel_size=", size2_str(kernel_size_));
  if (options_.stride.h != 1 || options_.stride.w != 1) {
    out += ", stride=" + size2_str(options_.stride);
  }
  if (options_.padding.h != 0 || options_.padding.w != 0) {
    out += ", padding=" + size2_str(options_.padding);
  }
  if (options_.dilation.h != 1 || options_.dilation.w != 1) {
    out += ", dilation=" + size2_str(options_.dilation);
  }
  return out + ", bias=" + bool_str(bias.defined()) + ")";
}

Shape Conv2d::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  const Shape output = output_shape(input);
  const double outputs = static_cast<double>(shape_numel(output));
  const double macs_per_output =
      static_cast<double>(in_channels_ * kernel_size_.h * kernel_size_.w);
  return add_row(rows, output, outputs * (2.0 * macs_per_output + (bias.defined() ? 1.0 : 0.0)));
}

// ---- BatchNorm ----

BatchNorm::BatchNorm(std::string type_name, std::int64_t num_features, BatchNormOptions options)
    : Module(std::move(type_name)), num_features_(num_features), options_(options) {
  check_positive(*this, "num_features", num_features);
  DESCENT_CHECK(options.eps > 0, Module::type_name(), ": eps must be positive, got ", options.eps);
  DESCENT_CHECK(!options.momentum || (*options.momentum >= 0 && *options.momentum <= 1),
                Module::type_name(), ": momentum must be in [0, 1], got ",
                options.momentum.value_or(0));
  if (options.affine) {
    weight = register_parameter("weight", ones({num_features}), ParamKind::norm);
    bias = register_parameter("bias", zeros({num_features}), ParamKind::norm);
  }
  if (options.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}));
    running_var = register_buffer("running_var", ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, DType::i64));
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_input(x.shape());
  const bool training = is_training();
  if (training) {
    DESCENT_CHECK(x.numel() / num_features_ > 1, describe(*this),
                  ": expected more than 1 value per channel when training, got input ",
                  shape_str(x.shape()));
  }
  double momentum = options_.momentum.value_or(0.0);
  const bool update_running = training && options_.track_running_stats;
  if (update_running) {
    if (!autograd::grad_enabled()) {
      warn_once_per_model(
          "batch_norm_training_under_no_grad",
          cat(describe(*this),
              " is in training mode under no-grad: batch statistics are used and running "
              "statistics updated; call model.eval() for evaluation"));
    }
    if (!options_.momentum) {
      momentum = 1.0 / static_cast<double>(*num_batches_tracked.data<std::int64_t>() + 1);
    }
  }
  // Without running statistics, evaluation normalizes with the batch's (as PyTorch).
  const ops::BatchNormOptions op_options{
      .training = training || !running_mean.defined(), .momentum = momentum, .eps = options_.eps};
  Tensor out;
  if (x.dim() == 3) {
    // (N, C, L) runs as (N, C, L, 1).
    const Tensor x4 = ops::reshape(x, {x.size(0), x.size(1), x.size(2), 1});
    out = ops::reshape(ops::batch_norm(x4, running_mean, running_var, weight, bias, op_options),
                       x.shape());
  } else {
    out = ops::batch_norm(x, running_mean, running_var, weight, bias, op_options);
  }
  if (update_running) ++*num_batches_tracked.data<std::int64_t>();
  return out;
}

std::string BatchNorm::str() const {
  std::string out = cat(type_name(), "(", num_features_);
  if (options_.eps != 1e-5) out += cat(", eps=", options_.eps);
  if (options_.momentum != std::optional<double>(0.1)) {
    out += options_.momentum ? cat(", momentum=", *options_.momentum) : ", momentum=none";
  }
  if (!options_.affine) out += ", affine=false";
  if (!options_.track_running_stats) out += ", track_running_stats=false";
  return out + ")";
}

Shape BatchNorm::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  check_input(input);
  // Inference form: one scale and one shift per element.
  return add_row(rows, input, 2.0 * static_cast<double>(shape_numel(input)));
}

BatchNorm1d::BatchNorm1d(std::int64_t num_features, BatchNormOptions options)
    : BatchNorm("BatchNorm1d", num_features, options) {}

void BatchNorm1d::check_input(const Shape& input) const {
  DESCENT_CHECK((input.size() == 2 || input.size() == 3) && input[1] == num_features_,
                describe(*this), ": expected (N, ", num_features_, ") or (N, ", num_features_,
                ", L), got ", shape_str(input));
}

BatchNorm2d::BatchNorm2d(std::int64_t num_features, BatchNormOptions options)
    : BatchNorm("BatchNorm2d", num_features, options) {}

void BatchNorm2d::check_input(const Shape& input) const {
  DESCENT_CHECK(input.size() == 4 && input[1] == num_features_, describe(*this), ": expected (N, ",
                num_features_, ", H, W), got ", shape_str(input));
}

// ---- LayerNorm ----

LayerNorm::LayerNorm(Shape normalized_shape, LayerNormOptions options)
    : Module("LayerNorm"), normalized_shape_(std::move(normalized_shape)), options_(options) {
  DESCENT_CHECK(!normalized_shape_.empty() && shape_numel(normalized_shape_) > 0,
                "LayerNorm: normalized_shape must be non-empty with positive sizes, got ",
                shape_str(normalized_shape_));
  DESCENT_CHECK(options.eps > 0, "LayerNorm: eps must be positive, got ", options.eps);
  if (options.elementwise_affine) {
    weight = register_parameter("weight", ones(normalized_shape_), ParamKind::norm);
    if (options.bias) {
      bias = register_parameter("bias", zeros(normalized_shape_), ParamKind::norm);
    }
  }
}

void LayerNorm::check_input(const Shape& input) const {
  const bool fits = input.size() >= normalized_shape_.size() &&
                    std::equal(normalized_shape_.begin(), normalized_shape_.end(),
                               input.end() - static_cast<std::ptrdiff_t>(normalized_shape_.size()));
  std::string expected = "(...";
  for (std::int64_t d : normalized_shape_) expected += cat(", ", d);
  DESCENT_CHECK(fits, describe(*this), ": expected ", expected, "), got ", shape_str(input));
}

Tensor LayerNorm::forward(const Tensor& x) {
  check_input(x.shape());
  return ops::layer_norm(x, normalized_shape_, weight, bias, options_.eps);
}

std::string LayerNorm::str() const {
  std::string out = cat("LayerNorm(", shape_str(normalized_shape_));
  if (options_.eps != 1e-5) out += cat(", eps=", options_.eps);
  if (!options_.elementwise_affine) out += ", elementwise_affine=false";
  if (options_.elementwise_affine && !options_.bias) out += ", bias=false";
  return out + ")";
}

Shape LayerNorm::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  check_input(input);
  // mean, centre, variance, normalize, scale and shift: about 5 per element.
  return add_row(rows, input, 5.0 * static_cast<double>(shape_numel(input)));
}

// ---- activations ----

Elementwise::Elementwise(std::string type_name, double flops_per_element)
    : Module(std::move(type_name)), flops_per_element_(flops_per_element) {}

Shape Elementwise::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  return add_row(rows, input, flops_per_element_ * static_cast<double>(shape_numel(input)));
}

ReLU::ReLU() : Elementwise("ReLU", 1.0) {}
Tensor ReLU::forward(const Tensor& x) {
  return ops::relu(x);
}

LeakyReLU::LeakyReLU(double negative_slope)
    : Elementwise("LeakyReLU", 1.0), negative_slope_(negative_slope) {}
Tensor LeakyReLU::forward(const Tensor& x) {
  return ops::leaky_relu(x, negative_slope_);
}
std::string LeakyReLU::str() const {
  return cat("LeakyReLU(negative_slope=", negative_slope_, ")");
}

GELU::GELU(ops::GeluApproximate approximate)
    : Elementwise("GELU", 1.0), approximate_(approximate) {}
Tensor GELU::forward(const Tensor& x) {
  return ops::gelu(x, approximate_);
}
std::string GELU::str() const {
  return approximate_ == ops::GeluApproximate::tanh ? "GELU(approximate=tanh)" : "GELU()";
}

Tanh::Tanh() : Elementwise("Tanh", 1.0) {}
Tensor Tanh::forward(const Tensor& x) {
  return ops::tanh(x);
}

Sigmoid::Sigmoid() : Elementwise("Sigmoid", 1.0) {}
Tensor Sigmoid::forward(const Tensor& x) {
  return ops::sigmoid(x);
}

Dropout::Dropout(double p, std::uint64_t seed) : Elementwise("Dropout", 0.0), p_(p), gen_(seed) {
  DESCENT_CHECK(p >= 0.0 && p <= 1.0, "Dropout: p must be in [0, 1], got ", p);
}
Tensor Dropout::forward(const Tensor& x) {
  return ops::dropout(x, p_, is_training(), gen_);
}
std::string Dropout::str() const {
  return cat("Dropout(p=", p_, ")");
}

// ---- pooling ----

namespace {

ops::Pool2dOptions pool_options(const Module& module, ops::Size2 kernel_size,
                                const Pool2dOptions& options) {
  check_size2(module, "kernel_size", kernel_size, 1);
  check_size2(module, "stride", options.stride, 0);
  check_size2(module, "padding", options.padding, 0);
  const ops::Size2 stride =
      options.stride.h == 0 && options.stride.w == 0 ? kernel_size : options.stride;
  check_size2(module, "stride", stride, 1);
  DESCENT_CHECK(2 * options.padding.h <= kernel_size.h && 2 * options.padding.w <= kernel_size.w,
                module.type_name(), ": padding ", size2_str(options.padding),
                " must be at most half the kernel ", size2_str(kernel_size));
  return {.kernel_size = kernel_size, .stride = stride, .padding = options.padding};
}

Shape pool_output(const Module& module, const ops::Pool2dOptions& options, const Shape& input) {
  DESCENT_CHECK(input.size() == 4, describe(module), ": expected (N, C, H, W), got ",
                shape_str(input));
  return {input[0], input[1],
          window_output(module, input, input[2], options.kernel_size.h, options.stride.h,
                        options.padding.h, 1),
          window_output(module, input, input[3], options.kernel_size.w, options.stride.w,
                        options.padding.w, 1)};
}

std::string pool_str(const char* name, const ops::Pool2dOptions& options) {
  std::string out = cat(name, "(kernel_size=", size2_str(options.kernel_size),
                        ", stride=", size2_str(options.stride));
  if (options.padding.h != 0 || options.padding.w != 0) {
    out += ", padding=" + size2_str(options.padding);
  }
  return out + ")";
}

}  // namespace

MaxPool2d::MaxPool2d(ops::Size2 kernel_size, Pool2dOptions options)
    : Module("MaxPool2d"), options_(pool_options(*this, kernel_size, options)) {}

Tensor MaxPool2d::forward(const Tensor& x) {
  pool_output(*this, options_, x.shape());
  return ops::max_pool2d(x, options_);
}

std::string MaxPool2d::str() const {
  return pool_str("MaxPool2d", options_);
}

Shape MaxPool2d::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  const Shape output = pool_output(*this, options_, input);
  const double window = static_cast<double>(options_.kernel_size.h * options_.kernel_size.w);
  return add_row(rows, output, window * static_cast<double>(shape_numel(output)));
}

AvgPool2d::AvgPool2d(ops::Size2 kernel_size, Pool2dOptions options)
    : Module("AvgPool2d"), options_(pool_options(*this, kernel_size, options)) {}

Tensor AvgPool2d::forward(const Tensor& x) {
  pool_output(*this, options_, x.shape());
  return ops::avg_pool2d(x, options_);
}

std::string AvgPool2d::str() const {
  return pool_str("AvgPool2d", options_);
}

Shape AvgPool2d::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  const Shape output = pool_output(*this, options_, input);
  const double window = static_cast<double>(options_.kernel_size.h * options_.kernel_size.w);
  return add_row(rows, output, window * static_cast<double>(shape_numel(output)));
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(std::int64_t output_size) : Module("AdaptiveAvgPool2d") {
  DESCENT_CHECK(output_size == 1, "AdaptiveAvgPool2d: only output_size 1 is supported, got ",
                output_size);
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  DESCENT_CHECK(x.dim() == 4, describe(*this), ": expected (N, C, H, W), got ",
                shape_str(x.shape()));
  return ops::global_avg_pool2d(x);
}

std::string AdaptiveAvgPool2d::str() const {
  return "AdaptiveAvgPool2d(1)";
}

Shape AdaptiveAvgPool2d::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  DESCENT_CHECK(input.size() == 4, describe(*this), ": expected (N, C, H, W), got ",
                shape_str(input));
  return add_row(rows, {input[0], input[1], 1, 1}, static_cast<double>(shape_numel(input)));
}

// ---- Flatten ----

Flatten::Flatten(std::int64_t start_dim, std::int64_t end_dim)
    : Module("Flatten"), start_dim_(start_dim), end_dim_(end_dim) {}

Shape Flatten::output_shape(const Shape& input) const {
  const auto rank = static_cast<std::int64_t>(input.size());
  const std::int64_t start = start_dim_ < 0 ? start_dim_ + rank : start_dim_;
  const std::int64_t end = end_dim_ < 0 ? end_dim_ + rank : end_dim_;
  DESCENT_CHECK(start >= 0 && end < rank && start <= end, describe(*this), ": cannot flatten dims ",
                start_dim_, "..", end_dim_, " of ", shape_str(input));
  Shape output(input.begin(), input.begin() + start);
  std::int64_t merged = 1;
  for (std::int64_t d = start; d <= end; ++d) merged *= input[d];
  output.push_back(merged);
  output.insert(output.end(), input.begin() + end + 1, input.end());
  return output;
}

Tensor Flatten::forward(const Tensor& x) {
  return ops::reshape(x, output_shape(x.shape()));
}

std::string Flatten::str() const {
  if (start_dim_ == 1 && end_dim_ == -1) return "Flatten()";
  return cat("Flatten(start_dim=", start_dim_, ", end_dim=", end_dim_, ")");
}

Shape Flatten::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  return add_row(rows, output_shape(input), 0.0);
}

// ---- Embedding ----

Embedding::Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, Generator& gen)
    : Module("Embedding"), num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {
  check_positive(*this, "num_embeddings", num_embeddings);
  check_positive(*this, "embedding_dim", embedding_dim);
  weight = register_parameter("weight", randn({num_embeddings, embedding_dim}, gen));
}

Tensor Embedding::forward(const Tensor& indices) {
  DESCENT_CHECK(indices.dtype() == DType::i64 || indices.dtype() == DType::i32, describe(*this),
                ": expected indices of i64 or i32, got ", dtype_name(indices.dtype()), " ",
                shape_str(indices.shape()));
  return ops::embedding(indices, weight);
}

std::string Embedding::str() const {
  return cat("Embedding(", num_embeddings_, ", ", embedding_dim_, ")");
}

Shape Embedding::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  Shape output = input;
  output.push_back(embedding_dim_);
  return add_row(rows, output, 0.0);
}

// ---- Sequential ----

Sequential::Sequential() : Module("Sequential") {}

Sequential::Sequential(std::string type_name) : Module(std::move(type_name)) {}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules)
    : Module("Sequential") {
  for (const auto& module : modules) push_back(module);
}

Module& Sequential::operator[](std::size_t index) const {
  DESCENT_CHECK(index < size(), describe(*this), ": index ", index, " out of range for ", size(),
                " modules");
  return *named_children()[index].second;
}

// A Linear followed by a ReLU (those exact types: a subclass may change either's forward)
// runs as one op, ops::linear_relu: the relu in the GEMM's store, one pass less each way.
Tensor Sequential::forward(const Tensor& x) {
  Tensor out = x;
  const auto& children = named_children();
  for (std::size_t i = 0; i < children.size(); ++i) {
    Module& child = *children[i].second;
    if (i + 1 < children.size() && typeid(child) == typeid(Linear) &&
        typeid(*children[i + 1].second) == typeid(ReLU)) {
      out = static_cast<Linear&>(child).forward_relu(out);
      ++i;
      continue;
    }
    out = child.forward(out);
  }
  return out;
}

Shape Sequential::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  Shape shape = input;
  for (const auto& [name, child] : named_children()) shape = child->summarize(shape, rows);
  return shape;
}

}  // namespace descent::nn
