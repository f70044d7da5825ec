#include "descent/report/svg.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>

#include "descent/core/error.hpp"
#include "descent/train/atomic_file.hpp"

namespace descent::report {
namespace {

// Tableau 10: distinct hues that stay apart for the common kinds of colour blindness.
constexpr std::array<const char*, 10> kSeriesColours = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                                        "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                                        "#bcbd22", "#17becf"};
// Path colours chosen to stand out on viridis (which spans purple, teal and yellow).
constexpr std::array<const char*, 7> kPathColours = {"#ff2a2a", "#ffffff", "#ff9f1c", "#00e5ff",
                                                     "#ff4fd8", "#000000", "#a0ff00"};
// Dash patterns separating series that share a colour (the 11th series onwards).
constexpr std::array<const char*, 3> kDashes = {"", "6 3", "2 2"};

// Viridis (matplotlib's default colour map) sampled at nine evenly spaced points; colours in
// between are interpolated linearly, within 1/255 of the full table.
constexpr std::array<std::array<double, 3>, 9> kViridis = {{{68, 1, 84},
                                                            {72, 40, 120},
                                                            {62, 73, 137},
                                                            {49, 104, 142},
                                                            {38, 130, 142},
                                                            {31, 158, 137},
                                                            {53, 183, 121},
                                                            {110, 206, 88},
                                                            {253, 231, 37}}};
constexpr const char* kMissingColour = "#bdbdbd";  // non-finite grid cells

// Pixels beyond this are never visible; clamping keeps far-away points (a diverged path at
// 1e300) from printing as 300-digit numbers.
constexpr double kPixelLimit = 1e5;

std::string px(double value) {
  value = std::clamp(value, -kPixelLimit, kPixelLimit);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", value);
  std::string text = buffer;
  if (text == "-0.0") text = "0.0";
  return text;
}

std::string colour_hex(double t) {
  t = std::clamp(t, 0.0, 1.0);
  const double position = t * static_cast<double>(kViridis.size() - 1);
  const std::size_t below = std::min(static_cast<std::size_t>(position), kViridis.size() - 2);
  const double frac = position - static_cast<double>(below);
  char buffer[8];
  int channel[3];
  for (int c = 0; c < 3; ++c) {
    const double value = kViridis[below][c] * (1.0 - frac) + kViridis[below + 1][c] * frac;
    channel[c] = static_cast<int>(std::lround(value));
  }
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", channel[0], channel[1], channel[2]);
  return buffer;
}

// Approximate width of text at the 12px sans-serif used throughout (for layout only).
double text_width(const std::string& text, double font_size = 12.0) {
  return static_cast<double>(text.size()) * font_size * 0.6;
}

std::string svg_open(int width, int height, const std::string& title) {
  std::string out = cat("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", width, "\" height=\"",
                        height, "\" viewBox=\"0 0 ", width, " ", height,
                        "\" font-family=\"sans-serif\" font-size=\"12\">\n");
  if (!title.empty()) out += cat("<title>", xml_escape(title), "</title>\n");
  out += cat("<rect width=\"", width, "\" height=\"", height, "\" fill=\"#ffffff\"/>\n");
  if (!title.empty()) {
    out += cat("<text class=\"title\" x=\"", width / 2,
               "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">",
               xml_escape(title), "</text>\n");
  }
  return out;
}

// The plot area in pixels and the mapping of (transformed) data into it.
struct Frame {
  double left, top, right, bottom;
  double x_lo, x_hi, y_lo, y_hi;
  double px_x(double x) const { return left + (x - x_lo) / (x_hi - x_lo) * (right - left); }
  double px_y(double y) const { return bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top); }
};

// Axis lines, grid, ticks with labels and the axis titles. Tick values are in the frame's
// (possibly log10) units.
std::string draw_axes(const Frame& frame, const Ticks& x_ticks, const Ticks& y_ticks,
                      const std::string& x_label, const std::string& y_label, bool grid) {
  std::string out = "<g class=\"axes\" stroke=\"#000000\" stroke-width=\"1\">\n";
  for (std::size_t i = 0; i < x_ticks.values.size(); ++i) {
    const std::string x = px(frame.px_x(x_ticks.values[i]));
    if (grid) {
      out += cat("<line x1=\"", x, "\" y1=\"", px(frame.top), "\" x2=\"", x, "\" y2=\"",
                 px(frame.bottom), "\" stroke=\"#e5e5e5\"/>\n");
    }
    out += cat("<line x1=\"", x, "\" y1=\"", px(frame.bottom), "\" x2=\"", x, "\" y2=\"",
               px(frame.bottom + 5), "\"/>\n");
    out += cat("<text class=\"tick-x\" x=\"", x, "\" y=\"", px(frame.bottom + 18),
               "\" text-anchor=\"middle\" stroke=\"none\">", xml_escape(x_ticks.labels[i]),
               "</text>\n");
  }
  for (std::size_t i = 0; i < y_ticks.values.size(); ++i) {
    const std::string y = px(frame.px_y(y_ticks.values[i]));
    if (grid) {
      out += cat("<line x1=\"", px(frame.left), "\" y1=\"", y, "\" x2=\"", px(frame.right),
                 "\" y2=\"", y, "\" stroke=\"#e5e5e5\"/>\n");
    }
    out += cat("<line x1=\"", px(frame.left - 5), "\" y1=\"", y, "\" x2=\"", px(frame.left),
               "\" y2=\"", y, "\"/>\n");
    out += cat("<text class=\"tick-y\" x=\"", px(frame.left - 8), "\" y=\"", y,
               "\" dy=\"4\" text-anchor=\"end\" stroke=\"none\">", xml_escape(y_ticks.labels[i]),
               "</text>\n");
  }
  out += cat("<rect x=\"", px(frame.left), "\" y=\"", px(frame.top), "\" width=\"",
             px(frame.right - frame.left), "\" height=\"", px(frame.bottom - frame.top),
             "\" fill=\"none\"/>\n");
  out += "</g>\n";
  if (!x_label.empty()) {
    out +=
        cat("<text class=\"x-label\" x=\"", px((frame.left + frame.right) / 2), "\" y=\"",
            px(frame.bottom + 38), "\" text-anchor=\"middle\">", xml_escape(x_label), "</text>\n");
  }
  if (!y_label.empty()) {
    const std::string cx = px(frame.left - 52);
    const std::string cy = px((frame.top + frame.bottom) / 2);
    out += cat("<text class=\"y-label\" x=\"", cx, "\" y=\"", cy, "\" transform=\"rotate(-90 ", cx,
               " ", cy, ")\" text-anchor=\"middle\">", xml_escape(y_label), "</text>\n");
  }
  return out;
}

std::string clip_path(const std::string& id, const Frame& frame) {
  return cat("<clipPath id=\"", id, "\"><rect x=\"", px(frame.left), "\" y=\"", px(frame.top),
             "\" width=\"", px(frame.right - frame.left), "\" height=\"",
             px(frame.bottom - frame.top), "\"/></clipPath>\n");
}

// Ticks for the log10 of a range: at whole decades when at least two fall inside, else
// linear ticks in log10 units. Values are log10s; labels are the plain values.
Ticks ticks_within_log(double lo, double hi, int target) {
  Ticks ticks;
  ticks.lo = lo;
  ticks.hi = hi;
  const double first = std::ceil(lo - 1e-9);
  const double last = std::floor(hi + 1e-9);
  if (last - first >= 1.0) {
    const Ticks decades = log_ticks(std::pow(10.0, first), std::pow(10.0, last), target);
    for (std::size_t i = 0; i < decades.values.size(); ++i) {
      const double value = std::log10(decades.values[i]);
      if (value < lo - 1e-9 || value > hi + 1e-9) continue;
      ticks.values.push_back(value);
      ticks.labels.push_back(decades.labels[i]);
    }
    return ticks;
  }
  const Ticks linear = nice_ticks(lo, hi, target);
  for (double value : linear.values) {
    if (value < lo - 1e-9 || value > hi + 1e-9) continue;
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3g", std::pow(10.0, value));
    ticks.values.push_back(value);
    ticks.labels.push_back(buffer);
  }
  return ticks;
}

// Linear ticks restricted to [lo, hi] (the range itself is not widened).
Ticks ticks_within(double lo, double hi, int target) {
  Ticks all = nice_ticks(lo, hi, target);
  Ticks ticks;
  ticks.lo = lo;
  ticks.hi = hi;
  const double slack = (hi - lo) * 1e-9;
  for (std::size_t i = 0; i < all.values.size(); ++i) {
    if (all.values[i] < lo - slack || all.values[i] > hi + slack) continue;
    ticks.values.push_back(all.values[i]);
    ticks.labels.push_back(all.labels[i]);
  }
  return ticks;
}

// The polyline of points (in pixels; a non-finite entry breaks it) as "M x y L x y ...".
// Pieces of one point draw nothing as a line; they are returned in `isolated` instead.
std::string polyline_data(const std::vector<std::pair<double, double>>& points,
                          std::vector<std::pair<double, double>>& isolated) {
  std::string data;
  std::size_t i = 0;
  while (i < points.size()) {
    const auto finite = [&](std::size_t k) {
      return std::isfinite(points[k].first) && std::isfinite(points[k].second);
    };
    if (!finite(i)) {
      ++i;
      continue;
    }
    std::size_t end = i + 1;
    while (end < points.size() && finite(end)) ++end;
    if (end - i == 1) {
      isolated.push_back(points[i]);
    } else {
      for (std::size_t k = i; k < end; ++k) {
        data += cat(k == i ? (data.empty() ? "M" : " M") : " L", px(points[k].first), " ",
                    px(points[k].second));
      }
    }
    i = end;
  }
  return data;
}

void save_text(const char* what, const std::string& path, const std::string& text) {
  try {
    train::write_file_atomic(path, text);
  } catch (const Error& e) {
    throw Error(cat(what, ": cannot save '", path, "': ", e.what()));
  }
}

void check_same_length(const char* what, const std::string& name, std::size_t x_size,
                       std::size_t y_size) {
  DESCENT_CHECK(x_size == y_size, what, ": '", name, "' has ", x_size, " x values but ", y_size,
                " y values");
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters other than tab and newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string format_number(double value, double step) {
  step = std::fabs(step);
  if (!(step > 0.0) || !std::isfinite(step)) step = std::fabs(value) > 0 ? std::fabs(value) : 1.0;
  if (!std::isfinite(value)) return value != value ? "nan" : (value > 0 ? "inf" : "-inf");
  if (std::fabs(value) < step * 1e-6) return "0";  // also turns -0 and 1e-17 noise into 0
  const int step_exponent = static_cast<int>(std::floor(std::log10(step) + 1e-9));
  const int value_exponent = static_cast<int>(std::floor(std::log10(std::fabs(value)) + 1e-9));
  char buffer[48];
  if (value_exponent >= 5 || step_exponent <= -5) {
    const int digits = std::max(0, value_exponent - step_exponent);
    std::snprintf(buffer, sizeof buffer, "%.*e", std::min(digits, 15), value);
  } else {
    const int decimals = std::max(0, -step_exponent);
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  }
  return buffer;
}

Ticks nice_ticks(double lo, double hi, int target) {
  DESCENT_CHECK(std::isfinite(lo) && std::isfinite(hi), "nice_ticks: bounds must be finite, got [",
                lo, ", ", hi, "]");
  target = std::max(target, 2);
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double pad = lo == 0.0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / static_cast<double>(target - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / magnitude;
  const double nice = fraction <= 1.0 ? 1.0 : fraction <= 2.0 ? 2.0 : fraction <= 5.0 ? 5.0 : 10.0;
  const double step = nice * magnitude;
  // Whole steps from below lo to above hi (the tolerance absorbs 0.3 / 0.1 = 2.9999...).
  const double first = std::floor(lo / step + 1e-9);
  const double last = std::ceil(hi / step - 1e-9);
  Ticks ticks;
  ticks.lo = first * step;
  ticks.hi = last * step;
  for (double k = first; k <= last + 0.5; k += 1.0) {
    const double value = k * step;
    ticks.values.push_back(value);
    ticks.labels.push_back(format_number(value, step));
  }
  return ticks;
}

Ticks log_ticks(double lo, double hi, int target) {
  DESCENT_CHECK(lo > 0.0 && hi > 0.0 && std::isfinite(lo) && std::isfinite(hi),
                "log_ticks: bounds must be positive and finite, got [", lo, ", ", hi, "]");
  target = std::max(target, 2);
  if (hi < lo) std::swap(lo, hi);
  double first = std::floor(std::log10(lo) + 1e-9);
  double last = std::ceil(std::log10(hi) - 1e-9);
  if (last <= first) last = first + 1.0;  // one value, a power of ten
  const double decades = last - first;
  const double every = std::max(1.0, std::ceil(decades / static_cast<double>(target - 1)));
  last = first + std::ceil(decades / every) * every;
  Ticks ticks;
  ticks.lo = std::pow(10.0, first);
  ticks.hi = std::pow(10.0, last);
  for (double k = first; k <= last + 0.5; k += every) {
    const double value = std::pow(10.0, k);
    ticks.values.push_back(value);
    ticks.labels.push_back(format_number(value, value));
  }
  return ticks;
}

// ---------------------------------------------------------------------------------------------
// LinePlot

LinePlot::LinePlot(LinePlotOptions options) : options_(std::move(options)) {
  DESCENT_CHECK(options_.width >= 200 && options_.height >= 150,
                "LinePlot: width and height must be at least 200 x 150 pixels, got ",
                options_.width, " x ", options_.height);
}

LinePlot& LinePlot::add(std::string name, std::vector<double> x, std::vector<double> y) {
  check_same_length("LinePlot", name, x.size(), y.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    DESCENT_CHECK(!options_.log_x || !std::isfinite(x[i]) || x[i] > 0.0,
                  "LinePlot: log-scale x needs positive values; series '", name, "' has x[", i,
                  "] = ", x[i]);
    DESCENT_CHECK(!options_.log_y || !std::isfinite(y[i]) || y[i] > 0.0,
                  "LinePlot: log-scale y needs positive values; series '", name, "' has y[", i,
                  "] = ", y[i]);
  }
  series_.push_back({std::move(name), std::move(x), std::move(y)});
  return *this;
}

LinePlot& LinePlot::add(std::string name, std::vector<double> y) {
  std::vector<double> x(y.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i);
  return add(std::move(name), std::move(x), std::move(y));
}

std::string LinePlot::svg() const {
  const auto tx = [&](double v) { return options_.log_x ? std::log10(v) : v; };
  const auto ty = [&](double v) { return options_.log_y ? std::log10(v) : v; };
  // The data's range over points where both coordinates are finite (in axis units).
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo;
  double y_lo = x_lo, y_hi = -x_lo;
  for (const Series& s : series_) {
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x_lo = std::min(x_lo, s.x[i]);
      x_hi = std::max(x_hi, s.x[i]);
      y_lo = std::min(y_lo, s.y[i]);
      y_hi = std::max(y_hi, s.y[i]);
    }
  }
  if (x_lo > x_hi) {  // no finite point at all: an empty frame
    x_lo = options_.log_x ? 1.0 : 0.0;
    x_hi = options_.log_x ? 10.0 : 1.0;
    y_lo = options_.log_y ? 1.0 : 0.0;
    y_hi = options_.log_y ? 10.0 : 1.0;
  }
  const Ticks x_ticks = options_.log_x ? log_ticks(x_lo, x_hi) : nice_ticks(x_lo, x_hi);
  const Ticks y_ticks = options_.log_y ? log_ticks(y_lo, y_hi) : nice_ticks(y_lo, y_hi);

  double legend_width = 0.0;
  for (const Series& s : series_) legend_width = std::max(legend_width, text_width(s.name));
  if (!series_.empty()) legend_width += 40.0;
  Frame frame{};
  frame.left = 75.0;
  frame.top = options_.title.empty() ? 15.0 : 40.0;
  frame.right = std::max(frame.left + 60.0, options_.width - 20.0 - legend_width);
  frame.bottom = options_.height - (options_.x_label.empty() ? 30.0 : 50.0);
  frame.x_lo = tx(x_ticks.lo);
  frame.x_hi = tx(x_ticks.hi);
  frame.y_lo = ty(y_ticks.lo);
  frame.y_hi = ty(y_ticks.hi);
  Ticks x_axis = x_ticks, y_axis = y_ticks;
  for (double& v : x_axis.values) v = tx(v);
  for (double& v : y_axis.values) v = ty(v);

  std::string out = svg_open(options_.width, options_.height, options_.title);
  out += "<defs>" + clip_path("plot-area", frame) + "</defs>\n";
  out += draw_axes(frame, x_axis, y_axis, options_.x_label, options_.y_label, true);
  for (std::size_t k = 0; k < series_.size(); ++k) {
    const Series& s = series_[k];
    const char* colour = kSeriesColours[k % kSeriesColours.size()];
    const char* dash = kDashes[(k / kSeriesColours.size()) % kDashes.size()];
    std::vector<std::pair<double, double>> points(s.x.size());
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      const bool finite = std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
      points[i] = finite ? std::pair{frame.px_x(tx(s.x[i])), frame.px_y(ty(s.y[i]))}
                         : std::pair{std::nan(""), std::nan("")};
    }
    std::vector<std::pair<double, double>> isolated;
    const std::string data = polyline_data(points, isolated);
    out += cat("<g class=\"series\" data-name=\"", xml_escape(s.name), "\" stroke=\"", colour,
               "\" fill=\"", colour, "\" clip-path=\"url(#plot-area)\">\n");
    if (!data.empty()) {
      out += cat("<path d=\"", data, "\" fill=\"none\" stroke-width=\"1.8\"",
                 *dash ? cat(" stroke-dasharray=\"", dash, "\"") : std::string(), "/>\n");
    }
    for (const auto& [x, y] : isolated) {
      out += cat("<circle cx=\"", px(x), "\" cy=\"", px(y), "\" r=\"2.5\" stroke=\"none\"/>\n");
    }
    out += "</g>\n";
  }
  if (!series_.empty()) {
    out += "<g class=\"legend\">\n";
    const double x = frame.right + 12.0;
    for (std::size_t k = 0; k < series_.size(); ++k) {
      const double y = frame.top + 8.0 + 18.0 * static_cast<double>(k);
      const char* colour = kSeriesColours[k % kSeriesColours.size()];
      const char* dash = kDashes[(k / kSeriesColours.size()) % kDashes.size()];
      out += cat("<line x1=\"", px(x), "\" y1=\"", px(y), "\" x2=\"", px(x + 22), "\" y2=\"", px(y),
                 "\" stroke=\"", colour, "\" stroke-width=\"2\"",
                 *dash ? cat(" stroke-dasharray=\"", dash, "\"") : std::string(), "/>\n");
      out += cat("<text x=\"", px(x + 28), "\" y=\"", px(y), "\" dy=\"4\">",
                 xml_escape(series_[k].name), "</text>\n");
    }
    out += "</g>\n";
  }
  out += "</svg>\n";
  return out;
}

void LinePlot::save(const std::string& path) const {
  save_text("LinePlot", path, svg());
}

// ---------------------------------------------------------------------------------------------
// ContourPlot

ContourPlot::ContourPlot(std::vector<double> x, std::vector<double> y,
                         std::vector<std::vector<double>> z, ContourOptions options)
    : x_(std::move(x)), y_(std::move(y)), z_(std::move(z)), options_(std::move(options)) {
  DESCENT_CHECK(options_.width >= 200 && options_.height >= 150,
                "ContourPlot: width and height must be at least 200 x 150 pixels, got ",
                options_.width, " x ", options_.height);
  DESCENT_CHECK(x_.size() >= 2 && y_.size() >= 2,
                "ContourPlot: the grid needs at least 2 x and 2 y coordinates, got ", x_.size(),
                " x ", y_.size());
  DESCENT_CHECK(z_.size() == x_.size(), "ContourPlot: z has ", z_.size(), " rows but there are ",
                x_.size(), " x coordinates (z[i][j] is at (x[i], y[j]))");
  for (std::size_t i = 0; i < z_.size(); ++i) {
    DESCENT_CHECK(z_[i].size() == y_.size(), "ContourPlot: ragged grid: z[", i, "] has ",
                  z_[i].size(), " values but there are ", y_.size(), " y coordinates");
  }
  const auto check_axis = [](const std::vector<double>& axis, const char* name) {
    for (std::size_t i = 0; i < axis.size(); ++i) {
      DESCENT_CHECK(std::isfinite(axis[i]), "ContourPlot: ", name, "[", i, "] = ", axis[i],
                    " is not finite");
      DESCENT_CHECK(i == 0 || axis[i] > axis[i - 1], "ContourPlot: ", name,
                    " must be strictly increasing, got ", axis[i - 1], " then ", axis[i],
                    " at index ", i);
    }
  };
  check_axis(x_, "x");
  check_axis(y_, "y");
  DESCENT_CHECK(options_.auto_levels >= 0 && options_.auto_levels <= 100,
                "ContourPlot: auto_levels must be in [0, 100], got ", options_.auto_levels);
  for (double level : options_.levels) {
    DESCENT_CHECK(std::isfinite(level), "ContourPlot: level ", level, " is not finite");
    DESCENT_CHECK(!options_.log_values || level > 0.0,
                  "ContourPlot: log-scaled values need positive levels, got ", level);
  }
  z_lo_ = std::numeric_limits<double>::infinity();
  z_hi_ = -z_lo_;
  for (std::size_t i = 0; i < z_.size(); ++i) {
    for (std::size_t j = 0; j < z_[i].size(); ++j) {
      const double value = z_[i][j];
      if (!std::isfinite(value)) continue;
      DESCENT_CHECK(!options_.log_values || value > 0.0,
                    "ContourPlot: log-scaled values need positive z, got z[", i, "][", j,
                    "] = ", value, " at (", x_[i], ", ", y_[j],
                    "); plot linear values or shift them");
      z_lo_ = std::min(z_lo_, value_of(value));
      z_hi_ = std::max(z_hi_, value_of(value));
      any_finite_ = true;
    }
  }
  if (!any_finite_) z_lo_ = z_hi_ = 0.0;
}

double ContourPlot::value_of(double z) const {
  return options_.log_values ? std::log10(z) : z;
}

ContourPlot& ContourPlot::add_path(std::string name, std::vector<double> x, std::vector<double> y) {
  check_same_length("ContourPlot::add_path", name, x.size(), y.size());
  paths_.push_back({std::move(name), std::move(x), std::move(y)});
  return *this;
}

std::vector<double> ContourPlot::levels() const {
  if (!options_.levels.empty()) return options_.levels;
  std::vector<double> levels;
  if (!any_finite_ || options_.auto_levels == 0 || !(z_hi_ > z_lo_)) return levels;
  const Ticks ticks = nice_ticks(z_lo_, z_hi_, options_.auto_levels + 1);
  const double slack = (z_hi_ - z_lo_) * 1e-9;
  for (double value : ticks.values) {
    if (value <= z_lo_ + slack || value >= z_hi_ - slack) continue;
    levels.push_back(options_.log_values ? std::pow(10.0, value) : value);
  }
  return levels;
}

std::string ContourPlot::svg() const {
  const std::size_t nx = x_.size();
  const std::size_t ny = y_.size();
  Frame frame{};
  frame.left = 75.0;
  frame.top = options_.title.empty() ? 15.0 : 40.0;
  frame.right = options_.width - 110.0;
  frame.bottom = options_.height - (options_.x_label.empty() ? 30.0 : 50.0);
  frame.x_lo = x_.front();
  frame.x_hi = x_.back();
  frame.y_lo = y_.front();
  frame.y_hi = y_.back();

  std::string out = svg_open(options_.width, options_.height, options_.title);
  out += "<defs>" + clip_path("map-area", frame) + "</defs>\n";

  // Heat map: cell (i, j) spans halfway to its neighbours; runs of equal colour along y merge
  // into one rectangle (a smooth map then needs far fewer elements).
  const auto edge = [](const std::vector<double>& axis, std::size_t k) {
    if (k == 0) return axis.front();
    if (k == axis.size()) return axis.back();
    return (axis[k - 1] + axis[k]) / 2.0;
  };
  const double span = z_hi_ > z_lo_ ? z_hi_ - z_lo_ : 0.0;
  const auto colour_of = [&](double z) -> std::string {
    if (!std::isfinite(z)) return kMissingColour;
    const double t = span > 0.0 ? (value_of(z) - z_lo_) / span : 0.5;
    return colour_hex(std::round(t * 255.0) / 255.0);
  };
  out += "<g class=\"heatmap\" stroke=\"none\">\n";
  for (std::size_t i = 0; i < nx; ++i) {
    const double x0 = frame.px_x(edge(x_, i));
    const double x1 = frame.px_x(edge(x_, i + 1));
    std::size_t j = 0;
    while (j < ny) {
      const std::string colour = colour_of(z_[i][j]);
      std::size_t end = j + 1;
      while (end < ny && colour_of(z_[i][end]) == colour) ++end;
      const double y_top = frame.px_y(edge(y_, end));
      const double y_bottom = frame.px_y(edge(y_, j));
      // Half a pixel of overlap hides the hairline seams browsers draw between abutting rects.
      out += cat("<rect x=\"", px(x0), "\" y=\"", px(y_top), "\" width=\"", px(x1 - x0 + 0.5),
                 "\" height=\"", px(y_bottom - y_top + 0.5), "\" fill=\"", colour, "\"/>\n");
      j = end;
    }
  }
  out += "</g>\n";

  // Contour lines by marching squares over the cells whose four corners are finite. Corners
  // a = (i, j), b = (i+1, j), c = (i+1, j+1), d = (i, j+1); edges e0 = ab, e1 = bc, e2 = cd,
  // e3 = da. A saddle (a, c on one side, b, d on the other) is resolved by the cell's mean.
  const std::vector<double> levels = this->levels();
  if (!levels.empty()) {
    out +=
        "<g class=\"contours\" fill=\"none\" stroke=\"#ffffff\" stroke-opacity=\"0.75\" "
        "stroke-width=\"0.9\">\n";
    for (double level_z : levels) {
      const double level = value_of(level_z);
      std::string data;
      for (std::size_t i = 0; i + 1 < nx; ++i) {
        for (std::size_t j = 0; j + 1 < ny; ++j) {
          const double za = z_[i][j], zb = z_[i + 1][j], zc = z_[i + 1][j + 1], zd = z_[i][j + 1];
          if (!std::isfinite(za) || !std::isfinite(zb) || !std::isfinite(zc) ||
              !std::isfinite(zd)) {
            continue;
          }
          const double va = value_of(za), vb = value_of(zb), vc = value_of(zc), vd = value_of(zd);
          const bool above[4] = {va >= level, vb >= level, vc >= level, vd >= level};
          if (above[0] == above[1] && above[1] == above[2] && above[2] == above[3]) continue;
          const double cx[4] = {x_[i], x_[i + 1], x_[i + 1], x_[i]};
          const double cy[4] = {y_[j], y_[j], y_[j + 1], y_[j + 1]};
          const double cv[4] = {va, vb, vc, vd};
          // The crossing on edge e (from corner e to corner e+1), in pixels.
          const auto crossing = [&](int e) {
            const int from = e, to = (e + 1) % 4;
            const double t = (level - cv[from]) / (cv[to] - cv[from]);
            return std::pair{frame.px_x(cx[from] + t * (cx[to] - cx[from])),
                             frame.px_y(cy[from] + t * (cy[to] - cy[from]))};
          };
          std::vector<int> edges;
          for (int e = 0; e < 4; ++e) {
            if (above[e] != above[(e + 1) % 4]) edges.push_back(e);
          }
          std::array<std::pair<int, int>, 2> segments{};
          int count = 1;
          if (edges.size() == 2) {
            segments[0] = {edges[0], edges[1]};
          } else {  // saddle: all four edges crossed
            const bool centre_above = (va + vb + vc + vd) / 4.0 >= level;
            count = 2;
            if (centre_above == above[0]) {  // a and c joined: cut off b and d
              segments = {{{0, 1}, {2, 3}}};
            } else {  // b and d joined: cut off a and c
              segments = {{{3, 0}, {1, 2}}};
            }
          }
          for (int s = 0; s < count; ++s) {
            const auto [x0, y0] = crossing(segments[s].first);
            const auto [x1, y1] = crossing(segments[s].second);
            data += cat(data.empty() ? "M" : " M", px(x0), " ", px(y0), " L", px(x1), " ", px(y1));
          }
        }
      }
      if (!data.empty()) {
        out += cat("<path class=\"contour\" data-level=\"", format_number(level_z, level_z * 1e-3),
                   "\" d=\"", data, "\"/>\n");
      }
    }
    out += "</g>\n";
  }

  const Ticks x_ticks = ticks_within(x_.front(), x_.back(), 6);
  const Ticks y_ticks = ticks_within(y_.front(), y_.back(), 6);
  out += draw_axes(frame, x_ticks, y_ticks, options_.x_label, options_.y_label, false);

  // Paths over the map, clipped to it.
  for (std::size_t k = 0; k < paths_.size(); ++k) {
    const Path& path = paths_[k];
    const char* colour = kPathColours[k % kPathColours.size()];
    std::vector<std::pair<double, double>> points(path.x.size());
    std::size_t first = path.x.size(), last = path.x.size();
    for (std::size_t i = 0; i < path.x.size(); ++i) {
      const bool finite = std::isfinite(path.x[i]) && std::isfinite(path.y[i]);
      points[i] = finite ? std::pair{frame.px_x(path.x[i]), frame.px_y(path.y[i])}
                         : std::pair{std::nan(""), std::nan("")};
      if (finite) {
        if (first == path.x.size()) first = i;
        last = i;
      }
    }
    std::vector<std::pair<double, double>> isolated;
    const std::string data = polyline_data(points, isolated);
    out += cat("<g class=\"path\" data-name=\"", xml_escape(path.name), "\" stroke=\"", colour,
               "\" clip-path=\"url(#map-area)\">\n");
    if (!data.empty()) {
      out += cat("<path d=\"", data, "\" fill=\"none\" stroke-width=\"1.8\"/>\n");
    }
    if (first < path.x.size()) {
      out += cat("<circle class=\"start\" cx=\"", px(points[first].first), "\" cy=\"",
                 px(points[first].second), "\" r=\"4\" fill=\"", colour,
                 "\" stroke=\"#000000\" stroke-width=\"0.8\"/>\n");
      out += cat("<rect class=\"end\" x=\"", px(points[last].first - 4), "\" y=\"",
                 px(points[last].second - 4), "\" width=\"8\" height=\"8\" fill=\"", colour,
                 "\" stroke=\"#000000\" stroke-width=\"0.8\"/>\n");
    }
    out += "</g>\n";
  }
  if (!paths_.empty()) {
    double legend_width = 0.0;
    for (const Path& path : paths_) legend_width = std::max(legend_width, text_width(path.name));
    legend_width += 44.0;
    const double x = frame.left + 8.0;
    const double y = frame.top + 8.0;
    out += cat("<g class=\"legend\">\n<rect x=\"", px(x), "\" y=\"", px(y), "\" width=\"",
               px(legend_width), "\" height=\"", px(18.0 * static_cast<double>(paths_.size()) + 6),
               "\" fill=\"#ffffff\" fill-opacity=\"0.8\" stroke=\"#808080\"/>\n");
    for (std::size_t k = 0; k < paths_.size(); ++k) {
      const double row = y + 12.0 + 18.0 * static_cast<double>(k);
      const char* colour = kPathColours[k % kPathColours.size()];
      // A white path needs a dark outline to show on the white legend box.
      out += cat("<line x1=\"", px(x + 6), "\" y1=\"", px(row), "\" x2=\"", px(x + 30), "\" y2=\"",
                 px(row), "\" stroke=\"#000000\" stroke-width=\"4\"/>\n");
      out += cat("<line x1=\"", px(x + 6), "\" y1=\"", px(row), "\" x2=\"", px(x + 30), "\" y2=\"",
                 px(row), "\" stroke=\"", colour, "\" stroke-width=\"2\"/>\n");
      out += cat("<text x=\"", px(x + 36), "\" y=\"", px(row), "\" dy=\"4\">",
                 xml_escape(paths_[k].name), "</text>\n");
    }
    out += "</g>\n";
  }

  // Colour bar: bottom = smallest value, with ticks and the contour levels marked.
  const double bar_left = frame.right + 18.0;
  const double bar_width = 16.0;
  out += "<g class=\"colorbar\">\n";
  constexpr int kBarSteps = 64;
  const double bar_height = frame.bottom - frame.top;
  for (int s = 0; s < kBarSteps; ++s) {
    const double t = (s + 0.5) / kBarSteps;
    const double y_bottom = frame.bottom - bar_height * s / kBarSteps;
    out += cat("<rect x=\"", px(bar_left), "\" y=\"", px(y_bottom - bar_height / kBarSteps),
               "\" width=\"", px(bar_width), "\" height=\"", px(bar_height / kBarSteps + 0.5),
               "\" fill=\"", any_finite_ ? colour_hex(t) : std::string(kMissingColour),
               "\" stroke=\"none\"/>\n");
  }
  out += cat("<rect x=\"", px(bar_left), "\" y=\"", px(frame.top), "\" width=\"", px(bar_width),
             "\" height=\"", px(bar_height), "\" fill=\"none\" stroke=\"#000000\"/>\n");
  if (any_finite_) {
    double lo = z_lo_, hi = z_hi_;
    if (!(hi > lo)) {  // one value: a bar centred on it
      const double pad = lo == 0.0 ? 1.0 : std::fabs(lo) * 0.1;
      lo -= pad;
      hi += pad;
    }
    const auto bar_y = [&](double value) {
      return frame.bottom - (value - lo) / (hi - lo) * bar_height;
    };
    const Ticks ticks = options_.log_values ? ticks_within_log(lo, hi, 8) : ticks_within(lo, hi, 8);
    for (std::size_t t = 0; t < ticks.values.size(); ++t) {
      const std::string y = px(bar_y(ticks.values[t]));
      out += cat("<line x1=\"", px(bar_left + bar_width), "\" y1=\"", y, "\" x2=\"",
                 px(bar_left + bar_width + 4), "\" y2=\"", y, "\" stroke=\"#000000\"/>\n");
      out += cat("<text class=\"tick-c\" x=\"", px(bar_left + bar_width + 7), "\" y=\"", y,
                 "\" dy=\"4\">", xml_escape(ticks.labels[t]), "</text>\n");
    }
    for (double level : levels) {
      const double value = value_of(level);
      if (value < lo || value > hi) continue;
      const std::string y = px(bar_y(value));
      out += cat("<line x1=\"", px(bar_left), "\" y1=\"", y, "\" x2=\"", px(bar_left + bar_width),
                 "\" y2=\"", y, "\" stroke=\"#ffffff\" stroke-width=\"0.8\"/>\n");
    }
  }
  if (!options_.value_label.empty()) {
    const std::string cx = px(options_.width - 8.0);
    const std::string cy = px((frame.top + frame.bottom) / 2);
    out += cat("<text class=\"value-label\" x=\"", cx, "\" y=\"", cy, "\" transform=\"rotate(-90 ",
               cx, " ", cy, ")\" text-anchor=\"middle\">", xml_escape(options_.value_label),
               options_.log_values ? " (log scale)" : "", "</text>\n");
  }
  out += "</g>\n</svg>\n";
  return out;
}

void ContourPlot::save(const std::string& path) const {
  save_text("ContourPlot", path, svg());
}

}  // namespace descent::report
