// Transforms: in-place changes to a batch of inputs, applied by the loader after loading.
//
// ====== Intended usage ======
//   data::DataLoader loader(train, {
//       .batch_size = 128, .shuffle = true, .seed = 1,
//       .transforms = {data::random_crop({.padding = 2, .seed = 1}),
//                      data::random_horizontal_flip({.seed = 1}),
//                      data::normalize({.mean = {data::kFashionMnistMean},
//                                       .std = {data::kFashionMnistStd}})}});
//
// Random transforms draw from a stream keyed by (their seed, the epoch) with the example's
// index in the dataset as the counter, so example i gets the same crop in epoch e whatever
// the batch size, the shuffle, the thread count or the prefetch depth, and a different one
// in epoch e + 1. As in torchvision, the crop pads with zeros: put normalize last so that
// the padding is black in the original pixel scale.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::data {

class Transform {
 public:
  virtual ~Transform() = default;
  // Throws naming the transform unless it can work on examples of this shape and dtype
  // (called once, when a loader is built).
  virtual void check(const Shape& example_shape, DType dtype) const = 0;
  // Changes `inputs` (B, *example_shape) in place; row b is example indices[b] of the
  // dataset, in epoch `epoch`. Allocates nothing; runs on the loader's prefetch thread.
  virtual void apply(Tensor& inputs, std::span<const std::int64_t> indices,
                     std::uint64_t epoch) const = 0;
};

// Per channel c (dimension 1 of the batch):  x = (x - mean[c]) / std[c].
// mean and std have C entries, or one entry for every channel. As torchvision's Normalize.
struct NormalizeOptions {
  std::vector<double> mean;
  std::vector<double> std;
};
std::shared_ptr<const Transform> normalize(const NormalizeOptions& options);

// The mean and (population) standard deviation of each channel of `inputs` (N, C, ...), to
// standardize a dataset (for a table (N, F): each feature). A channel that is constant gets
// std 1, so normalizing it gives zeros rather than NaN.
NormalizeOptions channel_stats(const Tensor& inputs);

// Pads each image (C, H, W) with `padding` zeros on every side, then takes a random H x W
// window: the image moves by up to `padding` pixels in each direction. As torchvision's
// RandomCrop(size=(H, W), padding=padding).
struct RandomCropOptions {
  std::int64_t padding = 4;
  std::uint64_t seed = 0;
};
std::shared_ptr<const Transform> random_crop(const RandomCropOptions& options);

// Mirrors each image (C, H, W) left to right with probability p. As torchvision's
// RandomHorizontalFlip(p=0.5).
struct RandomHorizontalFlipOptions {
  double p = 0.5;
  std::uint64_t seed = 0;
};
std::shared_ptr<const Transform> random_horizontal_flip(const RandomHorizontalFlipOptions& options);

}  // namespace descent::data
