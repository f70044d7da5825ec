#include "descent/core/pool.hpp"

#include <bit>

namespace descent::pool {
namespace {

// Size classes: multiples of 16 bytes up to 256, then powers of two up to kMaxPooled.
constexpr std::size_t kFine = 256;
constexpr std::size_t kFineClasses = kFine / 16;  // 16, 32, ..., 256
constexpr std::size_t kClasses = kFineClasses + std::bit_width(kMaxPooled / kFine) - 1;

std::size_t class_of(std::size_t bytes) {
  if (bytes <= kFine) return bytes == 0 ? 0 : (bytes - 1) / 16;
  return kFineClasses - 1 + std::bit_width((bytes - 1) / kFine);  // 512 -> 16, 1024 -> 17, ...
}

std::size_t class_bytes(std::size_t c) {
  if (c < kFineClasses) return (c + 1) * 16;
  return kFine << (c - kFineClasses + 1);
}

struct FreeBlock {
  FreeBlock* next;
};

struct FreeLists {
  FreeBlock* head[kClasses] = {};
  std::size_t count[kClasses] = {};
  Stats stats;
  ~FreeLists();
};

// Set when this thread's lists are gone (thread exit): blocks freed by later destructors go
// straight back to operator delete. Trivially destructible, so it outlives FreeLists.
thread_local bool t_lists_gone = false;
thread_local FreeLists t_lists;

FreeLists::~FreeLists() {
  for (std::size_t c = 0; c < kClasses; ++c) {
    while (head[c] != nullptr) {
      FreeBlock* block = head[c];
      head[c] = block->next;
      ::operator delete(block);
    }
  }
  t_lists_gone = true;
}

}  // namespace

void* allocate(std::size_t bytes) {
  if (bytes > kMaxPooled) return ::operator new(bytes);
  if (t_lists_gone) return ::operator new(class_bytes(class_of(bytes)));
  FreeLists& lists = t_lists;
  const std::size_t c = class_of(bytes);
  if (FreeBlock* block = lists.head[c]) {
    lists.head[c] = block->next;
    --lists.count[c];
    ++lists.stats.reuses;
    return block;
  }
  ++lists.stats.system_allocs;
  return ::operator new(class_bytes(c));
}

void deallocate(void* block, std::size_t bytes) noexcept {
  if (block == nullptr) return;
  if (bytes > kMaxPooled || t_lists_gone) {
    ::operator delete(block);
    return;
  }
  FreeLists& lists = t_lists;
  const std::size_t c = class_of(bytes);
  if (lists.count[c] >= kMaxCached) {
    ::operator delete(block);
    return;
  }
  auto* free_block = static_cast<FreeBlock*>(block);
  free_block->next = lists.head[c];
  lists.head[c] = free_block;
  ++lists.count[c];
}

Stats stats() {
  return t_lists_gone ? Stats{} : t_lists.stats;
}

}  // namespace descent::pool
