#include "descent/experiment/precision.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "descent/core/error.hpp"
#include "descent/data/fashion_mnist.hpp"
#include "descent/data/transforms.hpp"
#include "descent/experiment/common.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/optim/registry.hpp"
#include "descent/report/html.hpp"
#include "descent/train/atomic_file.hpp"
#include "descent/train/trainer.hpp"

namespace descent::experiment {
namespace {

// Collects what every step reports.
class StepLog : public train::Callback {
 public:
  explicit StepLog(PrecisionRun& run) : run_(run) {}
  void on_step(const train::StepReport& s) override {
    run_.loss.push_back(s.loss);
    run_.underflow.push_back(s.fp16_underflow);
    run_.scale.push_back(s.loss_scale);
    run_.skipped = s.skipped_steps;
  }
  void on_epoch(const train::EpochReport& e) override { run_.final_loss = e.train_loss; }

 private:
  PrecisionRun& run_;
};

data::TensorDataset first(const data::TensorDataset& data, std::int64_t n) {
  if (n <= 0 || n >= data.size()) return data;
  return data::split_validation(data, data.size() - n).train;
}

}  // namespace

void PrecisionOptions::validate() const {
  DESCENT_CHECK(epochs >= 1, "precision experiment: epochs must be >= 1, got ", epochs);
  DESCENT_CHECK(batch >= 1, "precision experiment: batch must be >= 1, got ", batch);
  DESCENT_CHECK(std::isfinite(lr) && lr > 0, "precision experiment: lr must be > 0, got ", lr);
  DESCENT_CHECK(train_size >= 0 && test_size >= 0,
                "precision experiment: train_size and test_size must be >= 0 (0: all)");
  DESCENT_CHECK(threads >= 0, "precision experiment: threads must be >= 0, got ", threads);
}

std::string PrecisionRun::label() const {
  std::string text =
      cat(name, ": test ", number(100 * test_accuracy, 4), "%, final loss ", number(final_loss, 4));
  if (!std::isnan(mean_underflow)) {
    text += cat(", ", number(100 * mean_underflow, 3), "% of nonzero gradients flushed to zero");
  }
  if (skipped > 0) text += cat(", ", skipped, " steps skipped (overflow)");
  return text + cat(", ", number(samples_per_sec, 4), " samples/s");
}

std::vector<PrecisionRun> run_precision(const PrecisionOptions& options,
                                        const std::function<void(const PrecisionRun&)>& on_run) {
  options.validate();
  if (options.threads > 0) set_num_threads(static_cast<int>(options.threads));
  const data::FashionMnist fm = data::load_fashion_mnist({.root = options.data_dir});
  auto train_set = std::make_shared<const data::TensorDataset>(first(fm.train, options.train_size));
  auto test_set = std::make_shared<const data::TensorDataset>(first(fm.test, options.test_size));
  const auto normalize = data::normalize({{data::kFashionMnistMean}, {data::kFashionMnistStd}});

  const struct {
    const char* name;
    amp::Precision precision;
    bool scaling;
  } settings[] = {{"fp32", amp::Precision::fp32, false},
                  {"bf16", amp::Precision::bf16, false},
                  {"fp16 + loss scaling", amp::Precision::fp16, true},
                  {"fp16, no loss scaling", amp::Precision::fp16, false}};
  std::vector<PrecisionRun> runs;
  for (const auto& setting : settings) {
    const auto start = std::chrono::steady_clock::now();
    PrecisionRun run{
        .name = setting.name, .precision = setting.precision, .loss_scaling = setting.scaling};
    Generator gen(static_cast<std::uint64_t>(options.seed));
    auto model = nn::build_model(nn::ModelSpec::parse(options.model), gen);
    auto optimizer = optim::create_optimizer(
        "sgd", model->parameters(),
        {{"lr", number(options.lr, 17)}, {"momentum", "0.9"}, {"nesterov", "true"}});
    data::DataLoader loader(train_set, {.batch_size = options.batch,
                                        .shuffle = true,
                                        .seed = static_cast<std::uint64_t>(options.seed),
                                        .transforms = {normalize}});
    const std::int64_t total = options.epochs * loader.num_batches();
    train::Trainer trainer(model, *optimizer, loader,
                           {.epochs = options.epochs,
                            .schedule = schedule::cosine(total),
                            .log_every = 0,
                            .precision = setting.precision,
                            .loss_scaler = {.enabled = setting.scaling}});
    trainer.add_callback(std::make_shared<StepLog>(run));
    const train::TrainResult result = trainer.fit();
    run.test_accuracy = train::evaluate(*model, *test_set, 1000, {normalize}).accuracy;
    run.samples_per_sec = result.samples_per_sec;
    double sum = 0;
    std::int64_t count = 0;
    for (double u : run.underflow) {
      if (!std::isnan(u)) {
        sum += u;
        ++count;
      }
    }
    run.mean_underflow = count > 0 ? sum / static_cast<double>(count) : std::nan("");
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (on_run) on_run(run);
    runs.push_back(std::move(run));
  }
  return runs;
}

namespace {

void write_files(const std::vector<PrecisionRun>& runs, const PrecisionOptions& options,
                 const std::filesystem::path& folder) {
  std::string csv =
      "run,precision,loss_scaling,steps,skipped,final_loss,test_accuracy,mean_underflow,"
      "samples_per_sec,seconds\n";
  std::vector<std::vector<std::string>> table;
  for (const PrecisionRun& r : runs) {
    csv += cat(r.name, ",", amp::precision_name(r.precision), ",", r.loss_scaling ? 1 : 0, ",",
               r.loss.size(), ",", r.skipped, ",", number(r.final_loss, 6), ",",
               number(r.test_accuracy, 6), ",", number(r.mean_underflow, 6), ",",
               number(r.samples_per_sec, 5), ",", number(r.seconds, 4), "\n");
    table.push_back(
        {r.name, cat(number(100 * r.test_accuracy, 4), "%"),
         cat(number(100 * (r.test_accuracy - runs.front().test_accuracy), 2), " pp"),
         number(r.final_loss, 4),
         std::isnan(r.mean_underflow) ? "-" : cat(number(100 * r.mean_underflow, 3), "%"),
         std::to_string(r.skipped), number(r.samples_per_sec, 4)});
  }
  train::write_file_atomic((folder / "runs.csv").string(), csv);

  std::string steps = "run,step,loss,underflow,scale\n";
  for (const PrecisionRun& r : runs) {
    for (std::size_t i = 0; i < r.loss.size(); ++i) {
      steps += cat(r.name, ",", i + 1, ",", number(r.loss[i], 6), ",", number(r.underflow[i], 6),
                   ",", number(r.scale[i], 6), "\n");
    }
  }
  train::write_file_atomic((folder / "steps.csv").string(), steps);

  report::LinePlot losses(
      {.title = "training loss", .x_label = "step", .y_label = "cross-entropy", .log_y = true});
  report::LinePlot underflow({.title = "fp16: gradient values flushed to zero",
                              .x_label = "step",
                              .y_label = "fraction of nonzero gradient values",
                              .log_y = true});
  for (const PrecisionRun& r : runs) {
    losses.add(r.name, positive_or_gap(r.loss));
    if (r.precision == amp::Precision::fp16) underflow.add(r.name, positive_or_gap(r.underflow));
  }
  losses.save((folder / "loss.svg").string());
  underflow.save((folder / "underflow.svg").string());

  report::HtmlReport page("Mixed precision: fp32, bf16 and fp16 with and without loss scaling");
  page.paragraph(
      cat("The ", options.model, " model on Fashion-MNIST (",
          options.train_size > 0 ? cat("the first ", options.train_size, " training images")
                                 : std::string("all training images"),
          ", ", options.epochs, " epochs, batch ", options.batch,
          ", SGD with Nesterov momentum, lr ", number(options.lr),
          " with a cosine schedule), four times from the same weights and "
          "batches. Mixed precision runs linear and conv2d in 16 bits with f32 sums on a 16-bit "
          "copy of f32 master weights; batch norm, the loss and the optimizer stay f32 "
          "(Micikevicius et al. 2018). fp16 has 5 exponent bits: a gradient value below 2^-24 "
          "(6e-8) rounds to zero. Dynamic loss scaling multiplies the loss by 2^16 (halved on "
          "overflow, doubled after 2000 clean steps, PyTorch's GradScaler) so that the gradients "
          "stay in range, and divides the weight gradients back in f32. bf16 has f32's 8 exponent "
          "bits and needs no scaling. The test accuracy is of the f32 master weights, evaluated "
          "in f32."));
  page.table({"run", "test accuracy", "vs fp32", "final train loss", "gradients flushed",
              "skipped steps", "samples/s"},
             table);
  page.figure(underflow,
              "The share of the nonzero gradient values entering the 16-bit backward of linear "
              "and conv2d that fp16 rounds to zero, per step: those contributions to the weight "
              "updates are lost. Loss scaling moves the values up by 2^16.");
  page.figure(losses, "Training loss per step.");
  page.save((folder / "report.html").string());
}

}  // namespace

void write_precision_report(const std::vector<PrecisionRun>& runs, const PrecisionOptions& options,
                            const std::string& dir) {
  DESCENT_CHECK(!runs.empty(), "precision report: no runs");
  publish_folder(dir, "precision report",
                 [&](const std::filesystem::path& folder) { write_files(runs, options, folder); });
}

}  // namespace descent::experiment
