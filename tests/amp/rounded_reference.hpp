// The reference of the mixed-precision tests: f32 ops on operands rounded to 16 bits, and an
// elementwise comparison with a relative tolerance.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "descent/core/tensor.hpp"

namespace descent {

// t rounded to `compute` (bf16 or f16) and widened back to f32.
inline Tensor round_trip(const Tensor& t, DType compute) {
  return t.to(compute).to(DType::f32);
}

// |actual - expected| <= tolerance * (1 + |expected|) elementwise; actual must be f32.
inline void expect_close(const Tensor& actual, const Tensor& expected, double tolerance,
                         const std::string& what) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  ASSERT_EQ(actual.dtype(), DType::f32) << what;
  const auto a = actual.to_vector(), e = expected.to_vector();
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a[i], e[i], tolerance * (1 + std::abs(e[i]))) << what << " [" << i << "]";
  }
}

}  // namespace descent
