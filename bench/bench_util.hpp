// References that every benchmark measures itself against, in the same binary and the same
// run (DESIGN.md "Performance model"):
//   - a STREAM-style triad, a[i] = b[i] + s c[i], for bandwidth-bound work;
//   - an FMA loop, for the CPU's peak FP32 rate.
//
// Bytes follow STREAM's convention: each array read or written counts once (no
// write-allocate traffic), 4 bytes per f32 element.
//
// Wall time on a shared machine is noisy: other processes take whole time slices. Rates
// here come from the fastest iteration (LapTimer) and the fastest triad pass, measured
// right after the benchmark's own loop; Google Benchmark's Time column stays the mean.
#pragma once

#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <vector>

#include "descent/core/tensor.hpp"

namespace bench {

using Clock = std::chrono::steady_clock;

inline double seconds(Clock::time_point begin, Clock::time_point end) {
  return std::chrono::duration<double>(end - begin).count();
}

// ---- STREAM triad ----

struct TriadArrays {
  std::vector<float> a, b, c;
  explicit TriadArrays(std::int64_t n) : a(n, 0.0f), b(n, 1.0f), c(n, 2.0f) {}
};

// One triad pass over n elements on `threads` threads (1: no parallel region at all).
inline void triad(TriadArrays& t, float s, int threads) {
  const std::int64_t n = static_cast<std::int64_t>(t.a.size());
  float* a = t.a.data();
  const float* b = t.b.data();
  const float* c = t.c.data();
  if (threads == 1) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
    return;
  }
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (std::int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
}

// The triad's bandwidth in GB/s at n elements: the better of one thread and all threads
// (small arrays go faster without a parallel region), from the fastest of the passes run
// in about `budget_s` seconds.
inline double measure_triad(std::int64_t n, double budget_s = 0.05) {
  TriadArrays arrays(n);
  const double bytes = 3.0 * 4.0 * static_cast<double>(n);
  double best = 0.0;
  for (int threads : {1, omp_get_max_threads()}) {
    triad(arrays, 0.5f, threads);  // warm up the arrays and the thread pool
    const Clock::time_point deadline =
        Clock::now() +
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(budget_s / 2));
    while (Clock::now() < deadline) {
      const Clock::time_point begin = Clock::now();
      triad(arrays, 0.5f, threads);
      best = std::max(best, bytes / seconds(begin, Clock::now()) / 1e9);
    }
  }
  benchmark::DoNotOptimize(arrays.a.data());
  return best;
}

// Times each iteration of a benchmark's loop (wall clock) and keeps the fastest: on a
// shared machine the mean mixes in time slices lost to other processes, the fastest
// iteration does not. Use:
//   bench::LapTimer timer;
//   for (auto _ : state) { timer.lap(); ... }
//   timer.lap();
//   double s = timer.best();  // seconds of the fastest iteration
class LapTimer {
 public:
  void lap() {
    const Clock::time_point now = Clock::now();
    if (started_) {
      const double elapsed = seconds(previous_, now);
      best_ = std::min(best_, elapsed);
      laps_.push_back(elapsed);
    }
    previous_ = now;
    started_ = true;
  }
  double best() const { return best_; }
  double median() {
    if (laps_.empty()) return 0.0;
    std::nth_element(laps_.begin(), laps_.begin() + laps_.size() / 2, laps_.end());
    return laps_[laps_.size() / 2];
  }

 private:
  Clock::time_point previous_;
  bool started_ = false;
  double best_ = 1e300;
  std::vector<double> laps_;
};

// Sets counters GB/s (from the fastest iteration), triad_GB/s (the reference at `triad_n`
// elements, measured now) and vs_triad (their ratio).
inline void report_bandwidth(benchmark::State& state, const LapTimer& timer,
                             double bytes_per_iteration, std::int64_t triad_n) {
  const double gbps = bytes_per_iteration / timer.best() / 1e9;
  const double reference = measure_triad(triad_n);
  state.counters["GB/s"] = gbps;
  state.counters["triad_GB/s"] = reference;
  state.counters["vs_triad"] = gbps / reference;
}

// ---- peak FP32 rate ----

// FLOPs of `iterations` passes of the FMA loops below: 16 independent accumulators (enough
// to cover 4 cycles of latency on two FMA pipes) of `lanes` floats, 2 FLOPs per FMA.
inline double fma_loop_flops(std::int64_t iterations, int lanes) {
  return 2.0 * 16.0 * lanes * static_cast<double>(iterations);
}

__attribute__((target("avx512f"))) inline float fma_loop_avx512(std::int64_t iterations) {
  __m512 acc[16];
  for (int k = 0; k < 16; ++k) acc[k] = _mm512_set1_ps(0.001f * k);
  const __m512 a = _mm512_set1_ps(0.999999f);
  const __m512 b = _mm512_set1_ps(1e-7f);
  for (std::int64_t i = 0; i < iterations; ++i) {
    for (int k = 0; k < 16; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  }
  __m512 total = acc[0];
  for (int k = 1; k < 16; ++k) total = _mm512_add_ps(total, acc[k]);
  float lanes[16];
  _mm512_storeu_ps(lanes, total);
  float sum = 0.0f;
  for (float v : lanes) sum += v;
  return sum;
}

__attribute__((target("avx2,fma"))) inline float fma_loop_avx2(std::int64_t iterations) {
  __m256 acc[16];
  for (int k = 0; k < 16; ++k) acc[k] = _mm256_set1_ps(0.001f * k);
  const __m256 a = _mm256_set1_ps(0.999999f);
  const __m256 b = _mm256_set1_ps(1e-7f);
  for (std::int64_t i = 0; i < iterations; ++i) {
    for (int k = 0; k < 16; ++k) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
  }
  __m256 total = acc[0];
  for (int k = 1; k < 16; ++k) total = _mm256_add_ps(total, acc[k]);
  float lanes[8];
  _mm256_storeu_ps(lanes, total);
  float sum = 0.0f;
  for (float v : lanes) sum += v;
  return sum;
}

inline bool has_avx512() {
  return __builtin_cpu_supports("avx512f");
}

inline double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Peak FP32 GFLOP/s of `threads` threads running the widest FMA loop this CPU has at once:
// the sum over threads of each one's FLOPs per second of its own CPU time (so that time
// slices taken by other processes do not count), the best of a few bursts.
inline double measure_peak_gflops(int threads) {
  const int lanes = has_avx512() ? 16 : 8;
  const std::int64_t iterations = 2'000'000;
  double best = 0.0;
  for (int burst = 0; burst < 5; ++burst) {
    double total = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      const double begin = thread_cpu_seconds();
      const float sink = has_avx512() ? fma_loop_avx512(iterations) : fma_loop_avx2(iterations);
      const double elapsed = thread_cpu_seconds() - begin;
      benchmark::DoNotOptimize(sink);
      total += fma_loop_flops(iterations, lanes) / elapsed / 1e9;
    }
    best = std::max(best, total);
  }
  return best;
}

// Measured once per process, on all OpenMP threads.
inline double peak_gflops() {
  static const double peak = measure_peak_gflops(omp_get_max_threads());
  return peak;
}

// ---- data ----

inline descent::Tensor uniform_tensor(const descent::Shape& shape, double low, double high,
                                      std::uint64_t seed = 1) {
  descent::Generator gen(seed);
  return descent::uniform(shape, low, high, gen);
}

}  // namespace bench
