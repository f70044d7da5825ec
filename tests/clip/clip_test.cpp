// Clipping against PyTorch (tests/reference/record_clip.py).
#include "descent/clip/clip.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "reference_data.hpp"

namespace descent::clip {
namespace {

constexpr int kParams = 3;

std::vector<Tensor> make_params(const std::map<std::string, Tensor>& records, DType dtype) {
  std::vector<Tensor> params;
  for (int i = 0; i < kParams; ++i) {
    Tensor p = testing::ref(records, "param." + std::to_string(i)).to(dtype);
    p.set_requires_grad(true);
    p.set_grad(testing::ref(records, "grad." + std::to_string(i)).to(dtype));
    params.push_back(p);
  }
  return params;
}

void expect_grads(const std::vector<Tensor>& params, const std::map<std::string, Tensor>& records,
                  const std::string& name, double rtol) {
  for (int i = 0; i < kParams; ++i) {
    const auto want = testing::ref(records, name + ".grad." + std::to_string(i)).to_vector();
    const auto got = params[i].grad().to_vector();
    ASSERT_EQ(want.size(), got.size());
    for (std::size_t k = 0; k < want.size(); ++k) {
      EXPECT_NEAR(got[k], want[k], 1e-12 + rtol * std::abs(want[k])) << name << " param " << i;
    }
  }
}

TEST(Clip, NormMatchesPyTorch) {
  const auto records = testing::load_reference("clip.txt");
  const struct {
    const char* name;
    double max_norm;
    double p;
  } cases[] = {{"norm2", 1.0, 2.0},
               {"norm1", 2.0, 1.0},
               {"norm3", 0.5, 3.0},
               {"norminf", 0.3, std::numeric_limits<double>::infinity()},
               {"norm2_no_clip", 1e3, 2.0}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    for (DType dtype : {DType::f64, DType::f32}) {
      const double rtol = dtype == DType::f64 ? 1e-12 : 1e-6;
      auto params = make_params(records, dtype);
      const double norm = clip_grad_norm_(params, c.max_norm, c.p);
      const double want = testing::ref(records, std::string(c.name) + ".norm").item();
      EXPECT_NEAR(norm, want, rtol * want);
      expect_grads(params, records, c.name, rtol);
    }
  }
}

TEST(Clip, ScaleLeavesGradientsAndMatchesInPlaceClip) {
  const auto records = testing::load_reference("clip.txt");
  auto params = make_params(records, DType::f64);
  const auto before = params[0].grad().to_vector();
  const ClipScale c = clip_scale(params, 1.0);
  EXPECT_EQ(params[0].grad().to_vector(), before);
  EXPECT_TRUE(c.finite);
  EXPECT_NEAR(c.scale, 1.0 / (testing::ref(records, "norm2.norm").item() + 1e-6), 1e-12);
  EXPECT_NEAR(c.total_norm, testing::ref(records, "norm2.norm").item(), 1e-12);
}

TEST(Clip, ValueMatchesPyTorch) {
  const auto records = testing::load_reference("clip.txt");
  auto params = make_params(records, DType::f64);
  clip_grad_value_(params, 0.5);
  expect_grads(params, records, "value", 0.0);
}

TEST(Clip, AdaptiveMatchesReference) {
  const auto records = testing::load_reference("clip.txt");
  for (const auto& [name, clipping] : {std::pair{"agc", 0.3}, std::pair{"agc_small", 0.01}}) {
    auto params = make_params(records, DType::f64);
    adaptive_clip_grad_(params, clipping);
    expect_grads(params, records, name, 1e-12);
  }
}

TEST(Clip, NonFiniteNorm) {
  Tensor p = zeros({3}, DType::f64).set_requires_grad(true);
  p.set_grad(tensor({1.0, std::numeric_limits<double>::quiet_NaN(), 2.0}, {}, DType::f64));
  std::vector<Tensor> params = {p};
  EXPECT_FALSE(clip_scale(params, 1.0).finite);
  try {
    clip_grad_norm_(params, 1.0, 2.0, /*error_if_nonfinite=*/true);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
  }
  p.set_grad(tensor({1.0, std::numeric_limits<double>::infinity(), 2.0}, {}, DType::f64));
  EXPECT_TRUE(std::isinf(grad_norm(params, std::numeric_limits<double>::infinity())));
}

TEST(Clip, LongTensorIndependentOfThreadCount) {
  Generator gen(3);
  Tensor p = zeros({300000}).set_requires_grad(true);
  p.set_grad(randn({300000}, gen));
  std::vector<Tensor> params = {p};
  const int before = num_threads();
  set_num_threads(1);
  const double one = grad_norm(params);
  set_num_threads(2);
  const double two = grad_norm(params);
  set_num_threads(before);
  EXPECT_EQ(one, two);
  EXPECT_NEAR(one, std::sqrt(300000.0), 0.01 * std::sqrt(300000.0));
}

TEST(Clip, SkipsParamsWithoutGradAndRejectsBadOptions) {
  Tensor a = ones({2}).set_requires_grad(true);
  Tensor b = ones({2}).set_requires_grad(true);
  b.set_grad(full({2}, 3.0));
  std::vector<Tensor> params = {a, b};
  EXPECT_NEAR(grad_norm(params), std::sqrt(18.0), 1e-6);
  EXPECT_THROW(clip_grad_norm_(params, 0.0), Error);
  EXPECT_THROW(grad_norm(params, -1.0), Error);
  EXPECT_THROW(clip_grad_value_(params, -1.0), Error);
  EXPECT_THROW(adaptive_clip_grad_(params, 0.0), Error);
}

}  // namespace
}  // namespace descent::clip
