// The schedules experiment: the zoo's CNN (with BN) trained on Fashion-MNIST with SGD +
// momentum and the same base learning rate and budget under six learning-rate schedules
// (schedule/schedule.hpp): constant, step decay, exponential decay, cosine, linear warmup +
// cosine, and one-cycle. Per schedule: the training-loss curve, the lr curve, the final test
// accuracy.
//
// The claims it puts side by side: decaying the learning rate at the end of training lowers
// the loss and raises the accuracy over a constant rate (the step schedules of He et al.
// 2016; SGDR, Loshchilov & Hutter 2017, for cosine); warmup lets training start at a high
// rate (Goyal et al. 2017); one-cycle trains fast for a fixed budget (Smith & Topin 2018,
// "Super-Convergence").
//
// ====== Intended usage ======
//   experiment::SchedulesOptions options;        // 6 schedules x 2 seeds, 1000 steps each
//   auto runs = experiment::run_schedules(options, [](const experiment::ScheduleRun& r) {
//     std::printf("%s\n", r.label().c_str());
//   });
//   experiment::write_schedules_report(runs, options, "runs/schedules");
//
// Cost, measured on 2026-11-29 with one thread on the shared 2-core machine (load ~7):
// `--seeds 1 --steps 500` took 134 s of CPU (3 min 56 s wall), so the default (2 seeds x
// 1,000 steps) is about 540 s of CPU: about 9 min on an idle core (extrapolated). `--quick`
// (one seed, 30 steps of 32 on 2,000 images): 4.6 s of CPU, 10.5 s wall.
//
// With `steps` = T and base lr eta: step decays by 0.1 at T/3 and 2T/3 (PyTorch's StepLR,
// step_size T/3); exponential by gamma = 0.01^(1/T), so that it ends at eta/100; cosine
// anneals to 0 at T; warmup + cosine rises linearly from 0 over T/20 steps, then anneals to 0;
// one-cycle is PyTorch's OneCycleLR with max_lr = eta (it starts at eta/25, peaks at 0.3 T
// and ends at eta/25e4).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "descent/experiment/classify.hpp"

namespace descent::experiment {

// The names, in order: constant, step, exponential, cosine, warmup-cosine, one-cycle.
std::vector<std::string> schedule_names();
// The schedule of that name for `steps` steps (as above); throws listing the names.
schedule::Schedule make_experiment_schedule(const std::string& name, std::int64_t steps);

struct SchedulesOptions {
  std::vector<std::string> names = {};  // a subset by name; empty: all six
  std::int64_t seeds = 2;
  std::int64_t steps = 1000;  // per run (2.1 epochs of 60,000 at batch 128)
  std::int64_t batch = 128;
  double lr = 0.05;  // the base (peak) learning rate, SGD
  double momentum = 0.9;
  double weight_decay = 5e-4;
  std::int64_t train_size = 0;  // 0: all 60,000
  std::int64_t test_size = 0;   // 0: all 10,000
  std::int64_t eval_size = 1000;
  std::int64_t eval_every = 100;
  std::string data_dir = "";
  std::int64_t threads = 0;

  void validate() const;  // throws descent::Error naming the option
};

struct ScheduleRun {
  std::string name;
  std::int64_t seed = 0;
  ClassifierRun run = {};
  double test_accuracy = 0.0;  // final, on test_size images (0 when diverged)

  std::string label() const;
};

std::vector<ScheduleRun> run_schedules(const SchedulesOptions& options,
                                       const std::function<void(const ScheduleRun&)>& on_run = {});

// Publishes `dir` (common.hpp) with runs.csv, curves.csv, loss.svg, lr.svg, accuracy.svg and
// report.html.
void write_schedules_report(const std::vector<ScheduleRun>& runs, const SchedulesOptions& options,
                            const std::string& dir);

}  // namespace descent::experiment
