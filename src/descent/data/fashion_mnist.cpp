#include "descent/data/fashion_mnist.hpp"

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "descent/data/idx.hpp"

namespace descent::data {
namespace {

constexpr std::array<std::string_view, 4> kFiles = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte"};

// `dir/name.gz` if it exists, else `dir/name` if it exists, else "".
std::string locate(const std::string& dir, std::string_view name) {
  std::error_code error;
  const std::filesystem::path base = std::filesystem::path(dir) / name;
  for (const std::filesystem::path& candidate :
       {std::filesystem::path(base.string() + ".gz"), base}) {
    if (std::filesystem::is_regular_file(candidate, error)) return candidate.string();
  }
  return "";
}

std::string file_path(const std::string& dir, std::string_view name) {
  std::string path = locate(dir, name);
  DESCENT_CHECK(!path.empty(), "load_fashion_mnist: ", dir, " lacks ", name, "(.gz)");
  return path;
}

}  // namespace

std::string find_fashion_mnist(const std::string& root) {
  std::string dir = root;
  std::string source = "the root given";
  if (dir.empty()) {
    const char* env = std::getenv("DESCENT_FASHION_MNIST_DIR");
    if (env != nullptr && env[0] != '\0') {
      dir = env;
      source = "DESCENT_FASHION_MNIST_DIR";
    } else {
      dir = std::string(kFashionMnistDefaultDir);
      source = "the default directory";
    }
  }
  std::string missing;
  for (std::string_view name : kFiles) {
    if (locate(dir, name).empty()) {
      missing += cat("\n  ", (std::filesystem::path(dir) / name).string(), "(.gz)");
    }
  }
  DESCENT_CHECK(missing.empty(), "load_fashion_mnist: Fashion-MNIST not found in ", dir, " (",
                source, "); tried:", missing,
                "\nInstall Debian's dataset-fashion-mnist (apt install dataset-fashion-mnist), "
                "or point DESCENT_FASHION_MNIST_DIR (or the root option) at a directory with "
                "the four files");
  return dir;
}

TensorDataset load_idx_classification(const std::string& images_path,
                                      const std::string& labels_path) {
  Tensor images = read_idx_images(images_path);  // (N, 1, H, W)
  Tensor labels = read_idx_labels(labels_path);  // (N)
  DESCENT_CHECK(images.size(0) == labels.size(0), "load_idx_classification: ", images_path,
                " holds ", images.size(0), " images but ", labels_path, " holds ", labels.size(0),
                " labels");
  return TensorDataset(images, labels);
}

FashionMnist load_fashion_mnist(const FashionMnistOptions& options) {
  const std::string dir = find_fashion_mnist(options.root);
  FashionMnist out;
  out.root = dir;
  // Decompressing is the slow part, and the two splits are independent.
  std::exception_ptr test_error;
  std::thread test_loader([&] {
    try {
      out.test = load_idx_classification(file_path(dir, kFiles[2]), file_path(dir, kFiles[3]));
    } catch (...) {
      test_error = std::current_exception();
    }
  });
  TensorDataset train;
  try {
    train = load_idx_classification(file_path(dir, kFiles[0]), file_path(dir, kFiles[1]));
  } catch (...) {
    test_loader.join();
    throw;
  }
  test_loader.join();
  if (test_error) std::rethrow_exception(test_error);

  const Shape image{1, 28, 28};
  DESCENT_CHECK(train.input_shape() == image && out.test.input_shape() == image,
                "load_fashion_mnist: expected 28x28 images (1, 28, 28) in ", dir, ", got ",
                shape_str(train.input_shape()), " and ", shape_str(out.test.input_shape()));
  auto [fit, validation] =
      split_validation(train, options.validation_size, options.validation_seed);
  out.train = std::move(fit);
  out.validation = std::move(validation);
  return out;
}

}  // namespace descent::data
