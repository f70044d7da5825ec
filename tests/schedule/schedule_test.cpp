// Schedules against PyTorch's lr_scheduler (recorded by tests/reference/record_schedules.py):
// every step of group 0 (base lr 0.1) and every 10th of group 1 (base lr 0.02), 1,100 steps.
#include "descent/schedule/schedule.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "reference_data.hpp"

namespace descent::schedule {
namespace {

constexpr double kRtol = 1e-9;
constexpr double kAtol = 1e-15;
const double kBaseLrs[] = {0.1, 0.02};

struct Case {
  const char* name;
  Schedule schedule;
};

std::vector<Case> cases() {
  OneCycleOptions linear_cycle{.total_steps = 1101,
                               .pct_start = 0.25,
                               .anneal = Anneal::linear,
                               .div_factor = 10.0,
                               .final_div_factor = 100.0};
  return {
      {"constant", constant_factor(0.5, 100)},
      {"step", step_decay(100, 0.5)},
      {"multistep", multi_step({300, 600, 900}, 0.1)},
      {"exponential", exponential(0.997)},
      {"cosine", cosine(1000, 1e-4)},
      {"cosine_zero_min", cosine(500)},
      {"cosine_restarts", cosine_restarts(100, 2, 1e-5)},
      {"cosine_restarts_flat", cosine_restarts(150)},
      {"linear", linear(0.25, 1.0, 400)},
      {"linear_decay", linear(1.0, 0.05, 1000)},
      {"polynomial", polynomial(1000, 2.0)},
      {"one_cycle_cos", one_cycle({.total_steps = 1101})},
      {"one_cycle_linear", one_cycle(linear_cycle)},
      {"one_cycle_three_phase", one_cycle({.total_steps = 1101, .three_phase = true})},
      {"warmup_cosine", linear(0.01, 1.0, 100).then(cosine(1100, 0.0), 100)},
      {"warmup_step", linear(0.1, 1.0, 50).then(step_decay(200, 0.5), 50)},
      {"sequential3",
       sequential({constant_factor(0.1, 1000), exponential(0.99), cosine(300, 1e-3)}, {200, 700})},
  };
}

TEST(Schedule, MatchesPyTorch) {
  const auto records = testing::load_reference("schedules.txt");
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    for (int g = 0; g < 2; ++g) {
      const Tensor& expected =
          testing::ref(records, std::string(c.name) + ".g" + std::to_string(g));
      const std::int64_t stride = g == 0 ? 1 : 10;
      const double* values = expected.data<double>();
      int failures = 0;
      for (std::int64_t i = 0; i < expected.numel() && failures < 3; ++i) {
        const std::int64_t step = i * stride;
        const double want = values[i];
        const double got = c.schedule(step, kBaseLrs[g]);
        if (std::abs(got - want) > kAtol + kRtol * std::abs(want)) {
          ++failures;
          ADD_FAILURE() << c.name << " group " << g << " step " << step << ": got " << got
                        << ", PyTorch " << want;
        }
      }
    }
  }
}

TEST(Schedule, PlateauMatchesPyTorch) {
  const auto records = testing::load_reference("schedules.txt");
  const auto metrics = testing::ref(records, "plateau.metrics").to_vector();
  using Mode = PlateauOptions::Mode;
  using ThresholdMode = PlateauOptions::ThresholdMode;
  const std::pair<const char*, PlateauOptions> plateau_cases[] = {
      {"plateau_min_rel", {.factor = 0.5, .patience = 2}},
      {"plateau_min_abs_cooldown",
       {.factor = 0.5,
        .patience = 1,
        .threshold = 0.05,
        .threshold_mode = ThresholdMode::abs,
        .cooldown = 2}},
      {"plateau_max", {.mode = Mode::max, .factor = 0.1, .patience = 3, .min_lr = {1e-3, 1e-4}}},
      {"plateau_min_lr", {.factor = 0.2, .patience = 0, .min_lr = {0.01}}},
  };
  for (const auto& [name, options] : plateau_cases) {
    SCOPED_TRACE(name);
    const Tensor& expected = testing::ref(records, name);  // (2 groups, steps)
    ReduceLROnPlateau plateau(options);
    std::vector<double> lrs = {0.1, 0.02};
    const std::int64_t steps = expected.size(1);
    for (std::int64_t t = 0; t < steps; ++t) {
      plateau.step(metrics[t], lrs);
      for (int g = 0; g < 2; ++g) {
        EXPECT_NEAR(lrs[g], expected.data<double>()[g * steps + t], 1e-15)
            << "group " << g << " step " << t;
      }
    }
  }
}

TEST(Schedule, PlateauStateRoundTrips) {
  PlateauOptions options{.factor = 0.5, .patience = 1, .cooldown = 1};
  ReduceLROnPlateau straight(options);
  ReduceLROnPlateau first(options);
  std::vector<double> a = {1.0};
  std::vector<double> b = {1.0};
  const double metrics[] = {5, 4, 4, 4, 4, 3, 3, 3, 3, 3};
  for (int t = 0; t < 5; ++t) {
    straight.step(metrics[t], a);
    first.step(metrics[t], b);
  }
  ReduceLROnPlateau resumed(options);
  resumed.load_state_dict(first.state_dict());
  for (int t = 5; t < 10; ++t) {
    straight.step(metrics[t], a);
    resumed.step(metrics[t], b);
  }
  EXPECT_EQ(a, b);
  EXPECT_LT(a[0], 1.0);
  EXPECT_THROW(resumed.load_state_dict({{"best", 1.0}}), Error);
}

TEST(Schedule, ComposesAndDescribes) {
  Schedule s = warmup(10).then(cosine(90), 10);
  EXPECT_DOUBLE_EQ(s(0, 1.0), 0.0);
  EXPECT_DOUBLE_EQ(s(5, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(s(10, 1.0), 1.0);
  EXPECT_NEAR(s(55, 1.0), 0.5, 1e-12);
  EXPECT_NEAR(s(100, 1.0), 0.0, 1e-12);
  EXPECT_EQ(s.description(), "warmup(steps=10, start_factor=0) -> cosine(t_max=90, eta_min=0)");
}

TEST(Schedule, BadOptionsThrowNamingTheField) {
  auto expect_message = [](auto fn, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "expected Error containing " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_message([] { step_decay(0); }, "step_decay: step_size must be >= 1, got 0");
  expect_message([] { cosine(0); }, "cosine: t_max");
  expect_message([] { cosine_restarts(10, 0); }, "cosine_restarts: t_mult");
  expect_message([] { linear(0.0); }, "linear: start_factor must be in (0, 1], got 0");
  expect_message([] { multi_step({5, 3}); }, "multi_step: milestones must be increasing");
  expect_message([] { one_cycle({}); }, "one_cycle: total_steps");
  expect_message([] { one_cycle({.total_steps = 10})(11, 1.0); }, "past total_steps=10");
  expect_message([] { sequential({constant()}, {5}); }, "sequential: needs one milestone fewer");
  expect_message([] { constant()(-1, 1.0); }, "step must be >= 0");
  expect_message([] { ReduceLROnPlateau({.factor = 1.0}); }, "factor must be in [0, 1)");
  expect_message(
      [] {
        ReduceLROnPlateau p({.min_lr = {0.1, 0.2, 0.3}});
        std::vector<double> lrs = {1.0, 1.0};
        p.step(1.0, lrs);
      },
      "3 min_lr values for 2 param groups");
}

}  // namespace
}  // namespace descent::schedule
