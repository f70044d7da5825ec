// The `descent` command, run as a user runs it: help, runs and their folders, config files,
// exit statuses and one-line errors for bad input, exact resume across processes, and a
// process killed while writing a checkpoint.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "descent/data/fashion_mnist.hpp"
#include "descent/train/checkpoint.hpp"
#include "run_cli.hpp"

namespace descent {
namespace {

namespace fs = std::filesystem;
using testing::CliOptions;
using testing::CliResult;
using testing::describe;
using testing::read_file;
using testing::read_json;
using testing::run_cli;
using testing::TempDir;

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A quick run: 400 spirals, 7 steps of 64 per epoch, one thread.
std::vector<std::string> quick(const std::string& out, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"train",    "--data",    "spirals,samples=400",
                                   "--epochs", "2",         "--batch-size",
                                   "64",       "--threads", "1",
                                   "--out",    out};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// One line on stderr, "descent: ...".
void expect_one_error_line(const CliResult& r) {
  EXPECT_TRUE(r.err.starts_with("descent: ")) << describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(r);
}

TEST(Cli, HelpForEachCommand) {
  const CliResult top = run_cli({"--help"});
  EXPECT_EQ(top.status, 0) << describe(top);
  for (const char* command : {"train", "eval", "info"})
    EXPECT_NE(top.out.find(command), std::string::npos);
  const CliResult train = run_cli({"train", "--help"});
  EXPECT_EQ(train.status, 0) << describe(train);
  for (const char* flag :
       {"--model", "--data", "--epochs", "--steps", "--batch-size", "--lr", "--optimizer",
        "--weight-decay", "--momentum", "--schedule", "--warmup-steps", "--clip-norm", "--seed",
        "--threads", "--out", "--resume", "--val-split", "--config"}) {
    EXPECT_NE(train.out.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(train.out.find("adamw"), std::string::npos) << "the optimizers are listed";
  const CliResult eval = run_cli({"eval", "--help"});
  EXPECT_EQ(eval.status, 0);
  EXPECT_NE(eval.out.find("--split"), std::string::npos);
  const CliResult info = run_cli({"info", "--help"});
  EXPECT_EQ(info.status, 0);
  EXPECT_NE(info.out.find("model"), std::string::npos);
  const CliResult help = run_cli({"help"});
  EXPECT_EQ(help.status, 0) << describe(help);
  EXPECT_EQ(help.out, top.out);
  const CliResult none = run_cli({});
  EXPECT_EQ(none.status, 0);
  EXPECT_NE(none.out.find("train"), std::string::npos);
}

TEST(Cli, InfoPrintsTheModelTable) {
  const CliResult r = run_cli({"info", "resnet20"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("layer3.2.conv2"), std::string::npos) << r.out;
  const CliResult bad = run_cli({"info", "resnet21"});
  EXPECT_EQ(bad.status, 2) << describe(bad);
  expect_one_error_line(bad);
}

TEST(Cli, TrainWritesTheRunFolder) {
  TempDir dir;
  const std::string out = dir.file("run");
  const CliResult r = run_cli(quick(out, {"--val-split", "0.25", "--log-every", "5"}));
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("test accuracy"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("run folder: " + out), std::string::npos) << r.out;
  for (const char* file :
       {"metrics.jsonl", "config.json", "summary.json", "last.safetensors", "best.safetensors"}) {
    EXPECT_TRUE(fs::exists(fs::path(out) / file)) << file;
  }
  EXPECT_FALSE(fs::exists(fs::path(out) / "last.safetensors.tmp"));
  const auto summary = read_json(out + "/summary.json");
  for (const char* key :
       {"test_acc", "test_loss", "epochs", "steps", "samples_per_sec", "wall_seconds"}) {
    EXPECT_TRUE(summary.contains(key)) << key;
  }
  EXPECT_EQ(summary["epochs"], 2);
  EXPECT_EQ(summary["steps"], 10);  // 300 training examples after the split: 5 batches
  EXPECT_TRUE(summary.contains("best_val_acc"));
  const auto config = read_json(out + "/config.json");
  EXPECT_EQ(config["model"], "mlp:2-64-64-2");  // the default for a 2-feature, 2-class table
  EXPECT_EQ(config["optimizer"], "sgd");
  EXPECT_EQ(config["lr"], 0.05);
  EXPECT_EQ(config["batch_size"], 64);
  EXPECT_EQ(config["val_split"], 0.25);
  int epoch_lines = 0;
  std::ifstream log(out + "/metrics.jsonl");
  for (std::string line; std::getline(log, line);) {
    if (nlohmann::json::parse(line)["type"] == "epoch") ++epoch_lines;
  }
  EXPECT_EQ(epoch_lines, 2);
  // The checkpoint carries the same configuration.
  const train::Checkpoint last = train::load_checkpoint(out + "/last.safetensors");
  EXPECT_EQ(nlohmann::json::parse(last.metadata.at("config")), config);
  // Not a terminal: one line per epoch, no redrawing.
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
  EXPECT_NE(r.out.find("epoch 2/2"), std::string::npos);
}

TEST(Cli, DefaultRunFolderIsUnderRuns) {
  TempDir dir;
  const CliResult r = run_cli({"train", "--data", "spirals,samples=100", "--epochs", "1",
                               "--threads", "1", "--model", "mlp:2-8-2"},
                              {.cwd = dir.str()});
  ASSERT_EQ(r.status, 0) << describe(r);
  const std::size_t at = r.out.find("run folder: runs/");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string folder = r.out.substr(at + 12, r.out.find('\n', at) - at - 12);
  EXPECT_TRUE(folder.ends_with("-mlp-2-8-2")) << folder;
  EXPECT_TRUE(fs::exists(fs::path(dir.str()) / folder / "summary.json")) << folder;
}

TEST(Cli, ConfigFileThenFlagsOverride) {
  TempDir dir;
  const std::string config = dir.file("config.json");
  write_file(config, R"({"data": "spirals,samples=200", "epochs": 3, "batch_size": 50, "lr": 0.02,
                         "optimizer": "adamw", "optimizer_options": {"betas": "0.8,0.9"},
                         "threads": 1, "schedule": "step,step_size=2"})");
  const std::string out = dir.file("run");
  const CliResult r = run_cli({"train", "--config", config, "--epochs", "1", "--out", out});
  ASSERT_EQ(r.status, 0) << describe(r);
  const auto effective = read_json(out + "/config.json");
  EXPECT_EQ(effective["epochs"], 1);       // the flag
  EXPECT_EQ(effective["batch_size"], 50);  // the file
  EXPECT_EQ(effective["lr"], 0.02);
  EXPECT_EQ(effective["optimizer"], "adamw");
  EXPECT_EQ(effective["weight_decay"], 0.01);  // AdamW's own default
  EXPECT_TRUE(effective["momentum"].is_null());
  EXPECT_EQ(effective["optimizer_options"]["betas"], "0.8,0.9");
  EXPECT_EQ(read_json(out + "/summary.json")["steps"], 4);
  // The saved file repeats the run.
  const std::string again = dir.file("again");
  const CliResult r2 = run_cli({"train", "--config", out + "/config.json", "--out", again});
  ASSERT_EQ(r2.status, 0) << describe(r2);
  EXPECT_EQ(read_json(again + "/summary.json")["test_acc"],
            read_json(out + "/summary.json")["test_acc"]);
}

struct BadInput {
  std::string name;
  std::vector<std::string> args;
  int status;
  std::string expected;
};

TEST(Cli, BadInputGetsOneLineAndANonZeroStatus) {
  TempDir dir;
  write_file(dir.file("unknown_key.json"), R"({"epochs": 1, "lrr": 0.1})");
  write_file(dir.file("wrong_type.json"), R"({"epochs": "ten"})");
  write_file(dir.file("not_json.json"), R"({"epochs": )");
  write_file(dir.file("array.json"), R"([1, 2])");
  write_file(dir.file("weights.safetensors"), "not a checkpoint at all");
  const std::string out = dir.file("never");
  const std::vector<BadInput> cases = {
      {"unknown model", {"--model", "transformer9"}, 2, "--model: "},
      {"unknown optimizer",
       {"--optimizer", "sgdd"},
       2,
       "--optimizer: unknown optimizer 'sgdd' (known: adadelta"},
      {"zero batch size", {"--batch-size", "0"}, 2, "--batch-size: must be >= 1, got 0"},
      {"negative batch size", {"--batch-size=-5"}, 2, "--batch-size: must be >= 1, got -5"},
      {"batch size not a number",
       {"--batch-size", "many"},
       2,
       "--batch-size: expected an integer, got 'many'"},
      {"negative steps", {"--steps=-3"}, 2, "--steps: must be >= 0, got -3"},
      {"negative lr", {"--lr=-1"}, 2, "lr must be >= 0, got -1"},
      {"momentum for adam",
       {"--optimizer", "adam", "--momentum", "0.9"},
       2,
       "--momentum: optimizer adam has no option 'momentum'"},
      {"bad optimizer option", {"--optimizer", "adam", "--opt", "betas=0.9"}, 2, "betas"},
      {"unknown optimizer option", {"--opt", "gamma=2"}, 2, "unknown option 'gamma'"},
      {"unknown schedule", {"--schedule", "zigzag"}, 2, "--schedule: unknown schedule 'zigzag'"},
      {"schedule option", {"--schedule", "cosine,t_max=3"}, 2, "'cosine' has no option 't_max'"},
      {"validation split", {"--val-split", "1.5"}, 2, "--val-split: must be in [0, 1), got 1.5"},
      {"unknown data", {"--data", "imagenet"}, 2, "--data: unknown data 'imagenet'"},
      {"unknown flag", {"--learning-rate", "0.1"}, 2, "--learning-rate"},
      {"unknown config key",
       {"--config", dir.file("unknown_key.json")},
       2,
       "unknown_key.json: unknown key 'lrr' (did you mean 'lr'?)"},
      {"config value of the wrong type",
       {"--config", dir.file("wrong_type.json")},
       2,
       "key 'epochs' of " + dir.file("wrong_type.json") +
           " must be an integer, got string \"ten\""},
      {"config not JSON",
       {"--config", dir.file("not_json.json")},
       2,
       "not_json.json: not valid JSON"},
      {"config not an object",
       {"--config", dir.file("array.json")},
       2,
       "expected a JSON object, got array"},
      {"missing config",
       {"--config", dir.file("missing.json")},
       2,
       "missing.json: cannot read the file"},
      {"model that does not take the data",
       {"--model", "cnn"},
       2,
       "--model: model 'cnn' does not take the data's examples (2)"},
      {"model with other classes",
       {"--model", "mlp:2-8-5"},
       2,
       "gives outputs (5) per example, but the data has 2 classes"},
      {"augmenting a table", {"--augment"}, 2, "--augment: augmentation needs images"},
      {"unwritable out folder",
       {"--out", "/dev/null/run"},
       1,
       "--out /dev/null/run: cannot create the folder"},
      {"missing csv", {"--data", "csv:" + dir.file("missing.csv")}, 1, "missing.csv"},
      {"missing Fashion-MNIST folder",
       {"--data", "fashion-mnist", "--data-dir", dir.file("no-such-dir")},
       1,
       "no-such-dir"},
      {"resume from a missing checkpoint",
       {"--resume", dir.file("missing.safetensors")},
       1,
       "missing.safetensors"},
      {"resume from a file that is not a checkpoint",
       {"--resume", dir.file("weights.safetensors")},
       1,
       "weights.safetensors"},
  };
  for (const BadInput& c : cases) {
    std::vector<std::string> args = {
        "train", "--data", "spirals,samples=100", "--epochs", "1", "--threads", "1", "--out", out};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.status, c.status) << c.name << "\n" << describe(r);
    expect_one_error_line(r);
    EXPECT_NE(r.err.find(c.expected), std::string::npos)
        << c.name << ": expected '" << c.expected << "'\n"
        << describe(r);
    EXPECT_FALSE(fs::exists(out)) << c.name << ": the run folder was created";
  }
  // eval's own mistakes.
  const CliResult missing = run_cli({"eval", dir.file("missing.safetensors")});
  EXPECT_EQ(missing.status, 1) << describe(missing);
  expect_one_error_line(missing);
  const CliResult no_arg = run_cli({"eval"});
  EXPECT_EQ(no_arg.status, 2) << describe(no_arg);
  expect_one_error_line(no_arg);
}

TEST(Cli, ABadRegionRuntimeIsRefusedBeforeAnyWork) {
  TempDir dir;
  const std::string out = dir.file("run");
  const CliResult r =
      run_cli({"train", "--data", "spirals,samples=100", "--epochs", "1", "--out", out},
              {.env = {"DESCENT_REGIONS=fast"}});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_NE(r.err.find("DESCENT_REGIONS must be 'pool' or 'openmp'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'fast'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  const CliResult pool = run_cli({"info", "mlp"}, {.env = {"DESCENT_REGIONS=pool"}});
  EXPECT_EQ(pool.status, 0) << describe(pool);
}

TEST(Cli, ResumeFromAnotherModelsCheckpointChangesNothing) {
  TempDir dir;
  const std::string first = dir.file("first");
  ASSERT_EQ(run_cli(quick(first, {"--model", "mlp:2-16-2"})).status, 0);
  const std::string checkpoint = first + "/last.safetensors";
  const std::string before = read_file(checkpoint);
  std::set<std::string> files_before;
  for (const auto& entry : fs::directory_iterator(first))
    files_before.insert(entry.path().string());

  const std::string second = dir.file("second");
  const CliResult r = run_cli(quick(second, {"--resume", checkpoint, "--model", "mlp:2-8-8-2"}));
  EXPECT_EQ(r.status, 1) << describe(r);
  expect_one_error_line(r);
  EXPECT_NE(r.err.find("checkpoint '" + checkpoint + "': does not fit the model"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(read_file(checkpoint), before);
  std::set<std::string> files_after;
  for (const auto& entry : fs::directory_iterator(first)) files_after.insert(entry.path().string());
  EXPECT_EQ(files_after, files_before);
  EXPECT_FALSE(fs::exists(second));

  // Resuming into the folder of the checkpoint with another model: the same refusal there.
  const CliResult here =
      run_cli({"train", "--resume", checkpoint, "--model", "mlp:2-8-8-2", "--epochs", "4"});
  EXPECT_EQ(here.status, 1) << describe(here);
  EXPECT_EQ(read_file(checkpoint), before);
}

TEST(Cli, RefusesAFolderHoldingAnotherRun) {
  TempDir dir;
  const std::string out = dir.file("run");
  ASSERT_EQ(run_cli(quick(out)).status, 0);
  const std::string summary = read_file(out + "/summary.json");
  const std::string metrics = read_file(out + "/metrics.jsonl");
  const CliResult r = run_cli(quick(out, {"--seed", "3"}));
  EXPECT_EQ(r.status, 2) << describe(r);
  expect_one_error_line(r);
  EXPECT_NE(r.err.find("already holds a run"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--resume " + out + "/last.safetensors"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(out + "/summary.json"), summary);
  EXPECT_EQ(read_file(out + "/metrics.jsonl"), metrics);
}

// The model and optimizer tensors of two checkpoints, bit for bit.
void expect_same_tensors(const std::string& a, const std::string& b) {
  const train::Safetensors x = train::load_safetensors(a);
  const train::Safetensors y = train::load_safetensors(b);
  ASSERT_EQ(x.tensors.size(), y.tensors.size());
  for (std::size_t i = 0; i < x.tensors.size(); ++i) {
    const auto& [name, tensor] = x.tensors[i];
    ASSERT_EQ(name, y.tensors[i].first);
    const Tensor& other = y.tensors[i].second;
    EXPECT_TRUE(tensor.shape() == other.shape() && tensor.dtype() == other.dtype() &&
                std::memcmp(tensor.raw_data(), other.raw_data(), tensor.nbytes()) == 0)
        << name;
  }
  for (const char* key : {"step", "epoch", "batch", "best_accuracy", "best_epoch", "bad_epochs",
                          "rng.drop1", "rng.drop2"}) {
    EXPECT_EQ(x.metadata.at(key), y.metadata.at(key)) << key;
  }
}

TEST(Cli, ResumeInANewProcessIsExact) {
  // N = 10 steps (inside the second epoch of 7 steps), stop, resume for 10 more, against 20
  // straight: momentum, dropout, warmup, clipping and evaluation at epoch ends included.
  TempDir dir;
  const std::vector<std::string> setup = {"--model",        "mlp:2-32-32-2,dropout=0.2",
                                          "--schedule",     "constant",
                                          "--warmup-steps", "5",
                                          "--clip-norm",    "0.5",
                                          "--epochs",       "10",
                                          "--log-every",    "3"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> all = setup;
    all.insert(all.end(), more.begin(), more.end());
    return all;
  };
  const std::string half = dir.file("half");
  const std::string resumed = dir.file("resumed");
  const std::string straight = dir.file("straight");
  CliResult r = run_cli(quick(half, with({"--steps", "10"})));
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(read_json(half + "/summary.json")["stop"], "max_steps");
  r = run_cli({"train", "--resume", half + "/last.safetensors", "--steps", "20", "--out", resumed});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("resumed at step 10"), std::string::npos) << r.out;
  r = run_cli(quick(straight, with({"--steps", "20"})));
  ASSERT_EQ(r.status, 0) << describe(r);
  expect_same_tensors(resumed + "/last.safetensors", straight + "/last.safetensors");
  // The resumed run writes best.safetensors only if it beats the best before the resume.
  expect_same_tensors(fs::exists(resumed + "/best.safetensors") ? resumed + "/best.safetensors"
                                                                : half + "/best.safetensors",
                      straight + "/best.safetensors");
  EXPECT_EQ(read_json(resumed + "/summary.json")["test_acc"],
            read_json(straight + "/summary.json")["test_acc"]);
}

TEST(Cli, KilledWhileWritingACheckpointLeavesThePreviousOneLoadable) {
  TempDir dir;
  const std::string out = dir.file("run");
  // The third checkpoint write (epoch 2's best or last; epoch 1 wrote best and last) pauses
  // half way; the test kills the process there.
  const CliResult killed =
      run_cli(quick(out, {"--epochs", "3"}),
              {.env = {"DESCENT_TEST_PAUSE_CHECKPOINT=3"}, .kill_when = [](const std::string& err) {
                 return err.find("checkpoint write paused") != std::string::npos;
               }});
  ASSERT_EQ(killed.status, 128 + SIGKILL) << describe(killed);
  ASSERT_TRUE(fs::exists(out + "/last.safetensors.tmp") ||
              fs::exists(out + "/best.safetensors.tmp"))
      << "the kill should come mid-write";
  const train::Checkpoint last = train::load_checkpoint(out + "/last.safetensors");
  EXPECT_EQ(train::metadata_int(last, "epoch"), 1);
  EXPECT_EQ(train::metadata_int(last, "step"), 7);
  train::load_checkpoint(out + "/best.safetensors");

  // The survivor evaluates, and the run continues from it (removing the stale temporary).
  const CliResult eval = run_cli({"eval", out + "/last.safetensors", "--threads", "1"});
  EXPECT_EQ(eval.status, 0) << describe(eval);
  const CliResult resumed = run_cli({"train", "--resume", out + "/last.safetensors"});
  ASSERT_EQ(resumed.status, 0) << describe(resumed);
  EXPECT_EQ(read_json(out + "/summary.json")["epochs"], 3);
  EXPECT_FALSE(fs::exists(out + "/last.safetensors.tmp"));
  EXPECT_FALSE(fs::exists(out + "/best.safetensors.tmp"));
}

TEST(Cli, EvalReportsWhatTrainMeasured) {
  TempDir dir;
  const std::string out = dir.file("run");
  ASSERT_EQ(run_cli(quick(out)).status, 0);
  const CliResult r = run_cli({"eval", out + "/last.safetensors", "--json", "--threads", "1"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const auto result = nlohmann::json::parse(r.out);
  const auto summary = read_json(out + "/summary.json");
  EXPECT_EQ(result["accuracy"], summary["test_acc"]);
  EXPECT_NEAR(result["loss"].get<double>(), summary["test_loss"].get<double>(), 1e-9);
  EXPECT_EQ(result["examples"], 200);
  const CliResult plain =
      run_cli({"eval", out + "/last.safetensors", "--split", "train", "--threads", "1"});
  EXPECT_EQ(plain.status, 0) << describe(plain);
  EXPECT_NE(plain.out.find("train: loss"), std::string::npos) << plain.out;
  const CliResult no_val = run_cli({"eval", out + "/last.safetensors", "--split", "val"});
  EXPECT_EQ(no_val.status, 2) << describe(no_val);
  expect_one_error_line(no_val);
}

TEST(Cli, NanGuardStopsWithOneLine) {
  TempDir dir;
  const CliResult r = run_cli(quick(dir.file("run"), {"--lr", "1e30"}));
  EXPECT_EQ(r.status, 1) << describe(r);
  expect_one_error_line(r);
  EXPECT_NE(r.err.find("NaN guard: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" at step "), std::string::npos) << r.err;
}

TEST(Cli, LearnsFromACsvFile) {
  TempDir dir;
  std::string csv = "x1,x2,label\n";
  for (int i = 0; i < 300; ++i) {
    const double x1 = std::sin(i * 1.7) * 3;
    const double x2 = std::cos(i * 0.9) * 3;
    csv += cat(x1, ",", x2, ",", x1 + 0.5 * x2 > 0 ? 1 : 0, "\n");
  }
  write_file(dir.file("table.csv"), csv);
  const std::string out = dir.file("run");
  const CliResult r = run_cli({"train", "--data", "csv:" + dir.file("table.csv"), "--epochs", "20",
                               "--batch-size", "32", "--threads", "1", "--out", out});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_GT(read_json(out + "/summary.json")["test_acc"].get<double>(), 0.85);
}

TEST(Cli, LearnsOnASliceOfFashionMnist) {
  try {
    data::find_fashion_mnist();
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();
  }
  TempDir dir;
  const std::string out = dir.file("run");
  const CliResult r =
      run_cli({"train", "--train-size", "2000", "--test-size", "1000", "--model", "mlp:784-64-10",
               "--epochs", "2", "--batch-size", "50", "--threads", "1", "--out", out});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_GT(read_json(out + "/summary.json")["test_acc"].get<double>(), 0.7);
}

TEST(Cli, CorruptDatasetFileIsNamed) {
  TempDir dir;
  for (const char* name : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
    write_file(dir.file(name), "this is not an IDX file");
  }
  const CliResult r = run_cli({"train", "--data-dir", dir.str(), "--out", dir.file("run")});
  EXPECT_EQ(r.status, 1) << describe(r);
  expect_one_error_line(r);
  EXPECT_NE(r.err.find(dir.str()), std::string::npos) << r.err;
  const CliResult env = run_cli({"train", "--out", dir.file("run")},
                                {.env = {"DESCENT_FASHION_MNIST_DIR=" + dir.str()}});
  EXPECT_EQ(env.status, 1) << describe(env);
  EXPECT_NE(env.err.find(dir.str()), std::string::npos) << env.err;
  EXPECT_FALSE(fs::exists(dir.file("run")));
}

}  // namespace
}  // namespace descent
