#include "descent/experiment/batchnorm.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "../temp_dir.hpp"
#include "descent/core/error.hpp"
#include "fashion.hpp"

namespace descent::experiment {
namespace {

BatchnormOptions tiny() {
  BatchnormOptions o;
  o.lrs = {0.01, 100.0};
  o.steps = 30;
  o.batch = 32;
  o.train_size = 2000;
  o.test_size = 500;
  o.eval_size = 200;
  o.eval_every = 10;
  o.target_accuracy = 0.5;
  o.trained_accuracy = 0.3;
  o.sharpness_size = 64;
  o.sharpness_iterations = 3;
  o.threads = 1;
  return o;
}

// A sane lr trains both nets in 30 steps; lr 100 sends the net without BN past the
// divergence limit. Runs come BN first, in the order of the lrs, and the report is written.
TEST(BatchnormExperiment, TrainsDivergesAndWritesTheReport) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST is not installed";
  const BatchnormOptions o = tiny();
  const std::vector<BatchnormRun> runs = run_batchnorm(o);
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_TRUE(runs[0].batch_norm && runs[1].batch_norm);
  EXPECT_FALSE(runs[2].batch_norm || runs[3].batch_norm);
  for (const std::size_t i : {0u, 2u}) {
    const BatchnormRun& r = runs[i];
    SCOPED_TRACE(r.label());
    EXPECT_EQ(r.lr, 0.01);
    EXPECT_TRUE(r.trained);
    EXPECT_EQ(static_cast<std::int64_t>(r.run.loss.size()), o.steps);
    ASSERT_EQ(r.run.evals.size(), 3u);  // steps 10, 20, 30
    EXPECT_GT(r.test_accuracy, 0.5);
    EXPECT_TRUE(std::isfinite(r.sharpness));
    EXPECT_EQ(r.run.model, nullptr);  // released
    EXPECT_LT(r.run.loss.back(), r.run.loss.front());
  }
  const BatchnormRun& wild = runs[3];
  EXPECT_TRUE(wild.run.diverged) << wild.label();
  EXPECT_FALSE(wild.trained);
  EXPECT_TRUE(std::isnan(wild.sharpness));
  EXPECT_EQ(static_cast<std::int64_t>(wild.run.loss.size()), wild.run.diverged_at + 1);
  EXPECT_EQ(highest_trained_lr(runs, false), 0.01);

  const testing::TempDir tmp;
  write_batchnorm_report(runs, o, tmp.file("bn"));
  for (const char* file : {"runs.csv", "curves.csv", "evals.csv", "accuracy_vs_lr.svg",
                           "sharpness_vs_lr.svg", "loss_bn.svg", "loss_no_bn.svg", "report.html"}) {
    EXPECT_TRUE(std::filesystem::exists(tmp.path() / "bn" / file)) << file;
  }
}

TEST(BatchnormExperiment, BadOptions) {
  struct Case {
    const char* what;
    void (*change)(BatchnormOptions&);
    const char* message;
  };
  const Case cases[] = {
      {"no lrs", [](BatchnormOptions& o) { o.lrs.clear(); }, "between 1 and 50 learning rates"},
      {"negative lr",
       [](BatchnormOptions& o) {
         o.lrs = {0.1, -1};
       },
       "must be positive"},
      {"nan lr", [](BatchnormOptions& o) { o.lrs = {std::nan("")}; }, "must be positive"},
      {"zero steps", [](BatchnormOptions& o) { o.steps = 0; }, "steps must be in [1, 1000000]"},
      {"huge steps", [](BatchnormOptions& o) { o.steps = 10'000'000; }, "steps must be in"},
      {"zero batch", [](BatchnormOptions& o) { o.batch = 0; }, "batch must be in"},
      {"momentum 1", [](BatchnormOptions& o) { o.momentum = 1; }, "momentum must be in [0, 1)"},
      {"target 0", [](BatchnormOptions& o) { o.target_accuracy = 0; }, "target_accuracy"},
      {"sharpness 0", [](BatchnormOptions& o) { o.sharpness_size = 0; }, "sharpness_size"},
      {"eval_every 0", [](BatchnormOptions& o) { o.eval_every = 0; }, "eval_every"},
  };
  for (const Case& c : cases) {
    BatchnormOptions o = tiny();
    c.change(o);
    try {
      o.validate();
      ADD_FAILURE() << c.what << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
          << c.what << ": " << e.what();
    }
  }
}

TEST(BatchnormExperiment, SubsetsLargerThanTheDataAreRejected) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST is not installed";
  BatchnormOptions o = tiny();
  o.train_size = 70000;
  EXPECT_THROW(run_batchnorm(o), Error);
  o = tiny();
  o.eval_size = 1000;  // more than the 500 test examples
  EXPECT_THROW(run_batchnorm(o), Error);
}

}  // namespace
}  // namespace descent::experiment
