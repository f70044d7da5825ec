// `descent schedule`: the learning rate that `descent train` would use at each step, given the
// same schedule settings, printed as CSV and optionally drawn as an SVG plot.
//
//   descent schedule --schedule cosine --warmup-steps 100 --lr 0.1 --steps 1000
//   descent schedule --schedule step --step-size 30 --gamma 0.5 --steps 100 --plot lr.svg
//   descent schedule --config runs/a/config.json --steps 5000   # a run's own schedule
//
// Each row is one step; the lr is the schedule's (over a run of --steps steps), multiplied by
// the linear warmup as the trainer does it (train::Trainer::lrs_at).
#include "descent/schedule/schedule.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
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

constexpr double kDefaultLr = 0.1;

struct ScheduleArgs {
  std::int64_t steps = 0;
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

int run_schedule(const Flags& flags, const ScheduleArgs& args, const CLI::App& sub) {
  RunConfig config;
  Origins origins;
  if (!flags.config_file().empty()) apply_json_file(flags.config_file(), config, origins);
  flags.apply(config, origins);

  std::int64_t steps = args.steps;
  if (sub.count("--steps") == 0) {
    if (config.steps <= 0) {
      throw UsageError("--steps: required: how many steps (rows) to print, e.g. --steps 1000");
    }
    steps = config.steps;  // the --config file's
  }
  if (steps <= 0) throw UsageError(cat("--steps: must be > 0, got ", steps));
  if (config.warmup_steps < 0) {
    throw UsageError(
        cat(origin_of(origins, "warmup_steps"), ": must be >= 0, got ", config.warmup_steps));
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
    const double lr = config.lr.value_or(kDefaultLr);
    if (!(lr > 0.0) || !std::isfinite(lr)) {
      throw UsageError(cat(origin_of(origins, "lr"), ": must be > 0, got ", lr));
    }
    base_lrs = {lr};
  }
  const std::optional<schedule::Schedule> lr_schedule = build_schedule(config, origins, steps);
  const std::optional<schedule::Schedule> warmup =
      config.warmup_steps > 0 ? std::optional(schedule::warmup(config.warmup_steps)) : std::nullopt;

  // lrs[g][step]
  std::vector<std::vector<double>> lrs(base_lrs.size(), std::vector<double>(steps));
  for (std::size_t g = 0; g < base_lrs.size(); ++g) {
    for (std::int64_t step = 0; step < steps; ++step) {
      double lr = lr_schedule ? (*lr_schedule)(step, base_lrs[g]) : base_lrs[g];
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
      "Print the learning rate at each step (CSV: step,lr) for the schedule settings that "
      "`train` takes, and optionally draw it (--plot FILE.svg). The lr is the schedule's over a "
      "run of --steps steps, times the linear warmup, as train computes it.");
  auto flags = std::make_shared<Flags>(
      *sub, std::vector<std::string>{"config", "schedule", "warmup_steps", "min_lr", "step_size",
                                     "gamma", "milestones", "t0", "t_mult", "max_lr", "lr"});
  sub->get_option("--lr")->description(
      cat("base learning rate (default ", kDefaultLr, ", or the --config file's)"));
  sub->get_option("--config")
      ->description("a run's config.json (or any settings file): its schedule settings and lr");
  auto args = std::make_shared<ScheduleArgs>();
  sub->add_option("--steps", args->steps,
                  "how many steps (rows) to print, > 0; also the run length the schedule spans "
                  "(default: the --config file's steps)");
  sub->add_option("--group-lrs", args->group_lrs,
                  "several param groups' base lrs, A,B,... (instead of --lr): one lr column each")
      ->delimiter(',');
  sub->add_option("--plot", args->plot, "also draw the lr against the step as an SVG file");
  sub->add_flag("--log-y", args->log_y, "with --plot: a log-scale lr axis");
  return {sub, [flags, args, sub] { return run_schedule(*flags, *args, *sub); }};
}

}  // namespace descent::cli
