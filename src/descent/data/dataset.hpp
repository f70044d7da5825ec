// Datasets: random access to (input, target) examples, one batch at a time.
//
// ====== Intended usage ======
//   data::TensorDataset train(images, labels);       // (N, 1, 28, 28) f32, (N) i64
//   auto [fit, held_out] = data::split_validation(train, 5000);   // the last 5000 examples
//   Tensor x = empty({64, 1, 28, 28});                // (B, 1, 28, 28)
//   Tensor y = empty({64}, DType::i64);               // (B)
//   fit.get_batch(indices, x, y);                     // indices: 64 example numbers
//
// A Dataset writes a batch into tensors its caller allocated once, so that a training loop
// (see loader.hpp) allocates nothing per batch after its first.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "descent/core/tensor.hpp"

namespace descent::data {

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual std::int64_t size() const = 0;
  // One example's input: e.g. (1, 28, 28) f32 for an image, (F) f32 for a table row.
  virtual const Shape& input_shape() const = 0;
  virtual DType input_dtype() const = 0;
  // One example's target: () i64 for a class label, (K) f32 for K regression outputs.
  virtual const Shape& target_shape() const = 0;
  virtual DType target_dtype() const = 0;

  // Writes examples indices[0], ..., indices[B-1] into inputs (B, *input_shape) and targets
  // (B, *target_shape). Const and safe to call from several threads at once: the loader
  // calls it from its prefetch thread. It should not start OpenMP teams of its own (they
  // would compete with the training thread for the cores).
  virtual void get_batch(std::span<const std::int64_t> indices, Tensor& inputs,
                         Tensor& targets) const = 0;

 protected:
  // Throws naming `op` unless the indices are in [0, size()) and inputs/targets have the
  // shapes and dtypes above for B = indices.size(). Allocates nothing unless it throws.
  void check_batch(const char* op, std::span<const std::int64_t> indices, const Tensor& inputs,
                   const Tensor& targets) const;
};

// Examples held in memory: row i of `inputs` and of `targets`.
class TensorDataset : public Dataset {
 public:
  TensorDataset() = default;  // no examples
  // inputs (N, ...) and targets (N, ...), any dtypes; N must match.
  TensorDataset(Tensor inputs, Tensor targets);

  std::int64_t size() const override { return size_; }
  const Shape& input_shape() const override { return input_shape_; }
  DType input_dtype() const override { return input_dtype_; }
  const Shape& target_shape() const override { return target_shape_; }
  DType target_dtype() const override { return target_dtype_; }
  void get_batch(std::span<const std::int64_t> indices, Tensor& inputs,
                 Tensor& targets) const override;

  const Tensor& inputs() const { return inputs_; }    // (N, ...)
  const Tensor& targets() const { return targets_; }  // (N, ...)

  // Examples [begin, end), sharing this dataset's storage (no copy).
  TensorDataset slice(std::int64_t begin, std::int64_t end) const;
  // The examples at `indices`, in that order, copied.
  TensorDataset select(std::span<const std::int64_t> indices) const;

 private:
  Tensor inputs_;
  Tensor targets_;
  std::int64_t size_ = 0;
  Shape input_shape_;
  Shape target_shape_;
  DType input_dtype_ = DType::f32;
  DType target_dtype_ = DType::i64;
};

struct TrainValidation {
  TensorDataset train;
  TensorDataset validation;
};

// Holds `validation_size` examples of `data` out for validation.
// - Without a seed: the last validation_size examples (as Keras' validation_split does), as
//   views of `data` with no copy. Fine when the examples are in no particular order, as in
//   Fashion-MNIST's training file.
// - With a seed: a random subset of that size, the same for the same seed (both parts are
//   copied; each keeps the examples in their original order).
TrainValidation split_validation(const TensorDataset& data, std::int64_t validation_size,
                                 std::optional<std::uint64_t> seed = std::nullopt);

}  // namespace descent::data
