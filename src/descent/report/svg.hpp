// Plots as self-contained SVG text: line plots of logged metrics and contour plots (heat map,
// contour lines, colour bar) of 2-D grids with optimizer paths drawn over them.
//
// ====== Intended usage ======
//   report::LinePlot plot({.title = "training loss", .x_label = "step", .y_label = "loss",
//                          .log_y = true});
//   plot.add("sgd", steps, sgd_loss);    // x and y of equal length; NaN/Inf break the line
//   plot.add("adam", steps, adam_loss);
//   plot.save("runs/compare/loss.svg");  // atomic: the old file stays whole on failure
//
//   // z[i][j] is the value at (x[i], y[j]): one row of z per x coordinate.
//   report::ContourPlot map(xs, ys, z, {.title = "rosenbrock", .log_values = true});
//   map.add_path("adam", path_x, path_y);  // drawn with a start circle and an end square
//   std::string text = map.svg();          // or map.save("rosenbrock.svg")
//
// The output needs no scripts, fonts or network: it opens in any browser and can be inlined
// into an HTML page (report/html.hpp). All text is XML-escaped.
//
// Rules of the data:
// - Line plots: a series' non-finite points (NaN, Inf) leave a gap in its line; an empty
//   series only joins the legend. A log axis rejects zero and negative values at add(),
//   naming the series and the index. Data that are all equal get a range around the value.
// - Contour plots: x and y strictly increasing and finite, z of size x.size() rows each of
//   y.size() values (at least 2 x 2). Non-finite z cells are drawn grey and no contour line
//   crosses them. With log_values every finite z (and every given level) must be positive.
//   Path points outside the grid's range are clipped at the frame; non-finite points break
//   the path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace descent::report {

// Tick values for an axis. `lo`/`hi` is the axis range the ticks span (the data's range
// widened to whole ticks); `values` are the tick positions in data units and `labels` their
// text ("0.25", "1e-05", ...).
struct Ticks {
  double lo = 0.0;
  double hi = 1.0;
  std::vector<double> values;
  std::vector<std::string> labels;
};

// "Nice" linear ticks (steps of 1, 2 or 5 times a power of ten) covering [lo, hi] with at
// most about `target` ticks: nice_ticks(0.3, 9.6, 6) gives 0, 2, 4, 6, 8, 10. Equal or
// reversed bounds are widened to a range around them. Bounds must be finite.
Ticks nice_ticks(double lo, double hi, int target = 6);
// Ticks at powers of ten covering [lo, hi] (both > 0): log_ticks(0.02, 300) gives 0.01, 0.1,
// 1, 10, 100, 1000; when the range spans many decades every k-th decade is labelled.
Ticks log_ticks(double lo, double hi, int target = 7);
// A tick label: the shortest of fixed or scientific notation with the given step's precision
// ("0.5", "120", "1e-05", "2.5e+06"); -0 prints as "0".
std::string format_number(double value, double step);

// Escapes &, <, >, " and ' as XML entities.
std::string xml_escape(const std::string& text);

struct LinePlotOptions {
  std::string title = "";
  std::string x_label = "";
  std::string y_label = "";
  bool log_x = false;
  bool log_y = false;
  int width = 640;   // pixels
  int height = 400;  // pixels
};

class LinePlot {
 public:
  explicit LinePlot(LinePlotOptions options = {});

  // Adds a series (drawn in the next distinct colour). x and y must have equal lengths;
  // on a log axis every finite value must be > 0. Throws descent::Error naming the series.
  LinePlot& add(std::string name, std::vector<double> x, std::vector<double> y);
  // y against 0, 1, 2, ...
  LinePlot& add(std::string name, std::vector<double> y);

  std::size_t size() const { return series_.size(); }
  std::string svg() const;
  // Writes svg() atomically (temporary file + rename); throws descent::Error naming the path.
  void save(const std::string& path) const;

 private:
  struct Series {
    std::string name;
    std::vector<double> x;
    std::vector<double> y;
  };
  LinePlotOptions options_;
  std::vector<Series> series_;
};

struct ContourOptions {
  std::string title = "";
  std::string x_label = "";
  std::string y_label = "";
  std::string value_label = "";     // beside the colour bar
  bool log_values = false;          // colours and automatic levels on log10(z)
  std::vector<double> levels = {};  // contour levels in z's units; empty: automatic
  int auto_levels = 10;             // about this many automatic levels (0: no contour lines)
  int width = 620;                  // pixels
  int height = 500;                 // pixels
};

class ContourPlot {
 public:
  // z[i][j] is the value at (x[i], y[j]). Throws descent::Error on an empty or ragged grid,
  // coordinates that are not finite and strictly increasing, or (log_values) a
  // non-positive value or level.
  ContourPlot(std::vector<double> x, std::vector<double> y, std::vector<std::vector<double>> z,
              ContourOptions options = {});

  // Draws a polyline over the map (e.g. an optimizer's trajectory) with a circle at its
  // first finite point and a square at its last, in the next path colour, named in the
  // legend. x and y of equal length.
  ContourPlot& add_path(std::string name, std::vector<double> x, std::vector<double> y);

  // The contour levels drawn (the given ones, or the automatic ones), in z's units.
  std::vector<double> levels() const;
  std::string svg() const;
  // Writes svg() atomically (temporary file + rename); throws descent::Error naming the path.
  void save(const std::string& path) const;

 private:
  struct Path {
    std::string name;
    std::vector<double> x;
    std::vector<double> y;
  };
  double value_of(double z) const;  // z, or log10(z) with log_values

  std::vector<double> x_;
  std::vector<double> y_;
  std::vector<std::vector<double>> z_;
  ContourOptions options_;
  std::vector<Path> paths_;
  double z_lo_ = 0.0;  // finite range of value_of(z); both 0 when no z is finite
  double z_hi_ = 0.0;
  bool any_finite_ = false;
};

}  // namespace descent::report
