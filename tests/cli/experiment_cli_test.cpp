// `descent experiment`: the clipping experiment writes its folder and prints its table; bad
// names and options exit 2 with one line naming them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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

TEST(ExperimentCli, BadInputExits2WithOneLine) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"experiment", "nope"},
        std::vector<std::string>{"experiment", "clipping", "--lengths", "50,x"},
        std::vector<std::string>{"experiment", "clipping", "--lengths", "1"},
        std::vector<std::string>{"experiment", "clipping", "--seeds", "-3"},
        std::vector<std::string>{"experiment", "clipping", "--lr", "-1"},
        std::vector<std::string>{"experiment", "warmup", "--warmup-steps", "5000"},
        std::vector<std::string>{"experiment", "warmup", "--lengths", "5"}}) {
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(r);
  }
  const CliResult unknown = run_cli({"experiment", "nope"});
  EXPECT_NE(unknown.err.find("unknown experiment 'nope' (known: clipping, warmup, precision)"),
            std::string::npos)
      << unknown.err;
}

}  // namespace
}  // namespace descent
