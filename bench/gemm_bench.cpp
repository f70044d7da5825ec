// GEMM on the shapes of the zoo's layers: descent's kernels::gemm against the libraries
// called directly (oneDNN's dnnl_sgemm and the CBLAS, OpenBLAS, with the environment as
// given: OpenBLAS runs its own threads unless OPENBLAS_NUM_THREADS says otherwise), same
// shapes, same run. Counters are GFLOP/s (2 M N K per call, from each one's fastest call).
//
//   ./build/bench/gemm_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <dnnl.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "descent/core/tensor.hpp"
#include "descent/kernels/gemm.hpp"

namespace {

struct Shape3 {
  const char* name;
  bool trans_a;
  bool trans_b;
  std::int64_t M, N, K;
};

// MLP 784-256-256-10 at batch 128 (forward, dX, dW) and the 3x3 convs of ResNet-20 as
// im2col GEMMs for one 28x28 sample (O, C*9) @ (C*9, H*W).
const Shape3 kShapes[] = {
    {"mlp fc1 fwd 128x256x784", false, true, 128, 256, 784},
    {"mlp fc1 dW 256x784x128", true, false, 256, 784, 128},
    {"mlp fc2 fwd 128x256x256", false, true, 128, 256, 256},
    {"mlp fc2 dX 128x256x256", false, false, 128, 256, 256},
    {"mlp fc2 dW 256x256x128", true, false, 256, 256, 128},
    {"mlp fc3 fwd 128x10x256", false, true, 128, 10, 256},
    {"mlp fc3 dX 128x256x10", false, false, 128, 256, 10},
    {"mlp fc3 dW 10x256x128", true, false, 10, 256, 128},
    {"resnet conv16 16x784x144", false, false, 16, 784, 144},
    {"resnet conv32 32x196x288", false, false, 32, 196, 288},
    {"resnet conv64 64x49x576", false, false, 64, 49, 576},
    {"cnn conv2 64x196x288 batch8", false, false, 64, 196 * 8, 288},
};

struct Operands {
  std::vector<float> a, b, c;
  explicit Operands(const Shape3& s) : a(s.M * s.K, 0.5f), b(s.K * s.N, 0.25f), c(s.M * s.N, 0.0f) {
    descent::Generator gen(1);
    descent::Tensor ra = descent::rand({s.M * s.K}, gen);
    descent::Tensor rb = descent::rand({s.K * s.N}, gen);
    std::copy(ra.data<float>(), ra.data<float>() + ra.numel(), a.begin());
    std::copy(rb.data<float>(), rb.data<float>() + rb.numel(), b.begin());
  }
};

using Clock = std::chrono::steady_clock;

// Seconds of one call of fn.
template <typename Fn>
double time_call(Fn fn) {
  const Clock::time_point begin = Clock::now();
  fn();
  return std::chrono::duration<double>(Clock::now() - begin).count();
}

// Fastest of the calls of fn made in about `budget_s` seconds.
template <typename Fn>
double fastest_call(Fn fn, double budget_s) {
  fn();  // warm: the first call may JIT-compile or touch new memory
  double best = 1e300;
  const Clock::time_point deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                        std::chrono::duration<double>(budget_s));
  while (Clock::now() < deadline) best = std::min(best, time_call(fn));
  return best;
}

// One benchmark per shape times the three implementations one after the other, each by its
// fastest call (a shared machine only ever slows a call down): GFLOP/s for each, descent's
// against the best library call (vs_best) and against the CPU's peak (of_peak,
// bench_util.hpp). OpenBLAS goes last and is followed by a pause: after a call its threads
// spin for a while, and would take the cores from whatever runs next.
void BM_gemm(benchmark::State& state) {
  const Shape3& s = kShapes[state.range(0)];
  Operands op(s);
  const std::int64_t lda = s.trans_a ? s.M : s.K;
  const std::int64_t ldb = s.trans_b ? s.K : s.N;
  auto descent_call = [&] {
    descent::kernels::gemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, op.a.data(), lda, op.b.data(),
                           ldb, 0.0f, op.c.data(), s.N);
    benchmark::DoNotOptimize(op.c.data());
  };
  auto dnnl_call = [&] {
    dnnl_sgemm(s.trans_a ? 'T' : 'N', s.trans_b ? 'T' : 'N', s.M, s.N, s.K, 1.0f, op.a.data(), lda,
               op.b.data(), ldb, 0.0f, op.c.data(), s.N);
    benchmark::DoNotOptimize(op.c.data());
  };
  auto openblas_call = [&] {
    cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans,
                s.trans_b ? CblasTrans : CblasNoTrans, s.M, s.N, s.K, 1.0f, op.a.data(), lda,
                op.b.data(), ldb, 0.0f, op.c.data(), s.N);
    benchmark::DoNotOptimize(op.c.data());
  };
  double best_descent = 0;
  double best_dnnl = 0;
  double best_openblas = 0;
  for (auto _ : state) {
    best_descent = fastest_call(descent_call, 0.15);
    best_dnnl = fastest_call(dnnl_call, 0.15);
    best_openblas = fastest_call(openblas_call, 0.15);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  const double flops = 2.0 * s.M * s.N * s.K;
  const double descent_gflops = flops / best_descent / 1e9;
  const double dnnl_gflops = flops / best_dnnl / 1e9;
  const double openblas_gflops = flops / best_openblas / 1e9;
  state.SetLabel(s.name);
  state.counters["descent"] = descent_gflops;
  state.counters["dnnl_sgemm"] = dnnl_gflops;
  state.counters["openblas"] = openblas_gflops;
  state.counters["vs_best"] = descent_gflops / std::max(dnnl_gflops, openblas_gflops);
  state.counters["of_peak"] = descent_gflops / bench::peak_gflops();
}

constexpr int kShapeCount = sizeof(kShapes) / sizeof(kShapes[0]);
BENCHMARK(BM_gemm)->DenseRange(0, kShapeCount - 1)->Iterations(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
