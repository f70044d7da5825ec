// `descent landscape` and `descent lr-find`, run as a user runs them, on tiny synthetic data:
// CSV shapes, agreement with `descent eval`, and one-line errors for bad input.
#include <gtest/gtest.h>

#include <cmath>
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
using testing::run_cli;

void expect_one_error_line(const CliResult& r, const std::string& part) {
  EXPECT_TRUE(r.err.starts_with("descent: ")) << describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(r);
  EXPECT_NE(r.err.find(part), std::string::npos) << describe(r);
}

// CSV text -> header and rows of numbers (true/false read as 1/0).
struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;
};
Csv parse_csv(const std::string& text) {
  Csv csv;
  std::istringstream lines(text);
  std::string line;
  bool first = true;
  while (std::getline(lines, line)) {
    std::vector<std::string> cells;
    std::istringstream fields(line);
    for (std::string cell; std::getline(fields, cell, ',');) cells.push_back(cell);
    if (first) {
      csv.header = cells;
      first = false;
      continue;
    }
    std::vector<double> row;
    for (const std::string& cell : cells) {
      row.push_back(cell == "true" ? 1.0 : cell == "false" ? 0.0 : std::stod(cell));
    }
    csv.rows.push_back(row);
  }
  return csv;
}

// Two short runs of the same model on the same data (the spirals depend on the seed) with
// different learning rates, and one run of another model; trained once.
class LandscapeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string pattern = (fs::temp_directory_path() / "descent-landscape-XXXXXX").string();
    DESCENT_CHECK(mkdtemp(pattern.data()) != nullptr, "mkdtemp failed");
    dir_ = pattern;
    for (const auto& [name, extra] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"a", {"--seed", "1"}},
             {"b", {"--seed", "1", "--lr", "0.2"}},
             {"other", {"--model", "mlp:2-8-2"}}}) {
      std::vector<std::string> args = {"train",
                                       "--data",
                                       "spirals,samples=200",
                                       "--epochs",
                                       "1",
                                       "--batch-size",
                                       "50",
                                       "--threads",
                                       "1",
                                       "--out",
                                       (fs::path(dir_) / name).string()};
      args.insert(args.end(), extra.begin(), extra.end());
      const CliResult r = run_cli(args);
      ASSERT_EQ(r.status, 0) << describe(r);
    }
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  static std::string checkpoint(const std::string& run) {
    return (fs::path(dir_) / run / "last.safetensors").string();
  }
  static std::string file(const std::string& name) { return (fs::path(dir_) / name).string(); }

  static inline std::string dir_;
};

TEST_F(LandscapeCli, InterpolationEndsAtTheCheckpointsLosses) {
  const CliResult r =
      run_cli({"landscape", "interp", "--from", checkpoint("a"), "--to", checkpoint("b"),
               "--points", "5", "--subset", "0", "--threads", "1"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const Csv csv = parse_csv(r.out);
  EXPECT_EQ(csv.header, (std::vector<std::string>{"alpha", "loss", "accuracy"}));
  ASSERT_EQ(csv.rows.size(), 5u);
  EXPECT_EQ(csv.rows[0][0], 0.0);
  EXPECT_EQ(csv.rows[2][0], 0.5);
  EXPECT_EQ(csv.rows[4][0], 1.0);
  // alpha = 0 and 1 are the checkpoints, as `descent eval` measures them on the test set.
  for (const auto& [run, row] : {std::pair{std::string("a"), 0}, std::pair{std::string("b"), 4}}) {
    const CliResult eval = run_cli({"eval", checkpoint(run), "--json", "--threads", "1"});
    ASSERT_EQ(eval.status, 0) << describe(eval);
    const auto json = nlohmann::json::parse(eval.out);
    EXPECT_NEAR(csv.rows[row][1], json["loss"].get<double>(), 1e-6) << run;
    EXPECT_NEAR(csv.rows[row][2], json["accuracy"].get<double>(), 1e-9) << run;
  }
}

TEST_F(LandscapeCli, ScansWriteTheirGrids) {
  const CliResult line = run_cli({"landscape", "scan1d", "--checkpoint", checkpoint("a"),
                                  "--points", "5", "--range", "0.5", "--subset", "60"});
  ASSERT_EQ(line.status, 0) << describe(line);
  const Csv one = parse_csv(line.out);
  EXPECT_EQ(one.header, (std::vector<std::string>{"x", "loss", "accuracy"}));
  ASSERT_EQ(one.rows.size(), 5u);
  EXPECT_EQ(one.rows[0][0], -0.5);
  EXPECT_EQ(one.rows[2][0], 0.0);
  const std::string out = file("grid.csv");
  const CliResult plane =
      run_cli({"landscape", "scan2d", "--checkpoint", checkpoint("a"), "--grid", "3", "--range",
               "1.0", "--subset", "60", "--out", out, "--plot", file("grid.svg")});
  ASSERT_EQ(plane.status, 0) << describe(plane);
  EXPECT_EQ(plane.out, "");  // the CSV went to the file
  std::ifstream in(out);
  const Csv two = parse_csv(std::string(std::istreambuf_iterator<char>(in), {}));
  EXPECT_EQ(two.header, (std::vector<std::string>{"x", "y", "loss", "accuracy"}));
  ASSERT_EQ(two.rows.size(), 9u);
  // The centre of both scans is the checkpoint itself.
  EXPECT_EQ(two.rows[4][0], 0.0);
  EXPECT_EQ(two.rows[4][1], 0.0);
  EXPECT_DOUBLE_EQ(two.rows[4][2], one.rows[2][1]);
  EXPECT_EQ(two.rows[0][0], -1.0);
  EXPECT_EQ(two.rows[0][1], -1.0);
  EXPECT_EQ(two.rows[1][0], 0.0);  // y-major: x runs fastest
  EXPECT_EQ(two.rows[1][1], -1.0);
  // The heat map: an SVG with the title and a colour bar of the loss.
  std::ifstream svg_file(file("grid.svg"));
  const std::string svg(std::istreambuf_iterator<char>(svg_file), {});
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("filter-normalized directions"), std::string::npos);
  EXPECT_NE(svg.rfind("</svg>"), std::string::npos);
}

TEST_F(LandscapeCli, SharpnessReportsEigenvalueAndTrace) {
  const CliResult r = run_cli({"landscape", "sharpness", "--checkpoint", checkpoint("a"),
                               "--subset", "60", "--iterations", "50", "--samples", "5", "--f64"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const Csv csv = parse_csv(r.out);
  ASSERT_EQ(csv.rows.size(), 1u);
  ASSERT_EQ(csv.header.size(), csv.rows[0].size());
  EXPECT_EQ(csv.header[0], "top_eigenvalue");
  EXPECT_TRUE(std::isfinite(csv.rows[0][0]));
  EXPECT_GT(std::abs(csv.rows[0][0]), 0.0);
  EXPECT_EQ(csv.rows[0][2], 1.0) << "converged";
  EXPECT_EQ(csv.rows[0][5], 5.0) << "samples";
  EXPECT_EQ(csv.rows[0][9], 60.0) << "subset";
  // top_eigenvalue is lambda_max; smallest_eigenvalue lambda_min's estimate, no larger
  ASSERT_EQ(csv.header[10], "smallest_eigenvalue");
  EXPECT_LE(csv.rows[0][10], csv.rows[0][0]);
}

TEST_F(LandscapeCli, LrFindSweepsAndSuggests) {
  const CliResult r =
      run_cli({"lr-find", "--data", "spirals,samples=200", "--batch-size", "20", "--steps", "40",
               "--threads", "1", "--start-lr", "1e-4", "--end-lr", "100"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const Csv csv = parse_csv(r.out);
  EXPECT_EQ(csv.header, (std::vector<std::string>{"step", "lr", "loss", "smoothed_loss"}));
  ASSERT_GE(csv.rows.size(), 10u);
  ASSERT_LE(csv.rows.size(), 40u);
  EXPECT_NEAR(csv.rows[0][1], 1e-4, 1e-12);
  EXPECT_NE(r.err.find("suggested lr "), std::string::npos) << describe(r);
  // With --out the CSV goes to the file and the suggestion to stdout.
  const std::string out = file("lr.csv");
  const CliResult to_file =
      run_cli({"lr-find", "--data", "spirals,samples=200", "--batch-size", "20", "--steps", "10",
               "--threads", "1", "--out", out, "--plot", file("lr.svg")});
  ASSERT_EQ(to_file.status, 0) << describe(to_file);
  EXPECT_TRUE(to_file.out.starts_with("suggested lr ")) << describe(to_file);
  EXPECT_TRUE(fs::exists(out));
  std::ifstream svg_file(file("lr.svg"));
  const std::string svg(std::istreambuf_iterator<char>(svg_file), {});
  EXPECT_NE(svg.find("learning-rate range test"), std::string::npos);
  EXPECT_NE(svg.find("suggested lr"), std::string::npos);
}

TEST_F(LandscapeCli, BadInputIsOneLineNamingIt) {
  const std::string a = checkpoint("a");
  struct Case {
    std::vector<std::string> args;
    int status;
    std::string part;
  };
  const std::vector<Case> cases = {
      {{"landscape", "scan2d", "--checkpoint", a, "--grid", "0"},
       2,
       "--grid: must be in [2, 201], got 0"},
      {{"landscape", "scan2d", "--checkpoint", a, "--grid", "1000"},
       2,
       "--grid: must be in [2, 201], got 1000"},
      {{"landscape", "scan1d", "--checkpoint", a, "--range", "0"}, 2, "--range: must be > 0"},
      {{"landscape", "interp", "--from", a, "--to", checkpoint("other")},
       1,
       "--to " + checkpoint("other") + ": '"},
      {{"landscape", "scan1d", "--checkpoint", file("missing.safetensors")},
       1,
       "missing.safetensors"},
      {{"landscape", "scan1d", "--checkpoint", a, "--subset", "5000"},
       2,
       "--subset 5000: the test split of spirals,samples=200 has only 100 examples"},
      {{"landscape", "interp", "--from", a, "--to", a, "--alpha-min", "1", "--alpha-max", "0"},
       2,
       "--alpha-min 1 must be below --alpha-max 0"},
      {{"lr-find", "--data", "spirals,samples=200", "--start-lr", "1", "--end-lr", "0.1"},
       2,
       "--start-lr 1 and --end-lr 0.1"},
      {{"landscape"}, 2, "subcommand"},
  };
  for (const Case& c : cases) {
    const CliResult r = run_cli(c.args);
    EXPECT_EQ(r.status, c.status) << describe(r);
    expect_one_error_line(r, c.part);
  }
}

}  // namespace
}  // namespace descent
