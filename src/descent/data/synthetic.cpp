#include "descent/data/synthetic.hpp"

#include <cmath>
#include <numbers>
#include <vector>

#include "descent/core/parallel.hpp"
#include "descent/data/random.hpp"

namespace descent::data {
namespace {

constexpr std::int64_t kParallelThreshold = 4096;

// n draws from N(0, 1); draw j comes from counter j / 2 of `key`.
std::vector<double> standard_normal(std::int64_t n, std::uint64_t key) {
  std::vector<double> out(static_cast<std::size_t>(n));
  const std::int64_t pairs = (n + 1) / 2;
  parallel_for_if(pairs > kParallelThreshold, pairs, [&](std::int64_t p) {
    const auto draws = normal_pair(key, static_cast<std::uint64_t>(p));
    out[2 * p] = draws[0];
    if (2 * p + 1 < n) out[2 * p + 1] = draws[1];
  });
  return out;
}

void check_common(const char* op, std::int64_t samples, DType dtype) {
  DESCENT_CHECK(samples >= 1, op, ": samples must be >= 1, got ", samples);
  DESCENT_CHECK(dtype == DType::f32 || dtype == DType::f64, op, ": dtype must be f32 or f64, got ",
                dtype_name(dtype));
}

Tensor interleaved_labels(std::int64_t samples, std::int64_t classes) {
  Tensor labels = empty({samples}, DType::i64);  // (N)
  auto* y = labels.data<std::int64_t>();
  for (std::int64_t i = 0; i < samples; ++i) y[i] = i % classes;
  return labels;
}

// y (N, K) = x (N, F) w^T, with w (K, F); all row-major.
std::vector<double> times_transpose(const std::vector<double>& x, const std::vector<double>& w,
                                    std::int64_t n, std::int64_t f, std::int64_t k) {
  std::vector<double> y(static_cast<std::size_t>(n * k));
  parallel_for_if(n * k * f > 1 << 16, n, [&](std::int64_t i) {
    for (std::int64_t o = 0; o < k; ++o) {
      double acc = 0;
      for (std::int64_t j = 0; j < f; ++j) acc += x[i * f + j] * w[o * f + j];
      y[i * k + o] = acc;
    }
  });
  return y;
}

}  // namespace

TensorDataset make_spirals(const SpiralsOptions& options) {
  check_common("make_spirals", options.samples, options.dtype);
  DESCENT_CHECK(options.classes >= 1, "make_spirals: classes must be >= 1, got ", options.classes);
  DESCENT_CHECK(options.noise >= 0, "make_spirals: noise must be >= 0, got ", options.noise);
  DESCENT_CHECK(std::isfinite(options.turns), "make_spirals: turns must be finite, got ",
                options.turns);
  const std::int64_t n = options.samples;
  const std::uint64_t position_key = stream_key(options.seed, Purpose::spirals, 0);
  const std::vector<double> noise =
      standard_normal(2 * n, stream_key(options.seed, Purpose::spirals, 1));
  std::vector<double> points(static_cast<std::size_t>(2 * n));  // (N, 2)
  parallel_for_if(n > kParallelThreshold, n, [&](std::int64_t i) {
    const auto words = philox4x32(static_cast<std::uint64_t>(i), position_key);
    const double t = uniform01_f64(words[0], words[1]);
    const double arm =
        static_cast<double>(i % options.classes) / static_cast<double>(options.classes);
    const double radius = t;
    const double angle = 2.0 * std::numbers::pi * (options.turns * t + arm);
    points[2 * i] = radius * std::cos(angle) + options.noise * noise[2 * i];
    points[2 * i + 1] = radius * std::sin(angle) + options.noise * noise[2 * i + 1];
  });
  return TensorDataset(from_vector(points, {n, 2}, options.dtype),
                       interleaved_labels(n, options.classes));
}

TensorDataset make_blobs(const BlobsOptions& options) {
  check_common("make_blobs", options.samples, options.dtype);
  DESCENT_CHECK(options.features >= 1, "make_blobs: features must be >= 1, got ", options.features);
  DESCENT_CHECK(options.classes >= 1, "make_blobs: classes must be >= 1, got ", options.classes);
  DESCENT_CHECK(options.cluster_std >= 0, "make_blobs: cluster_std must be >= 0, got ",
                options.cluster_std);
  DESCENT_CHECK(options.center_box >= 0, "make_blobs: center_box must be >= 0, got ",
                options.center_box);
  const std::int64_t n = options.samples;
  const std::int64_t f = options.features;
  const std::uint64_t center_key = stream_key(options.seed, Purpose::blobs, 0);
  std::vector<double> centers(static_cast<std::size_t>(options.classes * f));  // (classes, F)
  for (std::int64_t j = 0; j < options.classes * f; ++j) {
    const auto words = philox4x32(static_cast<std::uint64_t>(j), center_key);
    centers[j] = options.center_box * (2.0 * uniform01_f64(words[0], words[1]) - 1.0);
  }
  std::vector<double> points = standard_normal(n * f, stream_key(options.seed, Purpose::blobs, 1));
  parallel_for_if(n * f > kParallelThreshold, n, [&](std::int64_t i) {
    const std::int64_t c = i % options.classes;
    for (std::int64_t j = 0; j < f; ++j) {
      points[i * f + j] = centers[c * f + j] + options.cluster_std * points[i * f + j];
    }
  });
  return TensorDataset(from_vector(points, {n, f}, options.dtype),
                       interleaved_labels(n, options.classes));
}

Regression make_regression(const RegressionOptions& options) {
  check_common("make_regression", options.samples, options.dtype);
  DESCENT_CHECK(options.features >= 1 && options.outputs >= 1,
                "make_regression: features and outputs must be >= 1, got features ",
                options.features, " and outputs ", options.outputs);
  DESCENT_CHECK(options.noise >= 0, "make_regression: noise must be >= 0, got ", options.noise);
  const std::int64_t n = options.samples;
  const std::int64_t f = options.features;
  const std::int64_t k = options.outputs;
  const std::vector<double> x =
      standard_normal(n * f, stream_key(options.seed, Purpose::regression, 0));
  const std::vector<double> w =
      standard_normal(k * f, stream_key(options.seed, Purpose::regression, 1));
  const std::vector<double> noise =
      standard_normal(n * k, stream_key(options.seed, Purpose::regression, 2));
  std::vector<double> y = times_transpose(x, w, n, f, k);  // (N, K)
  for (std::size_t i = 0; i < y.size(); ++i) y[i] += options.noise * noise[i];
  Regression out;
  out.data =
      TensorDataset(from_vector(x, {n, f}, options.dtype), from_vector(y, {n, k}, options.dtype));
  out.weight = from_vector(w, {k, f}, options.dtype);
  return out;
}

Regression make_teacher(const TeacherOptions& options) {
  check_common("make_teacher", options.samples, options.dtype);
  DESCENT_CHECK(options.features >= 1 && options.hidden >= 1 && options.outputs >= 1,
                "make_teacher: features, hidden and outputs must be >= 1, got features ",
                options.features, ", hidden ", options.hidden, " and outputs ", options.outputs);
  DESCENT_CHECK(options.noise >= 0, "make_teacher: noise must be >= 0, got ", options.noise);
  const std::int64_t n = options.samples;
  const std::int64_t f = options.features;
  const std::int64_t h = options.hidden;
  const std::int64_t k = options.outputs;
  const std::vector<double> x =
      standard_normal(n * f, stream_key(options.seed, Purpose::teacher, 0));
  std::vector<double> w1 = standard_normal(h * f, stream_key(options.seed, Purpose::teacher, 1));
  std::vector<double> w2 = standard_normal(k * h, stream_key(options.seed, Purpose::teacher, 2));
  const std::vector<double> noise =
      standard_normal(n * k, stream_key(options.seed, Purpose::teacher, 3));
  // scale the weights so each pre-activation has unit variance
  for (double& v : w1) v /= std::sqrt(static_cast<double>(f));
  for (double& v : w2) v /= std::sqrt(static_cast<double>(h));
  std::vector<double> hidden = times_transpose(x, w1, n, f, h);  // (N, H)
  for (double& v : hidden) v = std::tanh(v);
  std::vector<double> y = times_transpose(hidden, w2, n, h, k);  // (N, K)
  for (std::size_t i = 0; i < y.size(); ++i) y[i] += options.noise * noise[i];
  Regression out;
  out.data =
      TensorDataset(from_vector(x, {n, f}, options.dtype), from_vector(y, {n, k}, options.dtype));
  out.weight = from_vector(w1, {h, f}, options.dtype);
  out.weight2 = from_vector(w2, {k, h}, options.dtype);
  return out;
}

}  // namespace descent::data
