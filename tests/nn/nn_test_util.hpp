// Helpers shared by the nn tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "descent/core/error.hpp"
#include "descent/core/tensor.hpp"

namespace descent::testing {

// The message of the Error that fn throws, or "" when it throws none.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Expects fn to throw an Error whose message contains every one of `parts`.
template <typename Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& parts) {
  const std::string message = error_of(fn);
  ASSERT_FALSE(message.empty()) << "expected an Error containing '" << parts.front() << "'";
  for (const std::string& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos)
        << "message: " << message << "\nlacks: " << part;
  }
}

inline bool all_finite_values(const Tensor& t) {
  for (double v : t.to_vector()) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to_vector();
  const std::vector<double> vb = b.to_vector();
  EXPECT_EQ(va.size(), vb.size());
  double worst = 0;
  for (std::size_t i = 0; i < va.size() && i < vb.size(); ++i) {
    worst = std::max(worst, std::abs(va[i] - vb[i]));
  }
  return worst;
}

}  // namespace descent::testing
