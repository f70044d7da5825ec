#include "descent/experiment/classify.hpp"

#include <chrono>
#include <cmath>
#include <numeric>

#include "descent/core/error.hpp"
#include "descent/data/fashion_mnist.hpp"
#include "descent/data/loader.hpp"
#include "descent/data/transforms.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/loss.hpp"
#include "descent/optim/all.hpp"
#include "descent/optim/registry.hpp"

namespace descent::experiment {
namespace {

// Normalizes all of `dataset`'s images in place (they are this process's own copy).
void normalize_all(const data::TensorDataset& dataset) {
  if (dataset.size() == 0) return;
  Tensor inputs = dataset.inputs();  // (N, 1, 28, 28), shares the storage
  std::vector<std::int64_t> indices(static_cast<std::size_t>(dataset.size()));
  std::iota(indices.begin(), indices.end(), std::int64_t{0});
  data::normalize({.mean = {data::kFashionMnistMean}, .std = {data::kFashionMnistStd}})
      ->apply(inputs, indices, 0);
}

data::TensorDataset first(const data::TensorDataset& dataset, std::int64_t size, const char* what) {
  DESCENT_CHECK(size >= 0 && size <= dataset.size(), "load_image_data: ", what, " must be in [0, ",
                dataset.size(), "], got ", size);
  return size == 0 ? dataset : dataset.slice(0, size);
}

}  // namespace

ImageData load_image_data(const ImageDataOptions& options) {
  DESCENT_CHECK(options.validation_size >= 0 && options.validation_size < 60000,
                "load_image_data: validation_size must be in [0, 60000), got ",
                options.validation_size);
  data::FashionMnist fm =
      data::load_fashion_mnist({.root = options.root, .validation_size = options.validation_size});
  // Train and validation are disjoint views of the training file: each is normalized once.
  normalize_all(fm.train);
  normalize_all(fm.validation);
  normalize_all(fm.test);
  ImageData out;
  out.train = first(fm.train, options.train_size, "train_size");
  out.validation = fm.validation;
  out.test = first(fm.test, options.test_size, "test_size");
  out.description =
      cat("Fashion-MNIST: ", out.train.size(), " training, ",
          out.validation.size() > 0 ? cat(out.validation.size(), " validation, ") : "",
          out.test.size(), " test examples");
  return out;
}

double ClassifierRun::final_test_accuracy() const {
  return diverged || evals.empty() ? 0.0 : evals.back().test_accuracy;
}

double ClassifierRun::final_train_accuracy() const {
  return diverged || evals.empty() ? 0.0 : evals.back().train_accuracy;
}

ClassifierRun train_classifier(const ClassifierSpec& spec, const data::TensorDataset& train,
                               const landscape::EvalSet& train_eval,
                               const landscape::EvalSet& test_eval) {
  DESCENT_CHECK(spec.steps >= 1 && spec.steps <= kMaxSteps,
                "train_classifier: steps must be in [1, ", kMaxSteps, "], got ", spec.steps);
  DESCENT_CHECK(spec.batch >= 1 && spec.batch <= train.size(),
                "train_classifier: batch must be in [1, ", train.size(),
                "] (the training examples), got ", spec.batch);
  DESCENT_CHECK(spec.eval_every >= 1, "train_classifier: eval_every must be positive, got ",
                spec.eval_every);
  DESCENT_CHECK(spec.lr > 0 && std::isfinite(spec.lr),
                "train_classifier: lr must be positive and finite, got ", spec.lr);
  const auto start = std::chrono::steady_clock::now();
  ClassifierRun run;
  Generator gen(spec.seed);
  run.model = nn::build_model(nn::ModelSpec::parse(spec.model), gen);
  nn::Module& model = *run.model;
  optim::OptionMap options = spec.optimizer_options;
  options["lr"] = cat(spec.lr);
  const std::unique_ptr<optim::Optimizer> optimizer =
      optim::create_optimizer(spec.optimizer, model.parameters(), options);
  data::DataLoader loader(train, {.batch_size = spec.batch,
                                  .shuffle = true,
                                  .seed = spec.seed,
                                  .drop_last = true,
                                  .prefetch = 0});
  auto evaluate = [&](std::int64_t step) {
    const landscape::Metrics on_train = train_eval.evaluate(model);
    const landscape::Metrics on_test = test_eval.evaluate(model);
    run.evals.push_back({.step = step,
                         .train_loss = on_train.loss,
                         .train_accuracy = on_train.accuracy,
                         .test_loss = on_test.loss,
                         .test_accuracy = on_test.accuracy});
    if (run.steps_to_target < 0 && spec.target_accuracy > 0 &&
        on_test.accuracy >= spec.target_accuracy) {
      run.steps_to_target = step;
    }
  };
  model.train();
  std::int64_t step = 0;
  for (std::uint64_t epoch = 0; step < spec.steps && !run.diverged; ++epoch) {
    loader.start_epoch(epoch);
    while (step < spec.steps) {
      const data::Batch* batch = loader.next();
      if (batch == nullptr) break;
      const double lr = spec.schedule ? (*spec.schedule)(step, spec.lr) : spec.lr;
      optimizer->set_lr(lr);
      model.zero_grad();
      const Tensor loss = ops::cross_entropy(model.forward(batch->inputs), batch->targets);
      const double value = loss.item();
      run.loss.push_back(value);
      run.lr.push_back(lr);
      if (!std::isfinite(value) || value > spec.divergence_loss) {
        run.diverged = true;
        run.diverged_at = step;
        break;
      }
      loss.backward();
      optimizer->step();
      ++step;
      if (step % spec.eval_every == 0 || step == spec.steps) evaluate(step);
      if (spec.progress) spec.progress(step, spec.steps);
    }
  }
  model.train();
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

}  // namespace descent::experiment
