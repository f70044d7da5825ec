#include "descent/report/svg.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "descent/core/error.hpp"
#include "report/xml_check.hpp"

namespace report = descent::report;
using testing_xml::check_well_formed;
using testing_xml::count;
using testing_xml::texts_of_class;

namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A fresh folder under the system's temporary folder, removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("descent_report_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// Throws and names every fragment in the message.
template <typename Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& fragments) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown; expected one naming " << fragments.front();
  } catch (const descent::Error& e) {
    for (const std::string& fragment : fragments) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << "message '" << e.what() << "' lacks '" << fragment << "'";
    }
  }
}

// The numbers of an SVG path's "d" attribute, as (x, y) pairs, for each "M ... L ..." piece.
std::vector<std::vector<std::pair<double, double>>> pieces(const std::string& data) {
  std::vector<std::vector<std::pair<double, double>>> out;
  std::istringstream in(data);
  std::string token;
  while (in >> token) {
    const char command = token[0];
    double x = std::stod(token.substr(1));
    double y = 0;
    in >> y;
    if (command == 'M') out.emplace_back();
    out.back().emplace_back(x, y);
  }
  return out;
}

// The "d" attributes of the <path> elements after the first occurrence of `marker`.
std::vector<std::string> path_data_after(const std::string& svg, const std::string& marker) {
  std::vector<std::string> out;
  std::size_t at = svg.find(marker);
  const std::size_t group_end = svg.find("</g>", at);
  for (at = svg.find(" d=\"", at); at != std::string::npos && at < group_end;
       at = svg.find(" d=\"", at + 1)) {
    const std::size_t start = at + 4;
    out.push_back(svg.substr(start, svg.find('"', start) - start));
  }
  return out;
}

}  // namespace

// ---- ticks -------------------------------------------------------------------------------

struct TickCase {
  double lo, hi;
  int target;
  std::vector<std::string> labels;
};

TEST(NiceTicks, KnownRanges) {
  const std::vector<TickCase> cases = {
      {0.3, 9.6, 6, {"0", "2", "4", "6", "8", "10"}},
      {0.0, 1.0, 6, {"0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
      {-3.0, 3.0, 6, {"-4", "-2", "0", "2", "4"}},
      {0.001, 0.0042, 6, {"0.001", "0.002", "0.003", "0.004", "0.005"}},
      {0.0, 2.5e6, 6, {"0", "5e+05", "1.0e+06", "1.5e+06", "2.0e+06", "2.5e+06"}},
      {100.0, 400.0, 4, {"100", "200", "300", "400"}},
  };
  for (const TickCase& c : cases) {
    const report::Ticks ticks = report::nice_ticks(c.lo, c.hi, c.target);
    EXPECT_EQ(ticks.labels, c.labels) << "[" << c.lo << ", " << c.hi << "]";
    EXPECT_LE(ticks.lo, c.lo);
    EXPECT_GE(ticks.hi, c.hi);
    ASSERT_EQ(ticks.values.size(), ticks.labels.size());
    EXPECT_EQ(ticks.values.front(), ticks.lo);
    EXPECT_EQ(ticks.values.back(), ticks.hi);
  }
}

TEST(NiceTicks, EqualAndReversedBounds) {
  const report::Ticks equal = report::nice_ticks(5.0, 5.0);
  EXPECT_LT(equal.lo, 5.0);
  EXPECT_GT(equal.hi, 5.0);
  const report::Ticks zero = report::nice_ticks(0.0, 0.0);
  EXPECT_LT(zero.lo, 0.0);
  EXPECT_GT(zero.hi, 0.0);
  EXPECT_EQ(report::nice_ticks(9.6, 0.3).labels, report::nice_ticks(0.3, 9.6).labels);
  expect_error([] { report::nice_ticks(0.0, kNan); }, {"nice_ticks", "finite"});
}

TEST(LogTicks, KnownRanges) {
  EXPECT_EQ(report::log_ticks(0.02, 300).labels,
            (std::vector<std::string>{"0.01", "0.1", "1", "10", "100", "1000"}));
  // Ten decades with at most 7 ticks: every second decade.
  EXPECT_EQ(report::log_ticks(1e-8, 1e2, 7).labels,
            (std::vector<std::string>{"1e-08", "1e-06", "0.0001", "0.01", "1", "100"}));
  const report::Ticks one = report::log_ticks(10.0, 10.0);
  EXPECT_LE(one.lo, 10.0);
  EXPECT_GT(one.hi, 10.0);
  const report::Ticks within = report::log_ticks(2.0, 8.0);
  EXPECT_EQ(within.labels, (std::vector<std::string>{"1", "10"}));
  expect_error([] { report::log_ticks(0.0, 10.0); }, {"log_ticks", "positive"});
}

TEST(FormatNumber, Cases) {
  EXPECT_EQ(report::format_number(-0.0, 1.0), "0");
  EXPECT_EQ(report::format_number(0.1 * 3 - 0.3, 0.1), "0");  // rounding noise
  EXPECT_EQ(report::format_number(-1.5, 0.5), "-1.5");
  EXPECT_EQ(report::format_number(120.0, 20.0), "120");
  EXPECT_EQ(report::format_number(1e-5, 1e-5), "1e-05");
  EXPECT_EQ(report::format_number(kNan, 1.0), "nan");
}

TEST(XmlEscape, AllSpecialCharacters) {
  EXPECT_EQ(report::xml_escape("a<b & \"c\" > 'd'"),
            "a&lt;b &amp; &quot;c&quot; &gt; &apos;d&apos;");
  EXPECT_EQ(report::xml_escape(std::string("x\x01y")), "x y");  // not allowed in XML
}

// ---- LinePlot ----------------------------------------------------------------------------

TEST(LinePlot, WellFormedWithSeriesLegendAndTicks) {
  report::LinePlot plot({.title = "loss", .x_label = "step", .y_label = "value"});
  plot.add("sgd", {0, 2.5, 5, 7.5, 10}, {1.0, 0.8, 0.5, 0.3, 0.2});
  plot.add("adam", {0, 5, 10}, {0.9, 0.4, 0.1});
  const std::string svg = plot.svg();
  EXPECT_EQ(check_well_formed(svg), "");
  EXPECT_TRUE(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(count(svg, "class=\"series\""), 2u);
  EXPECT_NE(svg.find("data-name=\"sgd\""), std::string::npos);
  EXPECT_NE(svg.find("data-name=\"adam\""), std::string::npos);
  EXPECT_EQ(texts_of_class(svg, "tick-x"),
            (std::vector<std::string>{"0", "2", "4", "6", "8", "10"}));
  EXPECT_EQ(texts_of_class(svg, "tick-y"),
            (std::vector<std::string>{"0", "0.2", "0.4", "0.6", "0.8", "1.0"}));
  EXPECT_EQ(texts_of_class(svg, "x-label"), std::vector<std::string>{"step"});
  EXPECT_EQ(texts_of_class(svg, "y-label"), std::vector<std::string>{"value"});
  // The legend names both, in order, in two different colours.
  const std::size_t legend = svg.find("class=\"legend\"");
  ASSERT_NE(legend, std::string::npos);
  EXPECT_LT(svg.find(">sgd<", legend), svg.find(">adam<", legend));
  EXPECT_NE(svg.find("stroke=\"#1f77b4\""), std::string::npos);
  EXPECT_NE(svg.find("stroke=\"#ff7f0e\""), std::string::npos);
  // One unbroken line per series with one vertex per point.
  const auto sgd = pieces(path_data_after(svg, "data-name=\"sgd\"").at(0));
  ASSERT_EQ(sgd.size(), 1u);
  EXPECT_EQ(sgd[0].size(), 5u);
  // Points are placed linearly: equal x steps give equal pixel steps; y grows upwards.
  EXPECT_NEAR(sgd[0][1].first - sgd[0][0].first, sgd[0][4].first - sgd[0][3].first, 0.11);
  EXPECT_GT(sgd[0][4].second, sgd[0][0].second) << "a lower loss draws lower (larger pixel y)";
}

TEST(LinePlot, NonFinitePointsBreakTheLine) {
  report::LinePlot plot;
  plot.add("a", {0, 1, 2, 3, 4, 5, 6}, {1, 2, kNan, 3, 4, kInf, 5});
  const std::string svg = plot.svg();
  EXPECT_EQ(check_well_formed(svg), "");
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  const auto parts = pieces(path_data_after(svg, "data-name=\"a\"").at(0));
  ASSERT_EQ(parts.size(), 2u);  // {0, 1} and {3, 4}; the lone point 6 is a dot
  EXPECT_EQ(parts[0].size(), 2u);
  EXPECT_EQ(parts[1].size(), 2u);
  EXPECT_EQ(count(svg, "<circle"), 1u);
  // The range comes from finite points only: y ticks end at 5.
  EXPECT_EQ(texts_of_class(svg, "tick-y").back(), "5");
}

TEST(LinePlot, EmptySeriesAndAllEqualValues) {
  report::LinePlot empty;
  empty.add("nothing", {}, {});
  std::string svg = empty.svg();
  EXPECT_EQ(check_well_formed(svg), "");
  EXPECT_NE(svg.find(">nothing<"), std::string::npos);
  EXPECT_TRUE(path_data_after(svg, "data-name=\"nothing\"").empty());

  EXPECT_EQ(check_well_formed(report::LinePlot().svg()), "");  // no series at all

  report::LinePlot flat;
  flat.add("flat", {3, 3, 3}, {2, 2, 2});
  svg = flat.svg();
  EXPECT_EQ(check_well_formed(svg), "");
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  const auto y = texts_of_class(svg, "tick-y");
  EXPECT_NE(std::find(y.begin(), y.end(), "2.0"), y.end());
}

TEST(LinePlot, LogAxes) {
  report::LinePlot plot({.log_x = true, .log_y = true});
  plot.add("power", {1, 10, 100, 1000}, {1e-3, 1e-2, 1e-1, 1.0});
  const std::string svg = plot.svg();
  EXPECT_EQ(check_well_formed(svg), "");
  EXPECT_EQ(texts_of_class(svg, "tick-x"), (std::vector<std::string>{"1", "10", "100", "1000"}));
  EXPECT_EQ(texts_of_class(svg, "tick-y"), (std::vector<std::string>{"0.001", "0.01", "0.1", "1"}));
  // A power law is a straight line: equal pixel steps per decade.
  const auto line = pieces(path_data_after(svg, "data-name=\"power\"").at(0)).at(0);
  EXPECT_NEAR(line[1].first - line[0].first, line[3].first - line[2].first, 0.11);
  EXPECT_NEAR(line[1].second - line[0].second, line[3].second - line[2].second, 0.11);
}

TEST(LinePlot, LogAxesRejectNonPositiveData) {
  report::LinePlot log_y({.log_y = true});
  expect_error(
      [&] {
        log_y.add("loss", {0, 1, 2}, {1.0, 0.0, 0.5});
      },
      {"log-scale y", "'loss'", "y[1] = 0"});
  report::LinePlot log_x({.log_x = true});
  expect_error(
      [&] {
        log_x.add("lr", {-1.0, 1.0}, {1.0, 2.0});
      },
      {"log-scale x", "'lr'", "x[0] = -1"});
  // Non-finite values are gaps, not errors, on a log axis too.
  log_y.add("gap", {0, 1, 2}, {1.0, kNan, 0.5});
  EXPECT_EQ(check_well_formed(log_y.svg()), "");
}

TEST(LinePlot, BadInput) {
  report::LinePlot plot;
  expect_error([&] { plot.add("a", {1, 2, 3}, {1, 2}); }, {"LinePlot", "'a'", "3 x", "2 y"});
  expect_error([] { report::LinePlot({.width = 10}); }, {"LinePlot", "width"});
}

TEST(LinePlot, EscapesText) {
  report::LinePlot plot({.title = "a<b & 'c'", .x_label = "x > \"y\""});
  plot.add("</g><script>", {0, 1}, {0, 1});
  const std::string svg = plot.svg();
  EXPECT_EQ(check_well_formed(svg), "");
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_NE(svg.find("a&lt;b &amp; &apos;c&apos;"), std::string::npos);
  EXPECT_NE(svg.find("x &gt; &quot;y&quot;"), std::string::npos);
}

TEST(LinePlot, ManySeriesGetDistinctStyles) {
  report::LinePlot plot;
  for (int k = 0; k < 12; ++k) plot.add("s" + std::to_string(k), {0, 1}, {0, double(k)});
  const std::string svg = plot.svg();
  EXPECT_EQ(check_well_formed(svg), "");
  EXPECT_EQ(count(svg, "class=\"series\""), 12u);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);  // the 11th and 12th
}

// ---- ContourPlot -------------------------------------------------------------------------

namespace {

std::vector<double> linspace(double lo, double hi, int n) {
  std::vector<double> out(n);
  for (int i = 0; i < n; ++i) out[i] = lo + (hi - lo) * i / (n - 1);
  return out;
}

template <typename F>
std::vector<std::vector<double>> grid(const std::vector<double>& x, const std::vector<double>& y,
                                      F f) {
  std::vector<std::vector<double>> z(x.size(), std::vector<double>(y.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    for (std::size_t j = 0; j < y.size(); ++j) z[i][j] = f(x[i], y[j]);
  }
  return z;
}

}  // namespace

TEST(ContourPlot, WellFormedWithPathsLegendAndColourBar) {
  const auto x = linspace(-2, 2, 21), y = linspace(-1, 3, 21);
  report::ContourPlot plot(x, y, grid(x, y, [](double a, double b) { return a * a + b * b; }),
                           {.title = "bowl", .x_label = "x", .y_label = "y", .value_label = "f"});
  plot.add_path("sgd", {1.5, 1.0, 0.5, 0.1}, {2.5, 1.5, 0.5, 0.1});
  plot.add_path("adam", {-1.5, -0.5}, {2.0, 0.0});
  const std::string svg = plot.svg();
  EXPECT_EQ(check_well_formed(svg), "");
  EXPECT_EQ(count(svg, "class=\"path\""), 2u);
  EXPECT_NE(svg.find("data-name=\"sgd\""), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"start\""), 2u);
  EXPECT_EQ(count(svg, "class=\"end\""), 2u);
  const std::size_t legend = svg.find("class=\"legend\"");
  ASSERT_NE(legend, std::string::npos);
  EXPECT_LT(svg.find(">sgd<", legend), svg.find(">adam<", legend));
  EXPECT_NE(svg.find("class=\"colorbar\""), std::string::npos);
  EXPECT_EQ(texts_of_class(svg, "tick-x"), (std::vector<std::string>{"-2", "-1", "0", "1", "2"}));
  EXPECT_EQ(texts_of_class(svg, "tick-y"), (std::vector<std::string>{"-1", "0", "1", "2", "3"}));
  EXPECT_EQ(texts_of_class(svg, "tick-c"),
            (std::vector<std::string>{"0", "2", "4", "6", "8", "10", "12"}));
  // Automatic levels lie strictly inside the data's range, each drawn as a contour.
  const std::vector<double> levels = plot.levels();
  ASSERT_GE(levels.size(), 4u);
  for (double level : levels) {
    EXPECT_GT(level, 0.0);
    EXPECT_LT(level, 13.0);
  }
  EXPECT_EQ(count(svg, "class=\"contour\""), levels.size());
}

TEST(ContourPlot, MarchingSquaresInterpolatesTheCrossing) {
  // z = x on a coarse grid: the contour at level c is the vertical line x = c, found by
  // linear interpolation inside the cells (0.3 and 0.7 fall between grid points).
  const auto x = linspace(0, 1, 5), y = linspace(0, 1, 4);
  report::ContourPlot plot(x, y, grid(x, y, [](double a, double) { return a; }),
                           {.levels = {0.3, 0.5, 0.7}});
  const std::string svg = plot.svg();
  EXPECT_EQ(check_well_formed(svg), "");
  const auto contours = path_data_after(svg, "class=\"contours\"");
  ASSERT_EQ(contours.size(), 3u);
  std::vector<double> column;
  for (const std::string& data : contours) {
    const auto parts = pieces(data);
    ASSERT_EQ(parts.size(), 3u);  // one segment per cell along y
    const double px = parts[0][0].first;
    for (const auto& part : parts) {
      for (const auto& [px_i, py_i] : part) EXPECT_NEAR(px_i, px, 0.051);
    }
    column.push_back(px);
  }
  EXPECT_NEAR(column[1] - column[0], column[2] - column[1], 0.11);
  EXPECT_GT(column[1] - column[0], 10.0);
}

TEST(ContourPlot, SaddleCellsGiveTwoSegments) {
  // z = x y on [-1, 1]^2 with one cell: corners +1, -1, +1, -1, mean 0; level 0.5 cuts off
  // the two positive corners separately.
  report::ContourPlot plot({-1, 1}, {-1, 1}, {{1, -1}, {-1, 1}}, {.levels = {0.5}});
  const auto contours = path_data_after(plot.svg(), "class=\"contours\"");
  ASSERT_EQ(contours.size(), 1u);
  EXPECT_EQ(pieces(contours[0]).size(), 2u);
}

TEST(ContourPlot, LogValues) {
  const auto x = linspace(1, 2, 11), y = linspace(0, 4, 11);
  report::ContourPlot plot(x, y, grid(x, y, [](double, double b) { return std::pow(10.0, b); }),
                           {.value_label = "loss", .log_values = true});
  const std::string svg = plot.svg();
  EXPECT_EQ(check_well_formed(svg), "");
  EXPECT_EQ(texts_of_class(svg, "tick-c"),
            (std::vector<std::string>{"1", "10", "100", "1000", "10000"}));
  // Automatic levels are evenly spaced in log10 (powers of ten or their halves).
  for (double level : plot.levels()) {
    const double exponent = std::log10(level) * 2.0;
    EXPECT_NEAR(exponent, std::round(exponent), 1e-9) << level;
  }
  EXPECT_NE(svg.find("loss (log scale)"), std::string::npos);
}

TEST(ContourPlot, NonFiniteCellsAreGreyAndSkipped) {
  const auto x = linspace(0, 1, 6), y = linspace(0, 1, 6);
  auto z = grid(x, y, [](double a, double b) { return a + b; });
  z[2][3] = kNan;
  z[4][1] = kInf;
  report::ContourPlot plot(x, y, z, {.levels = {1.0}});
  plot.add_path("diverged", {0.1, 0.5, kNan, 0.6, kInf}, {0.1, 0.5, 0.5, 0.7, 0.2});
  const std::string svg = plot.svg();
  EXPECT_EQ(check_well_formed(svg), "");
  EXPECT_NE(svg.find("#bdbdbd"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  // The level-1 line crosses 5 cells of the diagonal band, minus those touching a bad value.
  const auto contours = path_data_after(svg, "class=\"contours\"");
  ASSERT_EQ(contours.size(), 1u);
  const std::size_t segments = pieces(contours[0]).size();
  EXPECT_GE(segments, 3u);
  EXPECT_LT(segments, 9u);
  // The path: {0, 1} then the lone point 3; the end marker sits on the last finite point.
  const auto path = pieces(path_data_after(svg, "data-name=\"diverged\"").at(0));
  EXPECT_EQ(path.size(), 1u);

  // A grid with no finite value still draws (grey), without levels.
  report::ContourPlot none({0, 1}, {0, 1}, {{kNan, kNan}, {kNan, kNan}});
  EXPECT_EQ(check_well_formed(none.svg()), "");
  EXPECT_TRUE(none.levels().empty());
}

TEST(ContourPlot, AllEqualValues) {
  report::ContourPlot plot({0, 1, 2}, {0, 1}, {{3, 3}, {3, 3}, {3, 3}});
  const std::string svg = plot.svg();
  EXPECT_EQ(check_well_formed(svg), "");
  EXPECT_TRUE(plot.levels().empty());
  EXPECT_FALSE(texts_of_class(svg, "tick-c").empty());
}

TEST(ContourPlot, BadInput) {
  const std::vector<double> two = {0, 1};
  const std::vector<std::vector<double>> z22 = {{0, 1}, {1, 2}};
  expect_error([&] { report::ContourPlot({}, {}, {}); }, {"ContourPlot", "at least 2", "0 x 0"});
  expect_error([&] { report::ContourPlot(two, two, {{0, 1}}); }, {"1 rows", "2 x coordinates"});
  expect_error(
      [&] {
        report::ContourPlot(two, two, {{0, 1}, {1}});
      },
      {"ragged", "z[1] has 1 values", "2 y coordinates"});
  expect_error([&] { report::ContourPlot({1, 0}, two, z22); }, {"x must be strictly increasing"});
  expect_error([&] { report::ContourPlot(two, {0, kNan}, z22); }, {"y[1]", "not finite"});
  expect_error([&] { report::ContourPlot(two, two, z22, {.log_values = true}); },
               {"log-scaled", "z[0][0] = 0"});
  expect_error(
      [&] {
        report::ContourPlot(two, two, {{1, 2}, {3, 4}}, {.log_values = true, .levels = {-1.0}});
      },
      {"positive levels", "-1"});
  report::ContourPlot plot(two, two, z22);
  expect_error([&] { plot.add_path("p", {0, 1}, {0}); }, {"add_path", "'p'", "2 x", "1 y"});
}

// ---- saving ------------------------------------------------------------------------------

TEST(Save, WritesTheSvgAtomically) {
  TempDir dir;
  report::LinePlot plot;
  plot.add("a", {0, 1}, {1, 0});
  const auto path = dir.path / "plot.svg";
  plot.save(path.string());
  EXPECT_EQ(read_file(path), plot.svg());
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));

  report::ContourPlot map({0, 1}, {0, 1}, {{0, 1}, {1, 2}});
  const auto map_path = dir.path / "map.svg";
  map.save(map_path.string());
  EXPECT_EQ(read_file(map_path), map.svg());
}

TEST(Save, UnwritablePathNamesItAndKeepsTheOldFile) {
  TempDir dir;
  report::LinePlot plot;
  plot.add("a", {0, 1}, {1, 0});
  const std::string missing = (dir.path / "no-such-folder" / "plot.svg").string();
  expect_error([&] { plot.save(missing); }, {"LinePlot", "cannot save", missing});

  // The temporary file cannot be created (a folder is in its way): the target stays whole.
  const auto target = dir.path / "keep.svg";
  std::ofstream(target) << "old contents";
  std::filesystem::create_directory(target.string() + ".tmp");
  expect_error([&] { plot.save(target.string()); }, {"cannot save", target.string()});
  report::ContourPlot map({0, 1}, {0, 1}, {{0, 1}, {1, 2}});
  expect_error([&] { map.save(target.string()); }, {"ContourPlot", target.string()});
  EXPECT_EQ(read_file(target), "old contents");
}
