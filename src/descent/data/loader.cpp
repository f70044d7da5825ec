#include "descent/data/loader.hpp"

#include <algorithm>

#include "descent/data/random.hpp"

namespace descent::data {
namespace {

Shape with_batch(std::int64_t batch, const Shape& example) {
  Shape shape{batch};
  shape.insert(shape.end(), example.begin(), example.end());
  return shape;
}

}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  DESCENT_CHECK(dataset_ != nullptr, "DataLoader: dataset is null");
  DESCENT_CHECK(options_.batch_size >= 1, "DataLoader: batch_size must be >= 1, got ",
                options_.batch_size);
  DESCENT_CHECK(options_.prefetch >= 0 && options_.prefetch <= 64,
                "DataLoader: prefetch must be in [0, 64], got ", options_.prefetch);
  for (std::size_t t = 0; t < options_.transforms.size(); ++t) {
    DESCENT_CHECK(options_.transforms[t] != nullptr, "DataLoader: transforms[", t, "] is null");
    options_.transforms[t]->check(dataset_->input_shape(), dataset_->input_dtype());
  }
  const std::int64_t n = dataset_->size();
  const std::int64_t batch = options_.batch_size;
  num_batches_ = options_.drop_last ? n / batch : (n + batch - 1) / batch;
  used_ = options_.drop_last ? num_batches_ * batch : n;
  order_.resize(static_cast<std::size_t>(n));

  // One slot for the batch the caller holds, `prefetch` for the worker to fill ahead.
  const std::int64_t full = std::min(batch, used_);
  const std::int64_t tail = used_ % batch;
  slots_.resize(static_cast<std::size_t>(options_.prefetch + 1));
  for (Slot& slot : slots_) {
    slot.inputs = empty(with_batch(full, dataset_->input_shape()), dataset_->input_dtype());
    slot.targets = empty(with_batch(full, dataset_->target_shape()), dataset_->target_dtype());
    if (tail > 0 && tail != full) {
      slot.tail_inputs = slot.inputs.view_of(0, with_batch(tail, dataset_->input_shape()));
      slot.tail_targets = slot.targets.view_of(0, with_batch(tail, dataset_->target_shape()));
    }
    slot.indices.resize(static_cast<std::size_t>(full));
  }
  free_.reserve(slots_.size());
  ready_.resize(slots_.size());
}

DataLoader::~DataLoader() {
  stop_worker();
}

std::vector<std::int64_t> DataLoader::order(std::uint64_t epoch) const {
  std::vector<std::int64_t> out(static_cast<std::size_t>(dataset_->size()));
  if (options_.shuffle) {
    permutation(out, stream_key(options_.seed, Purpose::shuffle, epoch));
  } else {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::int64_t>(i);
  }
  return out;
}

void DataLoader::stop_worker() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    cancel_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void DataLoader::start_epoch(std::uint64_t epoch) {
  stop_worker();
  epoch_ = epoch;
  started_ = true;
  consumed_ = 0;
  held_ = -1;
  cancel_ = false;
  error_ = nullptr;
  ready_head_ = 0;
  ready_count_ = 0;
  free_.clear();
  for (int s = static_cast<int>(slots_.size()) - 1; s >= 0; --s) free_.push_back(s);
  if (options_.shuffle) {
    permutation(order_, stream_key(options_.seed, Purpose::shuffle, epoch));
  } else {
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<std::int64_t>(i);
  }
  if (options_.prefetch > 0 && num_batches_ > 0) worker_ = std::thread([this] { worker_loop(); });
}

void DataLoader::fill(Slot& slot, std::int64_t batch_index) {
  const std::int64_t begin = batch_index * options_.batch_size;
  const std::int64_t count = std::min(options_.batch_size, used_ - begin);
  std::copy_n(order_.begin() + begin, count, slot.indices.begin());
  const std::span<const std::int64_t> indices(slot.indices.data(), static_cast<std::size_t>(count));
  const bool tail = count != slot.inputs.size(0);
  Tensor& inputs = tail ? slot.tail_inputs : slot.inputs;
  Tensor& targets = tail ? slot.tail_targets : slot.targets;
  dataset_->get_batch(indices, inputs, targets);
  for (const auto& transform : options_.transforms) transform->apply(inputs, indices, epoch_);
  slot.batch.inputs = inputs;
  slot.batch.targets = targets;
  slot.batch.indices = indices;
  slot.batch.index = batch_index;
  slot.batch.epoch = epoch_;
}

void DataLoader::worker_loop() {
  for (std::int64_t b = 0; b < num_batches_; ++b) {
    int slot = -1;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return cancel_ || !free_.empty(); });
      if (cancel_) return;
      slot = free_.back();
      free_.pop_back();
    }
    try {
      fill(slots_[static_cast<std::size_t>(slot)], b);
    } catch (...) {
      {
        std::lock_guard lock(mutex_);
        error_ = std::current_exception();
      }
      changed_.notify_all();
      return;
    }
    {
      std::lock_guard lock(mutex_);
      ready_[(ready_head_ + ready_count_) % ready_.size()] = slot;
      ++ready_count_;
    }
    changed_.notify_all();
  }
}

const Batch* DataLoader::next() {
  DESCENT_CHECK(started_,
                "DataLoader::next: no epoch started; call start_epoch(epoch) first "
                "or iterate over loader.epoch(epoch)");
  if (options_.prefetch == 0) {
    if (consumed_ == num_batches_) return nullptr;
    Slot& slot = slots_[0];
    try {
      fill(slot, consumed_++);
    } catch (...) {
      consumed_ = num_batches_;  // as with prefetch: a failed batch ends the epoch
      throw;
    }
    return &slot.batch;
  }
  if (held_ >= 0) {
    {
      std::lock_guard lock(mutex_);
      free_.push_back(held_);
    }
    held_ = -1;
    changed_.notify_all();
  }
  if (consumed_ == num_batches_) return nullptr;
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return ready_count_ > 0 || error_ != nullptr; });
  if (ready_count_ == 0) {
    // Every batch before the failed one has been returned; the worker has stopped.
    std::exception_ptr error = error_;
    lock.unlock();
    worker_.join();
    consumed_ = num_batches_;  // the epoch is over: next() returns nullptr from now on
    std::rethrow_exception(error);
  }
  held_ = ready_[ready_head_];
  ready_head_ = (ready_head_ + 1) % ready_.size();
  --ready_count_;
  ++consumed_;
  return &slots_[static_cast<std::size_t>(held_)].batch;
}

}  // namespace descent::data
