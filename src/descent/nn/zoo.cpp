#include "descent/nn/zoo.hpp"

#include <charconv>
#include <functional>
#include <utility>

#include "descent/nn/flat.hpp"
#include "descent/nn/init.hpp"
#include "descent/ops/shape.hpp"

namespace descent::nn {

// ---- activations ----

namespace {

constexpr std::pair<Activation, std::string_view> kActivations[] = {
    {Activation::relu, "relu"}, {Activation::leaky_relu, "leaky_relu"}, {Activation::gelu, "gelu"},
    {Activation::tanh, "tanh"}, {Activation::sigmoid, "sigmoid"},
};

}  // namespace

Activation parse_activation(std::string_view name) {
  for (const auto& [activation, known] : kActivations) {
    if (known == name) return activation;
  }
  throw Error(
      cat("unknown activation '", name, "' (known: relu, leaky_relu, gelu, tanh, sigmoid)"));
}

std::string_view activation_name(Activation activation) {
  for (const auto& [known, name] : kActivations) {
    if (known == activation) return name;
  }
  return "?";
}

std::shared_ptr<Module> make_activation(Activation activation) {
  switch (activation) {
    case Activation::relu:
      return std::make_shared<ReLU>();
    case Activation::leaky_relu:
      return std::make_shared<LeakyReLU>();
    case Activation::gelu:
      return std::make_shared<GELU>();
    case Activation::tanh:
      return std::make_shared<Tanh>();
    case Activation::sigmoid:
      return std::make_shared<Sigmoid>();
  }
  throw Error("make_activation: unknown activation");
}

// ---- MLP ----

MLP::MLP(const MLPOptions& options, Generator& gen) : Sequential("MLP"), options_(options) {
  DESCENT_CHECK(options.sizes.size() >= 2, "MLP: needs at least an input and an output size, got ",
                options.sizes.size(), " size(s)");
  DESCENT_CHECK(options.dropout >= 0 && options.dropout < 1, "MLP: dropout must be in [0, 1), got ",
                options.dropout);
  push_back("flatten", std::make_shared<Flatten>());
  const std::size_t layers = options.sizes.size() - 1;
  for (std::size_t k = 1; k <= layers; ++k) {
    const std::int64_t in = options.sizes[k - 1];
    const std::int64_t out = options.sizes[k];
    const bool hidden = k < layers;
    // A linear layer followed by BN needs no bias: BN's shift replaces it.
    const bool bias = !(hidden && options.batch_norm);
    push_back(cat("fc", k), std::make_shared<Linear>(in, out, gen, LinearOptions{.bias = bias}));
    if (!hidden) break;
    if (options.batch_norm) push_back(cat("bn", k), std::make_shared<BatchNorm1d>(out));
    push_back(cat("act", k), make_activation(options.activation));
    if (options.dropout > 0) {
      push_back(cat("drop", k),
                std::make_shared<Dropout>(options.dropout, options.dropout_seed + k));
    }
  }
}

std::string MLP::str() const {
  std::string sizes;
  for (std::int64_t size : options_.sizes) {
    if (!sizes.empty()) sizes += '-';
    sizes += std::to_string(size);
  }
  std::string out = cat("MLP(", sizes, ", activation=", activation_name(options_.activation));
  if (options_.batch_norm) out += ", batch_norm=true";
  if (options_.dropout > 0) out += cat(", dropout=", options_.dropout);
  return out + ")";
}

// ---- CNN ----

CNN::CNN(const CNNOptions& options, Generator& gen) : Sequential("CNN"), options_(options) {
  DESCENT_CHECK(options.image_size.h >= 4 && options.image_size.w >= 4,
                "CNN: image_size must be at least 4x4, got ", options.image_size.h, "x",
                options.image_size.w);
  const bool bn = options.batch_norm;
  const Conv2dOptions conv{.padding = 1, .bias = !bn};
  push_back("conv1", std::make_shared<Conv2d>(options.in_channels, 32, 3, gen, conv));
  if (bn) push_back("bn1", std::make_shared<BatchNorm2d>(32));
  push_back("relu1", std::make_shared<ReLU>());
  push_back("pool1", std::make_shared<MaxPool2d>(2));
  push_back("conv2", std::make_shared<Conv2d>(32, 64, 3, gen, conv));
  if (bn) push_back("bn2", std::make_shared<BatchNorm2d>(64));
  push_back("relu2", std::make_shared<ReLU>());
  push_back("pool2", std::make_shared<MaxPool2d>(2));
  push_back("flatten", std::make_shared<Flatten>());
  const std::int64_t features = 64 * (options.image_size.h / 4) * (options.image_size.w / 4);
  push_back("fc1", std::make_shared<Linear>(features, 128, gen));
  push_back("relu3", std::make_shared<ReLU>());
  push_back("fc2", std::make_shared<Linear>(128, options.num_classes, gen));
}

std::string CNN::str() const {
  return cat("CNN(in_channels=", options_.in_channels, ", image_size=", options_.image_size.h, "x",
             options_.image_size.w, ", num_classes=", options_.num_classes,
             options_.batch_norm ? "" : ", batch_norm=false", ")");
}

// ---- ResNet ----

ResNet::ResNet(const ResNetOptions& options, Generator& gen) : Module("ResNet"), options_(options) {
  DESCENT_CHECK(options.depth >= 8 && (options.depth - 2) % 6 == 0,
                "ResNet: depth must be 6n+2 with n >= 1 (20, 32, 44, 56, 110, ...), got ",
                options.depth);
  const std::int64_t blocks = (options.depth - 2) / 6;
  const bool bn = options.batch_norm;
  conv1 = register_module("conv1", std::make_shared<Conv2d>(options.in_channels, 16, 3, gen,
                                                            Conv2dOptions{
                                                                .padding = 1,
                                                                .bias = !bn,
                                                            }));
  if (bn) bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(16));
  relu = register_module("relu", std::make_shared<ReLU>());
  std::int64_t channels = 16;
  auto stage = [&](std::int64_t out_channels, std::int64_t stride) {
    auto layer = std::make_shared<Sequential>();
    for (std::int64_t b = 0; b < blocks; ++b) {
      const BasicBlockOptions block{.stride = b == 0 ? stride : 1,
                                    .skip = options.skip,
                                    .shortcut = options.shortcut,
                                    .batch_norm = bn};
      layer->push_back(std::make_shared<BasicBlock>(channels, out_channels, gen, block));
      channels = out_channels;
    }
    return layer;
  };
  layer1 = register_module("layer1", stage(16, 1));
  layer2 = register_module("layer2", stage(32, 2));
  layer3 = register_module("layer3", stage(64, 2));
  avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
  flatten = register_module("flatten", std::make_shared<Flatten>());
  fc = register_module("fc", std::make_shared<Linear>(64, options.num_classes, gen));
  DESCENT_CHECK(!options.zero_init_residual || (bn && options.skip),
                "ResNet: zero_init_residual needs batch norm and skip connections (it zeroes each "
                "block's last BN weight, which would make a ",
                bn ? "plain" : "BN-free", " block's output constant)");
  for (auto& [name, module] : named_modules()) {
    if (auto* conv = dynamic_cast<Conv2d*>(module); conv != nullptr && options.he_init) {
      init::kaiming_normal_fan_out_(conv->weight, gen);
    }
    if (auto* block = dynamic_cast<BasicBlock*>(module);
        block != nullptr && options.zero_init_residual) {
      block->bn2->weight.fill_(0.0);
    }
  }
}

Tensor ResNet::forward(const Tensor& x) {  // (N, C, H, W)
  Tensor out = conv1->forward(x);
  if (bn1) out = bn1->forward(out);
  out = relu->forward(out);
  out = layer1->forward(out);                     // (N, 16, H, W)
  out = layer2->forward(out);                     // (N, 32, H/2, W/2)
  out = layer3->forward(out);                     // (N, 64, H/4, W/4)
  out = flatten->forward(avgpool->forward(out));  // (N, 64)
  return fc->forward(out);                        // (N, classes)
}

std::string ResNet::str() const {
  return cat("ResNet(depth=", options_.depth, ", in_channels=", options_.in_channels,
             ", num_classes=", options_.num_classes, options_.skip ? "" : ", skip=false",
             options_.shortcut == Shortcut::zero_pad ? "" : ", shortcut=B",
             options_.batch_norm ? "" : ", batch_norm=false", options_.he_init ? ", init=he" : "",
             options_.zero_init_residual ? ", zero_init_residual=true" : "", ")");
}

Shape ResNet::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  Shape shape = conv1->summarize(input, rows);
  if (bn1) shape = bn1->summarize(shape, rows);
  shape = relu->summarize(shape, rows);
  shape = layer1->summarize(shape, rows);
  shape = layer2->summarize(shape, rows);
  shape = layer3->summarize(shape, rows);
  shape = avgpool->summarize(shape, rows);
  shape = flatten->summarize(shape, rows);
  return fc->summarize(shape, rows);
}

// ---- SequenceModel ----

SequenceModel::SequenceModel(const SequenceModelOptions& options, Generator& gen)
    : Module("SequenceModel"), options_(options) {
  DESCENT_CHECK(options.input_size > 0 && options.hidden_size > 0 && options.num_layers > 0 &&
                    options.outputs > 0,
                "SequenceModel: sizes must be positive, got input ", options.input_size,
                ", hidden ", options.hidden_size, ", layers ", options.num_layers, ", outputs ",
                options.outputs);
  const std::int64_t I = options.input_size;
  const std::int64_t H = options.hidden_size;
  switch (options.cell) {
    case RecurrentCell::rnn_tanh:
    case RecurrentCell::rnn_relu:
      rnn = std::make_shared<RNN>(I, H, gen,
                                  RNNOptions{.num_layers = options.num_layers,
                                             .nonlinearity = options.cell == RecurrentCell::rnn_relu
                                                                 ? RNNNonlinearity::relu
                                                                 : RNNNonlinearity::tanh,
                                             .batch_first = true});
      break;
    case RecurrentCell::lstm:
      rnn = std::make_shared<LSTM>(
          I, H, gen, LSTMOptions{.num_layers = options.num_layers, .batch_first = true});
      break;
    case RecurrentCell::gru:
      rnn = std::make_shared<GRU>(
          I, H, gen, GRUOptions{.num_layers = options.num_layers, .batch_first = true});
      break;
  }
  register_module("rnn", rnn);
  fc = register_module("fc", std::make_shared<Linear>(H, options.outputs, gen));
}

Tensor SequenceModel::forward(const Tensor& x) {      // (N, T, F)
  const Tensor h_n = rnn->forward_with_state(x).h_n;  // (layers, N, H)
  const std::int64_t layers = options_.num_layers;
  const Tensor last = ops::reshape(ops::slice(h_n, 0, layers - 1, layers),
                                   {h_n.shape()[1], options_.hidden_size});  // (N, H)
  return fc->forward(last);                                                  // (N, outputs)
}

std::string SequenceModel::str() const {
  return cat("SequenceModel(", rnn->str(), ", outputs=", options_.outputs, ")");
}

Shape SequenceModel::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  const Shape out = rnn->summarize(input, rows);  // (N, T, H)
  return fc->summarize({out[0], out[2]}, rows);
}

// ---- ModelSpec ----

namespace {

[[noreturn]] void fail(std::string_view spec, const std::string& message) {
  throw Error(cat("model '", spec, "': ", message));
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

bool parse_int(std::string_view text, std::int64_t& value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && !text.empty();
}

std::int64_t positive_int(std::string_view spec, std::string_view key, std::string_view value) {
  std::int64_t out = 0;
  if (!parse_int(value, out) || out <= 0) {
    fail(spec, cat("option '", key, "' must be a positive integer, got '", value, "'"));
  }
  return out;
}

bool flag(std::string_view spec, std::string_view key, std::string_view value) {
  if (value == "1" || value == "true") return true;
  if (value == "0" || value == "false") return false;
  fail(spec, cat("option '", key, "' must be 0 or 1, got '", value, "'"));
}

double probability(std::string_view spec, std::string_view key, std::string_view value) {
  double out = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, out);
  if (ec != std::errc() || ptr != end || value.empty() || !(out >= 0 && out < 1)) {
    fail(spec, cat("option '", key, "' must be a number in [0, 1), got '", value, "'"));
  }
  return out;
}

Shape image_shape(std::string_view spec, std::string_view key, std::string_view value) {
  Shape out;
  bool valid = true;
  for (std::string_view part : split(value, 'x')) {
    std::int64_t size = 0;
    valid = valid && parse_int(part, size) && size > 0;
    out.push_back(size);
  }
  if (!valid || out.size() != 3) {
    fail(spec, cat("option '", key, "' must be <channels>x<height>x<width>, e.g. 3x32x32, got '",
                   value, "'"));
  }
  return out;
}

// One option of a model: its name and how it sets the options from its value.
struct OptionRule {
  std::string_view key;
  std::function<void(std::string_view value)> apply;
};

void apply_options(std::string_view spec, std::string_view model,
                   const std::vector<std::string_view>& assignments,
                   const std::vector<OptionRule>& rules) {
  std::vector<std::string_view> seen;
  for (std::string_view assignment : assignments) {
    const std::size_t eq = assignment.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      fail(spec, cat("expected <option>=<value>, got '", assignment, "'"));
    }
    const std::string_view key = assignment.substr(0, eq);
    const std::string_view value = assignment.substr(eq + 1);
    for (std::string_view earlier : seen) {
      if (earlier == key) fail(spec, cat("option '", key, "' is given twice"));
    }
    seen.push_back(key);
    const OptionRule* rule = nullptr;
    for (const OptionRule& r : rules) {
      if (r.key == key) rule = &r;
    }
    if (rule == nullptr) {
      std::string known;
      for (const OptionRule& r : rules) known += (known.empty() ? "" : ", ") + std::string(r.key);
      fail(spec, cat("unknown option '", key, "' for ", model, " (known: ", known, ")"));
    }
    rule->apply(value);
  }
}

}  // namespace

ModelSpec ModelSpec::parse(std::string_view text) {
  ModelSpec spec;
  spec.text = std::string(text);
  std::vector<std::string_view> parts = split(text, ',');
  const std::string_view head = parts.front();
  const std::vector<std::string_view> assignments(parts.begin() + 1, parts.end());
  const std::size_t colon = head.find(':');
  const std::string_view name = head.substr(0, colon);
  const std::string_view argument =
      colon == std::string_view::npos ? std::string_view() : head.substr(colon + 1);
  const bool recurrent = name == "rnn" || name == "lstm" || name == "gru";
  if (colon != std::string_view::npos && name != "mlp" && !recurrent) {
    fail(text, cat("'", name,
                   "' takes no ':' argument (only mlp and the recurrent nets do: mlp:784-256-10, "
                   "lstm:128)"));
  }

  if (name == "mlp") {
    MLPOptions options;
    if (colon != std::string_view::npos) {
      options.sizes.clear();
      for (std::string_view size : split(argument, '-')) {
        std::int64_t value = 0;
        if (!parse_int(size, value) || value <= 0) {
          fail(text, cat("bad layer sizes '", argument,
                         "' (expected positive sizes joined by '-', e.g. 784-256-10)"));
        }
        options.sizes.push_back(value);
      }
      if (options.sizes.size() < 2) {
        fail(text, cat("mlp needs at least an input and an output size, got '", argument, "'"));
      }
    }
    apply_options(
        text, "mlp", assignments,
        {
            {"act",
             [&](std::string_view v) {
               try {
                 options.activation = parse_activation(v);
               } catch (const Error& e) {
                 fail(text, e.what());
               }
             }},
            {"bn", [&](std::string_view v) { options.batch_norm = flag(text, "bn", v); }},
            {"dropout",
             [&](std::string_view v) { options.dropout = probability(text, "dropout", v); }},
        });
    spec.input = {options.sizes.front()};
    spec.options = options;
  } else if (name == "cnn") {
    CNNOptions options;
    apply_options(
        text, "cnn", assignments,
        {
            {"bn", [&](std::string_view v) { options.batch_norm = flag(text, "bn", v); }},
            {"classes",
             [&](std::string_view v) { options.num_classes = positive_int(text, "classes", v); }},
            {"input", [&](std::string_view v) { spec.input = image_shape(text, "input", v); }},
        });
    options.in_channels = spec.input[0];
    options.image_size = ops::Size2(spec.input[1], spec.input[2]);
    if (spec.input[1] < 4 || spec.input[2] < 4) {
      fail(text, cat("cnn needs images of at least 4x4, got ", spec.input[1], "x", spec.input[2]));
    }
    spec.options = options;
  } else if (name.starts_with("resnet")) {
    ResNetOptions options;
    const std::string_view digits = name.substr(6);
    if (!parse_int(digits, options.depth) || options.depth < 8 || (options.depth - 2) % 6 != 0) {
      fail(text, cat("resnet depth must be 6n+2 with n >= 1 (resnet20, resnet32, resnet44, "
                     "resnet56, resnet110, ...), got '",
                     name, "'"));
    }
    apply_options(
        text, "resnet", assignments,
        {
            {"skip", [&](std::string_view v) { options.skip = flag(text, "skip", v); }},
            {"bn", [&](std::string_view v) { options.batch_norm = flag(text, "bn", v); }},
            {"shortcut",
             [&](std::string_view v) {
               if (v == "A" || v == "a") {
                 options.shortcut = Shortcut::zero_pad;
               } else if (v == "B" || v == "b") {
                 options.shortcut = Shortcut::projection;
               } else {
                 fail(text, cat("shortcut must be A (zero-padding) or B (1x1 projection), got '", v,
                                "'"));
               }
             }},
            {"classes",
             [&](std::string_view v) { options.num_classes = positive_int(text, "classes", v); }},
            {"input", [&](std::string_view v) { spec.input = image_shape(text, "input", v); }},
            {"init",
             [&](std::string_view v) {
               if (v != "pytorch" && v != "he") {
                 fail(text, cat("init must be pytorch (the layers' defaults) or he (N(0, 2 / "
                                "fan_out) convolutions), got '",
                                v, "'"));
               }
               options.he_init = v == "he";
             }},
            {"zero_init_residual",
             [&](std::string_view v) {
               options.zero_init_residual = flag(text, "zero_init_residual", v);
             }},
        });
    if (options.zero_init_residual && !(options.batch_norm && options.skip)) {
      fail(text,
           "zero_init_residual=1 needs bn=1 and skip=1 (it zeroes each block's last BN "
           "weight)");
    }
    options.in_channels = spec.input[0];
    spec.options = options;
  } else if (recurrent) {
    SequenceModelOptions options;
    options.cell = name == "lstm"  ? RecurrentCell::lstm
                   : name == "gru" ? RecurrentCell::gru
                                   : RecurrentCell::rnn_tanh;
    if (!argument.empty()) options.hidden_size = positive_int(text, "hidden size", argument);
    spec.input = {100, 2};
    apply_options(
        text, name, assignments,
        {
            {"layers",
             [&](std::string_view v) { options.num_layers = positive_int(text, "layers", v); }},
            {"act",
             [&](std::string_view v) {
               if (name != "rnn") fail(text, cat("option 'act' is for rnn only, not ", name));
               if (v == "tanh") {
                 options.cell = RecurrentCell::rnn_tanh;
               } else if (v == "relu") {
                 options.cell = RecurrentCell::rnn_relu;
               } else {
                 fail(text, cat("option 'act' must be tanh or relu, got '", v, "'"));
               }
             }},
            {"input",
             [&](std::string_view v) {
               const std::vector<std::string_view> dims = split(v, 'x');
               std::int64_t steps = 0;
               std::int64_t features = 0;
               if (dims.size() != 2 || !parse_int(dims[0], steps) || steps <= 0 ||
                   !parse_int(dims[1], features) || features <= 0) {
                 fail(text,
                      cat("option 'input' must be <steps>x<features>, e.g. 200x2, got '", v, "'"));
               }
               spec.input = {steps, features};
             }},
            {"outputs",
             [&](std::string_view v) { options.outputs = positive_int(text, "outputs", v); }},
        });
    options.input_size = spec.input[1];
    spec.options = options;
  } else if (name == "transformer") {
    TransformerLMOptions options{.vocab_size = 256};
    apply_options(
        text, name, assignments,
        {
            {"vocab",
             [&](std::string_view v) { options.vocab_size = positive_int(text, "vocab", v); }},
            {"len", [&](std::string_view v) { options.max_len = positive_int(text, "len", v); }},
            {"dim", [&](std::string_view v) { options.dim = positive_int(text, "dim", v); }},
            {"heads", [&](std::string_view v) { options.heads = positive_int(text, "heads", v); }},
            {"layers",
             [&](std::string_view v) { options.layers = positive_int(text, "layers", v); }},
            {"pos",
             [&](std::string_view v) {
               if (v == "learned") {
                 options.positions = Positions::learned;
               } else if (v == "sinusoidal") {
                 options.positions = Positions::sinusoidal;
               } else {
                 fail(text, cat("option 'pos' must be learned or sinusoidal, got '", v, "'"));
               }
             }},
            {"tied", [&](std::string_view v) { options.tie_weights = flag(text, "tied", v); }},
            {"dropout",
             [&](std::string_view v) { options.dropout = probability(text, "dropout", v); }},
        });
    if (options.dim % options.heads != 0) {
      fail(text, cat("dim (", options.dim, ") must be a multiple of heads (", options.heads, ")"));
    }
    if (options.positions == Positions::sinusoidal && options.dim % 2 != 0) {
      fail(text, cat("sinusoidal positions need an even dim, got ", options.dim));
    }
    spec.input = {options.max_len};
    spec.options = options;
  } else {
    fail(text, cat("unknown model '", name,
                   "' (known: mlp, cnn, resnet<6n+2> such as resnet20, rnn, lstm, gru, "
                   "transformer)"));
  }
  return spec;
}

std::shared_ptr<Module> build_model(const ModelSpec& spec, Generator& gen) {
  std::shared_ptr<Module> model = std::visit(
      [&](const auto& options) -> std::shared_ptr<Module> {
        using Options = std::decay_t<decltype(options)>;
        if constexpr (std::is_same_v<Options, MLPOptions>) {
          return std::make_shared<MLP>(options, gen);
        } else if constexpr (std::is_same_v<Options, CNNOptions>) {
          return std::make_shared<CNN>(options, gen);
        } else if constexpr (std::is_same_v<Options, ResNetOptions>) {
          return std::make_shared<ResNet>(options, gen);
        } else if constexpr (std::is_same_v<Options, SequenceModelOptions>) {
          return std::make_shared<SequenceModel>(options, gen);
        } else {
          return std::make_shared<TransformerLM>(options, gen);
        }
      },
      spec.options);
  flatten_parameters(*model);
  return model;
}

}  // namespace descent::nn
