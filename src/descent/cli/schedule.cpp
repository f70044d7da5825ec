// `descent schedule`: the learning rate that `descent train` would use at each optimizer step,
// given the same settings, printed as CSV and optionally drawn as an SVG plot.
//
//   descent schedule --schedule cosine --warmup-steps 100 --lr 0.1 --steps 1000
//   descent schedule --schedule step --step-size 30 --gamma 0.5 --steps 100 --plot lr.svg
//   descent schedule --schedule step --step-size 2 --schedule-unit epoch --epochs 10
//       --steps-per-epoch 469     # halve the lr every 2 epochs of 469 steps
//   descent schedule --config runs/a/config.json     # a run's own schedule, its own length
//
// Each row is one optimizer step s = 0, 1, ...; the lr is what train::Trainer::lr_at gives:
// the schedule's lr times the linear warmup over --warmup-steps steps. With --schedule-unit
// step (the default) the schedule spans the rows and is read at s; with --schedule-unit epoch
// it spans --epochs epochs and is read at the epoch s / (steps per epoch), as train does it.
//
// The rows: --steps, or else as many as train would run: the config's steps when set (capped
// at epochs x steps per epoch when that is known), else epochs x steps per epoch. The steps
// per epoch, when needed (the epoch unit, or no --steps and no config steps), come from
// --steps-per-epoch, or else are counted as train counts them: ceil(ceil(training examples /
// batch_size) / accumulate), from the data the settings name (--data, --train-size,
// --val-split, ...; loaded only then). --steps-per-epoch with the step unit and --steps is
// accepted and unused. So with the step unit, the config's steps and no --steps-per-epoch,
// the data is not loaded and the config's steps are taken to end the run: where the epochs
// would end it first, train's schedule spans fewer steps; --steps-per-epoch gives that cap.
#include "descent/schedule/schedule.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "descent/cli/commands.hpp"
#include "descent/cli/config.hpp"
#include "descent/cli/setup.hpp"
#include "descent/core/error.hpp"
#include "descent/report/svg.hpp"

namespace descent::cli {
namespace {

struct ScheduleArgs {
  std::int64_t steps = 0;
  std::int64_t steps_per_epoch = 0;
  std::vector<double> group_lrs;
  std::string plot;
  bool log_y = false;
};

// The shortest text that reads back as the same double.
std::string exact(double value) {
  char buffer[32];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

// The optimizer steps per epoch of `train` with these settings: its training set (after
// train_size and val_split) in batches of batch_size, accumulate micro-batches per step.
std::int64_t count_steps_per_epoch(const RunConfig& config, const Origins& origins, bool per_epoch,
                                   bool steps_given) {
  // (the settings were checked by resolve)
  const std::string why =
      per_epoch ? "the epoch schedule needs the optimizer steps per epoch"
                : "without --steps (or the config's steps) the rows are epochs x steps per epoch";
  const std::string remedy = per_epoch || steps_given ? "pass --steps-per-epoch N"
                                                      : "pass --steps N or --steps-per-epoch N";
  std::int64_t examples = 0;
  try {
    examples = load_data(config, origins).train->size();
  } catch (const std::exception& e) {
    // A missing or unreadable file: the count is what this command lacks.
    throw UsageError(cat("--steps-per-epoch: ", why, ", and counting them from ",
                         origin_of(origins, "data"), " '", config.data, "' failed (", remedy,
                         "): ", e.what()));
  }
  const std::int64_t batches = (examples + config.batch_size - 1) / config.batch_size;
  const std::int64_t steps_per_epoch = (batches + config.accumulate - 1) / config.accumulate;
  if (steps_per_epoch < 1) {
    throw UsageError(cat("--steps-per-epoch: ", why, ", and ", origin_of(origins, "data"), " '",
                         config.data, "' gives no training example (", remedy, ")"));
  }
  return steps_per_epoch;
}

int run_schedule(const Flags& flags, const ScheduleArgs& args, const CLI::App& sub) {
  RunConfig config;
  Origins origins;
  if (!flags.config_file().empty()) apply_json_file(flags.config_file(), config, origins);
  flags.apply(config, origins);
  // every setting checked as train checks it, and the lr train would use filled in (the
  // default recipe's for its optimizer, else the optimizer's PyTorch default)
  resolve(config, origins);

  const bool per_epoch = config.schedule_unit == "epoch";
  const bool steps_given = sub.count("--steps") > 0;
  const bool steps_per_epoch_given = sub.count("--steps-per-epoch") > 0;
  if (steps_given && args.steps <= 0) {
    throw UsageError(cat("--steps: must be > 0, got ", args.steps));
  }
  if (steps_per_epoch_given && args.steps_per_epoch <= 0) {
    throw UsageError(cat("--steps-per-epoch: must be > 0, got ", args.steps_per_epoch));
  }
  // The optimizer steps per epoch: needed by an epoch schedule, and for the rows when neither
  // --steps nor the config's steps says how many. Only then is the data loaded.
  const bool needed = per_epoch || (!steps_given && config.steps == 0);
  std::int64_t steps_per_epoch = 0;  // 0: not needed, not known
  if (steps_per_epoch_given) {
    steps_per_epoch = args.steps_per_epoch;
  } else if (needed) {
    steps_per_epoch = count_steps_per_epoch(config, origins, per_epoch, steps_given);
  }

  // The rows: --steps, else as many steps as train would run.
  std::int64_t steps = args.steps;
  if (!steps_given) {
    if (config.steps > 0) {
      steps = steps_per_epoch > 0 ? std::min(config.steps, config.epochs * steps_per_epoch)
                                  : config.steps;
    } else {
      steps = config.epochs * steps_per_epoch;
    }
  }
  check_warmup(config, origins, steps);

  std::vector<double> base_lrs = args.group_lrs;
  if (!base_lrs.empty()) {
    if (sub.count("--lr") > 0) throw UsageError("--group-lrs: give either --lr or --group-lrs");
    for (double lr : base_lrs) {
      if (!(lr > 0.0) || !std::isfinite(lr)) {
        throw UsageError(cat("--group-lrs: each lr must be > 0, got ", lr));
      }
    }
  } else {
    const double lr = *config.lr;  // resolve filled it in
    if (!(lr > 0.0) || !std::isfinite(lr)) {
      throw UsageError(cat(origin_of(origins, "lr"), ": must be > 0, got ", lr));
    }
    base_lrs = {lr};
  }
  // As train: the schedule spans the run's steps, or its epochs.
  const std::optional<schedule::Schedule> lr_schedule =
      build_schedule(config, origins, per_epoch ? config.epochs : steps);
  const std::optional<schedule::Schedule> warmup =
      config.warmup_steps > 0 ? std::optional(schedule::warmup(config.warmup_steps)) : std::nullopt;

  // lrs[g][step]
  std::vector<std::vector<double>> lrs(base_lrs.size(), std::vector<double>(steps));
  for (std::size_t g = 0; g < base_lrs.size(); ++g) {
    for (std::int64_t step = 0; step < steps; ++step) {
      // train::Trainer::lr_at: an epoch schedule reads the epoch the step falls in.
      const std::int64_t at = per_epoch ? step / steps_per_epoch : step;
      double lr = lr_schedule ? (*lr_schedule)(at, base_lrs[g]) : base_lrs[g];
      if (warmup) lr = (*warmup)(step, lr);
      lrs[g][step] = lr;
    }
  }
  if (!args.plot.empty()) {
    if (args.log_y) {
      for (std::size_t g = 0; g < lrs.size(); ++g) {
        for (std::int64_t step = 0; step < steps; ++step) {
          if (!(lrs[g][step] > 0.0)) {
            throw UsageError(cat("--log-y: the lr is ", lrs[g][step], " at step ", step,
                                 "; a log scale needs lrs > 0 (drop --log-y)"));
          }
        }
      }
    }
    std::string title = lr_schedule ? lr_schedule->description() : "constant";
    if (per_epoch) title += cat(" per epoch (", steps_per_epoch, " steps)");
    if (warmup) title = warmup->description() + " x " + title;
    report::LinePlot plot(
        {.title = title, .x_label = "step", .y_label = "learning rate", .log_y = args.log_y});
    std::vector<double> x(steps);
    for (std::int64_t step = 0; step < steps; ++step) x[step] = static_cast<double>(step);
    for (std::size_t g = 0; g < lrs.size(); ++g) {
      plot.add(lrs.size() == 1 ? "lr" : cat("group ", g, " (lr ", exact(base_lrs[g]), ")"), x,
               lrs[g]);
    }
    plot.save(args.plot);
  }

  std::string out = "step";
  if (lrs.size() == 1) {
    out += ",lr";
  } else {
    for (std::size_t g = 0; g < lrs.size(); ++g) out += cat(",lr_", g);
  }
  out += "\n";
  for (std::int64_t step = 0; step < steps; ++step) {
    out += std::to_string(step);
    for (const auto& group : lrs) out += "," + exact(group[step]);
    out += "\n";
    if (out.size() > (1 << 16)) {
      std::fputs(out.c_str(), stdout);
      out.clear();
    }
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

Command add_schedule(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "schedule",
      "Print the learning rate at each optimizer step (CSV: step,lr) for the schedule settings "
      "that `train` takes, and optionally draw it (--plot FILE.svg). The lr is the schedule's "
      "times the linear warmup, as train computes it: with --schedule-unit step the schedule "
      "spans the rows, with --schedule-unit epoch it spans --epochs epochs and step s reads "
      "epoch s / (steps per epoch). Without --steps there are as many rows as train would run "
      "(steps, else epochs x steps per epoch). The steps per epoch, when needed, are "
      "--steps-per-epoch, or else counted as train counts them from --data, --train-size, "
      "--val-split, --batch-size and --accumulate (the data is loaded only then).");
  auto flags = std::make_shared<Flags>(
      *sub, std::vector<std::string>{"config",    "schedule",  "schedule_unit", "warmup_steps",
                                     "min_lr",    "step_size", "gamma",         "milestones",
                                     "t0",        "t_mult",    "max_lr",        "lr",
                                     "optimizer", "epochs",    "batch_size",    "accumulate",
                                     "data",      "data_dir",  "train_size",    "val_split"});
  sub->get_option("--lr")->description(
      cat("base learning rate (default: the --config file's, else train's: ", kRecipeLr,
          " for the default ", kRecipeOptimizer, " recipe, else --optimizer's PyTorch default)"));
  sub->get_option("--config")
      ->description(
          "a run's config.json (or any settings file): its schedule settings, lr, epochs, steps "
          "and the data settings that count its steps per epoch");
  sub->get_option("--schedule-unit")
      ->description(
          "step or epoch: what the schedule counts, as train's (epoch: the schedule spans "
          "--epochs and is read at the current epoch; warmup still counts steps)");
  sub->get_option("--epochs")
      ->description(
          "the run's epochs: what an epoch schedule spans; without --steps, the rows are epochs "
          "x steps per epoch");
  auto args = std::make_shared<ScheduleArgs>();
  sub->add_option("--steps", args->steps,
                  "how many steps (rows) to print, > 0; with --schedule-unit step also the run "
                  "length the schedule spans (default: as many as train would run: the --config "
                  "file's steps, at most epochs x steps per epoch, else epochs x steps per epoch)");
  sub->add_option("--steps-per-epoch", args->steps_per_epoch,
                  "optimizer steps per epoch, > 0 (default: counted from the data as train does, "
                  "ceil(ceil(examples / batch size) / accumulate), when needed: with "
                  "--schedule-unit epoch, or without --steps and the config's steps)");
  sub->add_option("--group-lrs", args->group_lrs,
                  "several param groups' base lrs, A,B,... (instead of --lr): one lr column each")
      ->delimiter(',');
  sub->add_option("--plot", args->plot, "also draw the lr against the step as an SVG file");
  sub->add_flag("--log-y", args->log_y, "with --plot: a log-scale lr axis");
  return {sub, [flags, args, sub] { return run_schedule(*flags, *args, *sub); }};
}

}  // namespace descent::cli
