// A fixed evaluation subset: the data every landscape instrument measures on.
//
// ====== Intended usage ======
//   landscape::EvalSet subset(test_set, {.size = 512, .transforms = eval_transforms});
//   landscape::Metrics at_minimum = subset.evaluate(*model);     // loss and accuracy
//   double loss = subset.gradient(*model);                        // fills flat.grads
//
// The examples are loaded once, with their transforms applied once, and kept in memory, so
// that two points of a scan (or two gradients of a Hessian-vector product) differ only in
// the weights. evaluate() runs in eval() mode under no-grad; gradient() runs in eval() mode
// with grad on, so that batch norm uses its running statistics and the loss is one fixed,
// deterministic function of the weights (as PyHessian measures it). Both restore the model's
// mode. The loss is the mean cross-entropy over the whole subset (not a mean of batch means).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "descent/data/dataset.hpp"
#include "descent/data/transforms.hpp"
#include "descent/nn/module.hpp"

namespace descent::landscape {

struct EvalSetOptions {
  std::int64_t size = 0;          // the first `size` examples; 0: all of them
  std::int64_t batch_size = 500;  // examples per forward pass (memory, not results)
  std::vector<std::shared_ptr<const data::Transform>> transforms = {};  // e.g. normalization
};

struct Metrics {
  double loss = 0.0;      // mean cross-entropy
  double accuracy = 0.0;  // fraction in [0, 1]
};

class EvalSet {
 public:
  // Targets must be class labels (N) i64; `size` may not exceed the dataset's size.
  EvalSet(const data::Dataset& dataset, const EvalSetOptions& options = {});

  std::int64_t size() const { return size_; }
  const Tensor& inputs() const { return inputs_; }    // (N, ...) transformed
  const Tensor& targets() const { return targets_; }  // (N) i64

  // Loss and accuracy at the model's current weights. The model must be flattened.
  Metrics evaluate(nn::Module& model) const;
  // Zeros the model's gradients, then sets them (model.flat_parameters().grads) to the
  // gradient of the mean loss over the subset; returns that loss.
  double gradient(nn::Module& model) const;

 private:
  // The inputs in the dtype of the model's parameters (a converted copy for f64 models).
  Tensor inputs_for(const nn::Module& model, const char* op) const;

  Tensor inputs_;   // (N, ...)
  Tensor targets_;  // (N)
  std::int64_t size_ = 0;
  std::int64_t batch_size_ = 0;
};

}  // namespace descent::landscape
