#include "descent/experiment/depth.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "descent/core/error.hpp"
#include "descent/experiment/common.hpp"
#include "descent/landscape/directions.hpp"
#include "descent/report/html.hpp"
#include "descent/train/atomic_file.hpp"

namespace descent::experiment {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A deep ResNet's first steps can spike the loss well above a uniform guess's ln 10 (at lr
// 0.05 ResNet-56's passed 6.9 at step 3) and recover: only a loss beyond this, or a
// non-finite one, counts as divergence here.
constexpr double kDivergenceLoss = 100.0;

// The losses of a scan as the contour plot wants them: z[i][j] at (x_i, y_j).
std::vector<std::vector<double>> grid_of(const std::vector<landscape::ScanPoint>& scan,
                                         std::int64_t points) {
  const auto n = static_cast<std::size_t>(points);
  std::vector<std::vector<double>> z(n, std::vector<double>(n, kNaN));
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t i = 0; i < n; ++i) {
      const double loss = scan[j * n + i].loss;
      z[i][j] = std::isfinite(loss) && loss > 0 ? loss : kNaN;
    }
  }
  return z;
}

}  // namespace

void DepthOptions::validate() const {
  DESCENT_CHECK(!depths.empty() && depths.size() <= 6,
                "depth experiment: between 1 and 6 depths, got ", depths.size());
  for (const std::int64_t d : depths) {
    DESCENT_CHECK(d >= 8 && d <= 1202 && (d - 2) % 6 == 0,
                  "depth experiment: a depth must be 6n + 2 in [8, 1202] (20, 32, 44, 56, 110, "
                  "...), got ",
                  d);
  }
  DESCENT_CHECK(steps >= 1 && steps <= kMaxSteps, "depth experiment: steps must be in [1, ",
                kMaxSteps, "], got ", steps);
  DESCENT_CHECK(batch >= 1 && batch <= 4096, "depth experiment: batch must be in [1, 4096], got ",
                batch);
  DESCENT_CHECK(lr > 0 && std::isfinite(lr), "depth experiment: lr must be positive, got ", lr);
  DESCENT_CHECK(warmup_steps >= 1 && warmup_steps < steps,
                "depth experiment: warmup_steps must be in [1, steps), got ", warmup_steps, " for ",
                steps, " steps");
  DESCENT_CHECK(train_size >= 0 && test_size >= 0,
                "depth experiment: train_size and test_size must be >= 0, got ", train_size,
                " and ", test_size);
  DESCENT_CHECK(eval_size >= 1, "depth experiment: eval_size must be positive, got ", eval_size);
  DESCENT_CHECK(eval_every >= 1, "depth experiment: eval_every must be positive, got ", eval_every);
  DESCENT_CHECK(scan_points == 0 || (scan_points >= 2 && scan_points <= 51),
                "depth experiment: scan_points must be 0 (no scan) or in [2, 51], got ",
                scan_points);
  DESCENT_CHECK(scan_size >= 1, "depth experiment: scan_size must be positive, got ", scan_size);
  DESCENT_CHECK(scan_range > 0 && std::isfinite(scan_range),
                "depth experiment: scan_range must be positive, got ", scan_range);
}

std::string DepthRun::name() const {
  return cat(skip ? "resnet" : "plain", depth);
}

double DepthRun::final_train_error() const {
  return run.diverged || run.evals.empty() ? 1.0 : 1.0 - run.evals.back().train_accuracy;
}

std::string DepthRun::label() const {
  return cat(name(), ": ",
             run.diverged ? cat("diverged at step ", run.diverged_at)
                          : cat("train error ", number(100 * final_train_error(), 3), "%, test ",
                                number(100 * test_accuracy, 4), "%"),
             scan.empty() ? std::string() : cat(", scanned ", scan.size(), " points"), " (",
             number(run.seconds, 3), " s)");
}

std::vector<DepthRun> run_depth(const DepthOptions& options,
                                const std::function<void(const DepthRun&)>& on_run) {
  options.validate();
  if (options.threads > 0) set_num_threads(static_cast<int>(options.threads));
  const ImageData data = load_image_data(
      {.root = options.data_dir, .train_size = options.train_size, .test_size = options.test_size});
  DESCENT_CHECK(options.eval_size <= data.train.size() && options.scan_size <= data.train.size(),
                "depth experiment: eval_size ", options.eval_size, " and scan_size ",
                options.scan_size, " may not exceed the ", data.train.size(), " training examples");
  const landscape::EvalSet train_eval(data.train, {.size = options.eval_size});
  const landscape::EvalSet test_eval(data.test,
                                     {.size = std::min(options.eval_size, data.test.size())});
  const landscape::EvalSet test_all(data.test);
  const landscape::EvalSet scan_set(data.train, {.size = options.scan_size});
  const std::int64_t deepest = *std::max_element(options.depths.begin(), options.depths.end());
  std::vector<DepthRun> runs;
  for (const std::int64_t depth : options.depths) {
    for (const bool skip : {true, false}) {
      DepthRun r{.depth = depth, .skip = skip};
      r.run =
          train_classifier({.model = cat("resnet", depth, skip ? "" : ",skip=0"),
                            .optimizer = "sgd",
                            .optimizer_options = {{"momentum", "0.9"}, {"weight_decay", "1e-4"}},
                            .lr = options.lr,
                            .schedule = schedule::warmup(options.warmup_steps),
                            .steps = options.steps,
                            .batch = options.batch,
                            .seed = options.seed,
                            .eval_every = options.eval_every,
                            .divergence_loss = kDivergenceLoss},
                           data.train, train_eval, test_eval);
      if (!r.run.diverged) {
        r.test_accuracy = test_all.evaluate(*r.run.model).accuracy;
        if (depth == deepest && options.scan_points > 0) {
          // The same direction seeds for both twins: their layers have the same shapes.
          const landscape::Direction x = landscape::random_direction(*r.run.model, {.seed = 1});
          const landscape::Direction y = landscape::random_direction(*r.run.model, {.seed = 2});
          r.scan = landscape::scan_2d(*r.run.model, x, y, scan_set,
                                      {.range = options.scan_range, .points = options.scan_points});
        }
      }
      r.run.model.reset();
      runs.push_back(std::move(r));
      if (on_run) on_run(runs.back());
    }
  }
  return runs;
}

void write_depth_report(const std::vector<DepthRun>& runs, const DepthOptions& options,
                        const std::string& dir) {
  DESCENT_CHECK(!runs.empty(), "depth report: no runs");
  std::string csv =
      "network,depth,skip,steps,diverged_at,final_train_error,test_accuracy,seconds\n";
  std::string curves = "network,step,train_error,test_error\n";
  report::LinePlot error(
      {.title = cat("training error (first ", options.eval_size, " training images)"),
       .x_label = "step",
       .y_label = "training error",
       .log_y = true});
  report::LinePlot loss({.title = "training loss (running mean of 50 batches)",
                         .x_label = "step",
                         .y_label = "cross-entropy",
                         .log_y = true});
  std::vector<std::vector<std::string>> table;
  std::vector<std::pair<std::string, std::string>> scans;  // (name, CSV)
  std::vector<report::ContourPlot> maps;
  for (const DepthRun& r : runs) {
    csv += cat(r.name(), ",", r.depth, ",", r.skip ? 1 : 0, ",", r.run.loss.size(), ",",
               r.run.diverged_at, ",", number(r.final_train_error(), 6), ",",
               number(r.test_accuracy, 6), ",", number(r.run.seconds, 4), "\n");
    std::vector<double> steps;
    std::vector<double> errors;
    for (const EvalPoint& e : r.run.evals) {
      curves += cat(r.name(), ",", e.step, ",", number(1 - e.train_accuracy, 6), ",",
                    number(1 - e.test_accuracy, 6), "\n");
      steps.push_back(static_cast<double>(e.step));
      errors.push_back(1 - e.train_accuracy > 0 ? 1 - e.train_accuracy : kNaN);
    }
    error.add(r.name(), steps, errors);
    loss.add(r.name(), positive_or_gap(running_mean(r.run.loss, 50)));
    table.push_back({r.name(), std::to_string(r.depth), r.skip ? "yes" : "no",
                     r.run.diverged ? cat("diverged at step ", r.run.diverged_at)
                                    : cat(number(100 * r.final_train_error(), 3), "%"),
                     r.run.diverged ? "-" : cat(number(100 * r.test_accuracy, 4), "%")});
    if (r.scan.empty()) continue;
    std::string scan_csv = "x,y,loss,accuracy\n";
    for (const landscape::ScanPoint& p : r.scan) {
      scan_csv += cat(number(p.x, 6), ",", number(p.y, 6), ",", number(p.loss, 6), ",",
                      number(p.accuracy, 6), "\n");
    }
    scans.emplace_back(r.name(), scan_csv);
    const std::vector<double> axis =
        landscape::linspace(-options.scan_range, options.scan_range, options.scan_points);
    report::ContourPlot map(axis, axis, grid_of(r.scan, options.scan_points),
                            {.title = cat(r.name(), ": training loss around the trained weights"),
                             .x_label = "direction 1 (filter-normalized)",
                             .y_label = "direction 2 (filter-normalized)",
                             .value_label = "loss",
                             .log_values = true});
    map.add_path("trained weights", {0.0}, {0.0});
    maps.push_back(std::move(map));
  }
  // The degradation test: at each depth, the error of the plain net; across depths, whether
  // the deeper plain net trains worse and the deeper residual net does not.
  std::string finding;
  const auto find = [&](std::int64_t depth, bool skip) -> const DepthRun* {
    for (const DepthRun& r : runs) {
      if (r.depth == depth && r.skip == skip) return &r;
    }
    return nullptr;
  };
  const std::int64_t shallow = *std::min_element(options.depths.begin(), options.depths.end());
  const std::int64_t deep = *std::max_element(options.depths.begin(), options.depths.end());
  if (shallow != deep) {
    const DepthRun* plain_shallow = find(shallow, false);
    const DepthRun* plain_deep = find(deep, false);
    const DepthRun* res_shallow = find(shallow, true);
    const DepthRun* res_deep = find(deep, true);
    finding =
        cat("Final training error: plain-", shallow, " ",
            number(100 * plain_shallow->final_train_error(), 3), "%, plain-", deep, " ",
            number(100 * plain_deep->final_train_error(), 3), "%; ResNet-", shallow, " ",
            number(100 * res_shallow->final_train_error(), 3), "%, ResNet-", deep, " ",
            number(100 * res_deep->final_train_error(), 3), "%. ",
            plain_deep->final_train_error() > plain_shallow->final_train_error()
                ? cat("The deeper plain network trains worse than the shallower one: the "
                      "degradation problem shows in this run.")
                : cat("The deeper plain network does not train worse than the shallower one in "
                      "this run: the degradation problem does not show at this budget."),
            res_deep->final_train_error() <= plain_deep->final_train_error()
                ? cat(" With skip connections the ", deep,
                      "-layer network trains at least as well "
                      "as its plain twin.")
                : cat(" Here the ", deep,
                      "-layer plain network ends with a lower training error "
                      "than its residual twin."));
  }

  publish_folder(dir, "depth report", [&](const std::filesystem::path& folder) {
    train::write_file_atomic((folder / "runs.csv").string(), csv);
    train::write_file_atomic((folder / "curves.csv").string(), curves);
    for (const auto& [name, text] : scans) {
      train::write_file_atomic((folder / cat("scan_", name, ".csv")).string(), text);
    }
    error.save((folder / "train_error.svg").string());
    loss.save((folder / "loss.svg").string());
    for (std::size_t k = 0; k < maps.size(); ++k) {
      maps[k].save((folder / cat("landscape_", scans[k].first, ".svg")).string());
    }
    report::HtmlReport page("Depth: residual networks against their plain twins");
    page.paragraph(cat(
        "He et al.'s CIFAR ResNets (3x3 convolutions with 16, 32 and 64 channels, batch norm, "
        "option A shortcuts) at depths ",
        [&] {
          std::string text;
          for (const std::int64_t d : options.depths) text += cat(text.empty() ? "" : ", ", d);
          return text;
        }(),
        ", and their plain twins (the same layers, no shortcuts), trained on ",
        options.train_size == 0 ? std::string("all 60,000") : std::to_string(options.train_size),
        " Fashion-MNIST training images with SGD (momentum 0.9, weight decay 1e-4, lr ",
        number(options.lr), " after a linear warmup over ", options.warmup_steps, " steps), batch ",
        options.batch, ", ", options.steps, " steps, seed ", options.seed,
        ". Training error on the first ", options.eval_size, " training images every ",
        options.eval_every, " steps; test accuracy at the end."));
    if (!finding.empty()) page.paragraph(finding);
    page.table({"network", "depth", "skip connections", "final training error", "test accuracy"},
               table);
    page.figure(error,
                "Training error over steps (log scale). He et al.'s figure 1: a deeper plain "
                "network has the HIGHER training error; a deeper ResNet the lower.");
    page.figure(loss, "Training loss over steps.");
    if (!maps.empty()) {
      page.heading("Loss landscapes of the deepest pair");
      page.paragraph(
          cat("The training loss on the first ", options.scan_size,
              " training images (eval mode) "
              "at theta* + x d1 + y d2 over a ",
              options.scan_points, " x ", options.scan_points, " grid in [-",
              number(options.scan_range), ", ", number(options.scan_range),
              "]^2, with two random directions (seeds 1 and 2) filter-normalized to the trained "
              "weights theta* as Li et al. (2018) do (biases and BN parameters not moved). Colours "
              "and contour lines are on a log scale; the marker is the trained point. Li et al. "
              "report a nearly convex bowl for ResNet-56 and a chaotic, non-convex surface for its "
              "plain twin on CIFAR-10. Our networks are trained for a short budget and the grid is "
              "coarse, so read the shapes, not fine detail."));
      for (std::size_t k = 0; k < maps.size(); ++k) {
        page.figure(maps[k], cat(scans[k].first, ": loss around the trained weights."));
      }
    }
    page.save((folder / "report.html").string());
  });
}

}  // namespace descent::experiment
