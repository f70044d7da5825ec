#include "descent/cli/setup.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "descent/data/csv.hpp"
#include "descent/data/fashion_mnist.hpp"
#include "descent/data/sequence_tasks.hpp"
#include "descent/data/synthetic.hpp"
#include "descent/data/text.hpp"
#include "descent/nn/info.hpp"
#include "descent/optim/all.hpp"
#include "descent/train/checkpoint.hpp"

namespace descent::cli {
namespace {

// "name,key=value,..." (or "csv:PATH").
struct Spec {
  std::string name;
  std::map<std::string, std::string> options;
  std::string path;
};

Spec parse_spec(const std::string& text, const std::string& origin, const char* what) {
  Spec spec;
  if (text.empty()) throw UsageError(cat(origin, ": empty ", what));
  std::size_t start = 0;
  bool first = true;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string part = text.substr(start, comma - start);
    if (first) {
      spec.name = part;
      first = false;
    } else {
      const std::size_t equals = part.find('=');
      if (equals == std::string::npos || equals == 0) {
        throw UsageError(
            cat(origin, ": in ", what, " '", text, "', expected key=value, got '", part, "'"));
      }
      spec.options[part.substr(0, equals)] = part.substr(equals + 1);
    }
    start = comma + 1;
  }
  return spec;
}

// Takes the options a spec may have, in order, checking that there are no others.
class SpecOptions {
 public:
  SpecOptions(const Spec& spec, std::string origin, std::string text)
      : spec_(spec), origin_(std::move(origin)), text_(std::move(text)) {}
  // Messages about `key` name `flag_origin` ("--gamma") instead of the spec: its value came
  // from that flag.
  void set_origin(const std::string& key, std::string flag_origin) {
    flag_origins_[key] = std::move(flag_origin);
  }
  // "--schedule: in 'step,gamma=0', gamma" or, for a value from a flag, "--gamma: gamma".
  std::string where(const std::string& key) const {
    const auto found = flag_origins_.find(key);
    if (found != flag_origins_.end()) return cat(found->second, ": ", key);
    return cat(origin_, ": in '", text_, "', ", key);
  }
  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw UsageError(cat(where(key), " ", message));
  }

  double number(const std::string& key, double fallback) {
    known_.push_back(key);
    const auto found = spec_.options.find(key);
    if (found == spec_.options.end()) return fallback;
    double value = 0;
    const std::string& v = found->second;
    const auto [end, error] = std::from_chars(v.data(), v.data() + v.size(), value);
    if (error != std::errc() || end != v.data() + v.size() || !std::isfinite(value)) {
      fail(key, cat("must be a number, got '", v, "'"));
    }
    return value;
  }
  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t minimum) {
    const double value = number(key, static_cast<double>(fallback));
    if (value != std::floor(value) || value < static_cast<double>(minimum) || value > 1e15) {
      fail(key, cat("must be an integer >= ", minimum, ", got ", spec_.options.at(key)));
    }
    return static_cast<std::int64_t>(value);
  }
  std::vector<std::int64_t> integers(const std::string& key) {
    known_.push_back(key);
    std::vector<std::int64_t> out;
    const auto found = spec_.options.find(key);
    if (found == spec_.options.end()) return out;
    std::size_t start = 0;
    const std::string& v = found->second;
    while (start <= v.size()) {
      const std::size_t colon = std::min(v.find(':', start), v.size());
      std::int64_t value = 0;
      const auto [end, error] = std::from_chars(v.data() + start, v.data() + colon, value);
      if (error != std::errc() || end != v.data() + colon) {
        fail(key, cat("must be integers separated by ':', got '", v, "'"));
      }
      out.push_back(value);
      start = colon + 1;
    }
    return out;
  }
  // Throws for an option that no call above asked for.
  void finish() const {
    for (const auto& [key, value] : spec_.options) {
      if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
        std::string list;
        for (const std::string& k : known_) list += (list.empty() ? "" : ", ") + k;
        const auto flag = flag_origins_.find(key);
        throw UsageError(cat(flag != flag_origins_.end() ? flag->second : origin_, ": '",
                             spec_.name, "' has no option '", key,
                             "' (options: ", list.empty() ? "none" : list, ")"));
      }
    }
  }

 private:
  const Spec& spec_;
  std::string origin_;
  std::string text_;
  std::vector<std::string> known_;
  std::map<std::string, std::string> flag_origins_;
};

struct DataChoice {
  Spec spec;
  std::int64_t samples = 0;
  std::int64_t classes = 0;
  std::int64_t features = 0;
  double noise = 0;
  double turns = 0;
  double cluster_std = 0;
  std::int64_t length = 0;  // T of the sequence tasks and of the text windows
};

// The sequence tasks: "adding:T=200,samples=N" and "temporal:T=100" (or with ',' after the
// name), "text", "text,T=64", "text:FILE", "text:FILE,T=64" (FILE up to the first ',').
DataChoice parse_sequence_data(const std::string& text, const std::string& origin) {
  DataChoice choice;
  std::string rest;  // ",key=value,..."
  if (text.starts_with("text")) {
    choice.spec.name = "text";
    const std::size_t comma = std::min(text.find(','), text.size());
    if (text.size() > 4 && text[4] == ':') {
      choice.spec.path = text.substr(5, comma - 5);
      if (choice.spec.path.empty()) {
        throw UsageError(cat(origin, ": text: needs a file after ':' (or plain 'text' for ",
                             data::default_text_path(), ")"));
      }
    } else {
      choice.spec.path = data::default_text_path();
    }
    rest = text.substr(comma);
  } else {
    const std::size_t end = std::min(text.find_first_of(":,"), text.size());
    choice.spec.name = text.substr(0, end);
    rest = end < text.size() ? "," + text.substr(end + 1) : "";
  }
  const Spec options_spec = parse_spec(choice.spec.name + rest, origin, "data spec");
  choice.spec.options = options_spec.options;
  SpecOptions options(choice.spec, origin, text);
  if (choice.spec.name == "adding") {
    choice.length = options.integer("T", 100, 2);
    choice.samples = options.integer("samples", 10000, 2);
  } else if (choice.spec.name == "temporal") {
    choice.length = options.integer("T", 100, 10);
    choice.samples = options.integer("samples", 10000, 2);
  } else {
    choice.length = options.integer("T", 128, 1);
    std::error_code error;
    if (!std::filesystem::is_regular_file(choice.spec.path, error)) {
      throw UsageError(cat(origin, ": text file '", choice.spec.path, "' ",
                           std::filesystem::exists(choice.spec.path, error)
                               ? "is not a regular file"
                               : "does not exist"));
    }
  }
  options.finish();
  return choice;
}

DataChoice parse_data(const std::string& text, const std::string& origin) {
  DataChoice choice;
  if (text.starts_with("csv:")) {
    choice.spec.name = "csv";
    choice.spec.path = text.substr(4);
    if (choice.spec.path.empty()) throw UsageError(cat(origin, ": csv: needs a file, as csv:FILE"));
    return choice;
  }
  for (const char* name : {"adding", "temporal", "text"}) {
    const std::string_view rest =
        std::string_view(text).substr(std::min(text.size(), std::strlen(name)));
    if (text.starts_with(name) && (rest.empty() || rest[0] == ':' || rest[0] == ',')) {
      return parse_sequence_data(text, origin);
    }
  }
  choice.spec = parse_spec(text, origin, "data spec");
  SpecOptions options(choice.spec, origin, text);
  if (choice.spec.name == "fashion-mnist") {
  } else if (choice.spec.name == "spirals") {
    choice.samples = options.integer("samples", 2000, 2);
    choice.classes = options.integer("classes", 2, 2);
    choice.noise = options.number("noise", 0.05);
    choice.turns = options.number("turns", 1.5);
  } else if (choice.spec.name == "blobs") {
    choice.samples = options.integer("samples", 2000, 2);
    choice.classes = options.integer("classes", 3, 2);
    choice.features = options.integer("features", 2, 1);
    choice.cluster_std = options.number("std", 1.0);
  } else {
    throw UsageError(cat(origin, ": unknown data '", choice.spec.name,
                         "' (known: fashion-mnist, spirals, blobs, csv:FILE, adding, temporal, "
                         "text[:FILE])"));
  }
  options.finish();
  return choice;
}

std::int64_t count_classes(const data::TensorDataset& set, const std::string& description) {
  DESCENT_CHECK(set.targets().dtype() == DType::i64 && set.targets().dim() == 1, description,
                ": the targets must be class indices (N), got ", shape_str(set.targets().shape()),
                " ", dtype_name(set.targets().dtype()));
  std::int64_t classes = 0;
  const std::int64_t* targets = set.targets().data<std::int64_t>();
  for (std::int64_t i = 0; i < set.size(); ++i) {
    DESCENT_CHECK(targets[i] >= 0, description, ": example ", i, " has the negative class ",
                  targets[i]);
    classes = std::max(classes, targets[i] + 1);
  }
  return classes;
}

// The examples of a dataset, copied into tensors: inputs (N, ...), targets (N, ...).
data::TensorDataset materialize(const data::Dataset& set) {
  Shape inputs_shape = {set.size()};
  Shape targets_shape = {set.size()};
  inputs_shape.insert(inputs_shape.end(), set.input_shape().begin(), set.input_shape().end());
  targets_shape.insert(targets_shape.end(), set.target_shape().begin(), set.target_shape().end());
  Tensor inputs = empty(inputs_shape, set.input_dtype());
  Tensor targets = empty(targets_shape, set.target_dtype());
  std::vector<std::int64_t> indices(static_cast<std::size_t>(set.size()));
  for (std::int64_t i = 0; i < set.size(); ++i) indices[static_cast<std::size_t>(i)] = i;
  set.get_batch(indices, inputs, targets);
  return data::TensorDataset(inputs, targets);
}

// "images (N, 1, 28, 28)", "sequences (N, 50, 2)", "tokens (N, 128)", "rows (N, 4)".
std::string describe_inputs(const Shape& example, DType dtype) {
  Shape shape = {-1};
  shape.insert(shape.end(), example.begin(), example.end());
  std::string text = shape_str(shape);
  text.replace(1, 2, "N");
  const char* kind = dtype == DType::i64 || dtype == DType::i32 ? "tokens"
                     : example.size() == 3                      ? "images"
                     : example.size() == 2                      ? "sequences"
                                                                : "rows";
  return cat(kind, " ", text);
}

// What a model spec takes, in the words of describe_inputs.
std::string model_inputs(const nn::ModelSpec& spec) {
  if (std::holds_alternative<nn::TransformerLMOptions>(spec.options)) {
    return cat("tokens (N, T) with T <= ", spec.input[0]);
  }
  if (std::holds_alternative<nn::SequenceModelOptions>(spec.options)) {
    return cat("sequences (N, T, ", spec.input[1], ")");
  }
  if (std::holds_alternative<nn::MLPOptions>(spec.options)) {
    return cat("rows of ", spec.input[0], " values");
  }
  return describe_inputs(spec.input, DType::f32);
}

template <typename T>
void check_at_least(const Origins& origins, const std::string& key, T value, T minimum) {
  if (!(value >= minimum)) {
    throw UsageError(cat(origin_of(origins, key), ": must be >= ", minimum, ", got ", value));
  }
}

double option_default(const optim::RegistryEntry& entry, const std::string& name) {
  for (const optim::OptionInfo& option : entry.options) {
    if (option.name == name) return std::stod(option.default_value);
  }
  return 0.0;
}

bool has_option(const optim::RegistryEntry& entry, const std::string& name) {
  return std::any_of(entry.options.begin(), entry.options.end(),
                     [&](const optim::OptionInfo& o) { return o.name == name; });
}

std::string number_text(double value) {
  char buffer[32];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

optim::OptionMap optimizer_option_map(const RunConfig& config) {
  optim::OptionMap options = config.optimizer_options;
  if (config.lr) options["lr"] = number_text(*config.lr);
  if (config.momentum) options["momentum"] = number_text(*config.momentum);
  if (config.weight_decay) options["weight_decay"] = number_text(*config.weight_decay);
  return options;
}

// The registry's entry of config.optimizer (UsageError naming the flag when unknown).
const optim::RegistryEntry& registry_entry(const RunConfig& config, const Origins& origins) {
  const auto& registry = optim::optimizer_registry();
  const auto found = registry.find(config.optimizer);
  if (found == registry.end()) {
    std::string known;
    for (const auto& [name, entry] : registry) known += (known.empty() ? "" : ", ") + name;
    throw UsageError(cat(origin_of(origins, "optimizer"), ": unknown optimizer '", config.optimizer,
                         "' (known: ", known, ")"));
  }
  return found->second;
}

}  // namespace

void check_data_spec(const std::string& spec, const std::string& origin) {
  parse_data(spec, origin);
}

RunData load_data(const RunConfig& config, const Origins& origins) {
  const DataChoice choice = parse_data(config.data, origin_of(origins, "data"));
  const auto seed = static_cast<std::uint64_t>(config.seed);
  RunData out;
  data::TensorDataset train;
  data::TensorDataset test;
  bool images = false;
  std::optional<data::NormalizeOptions> normalization;
  if (choice.spec.name == "fashion-mnist") {
    data::FashionMnist fm = data::load_fashion_mnist({.root = config.data_dir});
    train = fm.train;
    test = fm.test;
    images = true;
    normalization = data::NormalizeOptions{{data::kFashionMnistMean}, {data::kFashionMnistStd}};
    out.description = "Fashion-MNIST from " + fm.root;
  } else if (choice.spec.name == "spirals" || choice.spec.name == "blobs") {
    // One draw split in two, so that both parts share the task (the blobs' centres).
    const std::int64_t test_samples = std::max<std::int64_t>(choice.samples / 2, 1);
    const std::int64_t all = choice.samples + test_samples;
    const data::TensorDataset both = choice.spec.name == "spirals"
                                         ? data::make_spirals({.samples = all,
                                                               .classes = choice.classes,
                                                               .turns = choice.turns,
                                                               .noise = choice.noise,
                                                               .seed = seed})
                                         : data::make_blobs({.samples = all,
                                                             .features = choice.features,
                                                             .classes = choice.classes,
                                                             .cluster_std = choice.cluster_std,
                                                             .seed = seed});
    train = both.slice(0, choice.samples);
    test = both.slice(choice.samples, all);
    if (choice.spec.name == "blobs") normalization = data::channel_stats(train.inputs());
    out.description = config.data;
  } else if (choice.spec.name == "adding" || choice.spec.name == "temporal") {
    // One draw split in two: example i is a function of (seed, i) alone.
    const std::int64_t test_samples = std::max<std::int64_t>(choice.samples / 10, 1);
    const std::int64_t all = choice.samples + test_samples;
    const data::TensorDataset both =
        choice.spec.name == "adding"
            ? data::make_adding({.samples = all, .length = choice.length, .seed = seed})
            : data::make_temporal_order({.samples = all, .length = choice.length, .seed = seed});
    train = both.slice(0, choice.samples);
    test = both.slice(choice.samples, all);
    out.description = choice.spec.name == "adding"
                          ? cat("the adding problem, T=", choice.length)
                          : cat("the temporal-order problem, T=", choice.length);
  } else if (choice.spec.name == "text") {
    data::TextCorpus corpus;
    try {
      corpus = data::load_text(choice.spec.path);
      auto [train_windows, val_windows] = data::split_text(corpus, {.length = choice.length});
      train = materialize(train_windows);
      test = materialize(val_windows);  // the last tenth of the text
    } catch (const Error& e) {
      throw UsageError(cat(origin_of(origins, "data"), ": ", e.what()));
    }
    out.description = cat("text ", choice.spec.path, " (", corpus.size(), " characters, alphabet ",
                          corpus.vocab_size(), ", windows of ", choice.length,
                          "; the last tenth is the test set)");
    out.vocab_size = corpus.vocab_size();
  } else {
    data::CsvData csv = data::read_csv(choice.spec.path);
    const std::int64_t n = csv.data.size();
    DESCENT_CHECK(n >= 2, "csv file '", choice.spec.path, "': needs at least 2 rows, got ", n);
    data::TrainValidation split =
        data::split_validation(csv.data, std::max<std::int64_t>(n / 5, 1), seed);
    train = split.train;
    test = split.validation;
    normalization = data::channel_stats(train.inputs());
    out.description =
        cat("csv ", choice.spec.path, " (", csv.feature_names.size(), " features, label '",
            csv.label_name, "'; a random fifth of the rows is the test set)");
  }
  if (config.train_size > 0) train = train.slice(0, std::min(config.train_size, train.size()));
  if (config.test_size > 0) test = test.slice(0, std::min(config.test_size, test.size()));
  data::TensorDataset validation;
  if (config.val_split > 0) {
    const auto held_out = static_cast<std::int64_t>(std::llround(config.val_split * train.size()));
    if (held_out < 1 || held_out >= train.size()) {
      throw UsageError(cat(origin_of(origins, "val_split"), ": ", config.val_split, " of ",
                           train.size(),
                           " training examples leaves no validation or no training set"));
    }
    data::TrainValidation split = data::split_validation(train, held_out);
    train = split.train;
    validation = split.validation;
  }
  if (config.augment) {
    if (!images) {
      throw UsageError(cat(origin_of(origins, "augment"), ": augmentation needs images, and ",
                           config.data, " is not images"));
    }
    out.train_transforms.push_back(data::random_crop({.padding = 2, .seed = seed}));
    out.train_transforms.push_back(data::random_horizontal_flip({.seed = seed}));
  }
  if (normalization) {
    // Normalization comes last so that crops pad with black in the original pixel scale.
    const auto normalize = data::normalize(*normalization);
    out.train_transforms.push_back(normalize);
    out.eval_transforms.push_back(normalize);
  }
  std::string kind;
  switch (train::objective_of(train)) {
    case train::Objective::classification:
      out.classes =
          std::max(count_classes(train, out.description), count_classes(test, out.description));
      kind = cat(out.classes, " classes");
      break;
    case train::Objective::tokens:
      out.classes = out.vocab_size;
      kind = "next-character targets";
      break;
    case train::Objective::regression:
      kind = cat("real targets ", shape_str(train.target_shape()), " (regression)");
      break;
  }
  out.description += cat(": ", train.size(), " train, ", validation.size(), " validation, ",
                         test.size(), " test examples, ", kind);
  out.train = std::make_shared<const data::TensorDataset>(std::move(train));
  out.validation = std::make_shared<const data::TensorDataset>(std::move(validation));
  out.test = std::make_shared<const data::TensorDataset>(std::move(test));
  return out;
}

void require_classification(const RunData& data, const RunConfig& config, const Origins& origins,
                            const std::string& command) {
  const train::Objective objective = train::objective_of(*data.train);
  if (objective != train::Objective::classification) {
    throw UsageError(cat(origin_of(origins, "data"), ": ", command, " needs class labels, and ",
                         config.data, " has ", train::objective_name(objective), " targets"));
  }
}

void resolve(RunConfig& config, const Origins& origins) {
  check_data_spec(config.data, origin_of(origins, "data"));
  check_at_least<std::int64_t>(origins, "epochs", config.epochs, 1);
  check_at_least<std::int64_t>(origins, "steps", config.steps, 0);
  check_at_least<std::int64_t>(origins, "batch_size", config.batch_size, 1);
  check_at_least<std::int64_t>(origins, "train_size", config.train_size, 0);
  check_at_least<std::int64_t>(origins, "test_size", config.test_size, 0);
  check_at_least<std::int64_t>(origins, "warmup_steps", config.warmup_steps, 0);
  check_at_least<std::int64_t>(origins, "patience", config.patience, 0);
  check_at_least<std::int64_t>(origins, "seed", config.seed, 0);
  check_at_least<std::int64_t>(origins, "threads", config.threads, 0);
  check_at_least<std::int64_t>(origins, "log_every", config.log_every, 0);
  check_at_least<std::int64_t>(origins, "checkpoint_every", config.checkpoint_every, 0);
  check_at_least<std::int64_t>(origins, "eval_batch_size", config.eval_batch_size, 1);
  check_at_least<double>(origins, "clip_norm", config.clip_norm, 0.0);
  if (!(config.val_split >= 0 && config.val_split < 1)) {
    throw UsageError(
        cat(origin_of(origins, "val_split"), ": must be in [0, 1), got ", config.val_split));
  }
  if (!(config.label_smoothing >= 0 && config.label_smoothing <= 1)) {
    throw UsageError(cat(origin_of(origins, "label_smoothing"), ": must be in [0, 1], got ",
                         config.label_smoothing));
  }
  check_at_least<std::int64_t>(origins, "accumulate", config.accumulate, 1);
  for (const char* key : {"clip_value", "agc"}) {
    const std::optional<double>& value =
        std::string_view(key) == "clip_value" ? config.clip_value : config.agc;
    if (value && !(*value > 0 && std::isfinite(*value))) {
      throw UsageError(cat(origin_of(origins, key), ": must be > 0, got ", *value,
                           " (leave it out to turn it off)"));
    }
  }
  if (config.ema && !(*config.ema > 0 && *config.ema < 1)) {
    throw UsageError(cat(origin_of(origins, "ema"), ": the decay must be in (0, 1), got ",
                         *config.ema, " (e.g. 0.999)"));
  }
  if (config.precision != "fp32" && config.precision != "bf16" && config.precision != "fp16") {
    throw UsageError(cat(origin_of(origins, "precision"), ": must be fp32, bf16 or fp16, got '",
                         config.precision, "'"));
  }
  if (config.nan_policy != "stop" && config.nan_policy != "skip") {
    throw UsageError(cat(origin_of(origins, "nan_policy"), ": must be skip or stop, got '",
                         config.nan_policy, "'"));
  }
  if (config.schedule_unit != "step" && config.schedule_unit != "epoch") {
    throw UsageError(cat(origin_of(origins, "schedule_unit"), ": must be step or epoch, got '",
                         config.schedule_unit, "'"));
  }
  if (!config.model.empty()) model_spec(config, origins);
  build_schedule(config, origins, 100);  // checks the spec

  // The optimizer and its settings.
  const optim::RegistryEntry& entry = registry_entry(config, origins);
  const bool recipe = config.optimizer == kRecipeOptimizer;
  struct Setting {
    const char* key;
    std::optional<double>& value;
    double recipe_value;
  };
  for (Setting setting :
       {Setting{"lr", config.lr, kRecipeLr}, Setting{"momentum", config.momentum, kRecipeMomentum},
        Setting{"weight_decay", config.weight_decay, kRecipeWeightDecay}}) {
    if (!has_option(entry, setting.key)) {
      if (setting.value) {
        std::string list;
        for (const auto& option : entry.options) list += (list.empty() ? "" : ", ") + option.name;
        throw UsageError(cat(origin_of(origins, setting.key), ": optimizer ", config.optimizer,
                             " has no option '", setting.key, "' (its options: ", list, ")"));
      }
      continue;
    }
    if (!setting.value) {
      if (recipe && std::string_view(setting.key) == "momentum" &&
          !config.optimizer_options.contains("nesterov")) {
        config.optimizer_options["nesterov"] = "true";  // the recipe's momentum is Nesterov's
      }
      setting.value = recipe ? setting.recipe_value : option_default(entry, setting.key);
    }
  }
  for (const char* key : {"lr", "momentum", "weight_decay"}) {
    if (config.optimizer_options.contains(key)) {
      throw UsageError(cat(origin_of(origins, "optimizer_options"), ": set ", key, " with --",
                           key == std::string("weight_decay") ? "weight-decay" : key));
    }
  }
  // Every option checked now, on a stand-in parameter, rather than after loading the data.
  Tensor stand_in = zeros({1});
  stand_in.set_requires_grad(true);
  try {
    optim::create_optimizer(config.optimizer, {stand_in}, optimizer_option_map(config));
  } catch (const Error& e) {
    // Name the setting the message is about.
    const std::string message = e.what();
    std::string origin = config.optimizer_options.empty() ? origin_of(origins, "optimizer")
                                                          : origin_of(origins, "optimizer_options");
    for (const char* key : {"lr", "momentum", "weight_decay"}) {
      if (message.find(cat(": ", key, " ")) != std::string::npos) origin = origin_of(origins, key);
    }
    throw UsageError(cat(origin, ": ", message));
  }
}

std::string model_for_data(const RunConfig& config, const RunData& data) {
  const data::Dataset& train = *data.train;
  const train::Objective objective = train::objective_of(train);
  std::string model = config.model;
  if (model.empty()) {
    if (config.data == "fashion-mnist") {
      model = "cnn";
    } else if (objective == train::Objective::tokens) {
      model = "transformer";
    } else if (train.input_shape().size() == 2 && train.input_dtype() == DType::f32) {
      model = "lstm:64";
    } else {
      model = cat("mlp:", shape_numel(train.input_shape()), "-64-64-", data.classes);
    }
  }
  const std::string name = model.substr(0, model.find_first_of(":,"));
  const auto missing = [&](const char* key) {
    return model.find(cat(",", key, "=")) == std::string::npos;
  };
  if ((name == "rnn" || name == "lstm" || name == "gru") && train.input_shape().size() == 2) {
    if (missing("input")) {
      model += cat(",input=", train.input_shape()[0], "x", train.input_shape()[1]);
    }
    if (missing("outputs")) {
      model += cat(",outputs=", objective == train::Objective::classification
                                    ? data.classes
                                    : shape_numel(train.target_shape()));
    }
  }
  if (name == "transformer" && objective == train::Objective::tokens) {
    if (missing("vocab")) model += cat(",vocab=", data.classes);
    if (missing("len")) model += cat(",len=", train.input_shape()[0]);
  }
  return model;
}

nn::ModelSpec model_spec(const RunConfig& config, const Origins& origins) {
  try {
    return nn::ModelSpec::parse(config.model);
  } catch (const Error& e) {
    throw UsageError(cat(origin_of(origins, "model"), ": ", e.what()));
  }
}

std::shared_ptr<nn::Module> build_model(const RunConfig& config, const Origins& origins,
                                        const data::Dataset& data, std::int64_t classes) {
  nn::ModelSpec spec = model_spec(config, origins);
  if (auto* mlp = std::get_if<nn::MLPOptions>(&spec.options)) {
    mlp->dropout_seed = static_cast<std::uint64_t>(config.seed);
  }
  Generator gen(static_cast<std::uint64_t>(config.seed));
  std::shared_ptr<nn::Module> model = nn::build_model(spec, gen);
  const std::string data_inputs = describe_inputs(data.input_shape(), data.input_dtype());
  const std::string kind_mismatch =
      cat(origin_of(origins, "model"), ": model '", config.model,
          "' does not take the data's examples ", shape_str(data.input_shape()), ": it expects ",
          model_inputs(spec), " but ", config.data, " gives ", data_inputs);
  const bool tokens_model = std::holds_alternative<nn::TransformerLMOptions>(spec.options);
  const bool token_data = data.input_dtype() == DType::i64 || data.input_dtype() == DType::i32;
  if (tokens_model != token_data ||
      (std::holds_alternative<nn::SequenceModelOptions>(spec.options) &&
       data.input_shape().size() != 2) ||
      ((std::holds_alternative<nn::CNNOptions>(spec.options) ||
        std::holds_alternative<nn::ResNetOptions>(spec.options)) &&
       data.input_shape().size() != 3)) {
    throw UsageError(kind_mismatch);
  }
  nn::ModelInfo info;
  try {
    info = nn::model_info(*model, data.input_shape());
  } catch (const Error& e) {
    throw UsageError(cat(origin_of(origins, "model"), ": model '", config.model,
                         "' does not take the data's examples ", shape_str(data.input_shape()),
                         ": ", e.what()));
  }
  const train::Objective objective = train::objective_of(data);
  if (objective == train::Objective::tokens) {
    const Shape& steps = data.target_shape();  // (T)
    if (info.output.size() != 2 || info.output[0] != steps[0] || info.output[1] < classes) {
      throw UsageError(cat(origin_of(origins, "model"), ": model '", config.model,
                           "' gives outputs ", shape_str(info.output),
                           " per example, but the data needs (", steps[0],
                           ", V) with V >= ", classes, " (the alphabet)"));
    }
    return model;
  }
  if (objective == train::Objective::regression) {
    if (shape_numel(info.output) != shape_numel(data.target_shape())) {
      throw UsageError(cat(origin_of(origins, "model"), ": model '", config.model,
                           "' gives outputs ", shape_str(info.output),
                           " per example, but the data has real targets ",
                           shape_str(data.target_shape()), " (regression)"));
    }
    return model;
  }
  if (info.output != Shape{classes}) {
    throw UsageError(cat(origin_of(origins, "model"), ": model '", config.model, "' gives outputs ",
                         shape_str(info.output), " per example, but the data has ", classes,
                         " classes"));
  }
  return model;
}

std::unique_ptr<optim::Optimizer> build_optimizer(const RunConfig& config, const Origins& origins,
                                                  nn::Module& model) {
  // One tensor per parameter (views of the flat buffer), so that state.<i> is the i-th
  // named parameter, as in PyTorch, and layer-wise optimizers (LAMB, LARS) see each tensor.
  try {
    return optim::create_optimizer(config.optimizer, model.parameters(),
                                   optimizer_option_map(config));
  } catch (const Error& e) {
    throw UsageError(cat(origin_of(origins, "optimizer"), ": ", e.what()));
  }
}

std::optional<schedule::Schedule> build_schedule(const RunConfig& config, const Origins& origins,
                                                 std::int64_t horizon) {
  const std::string origin = origin_of(origins, "schedule");
  Spec spec = parse_spec(config.schedule, origin, "schedule");
  // The schedule's flags fill in its options or must agree with those written in the spec.
  struct FlagValue {
    const char* config_key;
    const char* spec_key;
    std::string text;
  };
  std::vector<FlagValue> flag_values;
  if (config.min_lr) flag_values.push_back({"min_lr", "eta_min", number_text(*config.min_lr)});
  if (config.step_size) {
    flag_values.push_back({"step_size", "step_size", std::to_string(*config.step_size)});
  }
  if (config.gamma) flag_values.push_back({"gamma", "gamma", number_text(*config.gamma)});
  if (!config.milestones.empty()) {
    std::string list = config.milestones;  // "30,60" on the command line, "30:60" in a spec
    std::replace(list.begin(), list.end(), ',', ':');
    flag_values.push_back({"milestones", "milestones", list});
  }
  if (config.t0) flag_values.push_back({"t0", "t_0", std::to_string(*config.t0)});
  if (config.t_mult) flag_values.push_back({"t_mult", "t_mult", std::to_string(*config.t_mult)});
  if (config.max_lr) flag_values.push_back({"max_lr", "max_lr", number_text(*config.max_lr)});
  const auto same_value = [](const std::string& a, const std::string& b) {
    if (a == b) return true;
    double x = 0, y = 0;
    const auto [end_a, error_a] = std::from_chars(a.data(), a.data() + a.size(), x);
    const auto [end_b, error_b] = std::from_chars(b.data(), b.data() + b.size(), y);
    return error_a == std::errc() && error_b == std::errc() && end_a == a.data() + a.size() &&
           end_b == b.data() + b.size() && x == y;
  };
  std::map<std::string, std::string> flag_origins;
  for (const FlagValue& flag : flag_values) {
    const std::string flag_origin = origin_of(origins, flag.config_key);
    const auto written = spec.options.find(flag.spec_key);
    if (written != spec.options.end() && !same_value(written->second, flag.text)) {
      throw UsageError(cat(flag_origin, ": ", flag.text, " conflicts with ", flag.spec_key, "=",
                           written->second, " in ", origin, " '", config.schedule,
                           "' (give the value once)"));
    }
    spec.options[flag.spec_key] = flag.text;
    flag_origins[flag.spec_key] = flag_origin;
  }
  SpecOptions options(spec, origin, config.schedule);
  for (const auto& [key, flag_origin] : flag_origins) options.set_origin(key, flag_origin);
  const auto gamma = [&](double fallback) {
    const double value = options.number("gamma", fallback);
    if (!(value > 0.0)) options.fail("gamma", cat("must be > 0, got ", value));
    return value;
  };
  const auto eta_min = [&]() {
    const double value = options.number("eta_min", 0.0);
    if (!(value >= 0.0)) options.fail("eta_min", cat("must be >= 0, got ", value));
    return value;
  };
  horizon = std::max<std::int64_t>(horizon, 1);
  std::optional<schedule::Schedule> out;
  try {
    if (spec.name == "constant") {
      out = std::nullopt;
    } else if (spec.name == "cosine") {
      out = schedule::cosine(horizon, eta_min());
    } else if (spec.name == "step") {
      const std::int64_t size =
          options.integer("step_size", std::max<std::int64_t>(horizon / 3, 1), 1);
      out = schedule::step_decay(size, gamma(0.1));
    } else if (spec.name == "multistep") {
      std::vector<std::int64_t> milestones = options.integers("milestones");
      if (milestones.empty()) {
        throw UsageError(cat(origin,
                             ": multistep needs milestones (--milestones A,B,... or "
                             "milestones=A:B:... in the spec)"));
      }
      for (std::size_t i = 0; i < milestones.size(); ++i) {
        if (milestones[i] < 1) {
          options.fail("milestones", cat("must be >= 1, got ", milestones[i]));
        }
        if (i > 0 && milestones[i] <= milestones[i - 1]) {
          options.fail("milestones",
                       cat("must be increasing, got ", milestones[i - 1], " then ", milestones[i]));
        }
      }
      out = schedule::multi_step(milestones, gamma(0.1));
    } else if (spec.name == "exponential") {
      out = schedule::exponential(gamma(0.95));
    } else if (spec.name == "linear") {
      const double start = options.number("start_factor", 1.0);
      out = schedule::linear(start, options.number("end_factor", 0.0), horizon);
    } else if (spec.name == "polynomial") {
      out = schedule::polynomial(horizon, options.number("power", 1.0));
    } else if (spec.name == "onecycle") {
      const schedule::Schedule cycle = schedule::one_cycle(
          {.total_steps = horizon, .pct_start = options.number("pct_start", 0.3)});
      const double max_lr = options.number("max_lr", 0.0);
      if (spec.options.contains("max_lr")) {
        if (!(max_lr > 0.0)) options.fail("max_lr", cat("must be > 0, got ", max_lr));
        // PyTorch's OneCycleLR(max_lr=...): the peak replaces the optimizer's lr.
        out = schedule::Schedule(
            cat(cycle.description(), " with max_lr=", max_lr),
            [cycle, max_lr](std::int64_t step, double) { return cycle(step, max_lr); });
      } else {
        out = cycle;
      }
    } else if (spec.name == "cosine_restarts") {
      const std::int64_t t_0 = options.integer("t_0", std::max<std::int64_t>(horizon / 4, 1), 1);
      const std::int64_t t_mult = options.integer("t_mult", 1, 1);
      out = schedule::cosine_restarts(t_0, t_mult, eta_min());
    } else {
      throw UsageError(cat(origin, ": unknown schedule '", spec.name,
                           "' (known: constant, cosine, step, multistep, exponential, linear, "
                           "polynomial, onecycle, cosine_restarts)"));
    }
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(cat(origin, ": ", e.what()));
  }
  options.finish();
  return out;
}

void check_warmup(const RunConfig& config, const Origins& origins, std::int64_t total_steps) {
  if (config.warmup_steps > total_steps) {
    throw UsageError(cat(origin_of(origins, "warmup_steps"), ": ", config.warmup_steps,
                         " warmup steps are more than the run's ", total_steps, " steps"));
  }
}

void apply_checkpoint_config(const train::Checkpoint& checkpoint, RunConfig& config,
                             Origins& origins) {
  const auto found = checkpoint.metadata.find("config");
  DESCENT_CHECK(
      found != checkpoint.metadata.end(), "checkpoint '", checkpoint.path,
      "' holds no run configuration (metadata 'config'); was it written by descent train?");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(found->second);
  } catch (const nlohmann::json::parse_error&) {
    throw Error(cat("checkpoint '", checkpoint.path, "': its run configuration is not valid JSON"));
  }
  apply_json(json, cat("the configuration in ", checkpoint.path), config, origins);
}

}  // namespace descent::cli
