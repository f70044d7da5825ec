// Define-by-run reverse-mode autograd.
//
// Every differentiable op computes its result, then calls record(), which (when grad mode
// is on and an input requires grad) attaches a Node holding the op's name, its inputs and a
// backward function. Tensor::backward() walks the recorded graph in reverse topological
// order, calling each node's backward once with the summed gradient of its output, and
// accumulates into the .grad of leaves that require grad.
//
// ====== Writing an op ======
//   Tensor relu(const Tensor& x) {
//     Tensor out = ...forward...;
//     return autograd::record("relu", out, {x},
//         [x = x.detach()](const Tensor& grad, const autograd::Node&) {
//           return autograd::Grads{...d out / d x applied to grad...};
//         });
//   }
// Backward functions run with grad mode off, so they may call ops freely. Capture
// detach()ed tensors (never the output itself), so that the graph holds no cycle.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "descent/core/pool.hpp"
#include "descent/core/tensor.hpp"

namespace descent::autograd {

// Lists of tensors whose blocks come from the small-object pool (core/pool.hpp).
using TensorList = std::vector<Tensor, pool::Allocator<Tensor>>;
using Grads = TensorList;
struct Node;

// Returns one gradient per input (an undefined tensor where node.needs_grad(i) is false).
// A move-only std::function for that signature that keeps closures of up to kInline bytes in
// itself and larger ones in the small-object pool: recording an op allocates nothing from
// the heap once a training loop runs in steady state.
class BackwardFn {
 public:
  static constexpr std::size_t kInline = 112;

  BackwardFn() noexcept = default;
  BackwardFn(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor)
  template <typename F,
            typename = std::enable_if_t<
                !std::is_same_v<std::decay_t<F>, BackwardFn> &&
                std::is_invocable_r_v<Grads, std::decay_t<F>&, const Tensor&, const Node&>>>
  BackwardFn(F&& f) {  // NOLINT(google-explicit-constructor)
    using Fn = std::decay_t<F>;
    static_assert(alignof(Fn) <= alignof(std::max_align_t), "BackwardFn: over-aligned closure");
    if constexpr (fits_inline<Fn>) {
      object_ = ::new (static_cast<void*>(buffer_)) Fn(std::forward<F>(f));
    } else {
      void* block = pool::allocate(sizeof(Fn));
      try {
        object_ = ::new (block) Fn(std::forward<F>(f));
      } catch (...) {
        pool::deallocate(block, sizeof(Fn));
        throw;
      }
    }
    ops_ = &kOps<Fn>;
  }
  BackwardFn(BackwardFn&& other) noexcept { take(other); }
  BackwardFn& operator=(BackwardFn&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  BackwardFn& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  BackwardFn(const BackwardFn&) = delete;
  BackwardFn& operator=(const BackwardFn&) = delete;
  ~BackwardFn() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  friend bool operator==(const BackwardFn& f, std::nullptr_t) noexcept { return !f; }
  Grads operator()(const Tensor& grad_output, const Node& node) const {
    return ops_->invoke(object_, grad_output, node);
  }

 private:
  // Kept in the buffer: small closures that move without throwing (moving a BackwardFn
  // cannot throw).
  template <typename Fn>
  static constexpr bool fits_inline =
      sizeof(Fn) <= kInline&& std::is_nothrow_move_constructible_v<Fn>;
  struct Ops {
    Grads (*invoke)(void*, const Tensor&, const Node&);
    void (*destroy)(void*, bool inline_object) noexcept;
    void* (*move_to)(void* from, void* buffer) noexcept;  // inline objects only
  };
  template <typename Fn>
  static constexpr Ops kOps = {
      [](void* f, const Tensor& g, const Node& n) -> Grads { return (*static_cast<Fn*>(f))(g, n); },
      [](void* f, bool inline_object) noexcept {
        static_cast<Fn*>(f)->~Fn();
        if (!inline_object) pool::deallocate(f, sizeof(Fn));
      },
      [](void* from, void* buffer) noexcept -> void* {
        if constexpr (fits_inline<Fn>) {
          Fn* moved = ::new (buffer) Fn(std::move(*static_cast<Fn*>(from)));
          static_cast<Fn*>(from)->~Fn();
          return moved;
        } else {
          return from;
        }
      }};

  bool is_inline() const noexcept { return object_ == static_cast<const void*>(buffer_); }
  void reset() noexcept {
    if (ops_ != nullptr) ops_->destroy(object_, is_inline());
    ops_ = nullptr;
    object_ = nullptr;
  }
  void take(BackwardFn& other) noexcept {
    if (other.ops_ == nullptr) return;
    ops_ = other.ops_;
    object_ = other.is_inline() ? ops_->move_to(other.object_, buffer_) : other.object_;
    other.ops_ = nullptr;
    other.object_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char buffer_[kInline];
  void* object_ = nullptr;
  const Ops* ops_ = nullptr;
};

struct Node {
  const char* name = "";  // the op's name (a string literal)
  // Undefined where the input does not require grad; a leaf itself; an intermediate as its
  // shape, dtype and grad_fn only (no storage: the graph keeps no activation alive that no
  // op saved).
  TensorList inputs;
  BackwardFn backward;  // reset after backward() unless the graph is retained
  bool needs_grad(std::size_t input) const {
    return input < inputs.size() && inputs[input].defined();
  }
  // For a backward function: the gradient buffer of input `input` when that input is a leaf
  // already holding a gradient of its own shape and dtype (a model's flat gradient buffer
  // gives every parameter one), so that the backward can add its gradient into it in place
  // (say, a GEMM with beta = 1) and return this same tensor for the input; the engine then
  // adds nothing. An undefined tensor otherwise, and in anomaly mode (which checks each op's
  // own gradient).
  Tensor accumulation_buffer(std::size_t input) const;

  // Bookkeeping of Tensor::backward (not for ops): the walk that last visited this node and
  // the gradient summed for its output so far.
  std::uint64_t visited_by = 0;
  Tensor pending_grad;
};

// Grad mode: when off, ops record nothing.
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Anomaly mode: every recorded op checks its output, and backward checks every gradient it
// computes; the first non-finite value throws Error naming the op.
bool anomaly_enabled();
class AnomalyGuard {
 public:
  explicit AnomalyGuard(bool enabled = true);
  ~AnomalyGuard();
  AnomalyGuard(const AnomalyGuard&) = delete;
  AnomalyGuard& operator=(const AnomalyGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any of the inputs requires grad.
bool should_record(std::initializer_list<const Tensor*> inputs);

// Attaches the op's node to `output` (when should_record) and returns it. `name` must outlive
// the graph (a string literal).
Tensor record(const char* name, Tensor output, std::span<const Tensor> inputs, BackwardFn backward);
inline Tensor record(const char* name, Tensor output, std::initializer_list<Tensor> inputs,
                     BackwardFn backward) {
  return record(name, std::move(output), std::span<const Tensor>(inputs.begin(), inputs.size()),
                std::move(backward));
}

// True when every element is finite (f32/f64; other dtypes are always finite).
bool all_finite(const Tensor& t);

}  // namespace descent::autograd
