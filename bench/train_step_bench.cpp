// One whole training step (zero_grad, forward, cross-entropy, backward, optimizer step) at
// batch 128 on the zoo's models, as samples/s, with the step's FLOP utilization.
//
//   ./build/bench/train_step_bench --benchmark_counters_tabular=true
//
// Counters: samples/s (from the median step time; the mean in the Time column mixes in time
// slices lost to other processes on a shared machine); GFLOP/s = 3 x forward FLOPs per sample
// (forward, and backward's two GEMMs per layer) x samples/s; of_peak = that over this CPU's peak
// FP32 rate on all threads (bench_util.hpp). Forward FLOPs come from the model's own summary
// (nn/info). The data is one fixed synthetic batch: this measures the engine, not a data loader.
#include <memory>
#include <string>

#include "bench_util.hpp"
#include "descent/nn/flat.hpp"
#include "descent/nn/info.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/loss.hpp"
#include "descent/optim/adam.hpp"
#include "descent/optim/sgd.hpp"

namespace {

using descent::Tensor;
namespace nn = descent::nn;
namespace optim = descent::optim;

constexpr std::int64_t kBatch = 128;

double forward_flops_per_sample(const nn::Module& model) {
  return nn::model_info(model, {1, 28, 28}).flops;
}

template <typename Optimizer, typename Options>
void train_step(benchmark::State& state, const char* spec, Options options) {
  descent::Generator gen(1);
  std::shared_ptr<nn::Module> model = nn::build_model(nn::ModelSpec::parse(spec), gen);
  nn::FlatParameters& flat = model->flat_parameters();
  Optimizer opt({flat.params}, options);
  model->train();
  const Tensor images = descent::randn({kBatch, 1, 28, 28}, gen);
  const Tensor labels =
      descent::ops::mul(descent::rand({kBatch}, gen), 10.0).to(descent::DType::i64);
  auto step = [&] {
    model->zero_grad();
    Tensor loss = descent::ops::cross_entropy(model->forward(images), labels);
    loss.backward();
    opt.step();
  };
  for (int warmup = 0; warmup < 3; ++warmup) step();
  bench::LapTimer timer;
  for (auto _ : state) {
    timer.lap();
    step();
  }
  timer.lap();
  // The median step: the fastest would credit the step with its luckiest cache state.
  const double samples_per_s = kBatch / timer.median();
  const double gflops = 3.0 * forward_flops_per_sample(*model) * samples_per_s / 1e9;
  state.counters["samples/s"] = samples_per_s;
  state.counters["GFLOP/s"] = gflops;
  state.counters["of_peak"] = gflops / bench::peak_gflops();
}

void register_all() {
  auto add = [](const char* name, auto fn) {
    benchmark::RegisterBenchmark(name, fn)->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  add("train_step/mlp/sgd_momentum", [](benchmark::State& s) {
    train_step<optim::SGD>(s, "mlp", optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  });
  add("train_step/mlp/adam",
      [](benchmark::State& s) { train_step<optim::Adam>(s, "mlp", optim::AdamOptions{}); });
  add("train_step/cnn/sgd_momentum", [](benchmark::State& s) {
    train_step<optim::SGD>(s, "cnn", optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  });
  add("train_step/resnet20/sgd_momentum", [](benchmark::State& s) {
    train_step<optim::SGD>(s, "resnet20", optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  });
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
