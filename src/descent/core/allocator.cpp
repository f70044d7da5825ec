#include "descent/core/allocator.hpp"

#include <bit>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "descent/core/error.hpp"

namespace descent {
namespace {

constexpr std::size_t kAlignment = 64;

// Size classes: multiples of 64 bytes up to 4 KiB, then four classes per power of two,
// so that rounding wastes at most a quarter.
std::size_t size_class(std::size_t nbytes) {
  if (nbytes == 0) nbytes = 1;
  if (nbytes <= 4096) return (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  const std::size_t top = std::bit_floor(nbytes);
  const std::size_t quarter = top / 4;
  return (nbytes + quarter - 1) / quarter * quarter;
}

struct Cache {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<void*>> free_lists;
  AllocatorStats stats;
};

Cache& cache() {
  static Cache* instance = new Cache();  // never destroyed: tensors may outlive statics
  return *instance;
}

}  // namespace

void* allocate(std::size_t nbytes) {
  const std::size_t rounded = size_class(nbytes);
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    auto it = c.free_lists.find(rounded);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* block = it->second.back();
      it->second.pop_back();
      c.stats.cache_hits++;
      c.stats.bytes_cached -= rounded;
      c.stats.bytes_in_use += rounded;
      if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) {
        c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
      }
      return block;
    }
  }
  void* block = std::aligned_alloc(kAlignment, rounded);
  if (block == nullptr) {
    release_cached_memory();
    block = std::aligned_alloc(kAlignment, rounded);
  }
  DESCENT_CHECK(block != nullptr, "allocate: out of memory asking for ", rounded, " bytes");
  std::lock_guard lock(c.mutex);
  c.stats.system_allocs++;
  c.stats.bytes_in_use += rounded;
  if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) {
    c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
  }
  return block;
}

void deallocate(void* block, std::size_t nbytes) noexcept {
  if (block == nullptr) return;
  const std::size_t rounded = size_class(nbytes);
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  try {
    c.free_lists[rounded].push_back(block);
  } catch (...) {
    std::free(block);
    c.stats.bytes_in_use -= rounded;
    return;
  }
  c.stats.bytes_in_use -= rounded;
  c.stats.bytes_cached += rounded;
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  return c.stats;
}

void release_cached_memory() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  for (auto& [size, blocks] : c.free_lists) {
    for (void* block : blocks) std::free(block);
    blocks.clear();
  }
  c.stats.bytes_cached = 0;
}

}  // namespace descent
