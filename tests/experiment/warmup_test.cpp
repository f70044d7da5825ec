#include "descent/experiment/warmup.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "descent/core/error.hpp"
#include "descent/data/text.hpp"

namespace descent::experiment {
namespace {

WarmupOptions tiny() {
  WarmupOptions o;
  o.seeds = 1;
  o.steps = 60;
  o.batch = 8;
  o.length = 16;
  o.dim = 16;
  o.heads = 2;
  o.layers = 1;
  o.lr = 3e-3;
  o.warmup_steps = 10;
  o.eval_every = 30;
  o.threads = 1;
  return o;
}

TEST(WarmupExperiment, LearnsCharactersAndWritesTheReport) {
  if (!std::filesystem::exists(data::default_text_path())) GTEST_SKIP() << "no default text";
  const WarmupOptions o = tiny();
  const std::vector<WarmupRun> runs = run_warmup(o);
  ASSERT_EQ(runs.size(), 2u);
  const double uniform_bits =
      std::log2(static_cast<double>(data::load_text(data::default_text_path()).vocab_size()));
  for (const WarmupRun& r : runs) {
    SCOPED_TRACE(r.label());
    EXPECT_FALSE(r.diverged);
    EXPECT_EQ(static_cast<std::int64_t>(r.train_loss.size()), o.steps);
    ASSERT_EQ(r.val_bpc.size(), 2u);  // steps 30 and 60
    EXPECT_EQ(r.val_bpc[1].first, 60);
    // 60 steps already beat a uniform guess over the alphabet by a wide margin.
    EXPECT_LT(r.final_val_bpc, uniform_bits - 1.0);
  }
  EXPECT_NE(runs[0].train_loss, runs[1].train_loss);        // the arms differ only by the schedule
  EXPECT_EQ(runs[0].train_loss[0], runs[1].train_loss[0]);  // same weights, same first batch
  const auto dir = std::filesystem::temp_directory_path() / "descent-warmup-test";
  std::filesystem::remove_all(dir);
  write_warmup_report(runs, o, dir.string());
  for (const char* file : {"runs.csv", "curves.csv", "loss.svg", "val_bpc.svg", "report.html"}) {
    EXPECT_TRUE(std::filesystem::exists(dir / file)) << file;
  }
  std::filesystem::remove_all(dir);
}

// An absurd learning rate without warmup sends the loss past the divergence limit; the run
// stops there and has no final score.
TEST(WarmupExperiment, DivergenceIsDetected) {
  if (!std::filesystem::exists(data::default_text_path())) GTEST_SKIP() << "no default text";
  WarmupOptions o = tiny();
  o.lr = 10.0;
  o.steps = 30;
  const std::vector<WarmupRun> runs = run_warmup(o);
  ASSERT_FALSE(runs.empty());
  EXPECT_TRUE(runs[0].diverged) << runs[0].label();
  EXPECT_TRUE(std::isnan(runs[0].final_val_bpc));
  EXPECT_EQ(static_cast<std::int64_t>(runs[0].train_loss.size()), runs[0].diverged_at + 1);
}

TEST(WarmupExperiment, BadOptions) {
  auto message = [](const WarmupOptions& o) {
    try {
      o.validate();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  WarmupOptions o = tiny();
  o.warmup_steps = o.steps;
  EXPECT_NE(message(o).find("warmup_steps must be in [1, steps)"), std::string::npos);
  o = tiny();
  o.dim = 10;
  o.heads = 4;
  EXPECT_NE(message(o).find("multiple of heads"), std::string::npos);
  o = tiny();
  o.lr = 0;
  EXPECT_NE(message(o).find("lr must be positive"), std::string::npos);
  o = tiny();
  o.text = "/nonexistent/text.txt";
  EXPECT_THROW(run_warmup(o), Error);
}

}  // namespace
}  // namespace descent::experiment
