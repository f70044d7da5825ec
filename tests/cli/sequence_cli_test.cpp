// `descent train` and `descent eval` on the sequence tasks: --data adding/temporal/text train
// a recurrent net or a transformer with the loss the targets call for and write a checkpoint
// that eval reads back; bad data specs and models that do not fit the data exit 2 with one
// line naming the flag.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "run_cli.hpp"

namespace descent {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::describe;
using testing::read_json;
using testing::run_cli;
using testing::TempDir;

TEST(SequenceCli, AddingTrainsAnLstmByMseAndEvalReadsTheCheckpoint) {
  TempDir dir;
  const std::string out = dir.file("run");
  const CliResult r = run_cli({"train", "--data", "adding:T=10,samples=200", "--model", "lstm:8",
                               "--optimizer", "adam", "--lr", "0.01", "--batch-size", "20",
                               "--epochs", "2", "--threads", "1", "--out", out});
  ASSERT_EQ(r.status, 0) << describe(r);
  // The data fills in the model's input and outputs; the report has no accuracy.
  EXPECT_NE(r.out.find("LSTM(2, 8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("regression"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("test MSE"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("acc"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(fs::path(out) / "last.safetensors"));
  EXPECT_TRUE(fs::exists(fs::path(out) / "best.safetensors"));
  const nlohmann::json summary = read_json(fs::path(out) / "summary.json");
  EXPECT_EQ(summary["objective"], "regression");
  EXPECT_TRUE(summary["test_acc"].is_null());
  EXPECT_GE(summary["test_error_rate"].get<double>(), 0.0);
  EXPECT_EQ(summary["steps"], 20);
  const nlohmann::json config = read_json(fs::path(out) / "config.json");
  EXPECT_EQ(config["model"], "lstm:8,input=10x2,outputs=1");
  std::ifstream metrics(fs::path(out) / "metrics.jsonl");
  std::string line;
  int epochs = 0;
  while (std::getline(metrics, line)) {
    const nlohmann::json record = nlohmann::json::parse(line);
    if (record["type"] != "epoch") continue;
    ++epochs;
    EXPECT_TRUE(record["train_accuracy"].is_null()) << line;
    EXPECT_TRUE(record["eval_error_rate"].is_number()) << line;
  }
  EXPECT_EQ(epochs, 2);

  const CliResult e = run_cli({"eval", (fs::path(out) / "last.safetensors").string(), "--json"});
  ASSERT_EQ(e.status, 0) << describe(e);
  const nlohmann::json result = nlohmann::json::parse(e.out);
  EXPECT_EQ(result["objective"], "regression");
  EXPECT_NEAR(result["loss"].get<double>(), summary["test_loss"].get<double>(), 1e-9);
}

TEST(SequenceCli, TemporalOrderIsClassification) {
  TempDir dir;
  const CliResult r =
      run_cli({"train", "--data", "temporal:T=12,samples=64", "--model", "gru:8", "--batch-size",
               "32", "--steps", "3", "--threads", "1", "--out", dir.file("run")});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("4 classes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("test accuracy"), std::string::npos) << r.out;
}

TEST(SequenceCli, TextTrainsATransformerInBitsPerCharacter) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 40; ++i) text += "the quick brown fox jumps over the lazy dog. ";
  std::ofstream(dir.file("fox.txt")) << text;
  const std::string out = dir.file("run");
  const CliResult r =
      run_cli({"train", "--data", "text:" + dir.file("fox.txt") + ",T=16", "--model",
               "transformer,dim=16,heads=2,layers=1", "--optimizer", "adam", "--lr", "0.01",
               "--batch-size", "16", "--epochs", "1", "--threads", "1", "--out", out});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("bits/char"), std::string::npos) << r.out;
  const nlohmann::json summary = read_json(fs::path(out) / "summary.json");
  EXPECT_EQ(summary["objective"], "tokens");
  EXPECT_NEAR(summary["test_bits_per_char"].get<double>(),
              summary["test_loss"].get<double>() / std::log(2.0), 1e-9);
  const nlohmann::json config = read_json(fs::path(out) / "config.json");
  // 28 distinct characters: the 26 letters, the space and the full stop.
  EXPECT_EQ(config["model"], "transformer,dim=16,heads=2,layers=1,vocab=28,len=16");
}

TEST(SequenceCli, BadInputExits2WithOneLineNamingTheFlag) {
  TempDir dir;
  std::ofstream(dir.file("empty.txt")).flush();
  std::ofstream(dir.file("short.txt")) << "just a few words";
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--data", "adding:T=0"}, "--data: in 'adding:T=0', T must be an integer >= 2, got 0"},
      {{"--data", "adding:X=3"}, "--data: 'adding' has no option 'X' (options: T, samples)"},
      {{"--data", "adding:T=abc"}, "--data: in 'adding:T=abc', T must be a number"},
      {{"--data", "temporal:T=5"}, "T must be an integer >= 10, got 5"},
      {{"--data", "adding:T=10,samples=1"}, "samples must be an integer >= 2, got 1"},
      {{"--data", "text:/nonexistent"}, "--data: text file '/nonexistent' does not exist"},
      {{"--data", "text:"}, "--data: text: needs a file after ':'"},
      {{"--data", "text:" + dir.path().string()}, "is not a regular file"},
      {{"--data", "text:" + dir.file("empty.txt")}, "empty.txt': is empty"},
      {{"--data", "text,T=0"}, "T must be an integer >= 1, got 0"},
      {{"--data", "text:" + dir.file("short.txt")},
       "short.txt' has 16 characters, too few for one training window of 129"},
      {{"--data", "addingg"}, "--data: unknown data 'addingg'"},
      {{"--data", "adding:T=50", "--model", "cnn"},
       "--model: model 'cnn' does not take the data's examples (50, 2): it expects images (N, 1, "
       "28, 28) but adding:T=50 gives sequences (N, 50, 2)"},
      {{"--data", "adding:T=10", "--model", "transformer"},
       "it expects tokens (N, T) with T <= 128 but adding:T=10 gives sequences (N, 10, 2)"},
      {{"--data", "text,T=16", "--model", "lstm"},
       "it expects sequences (N, T, 2) but text,T=16 gives tokens (N, 16)"},
      {{"--data", "adding:T=10", "--model", "lstm:8,outputs=3"},
       "--model: model 'lstm:8,outputs=3,input=10x2' gives outputs (3) per example, but the data "
       "has real targets (1) (regression)"},
      {{"--data", "text,T=16", "--model", "transformer,vocab=10"},
       "gives outputs (16, 10) per example, but the data needs (16, V) with V >= 76"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"train", "--steps", "1", "--out", dir.file("never")};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.message << "\n" << describe(r);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(r);
    EXPECT_FALSE(fs::exists(dir.file("never"))) << describe(r);
  }
  // lr-find measures cross-entropy on class labels only.
  const CliResult r = run_cli({"lr-find", "--data", "adding:T=10", "--steps", "5"});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_NE(r.err.find("--data: lr-find needs class labels, and adding:T=10 has regression "
                       "targets"),
            std::string::npos)
      << describe(r);
}

}  // namespace
}  // namespace descent
