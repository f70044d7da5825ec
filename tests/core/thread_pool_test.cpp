#include "descent/core/thread_pool.hpp"

#include <gtest/gtest.h>
#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "descent/core/error.hpp"
#include "descent/core/parallel.hpp"
#include "descent/core/parallel_reduce.hpp"
#include "descent/core/tensor.hpp"

namespace descent {
namespace {

// Restores the thread count a test changes.
class ThreadCount {
 public:
  explicit ThreadCount(int threads) : before_(omp_get_max_threads()) {
    omp_set_num_threads(threads);
  }
  ~ThreadCount() { omp_set_num_threads(before_); }

 private:
  int before_;
};

// Each test below runs on both runtimes of a region: descent's pool and OpenMP.
class Regions : public ::testing::TestWithParam<RegionRuntime> {
 protected:
  void SetUp() override {
    before_ = region_runtime();
    set_region_runtime(GetParam());
  }
  void TearDown() override { set_region_runtime(before_); }

 private:
  RegionRuntime before_ = RegionRuntime::pool;
};

TEST_P(Regions, EveryShareRunsOnceOnItsOwnThread) {
  for (int threads : {2, 3, 5}) {
    std::array<std::atomic<int>, 8> runs{};
    std::array<std::thread::id, 8> ids{};
    std::atomic<int> seen_nt{0};
    on_threads(threads, [&](int t, int nt) {
      runs[t] += 1;
      ids[t] = std::this_thread::get_id();
      seen_nt = nt;
      EXPECT_TRUE(in_parallel_region());
      EXPECT_EQ(parallel_threads(), 1);  // a region inside a region runs alone
    });
    EXPECT_EQ(seen_nt, threads);
    for (int t = 0; t < threads; ++t) EXPECT_EQ(runs[t], 1) << t << " of " << threads;
    for (int t = threads; t < 8; ++t) EXPECT_EQ(runs[t], 0);
    EXPECT_EQ(ids[0], std::this_thread::get_id());  // the caller runs share 0
    for (int t = 1; t < threads; ++t) {
      EXPECT_NE(ids[t], std::this_thread::get_id());
      for (int u = 1; u < t; ++u) EXPECT_NE(ids[t], ids[u]);
    }
    EXPECT_FALSE(in_parallel_region());
  }
}

TEST_P(Regions, SharesRunAtTheSameTime) {
  // share 0 waits for share 1 to start: only another thread can start it (10 s at most,
  // so that a broken pool fails rather than hangs)
  std::atomic<bool> started{false};
  std::atomic<bool> waited{false};
  on_threads(2, [&](int t, int) {
    if (t == 1) {
      started = true;
      return;
    }
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!started && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    waited = started.load();
  });
  EXPECT_TRUE(waited);
}

TEST(ThreadPool, SharesCoverTheRangeInOrder) {
  for (std::int64_t n : {0, 1, 5, 7, 64, 1001}) {
    for (std::int64_t nt : {1, 2, 3, 8}) {
      std::int64_t next = 0;
      for (std::int64_t t = 0; t < nt; ++t) {
        const auto [begin, end] = share_of(n, t, nt);
        EXPECT_EQ(begin, next) << n << " " << t << "/" << nt;
        EXPECT_GE(end - begin, n / nt);
        EXPECT_LE(end - begin, n / nt + 1);
        next = end;
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST_P(Regions, NestedRegionRunsOnTheCallingThread) {
  std::atomic<int> inner_runs{0};
  on_threads(2, [&](int, int) {
    const std::thread::id me = std::this_thread::get_id();
    on_threads(4, [&](int t, int nt) {
      EXPECT_EQ(t, 0);
      EXPECT_EQ(nt, 1);
      EXPECT_EQ(std::this_thread::get_id(), me);
      inner_runs += 1;
    });
  });
  EXPECT_EQ(inner_runs, 2);
}

TEST_P(Regions, InsideAnOpenMpRegionRunsAlone) {
  std::atomic<int> alone{0};
#pragma omp parallel num_threads(2)
  {
    EXPECT_TRUE(in_parallel_region());
    on_threads(2, [&](int t, int nt) {
      if (t == 0 && nt == 1) alone += 1;
    });
  }
  EXPECT_GE(alone, 1);
}

TEST_P(Regions, AnExceptionReachesTheCallerAfterEveryShare) {
  std::atomic<int> finished{0};
  EXPECT_THROW(on_threads(3,
                          [&](int t, int) {
                            if (t == 2) throw std::runtime_error("share 2 failed");
                            std::this_thread::sleep_for(std::chrono::milliseconds(5));
                            finished += 1;
                          }),
               std::runtime_error);
  EXPECT_EQ(finished, 2);  // the other shares ran to their end before the throw
  // the pool still works
  std::atomic<int> runs{0};
  on_threads(3, [&](int, int) { runs += 1; });
  EXPECT_EQ(runs, 3);
}

TEST_P(Regions, WakesWorkersThatWentToSleep) {
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // past the spin time
    std::atomic<int> runs{0};
    on_threads(2, [&](int, int) { runs += 1; });
    EXPECT_EQ(runs, 2) << round;
  }
}

TEST_P(Regions, TwoCallersAtOnceBothFinish) {
  // one of two concurrent callers may find the pool busy: its region then runs alone
  std::atomic<std::int64_t> total{0};
  auto caller = [&] {
    for (int i = 0; i < 2000; ++i) {
      std::array<std::int64_t, kMaxThreads> part{};
      int used = 1;
      on_threads(2, [&](int t, int nt) {
        if (t == 0) used = nt;
        const auto [begin, end] = share_of(100, t, nt);
        for (std::int64_t k = begin; k < end; ++k) part[t] += k;
      });
      std::int64_t sum = 0;
      for (int t = 0; t < used; ++t) sum += part[t];
      total += sum;
    }
  };
  std::thread other(caller);
  caller();
  other.join();
  EXPECT_EQ(total, 2 * 2000 * 4950);
}

TEST_P(Regions, FollowsTheThreadCount) {
  {
    const ThreadCount one(1);
    EXPECT_EQ(parallel_threads(), 1);
    std::atomic<int> runs{0};
    parallel_for_if(true, 100000, [&](std::int64_t) { runs.fetch_add(1); });
    EXPECT_EQ(runs, 100000);
  }
  {
    const ThreadCount three(3);
    EXPECT_EQ(parallel_threads(), 3);
    EXPECT_EQ(num_threads(), 3);
  }
}

TEST_P(Regions, LoopsMatchTheirSerialForms) {
  const ThreadCount three(3);
  for (std::int64_t n : {0, 1, 2, 5, 4097, 100003}) {
    std::vector<std::int64_t> seen(n, 0);
    parallel_for_if(true, n, [&](std::int64_t i) { seen[i] += i + 1; });
    for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], i + 1) << n;
    std::vector<float> y(n, 0.0f);
    parallel_simd_if(true, n, [p = y.data()](std::int64_t i) { p[i] = 2.0f * i; });
    for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], 2.0f * i) << n;
    // integer sums are exact whatever the split
    const auto sum = parallel_sum_if<std::int64_t>(true, n, [](std::int64_t i) { return i; });
    EXPECT_EQ(sum, n * (n - 1) / 2) << n;
    std::vector<int> dyn(n, 0);
    parallel_for_dynamic_if(true, n, 7, [&](std::int64_t i) { dyn[i] += 1; });
    for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(dyn[i], 1) << n;
  }
  for (auto [rows, cols] :
       {std::pair<std::int64_t, std::int64_t>{0, 3}, {3, 0}, {1, 1}, {7, 5}, {13, 1000}}) {
    std::vector<int> hits(rows * cols, 0);
    parallel_for_2d_if(true, rows, cols,
                       [&](std::int64_t i, std::int64_t j) { hits[i * cols + j] += 1; });
    for (int h : hits) ASSERT_EQ(h, 1) << rows << "x" << cols;
  }
}

TEST_P(Regions, LoopsFloatSumsRepeatBitForBit) {
  const ThreadCount two(2);
  std::vector<float> x(300001);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 1.0f / static_cast<float>(i + 1);
  auto term = [p = x.data()](std::int64_t i) { return static_cast<double>(p[i]); };
  const double first = parallel_sum_if<double>(true, 300001, term);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(parallel_sum_if<double>(true, 300001, term), first);
  EXPECT_NEAR(first, 13.18, 0.01);  // the harmonic number H(300001)
}

INSTANTIATE_TEST_SUITE_P(Runtimes, Regions,
                         ::testing::Values(RegionRuntime::pool, RegionRuntime::openmp),
                         [](const ::testing::TestParamInfo<RegionRuntime>& info) {
                           return info.param == RegionRuntime::pool ? "pool" : "openmp";
                         });

TEST(ThreadPool, AForkedChildRunsRegionsOnWorkersOfItsOwn) {
  // the pool's fork safety (libgomp's own pool does not survive a fork: a child's region
  // waits for the parent's threads)
  struct PoolRuntime {
    RegionRuntime before = region_runtime();
    PoolRuntime() { set_region_runtime(RegionRuntime::pool); }
    ~PoolRuntime() { set_region_runtime(before); }
  } pool_runtime;
  std::atomic<int> runs{0};
  on_threads(2, [&](int, int) { runs += 1; });  // the parent's workers exist
  ASSERT_EQ(runs, 2);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(20);  // a region waiting for the parent's workers fails the test, not hangs it
    // none of the parent's workers came along: a region must not wait for them
    std::atomic<int> child_runs{0};
    on_threads(2, [&](int, int) { child_runs += 1; });
    _exit(child_runs == 2 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(RegionRuntime, ParsesDescentRegionsAndRefusesOtherValues) {
  EXPECT_EQ(parse_region_runtime(nullptr), RegionRuntime::openmp);
  EXPECT_EQ(parse_region_runtime(""), RegionRuntime::openmp);
  EXPECT_EQ(parse_region_runtime("openmp"), RegionRuntime::openmp);
  EXPECT_EQ(parse_region_runtime("pool"), RegionRuntime::pool);
  for (const char* bad : {"Pool", "omp", "pool "}) {
    try {
      parse_region_runtime(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("DESCENT_REGIONS"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(RegionRuntime, DefaultsToOpenMpUnlessThePoolIsAskedFor) {
  // the default is fixed at the first region (the ctest environment leaves DESCENT_REGIONS
  // unset); the tests above set and restore it
  const char* choice = std::getenv("DESCENT_REGIONS");
  if (choice != nullptr && std::string(choice) == "pool") {
    EXPECT_EQ(region_runtime(), RegionRuntime::pool);
  } else {
    EXPECT_EQ(region_runtime(), RegionRuntime::openmp);
  }
}

}  // namespace
}  // namespace descent
