// Checkpoints: a model's weights under PyTorch's names, the optimizer's state and what an
// exact resume needs, in one safetensors file (see safetensors.hpp), written atomically.
//
// ====== Intended usage ======
//   train::Checkpoint ckpt = train::capture(*model, &optimizer);
//   ckpt.metadata["step"] = "1200";
//   train::save_checkpoint("runs/a/last.safetensors", ckpt);
//
//   train::Checkpoint back = train::load_checkpoint("runs/a/last.safetensors");
//   train::restore(back, *model, &optimizer);   // strict: every name, shape and state entry
//
// Inside the file:
//   "conv1.weight", "bn1.running_mean", "bn1.num_batches_tracked", ...  the model's
//       state_dict() with PyTorch's names, dtypes and shapes
//   "optimizer.state.0.momentum_buffer", "optimizer.param_groups.0.lr", ...  the optimizer's
//       state_dict() (state.<i> is the i-th parameter of named_parameters(), as in PyTorch)
//   "ema.conv1.weight", "ema.bn1.running_mean", ...  when the run keeps an average of the
//       weights (ema.hpp): a second model state dict under the same names
//   __metadata__: "format" = "descent-checkpoint-1", "optimizer" = "SGD", the RNG streams of
//       the model's dropout layers ("rng.<layer path>" = "<seed> <offset>"), and whatever the
//       caller adds (the trainer adds step, epoch, the loader's position and the run's
//       configuration).
// In PyTorch:
//   from safetensors.torch import load_file
//   sd = load_file("last.safetensors")
//   model.load_state_dict({k: v for k, v in sd.items() if not k.startswith(("optimizer.",
//   "ema."))}) ema_model.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("ema.")})
#pragma once

#include <string>

#include "descent/nn/module.hpp"
#include "descent/optim/optimizer.hpp"
#include "descent/train/safetensors.hpp"

namespace descent::train {

inline constexpr const char* kCheckpointFormat = "descent-checkpoint-1";
inline constexpr const char* kOptimizerPrefix = "optimizer.";
inline constexpr const char* kEmaPrefix = "ema.";

struct Checkpoint {
  nn::StateDict model;
  optim::StateDict optimizer;  // empty when saved without an optimizer
  nn::StateDict ema;           // the average of the weights (train::ModelEma); often empty
  Metadata metadata;
  std::string path;  // the file it was loaded from, for messages; empty otherwise
};

// The model's state dict, the optimizer's (when given) and the RNG streams of the model's
// dropout layers. The tensors share memory with the model and optimizer: save before the
// next step.
Checkpoint capture(nn::Module& model, const optim::Optimizer* optimizer = nullptr);

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint,
                     const SaveOptions& options = {});

// Reads and checks the file (as load_safetensors) and that it is a descent checkpoint.
Checkpoint load_checkpoint(const std::string& path);

// Loads weights, buffers and RNG streams into `model` and, when given, the optimizer's
// state. Checks everything before changing anything; errors name the checkpoint's file and
// say what differs (missing or unexpected names, shapes, another optimizer).
void restore(const Checkpoint& checkpoint, nn::Module& model,
             optim::Optimizer* optimizer = nullptr);

// A metadata entry, or an Error naming the checkpoint and the key.
const std::string& metadata_at(const Checkpoint& checkpoint, const std::string& key);
// A metadata entry read as an integer; throws naming the key when it is absent or malformed.
std::int64_t metadata_int(const Checkpoint& checkpoint, const std::string& key);

}  // namespace descent::train
