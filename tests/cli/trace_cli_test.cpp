// `descent trace`: SGD's path on the ravine equals the closed-form iteration, Adam descends
// Rosenbrock, every registered optimizer runs, several race in one CSV and one plot, and bad
// input exits 2 naming the flag.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "descent/landscape/test_functions.hpp"
#include "descent/optim/all.hpp"
#include "run_cli.hpp"

namespace descent {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::describe;
using testing::run_cli;

struct Row {
  std::string optimizer;  // empty without an optimizer column
  double step, x, y, loss;
};

struct Trace {
  std::string header;
  std::vector<Row> rows;
};

// Splits one CSV line, honouring double quotes.
std::vector<std::string> cells_of(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') {
      if (quoted && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back() += '"';
        ++i;
      } else {
        quoted = !quoted;
      }
    } else if (c == ',' && !quoted) {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  return cells;
}

Trace parse(const std::string& text) {
  Trace trace;
  std::istringstream in(text);
  std::getline(in, trace.header);
  const bool named = trace.header.starts_with("optimizer,");
  for (std::string line; std::getline(in, line);) {
    const std::vector<std::string> c = cells_of(line);
    EXPECT_EQ(c.size(), named ? 5u : 4u) << line;
    if (c.size() != (named ? 5u : 4u)) continue;
    const std::size_t k = named ? 1 : 0;
    trace.rows.push_back({named ? c[0] : "", std::strtod(c[k].c_str(), nullptr),
                          std::strtod(c[k + 1].c_str(), nullptr),
                          std::strtod(c[k + 2].c_str(), nullptr),
                          std::strtod(c[k + 3].c_str(), nullptr)});
  }
  return trace;
}

void expect_close(double actual, double expected, const std::string& what) {
  EXPECT_NEAR(actual, expected, 1e-300 + 1e-12 * std::fabs(expected)) << what;
}

double ravine(double x, double y) {
  return 0.5 * (x * x + 25.0 * y * y);
}

TEST(TraceCli, SgdOnTheRavineIsTheClosedFormIteration) {
  // f = (x^2 + 25 y^2) / 2: plain gradient descent multiplies x by (1 - lr) and y by
  // (1 - 25 lr) at every step, so x_k = x_0 (1 - lr)^k and y_k = y_0 (1 - 25 lr)^k.
  const double lr = 0.05;
  const std::int64_t steps = 40;
  const CliResult r = run_cli({"trace", "--function", "ravine", "--start", "-8,2", "--steps",
                               std::to_string(steps), "--optimizer", "sgd", "--lr", "0.05"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const Trace trace = parse(r.out);
  EXPECT_EQ(trace.header, "step,x,y,loss");
  ASSERT_EQ(trace.rows.size(), static_cast<std::size_t>(steps + 1));
  for (std::int64_t k = 0; k <= steps; ++k) {
    const Row& row = trace.rows[k];
    const double x = -8.0 * std::pow(1.0 - lr, static_cast<double>(k));
    const double y = 2.0 * std::pow(1.0 - 25.0 * lr, static_cast<double>(k));
    EXPECT_EQ(row.step, static_cast<double>(k));
    expect_close(row.x, x, cat("x at step ", k));
    expect_close(row.y, y, cat("y at step ", k));
    expect_close(row.loss, ravine(x, y), cat("loss at step ", k));
  }
}

TEST(TraceCli, HeavyBallOnTheRavineFollowsPyTorchsMomentumRecursion) {
  // torch.optim.SGD with momentum: v = mu v + g (v = g at the first step); p -= lr v.
  const double lr = 0.02, mu = 0.9;
  const CliResult r = run_cli({"trace", "--function", "ravine", "--start", "5,-1", "--steps", "60",
                               "--lr", "0.02", "--momentum", "0.9"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const Trace trace = parse(r.out);
  ASSERT_EQ(trace.rows.size(), 61u);
  double x = 5.0, y = -1.0, vx = 0.0, vy = 0.0;
  for (std::size_t k = 0; k < trace.rows.size(); ++k) {
    expect_close(trace.rows[k].x, x, cat("x at step ", k));
    expect_close(trace.rows[k].y, y, cat("y at step ", k));
    const double gx = x, gy = 25.0 * y;
    vx = k == 0 ? gx : mu * vx + gx;
    vy = k == 0 ? gy : mu * vy + gy;
    x -= lr * vx;
    y -= lr * vy;
  }
}

TEST(TraceCli, AdamDescendsRosenbrock) {
  const CliResult r = run_cli({"trace", "--function", "rosenbrock", "--start", "-1.5,2", "--steps",
                               "500", "--optimizer", "adam", "--lr", "0.05"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const Trace trace = parse(r.out);
  ASSERT_EQ(trace.rows.size(), 501u);
  const auto& f = landscape::test_function("rosenbrock");
  EXPECT_EQ(trace.rows.front().loss, f.value(-1.5, 2.0));
  EXPECT_LT(trace.rows.back().loss, trace.rows.front().loss * 1e-2);
  // Each row's loss is the function at the row's point.
  for (const Row& row : trace.rows) expect_close(row.loss, f.value(row.x, row.y), "loss");
  // Closer to the minimum (1, 1) than it started.
  EXPECT_LT(std::hypot(trace.rows.back().x - 1.0, trace.rows.back().y - 1.0),
            std::hypot(-1.5 - 1.0, 2.0 - 1.0) / 4);
}

TEST(TraceCli, EveryRegisteredOptimizerRuns) {
  // (Every function is run in PlotsEveryFunction.)
  const auto& f = landscape::test_function("beale");
  for (const auto& [name, entry] : optim::optimizer_registry()) {
    const CliResult r =
        run_cli({"trace", "--function", "beale", "--steps", "5", "--optimizer", name});
    ASSERT_EQ(r.status, 0) << name << "\n" << describe(r);
    const Trace trace = parse(r.out);
    ASSERT_EQ(trace.rows.size(), 6u) << name;
    EXPECT_EQ(trace.rows[0].x, f.start[0]) << name;  // the function's default start
    EXPECT_EQ(trace.rows[0].y, f.start[1]) << name;
    EXPECT_NE(trace.rows[5].x, f.start[0]) << name << " did not move";
    for (const Row& row : trace.rows) {
      EXPECT_TRUE(std::isfinite(row.x) && std::isfinite(row.y)) << name;
    }
  }
}

TEST(TraceCli, SeveralOptimizersRaceInOneCsvAndOnePlot) {
  const std::string plot = (fs::temp_directory_path() / "descent_trace_cli_test.svg").string();
  fs::remove(plot);
  const CliResult r =
      run_cli({"trace", "--function", "ravine", "--start", "-8,2", "--steps", "10", "--optimizer",
               "sgd,adam", "--optimizer", "sgd:lr=0.01", "--optimizer", "adam:betas=0.8,0.9",
               "--lr", "0.05", "--plot", plot});
  ASSERT_EQ(r.status, 0) << describe(r);
  const Trace trace = parse(r.out);
  EXPECT_EQ(trace.header, "optimizer,step,x,y,loss");
  ASSERT_EQ(trace.rows.size(), 4u * 11u);
  const std::vector<std::string> labels = {"sgd", "adam", "sgd:lr=0.01", "adam:betas=0.8,0.9"};
  for (std::size_t o = 0; o < labels.size(); ++o) {
    EXPECT_EQ(trace.rows[o * 11].optimizer, labels[o]);
    EXPECT_EQ(trace.rows[o * 11].step, 0.0);
    EXPECT_EQ(trace.rows[o * 11].x, -8.0);
    EXPECT_EQ(trace.rows[o * 11 + 10].step, 10.0);
  }
  // Its own lr wins over the shared --lr: the third path is plain descent at lr 0.01.
  for (int k = 0; k <= 10; ++k) {
    expect_close(trace.rows[22 + k].x, -8.0 * std::pow(0.99, k), cat("sgd:lr=0.01 x at ", k));
  }
  // Adam with other betas takes another path than Adam's defaults.
  EXPECT_NE(trace.rows[11 + 10].x, trace.rows[33 + 10].x);

  std::ifstream in(plot);
  const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(plot);
  EXPECT_TRUE(svg.starts_with("<svg ")) << svg.substr(0, 80);
  EXPECT_TRUE(svg.ends_with("</svg>\n"));
  for (const std::string& label : labels) {
    EXPECT_NE(svg.find("data-name=\"" + label + "\""), std::string::npos) << label;
  }
  EXPECT_NE(svg.find("class=\"contour\""), std::string::npos);
  EXPECT_NE(svg.find("ravine: f = (x^2 + 25 y^2) / 2"), std::string::npos);
}

TEST(TraceCli, PlotsEveryFunction) {
  for (const landscape::TestFunction& f : landscape::test_functions()) {
    const std::string plot =
        (fs::temp_directory_path() / ("descent_trace_" + f.name + ".svg")).string();
    const CliResult r = run_cli({"trace", "--function", f.name, "--steps", "20", "--optimizer",
                                 "adam", "--lr", "0.1", "--plot", plot, "--grid", "41"});
    ASSERT_EQ(r.status, 0) << describe(r);
    std::ifstream in(plot);
    const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    fs::remove(plot);
    EXPECT_TRUE(svg.ends_with("</svg>\n")) << f.name;
    EXPECT_EQ(svg.find("nan"), std::string::npos) << f.name;
    EXPECT_NE(svg.find("class=\"path\""), std::string::npos) << f.name;
    // Log-scaled colours where the function is flagged so.
    EXPECT_EQ(svg.find("(log scale)") != std::string::npos, f.log_scale) << f.name;
  }
  const CliResult bad = run_cli({"trace", "--steps", "3", "--plot", "/nonexistent-dir/t.svg"});
  EXPECT_EQ(bad.status, 1) << describe(bad);
  EXPECT_NE(bad.err.find("/nonexistent-dir/t.svg"), std::string::npos) << bad.err;
}

struct BadCase {
  std::vector<std::string> args;
  std::string names;
};

TEST(TraceCli, BadInputExits2NamingTheFlag) {
  const std::vector<BadCase> cases = {
      {{"--function", "himmelblau"}, "--function"},
      {{"--start", "1"}, "--start"},
      {{"--start", "1,x"}, "--start"},
      {{"--start", "1,2,3"}, "--start"},
      {{"--start", "nan,1"}, "--start"},
      {{"--steps", "0"}, "--steps"},
      {{"--steps", "-5"}, "--steps"},
      {{"--lr", "-0.1"}, "--lr"},
      {{"--lr", "fast"}, "--lr"},
      {{"--optimizer", "adam", "--betas", "1.0,0.9"}, "--betas"},
      {{"--optimizer", "adam", "--betas", "0.9,-0.1"}, "--betas"},
      {{"--optimizer", "adam:betas=0.9,1.5"}, "--optimizer"},
      {{"--optimizer", "adam", "--eps", "0"}, "--eps"},
      {{"--optimizer", "sgd", "--nesterov"}, "--nesterov"},  // without momentum
      {{"--optimizer", "sgd", "--momentum", "-0.5"}, "--momentum"},
      {{"--optimizer", "sgd", "--betas", "0.9,0.99"}, "--betas"},  // sgd has none
      {{"--optimizer", "adamm"}, "--optimizer"},
      {{"--optimizer", "sgd:dampening"}, "--optimizer"},
      {{"--optimizer", "sgd:beta=1"}, "--optimizer"},
      {{"--opt", "rho"}, "--opt"},
      {{"--grid", "1", "--plot", "x.svg"}, "--grid"},
  };
  for (const BadCase& c : cases) {
    std::vector<std::string> args = {"trace", "--steps", "3"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_TRUE(r.err.starts_with("descent: " + c.names)) << c.names << "\n" << describe(r);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(r);
    EXPECT_EQ(r.out, "");
  }
}

TEST(TraceCli, HelpDocumentsFlagsAndFunctions) {
  const CliResult top = run_cli({"--help"});
  EXPECT_NE(top.out.find("trace"), std::string::npos) << top.out;
  const CliResult r = run_cli({"trace", "--help"});
  ASSERT_EQ(r.status, 0) << describe(r);
  for (const char* flag :
       {"--function", "--start", "--steps", "--optimizer", "--lr", "--momentum", "--weight-decay",
        "--betas", "--eps", "--nesterov", "--amsgrad", "--opt", "--plot", "--grid"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
  for (const landscape::TestFunction& f : landscape::test_functions()) {
    EXPECT_NE(r.out.find(f.name + ": f = " + f.formula), std::string::npos) << f.name;
  }
  for (const auto& [name, entry] : optim::optimizer_registry()) {
    EXPECT_NE(r.out.find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace descent
