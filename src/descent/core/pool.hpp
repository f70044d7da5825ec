// Small-object pool: the engine's per-step bookkeeping (tensor handles, storage handles,
// autograd nodes and their closures, gradient lists) without a heap allocation per step.
//
// ====== Intended usage ======
//   auto impl = std::allocate_shared<TensorImpl>(pool::Allocator<TensorImpl>());
//   std::vector<Tensor, pool::Allocator<Tensor>> list;   // its blocks come from the pool
//
// Blocks up to kMaxPooled bytes are rounded up to a size class and, when freed, kept on a
// free list of the freeing thread and handed out again, so that a training loop that repeats
// the same ops stops calling operator new after its first steps (as the caching allocator in
// allocator.hpp does for tensor storage). Every block is a separate operator new block, so a
// block may be freed on any thread, and a free list that grows past kMaxCached blocks gives
// the rest back. Larger requests go straight to operator new.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

namespace descent::pool {

inline constexpr std::size_t kMaxPooled = 16384;
inline constexpr std::size_t kMaxCached = 4096;  // per size class and thread

// A block of at least `bytes` bytes, aligned for any fundamental type (throws bad_alloc).
void* allocate(std::size_t bytes);
// Returns a block from allocate(bytes) (same `bytes`).
void deallocate(void* block, std::size_t bytes) noexcept;

struct Stats {
  std::uint64_t system_allocs = 0;  // operator new calls made by the pool (this thread)
  std::uint64_t reuses = 0;         // requests served from a free list (this thread)
};
Stats stats();

// The standard allocator interface over the pool.
template <typename T>
struct Allocator {
  using value_type = T;
  Allocator() noexcept = default;
  template <typename U>
  Allocator(const Allocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  T* allocate(std::size_t n) {
    static_assert(alignof(T) <= alignof(std::max_align_t), "pool: over-aligned type");
    if (n > kMaxPooled / sizeof(T)) return static_cast<T*>(::operator new(n * sizeof(T)));
    return static_cast<T*>(pool::allocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n > kMaxPooled / sizeof(T)) {
      ::operator delete(p);
      return;
    }
    pool::deallocate(p, n * sizeof(T));
  }
  template <typename U>
  bool operator==(const Allocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace descent::pool
