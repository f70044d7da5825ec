#include "descent/experiment/schedules.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "../temp_dir.hpp"
#include "descent/core/error.hpp"
#include "fashion.hpp"

namespace descent::experiment {
namespace {

// The six schedules as the header describes them, for T = 300 steps and base lr 1.
TEST(SchedulesExperiment, TheSixSchedules) {
  const std::int64_t T = 300;
  auto at = [&](const char* name, std::int64_t step) {
    return make_experiment_schedule(name, T)(step, 1.0);
  };
  EXPECT_EQ(schedule_names().size(), 6u);
  EXPECT_DOUBLE_EQ(at("constant", 299), 1.0);
  EXPECT_DOUBLE_EQ(at("step", 99), 1.0);
  EXPECT_NEAR(at("step", 100), 0.1, 1e-12);
  EXPECT_NEAR(at("step", 250), 0.01, 1e-12);
  EXPECT_NEAR(at("exponential", T), 0.01, 1e-9);
  EXPECT_NEAR(at("cosine", 150), 0.5, 1e-12);
  EXPECT_NEAR(at("cosine", T), 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(at("warmup-cosine", 0), 0.0);  // rises over T/20 = 15 steps
  EXPECT_NEAR(at("warmup-cosine", 15), 1.0, 1e-12);
  EXPECT_NEAR(at("one-cycle", 0), 1.0 / 25, 1e-12);
  EXPECT_GT(at("one-cycle", 89), 0.99);  // the peak at 0.3 T
  EXPECT_LT(at("one-cycle", 299), 1e-4);
  EXPECT_THROW(make_experiment_schedule("linear", T), Error);
}

TEST(SchedulesExperiment, RunsEachScheduleAndWritesTheReport) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST is not installed";
  SchedulesOptions o;
  o.names = {"constant", "cosine"};
  o.seeds = 1;
  o.steps = 20;
  o.batch = 32;
  o.train_size = 1000;
  o.test_size = 300;
  o.eval_size = 200;
  o.eval_every = 10;
  o.threads = 1;
  const std::vector<ScheduleRun> runs = run_schedules(o);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].name, "constant");
  EXPECT_EQ(runs[1].name, "cosine");
  for (const ScheduleRun& r : runs) {
    SCOPED_TRACE(r.label());
    EXPECT_FALSE(r.run.diverged);
    ASSERT_EQ(r.run.lr.size(), 20u);
    EXPECT_GT(r.test_accuracy, 0.4);
  }
  EXPECT_DOUBLE_EQ(runs[0].run.lr.back(), 0.05);
  EXPECT_NEAR(runs[1].run.lr.back(), 0.05 * (1 + std::cos(M_PI * 19 / 20)) / 2, 1e-12);
  EXPECT_EQ(runs[0].run.loss[0], runs[1].run.loss[0]);  // same weights, same first batch
  const testing::TempDir tmp;
  write_schedules_report(runs, o, tmp.file("s"));
  for (const char* file :
       {"runs.csv", "curves.csv", "loss.svg", "lr.svg", "accuracy.svg", "report.html"}) {
    EXPECT_TRUE(std::filesystem::exists(tmp.path() / "s" / file)) << file;
  }
}

TEST(SchedulesExperiment, BadOptions) {
  auto message = [](const SchedulesOptions& o) {
    try {
      o.validate();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  SchedulesOptions o;
  o.names = {"cosine", "linear"};
  EXPECT_NE(message(o).find("unknown schedule 'linear' (known: constant, step, exponential, "
                            "cosine, warmup-cosine, one-cycle)"),
            std::string::npos)
      << message(o);
  o = {};
  o.steps = 5;
  EXPECT_NE(message(o).find("steps must be in [20, 1000000]"), std::string::npos);
  o = {};
  o.seeds = 0;
  EXPECT_NE(message(o).find("seeds must be in [1, 100]"), std::string::npos);
  o = {};
  o.lr = -1;
  EXPECT_NE(message(o).find("lr must be positive"), std::string::npos);
}

}  // namespace
}  // namespace descent::experiment
