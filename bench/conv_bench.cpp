// conv2d forward and backward (input and weight gradients) on the zoo's layers at batch
// 128, through each path kernels::conv2d_* offers: `automatic` (what the ops use), oneDNN's
// primitives, im2col + GEMM and descent's direct kernels. Then batch_norm forward (training)
// and backward on the same activations.
//
//   ./build/bench/conv_bench --benchmark_counters_tabular=true
//   ./build/bench/conv_bench --benchmark_filter='auto'       # only what the ops run
//
// Counters: conv GFLOP/s (2 N O OH OW C KH KW per pass; the three passes cost the same;
// from the fastest iteration, see bench_util.hpp)
// and of_peak, the fraction of this CPU's peak FP32 rate on all threads (an FMA loop of
// the widest vectors, measured once at start-up: bench_util.hpp); batch_norm GB/s against
// a triad of the same element count (vs_triad). Forward training BN reads x twice (the
// statistics, then the output) and writes y: 3 arrays; backward reads dy and x twice and
// writes dx: 5 arrays.
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "descent/kernels/batch_norm.hpp"
#include "descent/kernels/conv.hpp"
#include "descent/kernels/conv_direct.hpp"
#include "descent/kernels/conv_onednn.hpp"
#include "descent/kernels/pool.hpp"

namespace {

namespace kernels = descent::kernels;
using descent::Tensor;

constexpr std::int64_t kBatch = 128;

struct ConvLayer {
  const char* name;
  std::int64_t C, H, W, O, K, stride, pad;
};

// The CNN (cnn, 1x28x28) and ResNet-20's distinct layers (each with how many times it
// appears in the network, in the name).
const std::vector<ConvLayer> kConvLayers = {
    {"cnn.conv1_1to32_28x28", 1, 28, 28, 32, 3, 1, 1},
    {"cnn.conv2_32to64_14x14", 32, 14, 14, 64, 3, 1, 1},
    {"resnet.conv1_1to16_28x28_x1", 1, 28, 28, 16, 3, 1, 1},
    {"resnet.layer1_16to16_28x28_x6", 16, 28, 28, 16, 3, 1, 1},
    {"resnet.layer2.0_16to32_s2_x1", 16, 28, 28, 32, 3, 2, 1},
    {"resnet.layer2_32to32_14x14_x5", 32, 14, 14, 32, 3, 1, 1},
    {"resnet.layer2.0.shortcut_1x1_s2_x1", 16, 28, 28, 32, 1, 2, 0},
    {"resnet.layer3.0_32to64_s2_x1", 32, 14, 14, 64, 3, 2, 1},
    {"resnet.layer3_64to64_7x7_x5", 64, 7, 7, 64, 3, 1, 1},
    {"resnet.layer3.0.shortcut_1x1_s2_x1", 32, 14, 14, 64, 1, 2, 0},
};

kernels::Conv2dGeometry geometry(const ConvLayer& l) {
  kernels::Conv2dGeometry g{.N = kBatch,
                            .C = l.C,
                            .H = l.H,
                            .W = l.W,
                            .O = l.O,
                            .KH = l.K,
                            .KW = l.K,
                            .stride_h = l.stride,
                            .stride_w = l.stride,
                            .pad_h = l.pad,
                            .pad_w = l.pad};
  g.OH = g.out_h();
  g.OW = g.out_w();
  return g;
}

double conv_flops(const kernels::Conv2dGeometry& g) {
  return 2.0 * g.N * g.O * g.OH * g.OW * g.C * g.KH * g.KW;
}

enum class Pass { forward, backward_input, backward_weight };

// Times run() (one pass of the convolution g) after one untimed call (which builds the plan:
// oneDNN JIT-compiles a kernel per geometry); counters from the fastest iteration.
template <typename Run>
void time_conv(benchmark::State& state, const kernels::Conv2dGeometry& g, Run& run) {
  run();
  bench::LapTimer timer;
  for (auto _ : state) {
    timer.lap();
    run();
  }
  timer.lap();
  const double gflops = conv_flops(g) / timer.best() / 1e9;
  state.counters["GFLOP/s"] = gflops;
  state.counters["of_peak"] = gflops / bench::peak_gflops();
}

void conv(benchmark::State& state, const ConvLayer& layer, Pass pass,
          kernels::ConvAlgorithm algorithm) {
  const kernels::Conv2dGeometry g = geometry(layer);
  const Tensor x = bench::uniform_tensor({g.N, g.C, g.H, g.W}, -1, 1, 1);
  const Tensor w = bench::uniform_tensor({g.O, g.C, g.KH, g.KW}, -0.3, 0.3, 2);
  const Tensor b = bench::uniform_tensor({g.O}, -0.1, 0.1, 3);
  const Tensor dy = bench::uniform_tensor({g.N, g.O, g.OH, g.OW}, -1, 1, 4);
  Tensor y = descent::empty({g.N, g.O, g.OH, g.OW});
  Tensor dx = descent::empty({g.N, g.C, g.H, g.W});
  Tensor dw = descent::empty({g.O, g.C, g.KH, g.KW});
  Tensor db = descent::empty({g.O});
  if (algorithm == kernels::ConvAlgorithm::direct &&
      (!kernels::direct::available() ||
       (pass == Pass::backward_input && !kernels::direct::handles_backward_data(g)))) {
    state.SkipWithError("the direct kernels do not handle this pass on this geometry or CPU");
    return;
  }
  auto run = [&] {
    switch (pass) {
      case Pass::forward:
        kernels::conv2d_forward(g, x.data<float>(), w.data<float>(), b.data<float>(),
                                y.data<float>(), algorithm);
        break;
      case Pass::backward_input:
        kernels::conv2d_backward_input(g, dy.data<float>(), w.data<float>(), dx.data<float>(),
                                       algorithm);
        break;
      case Pass::backward_weight:
        kernels::conv2d_backward_weight(g, dy.data<float>(), x.data<float>(), dw.data<float>(),
                                        db.data<float>(), algorithm);
        break;
    }
    benchmark::ClobberMemory();
  };
  time_conv(state, g, run);
}

// The mixed-precision convolution (bf16 inputs, f32 sums and outputs): what
// kernels::conv2d_*_mixed picks ("bf16_native": descent's direct bf16 kernels on AVX512-BF16
// CPUs, oneDNN's bf16 primitives on CPUs without AVX-512) against the inputs widened to f32
// and the f32 automatic path ("bf16_widen", what f16 always runs), and oneDNN's bf16
// primitives called directly ("bf16_onednn", the path before descent's kernels).
enum class Mixed { native, widen, onednn };
void conv_mixed(benchmark::State& state, const ConvLayer& layer, Pass pass, Mixed variant) {
  const kernels::Conv2dGeometry g = geometry(layer);
  const Tensor x = bench::uniform_tensor({g.N, g.C, g.H, g.W}, -1, 1, 1).to(descent::DType::bf16);
  const Tensor w =
      bench::uniform_tensor({g.O, g.C, g.KH, g.KW}, -0.3, 0.3, 2).to(descent::DType::bf16);
  const Tensor b = bench::uniform_tensor({g.O}, -0.1, 0.1, 3);
  const Tensor dy =
      bench::uniform_tensor({g.N, g.O, g.OH, g.OW}, -1, 1, 4).to(descent::DType::bf16);
  Tensor y = descent::empty({g.N, g.O, g.OH, g.OW});
  Tensor dx = descent::empty({g.N, g.C, g.H, g.W});
  Tensor dw = descent::empty({g.O, g.C, g.KH, g.KW});
  using descent::BFloat16;
  const bool widen = variant == Mixed::widen;
  if (variant == Mixed::onednn && !kernels::onednn::has_bf16()) {
    state.SkipWithError("oneDNN has no bf16 convolution on this CPU");
    return;
  }
  auto run = [&] {
    if (variant == Mixed::onednn) {
      if (pass == Pass::forward) {
        kernels::onednn::conv2d_forward(g, x.data<BFloat16>(), w.data<BFloat16>(), b.data<float>(),
                                        y.data<float>());
      } else if (pass == Pass::backward_input) {
        kernels::onednn::conv2d_backward_data(g, dy.data<BFloat16>(), w.data<BFloat16>(),
                                              dx.data<float>());
      } else {
        kernels::onednn::conv2d_backward_weights(g, dy.data<BFloat16>(), x.data<BFloat16>(),
                                                 dw.data<float>(), nullptr);
      }
      benchmark::ClobberMemory();
      return;
    }
    switch (pass) {
      case Pass::forward:
        kernels::conv2d_forward_mixed(g, x.data<BFloat16>(), w.data<BFloat16>(), b.data<float>(),
                                      y.data<float>(), widen);
        break;
      case Pass::backward_input:
        kernels::conv2d_backward_input_mixed(g, dy.data<BFloat16>(), w.data<BFloat16>(),
                                             dx.data<float>(), widen);
        break;
      case Pass::backward_weight:
        kernels::conv2d_backward_weight_mixed(g, dy.data<BFloat16>(), x.data<BFloat16>(),
                                              dw.data<float>(), nullptr, widen);
        break;
    }
    benchmark::ClobberMemory();
  };
  time_conv(state, g, run);
}

struct BnLayer {
  const char* name;
  std::int64_t C, S;
};

const std::vector<BnLayer> kBnLayers = {
    {"cnn.bn1_32x28x28", 32, 28 * 28},       {"cnn.bn2_64x14x14", 64, 14 * 14},
    {"resnet.stage1_16x28x28", 16, 28 * 28}, {"resnet.stage2_32x14x14", 32, 14 * 14},
    {"resnet.stage3_64x7x7", 64, 7 * 7},     {"mlp_bn.256", 256, 1},
};

void batch_norm(benchmark::State& state, const BnLayer& layer, bool backward) {
  const kernels::BatchNormGeometry g{.N = kBatch, .C = layer.C, .S = layer.S};
  const std::int64_t n = g.N * g.C * g.S;
  const Tensor x = bench::uniform_tensor({g.N, g.C, g.S}, -1, 1, 1);
  const Tensor dy = bench::uniform_tensor({g.N, g.C, g.S}, -1, 1, 2);
  const Tensor weight = bench::uniform_tensor({g.C}, 0.5, 1.5, 3);
  const Tensor bias = bench::uniform_tensor({g.C}, -0.5, 0.5, 4);
  Tensor running_mean = descent::zeros({g.C});
  Tensor running_var = descent::ones({g.C});
  Tensor y = descent::empty({g.N, g.C, g.S});
  Tensor dx = descent::empty({g.N, g.C, g.S});
  Tensor mean = descent::empty({g.C});
  Tensor invstd = descent::empty({g.C});
  Tensor dweight = descent::empty({g.C});
  Tensor dbias = descent::empty({g.C});
  const kernels::BatchNormParams params{};
  kernels::batch_norm_forward_training(g, x.data<float>(), weight.data<float>(), bias.data<float>(),
                                       params, running_mean.data<float>(),
                                       running_var.data<float>(), y.data<float>(),
                                       mean.data<float>(), invstd.data<float>());
  bench::LapTimer timer;
  for (auto _ : state) {
    timer.lap();
    if (backward) {
      kernels::batch_norm_backward(g, dy.data<float>(), x.data<float>(), weight.data<float>(),
                                   mean.data<float>(), invstd.data<float>(), true, dx.data<float>(),
                                   dweight.data<float>(), dbias.data<float>());
    } else {
      kernels::batch_norm_forward_training(g, x.data<float>(), weight.data<float>(),
                                           bias.data<float>(), params, running_mean.data<float>(),
                                           running_var.data<float>(), y.data<float>(),
                                           mean.data<float>(), invstd.data<float>());
    }
    benchmark::ClobberMemory();
  }
  timer.lap();
  bench::report_bandwidth(state, timer, (backward ? 5.0 : 3.0) * 4.0 * n, n);
}

// max_pool2d 2x2 stride 2 on the CNN's activations: forward reads x and writes y and the
// u8 window positions; backward reads dy and the positions and writes dx.
void max_pool(benchmark::State& state, std::int64_t C, std::int64_t HW, bool backward) {
  kernels::Pool2dGeometry g{
      .planes = kBatch * C, .H = HW, .W = HW, .KH = 2, .KW = 2, .stride_h = 2, .stride_w = 2};
  g.OH = g.out_h();
  g.OW = g.out_w();
  const std::int64_t n_in = g.planes * g.H * g.W;
  const std::int64_t n_out = g.planes * g.OH * g.OW;
  const Tensor x = bench::uniform_tensor({n_in}, -1, 1, 1);
  const Tensor dy = bench::uniform_tensor({n_out}, -1, 1, 2);
  Tensor y = descent::empty({n_out});
  Tensor dx = descent::empty({n_in});
  Tensor argmax = descent::empty({n_out}, descent::DType::u8);
  kernels::max_pool2d_forward(g, x.data<float>(), y.data<float>(), argmax.data<std::uint8_t>());
  bench::LapTimer timer;
  for (auto _ : state) {
    timer.lap();
    if (backward) {
      kernels::max_pool2d_backward(g, dy.data<float>(), argmax.data<std::uint8_t>(),
                                   dx.data<float>());
    } else {
      kernels::max_pool2d_forward(g, x.data<float>(), y.data<float>(), argmax.data<std::uint8_t>());
    }
    benchmark::ClobberMemory();
  }
  timer.lap();
  const double bytes = 4.0 * n_in + 5.0 * n_out;  // x or dx, y or dy, argmax (1 byte)
  bench::report_bandwidth(state, timer, bytes, n_in);
}

void peak(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  double gflops = 0.0;
  for (auto _ : state) gflops = bench::measure_peak_gflops(threads);
  state.counters["GFLOP/s"] = gflops;
  state.counters["per_thread"] = gflops / threads;
}

void register_all() {
  benchmark::RegisterBenchmark("fma_peak", peak)
      ->Arg(1)
      ->Arg(omp_get_max_threads())
      ->Iterations(1)
      ->UseRealTime();
  const std::pair<const char*, kernels::ConvAlgorithm> algorithms[] = {
      {"auto", kernels::ConvAlgorithm::automatic},
      {"onednn", kernels::ConvAlgorithm::onednn},
      {"im2col", kernels::ConvAlgorithm::im2col_gemm},
      {"direct", kernels::ConvAlgorithm::direct}};
  const std::pair<const char*, Pass> passes[] = {{"fwd", Pass::forward},
                                                 {"bwd_input", Pass::backward_input},
                                                 {"bwd_weight", Pass::backward_weight}};
  for (const ConvLayer& layer : kConvLayers) {
    for (const auto& [pass_name, pass] : passes) {
      for (const auto& [algorithm_name, algorithm] : algorithms) {
        const std::string name =
            std::string("conv2d_") + pass_name + "/" + algorithm_name + "/" + layer.name;
        benchmark::RegisterBenchmark(name.c_str(),
                                     [&layer, pass = pass, algorithm = algorithm](
                                         benchmark::State& s) { conv(s, layer, pass, algorithm); })
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  for (const ConvLayer& layer : kConvLayers) {
    for (const auto& [pass_name, pass] : passes) {
      for (const auto& [variant_name, variant] :
           {std::pair{"bf16_native", Mixed::native}, std::pair{"bf16_widen", Mixed::widen},
            std::pair{"bf16_onednn", Mixed::onednn}}) {
        const std::string name =
            std::string("conv2d_") + pass_name + "/" + variant_name + "/" + layer.name;
        benchmark::RegisterBenchmark(name.c_str(),
                                     [&layer, pass = pass, variant = variant](benchmark::State& s) {
                                       conv_mixed(s, layer, pass, variant);
                                     })
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  for (const auto& [C, HW] : {std::pair<std::int64_t, std::int64_t>{32, 28}, {64, 14}}) {
    for (bool backward : {false, true}) {
      const std::string name = std::string("max_pool2x2_") + (backward ? "bwd" : "fwd") + "/cnn_" +
                               std::to_string(C) + "x" + std::to_string(HW) + "x" +
                               std::to_string(HW);
      benchmark::RegisterBenchmark(name.c_str(), [C = C, HW = HW, backward](benchmark::State& s) {
        max_pool(s, C, HW, backward);
      })->UseRealTime();
    }
  }
  for (const BnLayer& layer : kBnLayers) {
    for (bool backward : {false, true}) {
      const std::string name =
          std::string("batch_norm_") + (backward ? "bwd" : "fwd_train") + "/" + layer.name;
      benchmark::RegisterBenchmark(name.c_str(), [&layer, backward](benchmark::State& s) {
        batch_norm(s, layer, backward);
      })->UseRealTime();
    }
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
