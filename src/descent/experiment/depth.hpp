// The depth experiment: He et al.'s CIFAR ResNets of two depths (20 and 56 by default)
// against their plain twins (the same layers without the identity shortcuts:
// "resnet56,skip=0", nn/zoo.hpp) on Fashion-MNIST: the training error over steps, and 2-D
// loss landscapes of the deepest pair around their trained weights.
//
// The claims it tests: deeper plain networks train WORSE, not only generalize worse (the
// degradation problem: He, Zhang, Ren, Sun 2016, "Deep Residual Learning for Image
// Recognition", figure 1 and section 4.2), while residual networks gain from depth; and the
// landscape of a deep plain net is chaotic where its residual twin's is smooth and convex-
// looking (Li, Xu, Taylor, Studer, Goldstein 2018, "Visualizing the Loss Landscape of Neural
// Nets", figure 5, ResNet-56 against its no-skip version on CIFAR-10).
//
// ====== Intended usage ======
//   experiment::DepthOptions options;            // 20 and 56, with and without skips
//   auto runs = experiment::run_depth(options, [](const experiment::DepthRun& r) {
//     std::printf("%s\n", r.label().c_str());
//   });
//   experiment::write_depth_report(runs, options, "runs/depth");
//
// Every network trains with the same SGD (momentum 0.9, weight decay 1e-4 as He et al.;
// a linear warmup over `warmup_steps`, then a constant lr: without it ResNet-56's loss blew
// up at step 3 at lr 0.05, as He et al. report for ResNet-110 at 0.1), batch, step budget and seed;
// a run diverged when a batch loss is not finite or exceeds 100. The training error is read on the
// first `eval_size` training images (eval() mode) every `eval_every` steps. The scans use
// landscape/scan.hpp: theta* + x d_x + y d_y with two seeded random directions, filter
// normalized (Li et al.), over [-range, range]^2 at points x points, the loss on the first
// `scan_size` training images (a 11 x 11 grid is 121 forward passes of them).
//
// Cost, measured on 2026-11-29 with one thread on the shared 2-core machine (load ~7):
// `--steps 250` took 428 s of CPU (9 min 36 s wall, peak RSS 1.0 GB), of which the two
// 11 x 11 scans about 60 s; so the default 500 steps is about 800 s of CPU: about 14 min on
// an idle core (extrapolated). `--quick` (depths 8 and 14, 10 steps, a 3 x 3 scan): 5 s.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "descent/experiment/classify.hpp"
#include "descent/landscape/scan.hpp"

namespace descent::experiment {

struct DepthOptions {
  std::vector<std::int64_t> depths = {20, 56};  // each 6n + 2
  std::int64_t steps = 500;
  std::int64_t batch = 64;
  double lr = 0.05;
  std::int64_t warmup_steps = 50;  // linear warmup from 0 (He et al. warm up ResNet-110)
  std::int64_t train_size = 0;     // 0: all 60,000
  std::int64_t test_size = 0;      // 0: all 10,000
  std::int64_t eval_size = 1000;
  std::int64_t eval_every = 50;
  std::int64_t scan_size = 256;   // training images for the landscapes
  std::int64_t scan_points = 11;  // per axis; 0: no scan
  double scan_range = 1.0;
  std::uint64_t seed = 0;
  std::string data_dir = "";
  std::int64_t threads = 0;

  void validate() const;  // throws descent::Error naming the option
};

struct DepthRun {
  std::int64_t depth = 0;
  bool skip = true;
  ClassifierRun run = {};
  double test_accuracy = 0.0;                   // final, on test_size images
  std::vector<landscape::ScanPoint> scan = {};  // the deepest pair only; y-major

  std::string name() const;  // "resnet56" or "plain56"
  double final_train_error() const;
  std::string label() const;
};

// Trains every (depth, skip) in that order (skip first); scans each network of the deepest
// depth right after training it; calls on_run after each.
std::vector<DepthRun> run_depth(const DepthOptions& options,
                                const std::function<void(const DepthRun&)>& on_run = {});

// Publishes `dir` (common.hpp) with runs.csv, curves.csv, scan_<name>.csv,
// train_error.svg, loss.svg, landscape_<name>.svg and report.html.
void write_depth_report(const std::vector<DepthRun>& runs, const DepthOptions& options,
                        const std::string& dir);

}  // namespace descent::experiment
