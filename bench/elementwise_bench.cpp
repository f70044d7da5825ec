// Bandwidth-bound work against a STREAM-style triad measured in the same run: elementwise
// ops (forward, and backward through the op's own backward function), softmax and
// cross-entropy, and the optimizers' fused steps over a flat parameter buffer.
//
//   ./build/bench/elementwise_bench --benchmark_counters_tabular=true
//
// Counters: GB/s (bytes the op must move, STREAM's convention: each array read or written
// once, f32), triad_GB/s (the triad at the same element count, measured right after, the
// better of 1 and all threads) and vs_triad (their ratio: 1.0 is the machine's memory
// speed for that size). Sizes are the zoo's at batch 128: the MLP's hidden activations
// (128 x 256), ResNet-20's first stage (128 x 16 x 28 x 28) and, for the optimizers, the
// MLP's 269,322 parameters and a 16M-element buffer that lives in DRAM.
#include <functional>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "descent/autograd/autograd.hpp"
#include "descent/ops/activation.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/loss.hpp"
#include "descent/ops/math.hpp"
#include "descent/optim/adam.hpp"
#include "descent/optim/adamw.hpp"
#include "descent/optim/sgd.hpp"

namespace {

using descent::Tensor;
namespace ops = descent::ops;

constexpr std::int64_t kMlpHidden = 128 * 256;
constexpr std::int64_t kResnetStage1 = 128 * 16 * 28 * 28;
constexpr std::int64_t kMlpParameters = 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10;
constexpr std::int64_t kLargeParameters = 16 * 1024 * 1024;

struct UnaryOp {
  const char* name;
  std::function<Tensor(const Tensor&)> fn;
  double low, high;  // input range
};

const std::vector<UnaryOp>& unary_ops() {
  static const std::vector<UnaryOp> table = {
      {"relu", [](const Tensor& x) { return ops::relu(x); }, -2, 2},
      {"exp", [](const Tensor& x) { return ops::exp(x); }, -4, 4},
      {"log", [](const Tensor& x) { return ops::log(x); }, 0.01, 10},
      {"sigmoid", [](const Tensor& x) { return ops::sigmoid(x); }, -6, 6},
      {"tanh", [](const Tensor& x) { return ops::tanh(x); }, -4, 4},
      {"gelu", [](const Tensor& x) { return ops::gelu(x); }, -4, 4},
      {"gelu_tanh", [](const Tensor& x) { return ops::gelu(x, ops::GeluApproximate::tanh); }, -4,
       4},
      {"mul_scalar", [](const Tensor& x) { return ops::mul(x, 0.5); }, -2, 2},
  };
  return table;
}

// y = op(x) without recording: read x, write y.
void unary_forward(benchmark::State& state, const UnaryOp& op, std::int64_t n) {
  const Tensor x = bench::uniform_tensor({n / 256, 256}, op.low, op.high);
  descent::autograd::NoGradGuard no_grad;
  bench::LapTimer timer;
  for (auto _ : state) {
    timer.lap();
    Tensor y = op.fn(x);
    benchmark::DoNotOptimize(y.data<float>());
  }
  timer.lap();
  bench::report_bandwidth(state, timer, 2.0 * 4.0 * n, n);
}

// The op's recorded backward alone (not the forward): read the output gradient and one
// saved tensor, write the input gradient.
void unary_backward(benchmark::State& state, const UnaryOp& op, std::int64_t n) {
  Tensor x = bench::uniform_tensor({n / 256, 256}, op.low, op.high);
  x.set_requires_grad(true);
  const Tensor y = op.fn(x);
  const Tensor grad = bench::uniform_tensor(y.shape(), -1, 1, 2);
  const descent::autograd::Node& node = *y.grad_fn();
  descent::autograd::NoGradGuard no_grad;
  bench::LapTimer timer;
  for (auto _ : state) {
    timer.lap();
    descent::autograd::Grads g = node.backward(grad, node);
    benchmark::DoNotOptimize(g[0].data<float>());
  }
  timer.lap();
  bench::report_bandwidth(state, timer, 3.0 * 4.0 * n, n);
}

// a + b, same shapes: read two, write one (the triad's own traffic).
void binary_add(benchmark::State& state, std::int64_t n) {
  const Tensor a = bench::uniform_tensor({n / 256, 256}, -1, 1, 1);
  const Tensor b = bench::uniform_tensor({n / 256, 256}, -1, 1, 2);
  descent::autograd::NoGradGuard no_grad;
  bench::LapTimer timer;
  for (auto _ : state) {
    timer.lap();
    Tensor y = ops::add(a, b);
    benchmark::DoNotOptimize(y.data<float>());
  }
  timer.lap();
  bench::report_bandwidth(state, timer, 3.0 * 4.0 * n, n);
}

// a + b with b a row (C) broadcast over (N, C): the bias add of a linear layer.
void broadcast_add(benchmark::State& state, std::int64_t n) {
  const Tensor a = bench::uniform_tensor({n / 256, 256}, -1, 1, 1);
  const Tensor b = bench::uniform_tensor({256}, -1, 1, 2);
  descent::autograd::NoGradGuard no_grad;
  bench::LapTimer timer;
  for (auto _ : state) {
    timer.lap();
    Tensor y = ops::add(a, b);
    benchmark::DoNotOptimize(y.data<float>());
  }
  timer.lap();
  bench::report_bandwidth(state, timer, 2.0 * 4.0 * n, n);
}

// softmax over the last dim of (rows, C), forward (read, write) and forward + backward of
// log_softmax is covered by cross-entropy below.
void softmax_forward(benchmark::State& state, std::int64_t rows, std::int64_t C) {
  const Tensor x = bench::uniform_tensor({rows, C}, -4, 4);
  descent::autograd::NoGradGuard no_grad;
  bench::LapTimer timer;
  for (auto _ : state) {
    timer.lap();
    Tensor y = ops::softmax(x, 1);
    benchmark::DoNotOptimize(y.data<float>());
  }
  timer.lap();
  bench::report_bandwidth(state, timer, 2.0 * 4.0 * rows * C, rows * C);
}

// cross_entropy forward + backward (the training step's loss): the forward reads the
// logits, the backward reads them and writes their gradient.
void cross_entropy_step(benchmark::State& state, std::int64_t rows, std::int64_t C) {
  Tensor logits = bench::uniform_tensor({rows, C}, -4, 4);
  logits.set_requires_grad(true);
  descent::Generator gen(3);
  const Tensor labels =
      ops::mul(descent::rand({rows}, gen), static_cast<double>(C)).to(descent::DType::i64);
  bench::LapTimer timer;
  for (auto _ : state) {
    timer.lap();
    Tensor loss = ops::cross_entropy(logits, labels);
    const descent::autograd::Node& node = *loss.grad_fn();
    descent::autograd::NoGradGuard no_grad;
    descent::autograd::Grads g = node.backward(descent::ones({}), node);
    benchmark::DoNotOptimize(g[0].data<float>());
  }
  timer.lap();
  bench::report_bandwidth(state, timer, 3.0 * 4.0 * rows * C, rows * C);
}

// One optimizer step over one flat buffer of n parameters. `arrays` is how many arrays the
// step reads or writes (STREAM's count: SGD momentum reads p, g, b and writes p, b: 5).
template <typename Optimizer, typename Options>
void optimizer_step(benchmark::State& state, std::int64_t n, Options options, double arrays) {
  Tensor params = bench::uniform_tensor({n}, -1, 1, 1);
  params.set_requires_grad(true);
  params.set_grad(bench::uniform_tensor({n}, -1, 1, 2));
  Optimizer opt({params}, options);
  opt.step();  // allocates the state
  bench::LapTimer timer;
  for (auto _ : state) {
    timer.lap();
    opt.step();
    benchmark::DoNotOptimize(params.data<float>());
  }
  timer.lap();
  bench::report_bandwidth(state, timer, arrays * 4.0 * n, n);
}

void triad(benchmark::State& state, std::int64_t n) {
  bench::TriadArrays arrays(n);
  const int threads = static_cast<int>(state.range(0));
  bench::LapTimer timer;
  for (auto _ : state) {
    timer.lap();
    bench::triad(arrays, 0.5f, threads);
    benchmark::DoNotOptimize(arrays.a.data());
  }
  timer.lap();
  bench::report_bandwidth(state, timer, 3.0 * 4.0 * n, n);
}

std::string size_name(std::int64_t n) {
  switch (n) {
    case kMlpHidden:
      return "mlp_hidden_128x256";
    case kResnetStage1:
      return "resnet_stage1_128x16x28x28";
    case kMlpParameters:
      return "mlp_params_269322";
    case kLargeParameters:
      return "large_16M";
    default:
      return std::to_string(n);
  }
}

void register_all() {
  auto add = [](const std::string& name, auto fn) {
    return benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime();
  };
  for (std::int64_t n : {kMlpHidden, kResnetStage1}) {
    add("triad/" + size_name(n), [n](benchmark::State& s) { triad(s, n); })
        ->Arg(1)
        ->Arg(omp_get_max_threads());
    add("add/" + size_name(n), [n](benchmark::State& s) { binary_add(s, n); });
    add("add_bias_row/" + size_name(n), [n](benchmark::State& s) { broadcast_add(s, n); });
    for (const UnaryOp& op : unary_ops()) {
      add(std::string(op.name) + "/" + size_name(n),
          [&op, n](benchmark::State& s) { unary_forward(s, op, n); });
      add(std::string(op.name) + "_backward/" + size_name(n),
          [&op, n](benchmark::State& s) { unary_backward(s, op, n); });
    }
  }
  add("softmax/128x10", [](benchmark::State& s) { softmax_forward(s, 128, 10); });
  add("softmax/256x1024", [](benchmark::State& s) { softmax_forward(s, 256, 1024); });
  add("cross_entropy_fwd_bwd/128x10", [](benchmark::State& s) { cross_entropy_step(s, 128, 10); });
  add("cross_entropy_fwd_bwd/256x1024",
      [](benchmark::State& s) { cross_entropy_step(s, 256, 1024); });
  for (std::int64_t n : {kMlpParameters, kLargeParameters}) {
    add("triad/" + size_name(n), [n](benchmark::State& s) { triad(s, n); })
        ->Arg(1)
        ->Arg(omp_get_max_threads());
    add("sgd_step/" + size_name(n), [n](benchmark::State& s) {
      optimizer_step<descent::optim::SGD>(s, n, descent::optim::SGDOptions{.lr = 0.01}, 3);
    });
    add("sgd_momentum_step/" + size_name(n), [n](benchmark::State& s) {
      optimizer_step<descent::optim::SGD>(
          s, n, descent::optim::SGDOptions{.lr = 0.01, .momentum = 0.9}, 5);
    });
    add("adam_step/" + size_name(n), [n](benchmark::State& s) {
      optimizer_step<descent::optim::Adam>(s, n, descent::optim::AdamOptions{}, 7);
    });
    add("adamw_step/" + size_name(n), [n](benchmark::State& s) {
      optimizer_step<descent::optim::AdamW>(s, n, descent::optim::AdamWOptions{}, 7);
    });
  }
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
