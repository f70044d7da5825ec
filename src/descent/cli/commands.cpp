#include "descent/cli/commands.hpp"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <thread>

#include "descent/amp/policy.hpp"
#include "descent/cli/config.hpp"
#include "descent/cli/setup.hpp"
#include "descent/nn/info.hpp"
#include "descent/optim/registry.hpp"
#include "descent/train/atomic_file.hpp"
#include "descent/train/callbacks.hpp"
#include "descent/train/checkpoint.hpp"
#include "descent/train/trainer.hpp"

namespace descent::cli {
namespace {

namespace fs = std::filesystem;

// Files that mark a folder as holding a run.
constexpr const char* kRunFiles[] = {"config.json", "metrics.jsonl", "summary.json",
                                     "last.safetensors", "best.safetensors"};

std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y%m%d-%H%M%S", &local);
  return buffer;
}

// "runs/20261128-233400-mlp-784-256-10", made unique with a suffix.
std::string default_run_folder(const std::string& model) {
  std::string name;
  for (char c : model) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  const std::string base = "runs/" + timestamp() + "-" + name;
  std::string folder = base;
  for (int k = 2; fs::exists(folder); ++k) folder = cat(base, "-", k);
  return folder;
}

// Creates the run folder, refusing one that holds another run (unless this run resumes
// from a checkpoint inside it: then it continues there).
void prepare_run_folder(const RunConfig& config, const Origins& origins) {
  const std::string origin = origin_of(origins, "out");
  std::error_code error;
  fs::create_directories(config.out, error);
  if (error)
    throw Error(cat(origin, " ", config.out, ": cannot create the folder: ", error.message()));
  if (!fs::is_directory(config.out)) throw Error(cat(origin, " ", config.out, ": not a folder"));
  const bool resuming_here =
      !config.resume.empty() &&
      fs::equivalent(fs::absolute(config.resume).parent_path(), fs::absolute(config.out), error);
  if (!resuming_here) {
    for (const char* file : kRunFiles) {
      if (fs::exists(fs::path(config.out) / file)) {
        throw UsageError(cat(origin, " ", config.out, ": already holds a run (", file,
                             "); choose another folder, or continue it with --resume ",
                             (fs::path(config.out) / "last.safetensors").string()));
      }
    }
  }
  // What a run killed mid-write left behind; the files they were to replace are intact.
  for (const char* file :
       {"last.safetensors.tmp", "best.safetensors.tmp", "summary.json.tmp", "config.json.tmp"}) {
    fs::remove(fs::path(config.out) / file, error);
  }
  if (::access(config.out.c_str(), W_OK) != 0) {
    throw Error(
        cat(origin, " ", config.out, ": cannot write to the folder: ", std::strerror(errno)));
  }
}

// For the crash-safety test: DESCENT_TEST_PAUSE_CHECKPOINT=N makes the N-th checkpoint write of
// this process stop half way (announcing it on stderr) and sleep, so that a test can kill the
// process mid-write. Read here, in the command, never by the library.
train::SaveOptions test_pause_hook() {
  const char* value = std::getenv("DESCENT_TEST_PAUSE_CHECKPOINT");
  if (value == nullptr) return {};
  const long target = std::strtol(value, nullptr, 10);
  auto count = std::make_shared<long>(0);
  auto previous = std::make_shared<std::uint64_t>(UINT64_MAX);
  return {.on_write = [target, count, previous](std::uint64_t written, std::uint64_t total) {
    if (written <= *previous) ++*count;  // the first call of a new file
    *previous = written;
    if (*count == target && written * 2 >= total && written < total) {
      std::fprintf(stderr, "descent: test hook: checkpoint write paused at %llu of %llu bytes\n",
                   static_cast<unsigned long long>(written),
                   static_cast<unsigned long long>(total));
      std::fflush(stderr);
      std::this_thread::sleep_for(std::chrono::minutes(10));
    }
  }};
}

std::string percent(double fraction) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f%%", 100.0 * fraction);
  return buffer;
}

const char* stop_name(train::StopReason stop) {
  switch (stop) {
    case train::StopReason::completed:
      return "completed";
    case train::StopReason::max_steps:
      return "max_steps";
    case train::StopReason::early_stopping:
      return "early_stopping";
    case train::StopReason::non_finite:
      return "non_finite";
  }
  return "?";
}

// "accuracy 91.20% (loss 0.2500, ...)", or the objective's measures instead of the accuracy:
// "1.912 bits/char, token accuracy 45.10% (loss 1.3254 nats, ...)", "error rate 3.10%
// ((y - t)^2 > 0.04; MSE 0.0123, ...)".
std::string evaluation_text(const train::Evaluation& result) {
  char buffer[160];
  switch (result.objective) {
    case train::Objective::classification:
      std::snprintf(buffer, sizeof buffer, "accuracy %s (loss %.4f",
                    percent(result.accuracy).c_str(), result.loss);
      break;
    case train::Objective::tokens:
      std::snprintf(buffer, sizeof buffer, "%.3f bits/char, token accuracy %s (loss %.4f nats",
                    result.bits_per_char(), percent(result.accuracy).c_str(), result.loss);
      break;
    case train::Objective::regression:
      std::snprintf(buffer, sizeof buffer, "MSE %.4g, error rate %s ((y - t)^2 > 0.04", result.loss,
                    percent(result.error_rate).c_str());
      break;
  }
  return cat(buffer, ", ", result.examples, " examples)");
}

// The measures of an evaluation as JSON members: loss, accuracy (null for regression), and
// bits_per_char (tokens) or error_rate (regression).
void add_evaluation(nlohmann::ordered_json& json, const std::string& prefix,
                    const train::Evaluation& result) {
  const auto number = [](double value) {
    return std::isfinite(value) ? nlohmann::ordered_json(value) : nlohmann::ordered_json(nullptr);
  };
  json[prefix + "acc"] = number(result.accuracy);
  json[prefix + "loss"] = number(result.loss);
  if (result.objective == train::Objective::tokens) {
    json[prefix + "bits_per_char"] = number(result.bits_per_char());
  }
  if (result.objective == train::Objective::regression) {
    json[prefix + "error_rate"] = number(result.error_rate);
  }
}

std::string optimizer_summary(const RunConfig& config) {
  std::string out = "(";
  auto add = [&](const std::string& text) { out += (out.size() > 1 ? ", " : "") + text; };
  if (config.lr) add(cat("lr=", *config.lr));
  if (config.momentum) add(cat("momentum=", *config.momentum));
  if (config.weight_decay) add(cat("weight_decay=", *config.weight_decay));
  for (const auto& [key, value] : config.optimizer_options) add(key + "=" + value);
  return out + ")";
}

int run_train(const Flags& flags) {
  RunConfig config;
  Origins origins;
  // Which checkpoint, if any, is known only once the file and the flags are read.
  RunConfig probe;
  Origins probe_origins;
  if (!flags.config_file().empty()) apply_json_file(flags.config_file(), probe, probe_origins);
  flags.apply(probe, probe_origins);
  std::optional<train::Checkpoint> checkpoint;
  if (!probe.resume.empty()) {
    checkpoint = train::load_checkpoint(probe.resume);
    apply_checkpoint_config(*checkpoint, config, origins);
    config.out = "";
    config.resume = "";
    origins.erase("out");
    origins.erase("resume");
  }
  if (!flags.config_file().empty()) apply_json_file(flags.config_file(), config, origins);
  flags.apply(config, origins);
  resolve(config, origins);
  if (config.threads > 0) set_num_threads(static_cast<int>(config.threads));

  const RunData data = load_data(config, origins);
  config.model = model_for_data(config, data);
  std::shared_ptr<nn::Module> model = build_model(config, origins, *data.train, data.classes);
  std::unique_ptr<optim::Optimizer> optimizer = build_optimizer(config, origins, *model);
  data::DataLoader loader(data.train, {.batch_size = config.batch_size,
                                       .shuffle = true,
                                       .seed = static_cast<std::uint64_t>(config.seed),
                                       .transforms = data.train_transforms});
  const std::int64_t steps_per_epoch =
      (loader.num_batches() + config.accumulate - 1) / config.accumulate;
  std::int64_t total_steps = config.epochs * steps_per_epoch;
  if (config.steps > 0) total_steps = std::min(total_steps, config.steps);
  check_warmup(config, origins, total_steps);
  const bool per_step = config.schedule_unit == "step";
  if (config.out.empty()) {
    config.out = checkpoint ? fs::path(config.resume).parent_path().string()
                            : default_run_folder(config.model);
    if (config.out.empty()) config.out = ".";
  }
  const nlohmann::ordered_json effective = to_json(config);

  train::TrainerOptions options{
      .epochs = config.epochs,
      .max_steps = config.steps,
      .schedule = build_schedule(config, origins, per_step ? total_steps : config.epochs),
      .schedule_unit = per_step ? train::ScheduleUnit::step : train::ScheduleUnit::epoch,
      .warmup_steps = config.warmup_steps,
      .clip_norm = config.clip_norm,
      .clip_value = config.clip_value.value_or(0.0),
      .agc = config.agc.value_or(0.0),
      .nan_policy = train::parse_nan_policy(config.nan_policy),
      .detect_anomaly = config.detect_anomaly,
      .accumulate = config.accumulate,
      .label_smoothing = config.label_smoothing,
      .patience = config.patience,
      .log_every = config.log_every,
      .checkpoint_dir = config.out,
      .checkpoint_every = config.checkpoint_every,
      .checkpoint_metadata = {{"config", effective.dump()},
                              {"model", config.model},
                              {"data", config.data}},
      .checkpoint_save = test_pause_hook(),
      .eval_batch_size = config.eval_batch_size,
      .ema = config.ema ? std::optional(train::EmaOptions{.decay = *config.ema}) : std::nullopt,
      .precision = amp::parse_precision(config.precision),
      .loss_scaler = {.enabled = config.loss_scaling}};
  train::Trainer trainer(model, *optimizer, loader, std::move(options));
  if (data.validation->size() > 0) {
    trainer.set_eval_set(data.validation, "val", data.eval_transforms);
  } else {
    trainer.set_eval_set(data.test, "test", data.eval_transforms);
  }
  // A checkpoint that does not fit fails here, before anything is written.
  if (checkpoint) trainer.resume(*checkpoint);

  prepare_run_folder(config, origins);
  train::write_file_atomic((fs::path(config.out) / "config.json").string(),
                           effective.dump(2) + "\n");
  const bool interactive = ::isatty(STDOUT_FILENO) != 0;
  trainer.add_callback(std::make_shared<train::ProgressBar>(stdout, interactive));
  auto metrics =
      std::make_shared<train::MetricsLog>((fs::path(config.out) / "metrics.jsonl").string());
  trainer.add_callback(metrics);
  if (config.doctor) {
    trainer.add_callback(std::make_shared<train::DoctorWatch>(
        train::DoctorOptions{.warmup_steps = config.warmup_steps}, stderr, metrics));
  }

  std::printf("descent train: %s (%lld parameters) on %s\n", model->str().c_str(),
              static_cast<long long>(model->num_parameters()), data.description.c_str());
  const std::string batch = config.accumulate > 1 ? cat(config.batch_size, " x ", config.accumulate,
                                                        " accumulated micro-batches")
                                                  : cat(config.batch_size);
  std::printf("  %s %s, %s schedule, %lld epochs of %lld steps (batch %s)%s%s, threads: %d\n",
              optimizer->name().data(), optimizer_summary(config).c_str(), config.schedule.c_str(),
              static_cast<long long>(config.epochs), static_cast<long long>(steps_per_epoch),
              batch.c_str(),
              config.steps > 0 ? cat(", at most ", config.steps, " steps").c_str() : "",
              checkpoint ? cat(", resumed at step ", trainer.step()).c_str() : "", num_threads());
  std::printf("  run folder %s\n", config.out.c_str());
  std::fflush(stdout);

  const train::TrainResult result = trainer.fit();
  if (result.stop == train::StopReason::non_finite) {
    throw Error(result.message);
  }
  // With --ema the averaged weights are the run's result.
  std::optional<train::EmaWeights> averaged;
  if (trainer.ema() != nullptr) averaged.emplace(*trainer.ema());
  const train::Evaluation test =
      train::evaluate(*model, *data.test, config.eval_batch_size, data.eval_transforms);
  averaged.reset();
  nlohmann::ordered_json summary;
  add_evaluation(summary, "test_", test);
  summary.update(nlohmann::ordered_json{{"test_examples", test.examples},
                                        {"epochs", result.epochs},
                                        {"steps", result.steps},
                                        {"samples_per_sec", result.samples_per_sec},
                                        {"wall_seconds", result.wall_seconds},
                                        {"stop", stop_name(result.stop)},
                                        {"skipped_steps", trainer.pipeline().skipped_steps()},
                                        {"test_on_ema", trainer.ema() != nullptr},
                                        {"message", result.message},
                                        {"model", config.model},
                                        {"data", config.data},
                                        {"parameters", model->num_parameters()},
                                        {"threads", num_threads()},
                                        {"run_folder", config.out},
                                        {"last_checkpoint", result.last_checkpoint},
                                        {"best_checkpoint", result.best_checkpoint},
                                        {"objective", train::objective_name(test.objective)}});
  if (data.validation->size() > 0) {
    if (test.objective == train::Objective::classification) {
      summary["best_val_acc"] = result.best_accuracy;
    } else {
      summary["best_val_loss"] = result.best_loss;
    }
  }
  summary["best_epoch"] = result.best_epoch;
  train::write_file_atomic((fs::path(config.out) / "summary.json").string(),
                           summary.dump(2) + "\n");
  std::printf("%s; test %s; %.0f samples/s, %.1f s\n", result.message.c_str(),
              evaluation_text(test).c_str(), result.samples_per_sec, result.wall_seconds);
  std::printf("run folder: %s\n", config.out.c_str());
  return 0;
}

}  // namespace

Command add_train(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "train",
      "Train a model. With no flags: the default CNN (with batch norm) on Fashion-MNIST, SGD "
      "with Nesterov momentum and a cosine schedule, printing the test accuracy and the run "
      "folder.");
  auto flags = std::make_shared<Flags>(*sub);
  std::string optimizers;
  for (const auto& [name, entry] : optim::optimizer_registry()) {
    optimizers += (optimizers.empty() ? "" : ", ") + name;
  }
  sub->get_option("--optimizer")->description("one of " + optimizers + " (default sgd)");
  sub->footer(settings_help());
  return {sub, [flags] { return run_train(*flags); }};
}

Command add_eval(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("eval",
                                     "Evaluate a checkpoint on a dataset (by default the test set "
                                     "of the data it was trained on).");
  struct EvalArgs {
    std::string checkpoint;
    std::string data;
    std::string data_dir;
    std::string split = "test";
    std::int64_t batch_size = 1000;
    std::int64_t threads = 0;
    bool json = false;
    bool ema = false;
  };
  auto args = std::make_shared<EvalArgs>();
  sub->add_option("checkpoint", args->checkpoint,
                  "a .safetensors checkpoint written by descent train")
      ->required();
  sub->add_option("--data", args->data, "data to evaluate on (default: the checkpoint's)");
  sub->add_option("--data-dir", args->data_dir, "Fashion-MNIST folder");
  sub->add_option("--split", args->split, "test, val or train")
      ->check(CLI::IsMember({"test", "val", "train"}));
  sub->add_option("--batch-size", args->batch_size, "examples per batch")
      ->check(CLI::PositiveNumber);
  sub->add_option("--threads", args->threads, "threads (0: OpenMP's default)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--json", args->json, "print the result as JSON");
  sub->add_flag("--ema", args->ema,
                "evaluate the average of the weights the checkpoint holds (train --ema)");
  return {
      sub, [args] {
        const train::Checkpoint checkpoint = train::load_checkpoint(args->checkpoint);
        RunConfig config;
        Origins origins;
        apply_checkpoint_config(checkpoint, config, origins);
        if (!args->data.empty()) {
          config.data = args->data;
          origins["data"] = "--data";
        }
        if (!args->data_dir.empty()) config.data_dir = args->data_dir;
        check_data_spec(config.data, origin_of(origins, "data"));
        if (args->threads > 0) set_num_threads(static_cast<int>(args->threads));
        config.augment = false;
        const RunData data = load_data(config, origins);
        config.model = model_for_data(config, data);
        std::shared_ptr<nn::Module> model = build_model(config, origins, *data.train, data.classes);
        train::restore(checkpoint, *model);
        if (args->ema) {
          if (checkpoint.ema.size() == 0) {
            throw UsageError(cat("--ema: checkpoint '", args->checkpoint,
                                 "' holds no average of the weights (train it with --ema)"));
          }
          model->load_state_dict(checkpoint.ema);
        }
        const auto& set = args->split == "test"  ? data.test
                          : args->split == "val" ? data.validation
                                                 : data.train;
        if (set->size() == 0) {
          throw UsageError(cat("--split ", args->split, ": the checkpoint's run has no ",
                               args->split, " set (its val_split is 0)"));
        }
        const train::Evaluation result =
            train::evaluate(*model, *set, args->batch_size, data.eval_transforms);
        if (args->json) {
          nlohmann::ordered_json out = {{"checkpoint", args->checkpoint},
                                        {"split", args->split},
                                        {"ema", args->ema},
                                        {"loss", result.loss},
                                        {"accuracy", result.accuracy},
                                        {"examples", result.examples}};
          if (result.objective != train::Objective::classification) {
            out["accuracy"] = std::isfinite(result.accuracy)
                                  ? nlohmann::ordered_json(result.accuracy)
                                  : nlohmann::ordered_json(nullptr);
            out["objective"] = train::objective_name(result.objective);
            if (result.objective == train::Objective::tokens) {
              out["bits_per_char"] = result.bits_per_char();
            } else {
              out["error_rate"] = result.error_rate;
            }
          }
          std::printf("%s\n", out.dump().c_str());
        } else if (result.objective == train::Objective::classification) {
          std::printf("%s %s: loss %.4f  accuracy %s  (%lld examples)\n", args->checkpoint.c_str(),
                      args->split.c_str(), result.loss, percent(result.accuracy).c_str(),
                      static_cast<long long>(result.examples));
        } else {
          std::printf("%s %s: %s\n", args->checkpoint.c_str(), args->split.c_str(),
                      evaluation_text(result).c_str());
        }
        return 0;
      }};
}

Command add_info(CLI::App& app) {
  CLI::App* sub =
      app.add_subcommand("info",
                         "Layers, parameter count and FLOPs per sample of a model, e.g. resnet20, "
                         "resnet56,skip=0, resnet110,bn=0, cnn, mlp:784-512-10,act=gelu,bn=1, "
                         "lstm:128,input=200x2, gru:64,layers=2, rnn:50,act=relu, "
                         "transformer,vocab=76,len=128 (see src/descent/nn/zoo.hpp)");
  auto spec_text = std::make_shared<std::string>();
  sub->add_option("model", *spec_text, "model spec")->required();
  return {sub, [spec_text] {
            nn::ModelSpec spec;
            try {
              spec = nn::ModelSpec::parse(*spec_text);
            } catch (const Error& e) {
              throw UsageError(e.what());
            }
            Generator gen(0);
            const auto model = nn::build_model(spec, gen);
            std::fputs(nn::format_info(nn::model_info(*model, spec.input)).c_str(), stdout);
            return 0;
          }};
}

}  // namespace descent::cli
