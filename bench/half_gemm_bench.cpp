// 16-bit GEMM (kernels/half.hpp) against the f32 GEMM on the MLP's shapes, same run; and
// the f32 <-> bf16/f16 conversions per instruction set against a plain f32 copy.
// Counters: "GFLOPS" (2*M*N*K per iteration) for GEMMs, "GB/s" (bytes read + written) for
// conversions.
//
//   ./build/half_gemm_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "descent/core/half.hpp"
#include "descent/core/tensor.hpp"
#include "descent/kernels/gemm.hpp"
#include "descent/kernels/half.hpp"

namespace {

using descent::BFloat16;
using descent::Half;

struct Shape3 {
  const char* name;
  bool trans_a, trans_b;
  std::int64_t M, N, K;
};

// MLP 784-256-256-10 at batch 128: forward, dW and dX of fc1 and fc2.
const Shape3 kShapes[] = {
    {"fc1 fwd 128x256x784", false, true, 128, 256, 784},
    {"fc1 dW 256x784x128", true, false, 256, 784, 128},
    {"fc2 fwd 128x256x256", false, true, 128, 256, 256},
    {"fc2 dX 128x256x256", false, false, 128, 256, 256},
    {"fc2 dW 256x256x128", true, false, 256, 256, 128},
    {"fc3 fwd 128x10x256", false, true, 128, 10, 256},
    {"fc3 dX 128x256x10", false, false, 128, 256, 10},
    {"fc3 dW 10x256x128", true, false, 10, 256, 128},
    {"square 1024", false, true, 1024, 1024, 1024},
};

struct Operands {
  std::vector<float> a, b, c;
  std::vector<BFloat16> a16, b16;
  std::vector<Half> ah, bh;
  explicit Operands(const Shape3& s)
      : a(s.M * s.K),
        b(s.K * s.N),
        c(s.M * s.N),
        a16(a.size()),
        b16(b.size()),
        ah(a.size()),
        bh(b.size()) {
    descent::Generator gen(1);
    descent::Tensor ra = descent::randn({s.M * s.K}, gen);
    descent::Tensor rb = descent::randn({s.K * s.N}, gen);
    std::memcpy(a.data(), ra.data<float>(), a.size() * sizeof(float));
    std::memcpy(b.data(), rb.data<float>(), b.size() * sizeof(float));
    descent::convert(a.data(), a16.data(), static_cast<std::int64_t>(a.size()));
    descent::convert(b.data(), b16.data(), static_cast<std::int64_t>(b.size()));
    descent::convert(a.data(), ah.data(), static_cast<std::int64_t>(a.size()));
    descent::convert(b.data(), bh.data(), static_cast<std::int64_t>(b.size()));
  }
};

void set_gflops(benchmark::State& state, const Shape3& s) {
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * s.M * s.N * s.K / 1e9,
                                                benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(s.name);
}

template <typename Fn>
void run_gemm(benchmark::State& state, Fn&& fn) {
  const Shape3& s = kShapes[state.range(0)];
  Operands op(s);
  const std::int64_t lda = s.trans_a ? s.M : s.K;
  const std::int64_t ldb = s.trans_b ? s.K : s.N;
  for (auto _ : state) {
    fn(s, op, lda, ldb);
    benchmark::DoNotOptimize(op.c.data());
  }
  set_gflops(state, s);
}

void BM_gemm_f32(benchmark::State& state) {
  run_gemm(state, [](const Shape3& s, Operands& op, std::int64_t lda, std::int64_t ldb) {
    descent::kernels::gemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, op.a.data(), lda, op.b.data(),
                           ldb, 0.0f, op.c.data(), s.N);
  });
}

void BM_gemm_bf16_dot(benchmark::State& state) {
  if (!descent::kernels::gemm16_path_available(descent::kernels::Gemm16Path::dot)) {
    state.SkipWithError("no AVX-512-BF16 on this CPU");
    return;
  }
  run_gemm(state, [](const Shape3& s, Operands& op, std::int64_t lda, std::int64_t ldb) {
    descent::kernels::gemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, op.a16.data(), lda,
                           op.b16.data(), ldb, 0.0f, op.c.data(), s.N,
                           descent::kernels::Gemm16Path::dot);
  });
}

void BM_gemm_bf16_onednn(benchmark::State& state) {
  if (!descent::kernels::gemm16_path_available(descent::kernels::Gemm16Path::native)) {
    state.SkipWithError("no native bf16 matmul on this CPU");
    return;
  }
  run_gemm(state, [](const Shape3& s, Operands& op, std::int64_t lda, std::int64_t ldb) {
    descent::kernels::gemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, op.a16.data(), lda,
                           op.b16.data(), ldb, 0.0f, op.c.data(), s.N,
                           descent::kernels::Gemm16Path::native);
  });
}

void BM_gemm_bf16_widen(benchmark::State& state) {
  run_gemm(state, [](const Shape3& s, Operands& op, std::int64_t lda, std::int64_t ldb) {
    descent::kernels::gemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, op.a16.data(), lda,
                           op.b16.data(), ldb, 0.0f, op.c.data(), s.N,
                           descent::kernels::Gemm16Path::widen);
  });
}

void BM_gemm_f16_widen(benchmark::State& state) {
  run_gemm(state, [](const Shape3& s, Operands& op, std::int64_t lda, std::int64_t ldb) {
    descent::kernels::gemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, op.ah.data(), lda,
                           op.bh.data(), ldb, 0.0f, op.c.data(), s.N);
  });
}

constexpr int kShapeCount = sizeof(kShapes) / sizeof(kShapes[0]);
// Wall-clock rates: the GEMMs and conversions run on OpenMP threads, which the main
// thread's CPU time does not count.
BENCHMARK(BM_gemm_f32)->DenseRange(0, kShapeCount - 1)->UseRealTime();
BENCHMARK(BM_gemm_bf16_dot)->DenseRange(0, kShapeCount - 1)->UseRealTime();
BENCHMARK(BM_gemm_bf16_onednn)->DenseRange(0, kShapeCount - 1)->UseRealTime();
BENCHMARK(BM_gemm_bf16_widen)->DenseRange(0, kShapeCount - 1)->UseRealTime();
BENCHMARK(BM_gemm_f16_widen)->DenseRange(0, kShapeCount - 1)->UseRealTime();

// ---- conversions: 1M elements, per instruction set ----

constexpr std::int64_t kCount = 1 << 20;

void set_bandwidth(benchmark::State& state, std::int64_t bytes_per_element) {
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(kCount * bytes_per_element) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_copy_f32(benchmark::State& state) {
  std::vector<float> src(kCount, 1.5f), dst(kCount);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), kCount * sizeof(float));
    benchmark::DoNotOptimize(dst.data());
  }
  set_bandwidth(state, 8);
}

template <typename L>
void BM_narrow(benchmark::State& state) {
  const auto isa = static_cast<descent::HalfIsa>(state.range(0));
  if (isa > descent::cpu_half_isa()) {
    state.SkipWithError("instruction set not on this CPU");
    return;
  }
  descent::Generator gen(2);
  descent::Tensor src = descent::randn({kCount}, gen);
  std::vector<L> dst(kCount);
  for (auto _ : state) {
    descent::convert(src.data<float>(), dst.data(), kCount, isa);
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetLabel(descent::half_isa_name(isa));
  set_bandwidth(state, 6);
}

template <typename L>
void BM_widen(benchmark::State& state) {
  const auto isa = static_cast<descent::HalfIsa>(state.range(0));
  if (isa > descent::cpu_half_isa()) {
    state.SkipWithError("instruction set not on this CPU");
    return;
  }
  std::vector<L> src(kCount, L(1.5f));
  std::vector<float> dst(kCount);
  for (auto _ : state) {
    descent::convert(src.data(), dst.data(), kCount, isa);
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetLabel(descent::half_isa_name(isa));
  set_bandwidth(state, 6);
}

BENCHMARK(BM_copy_f32)->UseRealTime();
BENCHMARK_TEMPLATE(BM_narrow, BFloat16)->DenseRange(0, 3)->UseRealTime();
BENCHMARK_TEMPLATE(BM_narrow, Half)->DenseRange(0, 3)->UseRealTime();
BENCHMARK_TEMPLATE(BM_widen, BFloat16)->DenseRange(0, 3)->UseRealTime();
BENCHMARK_TEMPLATE(BM_widen, Half)->DenseRange(0, 3)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
