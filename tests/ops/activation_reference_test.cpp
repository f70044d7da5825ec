// softmax, log_softmax, gelu and cross_entropy against PyTorch, in f64, on the inputs
// recorded by tests/reference/record_activations.py (tests/data/activations.txt).
#include "op_cases.hpp"
#include "reference_data.hpp"

namespace descent {
namespace {

using testing::ref;

// Every element within 1e-12 relative (plus 1e-15 absolute for values that cancel to ~0).
void expect_matches(const Tensor& actual, const Tensor& expected, const std::string& key) {
  ASSERT_EQ(actual.numel(), expected.numel()) << key;
  const auto a = actual.to_vector();
  const auto e = expected.to_vector();
  for (std::size_t i = 0; i < e.size(); ++i) {
    EXPECT_NEAR(a[i], e[i], 1e-12 * std::abs(e[i]) + 1e-15) << key << " element " << i;
  }
}

class ActivationReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { records_ = testing::load_reference("activations.txt"); }
  static const Tensor& at(const std::string& key) { return ref(records_, key); }
  static std::map<std::string, Tensor> records_;
};
std::map<std::string, Tensor> ActivationReference::records_;

TEST_F(ActivationReference, SoftmaxAndLogSoftmaxEveryDim) {
  for (const std::string name : {"x2", "x3"}) {
    const Tensor& x = at(name);
    for (std::int64_t dim = 0; dim < x.dim(); ++dim) {
      const std::string suffix = cat("_", name, "_dim", dim);
      expect_matches(ops::softmax(x, dim), at("softmax" + suffix), "softmax" + suffix);
      expect_matches(ops::log_softmax(x, dim), at("log_softmax" + suffix), "log_softmax" + suffix);
      // The same dim counted from the end.
      expect_matches(ops::softmax(x, dim - x.dim()), at("softmax" + suffix), "softmax" + suffix);
    }
  }
}

TEST_F(ActivationReference, GeluExactAndTanhWithGradients) {
  for (auto [approximate, name] : {std::pair{ops::GeluApproximate::none, "none"},
                                   std::pair{ops::GeluApproximate::tanh, "tanh"}}) {
    Tensor x = at("gelu_x").clone().set_requires_grad(true);
    Tensor y = ops::gelu(x, approximate);
    ops::sum(y).backward();
    const std::string key = cat("gelu_", name);
    expect_matches(y, at(key), key);
    expect_matches(x.grad(), at(key + "_grad"), key + "_grad");
  }
}

TEST_F(ActivationReference, CrossEntropyEveryOption) {
  using ops::Reduction;
  struct Case {
    std::string key;
    Reduction reduction;
    bool ignored_rows;  // target with -100 entries
    std::int64_t ignore_index;
    double label_smoothing;
  };
  const std::vector<Case> cases = {
      {"ce_mean_valid_ignorem100_smooth0", Reduction::mean, false, -100, 0.0},
      {"ce_sum_valid_ignorem100_smooth0", Reduction::sum, false, -100, 0.0},
      {"ce_none_valid_ignorem100_smooth0", Reduction::none, false, -100, 0.0},
      {"ce_mean_ignored_ignorem100_smooth0", Reduction::mean, true, -100, 0.0},
      {"ce_mean_valid_ignore2_smooth0", Reduction::mean, false, 2, 0.0},
      {"ce_mean_valid_ignorem100_smooth0.1", Reduction::mean, false, -100, 0.1},
      {"ce_mean_ignored_ignorem100_smooth0.1", Reduction::mean, true, -100, 0.1},
      {"ce_sum_ignored_ignorem100_smooth0.2", Reduction::sum, true, -100, 0.2},
      {"ce_none_ignored_ignorem100_smooth0.3", Reduction::none, true, -100, 0.3},
      {"ce_mean_valid_ignore2_smooth0.25", Reduction::mean, false, 2, 0.25},
      {"ce_mean_ignored_ignorem100_smooth1", Reduction::mean, true, -100, 1.0},
  };
  for (const Case& c : cases) {
    for (DType label_dtype : {DType::i64, DType::i32}) {
      SCOPED_TRACE(cat(c.key, " ", dtype_name(label_dtype)));
      Tensor logits = at("ce_logits").clone().set_requires_grad(true);
      Tensor target = at(c.ignored_rows ? "ce_target" : "ce_target_valid").to(label_dtype);
      Tensor loss = ops::cross_entropy(logits, target,
                                       {.reduction = c.reduction,
                                        .ignore_index = c.ignore_index,
                                        .label_smoothing = c.label_smoothing});
      ops::sum(loss).backward();
      expect_matches(loss, at(c.key), c.key);
      expect_matches(logits.grad(), at(c.key + "_grad"), c.key + "_grad");
    }
  }
}

}  // namespace
}  // namespace descent
