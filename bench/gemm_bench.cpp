// GEMM on the shapes of the zoo's layers: descent's kernels::gemm against the libraries
// called directly (oneDNN's dnnl_sgemm and the CBLAS, OpenBLAS), same shapes, same run.
// Counter "GFLOPS" is 2*M*N*K per iteration.
//
//   ./build/gemm_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <dnnl.h>

#include <vector>

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
    {"mlp fc3 fwd 128x10x256", false, true, 128, 10, 256},
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

void set_counters(benchmark::State& state, const Shape3& s) {
  state.counters["GFLOPS"] =
      benchmark::Counter(2.0 * s.M * s.N * s.K, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::OneK::kIs1000);
  state.counters["GFLOPS"].value /= 1e9;  // report in GFLOP/s
}

void BM_descent_gemm(benchmark::State& state) {
  const Shape3& s = kShapes[state.range(0)];
  Operands op(s);
  for (auto _ : state) {
    descent::kernels::gemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, op.a.data(),
                           s.trans_a ? s.M : s.K, op.b.data(), s.trans_b ? s.K : s.N, 0.0f,
                           op.c.data(), s.N);
    benchmark::DoNotOptimize(op.c.data());
  }
  state.SetLabel(s.name);
  set_counters(state, s);
}

void BM_dnnl_sgemm(benchmark::State& state) {
  const Shape3& s = kShapes[state.range(0)];
  Operands op(s);
  for (auto _ : state) {
    dnnl_sgemm(s.trans_a ? 'T' : 'N', s.trans_b ? 'T' : 'N', s.M, s.N, s.K, 1.0f, op.a.data(),
               s.trans_a ? s.M : s.K, op.b.data(), s.trans_b ? s.K : s.N, 0.0f, op.c.data(), s.N);
    benchmark::DoNotOptimize(op.c.data());
  }
  state.SetLabel(s.name);
  set_counters(state, s);
}

void BM_openblas_sgemm(benchmark::State& state) {
  const Shape3& s = kShapes[state.range(0)];
  Operands op(s);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans,
                s.trans_b ? CblasTrans : CblasNoTrans, s.M, s.N, s.K, 1.0f, op.a.data(),
                s.trans_a ? s.M : s.K, op.b.data(), s.trans_b ? s.K : s.N, 0.0f, op.c.data(), s.N);
    benchmark::DoNotOptimize(op.c.data());
  }
  state.SetLabel(s.name);
  set_counters(state, s);
}

constexpr int kShapeCount = sizeof(kShapes) / sizeof(kShapes[0]);
BENCHMARK(BM_descent_gemm)->DenseRange(0, kShapeCount - 1)->UseRealTime();
BENCHMARK(BM_dnnl_sgemm)->DenseRange(0, kShapeCount - 1)->UseRealTime();
BENCHMARK(BM_openblas_sgemm)->DenseRange(0, kShapeCount - 1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
