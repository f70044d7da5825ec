// Seeded, counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
//
// Element i of a draw depends only on (seed, offset + i), never on how threads split the
// work, so a run is reproducible for any thread count. A Generator is just (seed, offset);
// saving those two numbers saves the stream.
#pragma once

#include <array>
#include <cstdint>

namespace descent {

// Four 32-bit random words for one counter value.
std::array<std::uint32_t, 4> philox4x32(std::uint64_t counter, std::uint64_t key);

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}
  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  void set_state(std::uint64_t seed, std::uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves `count` counters and returns the first; each element of a draw uses its own.
  std::uint64_t reserve(std::uint64_t count) {
    const std::uint64_t first = offset_;
    offset_ += count;
    return first;
  }

 private:
  std::uint64_t seed_;
  std::uint64_t offset_ = 0;
};

// Uniform in [0, 1) from one 32-bit word (24 bits, exact in float).
inline float uniform01_f32(std::uint32_t word) {
  return (word >> 8) * (1.0f / 16777216.0f);
}
// Uniform in [0, 1) from two 32-bit words (53 bits).
inline double uniform01_f64(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t bits = (static_cast<std::uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits & ((1ULL << 53) - 1)) * (1.0 / 9007199254740992.0);
}

}  // namespace descent
