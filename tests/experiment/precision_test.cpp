#include "descent/experiment/precision.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "descent/core/error.hpp"
#include "temp_dir.hpp"

namespace descent::experiment {
namespace {

std::string read(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The MLP on 640 Fashion-MNIST images, one epoch: every run learns, only fp16 counts
// underflow, scaling flushes fewer gradients than no scaling, and the report has it all.
TEST(PrecisionExperiment, FourRunsAndTheirReport) {
  PrecisionOptions o;
  o.model = "mlp";
  o.epochs = 1;
  o.batch = 64;
  o.train_size = 640;
  o.test_size = 500;
  const std::vector<PrecisionRun> runs = run_precision(o);
  ASSERT_EQ(runs.size(), 4u);
  for (const PrecisionRun& r : runs) {
    SCOPED_TRACE(r.label());
    EXPECT_EQ(r.loss.size(), 10u);
    EXPECT_GT(r.test_accuracy, 0.3);  // chance is 0.1
    EXPECT_EQ(std::isnan(r.mean_underflow), r.precision != amp::Precision::fp16);
    EXPECT_NEAR(r.test_accuracy, runs[0].test_accuracy, 0.05);
  }
  EXPECT_EQ(runs[2].scale.front(), 65536.0);  // fp16 + loss scaling
  EXPECT_EQ(runs[3].scale.front(), 1.0);
  EXPECT_LE(runs[2].mean_underflow, runs[3].mean_underflow);

  testing::TempDir dir;
  write_precision_report(runs, o, dir.path().string());
  for (const char* file : {"runs.csv", "steps.csv", "loss.svg", "underflow.svg", "report.html"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.path() / file)) << file;
  }
  const std::string csv = read(dir.path() / "runs.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5) << csv;
  const std::string html = read(dir.path() / "report.html");
  EXPECT_NE(html.find("fp16, no loss scaling"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
}

TEST(PrecisionExperiment, BadOptionsAreNamed) {
  PrecisionOptions o;
  o.epochs = 0;
  EXPECT_THROW(o.validate(), Error);
  o = {};
  o.lr = -1;
  EXPECT_THROW(o.validate(), Error);
  o = {};
  o.train_size = -5;
  EXPECT_THROW(o.validate(), Error);
  o = {};
  o.data_dir = "/nonexistent/fashion";
  try {
    run_precision(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/fashion"), std::string::npos) << e.what();
  }
  EXPECT_THROW(write_precision_report({}, {}, "/tmp"), Error);
}

}  // namespace
}  // namespace descent::experiment
