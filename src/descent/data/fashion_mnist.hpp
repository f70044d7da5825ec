// Fashion-MNIST (Xiao, Rasul and Vollgraf 2017, arXiv:1708.07747): 70,000 28x28 grayscale
// images of clothing in 10 classes, split 60,000 for training and 10,000 for testing.
//
// ====== Intended usage ======
//   data::FashionMnist fm = data::load_fashion_mnist({.validation_size = 5000});
//   fm.train       // 55,000 examples: inputs (N, 1, 28, 28) f32 in [0, 1], targets (N) i64
//   fm.validation  // the last 5,000 of the training file
//   fm.test        // the 10,000 of the test file
//   // usual normalization: Normalize({.mean = {kFashionMnistMean}, .std = {kFashionMnistStd}})
//
// Where the files are looked for (the first rule that applies picks the one directory):
//   1. options.root, when it is not empty;
//   2. the directory in the environment variable DESCENT_FASHION_MNIST_DIR, when it is set;
//   3. /usr/share/datasets/fashion-mnist, where Debian's package dataset-fashion-mnist puts
//      them (`apt install dataset-fashion-mnist`).
// A directory given by 1 or 2 that lacks the files is an error, not a reason to look on.
// A directory holds train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each gzip-compressed with a `.gz`
// suffix (as distributed) or plain.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "descent/data/dataset.hpp"

namespace descent::data {

// Mean and standard deviation of the training pixels after scaling to [0, 1] (the values
// used by the torchvision examples).
inline constexpr double kFashionMnistMean = 0.2860;
inline constexpr double kFashionMnistStd = 0.3530;

inline constexpr std::string_view kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";

// Class names, by label (0 = "T-shirt/top", ..., 9 = "Ankle boot").
inline constexpr std::array<std::string_view, 10> kFashionMnistClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

struct FashionMnistOptions {
  // The directory of the four files; empty: $DESCENT_FASHION_MNIST_DIR, then the Debian path.
  std::string root = "";
  // Training examples held out for validation (0: none); taken out of `train`.
  std::int64_t validation_size = 0;
  // Unset: the validation examples are the last validation_size of the training file (no
  // copy). Set: a random subset drawn with this seed. See split_validation().
  std::optional<std::uint64_t> validation_seed = std::nullopt;
};

struct FashionMnist {
  TensorDataset train;
  TensorDataset validation;  // empty when validation_size is 0
  TensorDataset test;
  std::string root;  // the directory the files came from
};

// Loads both splits (about a second of CPU, most of it decompressing; 220 MB of f32 pixels).
// Throws descent::Error if the directory lacks the files (naming each path tried and the
// package to install), if a file is malformed, or if a split's image and label counts differ.
FashionMnist load_fashion_mnist(const FashionMnistOptions& options = {});

// The directory that load_fashion_mnist would read, by the rules above; throws like it.
std::string find_fashion_mnist(const std::string& root = "");

// An image file and a label file of the same length (MNIST, Fashion-MNIST, KMNIST, ...) as a
// dataset: inputs (N, 1, H, W) f32 in [0, 1], targets (N) i64.
TensorDataset load_idx_classification(const std::string& images_path,
                                      const std::string& labels_path);

}  // namespace descent::data
