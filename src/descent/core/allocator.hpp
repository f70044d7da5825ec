// Caching allocator for tensor storage.
//
// Blocks are 64-byte aligned and rounded up to a size class; a freed block goes back to a
// free list of its class and is handed out again, so that a training loop that repeats the
// same shapes stops asking the system for memory after its first step.
// `allocator_stats().system_allocs` counts the calls that did reach the system.
#pragma once

#include <cstddef>
#include <cstdint>

namespace descent {

struct AllocatorStats {
  std::uint64_t system_allocs = 0;  // blocks obtained from the system
  std::uint64_t cache_hits = 0;     // requests served from the free lists
  std::size_t bytes_in_use = 0;     // bytes handed out and not yet freed
  std::size_t bytes_cached = 0;     // bytes held in the free lists
  std::size_t peak_bytes_in_use = 0;
};

// Returns a 64-byte aligned block of at least `nbytes` bytes (never null; throws Error
// when the system is out of memory).
void* allocate(std::size_t nbytes);
// Returns a block obtained from allocate() to the cache.
void deallocate(void* block, std::size_t nbytes) noexcept;
AllocatorStats allocator_stats();
// Gives every cached block back to the system.
void release_cached_memory();

}  // namespace descent
