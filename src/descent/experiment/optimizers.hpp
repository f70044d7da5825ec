// The optimizers experiment: SGD, SGD with momentum, Nesterov, AdaGrad, RMSProp, Adam and
// AdamW train the zoo's CNN (with BN) on a 10,000-image subset of Fashion-MNIST, each at a
// small sweep of learning rates; the best lr of each is picked on held-out validation
// images, and its test accuracy and generalization gap (train accuracy - test accuracy) are
// reported with its training loss curve.
//
// The claim it tests: "adaptive methods can generalize worse than tuned SGD" (Wilson,
// Roelofs, Stern, Srebro, Recht 2017, "The Marginal Value of Adaptive Gradient Methods in
// Machine Learning"), against "with tuned hyperparameters the ranking mostly disappears"
// (Choi et al. 2019, "On Empirical Comparisons of Optimizers for Deep Learning"). A small
// training set over many epochs lets the networks overfit, so that a gap can show.
//
// ====== Intended usage ======
//   experiment::OptimizersOptions options;       // 7 optimizers x 3 lrs, 1000 steps each
//   auto runs = experiment::run_optimizers(options, [](const experiment::OptimizerRun& r) {
//     std::printf("%s\n", r.label().c_str());
//   });
//   experiment::write_optimizers_report(runs, options, "runs/optimizers");
//
// Cost, measured on 2026-11-29 with one thread on the shared 2-core machine (load ~7):
// `--steps 300` took 321 s of CPU (8 min 51 s wall, peak RSS 0.63 GB), so the default 1,000
// steps is about 1,000 s of CPU: about 17 min on an idle core (extrapolated). `--quick`
// (20 steps of 32 on 1,000 images): 7 s of CPU, 15 s wall.
//
// Every optimizer runs with PyTorch's defaults besides lr (SGD momentum 0.9 where named;
// AdamW's decoupled weight decay 0.01; no weight decay for the others), a constant lr, the
// same seed, so the same initial weights and batch order. A run diverged when a batch loss
// is not finite or exceeds 100 (adaptive rules' first steps can spike the loss well above a
// uniform guess's 2.3 and recover).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "descent/experiment/classify.hpp"

namespace descent::experiment {

struct OptimizerArm {
  std::string name;          // "nesterov"
  std::string optimizer;     // the registry's name, "sgd"
  optim::OptionMap options;  // {{"momentum", "0.9"}, {"nesterov", "true"}}
  std::vector<double> lrs;   // the sweep
};

// The seven arms, in the order above, with their default sweeps.
std::vector<OptimizerArm> default_optimizer_arms();

struct OptimizersOptions {
  std::vector<std::string> names = {};  // a subset of the arms by name; empty: all
  std::int64_t steps = 1000;            // per run (12.8 epochs of 10,000 at batch 128)
  std::int64_t batch = 128;
  std::int64_t train_size = 10000;
  std::int64_t validation_size = 5000;  // from the end of the training file; picks the lr
  std::int64_t test_size = 0;           // 0: all 10,000
  std::int64_t eval_size = 1000;        // train and validation images every eval_every steps
  std::int64_t eval_every = 100;
  std::uint64_t seed = 0;
  std::string data_dir = "";
  std::int64_t threads = 0;

  void validate() const;  // throws descent::Error naming the option (and the known arms)
};

struct OptimizerRun {
  std::string arm;
  double lr = 0.0;
  ClassifierRun run = {};            // evals hold train and VALIDATION accuracy
  double validation_accuracy = 0.0;  // final, on all validation images (0 when diverged)
  bool best = false;                 // the arm's pick
  double train_accuracy = 0.0;       // final, on all training images (the pick only)
  double test_accuracy = 0.0;        // final, on test_size test images (the pick only)

  double gap() const { return train_accuracy - test_accuracy; }
  std::string label() const;
};

std::vector<OptimizerRun> run_optimizers(
    const OptimizersOptions& options, const std::function<void(const OptimizerRun&)>& on_run = {});

// Publishes `dir` (common.hpp) with runs.csv, curves.csv, loss.svg, validation.svg,
// lr_sweep.svg and report.html.
void write_optimizers_report(const std::vector<OptimizerRun>& runs,
                             const OptimizersOptions& options, const std::string& dir);

}  // namespace descent::experiment
