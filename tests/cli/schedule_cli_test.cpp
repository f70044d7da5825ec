// `descent schedule`: its CSV equals the schedule library's values for the same settings, the
// same flags drive `train` (the lrs a run logs match, also with --schedule-unit epoch and
// --accumulate, and the rows number the run's steps), --plot writes an SVG, and each bad
// setting exits 2 with one line naming its flag.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "descent/schedule/schedule.hpp"
#include "run_cli.hpp"

namespace descent {
namespace {

namespace fs = std::filesystem;
namespace sched = descent::schedule;
using testing::CliResult;
using testing::describe;
using testing::run_cli;
using testing::TempDir;

struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;
};

Csv parse_csv(const std::string& text) {
  Csv csv;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  std::istringstream head(line);
  for (std::string cell; std::getline(head, cell, ',');) csv.header.push_back(cell);
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) {
      row.push_back(std::strtod(cell.c_str(), nullptr));
    }
    csv.rows.push_back(row);
  }
  return csv;
}

// The lr the trainer uses at `step`: the schedule's, times the linear warmup.
using LrFn = std::function<double(std::int64_t step, double base_lr)>;

LrFn with_warmup(const sched::Schedule& s, std::int64_t warmup_steps) {
  return [s, warmup_steps](std::int64_t step, double base) {
    return sched::warmup(warmup_steps)(step, s(step, base));
  };
}

struct ScheduleCase {
  std::string name;
  std::vector<std::string> args;
  std::int64_t steps;
  double base_lr;
  LrFn expected;
};

// Runs `descent` with `args` followed by the case's own and checks every row of the CSV.
void expect_rows(const ScheduleCase& c, std::vector<std::string> args) {
  args.insert(args.end(), c.args.begin(), c.args.end());
  const CliResult r = run_cli(args);
  ASSERT_EQ(r.status, 0) << c.name << "\n" << describe(r);
  EXPECT_EQ(r.err, "") << c.name;
  const Csv csv = parse_csv(r.out);
  EXPECT_EQ(csv.header, (std::vector<std::string>{"step", "lr"})) << c.name;
  ASSERT_EQ(csv.rows.size(), static_cast<std::size_t>(c.steps)) << c.name;
  for (std::int64_t step = 0; step < c.steps; ++step) {
    ASSERT_EQ(csv.rows[step].size(), 2u) << c.name;
    EXPECT_EQ(csv.rows[step][0], static_cast<double>(step)) << c.name;
    // The CSV prints round-trip text: the values are the library's, bit for bit.
    EXPECT_EQ(csv.rows[step][1], c.expected(step, c.base_lr)) << c.name << " step " << step;
  }
}

TEST(ScheduleCli, CsvEqualsTheLibrary) {
  const std::vector<ScheduleCase> cases = {
      {"step by flags",
       {"--schedule", "step", "--step-size", "3", "--gamma", "0.5", "--lr", "0.2"},
       20,
       0.2,
       sched::step_decay(3, 0.5)},
      {"step by spec and agreeing flags",
       {"--schedule", "step,step_size=3,gamma=0.5", "--step-size", "3", "--lr", "0.2"},
       20,
       0.2,
       sched::step_decay(3, 0.5)},
      {"cosine with min-lr and warmup",
       {"--schedule", "cosine", "--min-lr", "0.001", "--warmup-steps", "5", "--lr", "0.1"},
       50,
       0.1,
       with_warmup(sched::cosine(50, 0.001), 5)},
      {"default cosine and lr (train's: the SGD recipe's 0.05)", {}, 30, 0.05, sched::cosine(30)},
      {"another optimizer's default lr (Adam: 1e-3, PyTorch's)",
       {"--optimizer", "adam"},
       30,
       1e-3,
       sched::cosine(30)},
      {"multistep",
       {"--schedule", "multistep", "--milestones", "10,20", "--gamma", "0.3"},
       30,
       0.05,  // train's default lr (the SGD recipe's)
       sched::multi_step({10, 20}, 0.3)},
      {"cosine restarts",
       {"--schedule", "cosine_restarts", "--t0", "10", "--t-mult", "2", "--min-lr", "0.01", "--lr",
        "1"},
       70,
       1.0,
       sched::cosine_restarts(10, 2, 0.01)},
      {"exponential",
       {"--schedule", "exponential", "--gamma", "0.9"},
       25,
       0.05,  // train's default lr (the SGD recipe's)
       sched::exponential(0.9)},
      {"onecycle with max-lr (the base lr is ignored, as PyTorch's)",
       {"--schedule", "onecycle", "--max-lr", "0.8", "--lr", "0.01"},
       40,
       0.01,
       [](std::int64_t step, double) { return sched::one_cycle({.total_steps = 40})(step, 0.8); }},
      {"constant with warmup",
       {"--schedule", "constant", "--warmup-steps", "4", "--lr", "0.5"},
       10,
       0.5,
       [](std::int64_t step, double base) { return sched::warmup(4)(step, base); }},
  };
  for (const ScheduleCase& c : cases) {
    expect_rows(c, {"schedule", "--steps", std::to_string(c.steps)});
  }
}

TEST(ScheduleCli, GroupLrsGiveOneColumnEach) {
  const CliResult r = run_cli({"schedule", "--schedule", "step", "--step-size", "2", "--steps", "6",
                               "--group-lrs", "0.1,0.02"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const Csv csv = parse_csv(r.out);
  EXPECT_EQ(csv.header, (std::vector<std::string>{"step", "lr_0", "lr_1"}));
  ASSERT_EQ(csv.rows.size(), 6u);
  const sched::Schedule s = sched::step_decay(2, 0.1);
  for (std::int64_t step = 0; step < 6; ++step) {
    EXPECT_EQ(csv.rows[step][1], s(step, 0.1));
    EXPECT_EQ(csv.rows[step][2], s(step, 0.02));
  }
}

TEST(ScheduleCli, ReadsARunsConfigFile) {
  TempDir dir;
  const std::string config = dir.file("config.json");
  std::ofstream(config) << R"({"schedule": "step", "step_size": 4, "gamma": 0.5, "lr": 0.3,
                               "steps": 12, "model": "mlp", "batch_size": 32})";
  const CliResult r = run_cli({"schedule", "--config", config});
  ASSERT_EQ(r.status, 0) << describe(r);
  const Csv csv = parse_csv(r.out);
  ASSERT_EQ(csv.rows.size(), 12u);
  for (std::int64_t step = 0; step < 12; ++step) {
    EXPECT_EQ(csv.rows[step][1], sched::step_decay(4, 0.5)(step, 0.3));
  }
  // Flags override the file; a flag that contradicts the spec is refused.
  const CliResult more = run_cli({"schedule", "--config", config, "--gamma", "0.25"});
  ASSERT_EQ(more.status, 0) << describe(more);
  EXPECT_EQ(parse_csv(more.out).rows[11][1], sched::step_decay(4, 0.25)(11, 0.3));
}

TEST(ScheduleCli, TrainTakesTheSameFlagsAndLogsTheSameLrs) {
  TempDir dir;
  const std::string out = dir.file("run");
  // 400 spirals, batches of 64: 7 steps per epoch, 14 in all.
  const std::vector<std::string> schedule_flags = {"--schedule", "step", "--step-size",    "3",
                                                   "--gamma",    "0.5",  "--warmup-steps", "4",
                                                   "--lr",       "0.05"};
  std::vector<std::string> train = {"train",
                                    "--data",
                                    "spirals,samples=400",
                                    "--epochs",
                                    "2",
                                    "--batch-size",
                                    "64",
                                    "--threads",
                                    "1",
                                    "--log-every",
                                    "1",
                                    "--out",
                                    out};
  train.insert(train.end(), schedule_flags.begin(), schedule_flags.end());
  const CliResult trained = run_cli(train);
  ASSERT_EQ(trained.status, 0) << describe(trained);
  std::vector<std::string> show = {"schedule", "--steps", "14"};
  show.insert(show.end(), schedule_flags.begin(), schedule_flags.end());
  const CliResult shown = run_cli(show);
  ASSERT_EQ(shown.status, 0) << describe(shown);
  const Csv csv = parse_csv(shown.out);
  ASSERT_EQ(csv.rows.size(), 14u);
  // metrics.jsonl's record "step": s (s = 1, 2, ...) reports the lr of the s-th update, which
  // the schedule numbers s - 1.
  std::ifstream log(out + "/metrics.jsonl");
  int compared = 0;
  for (std::string line; std::getline(log, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record["type"] != "step") continue;
    const std::int64_t step = record["step"].get<std::int64_t>();
    ASSERT_GE(step, 1);
    ASSERT_LE(step, 14);
    EXPECT_EQ(record["lr"].get<double>(), csv.rows[step - 1][1]) << "step " << step;
    ++compared;
  }
  EXPECT_EQ(compared, 14);
  const auto config = nlohmann::json::parse(std::ifstream(out + "/config.json"));
  EXPECT_EQ(config["step_size"], 3);
  EXPECT_EQ(config["gamma"], 0.5);
  EXPECT_TRUE(config["t0"].is_null());
}

// An epoch schedule as train::Trainer::lr_at reads it: the epoch of step s, s / steps_per_epoch,
// then the warmup over steps.
LrFn per_epoch(const sched::Schedule& s, std::int64_t steps_per_epoch,
               std::int64_t warmup_steps = 0) {
  return [s, steps_per_epoch, warmup_steps](std::int64_t step, double base) {
    const double lr = s(step / steps_per_epoch, base);
    return warmup_steps > 0 ? sched::warmup(warmup_steps)(step, lr) : lr;
  };
}

TEST(ScheduleCli, EpochUnitReadsTheEpochOfEachStep) {
  // No --steps: the rows are epochs x steps per epoch.
  const std::vector<ScheduleCase> cases = {
      {"step decay every 2 epochs of 3 steps, warmup over 2 steps",
       {"--schedule", "step", "--step-size", "2", "--gamma", "0.5", "--schedule-unit", "epoch",
        "--steps-per-epoch", "3", "--epochs", "4", "--warmup-steps", "2", "--lr", "0.4"},
       12,
       0.4,
       per_epoch(sched::step_decay(2, 0.5), 3, 2)},
      {"cosine over 5 epochs of 4 steps",
       {"--schedule", "cosine", "--min-lr", "0.01", "--schedule-unit", "epoch", "--steps-per-epoch",
        "4", "--epochs", "5"},
       20,
       0.05,  // train's default lr (the SGD recipe's)
       per_epoch(sched::cosine(5, 0.01), 4)},
      {"--steps sets the rows, the schedule still spans --epochs",
       {"--schedule", "multistep", "--milestones", "1,3", "--gamma", "0.1", "--schedule-unit",
        "epoch", "--steps-per-epoch", "5", "--epochs", "4", "--steps", "13", "--lr", "1"},
       13,
       1.0,
       per_epoch(sched::multi_step({1, 3}, 0.1), 5)},
      {"the steps per epoch counted from the data: 400 spirals in batches of 64, 2 per step",
       {"--schedule", "exponential", "--gamma", "0.5", "--schedule-unit", "epoch", "--data",
        "spirals,samples=400", "--batch-size", "64", "--accumulate", "2", "--epochs", "3"},
       12,    // 7 batches: 4 steps per epoch
       0.05,  // train's default lr (the SGD recipe's)
       per_epoch(sched::exponential(0.5), 4)},
      {"the training set after --train-size and --val-split: 300 - 60, batches of 50",
       {"--schedule", "step", "--step-size", "1", "--schedule-unit", "epoch", "--data",
        "blobs,samples=400", "--train-size", "300", "--val-split", "0.2", "--batch-size", "50",
        "--epochs", "2"},
       10,    // 240 examples: 5 steps per epoch
       0.05,  // train's default lr (the SGD recipe's)
       per_epoch(sched::step_decay(1, 0.1), 5)},
  };
  for (const ScheduleCase& c : cases) {
    expect_rows(c, {"schedule"});
  }
}

TEST(ScheduleCli, RowsAreTheStepsTrainWouldRun) {
  // By epochs (no steps anywhere): epochs x steps per epoch, with the step unit too.
  const CliResult by_epochs = run_cli({"schedule", "--epochs", "3", "--steps-per-epoch", "7"});
  ASSERT_EQ(by_epochs.status, 0) << describe(by_epochs);
  const Csv csv = parse_csv(by_epochs.out);
  ASSERT_EQ(csv.rows.size(), 21u);
  for (std::int64_t step = 0; step < 21; ++step) {
    EXPECT_EQ(csv.rows[step][1], sched::cosine(21)(step, 0.05)) << step;  // spans the 21 steps
  }
  // The config's steps, capped at epochs x steps per epoch when that is known.
  TempDir dir;
  const std::string config = dir.file("config.json");
  std::ofstream(config) << R"({"steps": 50, "epochs": 2, "schedule": "constant"})";
  const CliResult capped = run_cli({"schedule", "--config", config, "--steps-per-epoch", "6"});
  ASSERT_EQ(capped.status, 0) << describe(capped);
  EXPECT_EQ(parse_csv(capped.out).rows.size(), 12u);
  const CliResult uncapped = run_cli({"schedule", "--config", config, "--steps-per-epoch", "30"});
  ASSERT_EQ(uncapped.status, 0) << describe(uncapped);
  EXPECT_EQ(parse_csv(uncapped.out).rows.size(), 50u);
  // --steps wins; --steps-per-epoch is then not needed by a step schedule, and accepted.
  const CliResult given =
      run_cli({"schedule", "--steps", "9", "--steps-per-epoch", "2", "--epochs", "100"});
  ASSERT_EQ(given.status, 0) << describe(given);
  const Csv given_csv = parse_csv(given.out);
  ASSERT_EQ(given_csv.rows.size(), 9u);
  EXPECT_EQ(given_csv.rows[4][1], sched::cosine(9)(4, 0.05));
}

TEST(ScheduleCli, LoadsNoDataUnlessItCountsTheSteps) {
  const std::string missing = "csv:/nonexistent/descent-no-such.csv";
  // Not needed: the data is never read.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"schedule", "--steps", "5", "--data", missing},
        std::vector<std::string>{"schedule", "--schedule-unit", "epoch", "--steps-per-epoch", "2",
                                 "--epochs", "3", "--data", missing}}) {
    const CliResult r = run_cli(args);
    ASSERT_EQ(r.status, 0) << describe(r);
    EXPECT_FALSE(parse_csv(r.out).rows.empty());
  }
  // Needed and unreadable: one line saying to pass --steps-per-epoch.
  const CliResult epoch = run_cli({"schedule", "--schedule-unit", "epoch", "--data", missing});
  EXPECT_EQ(epoch.status, 2) << describe(epoch);
  EXPECT_EQ(std::count(epoch.err.begin(), epoch.err.end(), '\n'), 1) << describe(epoch);
  EXPECT_NE(epoch.err.find("pass --steps-per-epoch"), std::string::npos) << epoch.err;
  EXPECT_NE(epoch.err.find("descent-no-such.csv"), std::string::npos) << epoch.err;
  EXPECT_EQ(epoch.out, "");
  // Fashion-MNIST (the default data) where there is none.
  const CliResult fashion = run_cli({"schedule", "--schedule-unit", "epoch"},
                                    {.env = {"DESCENT_FASHION_MNIST_DIR=/nonexistent/fm"}});
  EXPECT_EQ(fashion.status, 2) << describe(fashion);
  EXPECT_NE(fashion.err.find("--steps-per-epoch"), std::string::npos) << fashion.err;
  EXPECT_NE(fashion.err.find("/nonexistent/fm"), std::string::npos) << fashion.err;
}

// Trains on 400 spirals with `run_flags` (logging every step), then runs `descent schedule
// --config <run>/config.json` with no --steps and no --steps-per-epoch: the rows must number
// the run's optimizer steps, and each lr must be the one the run logged for that step.
void expect_schedule_matches_the_run(const std::vector<std::string>& run_flags,
                                     std::int64_t expected_steps) {
  SCOPED_TRACE(::testing::PrintToString(run_flags));
  TempDir dir;
  const std::string out = dir.file("run");
  std::vector<std::string> train = {
      "train", "--data", "spirals,samples=400", "--threads", "1", "--log-every", "1",
      "--out", out,      "--no-doctor"};
  train.insert(train.end(), run_flags.begin(), run_flags.end());
  const CliResult trained = run_cli(train);
  ASSERT_EQ(trained.status, 0) << describe(trained);
  const auto summary = nlohmann::json::parse(std::ifstream(out + "/summary.json"));
  ASSERT_EQ(summary["steps"].get<std::int64_t>(), expected_steps);

  const CliResult shown = run_cli({"schedule", "--config", out + "/config.json"});
  ASSERT_EQ(shown.status, 0) << describe(shown);
  const Csv csv = parse_csv(shown.out);
  ASSERT_EQ(csv.rows.size(), static_cast<std::size_t>(expected_steps));
  // metrics.jsonl's record "step": s (s = 1, 2, ...) reports the lr of the s-th update, which
  // the schedule numbers s - 1.
  std::ifstream log(out + "/metrics.jsonl");
  std::int64_t compared = 0;
  std::set<double> lrs;
  for (std::string line; std::getline(log, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record["type"] != "step") continue;
    const std::int64_t step = record["step"].get<std::int64_t>();
    ASSERT_GE(step, 1);
    ASSERT_LE(step, expected_steps);
    EXPECT_EQ(record["lr"].get<double>(), csv.rows[step - 1][1]) << "step " << step;
    lrs.insert(record["lr"].get<double>());
    ++compared;
  }
  EXPECT_EQ(compared, expected_steps);
  EXPECT_GT(lrs.size(), 3u);  // the lr does change along the run
}

TEST(ScheduleCli, EpochUnitAndAccumulationLogTheSameLrsAsTrain) {
  // 400 spirals in batches of 64: 7 micro-batches, 4 optimizer steps per epoch with
  // --accumulate 2 (the last of one micro-batch); the lr halves every epoch, warmup over 3.
  std::vector<std::string> epoch_run = {"--batch-size", "64", "--accumulate", "2", "--epochs", "3"};
  epoch_run.insert(epoch_run.end(), {"--schedule-unit", "epoch", "--schedule", "step"});
  epoch_run.insert(epoch_run.end(), {"--step-size", "1", "--gamma", "0.5", "--lr", "0.05"});
  epoch_run.insert(epoch_run.end(), {"--warmup-steps", "3"});
  expect_schedule_matches_the_run(epoch_run, 12);
  // The same, capped by --steps in the middle of the last epoch.
  std::vector<std::string> capped = epoch_run;
  capped.insert(capped.end(), {"--steps", "10"});
  expect_schedule_matches_the_run(capped, 10);
  // The step unit with accumulation: batches of 32 are 13 micro-batches, 5 steps per epoch
  // with --accumulate 3; the cosine spans the run's 10 steps.
  expect_schedule_matches_the_run({"--batch-size", "32", "--accumulate", "3", "--epochs", "2",
                                   "--schedule", "cosine", "--warmup-steps", "2", "--lr", "0.05"},
                                  10);
}

TEST(ScheduleCli, PlotWritesAnSvg) {
  TempDir dir;
  const std::string plot = dir.file("lr.svg");
  const CliResult r = run_cli({"schedule", "--schedule", "exponential", "--gamma", "0.8", "--steps",
                               "30", "--plot", plot, "--log-y"});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(parse_csv(r.out).rows.size(), 30u);  // the CSV is still printed
  std::ifstream in(plot);
  const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(svg.starts_with("<svg ")) << svg.substr(0, 100);
  EXPECT_TRUE(svg.ends_with("</svg>\n"));
  EXPECT_NE(svg.find("data-name=\"lr\""), std::string::npos);
  EXPECT_NE(svg.find("exponential"), std::string::npos);  // the title names the schedule
  EXPECT_NE(svg.find(">learning rate<"), std::string::npos);

  const std::string unwritable = dir.file("no-such-folder/lr.svg");
  const CliResult bad = run_cli({"schedule", "--steps", "5", "--plot", unwritable});
  EXPECT_EQ(bad.status, 1) << describe(bad);
  EXPECT_NE(bad.err.find(unwritable), std::string::npos) << bad.err;
}

struct BadCase {
  std::vector<std::string> args;
  std::string names;  // the flag the message must name
};

TEST(ScheduleCli, BadInputExits2NamingTheOption) {
  const std::vector<BadCase> cases = {
      {{"--schedule", "step", "--step-size", "0"}, "--step-size"},
      {{"--schedule", "step", "--step-size", "-3"}, "--step-size"},
      {{"--schedule", "step,step_size=0"}, "step_size"},
      {{"--schedule", "cosine_restarts", "--t0", "0"}, "--t0"},
      {{"--schedule", "cosine_restarts", "--t0", "5", "--t-mult", "0"}, "--t-mult"},
      {{"--schedule", "step", "--gamma", "0"}, "--gamma"},
      {{"--schedule", "exponential", "--gamma", "-0.5"}, "--gamma"},
      {{"--schedule", "multistep,milestones=3:3"}, "milestones"},
      {{"--schedule", "multistep", "--milestones", "8,4"}, "--milestones"},
      {{"--schedule", "multistep", "--milestones", "4,x"}, "--milestones"},
      {{"--schedule", "multistep"}, "milestones"},
      {{"--warmup-steps", "11"}, "--warmup-steps"},
      {{"--warmup-steps", "-1"}, "--warmup-steps"},
      {{"--schedule", "cosnie"}, "--schedule"},
      {{"--schedule", "step,gamma=0.1", "--gamma", "0.5"}, "--gamma"},  // conflicting values
      {{"--schedule", "cosine", "--gamma", "0.5"}, "--gamma"},          // not this schedule's
      {{"--schedule", "onecycle", "--max-lr", "0"}, "--max-lr"},
      {{"--schedule", "cosine", "--min-lr", "-1"}, "--min-lr"},
      {{"--lr", "0"}, "--lr"},
      {{"--optimizer", "sgdd"}, "--optimizer"},
      {{"--lr", "0.1", "--group-lrs", "0.1,0.2"}, "--group-lrs"},
      {{"--group-lrs", "0.1,-2"}, "--group-lrs"},
      {{"--steps", "0"}, "--steps"},
      {{"--steps", "-4"}, "--steps"},
      {{"--steps-per-epoch", "0"}, "--steps-per-epoch"},
      {{"--steps-per-epoch", "-3"}, "--steps-per-epoch"},
      {{"--schedule-unit", "epoch", "--steps-per-epoch", "0"}, "--steps-per-epoch"},
      {{"--schedule-unit", "epochs", "--steps-per-epoch", "2"}, "--schedule-unit"},
      {{"--schedule-unit", "batch"}, "--schedule-unit"},
      {{"--schedule-unit", "epoch", "--steps-per-epoch", "2", "--epochs", "0"}, "--epochs"},
      {{"--schedule-unit", "epoch", "--data", "spirals", "--batch-size", "0"}, "--batch-size"},
      {{"--schedule-unit", "epoch", "--data", "spirals", "--accumulate", "0"}, "--accumulate"},
  };
  for (const BadCase& c : cases) {
    std::vector<std::string> args = {"schedule", "--steps", "10"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_TRUE(r.err.starts_with("descent: ")) << describe(r);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(r);
    EXPECT_NE(r.err.find(c.names), std::string::npos) << c.names << "\n" << describe(r);
    EXPECT_EQ(r.out, "") << describe(r);
  }
  // Without --steps the rows are epochs x steps per epoch, counted from the data; without the
  // data the message says what to pass.
  const CliResult missing =
      run_cli({"schedule"}, {.env = {"DESCENT_FASHION_MNIST_DIR=/nonexistent/fm"}});
  EXPECT_EQ(missing.status, 2) << describe(missing);
  EXPECT_NE(missing.err.find("pass --steps N or --steps-per-epoch N"), std::string::npos)
      << missing.err;
}

TEST(ScheduleCli, TrainRefusesTheSameBadSettingsBeforeLoadingData) {
  const std::vector<BadCase> cases = {
      {{"--schedule", "step", "--gamma", "0"}, "--gamma"},
      {{"--schedule", "cosine", "--t0", "3"}, "--t0"},
      {{"--schedule", "multistep", "--milestones", "5,2"}, "--milestones"},
      {{"--warmup-steps", "1000", "--steps", "20"}, "--warmup-steps"},
  };
  for (const BadCase& c : cases) {
    std::vector<std::string> args = {"train", "--data", "spirals,samples=100",       "--threads",
                                     "1",     "--out",  "/nonexistent/never-written"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_NE(r.err.find(c.names), std::string::npos) << c.names << "\n" << describe(r);
  }
}

TEST(ScheduleCli, HelpDocumentsTheFlags) {
  const CliResult top = run_cli({"--help"});
  EXPECT_EQ(top.status, 0);
  EXPECT_NE(top.out.find("schedule"), std::string::npos) << top.out;
  const CliResult r = run_cli({"schedule", "--help"});
  EXPECT_EQ(r.status, 0) << describe(r);
  for (const char* flag : {"--schedule",
                           "--warmup-steps",
                           "--min-lr",
                           "--step-size",
                           "--gamma",
                           "--milestones",
                           "--t0",
                           "--t-mult",
                           "--max-lr",
                           "--lr",
                           "--steps",
                           "--group-lrs",
                           "--plot",
                           "--log-y",
                           "--config",
                           "--schedule-unit",
                           "--steps-per-epoch",
                           "--epochs",
                           "--batch-size",
                           "--accumulate",
                           "--data",
                           "--train-size",
                           "--val-split"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
  const CliResult train = run_cli({"train", "--help"});
  for (const char* flag :
       {"--min-lr", "--step-size", "--gamma", "--milestones", "--t0", "--t-mult", "--max-lr"}) {
    EXPECT_NE(train.out.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace descent
