#include "descent/data/dataset.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace descent {
namespace {

// Example i has input (i, 100 + i, 200 + i) as a (1, 3) row and target 1000 + i.
data::TensorDataset numbered(std::int64_t n, DType target_dtype = DType::i64) {
  std::vector<double> inputs;
  std::vector<double> targets;
  for (std::int64_t i = 0; i < n; ++i) {
    inputs.insert(inputs.end(), {double(i), 100.0 + i, 200.0 + i});
    targets.push_back(1000.0 + i);
  }
  return data::TensorDataset(from_vector(inputs, {n, 1, 3}),
                             from_vector(targets, {n}, target_dtype));
}

TEST(TensorDataset, GetBatchGathersRows) {
  const data::TensorDataset ds = numbered(10);
  EXPECT_EQ(ds.size(), 10);
  EXPECT_EQ(ds.input_shape(), (Shape{1, 3}));
  EXPECT_EQ(ds.target_shape(), (Shape{}));
  EXPECT_EQ(ds.input_dtype(), DType::f32);
  EXPECT_EQ(ds.target_dtype(), DType::i64);
  Tensor x = empty({3, 1, 3});
  Tensor y = empty({3}, DType::i64);
  const std::vector<std::int64_t> indices{7, 0, 7};
  ds.get_batch(indices, x, y);
  EXPECT_EQ(x.to_vector(), (std::vector<double>{7, 107, 207, 0, 100, 200, 7, 107, 207}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1007, 1000, 1007}));
}

TEST(TensorDataset, BadInputsThrow) {
  EXPECT_THROW(data::TensorDataset(zeros({3, 2}), zeros({4})), Error);  // N differs
  EXPECT_THROW(data::TensorDataset(scalar(1.0), zeros({1})), Error);    // no N dimension
  EXPECT_THROW(data::TensorDataset(Tensor(), zeros({1})), Error);

  const data::TensorDataset ds = numbered(4);
  Tensor x = empty({2, 1, 3});
  Tensor y = empty({2}, DType::i64);
  const std::vector<std::int64_t> good{0, 1};
  const std::vector<std::int64_t> out_of_range{0, 4};
  const std::vector<std::int64_t> negative{-1, 0};
  EXPECT_NO_THROW(ds.get_batch(good, x, y));
  EXPECT_THROW(ds.get_batch(out_of_range, x, y), Error);
  EXPECT_THROW(ds.get_batch(negative, x, y), Error);
  Tensor wrong_shape = empty({2, 3});
  Tensor wrong_dtype = empty({2}, DType::i32);
  Tensor wrong_batch = empty({3, 1, 3});
  EXPECT_THROW(ds.get_batch(good, wrong_shape, y), Error);
  EXPECT_THROW(ds.get_batch(good, x, wrong_dtype), Error);
  EXPECT_THROW(ds.get_batch(good, wrong_batch, y), Error);
  try {
    ds.get_batch(good, wrong_shape, y);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected inputs (2, 1, 3) f32, got (2, 3) f32"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ds.slice(3, 2), Error);
  EXPECT_THROW(ds.slice(0, 5), Error);
}

TEST(TensorDataset, SliceSharesStorageSelectCopies) {
  const data::TensorDataset ds = numbered(6);
  const data::TensorDataset middle = ds.slice(2, 5);
  EXPECT_EQ(middle.size(), 3);
  EXPECT_TRUE(middle.inputs().same_storage(ds.inputs()));
  EXPECT_EQ(middle.targets().to_vector(), (std::vector<double>{1002, 1003, 1004}));
  EXPECT_EQ(ds.slice(6, 6).size(), 0);

  const std::vector<std::int64_t> picks{5, 1};
  const data::TensorDataset picked = ds.select(picks);
  EXPECT_FALSE(picked.inputs().same_storage(ds.inputs()));
  EXPECT_EQ(picked.inputs().to_vector(), (std::vector<double>{5, 105, 205, 1, 101, 201}));
  EXPECT_EQ(picked.targets().to_vector(), (std::vector<double>{1005, 1001}));
}

std::vector<double> targets_of(const data::TensorDataset& ds) {
  return ds.targets().to_vector();
}

TEST(SplitValidation, LastExamplesWithoutSeed) {
  const data::TensorDataset ds = numbered(10);
  const data::TrainValidation split = data::split_validation(ds, 3);
  EXPECT_EQ(targets_of(split.train),
            (std::vector<double>{1000, 1001, 1002, 1003, 1004, 1005, 1006}));
  EXPECT_EQ(targets_of(split.validation), (std::vector<double>{1007, 1008, 1009}));
  EXPECT_TRUE(split.validation.inputs().same_storage(ds.inputs()));
  EXPECT_EQ(data::split_validation(ds, 0).validation.size(), 0);
  EXPECT_EQ(data::split_validation(ds, 10).train.size(), 0);
  EXPECT_THROW(data::split_validation(ds, 11), Error);
  EXPECT_THROW(data::split_validation(ds, -1), Error);
}

TEST(SplitValidation, SeededIsAReproducibleRandomPartition) {
  const data::TensorDataset ds = numbered(1000);
  const data::TrainValidation a = data::split_validation(ds, 200, 5);
  const data::TrainValidation b = data::split_validation(ds, 200, 5);
  const data::TrainValidation c = data::split_validation(ds, 200, 6);
  ASSERT_EQ(a.train.size(), 800);
  ASSERT_EQ(a.validation.size(), 200);
  EXPECT_EQ(targets_of(a.validation), targets_of(b.validation));
  EXPECT_NE(targets_of(a.validation), targets_of(c.validation));

  // A partition of all examples, each part in the original order, inputs matching targets.
  const std::vector<double> train = targets_of(a.train);
  const std::vector<double> validation = targets_of(a.validation);
  EXPECT_TRUE(std::is_sorted(train.begin(), train.end()));
  EXPECT_TRUE(std::is_sorted(validation.begin(), validation.end()));
  std::set<double> all(train.begin(), train.end());
  all.insert(validation.begin(), validation.end());
  EXPECT_EQ(all.size(), 1000u);
  const std::vector<double> inputs = a.validation.inputs().to_vector();
  for (std::size_t i = 0; i < validation.size(); ++i) {
    EXPECT_EQ(inputs[3 * i] + 1000, validation[i]);
  }
  // Not the last 200: a random subset reaches into the first half.
  EXPECT_LT(validation.front(), 1500);
}

}  // namespace
}  // namespace descent
