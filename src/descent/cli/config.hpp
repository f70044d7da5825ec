// The configuration of a `descent train` run: every setting, by flag and by JSON key.
//
// A setting comes from, in rising precedence: its default; the configuration saved in the
// checkpoint given by --resume; the JSON file given by --config; the command line. The key
// of --batch-size is "batch_size". The effective configuration (defaults filled in) is saved
// as config.json in the run folder and inside every checkpoint, so that `descent train
// --config runs/a/config.json` repeats the run and `--resume` continues it.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace descent::cli {

// A mistake in how the command was called (exit status 2); other errors exit with 1.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunConfig {
  std::string model = "";  // empty: cnn on Fashion-MNIST, mlp:<F>-64-64-<K> on other data
  std::string data = "fashion-mnist";
  std::string data_dir = "";
  std::int64_t train_size = 0;  // use only the first N training examples (0: all)
  std::int64_t test_size = 0;   // use only the first N test examples (0: all)
  double val_split = 0.0;       // fraction of the training set held out for validation
  bool augment = false;
  std::int64_t epochs = 10;
  std::int64_t steps = 0;  // 0: epochs decide
  std::int64_t batch_size = 128;
  std::string optimizer = "sgd";
  std::optional<double> lr;  // unset: the default recipe's for its optimizer, else PyTorch's
  std::optional<double> momentum;
  std::optional<double> weight_decay;
  std::map<std::string, std::string> optimizer_options;  // any other option, as text
  std::string schedule = "cosine";
  std::string schedule_unit = "step";
  std::int64_t warmup_steps = 0;
  // The schedule's options as flags; each fills or must agree with the same option written
  // in `schedule` ("step,gamma=0.5" and --gamma 0.5). Unset: the spec's value or default.
  std::optional<double> min_lr;           // eta_min of cosine, cosine_restarts
  std::optional<std::int64_t> step_size;  // step
  std::optional<double> gamma;            // step, multistep, exponential
  std::string milestones = "";            // multistep: "30,60,90"
  std::optional<std::int64_t> t0;         // cosine_restarts: t_0
  std::optional<std::int64_t> t_mult;     // cosine_restarts
  std::optional<double> max_lr;           // onecycle: the peak lr (default: the base lr)
  double clip_norm = 0.0;
  double label_smoothing = 0.0;
  std::optional<double> clip_value;  // unset: off
  std::optional<double> agc;         // adaptive gradient clipping factor; unset: off
  std::string nan_policy = "stop";   // or "skip"
  bool detect_anomaly = false;
  std::int64_t accumulate = 1;  // micro-batches per optimizer step
  std::optional<double> ema;    // decay of the weights' moving average; unset: off
  bool doctor = true;
  std::string precision = "fp32";  // or bf16, fp16
  bool loss_scaling = true;        // fp16: dynamic loss scaling
  std::int64_t patience = 0;
  std::int64_t seed = 0;
  std::int64_t threads = 0;  // 0: OpenMP's default
  std::int64_t log_every = 50;
  std::int64_t checkpoint_every = 0;
  std::int64_t eval_batch_size = 1000;
  std::string out = "";     // empty: runs/<date>-<time>-<model>
  std::string resume = "";  // a checkpoint to continue from
};

// Where each setting came from, by key, for messages: "--lr", "key 'lr' of cfg.json".
using Origins = std::map<std::string, std::string>;

// Registers one flag per setting on `app`; apply() copies those given into a config.
class Flags {
 public:
  explicit Flags(CLI::App& app);
  // Only the settings whose keys are listed, for a command that uses part of a run's
  // configuration (`descent schedule`); "config" adds --config, "optimizer_options" --opt.
  Flags(CLI::App& app, const std::vector<std::string>& keys);
  void apply(RunConfig& config, Origins& origins) const;
  const std::string& config_file() const { return config_file_; }

 private:
  std::map<std::string, std::string> text_;  // key -> value as typed
  std::map<std::string, CLI::Option*> options_;
  std::map<std::string, bool> bools_;
  std::vector<std::string> optimizer_options_;
  CLI::Option* optimizer_options_flag_ = nullptr;
  std::string config_file_;
};

// Applies the keys of a JSON object; unknown keys and wrong types throw UsageError naming
// `source` (a file name) and the key.
void apply_json(const nlohmann::json& json, const std::string& source, RunConfig& config,
                Origins& origins);
// Reads and applies a JSON file; a missing or malformed file throws UsageError naming it.
void apply_json_file(const std::string& path, RunConfig& config, Origins& origins);
nlohmann::ordered_json to_json(const RunConfig& config);

// "--batch-size" or "key 'batch_size' of cfg.json": where `key` was set.
std::string origin_of(const Origins& origins, const std::string& key);

// Help text listing every setting (for `descent train --help`'s footer).
std::string settings_help();

}  // namespace descent::cli
