#include "descent/landscape/eval_set.hpp"

#include <numeric>

#include "descent/autograd/autograd.hpp"
#include "descent/core/dtype.hpp"
#include "descent/nn/flat.hpp"
#include "descent/ops/loss.hpp"

namespace descent::landscape {
namespace {

std::int64_t count_correct(const Tensor& logits, const std::int64_t* targets) {
  const std::int64_t rows = logits.size(0);  // (B, C)
  const std::int64_t classes = logits.size(1);
  std::int64_t correct = 0;
  dispatch_float(logits.dtype(), "EvalSet", [&]<typename T>() {
    const T* values = logits.data<T>();
    for (std::int64_t i = 0; i < rows; ++i) {
      const T* row = values + i * classes;
      std::int64_t best = 0;
      for (std::int64_t c = 1; c < classes; ++c) best = row[c] > row[best] ? c : best;
      correct += best == targets[i] ? 1 : 0;
    }
  });
  return correct;
}

// Restores a module's mode when it leaves scope (also on exceptions).
class ModeGuard {
 public:
  explicit ModeGuard(nn::Module& model) : model_(model), was_training_(model.is_training()) {}
  ~ModeGuard() { model_.train(was_training_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  nn::Module& model_;
  bool was_training_;
};

}  // namespace

EvalSet::EvalSet(const data::Dataset& dataset, const EvalSetOptions& options) {
  DESCENT_CHECK(options.size >= 0, "EvalSet: size must be >= 0, got ", options.size);
  DESCENT_CHECK(options.batch_size > 0, "EvalSet: batch_size must be > 0, got ",
                options.batch_size);
  DESCENT_CHECK(dataset.size() > 0, "EvalSet: the dataset has no examples");
  DESCENT_CHECK(options.size <= dataset.size(), "EvalSet: size ", options.size,
                " exceeds the dataset's ", dataset.size(), " examples");
  DESCENT_CHECK(dataset.target_shape().empty() && dataset.target_dtype() == DType::i64,
                "EvalSet: expected class labels () i64 as targets, got ",
                shape_str(dataset.target_shape()), " ", dtype_name(dataset.target_dtype()));
  size_ = options.size == 0 ? dataset.size() : options.size;
  batch_size_ = options.batch_size;
  std::vector<std::int64_t> indices(static_cast<std::size_t>(size_));
  std::iota(indices.begin(), indices.end(), std::int64_t{0});
  Shape input_shape = dataset.input_shape();
  input_shape.insert(input_shape.begin(), size_);
  inputs_ = empty(input_shape, dataset.input_dtype());  // (N, ...)
  targets_ = empty({size_}, DType::i64);                // (N)
  dataset.get_batch(indices, inputs_, targets_);
  for (const auto& transform : options.transforms) {
    transform->check(dataset.input_shape(), dataset.input_dtype());
    transform->apply(inputs_, indices, 0);
  }
}

Tensor EvalSet::inputs_for(const nn::Module& model, const char* op) const {
  DESCENT_CHECK(model.is_flat(), op,
                ": the model's parameters must be flattened (nn::build_model does it)");
  const DType dtype = model.flat_parameters().params.dtype();
  return inputs_.dtype() == dtype ? inputs_ : inputs_.to(dtype);
}

Metrics EvalSet::evaluate(nn::Module& model) const {
  const Tensor inputs = inputs_for(model, "EvalSet::evaluate");
  ModeGuard mode(model);
  model.eval();
  autograd::NoGradGuard no_grad;
  const std::int64_t per_example = inputs.numel() / size_;
  Shape batch_shape = inputs.shape();
  double loss_sum = 0.0;
  std::int64_t correct = 0;
  for (std::int64_t begin = 0; begin < size_; begin += batch_size_) {
    const std::int64_t count = std::min(batch_size_, size_ - begin);
    batch_shape[0] = count;
    const Tensor x = inputs.view_of(begin * per_example, batch_shape);  // (B, ...)
    const Tensor y = targets_.view_of(begin, {count});                  // (B)
    const Tensor logits = model.forward(x);                             // (B, C)
    DESCENT_CHECK(logits.dim() == 2 && logits.size(0) == count,
                  "EvalSet::evaluate: expected logits (B, C) from the model, got ",
                  shape_str(logits.shape()));
    loss_sum += ops::cross_entropy(logits, y, {.reduction = ops::Reduction::sum}).item();
    correct += count_correct(logits, targets_.data<std::int64_t>() + begin);
  }
  return {.loss = loss_sum / static_cast<double>(size_),
          .accuracy = static_cast<double>(correct) / static_cast<double>(size_)};
}

double EvalSet::gradient(nn::Module& model) const {
  const Tensor inputs = inputs_for(model, "EvalSet::gradient");
  ModeGuard mode(model);
  model.eval();
  model.zero_grad();
  const std::int64_t per_example = inputs.numel() / size_;
  Shape batch_shape = inputs.shape();
  const DType dtype = inputs.dtype();
  // Each batch's summed loss, scaled by 1/N, so that the gradients add up to the mean's.
  const Tensor scale = scalar(1.0 / static_cast<double>(size_), dtype);
  double loss_sum = 0.0;
  for (std::int64_t begin = 0; begin < size_; begin += batch_size_) {
    const std::int64_t count = std::min(batch_size_, size_ - begin);
    batch_shape[0] = count;
    const Tensor x = inputs.view_of(begin * per_example, batch_shape);  // (B, ...)
    const Tensor y = targets_.view_of(begin, {count});                  // (B)
    const Tensor loss = ops::cross_entropy(model.forward(x), y, {.reduction = ops::Reduction::sum});
    loss_sum += loss.item();
    loss.backward(scale);
  }
  return loss_sum / static_cast<double>(size_);
}

}  // namespace descent::landscape
