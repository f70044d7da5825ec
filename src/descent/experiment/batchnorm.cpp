#include "descent/experiment/batchnorm.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "descent/core/error.hpp"
#include "descent/experiment/common.hpp"
#include "descent/landscape/hessian.hpp"
#include "descent/report/html.hpp"
#include "descent/train/atomic_file.hpp"

namespace descent::experiment {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string model_name(bool batch_norm) {
  return batch_norm ? "cnn" : "cnn,bn=0";
}
std::string arm_name(bool batch_norm) {
  return batch_norm ? "with BN" : "without BN";
}

}  // namespace

void BatchnormOptions::validate() const {
  DESCENT_CHECK(!lrs.empty() && lrs.size() <= 50,
                "batchnorm experiment: between 1 and 50 learning rates, got ", lrs.size());
  for (const double lr : lrs) {
    DESCENT_CHECK(lr > 0 && std::isfinite(lr),
                  "batchnorm experiment: learning rates must be positive, got ", lr);
  }
  DESCENT_CHECK(steps >= 1 && steps <= kMaxSteps, "batchnorm experiment: steps must be in [1, ",
                kMaxSteps, "], got ", steps);
  DESCENT_CHECK(batch >= 1 && batch <= 4096,
                "batchnorm experiment: batch must be in [1, 4096], got ", batch);
  DESCENT_CHECK(momentum >= 0 && momentum < 1,
                "batchnorm experiment: momentum must be in [0, 1), got ", momentum);
  DESCENT_CHECK(train_size >= 0 && test_size >= 0,
                "batchnorm experiment: train_size and test_size must be >= 0, got ", train_size,
                " and ", test_size);
  DESCENT_CHECK(eval_size >= 1, "batchnorm experiment: eval_size must be positive, got ",
                eval_size);
  DESCENT_CHECK(eval_every >= 1, "batchnorm experiment: eval_every must be positive, got ",
                eval_every);
  DESCENT_CHECK(
      target_accuracy > 0 && target_accuracy <= 1 && trained_accuracy > 0 && trained_accuracy <= 1,
      "batchnorm experiment: target_accuracy and trained_accuracy must be in (0, 1], "
      "got ",
      target_accuracy, " and ", trained_accuracy);
  DESCENT_CHECK(sharpness_size >= 1 && sharpness_iterations >= 1,
                "batchnorm experiment: sharpness_size and sharpness_iterations must be positive, "
                "got ",
                sharpness_size, " and ", sharpness_iterations);
}

std::string BatchnormRun::label() const {
  return cat(model_name(batch_norm), " lr ", number(lr), ": ",
             run.diverged
                 ? cat("diverged at step ", run.diverged_at)
                 : cat("test ", number(100 * test_accuracy, 3), "%",
                       run.steps_to_target >= 0 ? cat(", target at step ", run.steps_to_target)
                                                : std::string(", target not reached"),
                       ", sharpness ", number(sharpness, 3)),
             trained ? "" : " (did not train)", " (", number(run.seconds, 3), " s)");
}

std::vector<BatchnormRun> run_batchnorm(const BatchnormOptions& options,
                                        const std::function<void(const BatchnormRun&)>& on_run) {
  options.validate();
  if (options.threads > 0) set_num_threads(static_cast<int>(options.threads));
  const ImageData data = load_image_data(
      {.root = options.data_dir, .train_size = options.train_size, .test_size = options.test_size});
  DESCENT_CHECK(options.eval_size <= std::min(data.train.size(), data.test.size()),
                "batchnorm experiment: eval_size ", options.eval_size,
                " exceeds the training or test examples (", data.train.size(), ", ",
                data.test.size(), ")");
  DESCENT_CHECK(options.sharpness_size <= data.train.size(),
                "batchnorm experiment: sharpness_size ", options.sharpness_size, " exceeds the ",
                data.train.size(), " training examples");
  const landscape::EvalSet train_eval(data.train, {.size = options.eval_size});
  const landscape::EvalSet test_eval(data.test, {.size = options.eval_size});
  const landscape::EvalSet test_all(data.test);
  const landscape::EvalSet sharpness_set(data.train, {.size = options.sharpness_size});
  const landscape::GradientFn gradient = [&](nn::Module& m) { return sharpness_set.gradient(m); };

  std::vector<BatchnormRun> runs;
  for (const bool batch_norm : {true, false}) {
    for (const double lr : options.lrs) {
      BatchnormRun r{.batch_norm = batch_norm, .lr = lr};
      r.run = train_classifier({.model = model_name(batch_norm),
                                .optimizer = "sgd",
                                .optimizer_options = {{"momentum", cat(options.momentum)}},
                                .lr = lr,
                                .steps = options.steps,
                                .batch = options.batch,
                                .seed = options.seed,
                                .eval_every = options.eval_every,
                                .target_accuracy = options.target_accuracy},
                               data.train, train_eval, test_eval);
      r.sharpness = kNaN;
      if (!r.run.diverged) {
        r.test_accuracy = test_all.evaluate(*r.run.model).accuracy;
        const landscape::EigenResult top =
            landscape::top_hessian_eigenvalue(*r.run.model, gradient,
                                              {.max_iterations = options.sharpness_iterations,
                                               .tolerance = 1e-2,
                                               .seed = options.seed});
        r.sharpness = top.eigenvalue;
        r.sharpness_converged = top.converged;
      }
      r.trained = !r.run.diverged && r.test_accuracy >= options.trained_accuracy;
      r.run.model.reset();
      runs.push_back(std::move(r));
      if (on_run) on_run(runs.back());
    }
  }
  return runs;
}

double highest_trained_lr(const std::vector<BatchnormRun>& runs, bool batch_norm) {
  double best = 0;
  for (const BatchnormRun& r : runs) {
    if (r.batch_norm == batch_norm && r.trained) best = std::max(best, r.lr);
  }
  return best;
}

void write_batchnorm_report(const std::vector<BatchnormRun>& runs, const BatchnormOptions& options,
                            const std::string& dir) {
  DESCENT_CHECK(!runs.empty(), "batchnorm report: no runs");
  std::string csv =
      "batch_norm,lr,steps,diverged_at,trained,steps_to_target,test_accuracy,sharpness,"
      "sharpness_converged,seconds\n";
  std::string curves = "batch_norm,lr,step,train_loss\n";
  std::string evals = "batch_norm,lr,step,train_accuracy,test_accuracy\n";
  report::LinePlot accuracy({.title = "final test accuracy vs learning rate",
                             .x_label = "learning rate",
                             .y_label = "test accuracy",
                             .log_x = true});
  report::LinePlot sharpness({.title = "sharpness at the end of training",
                              .x_label = "learning rate",
                              .y_label = "top Hessian eigenvalue",
                              .log_x = true,
                              .log_y = true});
  report::LinePlot loss_bn({.title = "training loss, CNN with BN (running mean of 20 steps)",
                            .x_label = "step",
                            .y_label = "cross-entropy",
                            .log_y = true});
  report::LinePlot loss_plain({.title = "training loss, CNN without BN (running mean of 20 steps)",
                               .x_label = "step",
                               .y_label = "cross-entropy",
                               .log_y = true});
  std::vector<std::vector<std::string>> table;
  for (const bool batch_norm : {true, false}) {
    std::vector<double> lrs;
    std::vector<double> accuracies;
    std::vector<double> sharpnesses;
    for (const BatchnormRun& r : runs) {
      if (r.batch_norm != batch_norm) continue;
      const int bn = batch_norm ? 1 : 0;
      csv += cat(bn, ",", number(r.lr, 6), ",", r.run.loss.size(), ",", r.run.diverged_at, ",",
                 r.trained ? 1 : 0, ",", r.run.steps_to_target, ",", number(r.test_accuracy, 6),
                 ",", number(r.sharpness, 6), ",", r.sharpness_converged ? 1 : 0, ",",
                 number(r.run.seconds, 4), "\n");
      for (std::size_t s = 0; s < r.run.loss.size(); ++s) {
        curves += cat(bn, ",", number(r.lr, 6), ",", s, ",", number(r.run.loss[s], 6), "\n");
      }
      for (const EvalPoint& e : r.run.evals) {
        evals += cat(bn, ",", number(r.lr, 6), ",", e.step, ",", number(e.train_accuracy, 6), ",",
                     number(e.test_accuracy, 6), "\n");
      }
      lrs.push_back(r.lr);
      // A diverged run is drawn at chance (10%), as the caption says.
      accuracies.push_back(r.run.diverged ? 0.1 : r.test_accuracy);
      sharpnesses.push_back(r.sharpness > 0 ? r.sharpness : kNaN);
      (batch_norm ? loss_bn : loss_plain)
          .add(cat("lr ", number(r.lr)), positive_or_gap(running_mean(r.run.loss, 20)));
      table.push_back({arm_name(batch_norm), number(r.lr),
                       r.run.diverged ? cat("diverged at step ", r.run.diverged_at)
                                      : (r.trained ? "yes" : "no (below threshold)"),
                       r.run.steps_to_target >= 0 ? std::to_string(r.run.steps_to_target) : "-",
                       r.run.diverged ? "-" : cat(number(100 * r.test_accuracy, 4), "%"),
                       r.run.diverged ? "-"
                                      : cat(number(r.sharpness, 4),
                                            r.sharpness_converged ? "" : " (not converged)")});
    }
    accuracy.add(arm_name(batch_norm), lrs, accuracies);
    sharpness.add(arm_name(batch_norm), lrs, sharpnesses);
  }
  // The stability limit of gradient descent with heavy-ball momentum beta on a quadratic:
  // lambda_max < 2 (1 + beta) / lr.
  std::vector<double> lrs = options.lrs;
  std::sort(lrs.begin(), lrs.end());
  std::vector<double> limit;
  for (const double lr : lrs) limit.push_back(2 * (1 + options.momentum) / lr);
  sharpness.add("2 (1 + momentum) / lr", lrs, limit);

  const double bn_best = highest_trained_lr(runs, true);
  const double plain_best = highest_trained_lr(runs, false);
  std::string finding =
      cat("Highest learning rate of the sweep that trained: ",
          bn_best > 0 ? number(bn_best) : std::string("none"), " with BN, ",
          plain_best > 0 ? number(plain_best) : std::string("none"), " without. ");
  // Sharpness compared at the learning rates where both arms trained.
  std::int64_t sharper_without = 0;
  std::int64_t both = 0;
  for (const BatchnormRun& a : runs) {
    if (!a.batch_norm || !a.trained) continue;
    for (const BatchnormRun& b : runs) {
      if (b.batch_norm || !b.trained || b.lr != a.lr) continue;
      ++both;
      sharper_without += b.sharpness > a.sharpness ? 1 : 0;
    }
  }
  finding += both == 0 ? std::string(
                             "No learning rate trained in both arms, so sharpness is not "
                             "compared at equal learning rates.")
                       : cat("At the ", both,
                             " learning rates where both trained, the network without BN ended "
                             "sharper in ",
                             sharper_without, " of ", both, ".");

  publish_folder(dir, "batchnorm report", [&](const std::filesystem::path& folder) {
    train::write_file_atomic((folder / "runs.csv").string(), csv);
    train::write_file_atomic((folder / "curves.csv").string(), curves);
    train::write_file_atomic((folder / "evals.csv").string(), evals);
    accuracy.save((folder / "accuracy_vs_lr.svg").string());
    sharpness.save((folder / "sharpness_vs_lr.svg").string());
    loss_bn.save((folder / "loss_bn.svg").string());
    loss_plain.save((folder / "loss_no_bn.svg").string());

    report::HtmlReport page("Batch normalization: the CNN with and without BN over learning rates");
    page.paragraph(cat(
        "The zoo's CNN (two 3x3 convolutions with 32 and 64 channels, each followed by BN or "
        "not, ReLU and 2x2 max-pooling; a 128-unit hidden layer) trained on ",
        options.train_size == 0 ? std::string("all 60,000") : std::to_string(options.train_size),
        " Fashion-MNIST training images with SGD (momentum ", number(options.momentum),
        ", no weight decay, constant learning rate), batch ", options.batch, ", ", options.steps,
        " steps, seed ", options.seed,
        ". A run diverged when a batch loss was not finite or exceeded 3 ln 10; it trained "
        "when it did not diverge and reached ",
        number(100 * options.trained_accuracy), "% test accuracy (chance: 10%). Steps to ",
        number(100 * options.target_accuracy), "% are read on the first ", options.eval_size,
        " test images every ", options.eval_every,
        " steps; the final test accuracy on all test images used. Sharpness is the top "
        "eigenvalue of the Hessian of the loss on the first ",
        options.sharpness_size,
        " training images, in eval mode (BN on its running statistics), by ",
        options.sharpness_iterations,
        " Lanczos iterations at most on finite-difference Hessian-vector products (the largest "
        "eigenvalue; a value not converged to 1% is marked)."));
    page.paragraph(finding);
    page.table(
        {"model", "lr", "trained", cat("steps to ", number(100 * options.target_accuracy), "%"),
         "test accuracy", "sharpness"},
        table);
    page.figure(accuracy,
                "Final test accuracy at each learning rate; a diverged run is drawn at chance "
                "(10%).");
    page.figure(
        sharpness,
        "Top Hessian eigenvalue at the end of training (log-log). The line 2 (1 + momentum) "
        "/ lr is the largest curvature that SGD with heavy-ball momentum can stay stable in on a "
        "quadratic: a network trained at a high learning rate "
        "can only settle where the loss is at most this sharp.");
    page.figure(loss_bn, "Training loss with BN, one line per learning rate.");
    page.figure(loss_plain, "Training loss without BN; a line that stops is a run that diverged.");
    page.heading("What this shows, and what it does not");
    page.paragraph(
        "Ioffe & Szegedy (2015) report that batch normalization lets a network train at much "
        "higher learning rates; Santurkar et al. (2018) argue that it does so by making the "
        "loss landscape smoother (smaller gradient changes, a better-behaved Hessian), not by "
        "reducing internal covariate shift. The table above tests the first claim directly on "
        "this sweep. The sharpness column is a weaker test of the second: one seed, one "
        "subset, measured at the end point of each run, where the learning rate itself bounds "
        "the sharpness a stable run can sit at (the line 2 (1 + momentum) / lr), so compare the "
        "two arms at "
        "equal learning rates, not across them. Without BN this CNN has only a few layers, so "
        "the gap between the arms is smaller than in the deep networks of the papers.");
    page.save((folder / "report.html").string());
  });
}

}  // namespace descent::experiment
