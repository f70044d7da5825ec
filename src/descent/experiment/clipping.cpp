#include "descent/experiment/clipping.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "descent/autograd/autograd.hpp"
#include "descent/clip/clip.hpp"
#include "descent/data/sequence_tasks.hpp"
#include "descent/experiment/common.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/loss.hpp"
#include "descent/optim/sgd.hpp"
#include "descent/report/html.hpp"
#include "descent/train/atomic_file.hpp"

namespace descent::experiment {
namespace {

constexpr double kWrong = 0.04;  // a test sequence is wrong when (y - t)^2 exceeds this

// Seeds of the data streams, apart from the weights' seed: training batch s of run seed k
// uses the adding problem's seed kTrainSeed + k * 1e6 + s.
constexpr std::uint64_t kTrainSeed = 1'000'000'000;
constexpr std::uint64_t kTestSeed = 7'000'000'000;

struct TestResult {
  double mse;
  double error;
};

TestResult evaluate(nn::Module& model, const data::TensorDataset& test) {
  autograd::NoGradGuard no_grad;
  const std::vector<double> y = model.forward(test.inputs()).to_vector();
  const std::vector<double> t = test.targets().to_vector();
  double sum = 0;
  std::int64_t wrong = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double e = (y[i] - t[i]) * (y[i] - t[i]);
    sum += e;
    wrong += !(e <= kWrong);  // NaN counts as wrong
  }
  const auto n = static_cast<double>(y.size());
  return {sum / n, static_cast<double>(wrong) / n};
}

ClippingRun train_one(const ClippingOptions& options, const std::string& cell, std::int64_t length,
                      std::int64_t seed, bool clipped) {
  const auto start = std::chrono::steady_clock::now();
  ClippingRun run{.cell = cell, .length = length, .seed = seed, .clipped = clipped};
  Generator gen(static_cast<std::uint64_t>(seed));
  auto model = nn::build_model(
      nn::ModelSpec::parse(cat(cell, ":", options.hidden, ",input=", length, "x2")), gen);
  const std::vector<Tensor> params = model->parameters();
  optim::SGD sgd(params, {.lr = options.lr, .momentum = options.momentum});
  for (std::int64_t step = 0; step < options.steps; ++step) {
    const data::TensorDataset batch =
        data::make_adding({.samples = options.batch,
                           .length = length,
                           .seed = kTrainSeed + static_cast<std::uint64_t>(seed) * 1'000'000 +
                                   static_cast<std::uint64_t>(step)});
    model->zero_grad();
    const Tensor loss = ops::mse_loss(model->forward(batch.inputs()), batch.targets());
    loss.backward();
    const double value = loss.item();
    const double norm = clip::grad_norm(params);
    run.loss.push_back(value);
    run.grad_norm.push_back(norm);
    if (!std::isfinite(value) || !std::isfinite(norm)) {
      run.diverged = true;
      run.diverged_at = step;
      break;
    }
    run.max_grad_norm = std::max(run.max_grad_norm, norm);
    if (clipped) clip::clip_grad_norm_(params, options.max_norm);
    sgd.step();
  }
  if (run.diverged) {
    run.test_mse = std::numeric_limits<double>::quiet_NaN();
    run.test_error = 1.0;
  } else {
    const data::TensorDataset test =
        data::make_adding({.samples = options.test_size,
                           .length = length,
                           .seed = kTestSeed + static_cast<std::uint64_t>(seed)});
    const TestResult result = evaluate(*model, test);
    run.test_mse = result.mse;
    run.test_error = result.error;
  }
  run.success = !run.diverged && run.test_error < options.success_error;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

double median(std::vector<double> values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace

void ClippingOptions::validate() const {
  DESCENT_CHECK(!lengths.empty(), "clipping experiment: no sequence lengths");
  for (const std::int64_t T : lengths) {
    DESCENT_CHECK(T >= 2 && T <= 10000,
                  "clipping experiment: sequence length must be in [2, 10000], got ", T);
  }
  DESCENT_CHECK(seeds >= 1 && seeds <= 1000,
                "clipping experiment: seeds must be in [1, 1000], got ", seeds);
  DESCENT_CHECK(steps >= 1, "clipping experiment: steps must be positive, got ", steps);
  DESCENT_CHECK(batch >= 1, "clipping experiment: batch must be positive, got ", batch);
  DESCENT_CHECK(hidden >= 1, "clipping experiment: hidden must be positive, got ", hidden);
  DESCENT_CHECK(lr > 0 && std::isfinite(lr), "clipping experiment: lr must be positive, got ", lr);
  DESCENT_CHECK(momentum >= 0 && momentum < 1,
                "clipping experiment: momentum must be in [0, 1), got ", momentum);
  DESCENT_CHECK(max_norm > 0, "clipping experiment: the clipping threshold must be positive, got ",
                max_norm);
  DESCENT_CHECK(test_size >= 1, "clipping experiment: test_size must be positive, got ", test_size);
  DESCENT_CHECK(success_error > 0 && success_error <= 1,
                "clipping experiment: success_error must be in (0, 1], got ", success_error);
}

std::string ClippingRun::label() const {
  return cat(cell, " T=", length, " seed ", seed, clipped ? " clipped" : " unclipped", ": ",
             diverged
                 ? cat("diverged at step ", diverged_at)
                 : cat("test mse ", number(test_mse), ", error ", number(100 * test_error, 3), "%"),
             ", max grad norm ", number(max_grad_norm), " (", number(seconds, 3), " s)");
}

std::vector<ClippingRun> run_clipping(const ClippingOptions& options,
                                      const std::function<void(const ClippingRun&)>& on_run) {
  options.validate();
  if (options.threads > 0) set_num_threads(static_cast<int>(options.threads));
  std::vector<ClippingRun> runs;
  for (const char* cell : {"rnn", "lstm"}) {
    for (const std::int64_t T : options.lengths) {
      for (const bool clipped : {false, true}) {
        for (std::int64_t seed = 0; seed < options.seeds; ++seed) {
          runs.push_back(train_one(options, cell, T, seed, clipped));
          if (on_run) on_run(runs.back());
        }
      }
    }
  }
  return runs;
}

std::vector<ClippingSummary> summarize_clipping(const std::vector<ClippingRun>& runs) {
  std::vector<ClippingSummary> rows;
  for (const ClippingRun& run : runs) {
    auto row = std::find_if(rows.begin(), rows.end(), [&](const ClippingSummary& s) {
      return s.cell == run.cell && s.length == run.length && s.clipped == run.clipped;
    });
    if (row == rows.end()) {
      rows.push_back({.cell = run.cell, .length = run.length, .clipped = run.clipped});
      row = rows.end() - 1;
    }
    ++row->runs;
    row->diverged += run.diverged ? 1 : 0;
    row->success_rate += run.success ? 1 : 0;
    row->max_grad_norm = std::max(row->max_grad_norm, run.max_grad_norm);
  }
  for (ClippingSummary& row : rows) {
    std::vector<double> mses;
    for (const ClippingRun& run : runs) {
      if (run.cell == row.cell && run.length == row.length && run.clipped == row.clipped &&
          !run.diverged) {
        mses.push_back(run.test_mse);
      }
    }
    row.median_test_mse = median(mses);
    row.success_rate /= static_cast<double>(row.runs);
  }
  return rows;
}

void write_clipping_report(const std::vector<ClippingRun>& runs, const ClippingOptions& options,
                           const std::string& dir) {
  DESCENT_CHECK(!runs.empty(), "clipping report: no runs");
  // Published whole: a rerun into the same folder never leaves a mix of two runs.
  publish_folder(dir, "clipping report", [&](const std::filesystem::path& folder) {
    std::string csv =
        "cell,T,seed,clipped,steps,diverged_at,test_mse,test_error,max_grad_norm,seconds\n";
    for (const ClippingRun& r : runs) {
      csv += cat(r.cell, ",", r.length, ",", r.seed, ",", r.clipped ? 1 : 0, ",", r.loss.size(),
                 ",", r.diverged_at, ",", number(r.test_mse, 6), ",", number(r.test_error, 6), ",",
                 number(r.max_grad_norm, 6), ",", number(r.seconds, 4), "\n");
    }
    train::write_file_atomic((folder / "runs.csv").string(), csv);

    const std::vector<ClippingSummary> summary = summarize_clipping(runs);
    std::string summary_csv =
        "cell,T,clipped,runs,median_test_mse,success_rate,diverged,max_grad_norm\n";
    std::vector<std::vector<std::string>> table;
    for (const ClippingSummary& s : summary) {
      summary_csv += cat(s.cell, ",", s.length, ",", s.clipped ? 1 : 0, ",", s.runs, ",",
                         number(s.median_test_mse, 6), ",", number(s.success_rate, 4), ",",
                         s.diverged, ",", number(s.max_grad_norm, 6), "\n");
      table.push_back({s.cell, std::to_string(s.length), s.clipped ? "yes" : "no",
                       std::to_string(s.runs), number(s.median_test_mse, 3),
                       cat(number(100 * s.success_rate, 3), "%"), std::to_string(s.diverged),
                       number(s.max_grad_norm, 3)});
    }
    train::write_file_atomic((folder / "summary.csv").string(), summary_csv);

    // The curves of the first seed at the longest T.
    const std::int64_t longest = *std::max_element(options.lengths.begin(), options.lengths.end());
    report::LinePlot norms(
        {.title = cat("gradient norm before clipping, T = ", longest, ", seed 0"),
         .x_label = "step",
         .y_label = "global L2 norm",
         .log_y = true});
    report::LinePlot losses({.title = cat("training loss (MSE), T = ", longest, ", seed 0"),
                             .x_label = "step",
                             .y_label = "MSE",
                             .log_y = true});
    for (const ClippingRun& r : runs) {
      if (r.length != longest || r.seed != 0) continue;
      const std::string name = cat(r.cell, r.clipped ? ", clipped" : ", not clipped");
      norms.add(name, positive_or_gap(r.grad_norm));
      losses.add(name, positive_or_gap(r.loss));
    }
    norms.save((folder / "grad_norm.svg").string());
    losses.save((folder / "loss.svg").string());

    report::HtmlReport page("Exploding gradients and clipping: RNN and LSTM on the adding problem");
    page.paragraph(cat(
        "A vanilla RNN (tanh) and an LSTM, ", options.hidden,
        " hidden units, read at the last "
        "step by a linear layer, trained on the adding problem (Hochreiter & Schmidhuber 1997) "
        "with SGD (lr ",
        number(options.lr), ", momentum ", number(options.momentum), "), batch ", options.batch,
        ", ", options.steps, " steps, ", options.seeds,
        " seeds per setting; "
        "clipping rescales the gradient to a global L2 norm of at most ",
        number(options.max_norm),
        " (Pascanu, Mikolov & Bengio 2013). A test sequence is wrong "
        "when (y - target)^2 > 0.04, as in Pascanu et al.'s code; a run succeeds when fewer than ",
        number(100 * options.success_error), "% of ", options.test_size,
        " test sequences are wrong. Predicting 1 always gives an MSE of 1/6 = 0.167."));
    page.table({"cell", "T", "clipped", "runs", "median test MSE", "success rate", "diverged",
                "max grad norm"},
               table);
    page.figure(norms,
                "Gradient norm before clipping at every step. Spikes of several orders of "
                "magnitude are exploding gradients; a line that stops is a run whose loss or "
                "gradient became NaN or Inf.");
    page.figure(losses, "Training loss at every step (log scale).");
    page.save((folder / "report.html").string());
  });
}

}  // namespace descent::experiment
