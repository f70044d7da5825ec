// Image classification runs on Fashion-MNIST that the batchnorm, optimizers, schedules and
// depth experiments share: the data (normalized once, subsets by count), one training run
// (model and optimizer by name, a schedule, a step budget) with periodic evaluation on fixed
// subsets, and the folder that a report is published into.
//
// ====== Intended usage ======
//   experiment::ImageData data = experiment::load_image_data({.train_size = 10000,
//                                                             .test_size = 2000});
//   landscape::EvalSet train_eval(data.train, {.size = 2000});
//   landscape::EvalSet test_eval(data.test);
//   experiment::ClassifierRun run = experiment::train_classifier(
//       {.model = "cnn,bn=0", .optimizer = "sgd", .lr = 0.1, .steps = 1000},
//       data.train, train_eval, test_eval);
//   run.evals.back().test_accuracy;  // and run.model, the trained network
//
// A run trains in train() mode on shuffled batches (a fresh permutation per epoch, seeded by
// the run's seed; the last partial batch of an epoch is dropped) and stops early when its
// batch loss is not finite or exceeds `divergence_loss`: it "diverged", and its parameters
// are garbage from then on. Evaluations use EvalSet::evaluate (eval() mode, no-grad).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "descent/data/dataset.hpp"
#include "descent/landscape/eval_set.hpp"
#include "descent/nn/module.hpp"
#include "descent/optim/optimizer.hpp"
#include "descent/schedule/schedule.hpp"

namespace descent::experiment {

struct ImageDataOptions {
  std::string root = "";  // Fashion-MNIST's folder; empty: the usual search (fashion_mnist.hpp)
  std::int64_t train_size = 0;       // the first N training examples; 0: all of them
  std::int64_t validation_size = 0;  // held out from the END of the training file; 0: none
  std::int64_t test_size = 0;        // the first N test examples; 0: all 10,000
};

struct ImageData {
  data::TensorDataset train;       // inputs (N, 1, 28, 28) f32, normalized; targets (N) i64
  data::TensorDataset validation;  // empty without validation_size
  data::TensorDataset test;
  std::string description;  // "Fashion-MNIST: 10000 train, 2000 test examples"
};

// Loads Fashion-MNIST and normalizes every image once with the usual mean and std (so no
// transform runs per batch). Throws descent::Error when the files are missing or a size is
// negative or larger than the split.
ImageData load_image_data(const ImageDataOptions& options = {});

struct ClassifierSpec {
  std::string model = "cnn";                // nn::ModelSpec text, e.g. "resnet56,skip=0"
  std::string optimizer = "sgd";            // optim registry name
  optim::OptionMap optimizer_options = {};  // besides lr, e.g. {{"momentum", "0.9"}}
  double lr = 0.05;                         // the base learning rate
  std::optional<schedule::Schedule> schedule = std::nullopt;  // per step; none: constant
  std::int64_t steps = 1000;
  std::int64_t batch = 128;
  std::uint64_t seed = 0;         // weights and batch order
  std::int64_t eval_every = 100;  // and at the last step
  double divergence_loss = 6.9;   // 3 x ln(10): three times a uniform guess's loss
  double target_accuracy = 0.0;   // steps_to_target: first evaluation with this test accuracy
  std::function<void(std::int64_t step, std::int64_t steps)> progress = nullptr;
};

struct EvalPoint {
  std::int64_t step = 0;  // steps taken
  double train_loss = 0.0;
  double train_accuracy = 0.0;
  double test_loss = 0.0;  // on the held-out set given (test or validation)
  double test_accuracy = 0.0;
};

struct ClassifierRun {
  std::vector<double> loss = {};  // the batch loss at each step taken
  std::vector<double> lr = {};    // the lr at each step
  std::vector<EvalPoint> evals = {};
  bool diverged = false;
  std::int64_t diverged_at = -1;
  std::int64_t steps_to_target = -1;  // -1: never reached (at the evaluation resolution)
  double seconds = 0.0;
  std::shared_ptr<nn::Module> model = nullptr;  // the network as trained

  // The last evaluation's test accuracy (0 when diverged or never evaluated).
  double final_test_accuracy() const;
  double final_train_accuracy() const;
};

// Throws descent::Error naming the field for a bad spec (unknown model or optimizer, steps,
// batch or eval_every < 1, lr not positive and finite) or mismatched data.
ClassifierRun train_classifier(const ClassifierSpec& spec, const data::TensorDataset& train,
                               const landscape::EvalSet& train_eval,
                               const landscape::EvalSet& test_eval);

// The largest step budget an experiment accepts (beyond it a run would take days: a typo).
inline constexpr std::int64_t kMaxSteps = 1'000'000;

}  // namespace descent::experiment
