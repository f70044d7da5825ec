// Filter-normalized random directions (Li et al. 2018): each filter of the direction has the
// norm of the matching filter of the weights; rank <= 1 parameters are zero (or the weights).
#include "descent/landscape/directions.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "landscape_test_util.hpp"

namespace descent {
namespace {

using landscape::Direction;
using landscape::Normalization;

double slice_norm(const Tensor& flat, std::int64_t offset, std::int64_t count) {
  const float* x = flat.data<float>() + offset;
  double sum = 0.0;
  for (std::int64_t i = 0; i < count; ++i) sum += static_cast<double>(x[i]) * x[i];
  return std::sqrt(sum);
}

TEST(Directions, FilterNormalizationMatchesEachFilterOfTheWeights) {
  // conv (32, 1, 3, 3) and (64, 32, 3, 3), BN weights and biases, linear rows.
  auto model = testing::zoo_model("cnn,input=1x8x8", 1);
  const nn::FlatParameters& flat = model->flat_parameters();
  const Direction d = landscape::random_direction(*model, {.seed = 7});
  int checked_filters = 0;
  for (const nn::ParamRange& range : flat.ranges) {
    if (range.shape.size() <= 1) {
      EXPECT_EQ(slice_norm(d.values, range.offset, range.numel), 0.0) << range.name;
      continue;
    }
    const std::int64_t filters = range.shape[0];
    const std::int64_t per_filter = range.numel / filters;
    for (std::int64_t f = 0; f < filters; ++f) {
      const std::int64_t offset = range.offset + f * per_filter;
      const double expected = slice_norm(flat.params, offset, per_filter);
      EXPECT_NEAR(slice_norm(d.values, offset, per_filter), expected, 1e-5 * expected)
          << range.name << " filter " << f;
      ++checked_filters;
    }
    // A random direction, not the weights rescaled: its elements are not proportional.
    const float* dv = d.values.data<float>() + range.offset;
    const float* wv = flat.params.data<float>() + range.offset;
    double cosine = 0.0;
    for (std::int64_t i = 0; i < range.numel; ++i) cosine += static_cast<double>(dv[i]) * wv[i];
    cosine /= slice_norm(d.values, range.offset, range.numel) *
              slice_norm(flat.params, range.offset, range.numel);
    EXPECT_LT(std::abs(cosine), 0.5) << range.name;
  }
  EXPECT_EQ(checked_filters, 32 + 64 + 128 + 10);
}

TEST(Directions, WithoutIgnoringBiasAndNormTheyFollowTheWeights) {
  auto model = testing::zoo_model("mlp:2-8-3,bn=1", 2);
  const nn::FlatParameters& flat = model->flat_parameters();
  const Direction d =
      landscape::random_direction(*model, {.ignore_bias_and_norm = false, .seed = 1});
  int vectors = 0;
  for (const nn::ParamRange& range : flat.ranges) {
    if (range.shape.size() > 1) continue;
    for (std::int64_t i = 0; i < range.numel; ++i) {
      EXPECT_EQ(d.values.data<float>()[range.offset + i],
                flat.params.data<float>()[range.offset + i])
          << range.name;
    }
    ++vectors;
  }
  EXPECT_EQ(vectors, 3);  // bn1.weight, bn1.bias, fc2.bias (fc1 has no bias before BN)
}

TEST(Directions, LayerNormalizationAndNone) {
  auto model = testing::zoo_model("mlp:4-16-3", 3);
  const nn::FlatParameters& flat = model->flat_parameters();
  const Direction layer =
      landscape::random_direction(*model, {.normalization = Normalization::layer, .seed = 4});
  const Direction none =
      landscape::random_direction(*model, {.normalization = Normalization::none, .seed = 4});
  for (const nn::ParamRange& range : flat.ranges) {
    if (range.shape.size() <= 1) continue;
    const double expected = slice_norm(flat.params, range.offset, range.numel);
    EXPECT_NEAR(slice_norm(layer.values, range.offset, range.numel), expected, 1e-5 * expected);
    // The same draw, one factor for the whole layer.
    const double factor = expected / slice_norm(none.values, range.offset, range.numel);
    for (std::int64_t i = 0; i < range.numel; ++i) {
      EXPECT_NEAR(layer.values.data<float>()[range.offset + i],
                  none.values.data<float>()[range.offset + i] * factor, 1e-5);
    }
  }
}

TEST(Directions, SeededAndDistinct) {
  auto model = testing::zoo_model("mlp:4-16-3", 3);
  const Direction a = landscape::random_direction(*model, {.seed = 5});
  const Direction b = landscape::random_direction(*model, {.seed = 5});
  const Direction c = landscape::random_direction(*model, {.seed = 6});
  EXPECT_EQ(a.values.to_vector(), b.values.to_vector());
  EXPECT_NE(a.values.to_vector(), c.values.to_vector());
  EXPECT_GT(landscape::norm(a), 0.0);
}

TEST(Directions, BadInputNamesWhatIsWrong) {
  auto cnn = testing::zoo_model("cnn,input=1x8x8", 1);
  auto mlp = testing::zoo_model("mlp:64-16-10", 1);
  const Direction for_cnn = landscape::random_direction(*cnn);
  try {
    landscape::check_direction(for_cnn, *mlp, "scan_1d", "direction x");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("scan_1d: direction x does not fit the model"), std::string::npos)
        << message;
    EXPECT_NE(message.find("conv1.weight"), std::string::npos) << message;
  }
  // Same layout, values of another size or dtype.
  Direction broken = landscape::random_direction(*mlp);
  broken.values = zeros({3});
  EXPECT_THROW(landscape::check_direction(broken, *mlp, "scan_1d"), Error);
  broken.values = zeros(mlp->flat_parameters().params.shape(), DType::f64);
  EXPECT_THROW(landscape::check_direction(broken, *mlp, "scan_1d"), Error);
  // A model that was not flattened.
  Generator gen(0);
  nn::Linear plain(3, 2, gen);
  EXPECT_THROW(landscape::random_direction(plain), Error);
}

}  // namespace
}  // namespace descent
