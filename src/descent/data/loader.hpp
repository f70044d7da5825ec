// DataLoader: batches of a dataset, shuffled per epoch, loaded ahead on a background thread.
//
// ====== Intended usage ======
//   auto train = std::make_shared<data::TensorDataset>(fm.train);
//   data::DataLoader loader(train, {.batch_size = 128, .shuffle = true, .seed = 7});
//   for (std::uint64_t epoch = 0; epoch < 10; ++epoch) {
//     for (const data::Batch& batch : loader.epoch(epoch)) {
//       Tensor logits = model.forward(batch.inputs);       // inputs (B, 1, 28, 28)
//       Tensor loss = ops::cross_entropy(logits, batch.targets);  // targets (B)
//       ...
//     }
//   }
// or, without the range: loader.start_epoch(e); while (const Batch* b = loader.next()) {...}
//
// What it promises:
// - Reproducible order: epoch e's order is a permutation that depends only on (seed, e)
//   (Fisher-Yates on counter-based Philox draws; see random.hpp), so epoch 3 is the same
//   whether or not epochs 0-2 ran, as after a resume. Random transforms depend only on
//   (their seed, e, the example's index). Prefetching changes when a batch is made, never
//   what it holds.
// - No allocation per batch: batch buffers are allocated once, when the loader is built,
//   and reused. A batch's tensors therefore stay valid only until the next call to next()
//   (or the next step of the range, start_epoch, or the loader's destruction): clone() what
//   must live longer. The same holds for a graph built on a batch, whose saved inputs share
//   the buffer: run its backward() before asking for the next batch.
// - Background prefetch: with prefetch = P > 0 a worker thread loads up to P batches ahead
//   into a bounded queue while the caller computes. An exception thrown while loading is
//   rethrown by next() at the batch it belongs to, after the batches before it. Stopping
//   early (leaving the loop, starting another epoch, destroying the loader) cancels the
//   worker and waits for it; this takes at most the time to load one batch.
// - Like PyTorch's DataLoader: drop_last drops the last, smaller batch of an epoch; without
//   it the last batch has N % batch_size examples.
#pragma once

#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "descent/data/dataset.hpp"
#include "descent/data/transforms.hpp"

namespace descent::data {

struct Batch {
  Tensor inputs;                          // (B, *input_shape)
  Tensor targets;                         // (B, *target_shape)
  std::span<const std::int64_t> indices;  // the B examples' indices in the dataset
  std::int64_t index = 0;                 // this batch's number within the epoch
  std::uint64_t epoch = 0;
  std::int64_t size() const { return static_cast<std::int64_t>(indices.size()); }
};

struct DataLoaderOptions {
  std::int64_t batch_size = 1;
  bool shuffle = false;
  std::uint64_t seed = 0;  // of the shuffle
  bool drop_last = false;
  // Batches loaded ahead on a background thread; 0 loads each batch on the calling thread
  // inside next().
  std::int64_t prefetch = 2;
  // Applied in order to each batch's inputs after loading (see transforms.hpp).
  std::vector<std::shared_ptr<const Transform>> transforms = {};
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
  // Takes a copy of `dataset` (a TensorDataset's copy shares its tensors).
  template <std::derived_from<Dataset> D>
  explicit DataLoader(D dataset, DataLoaderOptions options = {})
      : DataLoader(std::make_shared<const D>(std::move(dataset)), std::move(options)) {}
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Batches per epoch (as len() of a PyTorch DataLoader).
  std::int64_t num_batches() const { return num_batches_; }
  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }

  // Starts epoch `epoch` from its first batch, cancelling an unfinished one.
  void start_epoch(std::uint64_t epoch);
  // The next batch of the current epoch, or nullptr after its last. Throws if no epoch was
  // started, and rethrows what loading the batch threw.
  const Batch* next();
  // The dataset indices in the order epoch `epoch` visits them (all N, before drop_last).
  std::vector<std::int64_t> order(std::uint64_t epoch) const;

  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    explicit Iterator(DataLoader* loader) : loader_(loader), batch_(loader->next()) {}
    const Batch& operator*() const { return *batch_; }
    const Batch* operator->() const { return batch_; }
    Iterator& operator++() {
      batch_ = loader_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return batch_ == nullptr; }

   private:
    DataLoader* loader_ = nullptr;
    const Batch* batch_ = nullptr;
  };
  class EpochRange {
   public:
    EpochRange(DataLoader* loader, std::uint64_t epoch) : loader_(loader), epoch_(epoch) {}
    // Starts the epoch (again, if begin() is called twice).
    Iterator begin() {
      loader_->start_epoch(epoch_);
      return Iterator(loader_);
    }
    std::default_sentinel_t end() const { return {}; }

   private:
    DataLoader* loader_;
    std::uint64_t epoch_;
  };
  // for (const Batch& batch : loader.epoch(e)) { ... }
  EpochRange epoch(std::uint64_t epoch) { return EpochRange(this, epoch); }

 private:
  struct Slot {
    Tensor inputs;        // (batch_size, *input_shape)
    Tensor targets;       // (batch_size, *target_shape)
    Tensor tail_inputs;   // (N' % batch_size, *input_shape): views of the above
    Tensor tail_targets;  // (N' % batch_size, *target_shape)
    std::vector<std::int64_t> indices;
    Batch batch;
  };

  void fill(Slot& slot, std::int64_t batch_index);
  void worker_loop();
  void stop_worker();

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  std::int64_t used_ = 0;  // examples per epoch after drop_last
  std::int64_t num_batches_ = 0;
  std::vector<Slot> slots_;
  std::vector<std::int64_t> order_;  // this epoch's order; written only while no worker runs

  // Epoch state. The worker fills slots in batch order and hands them over through ready_,
  // a FIFO ring; the consumer hands them back through free_.
  std::uint64_t epoch_ = 0;
  bool started_ = false;
  std::int64_t consumed_ = 0;  // batches next() has returned this epoch
  int held_ = -1;              // the slot of the batch last returned
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<int> free_;
  std::vector<int> ready_;
  std::size_t ready_head_ = 0;
  std::size_t ready_count_ = 0;
  bool cancel_ = false;
  std::exception_ptr error_;
};

}  // namespace descent::data
