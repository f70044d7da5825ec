#include "descent/cli/config.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include "descent/core/error.hpp"

namespace descent::cli {
namespace {

using Json = nlohmann::json;
using Member =
    std::variant<std::string RunConfig::*, std::int64_t RunConfig::*, double RunConfig::*,
                 bool RunConfig::*, std::optional<double> RunConfig::*,
                 std::optional<std::int64_t> RunConfig::*>;

struct Field {
  const char* key;
  Member member;
  const char* help;
};

// One row per setting; the flag is "--" + key with '_' as '-'.
const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      {"model", &RunConfig::model,
       "model spec: cnn, mlp[:784-256-256-10], resnet20, rnn, lstm, gru, transformer, ... (see "
       "`descent info`); default cnn on fashion-mnist, lstm:64 on adding and temporal, "
       "transformer on text, mlp:<features>-64-64-<classes> otherwise; the data fills in "
       "input=/outputs= of rnn/lstm/gru and vocab=/len= of transformer when left out"},
      {"data", &RunConfig::data,
       "fashion-mnist, spirals[,samples=N,classes=K,noise=X], blobs[,samples=N,classes=K,"
       "features=F], csv:FILE (last column: class index); sequence tasks: adding[:T=100,"
       "samples=10000] (regression, MSE), temporal[:T=100,samples=10000] (4 classes), "
       "text[:FILE][,T=128] (next character, bits per character; default FILE "
       "/usr/share/common-licenses/GPL-3)"},
      {"data_dir", &RunConfig::data_dir,
       "Fashion-MNIST folder (default $DESCENT_FASHION_MNIST_DIR, then "
       "/usr/share/datasets/fashion-mnist)"},
      {"train_size", &RunConfig::train_size, "use the first N training examples (0: all)"},
      {"test_size", &RunConfig::test_size, "use the first N test examples (0: all)"},
      {"val_split", &RunConfig::val_split,
       "fraction of the training set held out for validation (picks the best checkpoint and "
       "drives early stopping; without it the test set does)"},
      {"augment", &RunConfig::augment, "random crops (padding 2) and horizontal flips of images"},
      {"epochs", &RunConfig::epochs, "epochs to train"},
      {"steps", &RunConfig::steps, "stop after this many steps in all (0: the epochs decide)"},
      {"batch_size", &RunConfig::batch_size, "examples per step"},
      {"optimizer", &RunConfig::optimizer, "sgd, adam, adamw, rmsprop, ... (see --help)"},
      {"lr", &RunConfig::lr,
       "learning rate (default: 0.05 for the default sgd recipe, else the optimizer's PyTorch "
       "default)"},
      {"momentum", &RunConfig::momentum, "momentum (default recipe: 0.9, nesterov)"},
      {"weight_decay", &RunConfig::weight_decay, "weight decay (default recipe: 5e-4)"},
      {"schedule", &RunConfig::schedule,
       "constant, cosine[,eta_min=X], step[,step_size=N,gamma=G], "
       "multistep,milestones=A:B[,gamma=G], exponential[,gamma=G], linear[,start_factor=A,"
       "end_factor=B], polynomial[,power=P], onecycle[,pct_start=P,max_lr=X], "
       "cosine_restarts,t_0=N[,t_mult=M]"},
      {"schedule_unit", &RunConfig::schedule_unit, "step or epoch: what the schedule counts"},
      {"warmup_steps", &RunConfig::warmup_steps, "linear warmup from 0 over this many steps"},
      {"min_lr", &RunConfig::min_lr,
       "cosine, cosine_restarts: the lowest lr, eta_min (as the schedule's eta_min=X)"},
      {"step_size", &RunConfig::step_size,
       "step: decay every N steps or epochs (as step_size=N; default a third of the run)"},
      {"gamma", &RunConfig::gamma,
       "step, multistep, exponential: the decay factor, > 0 (as gamma=G)"},
      {"milestones", &RunConfig::milestones,
       "multistep: increasing steps where the lr decays, A,B,... (as milestones=A:B)"},
      {"t0", &RunConfig::t0,
       "cosine_restarts: the first period (as t_0=N; default a quarter of the run)"},
      {"t_mult", &RunConfig::t_mult,
       "cosine_restarts: each period is this many times the last (as t_mult=M)"},
      {"max_lr", &RunConfig::max_lr,
       "onecycle: the peak lr, for every group (as max_lr=X; default the base lr)"},
      {"clip_norm", &RunConfig::clip_norm, "clip the gradients' global L2 norm to this (0: off)"},
      {"label_smoothing", &RunConfig::label_smoothing, "cross-entropy label smoothing"},
      {"clip_value", &RunConfig::clip_value,
       "clamp every gradient element to [-X, X] (> 0; default off)"},
      {"agc", &RunConfig::agc,
       "adaptive gradient clipping (Brock et al. 2021): the clipping factor, e.g. 0.01 (> 0; "
       "default off)"},
      {"nan_policy", &RunConfig::nan_policy,
       "on a NaN/Inf loss or gradient: stop (keeping the last good checkpoint) or skip the step "
       "and go on (20 skips in a row stop)"},
      {"detect_anomaly", &RunConfig::detect_anomaly,
       "check every op for NaN/Inf (slower), so that a NaN stop names the op that made it"},
      {"accumulate", &RunConfig::accumulate,
       "micro-batches per optimizer step: the gradient of batch_size x N examples"},
      {"ema", &RunConfig::ema,
       "keep an exponential moving average of the weights with this decay, in (0, 1), e.g. "
       "0.999; evaluation and the test use the averaged weights (default off)"},
      {"precision", &RunConfig::precision,
       "fp32, bf16 or fp16: mixed precision (linear, matmul and conv2d in 16 bits with f32 "
       "sums; f32 master weights; batch norm, softmax, the loss and the optimizer in f32)"},
      {"loss_scaling", &RunConfig::loss_scaling,
       "fp16: dynamic loss scaling as PyTorch's GradScaler (--no-loss-scaling: off, and small "
       "gradients underflow to zero)"},
      {"doctor", &RunConfig::doctor,
       "watch the run and warn about exploding gradients, divergence, bad learning rates "
       "(--no-doctor: off)"},
      {"patience", &RunConfig::patience,
       "early stopping: epochs without a better eval accuracy (eval loss for adding and text) "
       "(0: off)"},
      {"seed", &RunConfig::seed, "seed of the weights, the shuffle, augmentation and dropout"},
      {"threads", &RunConfig::threads, "threads (0: OpenMP's default)"},
      {"log_every", &RunConfig::log_every, "steps per metrics.jsonl record (0: epochs only)"},
      {"checkpoint_every", &RunConfig::checkpoint_every,
       "also write last.safetensors every N steps (0: after each epoch only)"},
      {"eval_batch_size", &RunConfig::eval_batch_size, "examples per evaluation batch"},
      {"out", &RunConfig::out, "run folder (default runs/<date>-<time>-<model>)"},
      {"resume", &RunConfig::resume,
       "continue from this checkpoint, with its configuration unless overridden"},
  };
  return table;
}

std::string flag_of(const std::string& key) {
  std::string flag = "--" + key;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

// Levenshtein distance, for "did you mean".
std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(const std::string& key) {
  std::string best;
  std::size_t best_distance = 3;
  for (const Field& field : fields()) {
    const std::size_t d = distance(key, field.key);
    if (d < best_distance) {
      best_distance = d;
      best = field.key;
    }
  }
  if ("optimizer_options" != key && distance(key, "optimizer_options") < best_distance) {
    best = "optimizer_options";
  }
  return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

std::string describe(const Json& value) {
  const std::string text = value.dump();
  return cat(value.type_name(), " ", text.size() > 40 ? text.substr(0, 40) + "..." : text);
}

template <typename T>
bool parse_number(const std::string& text, T& out) {
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (first != last && *first == '+') ++first;
  const auto [end, error] = std::from_chars(first, last, out);
  return error == std::errc() && end == last && first != last;
}

// Sets `field` from command-line text.
void set_from_text(RunConfig& config, const Field& field, const std::string& text,
                   const std::string& where) {
  std::visit(
      [&](auto member) {
        using Value = std::remove_cvref_t<decltype(config.*member)>;
        if constexpr (std::is_same_v<Value, std::string>) {
          config.*member = text;
        } else if constexpr (std::is_same_v<Value, std::int64_t> ||
                             std::is_same_v<Value, std::optional<std::int64_t>>) {
          std::int64_t value = 0;
          if (!parse_number(text, value))
            throw UsageError(cat(where, ": expected an integer, got '", text, "'"));
          config.*member = value;
        } else if constexpr (std::is_same_v<Value, double> ||
                             std::is_same_v<Value, std::optional<double>>) {
          double value = 0;
          if (!parse_number(text, value))
            throw UsageError(cat(where, ": expected a number, got '", text, "'"));
          config.*member = value;
        } else {
          static_assert(std::is_same_v<Value, bool>);
          if (text != "true" && text != "false") {
            throw UsageError(cat(where, ": expected true or false, got '", text, "'"));
          }
          config.*member = text == "true";
        }
      },
      field.member);
}

void set_from_json(RunConfig& config, const Field& field, const Json& value,
                   const std::string& where) {
  std::visit(
      [&](auto member) {
        using Value = std::remove_cvref_t<decltype(config.*member)>;
        if constexpr (std::is_same_v<Value, std::string>) {
          if (!value.is_string())
            throw UsageError(cat(where, " must be a string, got ", describe(value)));
          config.*member = value.get<std::string>();
        } else if constexpr (std::is_same_v<Value, std::int64_t>) {
          if (!value.is_number_integer()) {
            throw UsageError(cat(where, " must be an integer, got ", describe(value)));
          }
          config.*member = value.get<std::int64_t>();
        } else if constexpr (std::is_same_v<Value, double>) {
          if (!value.is_number())
            throw UsageError(cat(where, " must be a number, got ", describe(value)));
          config.*member = value.get<double>();
        } else if constexpr (std::is_same_v<Value, std::optional<double>>) {
          if (value.is_null()) {
            config.*member = std::nullopt;
          } else if (value.is_number()) {
            config.*member = value.get<double>();
          } else {
            throw UsageError(cat(where, " must be a number or null, got ", describe(value)));
          }
        } else if constexpr (std::is_same_v<Value, std::optional<std::int64_t>>) {
          if (value.is_null()) {
            config.*member = std::nullopt;
          } else if (value.is_number_integer()) {
            config.*member = value.get<std::int64_t>();
          } else {
            throw UsageError(cat(where, " must be an integer or null, got ", describe(value)));
          }
        } else {
          static_assert(std::is_same_v<Value, bool>);
          if (!value.is_boolean())
            throw UsageError(cat(where, " must be true or false, got ", describe(value)));
          config.*member = value.get<bool>();
        }
      },
      field.member);
}

const char* type_name(const Member& member) {
  if (std::holds_alternative<std::int64_t RunConfig::*>(member) ||
      std::holds_alternative<std::optional<std::int64_t> RunConfig::*>(member)) {
    return "INT";
  }
  if (std::holds_alternative<std::string RunConfig::*>(member)) return "TEXT";
  return "NUMBER";
}

}  // namespace

std::string origin_of(const Origins& origins, const std::string& key) {
  const auto found = origins.find(key);
  return found != origins.end() ? found->second : cat(flag_of(key), " (default)");
}

Flags::Flags(CLI::App& app) : Flags(app, {}) {}

Flags::Flags(CLI::App& app, const std::vector<std::string>& keys) {
  const auto wanted = [&](const std::string& key) {
    return keys.empty() || std::find(keys.begin(), keys.end(), key) != keys.end();
  };
  const nlohmann::ordered_json defaults = to_json(RunConfig{});
  if (wanted("config")) {
    app.add_option("--config", config_file_,
                   "JSON file of settings, keys as the flags with '_' for '-' (flags override it)");
  }
  for (const Field& field : fields()) {
    const std::string key = field.key;
    if (!wanted(key)) continue;
    if (std::holds_alternative<bool RunConfig::*>(field.member)) {
      bools_[key] = false;
      options_[key] = app.add_flag(flag_of(key) + ",!" + "--no-" + flag_of(key).substr(2),
                                   bools_[key], field.help);
    } else {
      options_[key] = app.add_option(flag_of(key), text_[key], field.help);
      options_[key]->type_name(type_name(field.member));
      const nlohmann::json value = defaults[key];
      const bool shown =
          !value.is_null() && !(value.is_string() && value.get<std::string>().empty());
      if (shown)
        options_[key]->default_str(value.is_string() ? value.get<std::string>() : value.dump());
    }
    options_[key]->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // the last one wins
  }
  if (!wanted("optimizer_options")) return;
  optimizer_options_flag_ = app.add_option("--opt", optimizer_options_,
                                           "another optimizer option as KEY=VALUE (repeatable), "
                                           "e.g. --opt betas=0.9,0.95 --opt eps=1e-6");
}

void Flags::apply(RunConfig& config, Origins& origins) const {
  for (const Field& field : fields()) {
    const std::string key = field.key;
    const auto registered = options_.find(key);
    if (registered == options_.end() || registered->second->count() == 0) continue;
    const std::string flag = flag_of(key);
    if (std::holds_alternative<bool RunConfig::*>(field.member)) {
      config.*std::get<bool RunConfig::*>(field.member) = bools_.at(key);
    } else {
      set_from_text(config, field, text_.at(key), flag);
    }
    origins[key] = flag;
  }
  for (const std::string& entry : optimizer_options_) {
    const std::size_t equals = entry.find('=');
    if (equals == std::string::npos || equals == 0) {
      throw UsageError(cat("--opt: expected KEY=VALUE, got '", entry, "'"));
    }
    config.optimizer_options[entry.substr(0, equals)] = entry.substr(equals + 1);
    origins["optimizer_options"] = "--opt";
  }
}

void apply_json(const Json& json, const std::string& source, RunConfig& config, Origins& origins) {
  if (!json.is_object())
    throw UsageError(cat(source, ": expected a JSON object, got ", describe(json)));
  for (const auto& [key, value] : json.items()) {
    const std::string where = cat("key '", key, "' of ", source);
    if (key == "optimizer_options") {
      if (!value.is_object())
        throw UsageError(cat(where, " must be an object, got ", describe(value)));
      for (const auto& [name, option] : value.items()) {
        if (option.is_string()) {
          config.optimizer_options[name] = option.get<std::string>();
        } else if (option.is_number() || option.is_boolean()) {
          config.optimizer_options[name] = option.dump();
        } else {
          throw UsageError(cat("key 'optimizer_options.", name, "' of ", source,
                               " must be a number, a boolean or a string, got ", describe(option)));
        }
      }
      origins[key] = where;
      continue;
    }
    const auto field = std::find_if(fields().begin(), fields().end(),
                                    [&](const Field& f) { return key == f.key; });
    if (field == fields().end())
      throw UsageError(cat(source, ": unknown key '", key, "'", suggestion(key)));
    set_from_json(config, *field, value, where);
    origins[key] = where;
  }
}

void apply_json_file(const std::string& path, RunConfig& config, Origins& origins) {
  std::ifstream in(path);
  if (!in) throw UsageError(cat("--config ", path, ": cannot read the file"));
  std::stringstream text;
  text << in.rdbuf();
  Json json;
  try {
    json = Json::parse(text.str());
  } catch (const Json::parse_error& e) {
    throw UsageError(cat("--config ", path, ": not valid JSON (at byte ", e.byte, ")"));
  }
  apply_json(json, path, config, origins);
}

nlohmann::ordered_json to_json(const RunConfig& config) {
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  for (const Field& field : fields()) {
    std::visit(
        [&](auto member) {
          using Value = std::remove_cvref_t<decltype(config.*member)>;
          if constexpr (std::is_same_v<Value, std::optional<double>> ||
                        std::is_same_v<Value, std::optional<std::int64_t>>) {
            json[field.key] = config.*member ? nlohmann::ordered_json(*(config.*member)) : nullptr;
          } else {
            json[field.key] = config.*member;
          }
        },
        field.member);
    if (std::string_view(field.key) == "weight_decay") {
      json["optimizer_options"] = config.optimizer_options;
    }
  }
  return json;
}

std::string settings_help() {
  std::string out =
      "Each flag is also a key of the --config JSON file (--batch-size is \"batch_size\"; "
      "--opt K=V is \"optimizer_options\": {\"K\": V}).\n";
  return out;
}

}  // namespace descent::cli
