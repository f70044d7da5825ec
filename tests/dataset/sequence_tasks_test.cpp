// The adding and temporal-order problems: the structure of every example, the targets
// computed from the inputs, balance, determinism, and bad options.
#include "descent/data/sequence_tasks.hpp"

#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "descent/core/error.hpp"

namespace descent {
namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(AddingProblem, TwoMarkersOneInEachHalfAndTheTargetIsTheirSum) {
  for (const std::int64_t steps : {2, 7, 50}) {
    const data::TensorDataset task =
        data::make_adding({.samples = 300, .length = steps, .seed = 3, .dtype = DType::f64});
    ASSERT_EQ(task.inputs().shape(), (Shape{300, steps, 2}));
    ASSERT_EQ(task.targets().shape(), (Shape{300, 1}));
    const std::vector<double> x = task.inputs().to_vector();
    const std::vector<double> y = task.targets().to_vector();
    std::vector<int> first_seen(static_cast<std::size_t>(steps / 2), 0);
    double mean_target = 0;
    for (std::int64_t i = 0; i < 300; ++i) {
      std::vector<std::int64_t> marked;
      double sum = 0;
      for (std::int64_t t = 0; t < steps; ++t) {
        const double value = x[(i * steps + t) * 2];
        const double marker = x[(i * steps + t) * 2 + 1];
        EXPECT_GE(value, 0.0);
        EXPECT_LT(value, 1.0);
        ASSERT_TRUE(marker == 0.0 || marker == 1.0);
        if (marker == 1.0) {
          marked.push_back(t);
          sum += value;
        }
      }
      ASSERT_EQ(marked.size(), 2u) << "example " << i;
      EXPECT_LT(marked[0], steps / 2);
      EXPECT_GE(marked[1], steps / 2);
      ++first_seen[static_cast<std::size_t>(marked[0])];
      EXPECT_DOUBLE_EQ(y[i], sum);
      mean_target += y[i] / 300;
    }
    // the first marker visits every step of the first half (here, with 300 draws)
    for (int count : first_seen) EXPECT_GT(count, 0) << "T = " << steps;
    EXPECT_NEAR(mean_target, 1.0, 0.1);
  }
}

TEST(TemporalOrder, StructureAndLabelsFollowTheRelevantSymbols) {
  const std::int64_t steps = 100, n = 800;
  const data::TensorDataset task = data::make_temporal_order({.samples = n, .length = steps});
  ASSERT_EQ(task.inputs().shape(), (Shape{n, steps, data::kTemporalSymbols}));
  ASSERT_EQ(task.targets().shape(), (Shape{n}));
  ASSERT_EQ(task.targets().dtype(), DType::i64);
  const std::vector<double> x = task.inputs().to_vector();
  const std::vector<double> y = task.targets().to_vector();
  const auto X = static_cast<std::int64_t>(data::TemporalSymbol::X);
  const auto Y = static_cast<std::int64_t>(data::TemporalSymbol::Y);
  std::array<int, 4> per_class{};
  std::array<int, data::kTemporalSymbols> symbol_count{};
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<std::int64_t> symbols;
    for (std::int64_t t = 0; t < steps; ++t) {
      std::int64_t hot = -1, ones = 0;
      for (std::int64_t s = 0; s < data::kTemporalSymbols; ++s) {
        const double v = x[(i * steps + t) * data::kTemporalSymbols + s];
        if (v != 0.0) {
          hot = s;
          ++ones;
        }
      }
      ASSERT_EQ(ones, 1) << "example " << i << " step " << t << " is not one-hot";
      ASSERT_EQ(x[(i * steps + t) * data::kTemporalSymbols + hot], 1.0);
      symbols.push_back(hot);
      ++symbol_count[static_cast<std::size_t>(hot)];
    }
    EXPECT_EQ(symbols.front(), static_cast<std::int64_t>(data::TemporalSymbol::E));
    EXPECT_EQ(symbols.back(), static_cast<std::int64_t>(data::TemporalSymbol::B));
    std::vector<std::int64_t> relevant_steps, relevant;
    for (std::int64_t t = 0; t < steps; ++t) {
      if (symbols[t] == X || symbols[t] == Y) {
        relevant_steps.push_back(t);
        relevant.push_back(symbols[t]);
      }
    }
    ASSERT_EQ(relevant.size(), 2u) << "example " << i;
    EXPECT_GE(relevant_steps[0], 10);
    EXPECT_LE(relevant_steps[0], 20);
    EXPECT_GE(relevant_steps[1], 50);
    EXPECT_LE(relevant_steps[1], 60);
    const int label = 2 * (relevant[0] == Y) + (relevant[1] == Y);
    EXPECT_EQ(y[i], label) << "example " << i;
    ++per_class[static_cast<std::size_t>(label)];
  }
  for (int count : per_class) EXPECT_NEAR(count, n / 4, n / 10);
  // distractors a, b, c, d equally often
  for (std::int64_t s = 2; s < 6; ++s) {
    EXPECT_NEAR(symbol_count[static_cast<std::size_t>(s)], n * (steps - 4) / 4.0, n * steps / 50.0);
  }
}

TEST(SequenceTasks, PureFunctionsOfTheirOptions) {
  const auto a = data::make_adding({.samples = 50, .length = 20, .seed = 1});
  const auto b = data::make_adding({.samples = 80, .length = 20, .seed = 1});
  const auto c = data::make_adding({.samples = 50, .length = 20, .seed = 2});
  EXPECT_EQ(a.inputs().to_vector(), b.slice(0, 50).inputs().to_vector());
  EXPECT_EQ(a.targets().to_vector(), b.slice(0, 50).targets().to_vector());
  EXPECT_NE(a.inputs().to_vector(), c.inputs().to_vector());
  const auto d = data::make_temporal_order({.samples = 40, .length = 30, .seed = 4});
  const auto e = data::make_temporal_order({.samples = 40, .length = 30, .seed = 4});
  const auto f = data::make_temporal_order({.samples = 40, .length = 30, .seed = 5});
  EXPECT_EQ(d.inputs().to_vector(), e.inputs().to_vector());
  EXPECT_EQ(d.targets().to_vector(), e.targets().to_vector());
  EXPECT_NE(d.inputs().to_vector(), f.inputs().to_vector());
}

TEST(SequenceTasks, BadOptionsThrowNamingTheField) {
  struct Case {
    std::function<void()> make;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases{
      {[] { data::make_adding({.length = 1}); }, {"make_adding", "length", "1"}},
      {[] { data::make_adding({.samples = 0}); }, {"make_adding", "samples", "0"}},
      {[] { data::make_adding({.dtype = DType::i64}); }, {"make_adding", "dtype", "i64"}},
      {[] { data::make_temporal_order({.length = 9}); }, {"make_temporal_order", "length", "9"}},
      {[] { data::make_temporal_order({.samples = -1}); }, {"make_temporal_order", "samples"}},
  };
  for (const Case& c : cases) {
    const std::string message = error_of(c.make);
    ASSERT_FALSE(message.empty()) << c.parts[0];
    for (const std::string& part : c.parts) {
      EXPECT_NE(message.find(part), std::string::npos) << message << " lacks " << part;
    }
  }
}

}  // namespace
}  // namespace descent
