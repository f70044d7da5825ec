// Dynamic loss scaling for fp16 training.
//
// Micikevicius et al. 2018, "Mixed Precision Training" (section 3.2: scale the loss so that
// small gradients do not underflow in fp16; skip the steps whose gradients overflow);
// PyTorch 1.13 torch.cuda.amp.GradScaler
// (https://pytorch.org/docs/1.13/amp.html#gradient-scaling), whose defaults, update rule,
// state dict and errors these are.
//
// ====== Intended usage ======
//   amp::GradScaler scaler;                           // scale 2^16, x2 after 2000 clean steps
//   for (...) {
//     opt.zero_grad();
//     scaler.scale(loss).backward();                  // gradients = scale * true gradients
//     amp::Unscaled u = scaler.unscale_(opt, {.max_norm = 1.0});  // optional: clip
//     scaler.step(opt);                               // skipped when u.found_inf
//     scaler.update();                                // x0.5 on inf/NaN, x2 after 2000 clean
//   }
//   StateDict saved = scaler.state_dict();            // "scale", "_growth_tracker", ...
//
// One pass per step (DESIGN.md). PyTorch's unscale_ multiplies every gradient by 1/scale
// and clip_grad_norm_ then reads and scales them again. Here unscale_ only reads: one
// reduction over the gradients gives their global norm and whether any is Inf or NaN; the
// factor (1/scale) * clip and the skip flag go to the optimizer, whose own pass applies
// them (optim::StepOptions). So after unscale_ the gradients in memory are still scaled:
// clip through unscale_'s max_norm, not with clip::clip_grad_norm_. To have them unscaled
// in place (to read them, or for clip_grad_value_), pass .in_place = true (one more pass).
//
// The scale is a f32 value, as PyTorch keeps it; with the default factors it stays a power
// of two, so unscaling is exact. A disabled scaler (.enabled = false, for fp32 and bf16
// runs) leaves the loss alone and never skips, but still clips through unscale_, so the
// loop above serves every precision unchanged.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/optim/optimizer.hpp"

namespace descent::amp {

struct GradScalerOptions {
  double init_scale = 65536.0;          // 2^16
  double growth_factor = 2.0;           // > 1
  double backoff_factor = 0.5;          // in (0, 1)
  std::int64_t growth_interval = 2000;  // clean steps before the scale grows
  bool enabled = true;
};

struct UnscaleOptions {
  // Clip the unscaled gradients' global norm to this, as clip::clip_grad_norm_ does
  // (infinity: no clipping).
  double max_norm = std::numeric_limits<double>::infinity();
  double norm_type = 2.0;  // > 0, or infinity for the largest |g|
  // Also multiply the gradients by 1/scale in memory, as PyTorch's unscale_ does.
  bool in_place = false;
};

// What unscale_ found.
struct Unscaled {
  double total_norm;  // global norm of the unscaled gradients (Inf or NaN when found_inf)
  double clip;        // min(1, max_norm / (total_norm + 1e-6)); 1 when not clipping or found_inf
  bool found_inf;     // some gradient is Inf or NaN: step() will skip
};

class GradScaler {
 public:
  // Throws Error naming the field for an option out of range.
  explicit GradScaler(const GradScalerOptions& options = {});

  // loss * scale (differentiable), or loss itself when disabled.
  Tensor scale(const Tensor& loss) const;

  // Reads the gradients of `optimizer`'s parameters once: their global norm and the
  // inf/NaN check. At most once per optimizer between update()s, and not after step()
  // (Error, as in PyTorch).
  Unscaled unscale_(optim::Optimizer& optimizer, const UnscaleOptions& options = {});

  // optimizer.step() with grad_scale = clip / scale, skipped if an Inf or NaN was found.
  // Calls unscale_ first if it was not called this step. Once per optimizer between
  // update()s. Returns whether the optimizer stepped.
  bool step(optim::Optimizer& optimizer);

  // The end of a step: scale *= backoff_factor if any optimizer found Inf/NaN (and the
  // count of clean steps restarts); otherwise count a clean step and, at growth_interval
  // of them in a row, scale *= growth_factor (unless that overflows f32). Needs an
  // unscale_ or step since the last update (Error otherwise).
  void update();
  // Sets the scale (finite, > 0) instead of the rule above.
  void update(double new_scale);

  // The current scale (1 when disabled), PyTorch's get_scale().
  double get_scale() const;
  // Clean steps in a row since the scale last changed or an overflow was found.
  std::int64_t growth_tracker() const { return growth_tracker_; }
  // Whether the last update() saw an Inf or NaN.
  bool found_inf() const { return last_found_inf_; }
  bool is_enabled() const { return options_.enabled; }
  const GradScalerOptions& options() const { return options_; }

  // PyTorch's five entries, f64 scalars: "scale", "growth_factor", "backoff_factor",
  // "growth_interval", "_growth_tracker". Empty when disabled (as PyTorch).
  optim::StateDict state_dict() const;
  // Checks every entry first (a non-finite or non-positive scale, say from a corrupted
  // checkpoint, is an Error) and changes nothing on failure. A no-op when disabled.
  void load_state_dict(const optim::StateDict& dict);

 private:
  enum class Stage { ready, unscaled, stepped };
  struct PerOptimizer {
    Stage stage = Stage::ready;
    bool found_inf = false;
    float grad_scale = 1.0f;  // what step() passes: clip / scale (clip alone if in place)
  };

  GradScalerOptions options_;
  float scale_;
  std::int64_t growth_tracker_ = 0;
  bool last_found_inf_ = false;
  // Per optimizer, for this step only (cleared by update()). Keyed by address: the
  // scaler never reads through the key.
  std::map<const optim::Optimizer*, PerOptimizer> per_optimizer_;
  std::vector<double> partial_;  // per-chunk sums of the reduction, reused
};

}  // namespace descent::amp
