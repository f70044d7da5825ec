// From a RunConfig to the objects of a run: data, model, optimizer, schedule.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "descent/cli/config.hpp"
#include "descent/data/dataset.hpp"
#include "descent/data/transforms.hpp"
#include "descent/nn/module.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/optim/optimizer.hpp"
#include "descent/schedule/schedule.hpp"
#include "descent/train/checkpoint.hpp"
#include "descent/train/trainer.hpp"

namespace descent::cli {

// The optimizer of the default recipe, and its settings when the flags leave them unset.
inline constexpr const char* kRecipeOptimizer = "sgd";
inline constexpr double kRecipeLr = 0.05;
inline constexpr double kRecipeMomentum = 0.9;
inline constexpr double kRecipeWeightDecay = 5e-4;

struct RunData {
  std::shared_ptr<const data::TensorDataset> train;
  std::shared_ptr<const data::TensorDataset> validation;  // empty (0 examples) without val_split
  std::shared_ptr<const data::TensorDataset> test;
  std::vector<std::shared_ptr<const data::Transform>>
      train_transforms;  // augmentation, then normalization
  std::vector<std::shared_ptr<const data::Transform>> eval_transforms;  // normalization
  std::int64_t classes = 0;     // classification: classes; text: the alphabet's size
  std::int64_t vocab_size = 0;  // text only
  std::string description;      // "Fashion-MNIST (60000 train, 10000 test)"
};

// Checks the data spec (UsageError) before anything is loaded.
void check_data_spec(const std::string& spec, const std::string& origin);

// Applies the run configuration a checkpoint was trained with (its metadata "config"); a
// checkpoint without one, or with invalid JSON, throws naming the file.
void apply_checkpoint_config(const train::Checkpoint& checkpoint, RunConfig& config,
                             Origins& origins);
// Loads or generates the data; file errors throw descent::Error.
RunData load_data(const RunConfig& config, const Origins& origins);

// UsageError naming the data flag unless the data is classification (class labels): for the
// commands that measure accuracy and cross-entropy only (`command` names them).
void require_classification(const RunData& data, const RunConfig& config, const Origins& origins,
                            const std::string& command);

// Fills in what the config leaves to defaults (model for the data, the recipe's or the
// optimizer's lr, momentum and weight decay) and checks every value, throwing UsageError
// naming the flag or key.
void resolve(RunConfig& config, const Origins& origins);

// config.model, or when it is empty the default for the data: cnn on fashion-mnist, lstm:64 on
// adding and temporal, transformer on text, mlp:<features>-64-64-<classes> otherwise. What the
// data decides is filled in where the spec leaves it out: input=<T>x<F> and outputs=<K> of
// rnn, lstm and gru; vocab=<alphabet> and len=<T> of transformer.
std::string model_for_data(const RunConfig& config, const RunData& data);

// The model spec of `config.model` (UsageError naming the flag when it does not parse).
nn::ModelSpec model_spec(const RunConfig& config, const Origins& origins);
// Builds the model from config.seed and checks that it maps the data's examples to
// `classes` outputs (UsageError otherwise).
std::shared_ptr<nn::Module> build_model(const RunConfig& config, const Origins& origins,
                                        const data::Dataset& data, std::int64_t classes);

std::unique_ptr<optim::Optimizer> build_optimizer(const RunConfig& config, const Origins& origins,
                                                  nn::Module& model);

// The lr schedule over `horizon` steps or epochs (as config.schedule_unit says), from
// config.schedule and the schedule's flags (--min-lr, --gamma, ...), which fill in the spec's
// options or must agree with them. Empty for a constant lr. Warmup is not part of it: the
// trainer multiplies the schedule's lr by warmup(config.warmup_steps) (train::Trainer).
std::optional<schedule::Schedule> build_schedule(const RunConfig& config, const Origins& origins,
                                                 std::int64_t horizon);
// UsageError naming --warmup-steps when the warmup is longer than the run.
void check_warmup(const RunConfig& config, const Origins& origins, std::int64_t total_steps);

}  // namespace descent::cli
