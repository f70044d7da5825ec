// Precision policy and master weights for mixed-precision training.
//
// Micikevicius et al. 2018, "Mixed Precision Training": keep an f32 master copy of the
// weights for the update, compute the GEMM-bound ops in 16 bits with f32 accumulation, scale
// the loss (fp16 only). PyTorch's CPU autocast (https://pytorch.org/docs/1.13/amp.html#cpu-ops-
// that-can-autocast-to-bfloat16) draws the same line: linear, matmul and conv2d in bf16;
// batch norm, softmax, cross-entropy, reductions and the loss in f32.
//
// ====== Intended usage ======
//   amp::PrecisionPolicy policy{amp::parse_precision("bf16")};   // --precision bf16
//   nn::FlatParameters& flat = nn::flatten_parameters(model);     // f32: the master weights
//   amp::MasterWeights low(flat.params, policy.compute_dtype());  // a bf16 copy
//   amp::GradScaler scaler(policy.scaler_options());              // enabled for fp16 only
//   for (...) {
//     // ops::AutocastGuard autocast(policy.compute_dtype(), flat.params, low.copy());
//     scaler.scale(loss).backward();                 // f32 gradients of the master weights
//     scaler.step(opt);                              // the optimizer updates the f32 master
//     scaler.update();
//     low.refresh();                                 // one rounding pass over the buffer
//   }
// A checkpoint holds the f32 master weights only, so it resumes in any precision: build
// MasterWeights (or call refresh()) after loading.
#pragma once

#include <cstdint>
#include <string_view>

#include "descent/amp/grad_scaler.hpp"
#include "descent/core/tensor.hpp"

namespace descent::amp {

enum class Precision : std::uint8_t { fp32, bf16, fp16 };

// "fp32", "bf16", "fp16" (the --precision values); anything else throws Error naming it.
Precision parse_precision(std::string_view text);
std::string_view precision_name(Precision precision);

struct PrecisionPolicy {
  Precision precision = Precision::fp32;

  // The dtype of the GEMM-bound ops' inputs: f32, bf16 or f16.
  DType compute_dtype() const;
  bool is_low_precision() const { return precision != Precision::fp32; }
  // The loss scaler's options: PyTorch's defaults, enabled for fp16 only (bf16 has f32's
  // exponent range, so its gradients do not underflow sooner than f32's).
  GradScalerOptions scaler_options() const;
};

// A 16-bit copy of f32 master weights (a model's flat parameter buffer, or any f32 tensor),
// refreshed on demand. The copy has the master's shape; parameters are views into it at
// the same offsets as in the master.
class MasterWeights {
 public:
  // `compute` is bf16 or f16. The copy is filled at once.
  MasterWeights(const Tensor& master, DType compute);

  // copy = master rounded to nearest even: after every optimizer step, and after loading
  // weights into the master.
  void refresh();

  const Tensor& master() const { return master_; }
  const Tensor& copy() const { return copy_; }
  // A parameter inside the copy: `shape` starting `element_offset` elements in (an
  // nn::ParamRange's offset and shape).
  Tensor view(std::int64_t element_offset, const Shape& shape) const;

 private:
  Tensor master_;
  Tensor copy_;
};

}  // namespace descent::amp
