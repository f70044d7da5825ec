#include "descent/data/fashion_mnist.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>

#include "dataset/files.hpp"

namespace descent {
namespace {

using testing::Bytes;
using testing::TempDir;

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no descent::Error thrown)";
}

// Sets an environment variable for one scope, restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

Bytes idx(std::uint8_t rank, std::vector<std::uint32_t> dims, std::size_t payload,
          std::uint8_t fill) {
  Bytes out{0, 0, 0x08, rank};
  for (std::uint32_t d : dims) {
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<std::uint8_t>(d >> shift));
  }
  out.insert(out.end(), payload, fill);
  return out;
}

// A tiny stand-in with the real file names: 3 training and 2 test images of 28x28.
void write_fake_fashion_mnist(const TempDir& dir, std::uint32_t train_labels = 3) {
  testing::write_bytes(dir.file("train-images-idx3-ubyte.gz"),
                       testing::gzip(idx(3, {3, 28, 28}, 3 * 784, 255)));
  testing::write_bytes(dir.file("train-labels-idx1-ubyte.gz"),
                       testing::gzip(idx(1, {train_labels}, train_labels, 4)));
  testing::write_bytes(dir.file("t10k-images-idx3-ubyte"), idx(3, {2, 28, 28}, 2 * 784, 0));
  testing::write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx(1, {2}, 2, 9));
}

bool debian_package_installed() {
  return std::filesystem::exists(std::string(data::kFashionMnistDefaultDir) +
                                 "/train-images-idx3-ubyte.gz");
}

// The real dataset, loaded once for the whole suite (about half a second).
class FashionMnistReal : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!debian_package_installed()) return;
    ScopedEnv no_override("DESCENT_FASHION_MNIST_DIR", std::nullopt);
    data_ = new data::FashionMnist(data::load_fashion_mnist());
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }
  void SetUp() override {
    if (data_ == nullptr) {
      GTEST_SKIP() << "Fashion-MNIST is not installed (apt install dataset-fashion-mnist)";
    }
  }
  static data::FashionMnist* data_;
};
data::FashionMnist* FashionMnistReal::data_ = nullptr;

TEST_F(FashionMnistReal, SplitsShapesAndRanges) {
  const data::FashionMnist& fm = *data_;
  EXPECT_EQ(fm.root, data::kFashionMnistDefaultDir);
  EXPECT_EQ(fm.train.size(), 60000);
  EXPECT_EQ(fm.test.size(), 10000);
  EXPECT_EQ(fm.validation.size(), 0);
  EXPECT_EQ(fm.train.inputs().shape(), (Shape{60000, 1, 28, 28}));
  EXPECT_EQ(fm.test.inputs().shape(), (Shape{10000, 1, 28, 28}));
  EXPECT_EQ(fm.train.targets().shape(), (Shape{60000}));
  EXPECT_EQ(fm.train.inputs().dtype(), DType::f32);
  EXPECT_EQ(fm.train.targets().dtype(), DType::i64);

  // Both splits are balanced: 6000 and 1000 examples of each of the 10 classes.
  for (const auto& [split, per_class] : {std::pair{&fm.train, 6000}, std::pair{&fm.test, 1000}}) {
    std::vector<int> counts(10, 0);
    const auto* labels = split->targets().data<std::int64_t>();
    for (std::int64_t i = 0; i < split->size(); ++i) {
      ASSERT_GE(labels[i], 0);
      ASSERT_LE(labels[i], 9);
      counts[static_cast<std::size_t>(labels[i])]++;
    }
    for (int c = 0; c < 10; ++c) EXPECT_EQ(counts[c], per_class) << "class " << c;
  }

  // Pixels span [0, 1] exactly, and their mean and std are the usual normalization constants.
  const float* pixels = fm.train.inputs().data<float>();
  const std::int64_t n = fm.train.inputs().numel();
  const auto [lowest, highest] = std::minmax_element(pixels, pixels + n);
  EXPECT_EQ(*lowest, 0.0f);
  EXPECT_EQ(*highest, 1.0f);
  double sum = 0;
  double squares = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    sum += pixels[i];
    squares += static_cast<double>(pixels[i]) * pixels[i];
  }
  const double mean = sum / n;
  const double std = std::sqrt(squares / n - mean * mean);
  EXPECT_NEAR(mean, data::kFashionMnistMean, 5e-4);
  EXPECT_NEAR(std, data::kFashionMnistStd, 5e-4);
}

TEST_F(FashionMnistReal, ValidationSplitFromTheTrainingFile) {
  // The last K: views of the training file's examples 55000..59999.
  const data::TrainValidation last = data::split_validation(data_->train, 5000);
  EXPECT_EQ(last.train.size(), 55000);
  EXPECT_EQ(last.validation.size(), 5000);
  EXPECT_TRUE(last.validation.inputs().same_storage(data_->train.inputs()));
  EXPECT_EQ(last.validation.targets().to_vector(),
            data_->train.slice(55000, 60000).targets().to_vector());
  EXPECT_EQ(last.validation.inputs().data<float>(),
            data_->train.inputs().data<float>() + 55000 * 784);

  // (The seeded split is tested on a small dataset in dataset_test.cpp.)
}

TEST(FashionMnist, LoadsFromAnExplicitRootAndTheEnvironment) {
  TempDir dir;
  write_fake_fashion_mnist(dir);
  {
    ScopedEnv unset("DESCENT_FASHION_MNIST_DIR", std::nullopt);
    const data::FashionMnist fm = data::load_fashion_mnist({.root = dir.path().string()});
    EXPECT_EQ(fm.root, dir.path().string());
    EXPECT_EQ(fm.train.inputs().shape(), (Shape{3, 1, 28, 28}));
    EXPECT_EQ(fm.test.inputs().shape(), (Shape{2, 1, 28, 28}));
    EXPECT_EQ(fm.train.inputs().to_vector()[100], 1.0);
    EXPECT_EQ(fm.test.targets().to_vector(), (std::vector<double>{9, 9}));
  }
  {
    ScopedEnv set("DESCENT_FASHION_MNIST_DIR", dir.path().string());
    const data::FashionMnist fm = data::load_fashion_mnist({.validation_size = 1});
    EXPECT_EQ(fm.root, dir.path().string());
    EXPECT_EQ(fm.train.size(), 2);
    EXPECT_EQ(fm.validation.size(), 1);
    EXPECT_EQ(fm.test.size(), 2);
  }
}

TEST(FashionMnist, NotFoundSaysWhereItLookedAndWhatToInstall) {
  TempDir empty_dir;
  {
    ScopedEnv unset("DESCENT_FASHION_MNIST_DIR", std::nullopt);
    const std::string message =
        message_of([&] { data::load_fashion_mnist({.root = empty_dir.path().string()}); });
    EXPECT_NE(message.find(empty_dir.file("train-images-idx3-ubyte")), std::string::npos)
        << message;
    EXPECT_NE(message.find(empty_dir.file("t10k-labels-idx1-ubyte")), std::string::npos) << message;
    EXPECT_NE(message.find("dataset-fashion-mnist"), std::string::npos) << message;
  }
  {
    ScopedEnv set("DESCENT_FASHION_MNIST_DIR", empty_dir.path().string());
    const std::string message = message_of([&] { data::load_fashion_mnist(); });
    EXPECT_NE(message.find("DESCENT_FASHION_MNIST_DIR"), std::string::npos) << message;
    EXPECT_NE(message.find(empty_dir.file("train-labels-idx1-ubyte")), std::string::npos)
        << message;
  }
}

TEST(FashionMnist, CountMismatchAndBadSplitAreErrors) {
  TempDir dir;
  write_fake_fashion_mnist(dir, /*train_labels=*/2);
  const std::string message =
      message_of([&] { data::load_fashion_mnist({.root = dir.path().string()}); });
  EXPECT_NE(message.find("3 images"), std::string::npos) << message;
  EXPECT_NE(message.find("2 labels"), std::string::npos) << message;

  TempDir good;
  write_fake_fashion_mnist(good);
  EXPECT_THROW(data::load_fashion_mnist({.root = good.path().string(), .validation_size = 4}),
               Error);
  EXPECT_THROW(data::load_fashion_mnist({.root = good.path().string(), .validation_size = -1}),
               Error);
}

TEST(FashionMnist, ClassNames) {
  EXPECT_EQ(data::kFashionMnistClasses[0], "T-shirt/top");
  EXPECT_EQ(data::kFashionMnistClasses[9], "Ankle boot");
}

}  // namespace
}  // namespace descent
