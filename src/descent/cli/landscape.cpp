// `descent landscape`: loss along lines and planes in weight space, and the curvature at a
// checkpoint, as CSV (stdout or --out).
//
//   descent landscape interp --from init.safetensors --to last.safetensors [--points 21]
//   descent landscape scan1d --checkpoint last.safetensors [--points 21 --range 1.0]
//   descent landscape scan2d --checkpoint last.safetensors --grid 21 --range 1.0 --subset 512
//   descent landscape sharpness --checkpoint last.safetensors [--iterations 20 --samples 20]
//
// The model and data come from the checkpoint's run configuration (as `descent eval`); every
// point is evaluated on the same first --subset examples of --split, in eval mode.
#include "descent/landscape/landscape.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "descent/cli/commands.hpp"
#include "descent/cli/config.hpp"
#include "descent/cli/setup.hpp"
#include "descent/report/svg.hpp"
#include "descent/train/atomic_file.hpp"
#include "descent/train/checkpoint.hpp"

namespace descent::cli {
namespace {

// Flags every mode shares.
struct CommonArgs {
  std::string data_dir;
  std::string split = "test";
  std::int64_t subset = 512;
  std::int64_t batch_size = 500;
  std::int64_t threads = 0;
  std::string out;
  std::string plot;
  // --subset of each mode (the modes share these arguments), to tell the default from a value
  std::vector<CLI::Option*> subset_options;
};

void add_common(CLI::App& app, CommonArgs& args) {
  args.subset_options.push_back(
      app.add_option(
             "--subset", args.subset,
             "evaluate on the first N examples of the split (0: all; the default 512 is cut "
             "to the split's size); the same N for every point")
          ->capture_default_str()
          ->check(CLI::NonNegativeNumber));
  app.add_option("--split", args.split, "test or train: the data the subset comes from")
      ->capture_default_str()
      ->check(CLI::IsMember({"test", "train"}));
  app.add_option("--data-dir", args.data_dir, "Fashion-MNIST folder (default: the checkpoint's)");
  app.add_option("--batch-size", args.batch_size, "examples per forward pass (memory only)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", args.threads, "threads (0: OpenMP's default)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--out", args.out, "write the CSV to this file (default: stdout)");
}

void add_plot(CLI::App& app, CommonArgs& args, const char* what) {
  app.add_option("--plot", args.plot, cat("also draw ", what, " as an SVG file"));
}

// Loss against the coordinate, for interp and scan1d.
void plot_line(const std::vector<landscape::ScanPoint>& points, const std::string& title,
               const char* x_label, const std::string& path) {
  std::vector<double> x, loss;
  for (const landscape::ScanPoint& p : points) {
    x.push_back(p.x);
    loss.push_back(p.loss);
  }
  report::LinePlot plot({.title = title, .x_label = x_label, .y_label = "loss"});
  plot.add("loss", std::move(x), std::move(loss));
  plot.save(path);
}

// The loss over the plane as a heat map with contour lines (of log10 loss when every loss is
// positive, as cross-entropy is: the basin's shape then shows at every scale).
void plot_plane(const std::vector<landscape::ScanPoint>& points, std::int64_t n,
                const std::string& title, const std::string& path) {
  std::vector<double> coordinates;
  for (std::int64_t i = 0; i < n; ++i) coordinates.push_back(points[i].x);
  // points are y-major (index j * n + i); the plot wants z[i][j] at (x[i], y[j]).
  std::vector<std::vector<double>> z(n, std::vector<double>(n));
  bool positive = true;
  for (std::int64_t j = 0; j < n; ++j) {
    for (std::int64_t i = 0; i < n; ++i) {
      const double loss = points[j * n + i].loss;
      z[i][j] = loss;
      if (std::isfinite(loss) && loss <= 0) positive = false;
    }
  }
  report::ContourPlot plot(coordinates, coordinates, std::move(z),
                           {.title = title,
                            .x_label = "direction 1",
                            .y_label = "direction 2",
                            .value_label = "loss",
                            .log_values = positive});
  plot.add_path("checkpoint", {0.0}, {0.0});
  plot.save(path);
}

// The configuration of the run that wrote `checkpoint` (as `descent eval` reads it).
RunConfig checkpoint_config(const train::Checkpoint& checkpoint, Origins& origins) {
  RunConfig config;
  apply_checkpoint_config(checkpoint, config, origins);
  return config;
}

// The model of the checkpoint's run with its weights, and the fixed subset.
struct Setup {
  std::shared_ptr<nn::Module> model;
  std::optional<landscape::EvalSet> subset;
  std::string description;
};

Setup prepare(const train::Checkpoint& checkpoint, const CommonArgs& args) {
  if (args.threads > 0) set_num_threads(static_cast<int>(args.threads));
  Origins origins;
  RunConfig config = checkpoint_config(checkpoint, origins);
  if (!args.data_dir.empty()) config.data_dir = args.data_dir;
  config.augment = false;
  config.train_size = 0;
  config.test_size = 0;
  config.val_split = 0.0;
  check_data_spec(config.data, origin_of(origins, "data"));
  const RunData data = load_data(config, origins);
  require_classification(data, config, origins, "landscape");
  Setup out;
  out.model = build_model(config, origins, *data.train, data.classes);
  train::restore(checkpoint, *out.model);  // names the file when it holds another model
  const data::TensorDataset& set = args.split == "test" ? *data.test : *data.train;
  std::int64_t subset = args.subset;
  const bool given = std::any_of(args.subset_options.begin(), args.subset_options.end(),
                                 [](const CLI::Option* option) { return option->count() > 0; });
  if (!given) subset = std::min(subset, set.size());
  if (subset > set.size()) {
    throw UsageError(cat("--subset ", args.subset, ": the ", args.split, " split of ", config.data,
                         " has only ", set.size(), " examples"));
  }
  out.subset.emplace(
      set, landscape::EvalSetOptions{
               .size = subset, .batch_size = args.batch_size, .transforms = data.eval_transforms});
  out.description = cat(config.model, " on the first ", out.subset->size(), " ", args.split,
                        " examples of ", config.data);
  return out;
}

// Progress on stderr when it is a terminal: "\rscan2d: 120/441 points".
landscape::Progress progress(const char* what) {
  if (::isatty(STDERR_FILENO) == 0) return nullptr;
  return [what](std::int64_t done, std::int64_t total) {
    std::fprintf(stderr, "\r%s: %lld/%lld points", what, static_cast<long long>(done),
                 static_cast<long long>(total));
    if (done == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", value);
  return buffer;
}

void emit(const std::string& csv, const CommonArgs& args) {
  if (args.out.empty()) {
    std::fputs(csv.c_str(), stdout);
  } else {
    train::write_file_atomic(args.out, csv);
  }
}

std::string points_csv(const std::vector<landscape::ScanPoint>& points, const char* x_name,
                       bool two_d) {
  std::string csv = cat(x_name, two_d ? ",y" : "", ",loss,accuracy\n");
  for (const landscape::ScanPoint& p : points) {
    csv += number(p.x);
    if (two_d) csv += "," + number(p.y);
    csv += cat(",", number(p.loss), ",", number(p.accuracy), "\n");
  }
  return csv;
}

void check_points(std::int64_t points, const char* flag) {
  if (points < 2 || points > landscape::kMaxGridPoints) {
    throw UsageError(cat(flag, ": must be in [2, ", landscape::kMaxGridPoints, "], got ", points));
  }
}

landscape::Normalization parse_normalization(const std::string& text) {
  if (text == "filter") return landscape::Normalization::filter;
  if (text == "layer") return landscape::Normalization::layer;
  return landscape::Normalization::none;
}

}  // namespace

Command add_landscape(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "landscape",
      "Loss landscapes of a checkpoint: interp (between two checkpoints), scan1d and scan2d "
      "(along filter-normalized random directions, Li et al. 2018), sharpness (top Hessian "
      "eigenvalue and trace). Writes CSV.");
  sub->require_subcommand(1);

  struct Args {
    CommonArgs common;
    std::string from, to, checkpoint;
    std::int64_t points = 21;
    double alpha_min = 0.0, alpha_max = 1.0;
    double range = 1.0;
    std::uint64_t seed = 0;
    std::string normalization = "filter";
    std::int64_t iterations = 20;
    double tolerance = 1e-3;
    std::int64_t samples = 20;
    double step = 0.0;
    bool f64 = false;
  };
  auto args = std::make_shared<Args>();

  CLI::App* interp = sub->add_subcommand(
      "interp",
      "Loss and accuracy along theta(alpha) = (1 - alpha) from + alpha to (Goodfellow et al. "
      "2015); batch norm's running statistics are interpolated too. CSV: alpha,loss,accuracy");
  interp->add_option("--from", args->from, "checkpoint at alpha = 0")->required();
  interp->add_option("--to", args->to, "checkpoint at alpha = 1 (of the same model)")->required();
  interp->add_option("--points", args->points, "values of alpha")->capture_default_str();
  interp->add_option("--alpha-min", args->alpha_min, "first alpha")->capture_default_str();
  interp->add_option("--alpha-max", args->alpha_max, "last alpha")->capture_default_str();
  add_common(*interp, args->common);
  add_plot(*interp, args->common, "the loss against alpha");

  CLI::App* scan1d = sub->add_subcommand(
      "scan1d",
      "Loss along theta + x d for x in [-range, range], d a filter-normalized random direction. "
      "CSV: x,loss,accuracy");
  CLI::App* scan2d = sub->add_subcommand(
      "scan2d",
      "Loss over theta + x d1 + y d2 on a grid x grid plane of two filter-normalized random "
      "directions (Li et al. 2018). CSV: x,y,loss,accuracy (rows y-major)");
  for (CLI::App* scan : {scan1d, scan2d}) {
    scan->add_option("--checkpoint", args->checkpoint, "the weights theta at the centre")
        ->required();
    scan->add_option(scan == scan1d ? "--points" : "--grid", args->points,
                     scan == scan1d ? "points along the line" : "points per axis")
        ->capture_default_str();
    scan->add_option("--range", args->range, "coordinates in [-range, range]")
        ->capture_default_str();
    scan->add_option("--seed", args->seed, "seed of the directions")->capture_default_str();
    scan->add_option("--norm", args->normalization,
                     "direction normalization: filter (Li et al.), layer or none")
        ->capture_default_str()
        ->check(CLI::IsMember({"filter", "layer", "none"}));
    add_common(*scan, args->common);
    add_plot(*scan, args->common,
             scan == scan1d ? "the loss against x" : "the loss as a heat map with contours");
  }

  CLI::App* sharpness = sub->add_subcommand(
      "sharpness",
      "Largest Hessian eigenvalue, the sharpness (Lanczos; the smallest is reported too), and "
      "Hessian trace (Hutchinson) of the subset's loss at a checkpoint, from finite "
      "differences of gradients. CSV, one row.");
  sharpness->add_option("--checkpoint", args->checkpoint, "the weights")->required();
  sharpness
      ->add_option("--iterations", args->iterations,
                   "Lanczos iterations (Hessian-vector products) at most; each keeps one vector "
                   "of the parameters' size")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sharpness
      ->add_option("--tolerance", args->tolerance,
                   "stop when the eigenvalue changes by less than this, relatively")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sharpness->add_option("--samples", args->samples, "Rademacher vectors for the trace")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sharpness
      ->add_option("--step", args->step,
                   "finite-difference step h (0: sqrt(eps): 3.5e-4 in f32, 1.5e-8 in f64)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sharpness->add_option("--seed", args->seed, "seed of the random vectors")->capture_default_str();
  sharpness->add_flag(
      "--f64", args->f64,
      "compute in double precision (slower; the rounding term sqrt(eps) ||g|| drops from "
      "3.5e-4 ||g|| to 1.5e-8 ||g||)");
  add_common(*sharpness, args->common);

  return {
      sub, [args, interp, scan1d, scan2d, sharpness] {
        const CommonArgs& common = args->common;
        if (interp->parsed()) {
          check_points(args->points, "--points");
          if (!(args->alpha_min < args->alpha_max)) {
            throw UsageError(cat("--alpha-min ", args->alpha_min, " must be below --alpha-max ",
                                 args->alpha_max));
          }
          const train::Checkpoint from = train::load_checkpoint(args->from);
          const train::Checkpoint to = train::load_checkpoint(args->to);
          Setup setup = prepare(from, common);
          landscape::check_state_dict(*setup.model, to.model, cat("--to ", args->to));
          std::fprintf(stderr, "descent landscape interp: %s\n", setup.description.c_str());
          const auto points =
              landscape::interpolate(*setup.model, from.model, to.model, *setup.subset,
                                     {.from = args->alpha_min,
                                      .to = args->alpha_max,
                                      .points = args->points,
                                      .progress = progress("interp")});
          emit(points_csv(points, "alpha", false), common);
          if (!common.plot.empty()) {
            plot_line(points, cat("loss from ", args->from, " to ", args->to), "alpha",
                      common.plot);
          }
          return 0;
        }
        if (scan1d->parsed() || scan2d->parsed()) {
          const bool two_d = scan2d->parsed();
          check_points(args->points, two_d ? "--grid" : "--points");
          if (!(args->range > 0 && std::isfinite(args->range))) {
            throw UsageError(cat("--range: must be > 0, got ", args->range));
          }
          const train::Checkpoint checkpoint = train::load_checkpoint(args->checkpoint);
          Setup setup = prepare(checkpoint, common);
          std::fprintf(stderr, "descent landscape %s: %s\n", two_d ? "scan2d" : "scan1d",
                       setup.description.c_str());
          const landscape::Normalization normalization = parse_normalization(args->normalization);
          const landscape::Direction x = landscape::random_direction(
              *setup.model, {.normalization = normalization, .seed = args->seed});
          const landscape::ScanOptions options{.range = args->range,
                                               .points = args->points,
                                               .progress = progress(two_d ? "scan2d" : "scan1d")};
          std::vector<landscape::ScanPoint> points;
          if (two_d) {
            const landscape::Direction y = landscape::random_direction(
                *setup.model, {.normalization = normalization, .seed = args->seed + 1});
            points = landscape::scan_2d(*setup.model, x, y, *setup.subset, options);
          } else {
            points = landscape::scan_1d(*setup.model, x, *setup.subset, options);
          }
          emit(points_csv(points, "x", two_d), common);
          if (!common.plot.empty()) {
            const std::string title = cat("loss around ", args->checkpoint, " (",
                                          args->normalization, "-normalized directions)");
            if (two_d) {
              plot_plane(points, args->points, title, common.plot);
            } else {
              plot_line(points, title, "x", common.plot);
            }
          }
          return 0;
        }
        // sharpness
        const train::Checkpoint checkpoint = train::load_checkpoint(args->checkpoint);
        Setup setup = prepare(checkpoint, common);
        if (args->f64) setup.model->to(DType::f64);
        std::fprintf(stderr, "descent landscape sharpness: %s\n", setup.description.c_str());
        const landscape::Metrics metrics = setup.subset->evaluate(*setup.model);
        const landscape::EvalSet& subset = *setup.subset;
        const landscape::GradientFn gradient = [&subset](nn::Module& m) {
          return subset.gradient(m);
        };
        const landscape::HessianOptions options{.step = args->step,
                                                .max_iterations = args->iterations,
                                                .tolerance = args->tolerance,
                                                .samples = args->samples,
                                                .seed = args->seed};
        const landscape::EigenResult top =
            landscape::top_hessian_eigenvalue(*setup.model, gradient, options);
        const landscape::TraceResult trace =
            landscape::hessian_trace(*setup.model, gradient, options);
        std::string csv =
            "top_eigenvalue,iterations,converged,trace,trace_standard_error,samples,step,"
            "loss,accuracy,subset,smallest_eigenvalue\n";
        csv +=
            cat(number(top.eigenvalue), ",", top.iterations, ",", top.converged ? "true" : "false",
                ",", number(trace.trace), ",", number(trace.standard_error), ",", trace.samples,
                ",", number(top.step), ",", number(metrics.loss), ",", number(metrics.accuracy),
                ",", subset.size(), ",", number(top.smallest), "\n");
        emit(csv, common);
        return 0;
      }};
}

}  // namespace descent::cli
