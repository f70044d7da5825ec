// Scans and interpolation: each point is the loss at the weights it names (checked against
// weights set by hand and train::evaluate), and the model is restored bit for bit.
#include "descent/landscape/scan.hpp"

#include <gtest/gtest.h>

#include "descent/ops/arith.hpp"
#include "descent/train/trainer.hpp"
#include "landscape_test_util.hpp"

namespace descent {
namespace {

using landscape::Direction;
using landscape::EvalSet;
using landscape::ScanPoint;

// theta = theta0 + x dx + y dy, set by hand, then evaluated by the trainer's evaluate().
train::Evaluation evaluate_at(nn::Module& model, const data::TensorDataset& data,
                              const Tensor& theta0, const Direction& dx, double x,
                              const Direction* dy, double y) {
  Tensor params = model.flat_parameters().params.detach();
  const float* start = theta0.data<float>();
  float* theta = params.data<float>();
  for (std::int64_t i = 0; i < params.numel(); ++i) {
    double value = start[i] + x * dx.values.data<float>()[i];
    if (dy != nullptr) value += y * dy->values.data<float>()[i];
    theta[i] = static_cast<float>(value);
  }
  const train::Evaluation result = train::evaluate(model, data, 7);
  params.copy_(theta0);
  return result;
}

TEST(EvalSet, MatchesTheTrainersEvaluation) {
  auto model = testing::zoo_model("mlp:2-16-3", 1);
  const data::TensorDataset data = testing::blobs(50);
  const EvalSet subset(data, {.size = 40, .batch_size = 16});
  const train::Evaluation expected = train::evaluate(*model, data.slice(0, 40), 1000);
  const landscape::Metrics got = subset.evaluate(*model);
  EXPECT_NEAR(got.loss, expected.loss, 1e-6);
  EXPECT_DOUBLE_EQ(got.accuracy, expected.accuracy);
  EXPECT_EQ(subset.size(), 40);
}

TEST(Scan, OneDimensionalPointsAreTheLossAtThoseWeights) {
  auto model = testing::zoo_model("mlp:2-16-3,bn=1", 1);
  const data::TensorDataset data = testing::blobs(60);
  const EvalSet subset(data, {.batch_size = 25});
  const Direction d = landscape::random_direction(*model, {.seed = 3});
  const auto before = testing::snapshot(*model);
  const Tensor theta0 = model->flat_parameters().params.detach().clone();
  std::int64_t reported = 0;
  const std::vector<ScanPoint> line = landscape::scan_1d(
      *model, d, subset,
      {.range = 0.5, .points = 5, .progress = [&](std::int64_t done, std::int64_t total) {
         EXPECT_EQ(total, 5);
         reported = done;
       }});
  testing::expect_bitwise_equal(before, *model);
  EXPECT_EQ(reported, 5);
  ASSERT_EQ(line.size(), 5u);
  const double xs[] = {-0.5, -0.25, 0.0, 0.25, 0.5};
  for (std::size_t i = 0; i < line.size(); ++i) {
    EXPECT_DOUBLE_EQ(line[i].x, xs[i]);
    const train::Evaluation expected = evaluate_at(*model, data, theta0, d, xs[i], nullptr, 0);
    EXPECT_NEAR(line[i].loss, expected.loss, 1e-5 * (1 + expected.loss)) << i;
    EXPECT_DOUBLE_EQ(line[i].accuracy, expected.accuracy) << i;
  }
  // Moving away from the weights changes the loss.
  EXPECT_NE(line[0].loss, line[2].loss);
}

TEST(Scan, TwoDimensionalGridIsYMajor) {
  auto model = testing::zoo_model("mlp:2-8-3", 2);
  const data::TensorDataset data = testing::blobs(40);
  const EvalSet subset(data);
  const Direction dx = landscape::random_direction(*model, {.seed = 1});
  const Direction dy = landscape::random_direction(*model, {.seed = 2});
  const auto before = testing::snapshot(*model);
  const Tensor theta0 = model->flat_parameters().params.detach().clone();
  const std::vector<ScanPoint> grid =
      landscape::scan_2d(*model, dx, dy, subset, {.range = 1.0, .points = 3});
  testing::expect_bitwise_equal(before, *model);
  ASSERT_EQ(grid.size(), 9u);
  for (std::int64_t j = 0; j < 3; ++j) {
    for (std::int64_t i = 0; i < 3; ++i) {
      const ScanPoint& p = grid[j * 3 + i];
      EXPECT_DOUBLE_EQ(p.x, -1.0 + i);
      EXPECT_DOUBLE_EQ(p.y, -1.0 + j);
      const train::Evaluation expected = evaluate_at(*model, data, theta0, dx, p.x, &dy, p.y);
      EXPECT_NEAR(p.loss, expected.loss, 1e-5 * (1 + expected.loss)) << i << "," << j;
    }
  }
  // The centre is the unperturbed model.
  EXPECT_NEAR(grid[4].loss, train::evaluate(*model, data, 100).loss, 1e-6);
}

TEST(Scan, InterpolationRunsFromOneStateToTheOther) {
  auto from_model = testing::zoo_model("mlp:2-8-3,bn=1", 1);
  auto to_model = testing::zoo_model("mlp:2-8-3,bn=1", 2);
  // Distinct running statistics too: a few training-mode passes of the target model.
  const data::TensorDataset data = testing::blobs(40);
  to_model->train();
  for (int k = 0; k < 3; ++k) to_model->forward(data.inputs());
  const nn::StateDict from = from_model->state_dict();
  const nn::StateDict to = to_model->state_dict();
  auto model = testing::zoo_model("mlp:2-8-3,bn=1", 9);
  const auto before = testing::snapshot(*model);
  const EvalSet subset(data);
  const std::vector<ScanPoint> line =
      landscape::interpolate(*model, from, to, subset, {.from = -0.5, .to = 1.5, .points = 5});
  testing::expect_bitwise_equal(before, *model);
  ASSERT_EQ(line.size(), 5u);
  EXPECT_DOUBLE_EQ(line[1].x, 0.0);
  EXPECT_DOUBLE_EQ(line[3].x, 1.0);
  EXPECT_NEAR(line[1].loss, train::evaluate(*from_model, data, 100).loss, 1e-6);
  EXPECT_NEAR(line[3].loss, train::evaluate(*to_model, data, 100).loss, 1e-6);
  // The midpoint of parameters and running statistics, set by hand.
  nn::StateDict middle;
  for (const auto& [name, tensor] : from) {
    const Tensor& other = to.at(name);
    middle.insert(name, is_floating(tensor.dtype())
                            ? ops::add(ops::mul(tensor, 0.5), ops::mul(other, 0.5))
                            : tensor);
  }
  auto probe = testing::zoo_model("mlp:2-8-3,bn=1", 9);
  probe->load_state_dict(middle);
  EXPECT_NEAR(line[2].loss, train::evaluate(*probe, data, 100).loss, 1e-5);
}

TEST(Scan, WeightsComeBackWhenAScanIsInterrupted) {
  auto model = testing::zoo_model("mlp:2-8-3,bn=1", 1);
  const data::TensorDataset data = testing::blobs(20);
  const EvalSet subset(data);
  const Direction d = landscape::random_direction(*model, {.seed = 2});
  const auto before = testing::snapshot(*model);
  // The progress callback throws after the second point: the weights are then moved.
  const landscape::Progress stop = [](std::int64_t done, std::int64_t) {
    if (done == 2) throw Error("interrupted");
  };
  EXPECT_THROW(landscape::scan_2d(*model, d, d, subset, {.points = 3, .progress = stop}), Error);
  testing::expect_bitwise_equal(before, *model);
  auto other = testing::zoo_model("mlp:2-8-3,bn=1", 2);
  EXPECT_THROW(landscape::interpolate(*model, other->state_dict(), model->state_dict(), subset,
                                      {.points = 3, .progress = stop}),
               Error);
  testing::expect_bitwise_equal(before, *model);
}

TEST(Scan, BadInputNamesWhatIsWrong) {
  auto model = testing::zoo_model("mlp:2-8-3", 1);
  auto other = testing::zoo_model("mlp:2-9-3", 1);
  const data::TensorDataset data = testing::blobs(20);
  const EvalSet subset(data);
  const Direction d = landscape::random_direction(*model);
  const auto expect_error = [](const auto& call, const std::string& part) {
    try {
      call();
      ADD_FAILURE() << "expected an Error containing '" << part << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error([&] { landscape::scan_1d(*model, d, subset, {.points = 0}); },
               "scan_1d: points per axis must be in [2, 201], got 0");
  expect_error([&] { landscape::scan_2d(*model, d, d, subset, {.points = 202}); },
               "scan_2d: points per axis must be in [2, 201], got 202");
  expect_error([&] { landscape::scan_1d(*model, d, subset, {.range = 0.0}); },
               "range must be finite and > 0");
  expect_error([&] { landscape::scan_2d(*other, d, d, subset); },
               "scan_2d: direction x does not fit the model");
  // A state dict of another model names the key and both shapes.
  expect_error(
      [&] { landscape::interpolate(*model, model->state_dict(), other->state_dict(), subset); },
      "interpolate: 'to': 'fc1.weight' is (9, 2), the model's is (8, 2)");
  nn::StateDict missing = model->state_dict();
  missing.erase(missing.keys().front());
  expect_error([&] { landscape::interpolate(*model, missing, model->state_dict(), subset); },
               "interpolate: 'from': has no '");
  expect_error(
      [&] {
        landscape::interpolate(*model, model->state_dict(), model->state_dict(), subset,
                               {.points = 500});
      },
      "points per axis must be in [2, 201], got 500");
  expect_error([&] { EvalSet(data, {.size = 21}); }, "EvalSet: size 21 exceeds");
}

}  // namespace
}  // namespace descent
