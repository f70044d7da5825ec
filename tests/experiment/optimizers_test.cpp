#include "descent/experiment/optimizers.hpp"

#include <gtest/gtest.h>

#include "../temp_dir.hpp"
#include "descent/core/error.hpp"
#include "descent/optim/registry.hpp"
#include "fashion.hpp"

namespace descent::experiment {
namespace {

OptimizersOptions tiny() {
  OptimizersOptions o;
  o.names = {"sgd", "adam"};
  o.steps = 20;
  o.batch = 32;
  o.train_size = 1000;
  o.validation_size = 200;
  o.test_size = 500;
  o.eval_size = 200;
  o.eval_every = 10;
  o.threads = 1;
  return o;
}

// Each arm names a registered optimizer with options it accepts, and three increasing lrs.
TEST(OptimizersExperiment, TheSevenArms) {
  const std::vector<OptimizerArm> arms = default_optimizer_arms();
  ASSERT_EQ(arms.size(), 7u);
  for (const OptimizerArm& arm : arms) {
    SCOPED_TRACE(arm.name);
    EXPECT_EQ(arm.lrs.size(), 3u);
    EXPECT_TRUE(std::is_sorted(arm.lrs.begin(), arm.lrs.end()));
    Tensor w = zeros({3});
    optim::OptionMap options = arm.options;
    options["lr"] = "0.1";
    EXPECT_NO_THROW(optim::create_optimizer(arm.optimizer, {w}, options));
  }
}

// One pick per arm, by validation accuracy; only the pick has test and train accuracy.
TEST(OptimizersExperiment, PicksTheBestLrPerArmAndWritesTheReport) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST is not installed";
  const OptimizersOptions o = tiny();
  const std::vector<OptimizerRun> runs = run_optimizers(o);
  ASSERT_EQ(runs.size(), 6u);
  for (const char* arm : {"sgd", "adam"}) {
    const OptimizerRun* best = nullptr;
    double top = -1;
    for (const OptimizerRun& r : runs) {
      if (r.arm != arm) continue;
      SCOPED_TRACE(r.label());
      top = std::max(top, r.validation_accuracy);
      if (r.best) {
        EXPECT_EQ(best, nullptr) << "two picks";
        best = &r;
      } else {
        EXPECT_EQ(r.test_accuracy, 0.0);
      }
      EXPECT_EQ(r.run.model, nullptr);
    }
    ASSERT_NE(best, nullptr) << arm;
    EXPECT_EQ(best->validation_accuracy, top);
    EXPECT_GT(best->test_accuracy, 0.4);  // 20 steps: far above chance (0.1)
    EXPECT_GT(best->train_accuracy, 0.4);
  }
  const testing::TempDir tmp;
  write_optimizers_report(runs, o, tmp.file("opt"));
  for (const char* file :
       {"runs.csv", "curves.csv", "loss.svg", "validation.svg", "lr_sweep.svg", "report.html"}) {
    EXPECT_TRUE(std::filesystem::exists(tmp.path() / "opt" / file)) << file;
  }
}

TEST(OptimizersExperiment, BadOptions) {
  auto message = [](const OptimizersOptions& o) {
    try {
      o.validate();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  OptimizersOptions o = tiny();
  o.names = {"sgd", "adamm"};
  EXPECT_NE(message(o).find("unknown optimizer 'adamm' (known: sgd, momentum, nesterov, adagrad, "
                            "rmsprop, adam, adamw)"),
            std::string::npos)
      << message(o);
  o = tiny();
  o.steps = 0;
  EXPECT_NE(message(o).find("steps must be in [1, 1000000]"), std::string::npos);
  o = tiny();
  o.validation_size = 0;
  EXPECT_NE(message(o).find("validation_size must be positive"), std::string::npos);
  o = tiny();
  o.eval_size = 300;  // more than the 200 validation images
  EXPECT_NE(message(o).find("eval_size must be in [1, validation_size = 200]"), std::string::npos);
  o = tiny();
  o.batch = 0;
  EXPECT_NE(message(o).find("batch must be in"), std::string::npos);
}

}  // namespace
}  // namespace descent::experiment
