// Autocast: the GEMM-bound ops in 16 bits with f32 accumulation (Micikevicius et al. 2018,
// "Mixed Precision Training"; PyTorch's CPU autocast,
// https://pytorch.org/docs/1.13/amp.html#cpu-ops-that-can-autocast-to-bfloat16, runs linear,
// matmul and conv2d so).
//
// ====== Intended usage ======
//   {
//     ops::AutocastGuard autocast(DType::bf16);   // this thread, until the guard goes
//     Tensor loss = ops::cross_entropy(model.forward(x), y);   // linear/matmul/conv2d in bf16
//     loss.backward();                             // their backward in bf16 too
//   }
//   // with master weights: parameters that are views of `master` (a model's flat f32
//   // buffer) read their rounded copy from `low` (amp::MasterWeights) instead of rounding
//   ops::AutocastGuard autocast(DType::bf16, flat.params, low.copy());
//   // the 16-bit ops directly, whatever the autocast state:
//   Tensor y = ops::linear_mixed(x, weight, bias, DType::f16);
//
// Under a guard with compute = bf16 or f16, ops::linear, ops::matmul and ops::conv2d with
// f32 operands run as the *_mixed ops below; f64 and the other ops compute as without a
// guard (batch norm, softmax, cross-entropy, reductions and the loss stay f32, as in
// PyTorch). What the forward saves for backward is 16-bit where rounding it costs little:
// the mixed ops' inputs, relu's output and batch_norm's input (autocast_saved);
// max_pool2d keeps one byte per output in any mode.
//
// The mixed ops. Forward: the inputs are rounded to `compute` (nearest even); every product
// and sum is f32; the output is f32. The inputs saved for backward are the rounded copies:
// half the memory of f32 (with relu before them saving the same copy, see autocast_saved).
// Backward: the incoming gradient is rounded to `compute` as well (where fp16's range matters:
// small gradients underflow to zero without loss scaling, large ones overflow to Inf, which the
// GradScaler then finds), and the input and weight gradients run in the same 16-bit kernels, coming
// out f32 (the master weights' gradients are f32); bias gradients are f32 sums of the f32 gradient.
// compute = f32 gives the plain ops.
#pragma once

#include <cstdint>

#include "descent/core/tensor.hpp"
#include "descent/ops/conv.hpp"

namespace descent::ops {

// ---- the autocast state (per thread) ----

// The dtype the GEMM-bound ops compute in on this thread: f32 when autocast is off.
DType autocast_dtype();

// What a GEMM-bound op on a and b computes in: autocast_dtype() when both are defined f32
// tensors (the ops then take their mixed-precision path), else f32 (their own path, which
// checks its inputs).
DType autocast_dtype_for(const Tensor& a, const Tensor& b);

class AutocastGuard {
 public:
  // compute: f32 (autocast off inside the guard), bf16 or f16; Error otherwise.
  explicit AutocastGuard(DType compute);
  // Also: a parameter that is a view of `master` (f32) is read from the same elements of
  // `low` (same shape as master, in `compute`) instead of being rounded at each use.
  AutocastGuard(DType compute, const Tensor& master, const Tensor& low);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  DType previous_dtype_;
  Tensor previous_master_;
  Tensor previous_low_;
};

// The rounded copy of `weight` under the current guard: a view of the guard's `low` when
// weight is a view of its master, else an undefined tensor.
Tensor autocast_low_copy(const Tensor& weight);

// What an op saves of an f32 activation for its backward: under a bf16/f16 guard the
// activation rounded to 16 bits (and the mixed op it feeds reuses that copy: one 16-bit copy
// instead of an f32 tensor and a 16-bit one), otherwise the activation itself (detached).
// The guard does not hold the copy: it is freed when the backward closures that saved it go.
// ops::relu saves its output so: its backward needs only the sign, which rounding keeps
// (except fp16's flush of positives below 2^-25 to zero). ops::batch_norm saves its input
// so: its backward reads x - mean, off by at most |x| u (u = 2^-8 bf16, 2^-11 f16), while
// the statistics come from the f32 x.
Tensor autocast_saved(const Tensor& activation);
// The same, for an op that has rounded its f32 output itself in the pass that wrote it
// (`low` is `activation` rounded to the guard's dtype): kept for the next mixed op to reuse,
// as autocast_saved would, without a second pass. Outside a bf16/f16 guard, or for another
// dtype, it is autocast_saved(activation).
Tensor autocast_saved(const Tensor& activation, const Tensor& low);

// ---- underflow and overflow of the gradients rounded to 16 bits ----
// Counted (over all threads) while enabled: every gradient element a mixed op's backward
// rounds to `compute`. The evidence of Micikevicius et al.'s figure 3: the share of nonzero
// gradient values that fp16 flushes to zero.
struct RoundingCounts {
  std::int64_t values = 0;      // elements rounded
  std::int64_t nonzero = 0;     // nonzero in f32
  std::int64_t flushed = 0;     // nonzero in f32, zero in 16 bits (underflow)
  std::int64_t overflowed = 0;  // finite in f32, infinite in 16 bits
};
// The switch is process-wide; code that turns it on for a while (the Trainer, for fp16 runs)
// holds a CountGradientRoundingGuard, which gives the previous setting back when it ends.
void count_gradient_rounding(bool enabled);
bool counting_gradient_rounding();
RoundingCounts gradient_rounding_counts();
void reset_gradient_rounding_counts();

class CountGradientRoundingGuard {
 public:
  explicit CountGradientRoundingGuard(bool enabled) : previous_(counting_gradient_rounding()) {
    count_gradient_rounding(enabled);
  }
  ~CountGradientRoundingGuard() { count_gradient_rounding(previous_); }
  CountGradientRoundingGuard(const CountGradientRoundingGuard&) = delete;
  CountGradientRoundingGuard& operator=(const CountGradientRoundingGuard&) = delete;

 private:
  bool previous_;
};

// ---- the mixed ops ----

// y = x @ weight^T + bias. x (..., in) f32 (or already in `compute`), weight (out, in) f32,
// bias (out) f32 or undefined (compute f32: ops::linear, even under a guard). `weight_low`, when
// given, is weight already rounded to `compute` (shape (out, in)); otherwise weight is rounded
// here.
Tensor linear_mixed(const Tensor& x, const Tensor& weight, const Tensor& bias, DType compute,
                    const Tensor& weight_low = Tensor());

// relu(linear_mixed(x, weight, bias, compute, weight_low)), in one op: with bf16 on descent's
// own GEMM kernel, the GEMM's store applies the relu and writes the output's bf16 copy (what
// the next mixed op reads and backward keeps), and backward masks, rounds and sums the
// gradient in one pass; elsewhere the two ops, composed.
Tensor linear_relu_mixed(const Tensor& x, const Tensor& weight, const Tensor& bias, DType compute,
                         const Tensor& weight_low = Tensor());

// a (..., M, K) @ b (..., K, N) or b (K, N), f32 (or already in `compute`), batch dims as
// ops::matmul; the result is f32.
Tensor matmul_mixed(const Tensor& a, const Tensor& b, DType compute);

// conv2d (as ops::conv2d) with x (N, C, H, W) f32 (or in `compute`), weight (O, C, KH, KW)
// f32, bias (O) f32 or undefined; `weight_low` as in linear_mixed; the result is f32.
// kernels::conv2d_forward_mixed says which kernel runs.
Tensor conv2d_mixed(const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Conv2dOptions& options, DType compute,
                    const Tensor& weight_low = Tensor());

}  // namespace descent::ops
