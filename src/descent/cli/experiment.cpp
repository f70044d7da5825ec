// `descent experiment NAME`: the experiments that show why a technique works, each writing a
// folder with its data (CSV), plots (SVG) and a self-contained HTML report.
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "descent/cli/commands.hpp"
#include "descent/cli/config.hpp"
#include "descent/core/error.hpp"
#include "descent/experiment/batchnorm.hpp"
#include "descent/experiment/clipping.hpp"
#include "descent/experiment/depth.hpp"
#include "descent/experiment/optimizers.hpp"
#include "descent/experiment/precision.hpp"
#include "descent/experiment/schedules.hpp"
#include "descent/experiment/warmup.hpp"

namespace descent::cli {
namespace {

// The value of a numeric flag that was not given (0 is a value, and a bad one).
constexpr std::int64_t kUnset = std::numeric_limits<std::int64_t>::min();

struct ExperimentArgs {
  std::string name;
  std::string out;
  bool quick = false;
  std::int64_t seeds = kUnset;
  std::int64_t steps = kUnset;
  std::string lengths;
  double lr = std::numeric_limits<double>::quiet_NaN();  // NaN: not given
  double max_norm = 0;
  std::int64_t hidden = 0;
  std::int64_t threads = 0;
  std::string text;
  std::int64_t warmup_steps = 0;
  std::int64_t epochs = kUnset;
  std::string lrs;
  bool lrs_given = false;  // --lrs "" is an error, not "unset"
  std::string data_dir;
  std::string names;
  bool names_given = false;
  std::string depths;
  std::int64_t grid = kUnset;
  std::int64_t subset = kUnset;
};

std::vector<std::int64_t> parse_depths(const std::string& text) {
  std::vector<std::int64_t> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    std::size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || part.empty()) {
      throw UsageError(cat(
          "--depths: expected ResNet depths separated by commas, e.g. 20,56, got '", text, "'"));
    }
    out.push_back(value);
  }
  if (out.empty()) throw UsageError("--depths: expected at least one depth, e.g. 20,56");
  return out;
}

// The experiments, in the order `descent experiment --help` and the unknown-name error list
// them.
constexpr const char* kExperimentNames =
    "batchnorm, clipping, depth, optimizers, precision, schedules, warmup";

std::vector<std::string> parse_names(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.empty()) {
      throw UsageError(cat("--names: expected names separated by commas, got '", text, "'"));
    }
    out.push_back(part);
  }
  if (out.empty()) throw UsageError("--names: expected at least one name");
  return out;
}

std::vector<double> parse_lrs(const std::string& text) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    std::size_t used = 0;
    double value = 0;
    try {
      value = std::stod(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || part.empty() || !(value > 0) || !std::isfinite(value)) {
      throw UsageError(
          cat("--lrs: expected positive learning rates separated by commas, e.g. 0.01,0.1,1, got '",
              text, "'"));
    }
    out.push_back(value);
  }
  if (out.empty()) throw UsageError("--lrs: expected at least one learning rate");
  return out;
}

// Options that only some experiments take: naming one for another is a usage error.
void reject(bool given, const char* flag, const char* experiment) {
  if (given) throw UsageError(cat(flag, ": the ", experiment, " experiment has no such option"));
}

std::vector<std::int64_t> parse_lengths(const std::string& text) {
  std::vector<std::int64_t> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    std::size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || part.empty() || value < 2) {
      throw UsageError(
          cat("--lengths: expected sequence lengths >= 2 separated by commas, e.g. "
              "50,100,200, got '",
              text, "'"));
    }
    out.push_back(value);
  }
  return out;
}

std::string default_folder(const std::string& name) {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return cat("runs/experiment-", name, "-", stamp);
}

// The default's and --quick's measured cost: experiment/batchnorm.hpp.
// The flags of the Fashion-MNIST experiments, which the sequence experiments do not take.
void reject_image_flags(const ExperimentArgs& args, const char* experiment) {
  reject(args.lrs_given, "--lrs", experiment);
  reject(args.names_given, "--names", experiment);
  reject(!args.depths.empty(), "--depths", experiment);
  reject(args.grid != kUnset, "--grid", experiment);
  reject(args.subset != kUnset, "--subset", experiment);
  reject(!args.data_dir.empty(), "--data-dir", experiment);
}

// The flags of the sequence experiments (clipping, warmup), which the others refuse.
void reject_sequence_flags(const ExperimentArgs& args, const char* experiment) {
  reject(!args.lengths.empty(), "--lengths", experiment);
  reject(args.max_norm != 0, "--max-norm", experiment);
  reject(args.hidden != 0, "--hidden", experiment);
  reject(!args.text.empty(), "--text", experiment);
}

// options.validate()'s error as a usage error (exit 2).
template <typename Options>
void validate_flags(const Options& options) {
  try {
    options.validate();
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

// Prints a finished run's one-line label as the experiment goes.
template <typename Run>
void print_label(const Run& run) {
  std::printf("  %s\n", run.label().c_str());
  std::fflush(stdout);
}

int run_batchnorm_experiment(const ExperimentArgs& args) {
  experiment::BatchnormOptions options;
  if (args.quick) {  // the size the tests run: seconds
    options.lrs = {0.01, 0.1};
    options.steps = 30;
    options.batch = 32;
    options.train_size = 2000;
    options.test_size = 500;
    options.eval_size = 200;
    options.eval_every = 10;
    options.target_accuracy = 0.6;
    options.trained_accuracy = 0.3;
    options.sharpness_size = 64;
    options.sharpness_iterations = 3;
  }
  reject_sequence_flags(args, "batchnorm");
  reject(args.warmup_steps != 0, "--warmup-steps", "batchnorm");
  reject(!args.depths.empty() || args.grid != kUnset || args.subset != kUnset,
         "--depths, --grid and --subset", "batchnorm");
  reject(!std::isnan(args.lr), "--lr (use --lrs)", "batchnorm");
  reject(args.seeds != kUnset, "--seeds", "batchnorm");
  if (args.lrs_given) options.lrs = parse_lrs(args.lrs);
  if (args.steps != kUnset) options.steps = args.steps;
  options.data_dir = args.data_dir;
  options.threads = args.threads;
  validate_flags(options);
  const std::string out = args.out.empty() ? default_folder("batchnorm") : args.out;
  std::printf("descent experiment batchnorm: CNN with and without BN, SGD momentum %g, lr in {",
              options.momentum);
  for (std::size_t i = 0; i < options.lrs.size(); ++i) {
    std::printf("%s%g", i ? ", " : "", options.lrs[i]);
  }
  std::printf("}, %lld steps of batch %lld\n", static_cast<long long>(options.steps),
              static_cast<long long>(options.batch));
  std::fflush(stdout);
  const auto runs = experiment::run_batchnorm(options, print_label<experiment::BatchnormRun>);
  experiment::write_batchnorm_report(runs, options, out);
  const auto best = [&](bool bn) {
    const double lr = experiment::highest_trained_lr(runs, bn);
    return lr > 0 ? cat(lr) : std::string("none");
  };
  std::printf("\nhighest lr that trained: %s with BN, %s without\nreport: %s/report.html\n",
              best(true).c_str(), best(false).c_str(), out.c_str());
  return 0;
}

int run_optimizers_experiment(const ExperimentArgs& args) {
  experiment::OptimizersOptions options;
  if (args.quick) {  // the size the tests run: seconds
    options.steps = 20;
    options.batch = 32;
    options.train_size = 1000;
    options.validation_size = 200;
    options.test_size = 500;
    options.eval_size = 200;
    options.eval_every = 10;
  }
  reject_sequence_flags(args, "optimizers");
  reject(args.warmup_steps != 0, "--warmup-steps", "optimizers");
  reject(!args.depths.empty() || args.grid != kUnset || args.subset != kUnset,
         "--depths, --grid and --subset", "optimizers");
  reject(!std::isnan(args.lr), "--lr", "optimizers");
  reject(args.lrs_given, "--lrs", "optimizers");
  reject(args.seeds != kUnset, "--seeds", "optimizers");
  if (args.names_given) options.names = parse_names(args.names);
  if (args.steps != kUnset) options.steps = args.steps;
  options.data_dir = args.data_dir;
  options.threads = args.threads;
  validate_flags(options);
  const std::string out = args.out.empty() ? default_folder("optimizers") : args.out;
  std::printf(
      "descent experiment optimizers: CNN on %lld Fashion-MNIST images, %lld steps of batch "
      "%lld, 3 learning rates per optimizer\n",
      static_cast<long long>(options.train_size), static_cast<long long>(options.steps),
      static_cast<long long>(options.batch));
  std::fflush(stdout);
  const auto runs = experiment::run_optimizers(options, print_label<experiment::OptimizerRun>);
  experiment::write_optimizers_report(runs, options, out);
  std::printf("\nreport: %s/report.html\n", out.c_str());
  return 0;
}

int run_schedules_experiment(const ExperimentArgs& args) {
  experiment::SchedulesOptions options;
  if (args.quick) {  // the size the tests run: seconds
    options.seeds = 1;
    options.steps = 30;
    options.batch = 32;
    options.train_size = 2000;
    options.test_size = 500;
    options.eval_size = 200;
    options.eval_every = 10;
  }
  reject_sequence_flags(args, "schedules");
  reject(args.warmup_steps != 0, "--warmup-steps", "schedules");
  reject(!args.depths.empty() || args.grid != kUnset || args.subset != kUnset,
         "--depths, --grid and --subset", "schedules");
  reject(args.lrs_given, "--lrs (use --lr)", "schedules");
  if (args.names_given) options.names = parse_names(args.names);
  if (args.seeds != kUnset) options.seeds = args.seeds;
  if (args.steps != kUnset) options.steps = args.steps;
  if (!std::isnan(args.lr)) options.lr = args.lr;
  options.data_dir = args.data_dir;
  options.threads = args.threads;
  validate_flags(options);
  const std::string out = args.out.empty() ? default_folder("schedules") : args.out;
  std::printf(
      "descent experiment schedules: CNN, SGD momentum %g, peak lr %g, %lld steps of batch "
      "%lld, seeds per schedule: %lld\n",
      options.momentum, options.lr, static_cast<long long>(options.steps),
      static_cast<long long>(options.batch), static_cast<long long>(options.seeds));
  std::fflush(stdout);
  const auto runs = experiment::run_schedules(options, print_label<experiment::ScheduleRun>);
  experiment::write_schedules_report(runs, options, out);
  std::printf("\nreport: %s/report.html\n", out.c_str());
  return 0;
}

int run_depth_experiment(const ExperimentArgs& args) {
  experiment::DepthOptions options;
  if (args.quick) {  // the size the tests run: seconds
    options.depths = {8, 14};
    options.steps = 10;
    options.batch = 16;
    options.train_size = 500;
    options.test_size = 200;
    options.eval_size = 100;
    options.eval_every = 5;
    options.scan_size = 32;
    options.scan_points = 3;
    options.warmup_steps = 2;
  }
  reject_sequence_flags(args, "depth");
  reject(args.lrs_given, "--lrs (use --lr)", "depth");
  reject(args.names_given, "--names (use --depths)", "depth");
  reject(args.seeds != kUnset, "--seeds", "depth");
  if (!args.depths.empty()) options.depths = parse_depths(args.depths);
  if (args.steps != kUnset) options.steps = args.steps;
  if (!std::isnan(args.lr)) options.lr = args.lr;
  if (args.warmup_steps != 0) options.warmup_steps = args.warmup_steps;
  if (args.grid != kUnset) options.scan_points = args.grid;
  if (args.subset != kUnset) options.scan_size = args.subset;
  options.data_dir = args.data_dir;
  options.threads = args.threads;
  validate_flags(options);
  const std::string out = args.out.empty() ? default_folder("depth") : args.out;
  std::printf("descent experiment depth: ResNets and plain twins of depth");
  for (std::size_t i = 0; i < options.depths.size(); ++i) {
    std::printf("%s %lld", i ? "," : "", static_cast<long long>(options.depths[i]));
  }
  std::printf(
      ", %lld steps of batch %lld, lr %g; %lld x %lld landscape of the deepest pair on %lld "
      "images\n",
      static_cast<long long>(options.steps), static_cast<long long>(options.batch), options.lr,
      static_cast<long long>(options.scan_points), static_cast<long long>(options.scan_points),
      static_cast<long long>(options.scan_size));
  std::fflush(stdout);
  const auto runs = experiment::run_depth(options, print_label<experiment::DepthRun>);
  experiment::write_depth_report(runs, options, out);
  std::printf("\nreport: %s/report.html\n", out.c_str());
  return 0;
}

int run_clipping_experiment(const ExperimentArgs& args) {
  reject_image_flags(args, "clipping");
  experiment::ClippingOptions options;
  if (args.quick) {  // the size the tests run: seconds
    options.lengths = {10, 20};
    options.seeds = 2;
    options.steps = 60;
    options.hidden = 16;
    options.test_size = 200;
  }
  if (!args.lengths.empty()) options.lengths = parse_lengths(args.lengths);
  if (args.seeds != kUnset) options.seeds = args.seeds;
  if (args.steps != kUnset) options.steps = args.steps;
  if (args.hidden != 0) options.hidden = args.hidden;
  if (!std::isnan(args.lr)) options.lr = args.lr;
  if (args.max_norm != 0) options.max_norm = args.max_norm;
  options.threads = args.threads;
  validate_flags(options);
  const std::string out = args.out.empty() ? default_folder("clipping") : args.out;
  std::printf("descent experiment clipping: RNN and LSTM on the adding problem, T in {");
  for (std::size_t i = 0; i < options.lengths.size(); ++i) {
    std::printf("%s%lld", i ? ", " : "", static_cast<long long>(options.lengths[i]));
  }
  std::printf("}, %lld seeds, %lld steps, with and without clipping at norm %g\n",
              static_cast<long long>(options.seeds), static_cast<long long>(options.steps),
              options.max_norm);
  std::fflush(stdout);
  const auto runs = experiment::run_clipping(options, print_label<experiment::ClippingRun>);
  // The report is written once, from this process's runs only: an interrupted run leaves
  // the previous report (if any) whole, never a mix of two runs.
  experiment::write_clipping_report(runs, options, out);
  std::printf("\n%-5s %5s %8s %16s %13s %9s %14s\n", "cell", "T", "clipped", "median test MSE",
              "success rate", "diverged", "max grad norm");
  for (const auto& s : experiment::summarize_clipping(runs)) {
    std::printf("%-5s %5lld %8s %16.4g %12.0f%% %4lld of %lld %14.4g\n", s.cell.c_str(),
                static_cast<long long>(s.length), s.clipped ? "yes" : "no", s.median_test_mse,
                100 * s.success_rate, static_cast<long long>(s.diverged),
                static_cast<long long>(s.runs), s.max_grad_norm);
  }
  std::printf("\nreport: %s/report.html\n", out.c_str());
  return 0;
}

int run_warmup_experiment(const ExperimentArgs& args) {
  reject_image_flags(args, "warmup");
  experiment::WarmupOptions options;
  if (args.quick) {  // the size the tests run: seconds
    options.seeds = 1;
    options.steps = 40;
    options.batch = 8;
    options.length = 16;
    options.dim = 16;
    options.heads = 2;
    options.layers = 1;
    options.warmup_steps = 10;
    options.eval_every = 20;
  }
  if (!args.lengths.empty()) {
    throw UsageError("--lengths: the warmup experiment has no sequence lengths");
  }
  if (args.seeds != kUnset) options.seeds = args.seeds;
  if (args.steps != kUnset) options.steps = args.steps;
  if (!std::isnan(args.lr)) options.lr = args.lr;
  if (args.warmup_steps != 0) options.warmup_steps = args.warmup_steps;
  options.text = args.text;
  options.threads = args.threads;
  validate_flags(options);
  const std::string out = args.out.empty() ? default_folder("warmup") : args.out;
  std::printf(
      "descent experiment warmup: transformer on characters, Adam lr %g, %lld steps, %lld seeds, "
      "with and without %lld warmup steps\n",
      options.lr, static_cast<long long>(options.steps), static_cast<long long>(options.seeds),
      static_cast<long long>(options.warmup_steps));
  std::fflush(stdout);
  const auto runs = experiment::run_warmup(options, print_label<experiment::WarmupRun>);
  experiment::write_warmup_report(runs, options, out);
  std::printf("\nreport: %s/report.html\n", out.c_str());
  return 0;
}

int run_precision_experiment(const ExperimentArgs& args) {
  experiment::PrecisionOptions options;
  if (args.quick) {  // the size the tests run: seconds
    options.epochs = 1;
    options.batch = 64;
    options.train_size = 640;
    options.test_size = 500;
    options.model = "mlp";
  }
  reject_sequence_flags(args, "precision");
  reject(args.seeds != kUnset, "--seeds", "precision");
  reject(args.steps != kUnset, "--steps (use --epochs)", "precision");
  reject(args.warmup_steps != 0, "--warmup-steps", "precision");
  reject(args.lrs_given, "--lrs", "precision");
  reject(args.names_given, "--names", "precision");
  reject(!args.depths.empty() || args.grid != kUnset || args.subset != kUnset,
         "--depths, --grid and --subset", "precision");
  if (args.epochs != kUnset) options.epochs = args.epochs;
  if (!std::isnan(args.lr)) options.lr = args.lr;
  options.data_dir = args.data_dir;
  options.threads = args.threads;
  validate_flags(options);
  const std::string out = args.out.empty() ? default_folder("precision") : args.out;
  std::printf(
      "descent experiment precision: %s on Fashion-MNIST, %lld epochs, in fp32, bf16, fp16 with "
      "and without loss scaling\n",
      options.model.c_str(), static_cast<long long>(options.epochs));
  std::fflush(stdout);
  const auto runs = experiment::run_precision(options, print_label<experiment::PrecisionRun>);
  experiment::write_precision_report(runs, options, out);
  std::printf("\nreport: %s/report.html\n", out.c_str());
  return 0;
}

}  // namespace

Command add_experiment(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "experiment",
      "Run an experiment and write its folder (CSV, SVG plots, report.html). Experiments: "
      "batchnorm (the CNN with and without batch norm over a sweep of learning rates: which "
      "train, how fast, how sharp), optimizers (seven optimizers on the CNN, each at its best "
      "of three learning rates: loss, test accuracy, generalization gap), schedules (six "
      "learning-rate schedules on the same model and budget), depth (ResNet-20/56 against "
      "their plain twins: training error over steps, 2-D landscapes), clipping (exploding "
      "gradients: RNN "
      "and LSTM on the adding problem, with and without "
      "gradient-norm clipping), warmup (a small transformer on characters at a high learning "
      "rate, with and without linear warmup), precision (the CNN on Fashion-MNIST in fp32, bf16 "
      "and fp16 with and without loss scaling)");
  auto args = std::make_shared<ExperimentArgs>();
  sub->add_option("name", args->name, cat("the experiment: ", kExperimentNames))->required();
  sub->add_flag("--quick", args->quick, "the small size the tests run (seconds)");
  sub->add_option("--out", args->out, "output folder (default runs/experiment-<name>-<time>)");
  sub->add_option("--seeds", args->seeds, "seeds per setting (clipping: 5, warmup: 3)");
  sub->add_option(
      "--steps", args->steps,
      "optimizer steps per run (batchnorm: 1500, optimizers: 1000, schedules: 1000, depth: 500, "
      "clipping: 1500, warmup: 600)");
  sub->add_option("--lengths", args->lengths, "sequence lengths, e.g. 50,100,200 (clipping)");
  sub->add_option("--hidden", args->hidden, "hidden units (clipping: 50)");
  sub->add_option("--lr", args->lr, "learning rate (clipping: SGD, 0.2; warmup: Adam, 0.01)");
  sub->add_option("--max-norm", args->max_norm, "clipping threshold (clipping: 1)");
  sub->add_option("--threads", args->threads, "threads (0: OpenMP's default)");
  sub->add_option("--text", args->text,
                  "text file (warmup; default /usr/share/common-licenses/GPL-3)");
  sub->add_option("--warmup-steps", args->warmup_steps, "warmup steps (warmup: 100, depth: 50)");
  sub->add_option_function<std::string>(
      "--lrs",
      [args](const std::string& value) {
        args->lrs = value;
        args->lrs_given = true;
      },
      "learning rates of the sweep, e.g. 0.01,0.1,1 (batchnorm: "
      "0.003,0.01,0.03,0.1,0.3,1)");
  sub->add_option_function<std::string>(
      "--names",
      [args](const std::string& value) {
        args->names = value;
        args->names_given = true;
      },
      "which arms, e.g. sgd,adam (optimizers: sgd, momentum, nesterov, adagrad, rmsprop, "
      "adam, adamw) or cosine,one-cycle (schedules: constant, step, exponential, cosine, "
      "warmup-cosine, one-cycle); default all");
  sub->add_option("--depths", args->depths, "ResNet depths, 6n+2 (depth: 20,56)");
  sub->add_option("--grid", args->grid,
                  "landscape points per axis, 0 for no scan (depth: 11, at most 51)");
  sub->add_option("--subset", args->subset, "training images of the landscape (depth: 256)");
  sub->add_option("--data-dir", args->data_dir,
                  "Fashion-MNIST's folder (default: $DESCENT_FASHION_MNIST_DIR, then "
                  "/usr/share/datasets/fashion-mnist)");
  sub->add_option("--epochs", args->epochs, "epochs per run (precision: 3)");
  return {sub, [args] {
            // only the precision experiment counts its budget in epochs
            if (args->name != "precision") {
              reject(args->epochs != kUnset, "--epochs", args->name.c_str());
            }
            if (args->name == "batchnorm") return run_batchnorm_experiment(*args);
            if (args->name == "clipping") return run_clipping_experiment(*args);
            if (args->name == "depth") return run_depth_experiment(*args);
            if (args->name == "optimizers") return run_optimizers_experiment(*args);
            if (args->name == "schedules") return run_schedules_experiment(*args);
            if (args->name == "warmup") return run_warmup_experiment(*args);
            if (args->name == "precision") return run_precision_experiment(*args);
            throw UsageError(cat("experiment: unknown experiment '", args->name,
                                 "' (known: ", kExperimentNames, ")"));
          }};
}

}  // namespace descent::cli
