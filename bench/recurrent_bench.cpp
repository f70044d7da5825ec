// One training step (forward, backward) of the recurrent layers at the sizes of issue 8's
// comparison: hidden 128, T = 100, batch 64, input 32. Counter "steps/s" is training steps
// per second; compare with torch.nn.LSTM on the same sizes and threads
// (tests/reference has no timing; run the PyTorch side by hand, same OMP_NUM_THREADS).
//
//   OMP_NUM_THREADS=2 ./build/recurrent_bench
#include <benchmark/benchmark.h>

#include <memory>

#include "descent/autograd/autograd.hpp"
#include "descent/nn/recurrent.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/reduce.hpp"

namespace {

using namespace descent;

constexpr std::int64_t kSteps = 100, kBatch = 64, kInput = 32, kHidden = 128;

template <typename Layer>
void train_step(benchmark::State& state) {
  Generator gen(0);
  Layer layer(kInput, kHidden, gen);
  Tensor x = randn({kSteps, kBatch, kInput}, gen);
  Tensor weights = randn({kSteps, kBatch, kHidden}, gen);
  for (auto _ : state) {
    Tensor loss = ops::sum(ops::mul(layer.forward(x), weights));
    loss.backward();
    layer.zero_grad();
    benchmark::DoNotOptimize(loss.item());
  }
  state.counters["steps/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void forward_only(benchmark::State& state) {
  Generator gen(0);
  nn::LSTM layer(kInput, kHidden, gen);
  Tensor x = randn({kSteps, kBatch, kInput}, gen);
  autograd::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(layer.forward(x).raw_data());
  state.counters["steps/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(train_step<nn::LSTM>)
    ->Name("lstm train step H128 T100 B64")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(train_step<nn::GRU>)->Name("gru train step H128 T100 B64")->Unit(benchmark::kMillisecond);
BENCHMARK(train_step<nn::RNN>)->Name("rnn train step H128 T100 B64")->Unit(benchmark::kMillisecond);
BENCHMARK(forward_only)->Name("lstm forward H128 T100 B64")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
