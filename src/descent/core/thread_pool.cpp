#include "descent/core/thread_pool.hpp"

#include <omp.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "descent/core/error.hpp"

namespace descent {
namespace {

// How long a worker spins after its last share before it sleeps: the serial stretches of a
// training step between two regions are microseconds to tens of microseconds, and waking a
// sleeping thread costs a system call and its wake-up (tens of microseconds on a VM).
constexpr auto kSpinTime = std::chrono::microseconds(1000);

thread_local bool t_in_region = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// One worker's mailbox, on its own cache lines: the region it is to run, published by the
// release store of `posted`, and whether it sleeps (so that the caller knows to wake it).
struct alignas(64) Slot {
  std::atomic<std::uint32_t> posted{0};  // counts the regions posted to this worker
  std::atomic<bool> sleeping{false};
  detail::RegionFn fn = nullptr;
  void* context = nullptr;
  int t = 0, nt = 0;
};

class Pool {
 public:
  // Runs the region on `threads` threads, or returns false (and runs nothing) when another
  // thread holds the pool.
  bool run(int threads, detail::RegionFn fn, void* context) {
    std::unique_lock<std::mutex> hold(busy_, std::try_to_lock);
    if (!hold.owns_lock()) return false;
    grow(threads - 1);
    error_ = nullptr;
    failed_.store(false, std::memory_order_relaxed);
    remaining_.store(threads - 1, std::memory_order_relaxed);
    for (int w = 0; w < threads - 1; ++w) {
      Slot& slot = *slots_[w];
      slot.fn = fn;
      slot.context = context;
      slot.t = w + 1;
      slot.nt = threads;
      slot.posted.fetch_add(1, std::memory_order_seq_cst);
      // seq_cst on both sides (here and in wait_for_post): either this load sees the worker
      // asleep, or the worker's re-check sees the new post
      if (slot.sleeping.load(std::memory_order_seq_cst)) slot.posted.notify_one();
    }
    t_in_region = true;
    share(fn, context, 0, threads);
    t_in_region = false;
    for (std::uint32_t spins = 1; remaining_.load(std::memory_order_acquire) != 0; ++spins) {
      cpu_relax();
      if (spins % 4096 == 0) std::this_thread::yield();  // more threads than CPUs
    }
    if (failed_.load(std::memory_order_relaxed)) std::rethrow_exception(error_);
    return true;
  }

 private:
  void grow(int workers) {
    while (static_cast<int>(slots_.size()) < workers) {
      slots_.push_back(std::make_unique<Slot>());
      Slot* slot = slots_.back().get();
      std::thread(&Pool::work, this, slot).detach();
    }
  }

  void share(detail::RegionFn fn, void* context, int t, int nt) {
    try {
      fn(context, t, nt);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex_);
      if (!failed_.load(std::memory_order_relaxed)) {
        error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);
      }
    }
  }

  static std::uint32_t wait_for_post(Slot& slot, std::uint32_t seen) {
    auto spin_start = std::chrono::steady_clock::now();
    for (std::uint32_t spins = 1;; ++spins) {
      const std::uint32_t posted = slot.posted.load(std::memory_order_acquire);
      if (posted != seen) return posted;
      cpu_relax();
      if (spins % 256 != 0 || std::chrono::steady_clock::now() - spin_start < kSpinTime) continue;
      slot.sleeping.store(true, std::memory_order_seq_cst);
      if (slot.posted.load(std::memory_order_seq_cst) == seen) slot.posted.wait(seen);
      slot.sleeping.store(false, std::memory_order_relaxed);
      spin_start = std::chrono::steady_clock::now();
    }
  }

  void work(Slot* slot) {
    t_in_region = true;  // a share that asks for a region runs it alone
    std::uint32_t seen = 0;
    for (;;) {
      seen = wait_for_post(*slot, seen);
      share(slot->fn, slot->context, slot->t, slot->nt);
      remaining_.fetch_sub(1, std::memory_order_release);
    }
  }

  std::mutex busy_;  // one region at a time
  std::vector<std::unique_ptr<Slot>> slots_;
  alignas(64) std::atomic<int> remaining_{0};  // shares of workers still running
  std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

// Never destroyed: the workers may still spin or sleep on it while the program exits. A
// forked child has none of the parent's workers: it starts a pool of its own.
std::atomic<Pool*> g_pool{nullptr};

Pool& pool() {
  static const bool registered = [] {
    g_pool.store(new Pool);
    pthread_atfork(nullptr, nullptr, [] { g_pool.store(new Pool); });
    return true;
  }();
  (void)registered;
  return *g_pool.load();
}

// -1 until the first region asks: then DESCENT_REGIONS's choice, unless set_region_runtime
// came first. OpenMP by default: two processes whose pools spin on the same two CPUs fell
// into a state where every region waited out a time slice (two MLP trainings at once, 2
// threads each on 2 CPUs: 10.9k samples/s each in 2 runs of 4, against 205-215k with
// OpenMP), and a worker that yields when it waits halved the speed of one process alone.
std::atomic<int> g_runtime{-1};

void run_openmp(int threads, detail::RegionFn fn, void* context) {
  std::mutex error_mutex;
  std::exception_ptr error;
#pragma omp parallel num_threads(threads)
  {
    try {
      fn(context, omp_get_thread_num(), omp_get_num_threads());
    } catch (...) {  // an exception may not leave an OpenMP region
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace

RegionRuntime parse_region_runtime(const char* value) {
  if (value == nullptr || std::string_view(value).empty()) return RegionRuntime::openmp;
  if (std::string_view(value) == "pool") return RegionRuntime::pool;
  DESCENT_CHECK(std::string_view(value) == "openmp",
                "DESCENT_REGIONS must be 'pool' or 'openmp' (or unset: openmp), got '", value, "'");
  return RegionRuntime::openmp;
}

RegionRuntime region_runtime() {
  int runtime = g_runtime.load(std::memory_order_relaxed);
  if (runtime < 0) {
    runtime = static_cast<int>(parse_region_runtime(std::getenv("DESCENT_REGIONS")));
    int expected = -1;
    if (!g_runtime.compare_exchange_strong(expected, runtime)) runtime = expected;
  }
  return static_cast<RegionRuntime>(runtime);
}

void set_region_runtime(RegionRuntime runtime) {
  g_runtime.store(static_cast<int>(runtime), std::memory_order_relaxed);
}

bool in_parallel_region() {
  return t_in_region || omp_in_parallel();
}

int parallel_threads() {
  return in_parallel_region() ? 1 : std::min(omp_get_max_threads(), kMaxThreads);
}

namespace detail {

void run_region(int threads, RegionFn fn, void* context) {
  threads = std::min(threads, kMaxThreads);
  if (threads > 1 && !in_parallel_region()) {
    // more threads than CPUs: spinning workers would wait out each other's time slices,
    // where OpenMP's sleep in the kernel
    static const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (region_runtime() == RegionRuntime::openmp || threads > cpus) {
      return run_openmp(threads, fn, context);
    }
    if (pool().run(threads, fn, context)) return;
  }
  fn(context, 0, 1);
}

}  // namespace detail
}  // namespace descent
