#include "descent/data/transforms.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <set>

namespace descent {
namespace {

// A batch of B images (B, C, H, W) whose pixel values never repeat, so that a shift or a
// mirror can be recognised exactly.
Tensor distinct_images(std::int64_t batch, std::int64_t channels, std::int64_t height,
                       std::int64_t width) {
  const double count = static_cast<double>(batch * channels * height * width);
  return arange(1.0, 1.0 + count).view_of(0, {batch, channels, height, width});
}

std::vector<std::int64_t> iota(std::int64_t n, std::int64_t first = 0) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out[i] = first + i;
  return out;
}

// If image b of `after` is image b of `before` moved so that after(c, y, x) = before(c, y + dy,
// x + dx) (0 outside), returns (dy, dx) with |dy|, |dx| <= pad; otherwise nullopt.
std::optional<std::pair<int, int>> find_shift(const Tensor& before, const Tensor& after,
                                              std::int64_t b, int pad) {
  const std::int64_t channels = before.size(1);
  const std::int64_t height = before.size(2);
  const std::int64_t width = before.size(3);
  const float* in = before.data<float>() + b * channels * height * width;
  const float* out = after.data<float>() + b * channels * height * width;
  for (int dy = -pad; dy <= pad; ++dy) {
    for (int dx = -pad; dx <= pad; ++dx) {
      bool match = true;
      for (std::int64_t c = 0; c < channels && match; ++c) {
        for (std::int64_t y = 0; y < height && match; ++y) {
          for (std::int64_t x = 0; x < width && match; ++x) {
            const std::int64_t sy = y + dy;
            const std::int64_t sx = x + dx;
            const bool outside = sy < 0 || sy >= height || sx < 0 || sx >= width;
            const float expected = outside ? 0.0f : in[(c * height + sy) * width + sx];
            match = out[(c * height + y) * width + x] == expected;
          }
        }
      }
      if (match) return std::pair{dy, dx};
    }
  }
  return std::nullopt;
}

// +1 if image b of `after` is image b of `before` mirrored left to right, 0 if unchanged.
int flipped(const Tensor& before, const Tensor& after, std::int64_t b) {
  const std::int64_t rows = before.size(1) * before.size(2);
  const std::int64_t width = before.size(3);
  const float* in = before.data<float>() + b * rows * width;
  const float* out = after.data<float>() + b * rows * width;
  bool same = true;
  bool mirrored = true;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t x = 0; x < width; ++x) {
      same = same && out[r * width + x] == in[r * width + x];
      mirrored = mirrored && out[r * width + x] == in[r * width + (width - 1 - x)];
    }
  }
  EXPECT_TRUE(same || mirrored) << "image " << b << " is neither itself nor its mirror";
  return mirrored ? 1 : 0;
}

TEST(Normalize, PerChannelAndOneForAll) {
  Tensor x = tensor({1, 2, 3, 4, 10, 20, 30, 40}, {2, 2, 2}, DType::f64);  // (B, C, inner)
  const std::vector<std::int64_t> indices{0, 1};
  const auto per_channel = data::normalize({.mean = {1, 10}, .std = {2, 5}});
  per_channel->check({2, 2}, DType::f64);
  per_channel->apply(x, indices, 0);
  const std::vector<double> expected{0, 0.5, -1.4, -1.2, 4.5, 9.5, 4, 6};
  const std::vector<double> got = x.to_vector();
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-12) << i;

  Tensor images = tensor({0.2860 + 0.3530, 0.2860, 0.2860 - 0.7060}, {3, 1, 1, 1});
  const std::vector<std::int64_t> three{0, 1, 2};
  data::normalize({.mean = {0.2860}, .std = {0.3530}})->apply(images, three, 0);
  const std::vector<double> z = images.to_vector();
  EXPECT_NEAR(z[0], 1.0, 1e-6);
  EXPECT_NEAR(z[1], 0.0, 1e-6);
  EXPECT_NEAR(z[2], -2.0, 1e-6);
}

TEST(Normalize, BadOptionsThrow) {
  EXPECT_THROW(data::normalize({.mean = {}, .std = {}}), Error);
  EXPECT_THROW(data::normalize({.mean = {0.5}, .std = {0.5, 0.5}}), Error);
  EXPECT_THROW(data::normalize({.mean = {0.5}, .std = {0.0}}), Error);
  EXPECT_THROW(data::normalize({.mean = {NAN}, .std = {1.0}}), Error);
  const auto three = data::normalize({.mean = {0, 0, 0}, .std = {1, 1, 1}});
  EXPECT_NO_THROW(three->check({3, 8, 8}, DType::f32));
  EXPECT_THROW(three->check({1, 28, 28}, DType::f32), Error);  // 3 means, 1 channel
  EXPECT_THROW(three->check({3, 8, 8}, DType::i64), Error);
  EXPECT_THROW(three->check({}, DType::f32), Error);
}

TEST(ChannelStats, MeanAndPopulationStd) {
  // channel 0 holds 1, 2, 3, 6 (mean 3, variance 3.5); channel 1 is constant.
  const Tensor x = tensor({1, 2, 5, 5, 3, 6, 5, 5}, {2, 2, 2}, DType::f64);
  const data::NormalizeOptions stats = data::channel_stats(x);
  ASSERT_EQ(stats.mean.size(), 2u);
  EXPECT_DOUBLE_EQ(stats.mean[0], 3.0);
  EXPECT_DOUBLE_EQ(stats.std[0], std::sqrt(3.5));
  EXPECT_DOUBLE_EQ(stats.mean[1], 5.0);
  EXPECT_DOUBLE_EQ(stats.std[1], 1.0);  // constant: 1, not 0
  EXPECT_THROW(data::channel_stats(zeros({4})), Error);
}

TEST(RandomCrop, EachImageIsAShiftWithinThePadding) {
  const Tensor original = distinct_images(64, 2, 6, 7);
  Tensor x = original.clone();
  const auto crop = data::random_crop({.padding = 2, .seed = 3});
  crop->check({2, 6, 7}, DType::f32);
  crop->apply(x, iota(64), 0);
  EXPECT_EQ(x.shape(), original.shape());
  std::set<std::pair<int, int>> shifts;
  for (std::int64_t b = 0; b < 64; ++b) {
    const auto shift = find_shift(original, x, b, 2);
    ASSERT_TRUE(shift.has_value()) << "image " << b << " is not a shift within the padding";
    shifts.insert(*shift);
  }
  // 64 draws from 25 shifts reach most of them, the extreme ones included.
  EXPECT_GE(shifts.size(), 15u);
  EXPECT_TRUE(shifts.count({-2, -2}) + shifts.count({2, 2}) + shifts.count({-2, 2}) +
                  shifts.count({2, -2}) >
              0);
}

TEST(RandomHorizontalFlip, FlipsAboutHalfWithPointFive) {
  const Tensor original = distinct_images(400, 1, 3, 5);
  Tensor x = original.clone();
  data::random_horizontal_flip({.seed = 1})->apply(x, iota(400), 0);
  int count = 0;
  for (std::int64_t b = 0; b < 400; ++b) count += flipped(original, x, b);
  EXPECT_GT(count, 150);
  EXPECT_LT(count, 250);

  Tensor never = original.clone();
  data::random_horizontal_flip({.p = 0.0})->apply(never, iota(400), 0);
  Tensor always = original.clone();
  data::random_horizontal_flip({.p = 1.0})->apply(always, iota(400), 0);
  for (std::int64_t b = 0; b < 400; ++b) {
    EXPECT_EQ(flipped(original, never, b), 0);
    EXPECT_EQ(flipped(original, always, b), 1);
  }
}

// Random transforms depend only on (seed, epoch, example index): not on the batch an example
// sits in, nor on its position there.
TEST(RandomTransforms, DeterministicPerSeedEpochAndExample) {
  const std::vector<std::shared_ptr<const data::Transform>> transforms = {
      data::random_crop({.padding = 1, .seed = 5}),
      data::random_horizontal_flip({.seed = 5}),
  };
  for (const auto& transform : transforms) {
    const Tensor original = distinct_images(32, 1, 4, 4);
    auto run = [&](std::uint64_t epoch, const std::vector<std::int64_t>& indices) {
      Tensor x = original.view_of(0, {static_cast<std::int64_t>(indices.size()), 1, 4, 4}).clone();
      transform->apply(x, indices, epoch);
      return x;
    };
    const std::vector<double> a = run(0, iota(32)).to_vector();
    EXPECT_EQ(a, run(0, iota(32)).to_vector());
    EXPECT_NE(a, run(1, iota(32)).to_vector());
    EXPECT_NE(a, run(0, iota(32, 100)).to_vector());  // other examples, other draws

    // Example 7 alone, in a batch of one, gets what it got at position 7 above.
    Tensor single = original.view_of(7 * 16, {1, 1, 4, 4}).clone();
    transform->apply(single, std::vector<std::int64_t>{7}, 0);
    const std::vector<double> alone = single.to_vector();
    EXPECT_EQ(alone, std::vector<double>(a.begin() + 7 * 16, a.begin() + 8 * 16));
  }
}

TEST(RandomTransforms, BadOptionsAndShapesThrow) {
  EXPECT_THROW(data::random_crop({.padding = -1}), Error);
  EXPECT_THROW(data::random_horizontal_flip({.p = 1.5}), Error);
  EXPECT_THROW(data::random_crop({})->check({28, 28}, DType::f32), Error);  // not (C, H, W)
  EXPECT_THROW(data::random_horizontal_flip({})->check({1, 28, 28}, DType::i64), Error);
  try {
    data::random_crop({})->check({784}, DType::f32);
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("random_crop: expected images (C, H, W), got examples (784)"),
        std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace descent
