// `descent experiment NAME`: the experiments that show why a technique works, each writing a
// folder with its data (CSV), plots (SVG) and a self-contained HTML report.
#include <cstdio>
#include <ctime>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "descent/cli/commands.hpp"
#include "descent/cli/config.hpp"
#include "descent/core/error.hpp"
#include "descent/experiment/clipping.hpp"
#include "descent/experiment/precision.hpp"
#include "descent/experiment/warmup.hpp"

namespace descent::cli {
namespace {

struct ExperimentArgs {
  std::string name;
  std::string out;
  bool quick = false;
  std::int64_t seeds = 0;
  std::int64_t steps = 0;
  std::string lengths;
  double lr = 0;
  double max_norm = 0;
  std::int64_t hidden = 0;
  std::int64_t threads = 0;
  std::string text;
  std::int64_t warmup_steps = 0;
  std::int64_t epochs = 0;
  std::string data_dir;
};

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

int run_clipping_experiment(const ExperimentArgs& args) {
  experiment::ClippingOptions options;
  if (args.quick) {  // the size the tests run: seconds
    options.lengths = {10, 20};
    options.seeds = 2;
    options.steps = 60;
    options.hidden = 16;
    options.test_size = 200;
  }
  if (!args.lengths.empty()) options.lengths = parse_lengths(args.lengths);
  if (args.seeds != 0) options.seeds = args.seeds;
  if (args.steps != 0) options.steps = args.steps;
  if (args.hidden != 0) options.hidden = args.hidden;
  if (args.lr != 0) options.lr = args.lr;
  if (args.max_norm != 0) options.max_norm = args.max_norm;
  options.threads = args.threads;
  try {
    options.validate();
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  const std::string out = args.out.empty() ? default_folder("clipping") : args.out;
  std::printf("descent experiment clipping: RNN and LSTM on the adding problem, T in {");
  for (std::size_t i = 0; i < options.lengths.size(); ++i) {
    std::printf("%s%lld", i ? ", " : "", static_cast<long long>(options.lengths[i]));
  }
  std::printf("}, %lld seeds, %lld steps, with and without clipping at norm %g\n",
              static_cast<long long>(options.seeds), static_cast<long long>(options.steps),
              options.max_norm);
  std::fflush(stdout);
  const auto runs = experiment::run_clipping(options, [](const experiment::ClippingRun& run) {
    std::printf("  %s\n", run.label().c_str());
    std::fflush(stdout);
  });
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
  if (args.seeds != 0) options.seeds = args.seeds;
  if (args.steps != 0) options.steps = args.steps;
  if (args.lr != 0) options.lr = args.lr;
  if (args.warmup_steps != 0) options.warmup_steps = args.warmup_steps;
  options.text = args.text;
  options.threads = args.threads;
  try {
    options.validate();
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  const std::string out = args.out.empty() ? default_folder("warmup") : args.out;
  std::printf(
      "descent experiment warmup: transformer on characters, Adam lr %g, %lld steps, %lld seeds, "
      "with and without %lld warmup steps\n",
      options.lr, static_cast<long long>(options.steps), static_cast<long long>(options.seeds),
      static_cast<long long>(options.warmup_steps));
  std::fflush(stdout);
  const auto runs = experiment::run_warmup(options, [](const experiment::WarmupRun& run) {
    std::printf("  %s\n", run.label().c_str());
    std::fflush(stdout);
  });
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
  if (!args.lengths.empty() || args.seeds != 0 || args.steps != 0) {
    throw UsageError(
        "precision experiment: it takes --epochs, --lr, --threads, --data-dir "
        "(not --lengths, --seeds or --steps)");
  }
  if (args.epochs != 0) options.epochs = args.epochs;
  if (args.lr != 0) options.lr = args.lr;
  options.data_dir = args.data_dir;
  options.threads = args.threads;
  try {
    options.validate();
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  const std::string out = args.out.empty() ? default_folder("precision") : args.out;
  std::printf(
      "descent experiment precision: %s on Fashion-MNIST, %lld epochs, in fp32, bf16, fp16 with "
      "and without loss scaling\n",
      options.model.c_str(), static_cast<long long>(options.epochs));
  std::fflush(stdout);
  const auto runs = experiment::run_precision(options, [](const experiment::PrecisionRun& run) {
    std::printf("  %s\n", run.label().c_str());
    std::fflush(stdout);
  });
  experiment::write_precision_report(runs, options, out);
  std::printf("\nreport: %s/report.html\n", out.c_str());
  return 0;
}

}  // namespace

Command add_experiment(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "experiment",
      "Run an experiment and write its folder (CSV, SVG plots, report.html). Experiments: "
      "clipping (exploding gradients: RNN and LSTM on the adding problem, with and without "
      "gradient-norm clipping), warmup (a small transformer on characters at a high learning "
      "rate, with and without linear warmup), precision (the CNN on Fashion-MNIST in fp32, bf16 "
      "and fp16 with and without loss scaling)");
  auto args = std::make_shared<ExperimentArgs>();
  sub->add_option("name", args->name, "the experiment: clipping, warmup or precision")->required();
  sub->add_flag("--quick", args->quick, "the small size the tests run (seconds)");
  sub->add_option("--out", args->out, "output folder (default runs/experiment-<name>-<time>)");
  sub->add_option("--seeds", args->seeds, "seeds per setting (clipping: 5, warmup: 3)");
  sub->add_option("--steps", args->steps, "optimizer steps per run (clipping: 1000, warmup: 600)");
  sub->add_option("--lengths", args->lengths, "sequence lengths, e.g. 50,100,200 (clipping)");
  sub->add_option("--hidden", args->hidden, "hidden units (clipping: 50)");
  sub->add_option("--lr", args->lr, "learning rate (clipping: SGD, 0.2; warmup: Adam, 0.01)");
  sub->add_option("--max-norm", args->max_norm, "clipping threshold (clipping: 1)");
  sub->add_option("--threads", args->threads, "threads (0: OpenMP's default)");
  sub->add_option("--text", args->text,
                  "text file (warmup; default /usr/share/common-licenses/GPL-3)");
  sub->add_option("--warmup-steps", args->warmup_steps, "warmup steps (warmup: 100)");
  sub->add_option("--epochs", args->epochs, "epochs per run (precision: 3)");
  sub->add_option("--data-dir", args->data_dir, "Fashion-MNIST folder (precision)");
  return {sub, [args] {
            if (args->name == "clipping") return run_clipping_experiment(*args);
            if (args->name == "warmup") return run_warmup_experiment(*args);
            if (args->name == "precision") return run_precision_experiment(*args);
            throw UsageError(cat("experiment: unknown experiment '", args->name,
                                 "' (known: clipping, warmup, precision)"));
          }};
}

}  // namespace descent::cli
