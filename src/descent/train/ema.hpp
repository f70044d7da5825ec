// An exponential moving average of a model's weights (Polyak averaging with a constant
// decay), to evaluate on averaged weights, which are often better than the last ones.
//
// timm's ModelEmaV3 (timm/utils/model_ema.py, pytorch-image-models) is the reference: the
// same decay rule, including its optional warmup of the decay (from @crowsonkb):
//   t        = update - 1                    (update counts calls, from 1)
//   decay_t  = 0                                                         for t = 0
//   decay_t  = decay                                                     without warmup
//   decay_t  = min(decay, 1 - (1 + t / warmup_gamma)^(-warmup_power))    with warmup
// and the same update, one lerp per element:
//   ema     += (1 - decay_t) * (param - ema)
// so the first update copies the weights, and with warmup the average forgets the early,
// poor weights quickly (gamma 1, power 2/3 reaches decay 0.999 after about 31.6K updates).
// Buffers (batch norm's running statistics, num_batches_tracked) are copied, not averaged,
// as ModelEmaV3 does with exclude_buffers=True: the running statistics already are averages
// (timm's ModelEmaV2 averages them a second time).
//
// ====== Intended usage ======
//   auto model = nn::build_model(spec, gen);                 // flattened
//   train::ModelEma ema(*model, {.decay = 0.999});            // starts at the current weights
//   for (...) {
//     ... backward, optimizer step ...
//     ema.update();                                         // one pass over the flat buffer
//   }
//   {
//     train::EmaWeights averaged(ema);                      // the model now holds the averages
//     train::evaluate(*model, test_set);
//   }                                                       // and its own weights again
//   checkpoint.ema = ema.state_dict();                      // saved as "ema.<name>"
//
// Storage: one buffer shaped as the model's flat parameter buffer (nn/flat.hpp), so an
// update is one vectorized, threaded pass, and swapping the averages in and out exchanges
// the two buffers' contents in place (no third copy).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/nn/module.hpp"

namespace descent::train {

struct EmaOptions {
  double decay = 0.9999;  // in (0, 1); timm's default
  bool warmup = false;    // warm the decay up as above
  double warmup_gamma = 1.0;
  double warmup_power = 2.0 / 3.0;
};

class ModelEma {
 public:
  // The model must be flattened and must outlive this object; the averages start at its
  // current weights. Throws naming the option for a decay outside (0, 1) or a warmup_gamma
  // or warmup_power <= 0.
  ModelEma(nn::Module& model, EmaOptions options = {});
  ModelEma(const ModelEma&) = delete;
  ModelEma& operator=(const ModelEma&) = delete;

  // Moves the averages towards the model's current weights and copies its buffers.
  void update();
  // decay_t of update number `update` (1-based), by the rule above.
  double decay_at(std::int64_t update) const;
  std::int64_t updates() const { return updates_; }
  const EmaOptions& options() const { return options_; }

  // The averaged weights, (total,) aligned as model.flat_parameters().params.
  const Tensor& weights() const { return weights_; }
  // Exchanges the model's weights and buffers with the averages (in place, one pass); a
  // second call exchanges them back. Prefer EmaWeights, which cannot forget the second.
  void swap();
  bool swapped() const { return swapped_; }

  // The averages under the model's state-dict names (parameters as views of the average
  // buffer, buffers as the copies), to save with a checkpoint.
  nn::StateDict state_dict() const;
  // Loads averages saved by state_dict() and the update count; checks every name and shape
  // first and changes nothing when one differs.
  void load_state_dict(const nn::StateDict& dict, std::int64_t updates);

 private:
  nn::Module& model_;
  EmaOptions options_;
  Tensor weights_;                                       // (total,)
  std::vector<std::pair<std::string, Tensor>> buffers_;  // copies of the model's buffers
  std::vector<Tensor> live_buffers_;                     // the model's own, in that order
  std::int64_t updates_ = 0;
  bool swapped_ = false;
};

// While it lives, the model holds the averaged weights (and the buffers saved with them).
class EmaWeights {
 public:
  explicit EmaWeights(ModelEma& ema);
  ~EmaWeights();
  EmaWeights(const EmaWeights&) = delete;
  EmaWeights& operator=(const EmaWeights&) = delete;

 private:
  ModelEma& ema_;
};

}  // namespace descent::train
