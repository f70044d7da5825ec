// `descent experiment`: the clipping experiment writes its folder and prints its table; bad
// names and options exit 2 with one line naming them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../temp_dir.hpp"
#include "run_cli.hpp"

namespace descent {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::describe;
using testing::run_cli;

TEST(ExperimentCli, ClippingWritesItsFolder) {
  const fs::path dir = fs::temp_directory_path() / "descent-experiment-cli";
  fs::remove_all(dir);
  const CliResult r = run_cli({"experiment", "clipping", "--quick", "--lengths", "8", "--seeds",
                               "1", "--steps", "15", "--threads", "1", "--out", dir.string()});
  ASSERT_EQ(r.status, 0) << describe(r);
  for (const char* file : {"runs.csv", "summary.csv", "grad_norm.svg", "loss.svg", "report.html"}) {
    EXPECT_TRUE(fs::exists(dir / file)) << file;
  }
  // one line per run (rnn and lstm, clipped or not) and the summary table
  for (const char* part :
       {"rnn T=8 seed 0 unclipped", "lstm T=8 seed 0 clipped", "median test MSE", "report: "}) {
    EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
  }
  fs::remove_all(dir);
}

TEST(ExperimentCli, WarmupWritesItsFolder) {
  const fs::path dir = fs::temp_directory_path() / "descent-experiment-warmup-cli";
  fs::remove_all(dir);
  const CliResult r = run_cli({"experiment", "warmup", "--quick", "--steps", "20", "--threads", "1",
                               "--out", dir.string()});
  ASSERT_EQ(r.status, 0) << describe(r);
  for (const char* file : {"runs.csv", "curves.csv", "loss.svg", "val_bpc.svg", "report.html"}) {
    EXPECT_TRUE(fs::exists(dir / file)) << file;
  }
  for (const char* part : {"seed 0 without warmup", "seed 0 with warmup", "report: "}) {
    EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
  }
  fs::remove_all(dir);
}

bool have_fashion_mnist() {
  return fs::exists("/usr/share/datasets/fashion-mnist") ||
         std::getenv("DESCENT_FASHION_MNIST_DIR") != nullptr;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

// Into a folder that holds an earlier report: the new report replaces it whole (the earlier
// run's extra file is gone).
TEST(ExperimentCli, BatchnormReplacesAnEarlierReport) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST is not installed";
  const testing::TempDir tmp;
  const fs::path dir = tmp.path() / "bn";
  fs::create_directory(dir);
  write_text(dir / "report.html", "an earlier run");
  write_text(dir / "stale.svg", "an earlier run");
  const CliResult r = run_cli({"experiment", "batchnorm", "--quick", "--lrs", "0.01", "--steps",
                               "10", "--threads", "1", "--out", dir.string()});
  ASSERT_EQ(r.status, 0) << describe(r);
  for (const char* file : {"runs.csv", "curves.csv", "evals.csv", "accuracy_vs_lr.svg",
                           "sharpness_vs_lr.svg", "loss_bn.svg", "loss_no_bn.svg", "report.html"}) {
    EXPECT_TRUE(fs::exists(dir / file)) << file;
  }
  EXPECT_FALSE(fs::exists(dir / "stale.svg"));
  for (const char* part :
       {"cnn lr 0.01: test", "cnn,bn=0 lr 0.01: test", "highest lr that trained", "report: "}) {
    EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
  }
}

TEST(ExperimentCli, OptimizersAndSchedulesWriteTheirFolders) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST is not installed";
  const testing::TempDir tmp;
  CliResult r = run_cli({"experiment", "optimizers", "--quick", "--names", "sgd,adam", "--threads",
                         "1", "--out", tmp.file("opt")});
  ASSERT_EQ(r.status, 0) << describe(r);
  for (const char* part : {"sgd lr 0.03: ", "adam lr 0.001: ", "(best: test ", "report: "}) {
    EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
  }
  EXPECT_EQ(r.out.find("nesterov"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(tmp.path() / "opt" / "report.html"));
  r = run_cli({"experiment", "schedules", "--quick", "--names", "step,one-cycle", "--steps", "20",
               "--threads", "1", "--out", tmp.file("sched")});
  ASSERT_EQ(r.status, 0) << describe(r);
  for (const char* part : {"step seed 0: test", "one-cycle seed 0: test", "report: "}) {
    EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
  }
  for (const char* file : {"loss.svg", "lr.svg", "accuracy.svg", "report.html"}) {
    EXPECT_TRUE(fs::exists(tmp.path() / "sched" / file)) << file;
  }
}

TEST(ExperimentCli, DepthWritesItsFolder) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST is not installed";
  const testing::TempDir tmp;
  const CliResult r = run_cli({"experiment", "depth", "--quick", "--depths", "8", "--grid", "2",
                               "--threads", "1", "--out", tmp.file("depth")});
  ASSERT_EQ(r.status, 0) << describe(r);
  for (const char* part : {"resnet8: train error", "plain8: train error", "scanned 4 points"}) {
    EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
  }
  for (const char* file :
       {"train_error.svg", "landscape_resnet8.svg", "landscape_plain8.svg", "report.html"}) {
    EXPECT_TRUE(fs::exists(tmp.path() / "depth" / file)) << file;
  }
}

TEST(ExperimentCli, BadInputExits2WithOneLine) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"experiment", "nope"},
        std::vector<std::string>{"experiment", "clipping", "--lengths", "50,x"},
        std::vector<std::string>{"experiment", "clipping", "--lengths", "1"},
        std::vector<std::string>{"experiment", "clipping", "--seeds", "-3"},
        std::vector<std::string>{"experiment", "clipping", "--lr", "-1"},
        std::vector<std::string>{"experiment", "warmup", "--warmup-steps", "5000"},
        std::vector<std::string>{"experiment", "warmup", "--lengths", "5"},
        std::vector<std::string>{"experiment", "batchnorm", "--lrs", "0.1,x"},
        std::vector<std::string>{"experiment", "batchnorm", "--lrs", "-1"},
        std::vector<std::string>{"experiment", "batchnorm", "--lrs", ""},
        std::vector<std::string>{"experiment", "batchnorm", "--steps", "0"},
        std::vector<std::string>{"experiment", "batchnorm", "--steps", "100000000"},
        std::vector<std::string>{"experiment", "batchnorm", "--lr", "0.1"},
        std::vector<std::string>{"experiment", "batchnorm", "--seeds", "2"},
        std::vector<std::string>{"experiment", "clipping", "--steps", "0"},
        std::vector<std::string>{"experiment", "optimizers", "--names", "sgd,lbfgs"},
        std::vector<std::string>{"experiment", "optimizers", "--names", ""},
        std::vector<std::string>{"experiment", "optimizers", "--names", "sgd,,adam"},
        std::vector<std::string>{"experiment", "optimizers", "--lrs", "0.1"},
        std::vector<std::string>{"experiment", "optimizers", "--steps", "-5"},
        std::vector<std::string>{"experiment", "schedules", "--names", "cosine,linear"},
        std::vector<std::string>{"experiment", "schedules", "--lr", "0"},
        std::vector<std::string>{"experiment", "schedules", "--seeds", "0"},
        std::vector<std::string>{"experiment", "schedules", "--steps", "10"},
        std::vector<std::string>{"experiment", "depth", "--depths", "20,x"},
        std::vector<std::string>{"experiment", "depth", "--depths", "21"},
        std::vector<std::string>{"experiment", "depth", "--grid", "1"},
        std::vector<std::string>{"experiment", "depth", "--grid", "100000"},
        std::vector<std::string>{"experiment", "depth", "--subset", "0"},
        std::vector<std::string>{"experiment", "depth", "--names", "a"},
        std::vector<std::string>{"experiment", "clipping", "--grid", "5"},
        std::vector<std::string>{"experiment", "warmup", "--lrs", "0.1"},
        std::vector<std::string>{"experiment", "batchnorm", "--depths", "20"}}) {
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(r);
  }
  const CliResult unknown = run_cli({"experiment", "nope"});
  EXPECT_NE(
      unknown.err.find(
          "unknown experiment 'nope' (known: batchnorm, clipping, depth, optimizers, precision, "
          "schedules, warmup)"),
      std::string::npos)
      << unknown.err;
}

}  // namespace
}  // namespace descent
