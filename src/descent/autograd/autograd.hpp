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

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::autograd {

using Grads = std::vector<Tensor>;
struct Node;
// Returns one gradient per input (an undefined tensor where node.needs_grad(i) is false).
using BackwardFn = std::function<Grads(const Tensor& grad_output, const Node& node)>;

struct Node {
  std::string name;
  // Undefined where the input does not require grad; a leaf itself; an intermediate as its
  // shape, dtype and grad_fn only (no storage: the graph keeps no activation alive that no
  // op saved).
  std::vector<Tensor> inputs;
  BackwardFn backward;         // reset after backward() unless the graph is retained
  bool needs_grad(std::size_t input) const {
    return input < inputs.size() && inputs[input].defined();
  }
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

// Attaches the op's node to `output` (when should_record) and returns it.
Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs,
              BackwardFn backward);

// True when every element is finite (f32/f64; other dtypes are always finite).
bool all_finite(const Tensor& t);

}  // namespace descent::autograd
