#include "descent/data/dataset.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "descent/data/random.hpp"

namespace descent::data {
namespace {

Shape with_batch(std::int64_t batch, const Shape& example) {
  Shape shape{batch};
  shape.insert(shape.end(), example.begin(), example.end());
  return shape;
}

Shape drop_first(const Shape& shape) {
  return Shape(shape.begin() + 1, shape.end());
}

}  // namespace

namespace {

bool is_batch_of(const Tensor& batch, std::int64_t count, const Shape& example, DType dtype) {
  if (!batch.defined() || batch.dtype() != dtype) return false;
  const Shape& shape = batch.shape();
  return shape.size() == example.size() + 1 && shape[0] == count &&
         std::equal(example.begin(), example.end(), shape.begin() + 1);
}

std::string describe(const Tensor& t) {
  return t.defined() ? cat(shape_str(t.shape()), " ", dtype_name(t.dtype()))
                     : std::string("an undefined tensor");
}

}  // namespace

void Dataset::check_batch(const char* op, std::span<const std::int64_t> indices,
                          const Tensor& inputs, const Tensor& targets) const {
  const auto batch = static_cast<std::int64_t>(indices.size());
  DESCENT_CHECK(is_batch_of(inputs, batch, input_shape(), input_dtype()), op, ": expected inputs ",
                shape_str(with_batch(batch, input_shape())), " ", dtype_name(input_dtype()),
                ", got ", describe(inputs));
  DESCENT_CHECK(is_batch_of(targets, batch, target_shape(), target_dtype()), op,
                ": expected targets ", shape_str(with_batch(batch, target_shape())), " ",
                dtype_name(target_dtype()), ", got ", describe(targets));
  const std::int64_t n = size();
  for (std::int64_t b = 0; b < batch; ++b) {
    DESCENT_CHECK(indices[b] >= 0 && indices[b] < n, op, ": index ", indices[b],
                  " at batch position ", b, " is out of range for a dataset of ", n, " examples");
  }
}

TensorDataset::TensorDataset(Tensor inputs, Tensor targets)
    : inputs_(std::move(inputs)), targets_(std::move(targets)) {
  DESCENT_CHECK(inputs_.defined() && targets_.defined(),
                "TensorDataset: inputs and targets must be defined tensors");
  DESCENT_CHECK(inputs_.dim() >= 1 && targets_.dim() >= 1,
                "TensorDataset: expected inputs (N, ...) and targets (N, ...), got inputs ",
                shape_str(inputs_.shape()), " and targets ", shape_str(targets_.shape()));
  DESCENT_CHECK(inputs_.size(0) == targets_.size(0),
                "TensorDataset: inputs and targets hold different numbers of examples: inputs ",
                shape_str(inputs_.shape()), ", targets ", shape_str(targets_.shape()));
  size_ = inputs_.size(0);
  input_shape_ = drop_first(inputs_.shape());
  target_shape_ = drop_first(targets_.shape());
  input_dtype_ = inputs_.dtype();
  target_dtype_ = targets_.dtype();
}

void TensorDataset::get_batch(std::span<const std::int64_t> indices, Tensor& inputs,
                              Tensor& targets) const {
  check_batch("TensorDataset::get_batch", indices, inputs, targets);
  // Rows are contiguous, so each example is two memcpy calls. No OpenMP: this runs on the
  // loader's prefetch thread, and a batch is a few hundred kilobytes at most.
  const std::size_t input_row = shape_numel(input_shape()) * dtype_size(input_dtype());
  const std::size_t target_row = shape_numel(target_shape()) * dtype_size(target_dtype());
  const auto* input_src = static_cast<const char*>(inputs_.raw_data());
  const auto* target_src = static_cast<const char*>(targets_.raw_data());
  auto* input_dst = static_cast<char*>(inputs.raw_data());
  auto* target_dst = static_cast<char*>(targets.raw_data());
  for (std::size_t b = 0; b < indices.size(); ++b) {
    const auto row = static_cast<std::size_t>(indices[b]);
    std::memcpy(input_dst + b * input_row, input_src + row * input_row, input_row);
    std::memcpy(target_dst + b * target_row, target_src + row * target_row, target_row);
  }
}

TensorDataset TensorDataset::slice(std::int64_t begin, std::int64_t end) const {
  DESCENT_CHECK(0 <= begin && begin <= end && end <= size_, "TensorDataset::slice: [", begin, ", ",
                end, ") is not a range of a dataset of ", size_, " examples");
  DESCENT_CHECK(inputs_.defined(), "TensorDataset::slice: the dataset is empty");
  const std::int64_t input_row = shape_numel(input_shape());
  const std::int64_t target_row = shape_numel(target_shape());
  return TensorDataset(
      inputs_.view_of(begin * input_row, with_batch(end - begin, input_shape())),
      targets_.view_of(begin * target_row, with_batch(end - begin, target_shape())));
}

TensorDataset TensorDataset::select(std::span<const std::int64_t> indices) const {
  DESCENT_CHECK(inputs_.defined(), "TensorDataset::select: the dataset is empty");
  const auto count = static_cast<std::int64_t>(indices.size());
  Tensor inputs = empty(with_batch(count, input_shape()), input_dtype());
  Tensor targets = empty(with_batch(count, target_shape()), target_dtype());
  if (count > 0) get_batch(indices, inputs, targets);
  return TensorDataset(inputs, targets);
}

TrainValidation split_validation(const TensorDataset& data, std::int64_t validation_size,
                                 std::optional<std::uint64_t> seed) {
  const std::int64_t n = data.size();
  DESCENT_CHECK(0 <= validation_size && validation_size <= n,
                "split_validation: validation_size must be in [0, ", n, "], got ", validation_size);
  if (!seed) return {data.slice(0, n - validation_size), data.slice(n - validation_size, n)};
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  permutation(order, stream_key(*seed, Purpose::split, 0));
  const auto cut = order.begin() + validation_size;
  std::sort(order.begin(), cut);
  std::sort(cut, order.end());
  return {data.select(std::span(cut, order.end())), data.select(std::span(order.begin(), cut))};
}

}  // namespace descent::data
