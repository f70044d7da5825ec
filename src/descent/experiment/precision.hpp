// The mixed-precision experiment: the same CNN on Fashion-MNIST trained four times, in f32,
// bf16, fp16 with dynamic loss scaling and fp16 without it (Micikevicius et al. 2018, "Mixed
// Precision Training", whose figure 3 counts the gradient values that fp16 flushes to zero).
//
// ====== Intended usage ======
//   experiment::PrecisionOptions options;             // the CNN, 3 epochs, all of the data
//   auto runs = experiment::run_precision(options, [](const experiment::PrecisionRun& r) {
//     std::printf("%s\n", r.label().c_str());
//   });
//   experiment::write_precision_report(runs, options, "runs/precision");
//
// Every run starts from the same weights and sees the same batches (one seed); only the
// precision differs (train::TrainerOptions::precision). Per step it records the training
// loss, the loss scale and, in fp16, the fraction of the nonzero gradient values that
// round to zero in the 16-bit backward (ops::gradient_rounding_counts). The test accuracy is
// of the f32 master weights, evaluated in f32.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "descent/amp/policy.hpp"

namespace descent::experiment {

struct PrecisionOptions {
  std::string model = "cnn";  // a zoo name (nn/zoo.hpp) for 28x28 images
  std::int64_t epochs = 3;
  std::int64_t batch = 128;
  double lr = 0.05;             // SGD, Nesterov momentum 0.9, cosine to 0 over the run
  std::int64_t train_size = 0;  // the first N training images (0: all 60,000)
  std::int64_t test_size = 0;   // the first N test images (0: all 10,000)
  std::string data_dir = "";    // Fashion-MNIST (empty: data::find_fashion_mnist's rules)
  std::int64_t seed = 0;
  std::int64_t threads = 0;  // OpenMP threads (0: the default)

  void validate() const;  // throws descent::Error naming the option
};

struct PrecisionRun {
  std::string name;  // "fp32", "bf16", "fp16 + loss scaling", "fp16, no loss scaling"
  amp::Precision precision = amp::Precision::fp32;
  bool loss_scaling = false;
  std::vector<double> loss = {};       // per step
  std::vector<double> underflow = {};  // per step, fp16 only: flushed / nonzero gradients
  std::vector<double> scale = {};      // per step: the loss scale (1 without scaling)
  std::int64_t skipped = 0;            // steps skipped for Inf/NaN gradients (overflow)
  double mean_underflow = 0.0;         // over the steps (NaN when not fp16)
  double final_loss = 0.0;             // mean training loss of the last epoch
  double test_accuracy = 0.0;
  double samples_per_sec = 0.0;
  double seconds = 0.0;

  std::string label() const;  // "fp16, no loss scaling: test 90.1%, 2.3% of gradients flushed"
};

// The four runs, in the order above; on_run after each.
std::vector<PrecisionRun> run_precision(
    const PrecisionOptions& options, const std::function<void(const PrecisionRun&)>& on_run = {});

// Writes into `dir` (created if needed): runs.csv (one row per run), steps.csv (per step
// loss, underflow and scale of each run), loss.svg, underflow.svg, report.html.
void write_precision_report(const std::vector<PrecisionRun>& runs, const PrecisionOptions& options,
                            const std::string& dir);

}  // namespace descent::experiment
