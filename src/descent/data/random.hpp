// The data layer's random streams, all built on core's counter-based Philox.
//
// Each use draws from its own stream, keyed by (seed, purpose, stream number), and each draw
// uses a counter of its own (an example's index, a position in a permutation), so every
// result is a pure function of its inputs: the same for any thread count, batch size or
// prefetch depth. The shuffle of epoch e, say, is permutation(n, stream_key(seed,
// Purpose::shuffle, e)) and depends on nothing else.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <utility>

#include "descent/core/rng.hpp"

namespace descent::data {

// Keeps the streams of different uses of one seed apart.
enum class Purpose : std::uint64_t {
  shuffle = 1,
  split = 2,
  random_crop = 3,
  horizontal_flip = 4,
  spirals = 5,
  blobs = 6,
  regression = 7,
  teacher = 8,
  adding = 9,
  temporal_order = 10,
  text_windows = 11,
};

// The Philox key of stream `stream` of `purpose` under `seed`.
inline std::uint64_t stream_key(std::uint64_t seed, Purpose purpose, std::uint64_t stream) {
  const auto words =
      philox4x32(stream, seed ^ (static_cast<std::uint64_t>(purpose) * 0x9E3779B97F4A7C15ULL));
  return static_cast<std::uint64_t>(words[0]) | static_cast<std::uint64_t>(words[1]) << 32;
}

// An integer in [0, bound) from 64 random bits (Lemire 2019, "Fast random integer generation
// in an interval", without the rejection step: the bias is below bound / 2^64).
inline std::uint64_t below(std::uint64_t bits, std::uint64_t bound) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(bits) * bound) >> 64);
}

inline std::uint64_t bits64(const std::array<std::uint32_t, 4>& words) {
  return static_cast<std::uint64_t>(words[0]) << 32 | words[1];
}

// Two independent N(0, 1) draws from counter `counter` of `key` (Box-Muller).
inline std::array<double, 2> normal_pair(std::uint64_t key, std::uint64_t counter) {
  const auto words = philox4x32(counter, key);
  const double u1 = 1.0 - uniform01_f64(words[0], words[1]);  // (0, 1]
  const double u2 = uniform01_f64(words[2], words[3]);
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  return {radius * std::cos(angle), radius * std::sin(angle)};
}

// Fills `order` with a permutation of 0..n-1 (Fisher-Yates; step i swaps with a position
// drawn from counter i of `key`).
inline void permutation(std::span<std::int64_t> order, std::uint64_t key) {
  const std::int64_t n = static_cast<std::int64_t>(order.size());
  for (std::int64_t i = 0; i < n; ++i) order[i] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(below(
        bits64(philox4x32(static_cast<std::uint64_t>(i), key)), static_cast<std::uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
}

}  // namespace descent::data
