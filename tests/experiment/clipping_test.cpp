#include "descent/experiment/clipping.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "descent/core/error.hpp"

namespace descent::experiment {
namespace {

ClippingOptions tiny() {
  ClippingOptions o;
  o.lengths = {12};
  o.seeds = 2;
  o.steps = 25;
  o.batch = 8;
  o.hidden = 8;
  o.test_size = 64;
  o.lr = 0.05;  // sane at this size (the default, 0.2, is chosen to blow the RNN up)
  return o;
}

// At a learning rate far too high, unclipped SGD blows the weights up until the loss is no
// longer finite; clipping bounds every step, so the same runs stay finite.
TEST(ClippingExperiment, ClippingPreventsTheDivergenceOfAnExcessiveLearningRate) {
  ClippingOptions o = tiny();
  o.lr = 50.0;
  const std::vector<ClippingRun> runs = run_clipping(o);
  ASSERT_EQ(runs.size(), 2u * 1u * 2u * 2u);  // cells x lengths x clipping x seeds
  std::int64_t diverged_unclipped = 0;
  for (const ClippingRun& r : runs) {
    SCOPED_TRACE(r.label());
    if (r.clipped) {
      EXPECT_FALSE(r.diverged);
      EXPECT_EQ(static_cast<std::int64_t>(r.loss.size()), o.steps);
      EXPECT_TRUE(std::isfinite(r.test_mse));
    } else {
      diverged_unclipped += r.diverged ? 1 : 0;
      if (r.diverged) {
        EXPECT_EQ(static_cast<std::int64_t>(r.loss.size()), r.diverged_at + 1);
        EXPECT_FALSE(r.success);
        EXPECT_TRUE(std::isnan(r.test_mse));
      }
    }
    EXPECT_EQ(r.loss.size(), r.grad_norm.size());
  }
  EXPECT_GE(diverged_unclipped, 2);
  const std::vector<ClippingSummary> summary = summarize_clipping(runs);
  ASSERT_EQ(summary.size(), 4u);
  for (const ClippingSummary& s : summary) {
    EXPECT_EQ(s.runs, 2);
    if (s.clipped) {
      EXPECT_EQ(s.diverged, 0);
    }
  }
}

TEST(ClippingExperiment, RunsAreSeededAndTheReportIsWritten) {
  const ClippingOptions o = tiny();
  const std::vector<ClippingRun> a = run_clipping(o);
  const std::vector<ClippingRun> b = run_clipping(o);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].loss, b[i].loss) << a[i].label();
    EXPECT_EQ(a[i].grad_norm, b[i].grad_norm);
  }
  EXPECT_NE(a[0].loss, a[1].loss);  // seeds differ
  // At a sane learning rate the loss falls below the constant predictor's 1/6 on average.
  double last = 0;
  for (const ClippingRun& r : a) last += r.test_mse / static_cast<double>(a.size());
  EXPECT_LT(last, 0.5);

  const auto dir = std::filesystem::temp_directory_path() / "descent-clipping-test";
  std::filesystem::remove_all(dir);
  write_clipping_report(a, o, dir.string());
  for (const char* file : {"runs.csv", "summary.csv", "grad_norm.svg", "loss.svg", "report.html"}) {
    EXPECT_TRUE(std::filesystem::exists(dir / file)) << file;
  }
  std::ifstream in(dir / "runs.csv");
  std::stringstream text;
  text << in.rdbuf();
  std::int64_t lines = 0;
  for (char c : text.str()) lines += c == '\n';
  EXPECT_EQ(lines, 1 + static_cast<std::int64_t>(a.size()));
  std::ifstream html(dir / "report.html");
  std::stringstream page;
  page << html.rdbuf();
  EXPECT_NE(page.str().find("<svg"), std::string::npos);
  EXPECT_NE(page.str().find("success rate"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(ClippingExperiment, BadOptions) {
  auto message = [](ClippingOptions o) {
    try {
      run_clipping(o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  ClippingOptions o = tiny();
  o.lengths = {};
  EXPECT_NE(message(o).find("no sequence lengths"), std::string::npos);
  o = tiny();
  o.lengths = {1};
  EXPECT_NE(message(o).find("sequence length must be in [2, 10000], got 1"), std::string::npos);
  o = tiny();
  o.lr = -1;
  EXPECT_NE(message(o).find("lr must be positive"), std::string::npos);
  o = tiny();
  o.max_norm = 0;
  EXPECT_NE(message(o).find("clipping threshold must be positive"), std::string::npos);
  o = tiny();
  o.seeds = 0;
  EXPECT_NE(message(o).find("seeds must be in [1, 1000]"), std::string::npos);
  EXPECT_THROW(write_clipping_report({}, tiny(), "/tmp/x"), Error);
}

}  // namespace
}  // namespace descent::experiment
