// `descent lr-find`: the learning-rate range test (Smith 2017; fastai's lr_find) with the
// model, data and optimizer flags of `descent train`. CSV: step,lr,loss,smoothed_loss.
//
//   descent lr-find --model resnet20 --optimizer sgd --momentum 0.9 --start-lr 1e-6 --end-lr 10
#include "descent/landscape/lr_find.hpp"

#include <cmath>
#include <cstdio>

#include "descent/cli/commands.hpp"
#include "descent/cli/config.hpp"
#include "descent/cli/setup.hpp"
#include "descent/optim/registry.hpp"
#include "descent/report/svg.hpp"
#include "descent/train/atomic_file.hpp"

namespace descent::cli {
namespace {

constexpr std::int64_t kDefaultSteps = 100;

std::string number(double value);

struct LrFindArgs {
  double min_lr = 1e-7;
  double max_lr = 10.0;
  double beta = 0.98;
  double divergence = 4.0;
  std::string plot;
};

// The smoothed loss against the lr (log axis), and the suggestion as a vertical line.
void plot_sweep(const landscape::LrFindResult& result, const std::string& path) {
  std::vector<double> lr, smoothed;
  double low = INFINITY, high = -INFINITY;
  // Without the point that diverged (above divergence x the best), which would flatten the
  // rest of the curve against the axis.
  std::size_t shown = result.points.size();
  if (result.diverged && shown > 1) --shown;
  for (std::size_t i = 0; i < shown; ++i) {
    const landscape::LrFindPoint& p = result.points[i];
    lr.push_back(p.lr);
    smoothed.push_back(p.smoothed_loss);
    low = std::min(low, p.smoothed_loss);
    high = std::max(high, p.smoothed_loss);
  }
  report::LinePlot plot({.title = "learning-rate range test",
                         .x_label = "learning rate",
                         .y_label = "smoothed training loss",
                         .log_x = true});
  plot.add("smoothed loss", std::move(lr), std::move(smoothed));
  char label[48];
  std::snprintf(label, sizeof label, "suggested lr %.3g", result.suggested_lr);
  plot.add(label, {result.suggested_lr, result.suggested_lr}, {low, high});
  plot.save(path);
}

std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", value);
  return buffer;
}

int run_lr_find(const Flags& flags, const LrFindArgs& args) {
  RunConfig config;
  Origins origins;
  if (!flags.config_file().empty()) apply_json_file(flags.config_file(), config, origins);
  flags.apply(config, origins);
  resolve(config, origins);
  if (!config.resume.empty()) {
    throw UsageError("--resume: lr-find starts from the model's initial weights; it takes none");
  }
  if (config.threads > 0) set_num_threads(static_cast<int>(config.threads));
  if (!(args.min_lr > 0 && args.min_lr < args.max_lr && std::isfinite(args.max_lr))) {
    throw UsageError(cat("--start-lr ", args.min_lr, " and --end-lr ", args.max_lr,
                         ": expected 0 < start-lr < end-lr"));
  }
  const std::int64_t steps = config.steps > 0 ? config.steps : kDefaultSteps;
  if (steps < 2) throw UsageError(cat(origin_of(origins, "steps"), ": must be >= 2, got ", steps));

  const RunData data = load_data(config, origins);
  require_classification(data, config, origins, "lr-find");
  config.model = model_for_data(config, data);  // as descent train chooses
  std::shared_ptr<nn::Module> model = build_model(config, origins, *data.train, data.classes);
  std::unique_ptr<optim::Optimizer> optimizer = build_optimizer(config, origins, *model);
  data::DataLoader loader(data.train, {.batch_size = config.batch_size,
                                       .shuffle = true,
                                       .seed = static_cast<std::uint64_t>(config.seed),
                                       .transforms = data.train_transforms});
  std::fprintf(stderr, "descent lr-find: %s, %s on %s, lr %g to %g over %lld steps (batch %lld)\n",
               config.model.c_str(), optimizer->name().data(), data.description.c_str(),
               args.min_lr, args.max_lr, static_cast<long long>(steps),
               static_cast<long long>(config.batch_size));
  landscape::LrFindResult result;
  try {
    result = landscape::lr_find(*model, *optimizer, loader,
                                {.min_lr = args.min_lr,
                                 .max_lr = args.max_lr,
                                 .steps = steps,
                                 .beta = args.beta,
                                 .divergence = args.divergence});
  } catch (const Error& e) {
    throw Error(cat("lr-find: ", e.what()));
  }
  std::string csv = "step,lr,loss,smoothed_loss\n";
  for (const landscape::LrFindPoint& p : result.points) {
    csv += cat(p.step, ",", number(p.lr), ",", number(p.loss), ",", number(p.smoothed_loss), "\n");
  }
  const std::string summary =
      cat("suggested lr ", number(result.suggested_lr),
          " (steepest descent of the smoothed loss, step ", result.suggested_step,
          "); lowest loss / 10: ", number(result.min_loss_lr), "; ",
          result.diverged ? cat("diverged at step ", result.points.back().step)
                          : std::string("did not diverge"),
          "\n");
  if (!args.plot.empty()) plot_sweep(result, args.plot);
  if (config.out.empty()) {
    std::fputs(csv.c_str(), stdout);
    std::fputs(summary.c_str(), stderr);
  } else {
    train::write_file_atomic(config.out, csv);
    std::fputs(summary.c_str(), stdout);
  }
  return 0;
}

}  // namespace

Command add_lr_find(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "lr-find",
      "The learning-rate range test (Smith 2017, fastai's lr_find): train from the initial "
      "weights while the lr grows exponentially from --start-lr to --end-lr, stop when the "
      "smoothed loss passes 4x its best, and suggest the lr of its steepest descent. Takes the "
      "model, data and optimizer flags of `descent train`; writes CSV "
      "(step,lr,loss,smoothed_loss).");
  // The settings of `descent train` that shape the sweep; the lr is the sweep's, and the
  // schedule, epochs, clipping and checkpoint settings do not apply.
  auto flags = std::make_shared<Flags>(
      *sub,
      std::vector<std::string>{"config", "model", "data", "data_dir", "train_size", "val_split",
                               "augment", "steps", "batch_size", "optimizer", "momentum",
                               "weight_decay", "optimizer_options", "seed", "threads", "out"});
  auto args = std::make_shared<LrFindArgs>();
  // fastai's names (start_lr, end_lr); train's --min-lr and --max-lr are schedule flags.
  sub->add_option("--start-lr", args->min_lr, "first learning rate")->capture_default_str();
  sub->add_option("--end-lr", args->max_lr, "last learning rate")->capture_default_str();
  sub->add_option("--beta", args->beta, "smoothing of the loss (exponential moving average)")
      ->capture_default_str();
  sub->add_option("--divergence", args->divergence,
                  "stop when the smoothed loss exceeds this "
                  "times its best")
      ->capture_default_str();
  sub->add_option("--plot", args->plot,
                  "also draw the smoothed loss against the lr (log axis) as an SVG file");
  std::string optimizers;
  for (const auto& [name, entry] : optim::optimizer_registry()) {
    optimizers += (optimizers.empty() ? "" : ", ") + name;
  }
  sub->get_option("--optimizer")->description("one of " + optimizers + " (default sgd)");
  sub->get_option("--steps")->description(cat("steps of the sweep (0: ", kDefaultSteps, ")"));
  sub->get_option("--out")->description("write the CSV to this file (default: stdout)");
  sub->footer(settings_help() +
              "A --config file may hold any setting of descent train; only those above apply.");
  return {sub, [flags, args] { return run_lr_find(*flags, *args); }};
}

}  // namespace descent::cli
