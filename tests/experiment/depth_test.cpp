#include "descent/experiment/depth.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "../temp_dir.hpp"
#include "descent/core/error.hpp"
#include "fashion.hpp"

namespace descent::experiment {
namespace {

DepthOptions tiny() {
  DepthOptions o;
  o.depths = {8, 14};
  o.steps = 10;
  o.batch = 16;
  o.train_size = 500;
  o.test_size = 200;
  o.eval_size = 100;
  o.eval_every = 5;
  o.scan_size = 32;
  o.scan_points = 3;
  o.warmup_steps = 2;
  o.threads = 1;
  return o;
}

// Four runs, residual before plain at each depth; only the deepest pair is scanned, on the
// full grid, with the trained point (0, 0) at the centre; the report holds both landscapes.
TEST(DepthExperiment, TrainsTwinsScansTheDeepestAndWritesTheReport) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST is not installed";
  const DepthOptions o = tiny();
  const std::vector<DepthRun> runs = run_depth(o);
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].name(), "resnet8");
  EXPECT_EQ(runs[1].name(), "plain8");
  EXPECT_EQ(runs[3].name(), "plain14");
  // the warmup: lr 0 at the first step, the base lr from step warmup_steps on
  ASSERT_EQ(runs[0].run.lr.size(), 10u);
  EXPECT_EQ(runs[0].run.lr[0], 0.0);
  EXPECT_DOUBLE_EQ(runs[0].run.lr[1], o.lr / 2);
  EXPECT_DOUBLE_EQ(runs[0].run.lr[9], o.lr);
  for (const DepthRun& r : runs) {
    SCOPED_TRACE(r.label());
    EXPECT_FALSE(r.run.diverged);
    EXPECT_EQ(r.run.evals.size(), 2u);  // steps 5 and 10
    EXPECT_EQ(r.run.model, nullptr);
    EXPECT_EQ(r.scan.size(), r.depth == 14 ? 9u : 0u);
  }
  // The centre of the grid is the trained network: its loss is the lowest of the 3 x 3 more
  // often than not, but at least it is finite and the scan varies around it.
  for (const std::size_t k : {2u, 3u}) {
    const std::vector<landscape::ScanPoint>& scan = runs[k].scan;
    EXPECT_EQ(scan[4].x, 0.0);
    EXPECT_EQ(scan[4].y, 0.0);
    EXPECT_TRUE(std::isfinite(scan[4].loss));
    EXPECT_NE(scan[0].loss, scan[4].loss);
  }
  const testing::TempDir tmp;
  write_depth_report(runs, o, tmp.file("depth"));
  for (const char* file :
       {"runs.csv", "curves.csv", "scan_resnet14.csv", "scan_plain14.csv", "train_error.svg",
        "loss.svg", "landscape_resnet14.svg", "landscape_plain14.svg", "report.html"}) {
    EXPECT_TRUE(std::filesystem::exists(tmp.path() / "depth" / file)) << file;
  }
}

TEST(DepthExperiment, BadOptions) {
  struct Case {
    const char* what;
    void (*change)(DepthOptions&);
    const char* message;
  };
  const Case cases[] = {
      {"depth 21",
       [](DepthOptions& o) {
         o.depths = {20, 21};
       },
       "must be 6n + 2"},
      {"depth 2", [](DepthOptions& o) { o.depths = {2}; }, "must be 6n + 2"},
      {"no depths", [](DepthOptions& o) { o.depths.clear(); }, "between 1 and 6 depths"},
      {"grid 1", [](DepthOptions& o) { o.scan_points = 1; }, "scan_points must be 0"},
      {"grid 1000", [](DepthOptions& o) { o.scan_points = 1000; }, "in [2, 51]"},
      {"subset 0", [](DepthOptions& o) { o.scan_size = 0; }, "scan_size must be positive"},
      {"range 0", [](DepthOptions& o) { o.scan_range = 0; }, "scan_range must be positive"},
      {"steps 0", [](DepthOptions& o) { o.steps = 0; }, "steps must be in"},
      {"lr inf", [](DepthOptions& o) { o.lr = INFINITY; }, "lr must be positive"},
      {"warmup = steps", [](DepthOptions& o) { o.warmup_steps = 10; }, "warmup_steps must be in"},
  };
  for (const Case& c : cases) {
    DepthOptions o = tiny();
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

}  // namespace
}  // namespace descent::experiment
