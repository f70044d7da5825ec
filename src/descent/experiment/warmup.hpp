// The warmup experiment: the small transformer (nn/transformer.hpp) learning characters of a
// real text (data/text.hpp; by default the GPL-3 from base-files) with Adam at a high
// learning rate, with and without linear warmup, over several seeds.
//
// ====== Intended usage ======
//   experiment::WarmupOptions options;          // lr 1e-2, 100 warmup steps, 3 seeds
//   auto runs = experiment::run_warmup(options, [](const experiment::WarmupRun& r) {
//     std::printf("%s\n", r.label().c_str());
//   });
//   experiment::write_warmup_report(runs, options, "runs/warmup");
//
// Both arms decay the learning rate by the same cosine to 0 at the last step; the warmup arm
// first raises it linearly from 0 over `warmup_steps` (Goyal et al. 2017, "Accurate, Large
// Minibatch SGD"; for transformers Vaswani et al. 2017, and Liu et al. 2020, "On the Variance
// of the Adaptive Learning Rate and Beyond", on why Adam needs it: its second-moment
// estimate rests on few samples in the first steps). A run diverges when its training loss
// becomes non-finite or exceeds `divergence_factor` x log(vocabulary) (worse than a uniform
// guess by that factor); it stops there. Validation: bits per character on the last 10% of
// the text, every `eval_every` steps and at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace descent::experiment {

struct WarmupOptions {
  std::string text = "";  // empty: data::default_text_path()
  std::int64_t seeds = 3;
  std::int64_t steps = 600;
  std::int64_t batch = 32;
  std::int64_t length = 64;  // characters per example
  std::int64_t dim = 64;
  std::int64_t heads = 4;
  std::int64_t layers = 2;
  double lr = 1e-2;  // high for Adam on a transformer: the point of the experiment
  std::int64_t warmup_steps = 100;
  std::int64_t eval_every = 100;
  double divergence_factor = 1.5;
  std::int64_t threads = 0;

  void validate() const;  // throws descent::Error naming the option
};

struct WarmupRun {
  std::int64_t seed = 0;
  bool warmup = false;
  std::vector<double> train_loss = {};                        // nats per character, per step
  std::vector<std::pair<std::int64_t, double>> val_bpc = {};  // (step, bits per character)
  bool diverged = false;
  std::int64_t diverged_at = -1;
  double final_val_bpc = 0.0;  // NaN when diverged
  double seconds = 0.0;

  std::string label() const;
};

std::vector<WarmupRun> run_warmup(const WarmupOptions& options,
                                  const std::function<void(const WarmupRun&)>& on_run = {});

// Publishes `dir` whole (common.hpp: publish_folder) with runs.csv, curves.csv, loss.svg,
// val_bpc.svg and report.html.
void write_warmup_report(const std::vector<WarmupRun>& runs, const WarmupOptions& options,
                         const std::string& dir);

}  // namespace descent::experiment
