#include "descent/data/transforms.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "descent/data/random.hpp"

namespace descent::data {
namespace {

// (B, C, H, W) views of a batch of images, checked once by check().
void check_image(const char* op, const Shape& example_shape, DType dtype) {
  DESCENT_CHECK(example_shape.size() == 3, op, ": expected images (C, H, W), got examples ",
                shape_str(example_shape));
  DESCENT_CHECK(is_floating(dtype) && dtype != DType::bf16 && dtype != DType::f16, op,
                ": expected f32 or f64 images, got ", dtype_name(dtype));
}

class Normalize final : public Transform {
 public:
  explicit Normalize(NormalizeOptions options) : options_(std::move(options)) {
    DESCENT_CHECK(!options_.mean.empty() && options_.mean.size() == options_.std.size(),
                  "normalize: mean and std need the same number (>= 1) of entries, got ",
                  options_.mean.size(), " and ", options_.std.size());
    for (std::size_t c = 0; c < options_.std.size(); ++c) {
      DESCENT_CHECK(
          options_.std[c] > 0 && std::isfinite(options_.std[c]) && std::isfinite(options_.mean[c]),
          "normalize: std[", c, "] must be finite and > 0 and mean[", c, "] finite, got std ",
          options_.std[c], " and mean ", options_.mean[c]);
    }
  }

  void check(const Shape& example_shape, DType dtype) const override {
    DESCENT_CHECK(!example_shape.empty(), "normalize: expected examples (C, ...), got ",
                  shape_str(example_shape));
    DESCENT_CHECK(dtype == DType::f32 || dtype == DType::f64,
                  "normalize: expected f32 or f64 inputs, got ", dtype_name(dtype));
    const auto channels = static_cast<std::size_t>(example_shape[0]);
    DESCENT_CHECK(options_.mean.size() == 1 || options_.mean.size() == channels,
                  "normalize: ", options_.mean.size(), " means for examples ",
                  shape_str(example_shape), " with ", channels, " channels");
  }

  void apply(Tensor& inputs, std::span<const std::int64_t> /*indices*/,
             std::uint64_t /*epoch*/) const override {
    const std::int64_t batch = inputs.size(0);
    const std::int64_t channels = inputs.dim() >= 2 ? inputs.size(1) : 1;
    const std::int64_t inner = batch * channels == 0 ? 0 : inputs.numel() / (batch * channels);
    dispatch_float(inputs.dtype(), "normalize", [&]<typename T>() {
      T* x = inputs.data<T>();  // (B, C, inner)
      for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t c = 0; c < channels; ++c) {
          const std::size_t k = options_.mean.size() == 1 ? 0 : static_cast<std::size_t>(c);
          const T mean = static_cast<T>(options_.mean[k]);
          const T inv_std = static_cast<T>(1.0 / options_.std[k]);
          T* row = x + (b * channels + c) * inner;
#pragma omp simd
          for (std::int64_t i = 0; i < inner; ++i) row[i] = (row[i] - mean) * inv_std;
        }
      }
    });
  }

 private:
  NormalizeOptions options_;
};

class RandomCrop final : public Transform {
 public:
  explicit RandomCrop(RandomCropOptions options) : options_(options) {
    DESCENT_CHECK(options_.padding >= 0, "random_crop: padding must be >= 0, got ",
                  options_.padding);
  }

  void check(const Shape& example_shape, DType dtype) const override {
    check_image("random_crop", example_shape, dtype);
  }

  void apply(Tensor& inputs, std::span<const std::int64_t> indices,
             std::uint64_t epoch) const override {
    const std::int64_t pad = options_.padding;
    if (pad == 0) return;
    const std::int64_t channels = inputs.size(1);
    const std::int64_t height = inputs.size(2);
    const std::int64_t width = inputs.size(3);
    const std::uint64_t key = stream_key(options_.seed, Purpose::random_crop, epoch);
    dispatch_float(inputs.dtype(), "random_crop", [&]<typename T>() {
      for (std::size_t b = 0; b < indices.size(); ++b) {
        // The window's top-left corner in the padded image is (top, left) in [0, 2 pad]^2,
        // so output pixel (y, x) is input pixel (y + dy, x + dx) with d = corner - pad.
        const auto words = philox4x32(static_cast<std::uint64_t>(indices[b]), key);
        const auto choices = static_cast<std::uint64_t>(2 * pad + 1);
        const std::int64_t dy = static_cast<std::int64_t>(below(bits64(words), choices)) - pad;
        const std::int64_t dx =
            static_cast<std::int64_t>(
                below(static_cast<std::uint64_t>(words[2]) << 32 | words[3], choices)) -
            pad;
        for (std::int64_t c = 0; c < channels; ++c) {
          T* image =
              inputs.data<T>() + (static_cast<std::int64_t>(b) * channels + c) * height * width;
          shift(image, height, width, dy, dx);
        }
      }
    });
  }

 private:
  // In place: out(y, x) = in(y + dy, x + dx), zero outside. Rows are visited in the order
  // that reads each source row before it is overwritten; memmove handles a row onto itself.
  template <typename T>
  static void shift(T* image, std::int64_t height, std::int64_t width, std::int64_t dy,
                    std::int64_t dx) {
    const std::int64_t span = width - std::abs(dx);
    auto do_row = [&](std::int64_t y) {
      T* dst = image + y * width;
      const std::int64_t src_y = y + dy;
      if (src_y < 0 || src_y >= height || span <= 0) {
        std::fill(dst, dst + width, T(0));
        return;
      }
      const T* src = image + src_y * width;
      const std::int64_t dst_begin = std::max<std::int64_t>(0, -dx);
      std::memmove(dst + dst_begin, src + dst_begin + dx, span * sizeof(T));
      std::fill(dst, dst + dst_begin, T(0));
      std::fill(dst + dst_begin + span, dst + width, T(0));
    };
    if (dy >= 0) {
      for (std::int64_t y = 0; y < height; ++y) do_row(y);
    } else {
      for (std::int64_t y = height - 1; y >= 0; --y) do_row(y);
    }
  }

  RandomCropOptions options_;
};

class RandomHorizontalFlip final : public Transform {
 public:
  explicit RandomHorizontalFlip(RandomHorizontalFlipOptions options) : options_(options) {
    DESCENT_CHECK(options_.p >= 0 && options_.p <= 1,
                  "random_horizontal_flip: p must be in [0, 1], got ", options_.p);
  }

  void check(const Shape& example_shape, DType dtype) const override {
    check_image("random_horizontal_flip", example_shape, dtype);
  }

  void apply(Tensor& inputs, std::span<const std::int64_t> indices,
             std::uint64_t epoch) const override {
    const std::int64_t rows = inputs.size(1) * inputs.size(2);  // C * H
    const std::int64_t width = inputs.size(3);
    const std::uint64_t key = stream_key(options_.seed, Purpose::horizontal_flip, epoch);
    dispatch_float(inputs.dtype(), "random_horizontal_flip", [&]<typename T>() {
      for (std::size_t b = 0; b < indices.size(); ++b) {
        const auto words = philox4x32(static_cast<std::uint64_t>(indices[b]), key);
        if (uniform01_f64(words[0], words[1]) >= options_.p) continue;
        T* image = inputs.data<T>() + static_cast<std::int64_t>(b) * rows * width;
        for (std::int64_t r = 0; r < rows; ++r)
          std::reverse(image + r * width, image + (r + 1) * width);
      }
    });
  }

 private:
  RandomHorizontalFlipOptions options_;
};

}  // namespace

std::shared_ptr<const Transform> normalize(const NormalizeOptions& options) {
  return std::make_shared<Normalize>(options);
}

std::shared_ptr<const Transform> random_crop(const RandomCropOptions& options) {
  return std::make_shared<RandomCrop>(options);
}

std::shared_ptr<const Transform> random_horizontal_flip(
    const RandomHorizontalFlipOptions& options) {
  return std::make_shared<RandomHorizontalFlip>(options);
}

NormalizeOptions channel_stats(const Tensor& inputs) {
  DESCENT_CHECK(inputs.defined() && inputs.dim() >= 2 && inputs.size(0) >= 1,
                "channel_stats: expected inputs (N, C, ...) with N >= 1, got ",
                inputs.defined() ? shape_str(inputs.shape()) : "an undefined tensor");
  const std::int64_t n = inputs.size(0);
  const std::int64_t channels = inputs.size(1);
  const std::int64_t inner = inputs.numel() / (n * channels);
  NormalizeOptions stats;
  stats.mean.assign(static_cast<std::size_t>(channels), 0.0);
  stats.std.assign(static_cast<std::size_t>(channels), 0.0);
  dispatch_float(inputs.dtype(), "channel_stats", [&]<typename T>() {
    const T* x = inputs.data<T>();  // (N, C, inner)
    const double count = static_cast<double>(n * inner);
    for (std::int64_t c = 0; c < channels; ++c) {
      // two passes, in double: the mean, then the squared deviations from it
      double sum = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const T* row = x + (i * channels + c) * inner;
        for (std::int64_t j = 0; j < inner; ++j) sum += row[j];
      }
      const double mean = sum / count;
      double squares = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const T* row = x + (i * channels + c) * inner;
        for (std::int64_t j = 0; j < inner; ++j) squares += (row[j] - mean) * (row[j] - mean);
      }
      const double std = std::sqrt(squares / count);
      stats.mean[c] = mean;
      stats.std[c] = std > 0 ? std : 1.0;
    }
  });
  return stats;
}

}  // namespace descent::data
