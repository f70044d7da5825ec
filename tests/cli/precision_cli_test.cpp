// `descent train --precision`: bf16 and fp16 runs from the command line, the loss scaler in
// the checkpoint, resuming in another precision, and bad values named.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "descent/train/checkpoint.hpp"
#include "run_cli.hpp"
#include "temp_dir.hpp"

namespace descent::testing {
namespace {

std::vector<std::string> quick(const std::string& out, std::vector<std::string> more) {
  std::vector<std::string> args = {"train",    "--data",    "spirals,samples=400",
                                   "--epochs", "1",         "--batch-size",
                                   "64",       "--threads", "1",
                                   "--out",    out};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(PrecisionCli, Fp16RunSavesItsScalerAndResumesInBf16) {
  TempDir dir;
  const std::string out = dir.file("run");
  const CliResult r = run_cli(quick(out, {"--precision", "fp16"}));
  ASSERT_EQ(r.status, 0) << describe(r);
  const train::Checkpoint checkpoint = train::load_checkpoint(out + "/last.safetensors");
  EXPECT_EQ(checkpoint.metadata.at("precision"), "fp16");
  EXPECT_EQ(checkpoint.metadata.at("scaler.scale"), "65536");
  const CliResult resumed = run_cli({"train", "--resume", out + "/last.safetensors", "--epochs",
                                     "2", "--precision", "bf16", "--threads", "1"});
  ASSERT_EQ(resumed.status, 0) << describe(resumed);
  const train::Checkpoint after = train::load_checkpoint(out + "/last.safetensors");
  EXPECT_EQ(after.metadata.at("precision"), "bf16");
  EXPECT_EQ(after.metadata.count("scaler.scale"), 0u);
}

TEST(PrecisionCli, BadValuesAreNamed) {
  TempDir dir;
  const CliResult r = run_cli(quick(dir.file("run"), {"--precision", "fp8"}));
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_NE(r.err.find("--precision: must be fp32, bf16 or fp16, got 'fp8'"), std::string::npos)
      << describe(r);
  EXPECT_FALSE(std::filesystem::exists(dir.file("run") + "/last.safetensors"));
}

TEST(PrecisionCli, ExperimentWritesItsReport) {
  TempDir dir;
  const std::string out = dir.file("precision");
  const CliResult r =
      run_cli({"experiment", "precision", "--quick", "--threads", "1", "--out", out});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("fp16, no loss scaling: test"), std::string::npos) << describe(r);
  EXPECT_TRUE(std::filesystem::exists(out + "/report.html"));
  const CliResult bad = run_cli({"experiment", "precision", "--quick", "--seeds", "3"});
  EXPECT_EQ(bad.status, 2) << describe(bad);
  EXPECT_NE(bad.err.find("--seeds: the precision experiment has no such option"), std::string::npos)
      << describe(bad);
  const CliResult epochs = run_cli({"experiment", "batchnorm", "--quick", "--epochs", "2"});
  EXPECT_EQ(epochs.status, 2) << describe(epochs);
  EXPECT_NE(epochs.err.find("--epochs: the batchnorm experiment has no such option"),
            std::string::npos)
      << describe(epochs);
}

}  // namespace
}  // namespace descent::testing
