// `descent train`'s step flags: --clip-value, --agc, --nan-policy, --detect-anomaly,
// --accumulate, --ema, --no-doctor: saved in config.json and checkpoints, validated with one
// line naming the flag, acting as they say, and resuming exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "descent/train/checkpoint.hpp"
#include "run_cli.hpp"

namespace descent {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::describe;
using testing::read_file;
using testing::read_json;
using testing::run_cli;
using testing::TempDir;

std::vector<nlohmann::json> read_records(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// A quick run: 400 spirals, 7 batches of 64 per epoch, one thread.
std::vector<std::string> quick(const std::string& out, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"train",    "--data",    "spirals,samples=400",
                                   "--epochs", "2",         "--batch-size",
                                   "64",       "--threads", "1",
                                   "--out",    out};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

int count_lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

TEST(TrainFlags, AreSavedInConfigJsonAndCheckpoints) {
  TempDir dir;
  const std::string out = dir.file("run");
  const CliResult r =
      run_cli(quick(out, {"--clip-value", "0.5", "--agc", "0.05", "--nan-policy", "skip",
                          "--accumulate", "2", "--ema", "0.9", "--no-doctor", "--detect-anomaly"}));
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("2 epochs of 4 steps (batch 64 x 2 accumulated micro-batches)"),
            std::string::npos)
      << r.out;
  const nlohmann::json config = read_json(out + "/config.json");
  EXPECT_EQ(config["clip_value"], 0.5);
  EXPECT_EQ(config["agc"], 0.05);
  EXPECT_EQ(config["nan_policy"], "skip");
  EXPECT_EQ(config["accumulate"], 2);
  EXPECT_EQ(config["ema"], 0.9);
  EXPECT_EQ(config["doctor"], false);
  EXPECT_EQ(config["detect_anomaly"], true);
  const train::Checkpoint last = train::load_checkpoint(out + "/last.safetensors");
  EXPECT_EQ(nlohmann::json::parse(last.metadata.at("config")), config);
  EXPECT_EQ(train::metadata_int(last, "step"), 8) << "7 batches in steps of 2: 4 per epoch";
  EXPECT_EQ(train::metadata_int(last, "ema_updates"), 8);
  EXPECT_EQ(last.ema.size(), last.model.size()) << "an average for every model entry";
  const nlohmann::json summary = read_json(out + "/summary.json");
  EXPECT_EQ(summary["test_on_ema"], true);
  EXPECT_EQ(summary["skipped_steps"], 0);
  // `eval --ema` measures what train's summary did: the averaged weights
  const CliResult averaged = run_cli({"eval", out + "/last.safetensors", "--ema", "--json"});
  ASSERT_EQ(averaged.status, 0) << describe(averaged);
  EXPECT_EQ(nlohmann::json::parse(averaged.out)["accuracy"], summary["test_acc"]);
  EXPECT_EQ(nlohmann::json::parse(averaged.out)["loss"], summary["test_loss"]);
  const CliResult own = run_cli({"eval", out + "/last.safetensors", "--json"});
  ASSERT_EQ(own.status, 0) << describe(own);
  EXPECT_NE(nlohmann::json::parse(own.out)["loss"], summary["test_loss"]);

  // Without the flags: off, stop, 1, on.
  const std::string plain = dir.file("plain");
  ASSERT_EQ(run_cli(quick(plain, {"--epochs", "1"})).status, 0);
  const nlohmann::json defaults = read_json(plain + "/config.json");
  EXPECT_TRUE(defaults["clip_value"].is_null());
  EXPECT_TRUE(defaults["agc"].is_null());
  EXPECT_TRUE(defaults["ema"].is_null());
  EXPECT_EQ(defaults["nan_policy"], "stop");
  EXPECT_EQ(defaults["accumulate"], 1);
  EXPECT_EQ(defaults["doctor"], true);
  EXPECT_EQ(train::load_checkpoint(plain + "/last.safetensors").ema.size(), 0u);
  const CliResult no_average = run_cli({"eval", plain + "/last.safetensors", "--ema"});
  EXPECT_EQ(no_average.status, 2) << describe(no_average);
  EXPECT_NE(no_average.err.find("--ema: checkpoint '" + plain +
                                "/last.safetensors' holds no average of the weights"),
            std::string::npos)
      << describe(no_average);
}

TEST(TrainFlags, BadValuesGetOneLineNamingTheFlag) {
  TempDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--clip-value", "0"}, "--clip-value: must be > 0, got 0"},
      {{"--clip-value", "-1"}, "--clip-value: must be > 0, got -1"},
      {{"--agc", "0"}, "--agc: must be > 0, got 0"},
      {{"--accumulate", "0"}, "--accumulate: must be >= 1, got 0"},
      {{"--accumulate", "two"}, "--accumulate: expected an integer, got 'two'"},
      {{"--ema", "1"}, "--ema: the decay must be in (0, 1), got 1"},
      {{"--ema", "0"}, "--ema: the decay must be in (0, 1), got 0"},
      {{"--ema", "-0.5"}, "--ema: the decay must be in (0, 1), got -0.5"},
      {{"--nan-policy", "ignore"}, "--nan-policy: must be skip or stop, got 'ignore'"},
  };
  for (const auto& [flags, message] : cases) {
    const CliResult r = run_cli(quick(dir.file("run"), flags));
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_TRUE(r.err.starts_with("descent: ")) << describe(r);
    EXPECT_EQ(count_lines(r.err), 1) << describe(r);
    EXPECT_NE(r.err.find(message), std::string::npos) << message << "\n" << describe(r);
    EXPECT_FALSE(fs::exists(dir.file("run"))) << "nothing written";
  }
  // The same checks for keys of a --config file.
  const std::string config = dir.file("bad.json");
  std::ofstream(config) << R"({"ema": 2})";
  const CliResult r = run_cli(quick(dir.file("run"), {"--config", config}));
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_NE(r.err.find("key 'ema' of " + config + ": the decay must be in (0, 1), got 2"),
            std::string::npos)
      << describe(r);
}

// At lr 1e30 every step after the first has a non-finite loss. Under skip, each is skipped
// and logged, and 20 in a row stop the run (exit 1, one line naming the step); under stop,
// the first stops it; with --detect-anomaly the line names the op.
TEST(TrainFlags, NanPolicySkipLogsAndStopsAfterTwentySkipsInARow) {
  TempDir dir;
  const std::string out = dir.file("skip");
  const CliResult skip =
      run_cli(quick(out, {"--lr", "1e30", "--epochs", "4", "--nan-policy", "skip", "--no-doctor"}));
  EXPECT_EQ(skip.status, 1) << describe(skip);
  EXPECT_EQ(count_lines(skip.err), 1) << describe(skip);
  EXPECT_NE(skip.err.find("NaN guard: 20 steps in a row were skipped, the last as the loss is"),
            std::string::npos)
      << describe(skip);
  EXPECT_NE(skip.err.find("at step 21 (epoch 3, batch 7)"), std::string::npos) << describe(skip);
  int skips = 0;
  for (const nlohmann::json& record : read_records(out + "/metrics.jsonl")) {
    if (record["type"] != "skip") continue;
    ++skips;
    EXPECT_EQ(record["reason"], "non_finite_loss");
    EXPECT_EQ(record["skipped_steps"], skips);
  }
  EXPECT_EQ(skips, 19) << "the 20th stops the run before it is logged";
  EXPECT_TRUE(fs::exists(out + "/last.safetensors")) << "the epochs before were saved";

  const CliResult stop =
      run_cli(quick(dir.file("stop"), {"--lr", "1e30", "--detect-anomaly", "--no-doctor"}));
  EXPECT_EQ(stop.status, 1) << describe(stop);
  EXPECT_EQ(count_lines(stop.err), 1) << describe(stop);
  EXPECT_NE(stop.err.find("NaN guard: anomaly: the forward of '"), std::string::npos)
      << describe(stop);
  EXPECT_NE(stop.err.find("at step 2 (epoch 1, batch 2)"), std::string::npos) << describe(stop);
}

// lr 20 without warmup diverges early: the doctor says so, unless --no-doctor.
TEST(TrainFlags, NoDoctorSilencesTheDoctor) {
  TempDir dir;
  const std::vector<std::string> diverging = {"--lr", "20", "--schedule", "constant"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), diverging.begin(), diverging.end());
    return more;
  };
  const CliResult on = run_cli(quick(dir.file("on"), with({})));
  ASSERT_EQ(on.status, 0) << describe(on);
  EXPECT_NE(on.err.find("descent: doctor: "), std::string::npos) << describe(on);
  EXPECT_NE(read_file(dir.file("on") + "/metrics.jsonl").find("\"diagnosis\""), std::string::npos);
  const CliResult off = run_cli(quick(dir.file("off"), with({"--no-doctor"})));
  ASSERT_EQ(off.status, 0) << describe(off);
  EXPECT_EQ(off.err, "") << describe(off);
  EXPECT_EQ(read_file(dir.file("off") + "/metrics.jsonl").find("\"diagnosis\""), std::string::npos);
}

// Resumed in a new process, a run with an average of the weights, accumulation and value
// clipping ends with the same bits as a straight one, averages included.
TEST(TrainFlags, ResumeWithTheAverageIsExact) {
  TempDir dir;
  // (a constant schedule: the cosine's length would follow --steps)
  const std::vector<std::string> setup = {
      "--ema",      "0.8",      "--accumulate",   "2", "--clip-value", "0.05", "--epochs", "3",
      "--schedule", "constant", "--warmup-steps", "3", "--no-doctor"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), setup.begin(), setup.end());
    return more;
  };
  const std::string half = dir.file("half");
  const std::string resumed = dir.file("resumed");
  const std::string straight = dir.file("straight");
  CliResult r = run_cli(quick(half, with({"--steps", "5"})));
  ASSERT_EQ(r.status, 0) << describe(r);
  r = run_cli({"train", "--resume", half + "/last.safetensors", "--steps", "10", "--out", resumed});
  ASSERT_EQ(r.status, 0) << describe(r);
  r = run_cli(quick(straight, with({"--steps", "10"})));
  ASSERT_EQ(r.status, 0) << describe(r);
  const train::Checkpoint a = train::load_checkpoint(resumed + "/last.safetensors");
  const train::Checkpoint b = train::load_checkpoint(straight + "/last.safetensors");
  ASSERT_GT(a.ema.size(), 0u);
  for (const auto* part : {&a.model, &a.ema}) {
    const nn::StateDict& other = part == &a.model ? b.model : b.ema;
    for (const auto& [name, tensor] : *part) {
      const Tensor& twin = other.at(name);
      EXPECT_TRUE(tensor.shape() == twin.shape() &&
                  std::memcmp(tensor.raw_data(), twin.raw_data(), tensor.nbytes()) == 0)
          << name;
    }
  }
  EXPECT_EQ(read_json(resumed + "/summary.json")["test_acc"],
            read_json(straight + "/summary.json")["test_acc"]);
}

}  // namespace
}  // namespace descent
