#include "descent/data/synthetic.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>

namespace descent {
namespace {

// One entry per generator: how to make it with a seed, and its expected shapes.
struct Task {
  const char* name;
  std::function<data::TensorDataset(std::uint64_t seed)> make;
  Shape inputs;
  Shape targets;
  DType target_dtype;
};

const std::vector<Task>& generators() {
  static const std::vector<Task> table = {
      {"spirals",
       [](std::uint64_t s) { return data::make_spirals({.samples = 301, .seed = s}); },
       {301, 2},
       {301},
       DType::i64},
      {"spirals 3 classes f64",
       [](std::uint64_t s) {
         return data::make_spirals({.samples = 90, .classes = 3, .seed = s, .dtype = DType::f64});
       },
       {90, 2},
       {90},
       DType::i64},
      {"blobs",
       [](std::uint64_t s) {
         return data::make_blobs({.samples = 200, .features = 5, .classes = 4, .seed = s});
       },
       {200, 5},
       {200},
       DType::i64},
      {"regression",
       [](std::uint64_t s) {
         return data::make_regression(
                    {.samples = 50, .features = 7, .outputs = 2, .noise = 0.1, .seed = s})
             .data;
       },
       {50, 7},
       {50, 2},
       DType::f32},
      {"teacher",
       [](std::uint64_t s) {
         return data::make_teacher(
                    {.samples = 40, .features = 3, .hidden = 8, .outputs = 2, .seed = s})
             .data;
       },
       {40, 3},
       {40, 2},
       DType::f32},
  };
  return table;
}

TEST(Synthetic, ShapesAndDeterminism) {
  for (const Task& g : generators()) {
    SCOPED_TRACE(g.name);
    const data::TensorDataset a = g.make(3);
    EXPECT_EQ(a.inputs().shape(), g.inputs);
    EXPECT_EQ(a.targets().shape(), g.targets);
    EXPECT_EQ(a.targets().dtype(), g.target_dtype);
    const data::TensorDataset b = g.make(3);
    const data::TensorDataset c = g.make(4);
    EXPECT_EQ(a.inputs().to_vector(), b.inputs().to_vector());
    EXPECT_EQ(a.targets().to_vector(), b.targets().to_vector());
    EXPECT_NE(a.inputs().to_vector(), c.inputs().to_vector());
    for (double v : a.inputs().to_vector()) EXPECT_TRUE(std::isfinite(v));
  }
}

TEST(Synthetic, SameForAnyThreadCount) {
  const int saved = omp_get_max_threads();
  for (const Task& g : generators()) {
    SCOPED_TRACE(g.name);
    omp_set_num_threads(1);
    const std::vector<double> one = g.make(9).inputs().to_vector();
    omp_set_num_threads(3);
    const std::vector<double> three = g.make(9).inputs().to_vector();
    EXPECT_EQ(one, three);
  }
  // Large enough to take the parallel paths.
  omp_set_num_threads(1);
  const std::vector<double> one =
      data::make_blobs({.samples = 20000, .features = 4}).inputs().to_vector();
  omp_set_num_threads(3);
  const std::vector<double> three =
      data::make_blobs({.samples = 20000, .features = 4}).inputs().to_vector();
  EXPECT_EQ(one, three);
  omp_set_num_threads(saved);
}

TEST(Synthetic, SpiralsLieOnTheirArms) {
  // Without noise each point satisfies angle = 2 pi (turns r + c / classes) (mod 2 pi).
  const data::SpiralsOptions options{.samples = 500, .classes = 2, .turns = 1.5, .noise = 0.0};
  const data::TensorDataset spirals = data::make_spirals(options);
  const std::vector<double> x = spirals.inputs().to_vector();
  const std::vector<double> y = spirals.targets().to_vector();
  for (std::size_t i = 0; i < y.size(); ++i) {
    EXPECT_EQ(y[i], static_cast<double>(i % 2));
    const double radius = std::hypot(x[2 * i], x[2 * i + 1]);
    EXPECT_LT(radius, 1.0 + 1e-6);
    if (radius < 1e-3) continue;
    const double expected = 2 * M_PI * (options.turns * radius + y[i] / 2);
    const double diff = std::remainder(std::atan2(x[2 * i + 1], x[2 * i]) - expected, 2 * M_PI);
    EXPECT_NEAR(diff, 0.0, 1e-4) << i;
  }
}

TEST(Synthetic, BlobsClusterAroundTheirCentres) {
  // Tight clusters far apart: each example is nearer its own class's mean than any other.
  const data::TensorDataset blobs =
      data::make_blobs({.samples = 400, .features = 3, .classes = 4, .cluster_std = 0.01});
  const std::vector<double> x = blobs.inputs().to_vector();
  const std::vector<double> y = blobs.targets().to_vector();
  std::vector<double> means(4 * 3, 0.0);
  std::vector<int> counts(4, 0);
  for (std::size_t i = 0; i < y.size(); ++i) {
    const auto c = static_cast<std::size_t>(y[i]);
    EXPECT_EQ(c, i % 4);
    counts[c]++;
    for (std::size_t j = 0; j < 3; ++j) means[c * 3 + j] += x[i * 3 + j];
  }
  for (std::size_t c = 0; c < 4; ++c) {
    EXPECT_EQ(counts[c], 100);
    for (std::size_t j = 0; j < 3; ++j) {
      means[c * 3 + j] /= counts[c];
      EXPECT_LE(std::abs(means[c * 3 + j]), 10.0);  // inside center_box
    }
  }
  for (std::size_t i = 0; i < y.size(); ++i) {
    for (std::size_t j = 0; j < 3; ++j) {
      EXPECT_NEAR(x[i * 3 + j], means[static_cast<std::size_t>(y[i]) * 3 + j], 0.06);
    }
  }
}

TEST(Synthetic, RegressionTargetsFollowTheWeights) {
  const data::Regression task =
      data::make_regression({.samples = 30, .features = 4, .outputs = 2, .dtype = DType::f64});
  EXPECT_EQ(task.weight.shape(), (Shape{2, 4}));
  EXPECT_FALSE(task.weight2.defined());
  const std::vector<double> x = task.data.inputs().to_vector();
  const std::vector<double> y = task.data.targets().to_vector();
  const std::vector<double> w = task.weight.to_vector();
  for (std::size_t i = 0; i < 30; ++i) {
    for (std::size_t k = 0; k < 2; ++k) {
      double expected = 0;
      for (std::size_t j = 0; j < 4; ++j) expected += x[i * 4 + j] * w[k * 4 + j];
      EXPECT_NEAR(y[i * 2 + k], expected, 1e-12);
    }
  }
  // Inputs are standard normal.
  const std::vector<double> big =
      data::make_regression({.samples = 20000, .features = 1}).data.inputs().to_vector();
  double sum = 0;
  double squares = 0;
  for (double v : big) {
    sum += v;
    squares += v * v;
  }
  EXPECT_NEAR(sum / big.size(), 0.0, 0.03);
  EXPECT_NEAR(squares / big.size(), 1.0, 0.05);
}

TEST(Synthetic, TeacherIsATwoLayerTanhNetwork) {
  const data::Regression task = data::make_teacher(
      {.samples = 20, .features = 3, .hidden = 5, .outputs = 1, .dtype = DType::f64});
  EXPECT_EQ(task.weight.shape(), (Shape{5, 3}));
  EXPECT_EQ(task.weight2.shape(), (Shape{1, 5}));
  const std::vector<double> x = task.data.inputs().to_vector();
  const std::vector<double> y = task.data.targets().to_vector();
  const std::vector<double> w1 = task.weight.to_vector();
  const std::vector<double> w2 = task.weight2.to_vector();
  for (std::size_t i = 0; i < 20; ++i) {
    double out = 0;
    for (std::size_t h = 0; h < 5; ++h) {
      double pre = 0;
      for (std::size_t j = 0; j < 3; ++j) pre += x[i * 3 + j] * w1[h * 3 + j];
      out += std::tanh(pre) * w2[h];
    }
    EXPECT_NEAR(y[i], out, 1e-12);
  }
}

TEST(Synthetic, BadOptionsThrow) {
  EXPECT_THROW(data::make_spirals({.samples = 0}), Error);
  EXPECT_THROW(data::make_spirals({.classes = 0}), Error);
  EXPECT_THROW(data::make_spirals({.noise = -1}), Error);
  EXPECT_THROW(data::make_spirals({.dtype = DType::i64}), Error);
  EXPECT_THROW(data::make_blobs({.features = 0}), Error);
  EXPECT_THROW(data::make_blobs({.cluster_std = -0.5}), Error);
  EXPECT_THROW(data::make_regression({.outputs = 0}), Error);
  EXPECT_THROW(data::make_teacher({.hidden = 0}), Error);
  try {
    data::make_blobs({.classes = -2});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("make_blobs: classes must be >= 1, got -2"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace descent
