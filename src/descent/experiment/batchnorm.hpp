// The batch-norm experiment: the zoo's CNN with and without batch normalization
// ("cnn" and "cnn,bn=0", nn/zoo.hpp) trained on Fashion-MNIST with SGD + momentum over a
// sweep of learning rates. Per run: whether it trained, the steps to a target test accuracy,
// the final test accuracy, and the sharpness (the top Hessian eigenvalue of the training loss,
// landscape/hessian.hpp) at the end.
//
// The claims it tests: batch normalization permits much higher learning rates (Ioffe &
// Szegedy 2015, "Batch Normalization: Accelerating Deep Network Training by Reducing Internal
// Covariate Shift", section 3.3) and makes the loss landscape smoother, i.e. gradients more
// predictive and the loss less sharp (Santurkar, Tsipras, Ilyas, Madry 2018, "How Does
// Batch Normalization Help Optimization?", section 3).
//
// ====== Intended usage ======
//   experiment::BatchnormOptions options;        // 6 lrs x 2 models, 1500 steps each
//   auto runs = experiment::run_batchnorm(options, [](const experiment::BatchnormRun& r) {
//     std::printf("%s\n", r.label().c_str());
//   });
//   experiment::write_batchnorm_report(runs, options, "runs/batchnorm");
//
// A run "trained" when it did not diverge (classify.hpp: a non-finite batch loss or one above
// 3 ln 10) and its final test accuracy is at least `trained_accuracy`. The sharpness is
// measured in eval() mode (batch norm on its running statistics: one fixed function of the
// weights) on the first `sharpness_size` training examples, by the Lanczos iteration on
// finite-difference Hessian-vector products (hessian.hpp states the error bound).
//
// Cost, measured on 2026-11-29 (`OMP_NUM_THREADS=1 descent experiment batchnorm`, a build on
// the machine's other core): 615 s of CPU, 10 min 16 s of wall time, peak RSS 0.72 GB (an
// earlier run, before sharpness used Lanczos, at load ~7: 517 s of CPU, 0.85 GB). `--quick`
// (2 lrs, 30 steps of 32 on 2,000 images): 3.4 s of CPU, 7 s wall.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "descent/experiment/classify.hpp"

namespace descent::experiment {

struct BatchnormOptions {
  std::vector<double> lrs = {0.003, 0.01, 0.03, 0.1, 0.3, 1.0};
  std::int64_t steps = 1500;  // per run (3.2 epochs of 60,000 at batch 128)
  std::int64_t batch = 128;
  double momentum = 0.9;
  std::int64_t train_size = 0;    // training examples (0: all 60,000)
  std::int64_t test_size = 0;     // test examples for the final accuracy (0: all 10,000)
  std::int64_t eval_size = 1000;  // train and test examples evaluated every eval_every steps
  std::int64_t eval_every = 100;
  double target_accuracy = 0.85;  // steps to reach it on the eval_size test examples
  double trained_accuracy = 0.5;  // final test accuracy of a run that "trained" (chance: 0.1)
  std::int64_t sharpness_size = 512;
  std::int64_t sharpness_iterations = 20;  // Lanczos iterations (2 gradients each)
  std::uint64_t seed = 0;
  std::string data_dir = "";  // Fashion-MNIST's folder; empty: the usual search
  std::int64_t threads = 0;   // OpenMP threads (0: the default)

  void validate() const;  // throws descent::Error naming the option
};

struct BatchnormRun {
  bool batch_norm = false;
  double lr = 0.0;
  ClassifierRun run = {};      // curves; its model is released after the measurements
  double test_accuracy = 0.0;  // final, on test_size examples (0 when diverged)
  bool trained = false;
  double sharpness = 0.0;  // NaN when diverged
  bool sharpness_converged = false;

  std::string label() const;  // "cnn bn=1 lr 0.1: test 90.1%, 85% at step 400, sharpness 12.3"
};

// Runs every (model, lr), BN first; calls on_run after each.
std::vector<BatchnormRun> run_batchnorm(
    const BatchnormOptions& options, const std::function<void(const BatchnormRun&)>& on_run = {});

// The highest lr of the sweep that trained, for one arm (0 when none did).
double highest_trained_lr(const std::vector<BatchnormRun>& runs, bool batch_norm);

// Publishes `dir` (common.hpp: never a mix of two runs) with runs.csv, curves.csv,
// accuracy_vs_lr.svg, sharpness_vs_lr.svg, loss_bn.svg, loss_no_bn.svg and report.html.
void write_batchnorm_report(const std::vector<BatchnormRun>& runs, const BatchnormOptions& options,
                            const std::string& dir);

}  // namespace descent::experiment
