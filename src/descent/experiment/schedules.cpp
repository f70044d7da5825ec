#include "descent/experiment/schedules.hpp"

#include <algorithm>
#include <cmath>

#include "descent/core/error.hpp"
#include "descent/experiment/common.hpp"
#include "descent/report/html.hpp"
#include "descent/train/atomic_file.hpp"

namespace descent::experiment {
namespace {

std::string joined_names() {
  std::string out;
  for (const std::string& name : schedule_names()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (const double v : values) sum += v;
  return values.empty() ? 0.0 : sum / static_cast<double>(values.size());
}

}  // namespace

std::vector<std::string> schedule_names() {
  return {"constant", "step", "exponential", "cosine", "warmup-cosine", "one-cycle"};
}

schedule::Schedule make_experiment_schedule(const std::string& name, std::int64_t steps) {
  DESCENT_CHECK(steps >= 3, "schedules experiment: needs at least 3 steps, got ", steps);
  if (name == "constant") return schedule::constant();
  if (name == "step") return schedule::step_decay(std::max<std::int64_t>(1, steps / 3), 0.1);
  if (name == "exponential") {
    return schedule::exponential(std::pow(0.01, 1.0 / static_cast<double>(steps)));
  }
  if (name == "cosine") return schedule::cosine(steps);
  if (name == "warmup-cosine") {
    const std::int64_t warmup = std::max<std::int64_t>(1, steps / 20);
    return schedule::warmup(warmup).then(schedule::cosine(steps - warmup), warmup);
  }
  if (name == "one-cycle") return schedule::one_cycle({.total_steps = steps});
  DESCENT_CHECK(false, "schedules experiment: unknown schedule '", name,
                "' (known: ", joined_names(), ")");
  return schedule::constant();  // not reached
}

void SchedulesOptions::validate() const {
  const std::vector<std::string> all = schedule_names();
  for (const std::string& name : names) {
    DESCENT_CHECK(std::find(all.begin(), all.end(), name) != all.end(),
                  "schedules experiment: unknown schedule '", name, "' (known: ", joined_names(),
                  ")");
  }
  DESCENT_CHECK(seeds >= 1 && seeds <= 100, "schedules experiment: seeds must be in [1, 100], got ",
                seeds);
  DESCENT_CHECK(steps >= 20 && steps <= kMaxSteps, "schedules experiment: steps must be in [20, ",
                kMaxSteps, "], got ", steps);
  DESCENT_CHECK(batch >= 1 && batch <= 4096,
                "schedules experiment: batch must be in [1, 4096], got ", batch);
  DESCENT_CHECK(lr > 0 && std::isfinite(lr), "schedules experiment: lr must be positive, got ", lr);
  DESCENT_CHECK(momentum >= 0 && momentum < 1,
                "schedules experiment: momentum must be in [0, 1), got ", momentum);
  DESCENT_CHECK(weight_decay >= 0, "schedules experiment: weight_decay must be >= 0, got ",
                weight_decay);
  DESCENT_CHECK(train_size >= 0 && test_size >= 0,
                "schedules experiment: train_size and test_size must be >= 0, got ", train_size,
                " and ", test_size);
  DESCENT_CHECK(eval_size >= 1, "schedules experiment: eval_size must be positive, got ",
                eval_size);
  DESCENT_CHECK(eval_every >= 1, "schedules experiment: eval_every must be positive, got ",
                eval_every);
}

std::string ScheduleRun::label() const {
  return cat(name, " seed ", seed, ": ",
             run.diverged ? cat("diverged at step ", run.diverged_at)
                          : cat("test ", number(100 * test_accuracy, 4), "%, last loss ",
                                number(running_mean(run.loss, 50).back(), 3)),
             " (", number(run.seconds, 3), " s)");
}

std::vector<ScheduleRun> run_schedules(const SchedulesOptions& options,
                                       const std::function<void(const ScheduleRun&)>& on_run) {
  options.validate();
  if (options.threads > 0) set_num_threads(static_cast<int>(options.threads));
  const ImageData data = load_image_data(
      {.root = options.data_dir, .train_size = options.train_size, .test_size = options.test_size});
  DESCENT_CHECK(options.eval_size <= std::min(data.train.size(), data.test.size()),
                "schedules experiment: eval_size ", options.eval_size,
                " exceeds the training or test examples (", data.train.size(), ", ",
                data.test.size(), ")");
  const landscape::EvalSet train_eval(data.train, {.size = options.eval_size});
  const landscape::EvalSet test_eval(data.test, {.size = options.eval_size});
  const landscape::EvalSet test_all(data.test);
  std::vector<ScheduleRun> runs;
  for (const std::string& name : options.names.empty() ? schedule_names() : options.names) {
    for (std::int64_t seed = 0; seed < options.seeds; ++seed) {
      ScheduleRun r{.name = name, .seed = seed};
      r.run = train_classifier(
          {.model = "cnn",
           .optimizer = "sgd",
           .optimizer_options = {{"momentum", cat(options.momentum)},
                                 {"weight_decay", cat(options.weight_decay)}},
           .lr = options.lr,
           .schedule = make_experiment_schedule(name, options.steps),
           .steps = options.steps,
           .batch = options.batch,
           .seed = static_cast<std::uint64_t>(seed),
           .eval_every = options.eval_every,
           .divergence_loss = 100.0},  // a spike at a warmup's or one-cycle's peak may recover
          data.train, train_eval, test_eval);
      if (!r.run.diverged) r.test_accuracy = test_all.evaluate(*r.run.model).accuracy;
      r.run.model.reset();
      runs.push_back(std::move(r));
      if (on_run) on_run(runs.back());
    }
  }
  return runs;
}

void write_schedules_report(const std::vector<ScheduleRun>& runs, const SchedulesOptions& options,
                            const std::string& dir) {
  DESCENT_CHECK(!runs.empty(), "schedules report: no runs");
  std::string csv = "schedule,seed,steps,diverged_at,test_accuracy,final_loss_mean50,seconds\n";
  std::string curves = "schedule,seed,step,lr,train_loss\n";
  report::LinePlot loss({.title = "training loss, seed 0 (running mean of 50 steps)",
                         .x_label = "step",
                         .y_label = "cross-entropy",
                         .log_y = true});
  report::LinePlot lrs({.title = "learning rate", .x_label = "step", .y_label = "lr"});
  report::LinePlot accuracy(
      {.title = "test accuracy during training, seed 0",
       .x_label = "step",
       .y_label = cat("accuracy (first ", options.eval_size, " test images)")});
  std::vector<std::string> names;
  for (const ScheduleRun& r : runs) {
    if (std::find(names.begin(), names.end(), r.name) == names.end()) names.push_back(r.name);
    const std::vector<double> smooth = running_mean(r.run.loss, 50);
    csv += cat(r.name, ",", r.seed, ",", r.run.loss.size(), ",", r.run.diverged_at, ",",
               number(r.test_accuracy, 6), ",", number(smooth.empty() ? 0.0 : smooth.back(), 6),
               ",", number(r.run.seconds, 4), "\n");
    for (std::size_t s = 0; s < r.run.loss.size(); ++s) {
      curves += cat(r.name, ",", r.seed, ",", s, ",", number(r.run.lr[s], 6), ",",
                    number(r.run.loss[s], 6), "\n");
    }
    if (r.seed != 0) continue;
    loss.add(r.name, positive_or_gap(smooth));
    lrs.add(r.name, r.run.lr);
    std::vector<double> steps;
    std::vector<double> values;
    for (const EvalPoint& e : r.run.evals) {
      steps.push_back(static_cast<double>(e.step));
      values.push_back(e.test_accuracy);
    }
    accuracy.add(r.name, steps, values);
  }
  std::vector<std::vector<std::string>> table;
  std::string best_name;
  double best_mean = -1;
  double constant_mean = -1;
  for (const std::string& name : names) {
    std::vector<double> accuracies;
    std::vector<double> final_losses;
    std::string each;
    std::int64_t diverged = 0;
    for (const ScheduleRun& r : runs) {
      if (r.name != name) continue;
      each += cat(each.empty() ? "" : ", ", number(100 * r.test_accuracy, 4), "%");
      if (r.run.diverged) {
        ++diverged;
        continue;
      }
      accuracies.push_back(r.test_accuracy);
      final_losses.push_back(running_mean(r.run.loss, 50).back());
    }
    const double m = mean(accuracies);
    if (m > best_mean) {
      best_mean = m;
      best_name = name;
    }
    if (name == "constant") constant_mean = m;
    table.push_back({name, make_experiment_schedule(name, options.steps).description(), each,
                     cat(number(100 * m, 4), "%"), number(mean(final_losses), 3),
                     std::to_string(diverged)});
  }
  std::string finding =
      cat("Best mean test accuracy: ", best_name, " (", number(100 * best_mean, 4), "%).");
  if (constant_mean >= 0) {
    finding += cat(" The constant learning rate reached ", number(100 * constant_mean, 4),
                   "%; the best schedule is ", number(100 * (best_mean - constant_mean), 2),
                   " points above it.");
  }
  finding += cat(" With ", options.seeds, options.seeds == 1 ? " seed" : " seeds",
                 ", differences of a few tenths of a point are within seed-to-seed noise.");

  publish_folder(dir, "schedules report", [&](const std::filesystem::path& folder) {
    train::write_file_atomic((folder / "runs.csv").string(), csv);
    train::write_file_atomic((folder / "curves.csv").string(), curves);
    loss.save((folder / "loss.svg").string());
    lrs.save((folder / "lr.svg").string());
    accuracy.save((folder / "accuracy.svg").string());
    report::HtmlReport page("Learning-rate schedules on the same model and budget");
    page.paragraph(cat(
        "The zoo's CNN with batch norm on Fashion-MNIST (",
        options.train_size == 0 ? std::string("all 60,000") : std::to_string(options.train_size),
        " training images), SGD with momentum ", number(options.momentum), " and weight decay ",
        number(options.weight_decay), ", batch ", options.batch, ", ", options.steps,
        " steps, base (peak) learning rate ", number(options.lr), ", ", options.seeds,
        options.seeds == 1 ? " seed" : " seeds",
        " (seed k: the same initial weights and batch order under every schedule). "
        "Step decays by 0.1 at a third and two thirds of the steps; exponential ends at a "
        "hundredth of the base rate; cosine anneals to 0; warmup + cosine first rises "
        "linearly over a twentieth of the steps; one-cycle is PyTorch's OneCycleLR with "
        "max_lr = the base rate. Test accuracy is measured once at the end on the test set."));
    page.paragraph(finding);
    page.table({"schedule", "as composed", "test accuracy per seed", "mean",
                "final training loss (mean of last 50 steps)", "diverged"},
               table);
    page.figure(loss, "Training loss under each schedule (seed 0).");
    page.figure(lrs, "The learning rate each schedule sets at each step.");
    page.figure(accuracy, "Test accuracy during training (seed 0).");
    page.heading("What this shows, and what it does not");
    page.paragraph(
        "Annealing the learning rate towards the end lets SGD settle into a lower part of "
        "the valley that a constant rate keeps bouncing across, which shows as a drop of the "
        "training loss when the rate falls (the step schedule's steps, the end of cosine). "
        "Which decaying schedule wins depends on the budget and the base rate; with one base "
        "rate for all, a schedule whose best base rate differs (one-cycle usually wants a "
        "higher peak) is at a disadvantage, and the run does not tune it.");
    page.save((folder / "report.html").string());
  });
}

}  // namespace descent::experiment
