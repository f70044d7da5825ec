// Synthetic tasks: small, seeded, and known exactly, for tests, demos and toy studies.
//
// ====== Intended usage ======
//   data::TensorDataset spirals = data::make_spirals({.samples = 2000, .noise = 0.05});
//   data::TensorDataset blobs = data::make_blobs({.classes = 4, .features = 8, .seed = 1});
//   data::Regression task = data::make_regression({.features = 10, .noise = 0.1});
//   task.weight   // (K, F): what a Linear(F, K) layer should learn
//
// Every value is drawn from core's counter-based Philox with a counter of its own (the
// example's index), so a task is a pure function of its options: the same for any thread
// count. Classes are interleaved (example i has class i % classes), so any prefix of a task
// is balanced.
#pragma once

#include "descent/data/dataset.hpp"

namespace descent::data {

// Interleaved spirals in the plane (Lang and Witbrock 1988, "Learning to tell two spirals
// apart"). Example i of class c = i % classes draws t ~ U[0, 1) and lies at
//   radius = t
//   angle  = 2 pi (turns * t + c / classes)
//   x      = radius * (cos angle, sin angle) + noise * N(0, I)
struct SpiralsOptions {
  std::int64_t samples = 1000;
  std::int64_t classes = 2;
  double turns = 1.5;   // revolutions of each arm from the centre to radius 1
  double noise = 0.05;  // standard deviation of the Gaussian added to each coordinate
  std::uint64_t seed = 0;
  DType dtype = DType::f32;
};
// inputs (N, 2), targets (N) i64.
TensorDataset make_spirals(const SpiralsOptions& options = {});

// Isotropic Gaussian blobs, as sklearn.datasets.make_blobs: `classes` centres drawn
// uniformly from [-center_box, center_box]^features, then example i of class c = i % classes
//   x = centre[c] + cluster_std * N(0, I)
struct BlobsOptions {
  std::int64_t samples = 100;
  std::int64_t features = 2;
  std::int64_t classes = 3;
  double cluster_std = 1.0;
  double center_box = 10.0;
  std::uint64_t seed = 0;
  DType dtype = DType::f32;
};
// inputs (N, features), targets (N) i64.
TensorDataset make_blobs(const BlobsOptions& options = {});

// A task whose answer is known, with the teacher's weights.
struct Regression {
  TensorDataset data;  // inputs (N, F), targets (N, K)
  Tensor weight;       // (K, F) for make_regression; (H, F) first layer for make_teacher
  Tensor weight2;      // undefined for make_regression; (K, H) second layer for make_teacher
};

// Linear regression: x ~ N(0, I), weight ~ N(0, 1) of shape (K, F), and
//   y = x weight^T + noise * N(0, I)
// so the least-squares fit recovers `weight` (exactly when noise is 0 and N >= F).
struct RegressionOptions {
  std::int64_t samples = 100;
  std::int64_t features = 10;
  std::int64_t outputs = 1;
  double noise = 0.0;
  std::uint64_t seed = 0;
  DType dtype = DType::f32;
};
Regression make_regression(const RegressionOptions& options = {});

// A random teacher network with one tanh hidden layer: x ~ N(0, I),
// weight (H, F) ~ N(0, 1/F), weight2 (K, H) ~ N(0, 1/H), and
//   y = tanh(x weight^T) weight2^T + noise * N(0, I)
// A student of the same shape can fit it exactly; a narrower or linear one cannot.
struct TeacherOptions {
  std::int64_t samples = 1000;
  std::int64_t features = 10;
  std::int64_t hidden = 32;
  std::int64_t outputs = 1;
  double noise = 0.0;
  std::uint64_t seed = 0;
  DType dtype = DType::f32;
};
Regression make_teacher(const TeacherOptions& options = {});

}  // namespace descent::data
