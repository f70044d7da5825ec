#include "descent/data/loader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "descent/core/allocator.hpp"

namespace descent {
namespace {

using Indices = std::vector<std::int64_t>;

// Example i: input (1, 2, 3) filled with i (so a batch shows which examples it holds),
// target i.
std::shared_ptr<data::TensorDataset> numbered(std::int64_t n) {
  std::vector<double> inputs;
  std::vector<double> targets;
  for (std::int64_t i = 0; i < n; ++i) {
    inputs.insert(inputs.end(), 6, static_cast<double>(i));
    targets.push_back(static_cast<double>(i));
  }
  return std::make_shared<data::TensorDataset>(from_vector(inputs, {n, 1, 2, 3}),
                                               from_vector(targets, {n}, DType::i64));
}

// Checks that a batch's tensors hold exactly the examples its indices name.
void expect_consistent(const data::Batch& batch) {
  const std::int64_t b = batch.size();
  ASSERT_EQ(batch.inputs.shape(), (Shape{b, 1, 2, 3}));
  ASSERT_EQ(batch.targets.shape(), (Shape{b}));
  const float* x = batch.inputs.data<float>();
  const std::int64_t* y = batch.targets.data<std::int64_t>();
  for (std::int64_t i = 0; i < b; ++i) {
    EXPECT_EQ(y[i], batch.indices[i]);
    for (int k = 0; k < 6; ++k) EXPECT_EQ(x[i * 6 + k], static_cast<float>(batch.indices[i]));
  }
}

// All the indices one epoch visits, checking each batch on the way.
Indices run_epoch(data::DataLoader& loader, std::uint64_t epoch,
                  std::vector<std::int64_t>* sizes = nullptr) {
  Indices seen;
  std::int64_t expected_index = 0;
  for (const data::Batch& batch : loader.epoch(epoch)) {
    EXPECT_EQ(batch.index, expected_index++);
    EXPECT_EQ(batch.epoch, epoch);
    expect_consistent(batch);
    seen.insert(seen.end(), batch.indices.begin(), batch.indices.end());
    if (sizes != nullptr) sizes->push_back(batch.size());
  }
  EXPECT_EQ(expected_index, loader.num_batches());
  return seen;
}

TEST(DataLoader, CoversEveryIndexOncePerEpoch) {
  struct Case {
    std::int64_t n;
    std::int64_t batch_size;
    bool drop_last;
    bool shuffle;
    std::int64_t prefetch;
    std::vector<std::int64_t> sizes;
  };
  const std::vector<Case> cases = {
      {10, 4, false, false, 0, {4, 4, 2}},
      {10, 4, false, true, 2, {4, 4, 2}},
      {10, 4, true, true, 2, {4, 4}},
      {10, 4, true, false, 1, {4, 4}},
      {12, 4, true, true, 3, {4, 4, 4}},
      {12, 4, false, true, 0, {4, 4, 4}},
      {3, 8, false, true, 2, {3}},
      {3, 8, true, true, 2, {}},
      {1, 1, false, true, 2, {1}},
      {97, 10, false, true, 2, {10, 10, 10, 10, 10, 10, 10, 10, 10, 7}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(cat("n ", c.n, " batch ", c.batch_size, " drop_last ", c.drop_last, " shuffle ",
                     c.shuffle, " prefetch ", c.prefetch));
    data::DataLoader loader(numbered(c.n), {.batch_size = c.batch_size,
                                            .shuffle = c.shuffle,
                                            .seed = 11,
                                            .drop_last = c.drop_last,
                                            .prefetch = c.prefetch});
    EXPECT_EQ(loader.num_batches(), static_cast<std::int64_t>(c.sizes.size()));
    for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
      std::vector<std::int64_t> sizes;
      Indices seen = run_epoch(loader, epoch, &sizes);
      EXPECT_EQ(sizes, c.sizes);
      // No index twice; all of them unless drop_last dropped the tail.
      std::sort(seen.begin(), seen.end());
      EXPECT_TRUE(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
      if (!c.drop_last) {
        Indices all(static_cast<std::size_t>(c.n));
        for (std::int64_t i = 0; i < c.n; ++i) all[i] = i;
        EXPECT_EQ(seen, all);
      }
      // What was dropped is the end of the epoch's order.
      const Indices order = loader.order(epoch);
      Indices kept(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(seen.size()));
      std::sort(kept.begin(), kept.end());
      EXPECT_EQ(seen, kept);
    }
  }
}

TEST(DataLoader, ShuffleIsAFunctionOfSeedAndEpoch) {
  const auto dataset = numbered(200);
  data::DataLoader a(dataset, {.batch_size = 16, .shuffle = true, .seed = 1});
  data::DataLoader b(dataset, {.batch_size = 16, .shuffle = true, .seed = 1});
  data::DataLoader other_seed(dataset, {.batch_size = 16, .shuffle = true, .seed = 2});
  const Indices a0 = run_epoch(a, 0);
  const Indices a1 = run_epoch(a, 1);
  EXPECT_NE(a0, a1);               // a new order each epoch
  EXPECT_EQ(run_epoch(b, 1), a1);  // epoch 1 straight away: no dependence on epoch 0
  EXPECT_EQ(run_epoch(b, 0), a0);
  EXPECT_EQ(run_epoch(a, 0), a0);  // repeating an epoch repeats its order
  EXPECT_NE(run_epoch(other_seed, 0), a0);
  EXPECT_EQ(a.order(7), b.order(7));
  // Not shuffled: 0, 1, 2, ...
  data::DataLoader in_order(dataset, {.batch_size = 16});
  Indices identity(200);
  for (std::int64_t i = 0; i < 200; ++i) identity[i] = i;
  EXPECT_EQ(run_epoch(in_order, 5), identity);
  // A shuffle moves most examples (a weak check that it is not near the identity).
  std::int64_t fixed = 0;
  for (std::int64_t i = 0; i < 200; ++i) fixed += a0[i] == i;
  EXPECT_LT(fixed, 20);
}

// A (1, 6, 6) image dataset with random transforms: the batches with and without
// prefetching, and with deeper queues, are identical bit for bit.
TEST(DataLoader, PrefetchGivesTheSameBatchesAsNoPrefetch) {
  const std::int64_t n = 50;
  Tensor images = arange(0.0, static_cast<double>(n * 36)).view_of(0, {n, 1, 6, 6});
  auto dataset = std::make_shared<data::TensorDataset>(images, arange(n));
  const std::vector<std::shared_ptr<const data::Transform>> transforms = {
      data::random_crop({.padding = 2, .seed = 4}), data::random_horizontal_flip({.seed = 4}),
      data::normalize({.mean = {10.0}, .std = {3.0}})};
  std::vector<std::vector<double>> reference;
  for (std::int64_t prefetch : {0, 1, 2, 6}) {
    SCOPED_TRACE(cat("prefetch ", prefetch));
    data::DataLoader loader(dataset, {.batch_size = 8,
                                      .shuffle = true,
                                      .seed = 9,
                                      .prefetch = prefetch,
                                      .transforms = transforms});
    std::vector<std::vector<double>> batches;
    for (std::uint64_t epoch = 0; epoch < 2; ++epoch) {
      for (const data::Batch& batch : loader.epoch(epoch)) {
        batches.push_back(batch.inputs.to_vector());
        const std::vector<double> targets = batch.targets.to_vector();
        batches.push_back(targets);
      }
    }
    if (reference.empty()) {
      reference = batches;
    } else {
      EXPECT_EQ(batches, reference);
    }
  }
  // And the transforms did act: the first batch is not the raw images.
  data::DataLoader plain(dataset, {.batch_size = 8, .shuffle = true, .seed = 9});
  plain.start_epoch(0);
  EXPECT_NE(plain.next()->inputs.to_vector(), reference[0]);
}

// A dataset that takes its time, and can fail at one example.
class SlowDataset : public data::Dataset {
 public:
  SlowDataset(std::int64_t n, std::chrono::milliseconds delay, std::int64_t fail_at = -1)
      : inner_(numbered(n)), delay_(delay), fail_at_(fail_at) {}
  std::int64_t size() const override { return inner_->size(); }
  const Shape& input_shape() const override { return inner_->input_shape(); }
  DType input_dtype() const override { return inner_->input_dtype(); }
  const Shape& target_shape() const override { return inner_->target_shape(); }
  DType target_dtype() const override { return inner_->target_dtype(); }
  void get_batch(std::span<const std::int64_t> indices, Tensor& inputs,
                 Tensor& targets) const override {
    calls_++;
    std::this_thread::sleep_for(delay_);
    for (std::int64_t i : indices) {
      DESCENT_CHECK(i != fail_at_, "SlowDataset: example ", i, " is unreadable");
    }
    inner_->get_batch(indices, inputs, targets);
  }
  mutable std::atomic<int> calls_{0};

 private:
  std::shared_ptr<data::TensorDataset> inner_;
  std::chrono::milliseconds delay_;
  std::int64_t fail_at_;
};

TEST(DataLoader, StoppingMidEpochDoesNotHang) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto slow = std::make_shared<SlowDataset>(1000, std::chrono::milliseconds(5));
  { data::DataLoader never_started(slow, {.batch_size = 10}); }
  {
    data::DataLoader started_only(slow, {.batch_size = 10, .shuffle = true});
    started_only.start_epoch(0);
  }
  {
    // While the caller holds batch 0, the worker loads batches 1 and 2, then waits.
    auto counted = std::make_shared<SlowDataset>(1000, std::chrono::milliseconds(5));
    data::DataLoader one_batch(counted, {.batch_size = 10, .shuffle = true, .prefetch = 2});
    one_batch.start_epoch(0);
    ASSERT_NE(one_batch.next(), nullptr);
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    while (counted->calls_.load() < 3 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(counted->calls_.load(), 1 + 2);
  }
  {
    // Leaving a range loop early, then starting another epoch.
    data::DataLoader loader(slow, {.batch_size = 10, .shuffle = true, .prefetch = 2});
    int taken = 0;
    for (const data::Batch& batch : loader.epoch(0)) {
      expect_consistent(batch);
      if (++taken == 3) break;
    }
    loader.start_epoch(1);
    const data::Batch* batch = loader.next();
    ASSERT_NE(batch, nullptr);
    EXPECT_EQ(batch->epoch, 1u);
    EXPECT_EQ(batch->index, 0);
    expect_consistent(*batch);
  }
  // A whole epoch takes 100 batches * 5 ms = 0.5 s per loader; stopping takes about 1 batch.
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(4));
}

TEST(DataLoader, LoadingErrorsReachTheCallerInOrder) {
  for (std::int64_t prefetch : {0, 1, 2}) {
    SCOPED_TRACE(cat("prefetch ", prefetch));
    // Not shuffled, batch 4: example 9 is in batch 2, after batches 0 and 1.
    auto failing = std::make_shared<SlowDataset>(20, std::chrono::milliseconds(0), 9);
    data::DataLoader loader(failing, {.batch_size = 4, .prefetch = prefetch});
    loader.start_epoch(0);
    ASSERT_NE(loader.next(), nullptr);
    ASSERT_NE(loader.next(), nullptr);
    try {
      loader.next();
      ADD_FAILURE() << "no error from the batch with example 9";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("example 9 is unreadable"), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(loader.next(), nullptr);  // the epoch ended with the error
    // A new epoch starts cleanly and fails at the same place again.
    loader.start_epoch(1);
    EXPECT_NE(loader.next(), nullptr);
    EXPECT_NE(loader.next(), nullptr);
    EXPECT_THROW(loader.next(), Error);
  }
}

TEST(DataLoader, NoTensorAllocationPerBatchAfterConstruction) {
  Tensor images = zeros({256, 1, 8, 8});
  auto dataset = std::make_shared<data::TensorDataset>(images, arange(256));
  for (std::int64_t prefetch : {0, 2}) {
    data::DataLoader loader(
        dataset,
        {.batch_size = 32,
         .shuffle = true,
         .drop_last = false,
         .prefetch = prefetch,
         .transforms = {data::random_crop({.padding = 1}), data::random_horizontal_flip({}),
                        data::normalize({.mean = {0.5}, .std = {0.5}})}});
    const AllocatorStats before = allocator_stats();
    std::int64_t batches = 0;
    for (std::uint64_t epoch = 0; epoch < 2; ++epoch) {
      for (const data::Batch& batch : loader.epoch(epoch)) batches += batch.size() > 0;
    }
    const AllocatorStats after = allocator_stats();
    EXPECT_EQ(batches, 16);
    EXPECT_EQ(after.system_allocs, before.system_allocs) << "prefetch " << prefetch;
    EXPECT_EQ(after.cache_hits, before.cache_hits) << "prefetch " << prefetch;
  }
}

TEST(DataLoader, TakesADatasetByValueAndLoopsWithNext) {
  data::DataLoader loader(*numbered(5), {.batch_size = 2});
  loader.start_epoch(0);
  std::int64_t count = 0;
  while (const data::Batch* batch = loader.next()) count += batch->size();
  EXPECT_EQ(count, 5);
  EXPECT_EQ(loader.next(), nullptr);  // stays at the end
}

TEST(DataLoader, BadUseThrows) {
  const auto dataset = numbered(4);
  EXPECT_THROW(data::DataLoader(dataset, {.batch_size = 0}), Error);
  EXPECT_THROW(data::DataLoader(dataset, {.prefetch = -1}), Error);
  EXPECT_THROW(data::DataLoader(std::shared_ptr<const data::Dataset>(), {}), Error);
  EXPECT_THROW(data::DataLoader(dataset, {.transforms = {nullptr}}), Error);
  // A crop needs images (C, H, W); a table row (F) is not one.
  auto table = std::make_shared<data::TensorDataset>(zeros({4, 3}), arange(4));
  EXPECT_THROW(data::DataLoader(table, {.transforms = {data::random_crop({})}}), Error);
  data::DataLoader not_started(dataset, {});
  try {
    not_started.next();
    ADD_FAILURE() << "next() before start_epoch() did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("start_epoch"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace descent
