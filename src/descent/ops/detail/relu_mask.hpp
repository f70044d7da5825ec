// relu's backward from its output saved in 16 bits: y > 0 when y's bits, read as an
// integer, lie in [1, +Inf's bits] (zeros are 0 and 0x8000, negatives and NaNs above +Inf).
#pragma once

#include <cstdint>

namespace descent::ops::detail {

inline constexpr std::uint16_t kBf16InfBits = 0x7F80u;
inline constexpr std::uint16_t kF16InfBits = 0x7C00u;

// Whether a relu output y (bf16 or f16 bits; inf_bits is that type's +Inf) is > 0.
inline bool relu_passes(std::uint16_t y_bits, std::uint16_t inf_bits) {
  return static_cast<std::uint16_t>(y_bits - 1u) < inf_bits;
}

}  // namespace descent::ops::detail
