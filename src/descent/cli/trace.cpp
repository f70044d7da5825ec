// `descent trace`: optimizers racing on a classic 2-D test function (landscape/
// test_functions.hpp), in f64. Prints the path as CSV and optionally draws it over the
// function's contour plot.
//
//   descent trace --function rosenbrock --start -1.5,2 --steps 500 --optimizer adam --lr 0.05
//   descent trace --function ravine --optimizer sgd --optimizer sgd:momentum=0.9 --lr 0.02
//                 --steps 100 --plot ravine.svg
//
// Each optimizer is created through the registry (optim/registry.hpp), so every optimizer and
// every one of its options is available, with the same flags as `train`.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "descent/cli/commands.hpp"
#include "descent/cli/config.hpp"
#include "descent/core/error.hpp"
#include "descent/core/tensor.hpp"
#include "descent/landscape/test_functions.hpp"
#include "descent/optim/all.hpp"
#include "descent/report/svg.hpp"

namespace descent::cli {
namespace {

struct TraceArgs {
  std::string function = "rosenbrock";
  std::string start;
  std::int64_t steps = 100;
  std::vector<std::string> optimizers = {"sgd"};
  std::string lr, momentum, weight_decay, betas, eps;
  bool nesterov = false;
  bool amsgrad = false;
  std::vector<std::string> opt;
  std::string plot;
  std::int64_t grid = 101;
};

// One optimizer to run: its registry name, its options as text, and where each came from.
struct Racer {
  std::string label;  // the --optimizer value as given ("sgd:momentum=0.9")
  std::string name;   // "sgd"
  optim::OptionMap options;
  std::map<std::string, std::string> origins;  // option -> "--lr", "--optimizer 'sgd:...'"
};

struct PathPoint {
  double x, y, loss;
};

std::string exact(double value) {
  char buffer[32];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

double parse_number(const std::string& text, const std::string& flag) {
  double value = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (first != last && *first == '+') ++first;
  const auto [end, error] = std::from_chars(first, last, value);
  if (error != std::errc() || end != last || first == last || !std::isfinite(value)) {
    throw UsageError(cat(flag, ": expected a finite number, got '", text, "'"));
  }
  return value;
}

// "X,Y" -> {X, Y}.
std::array<double, 2> parse_start(const std::string& text) {
  const std::size_t comma = text.find(',');
  if (comma == std::string::npos || text.find(',', comma + 1) != std::string::npos) {
    throw UsageError(cat("--start: expected X,Y (two numbers), got '", text, "'"));
  }
  return {parse_number(text.substr(0, comma), "--start"),
          parse_number(text.substr(comma + 1), "--start")};
}

bool has_option(const optim::RegistryEntry& entry, const std::string& key) {
  return std::any_of(entry.options.begin(), entry.options.end(),
                     [&](const optim::OptionInfo& o) { return o.name == key; });
}

std::string option_list(const optim::RegistryEntry& entry) {
  std::string list;
  for (const optim::OptionInfo& o : entry.options) list += (list.empty() ? "" : ", ") + o.name;
  return list;
}

const optim::RegistryEntry& registry_entry(const std::string& name, const std::string& label) {
  const auto& registry = optim::optimizer_registry();
  const auto found = registry.find(name);
  if (found == registry.end()) {
    std::string known;
    for (const auto& [known_name, entry] : registry)
      known += (known.empty() ? "" : ", ") + known_name;
    throw UsageError(
        cat("--optimizer: unknown optimizer '", name, "' in '", label, "' (known: ", known, ")"));
  }
  return found->second;
}

// Whether an optimizer's error message is about `key` ("Adam: betas[1] must be in [0, 1)").
bool mentions(const std::string& message, const std::string& key) {
  for (std::size_t at = message.find(key); at != std::string::npos;
       at = message.find(key, at + 1)) {
    const char before = at == 0 ? ' ' : message[at - 1];
    const char after = at + key.size() < message.size() ? message[at + key.size()] : ' ';
    if ((before == ' ' || before == '(' || before == '\'') &&
        (after == ' ' || after == '[' || after == '=' || after == '\'' || after == ',' ||
         after == ':')) {
      return true;
    }
  }
  return false;
}

// The optimizers of --optimizer (repeatable; "sgd,adam" is two; "sgd:momentum=0.9:nesterov=true"
// is one with its own options), each with the shared flags that it has.
std::vector<Racer> racers(const TraceArgs& args) {
  std::vector<std::string> specs;
  for (const std::string& value : args.optimizers) {
    if (value.find(':') != std::string::npos) {
      specs.push_back(value);
      continue;
    }
    std::size_t start = 0;
    while (start <= value.size()) {
      const std::size_t comma = std::min(value.find(',', start), value.size());
      specs.push_back(value.substr(start, comma - start));
      start = comma + 1;
    }
  }
  std::vector<Racer> out;
  for (const std::string& spec : specs) {
    Racer racer;
    racer.label = spec;
    const std::size_t colon = spec.find(':');
    racer.name = spec.substr(0, colon);
    if (racer.name.empty()) throw UsageError(cat("--optimizer: empty name in '", spec, "'"));
    const optim::RegistryEntry& entry = registry_entry(racer.name, spec);
    // Options of its own: name:key=value:key=value.
    std::size_t start = colon == std::string::npos ? spec.size() + 1 : colon + 1;
    while (start <= spec.size()) {
      const std::size_t next = std::min(spec.find(':', start), spec.size());
      const std::string part = spec.substr(start, next - start);
      const std::size_t equals = part.find('=');
      if (equals == std::string::npos || equals == 0) {
        throw UsageError(cat("--optimizer: in '", spec, "', expected key=value, got '", part, "'"));
      }
      const std::string key = part.substr(0, equals);
      if (!has_option(entry, key)) {
        throw UsageError(cat("--optimizer: in '", spec, "', ", racer.name, " has no option '", key,
                             "' (its options: ", option_list(entry), ")"));
      }
      racer.options[key] = part.substr(equals + 1);
      racer.origins[key] = cat("--optimizer '", spec, "'");
      start = next + 1;
    }
    out.push_back(std::move(racer));
  }
  // Shared flags: each goes to the optimizers that have the option (and their own value wins).
  std::vector<std::pair<std::string, std::string>> shared;  // (key, flag)
  const auto share = [&](const std::string& key, const std::string& value,
                         const std::string& flag) {
    if (value.empty()) return;
    bool used = false;
    for (Racer& racer : out) {
      if (!has_option(optim::optimizer_registry().at(racer.name), key)) continue;
      used = true;
      if (racer.options.contains(key)) continue;
      racer.options[key] = value;
      racer.origins[key] = flag;
    }
    if (!used) {
      std::string options;
      for (const Racer& racer : out) {
        options += cat(options.empty() ? "" : "; ", racer.name,
                       "'s options: ", option_list(optim::optimizer_registry().at(racer.name)));
      }
      throw UsageError(cat(flag, ": no optimizer here has the option '", key, "' (", options, ")"));
    }
  };
  share("lr", args.lr, "--lr");
  share("momentum", args.momentum, "--momentum");
  share("weight_decay", args.weight_decay, "--weight-decay");
  share("betas", args.betas, "--betas");
  share("eps", args.eps, "--eps");
  share("nesterov", args.nesterov ? "true" : "", "--nesterov");
  share("amsgrad", args.amsgrad ? "true" : "", "--amsgrad");
  for (const std::string& entry : args.opt) {
    const std::size_t equals = entry.find('=');
    if (equals == std::string::npos || equals == 0) {
      throw UsageError(cat("--opt: expected KEY=VALUE, got '", entry, "'"));
    }
    share(entry.substr(0, equals), entry.substr(equals + 1), cat("--opt ", entry));
  }
  return out;
}

// Runs one optimizer for `steps` updates from `start`: steps + 1 points, the start first.
std::vector<PathPoint> run_racer(const Racer& racer, const landscape::TestFunction& function,
                                 std::array<double, 2> start, std::int64_t steps) {
  Tensor point = from_vector({start[0], start[1]}, {2}, DType::f64);  // (2,): x, y
  point.set_requires_grad(true);
  Tensor gradient = zeros({2}, DType::f64);
  point.set_grad(gradient);
  std::unique_ptr<optim::Optimizer> optimizer;
  try {
    optimizer = optim::create_optimizer(racer.name, {point}, racer.options);
  } catch (const Error& e) {
    // Name the flag that set the option the message is about.
    const std::string message = e.what();
    std::string origin = "--optimizer";
    for (const auto& [key, key_origin] : racer.origins) {
      // Betas are checked one by one ("beta2 must be in [0, 1)").
      if (mentions(message, key) ||
          (key == "betas" && (mentions(message, "beta1") || mentions(message, "beta2")))) {
        origin = key_origin;
        break;
      }
    }
    throw UsageError(cat(origin, ": ", message));
  }
  std::vector<PathPoint> path;
  path.reserve(static_cast<std::size_t>(steps) + 1);
  const double* p = point.data<double>();
  double* g = gradient.data<double>();
  path.push_back({p[0], p[1], function.value(p[0], p[1])});
  for (std::int64_t step = 1; step <= steps; ++step) {
    const auto [dx, dy] = function.gradient(p[0], p[1]);
    g[0] = dx;
    g[1] = dy;
    optimizer->step();
    path.push_back({p[0], p[1], function.value(p[0], p[1])});
  }
  return path;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

void draw(const std::string& file, const landscape::TestFunction& function,
          const std::vector<Racer>& racers, const std::vector<std::vector<PathPoint>>& paths,
          std::int64_t grid) {
  // The function's view, widened to show the start and as much of the paths as stays within
  // one view's width of it (a diverging path is cut at the frame).
  auto [x_lo, x_hi, y_lo, y_hi] = function.view;
  const double x_span = x_hi - x_lo;
  const double y_span = y_hi - y_lo;
  for (const auto& path : paths) {
    for (const PathPoint& point : path) {
      if (!std::isfinite(point.x) || !std::isfinite(point.y)) continue;
      x_lo = std::max(std::min(x_lo, point.x), function.view[0] - x_span);
      x_hi = std::min(std::max(x_hi, point.x), function.view[1] + x_span);
      y_lo = std::max(std::min(y_lo, point.y), function.view[2] - y_span);
      y_hi = std::min(std::max(y_hi, point.y), function.view[3] + y_span);
    }
  }
  std::vector<double> xs(grid), ys(grid);
  for (std::int64_t i = 0; i < grid; ++i) {
    xs[i] = x_lo + (x_hi - x_lo) * static_cast<double>(i) / static_cast<double>(grid - 1);
    ys[i] = y_lo + (y_hi - y_lo) * static_cast<double>(i) / static_cast<double>(grid - 1);
  }
  std::vector<std::vector<double>> z(grid, std::vector<double>(grid));  // z[i][j] at (xs[i], ys[j])
  double smallest_positive = INFINITY;
  for (std::int64_t i = 0; i < grid; ++i) {
    for (std::int64_t j = 0; j < grid; ++j) {
      z[i][j] = function.value(xs[i], ys[j]);
      if (z[i][j] > 0) smallest_positive = std::min(smallest_positive, z[i][j]);
    }
  }
  if (function.log_scale) {
    // The minimum itself (value 0) may lie on the grid: it takes the next smallest value's
    // colour rather than minus infinity.
    for (auto& row : z) {
      for (double& value : row) value = std::max(value, smallest_positive);
    }
  }
  report::ContourPlot plot(xs, ys, z,
                           {.title = cat(function.name, ": f = ", function.formula),
                            .x_label = "x",
                            .y_label = "y",
                            .value_label = "f(x, y)",
                            .log_values = function.log_scale,
                            .auto_levels = 12});
  for (std::size_t r = 0; r < racers.size(); ++r) {
    std::vector<double> px, py;
    for (const PathPoint& point : paths[r]) {
      px.push_back(point.x);
      py.push_back(point.y);
    }
    plot.add_path(racers[r].label, std::move(px), std::move(py));
  }
  plot.save(file);
}

int run_trace(const TraceArgs& args) {
  const landscape::TestFunction* function = nullptr;
  try {
    function = &landscape::test_function(args.function);
  } catch (const Error& e) {
    throw UsageError(cat("--function: ", e.what()));
  }
  const std::array<double, 2> start =
      args.start.empty() ? function->start : parse_start(args.start);
  if (args.steps <= 0) throw UsageError(cat("--steps: must be > 0, got ", args.steps));
  if (args.grid < 2 || args.grid > 1000) {
    throw UsageError(cat("--grid: must be in [2, 1000], got ", args.grid));
  }
  const std::vector<Racer> all = racers(args);
  std::vector<std::vector<PathPoint>> paths;
  for (const Racer& racer : all) paths.push_back(run_racer(racer, *function, start, args.steps));
  if (!args.plot.empty()) draw(args.plot, *function, all, paths, args.grid);

  const bool several = all.size() > 1;
  std::string out = several ? "optimizer,step,x,y,loss\n" : "step,x,y,loss\n";
  for (std::size_t r = 0; r < all.size(); ++r) {
    const std::string label = csv_field(all[r].label);
    for (std::size_t step = 0; step < paths[r].size(); ++step) {
      const PathPoint& point = paths[r][step];
      if (several) out += label + ",";
      out += cat(step, ",", exact(point.x), ",", exact(point.y), ",", exact(point.loss), "\n");
      if (out.size() > (1 << 16)) {
        std::fputs(out.c_str(), stdout);
        out.clear();
      }
    }
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

Command add_trace(CLI::App& app) {
  std::string functions;
  for (const landscape::TestFunction& f : landscape::test_functions()) {
    functions += cat("\n  ", f.name, ": f = ", f.formula, " (minimum at (", exact(f.minimum[0]),
                     ", ", exact(f.minimum[1]), "), default start ", exact(f.start[0]), ",",
                     exact(f.start[1]), ")");
  }
  CLI::App* sub = app.add_subcommand(
      "trace",
      "Run optimizers on a 2-D test function in f64 and print their paths as CSV "
      "(step,x,y,loss; step 0 is the start, then one row per update; with several optimizers "
      "an optimizer column comes first). --plot draws the paths on the function's contour "
      "plot.");
  auto args = std::make_shared<TraceArgs>();
  sub->add_option("--function", args->function, "the test function (see below)")
      ->capture_default_str();
  sub->add_option("--start", args->start, "the starting point X,Y (default: the function's)");
  sub->add_option("--steps", args->steps, "optimizer steps, > 0")->capture_default_str();
  std::string optimizers;
  for (const auto& [name, entry] : optim::optimizer_registry()) {
    optimizers += (optimizers.empty() ? "" : ", ") + name;
  }
  sub->add_option("--optimizer", args->optimizers,
                  "one of " + optimizers +
                      "; repeat the flag or list names (sgd,adam) to race several; "
                      "NAME:KEY=VALUE[:KEY=VALUE] gives one its own options "
                      "(sgd:momentum=0.9:nesterov=true) (default sgd)");
  sub->add_option("--lr", args->lr, "learning rate (default: each optimizer's PyTorch default)");
  sub->add_option("--momentum", args->momentum, "momentum (optimizers that have it)");
  sub->add_option("--weight-decay", args->weight_decay, "weight decay (optimizers that have it)");
  sub->add_option("--betas", args->betas, "B1,B2, each in [0, 1) (Adam and its kin)");
  sub->add_option("--eps", args->eps, "the denominator's epsilon, > 0");
  sub->add_flag("--nesterov", args->nesterov, "Nesterov momentum (sgd; needs --momentum > 0)");
  sub->add_flag("--amsgrad", args->amsgrad, "AMSGrad's running maximum (adam, adamw)");
  sub->add_option("--opt", args->opt,
                  "any other option as KEY=VALUE (repeatable), e.g. --opt alpha=0.9; shared "
                  "flags apply to every optimizer that has the option");
  sub->add_option("--plot", args->plot,
                  "draw the paths on the function's contour plot, as an SVG file");
  sub->add_option("--grid", args->grid, "with --plot: grid points per axis, in [2, 1000]")
      ->capture_default_str();
  sub->footer("Test functions:" + functions);
  return {sub, [args] { return run_trace(*args); }};
}

}  // namespace descent::cli
