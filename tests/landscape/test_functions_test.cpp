#include "descent/landscape/test_functions.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "descent/core/error.hpp"

namespace landscape = descent::landscape;

// Every closed-form gradient against central differences in f64, at points spread over the
// function's view (and a few on its axes).
TEST(TestFunctions, GradientsMatchFiniteDifferences) {
  for (const landscape::TestFunction& f : landscape::test_functions()) {
    const auto [x_lo, x_hi, y_lo, y_hi] = f.view;
    for (int i = 0; i <= 6; ++i) {
      for (int j = 0; j <= 6; ++j) {
        const double x = x_lo + (x_hi - x_lo) * (i + 0.37) / 7.0;
        const double y = y_lo + (y_hi - y_lo) * (j + 0.61) / 7.0;
        const double h = 1e-6;
        const double dx = (f.value(x + h, y) - f.value(x - h, y)) / (2 * h);
        const double dy = (f.value(x, y + h) - f.value(x, y - h)) / (2 * h);
        const auto [gx, gy] = f.gradient(x, y);
        EXPECT_NEAR(gx, dx, 1e-5 + 1e-6 * std::fabs(dx)) << f.name << " at " << x << ", " << y;
        EXPECT_NEAR(gy, dy, 1e-5 + 1e-6 * std::fabs(dy)) << f.name << " at " << x << ", " << y;
      }
    }
  }
}

TEST(TestFunctions, MinimaAreStationaryAndLowest) {
  for (const landscape::TestFunction& f : landscape::test_functions()) {
    const auto [mx, my] = f.minimum;
    const auto [gx, gy] = f.gradient(mx, my);
    EXPECT_NEAR(gx, 0.0, 1e-12) << f.name;
    EXPECT_NEAR(gy, 0.0, 1e-12) << f.name;
    const double lowest = f.value(mx, my);
    for (double dx : {-1e-3, 0.0, 1e-3}) {
      for (double dy : {-1e-3, 0.0, 1e-3}) {
        EXPECT_GE(f.value(mx + dx, my + dy), lowest) << f.name;
      }
    }
    EXPECT_LT(f.value(f.start[0], f.start[1]), 1e6) << f.name;
  }
  EXPECT_EQ(landscape::test_function("rosenbrock").value(1.0, 1.0), 0.0);
  EXPECT_EQ(landscape::test_function("beale").value(3.0, 0.5), 0.0);
  EXPECT_NEAR(landscape::test_function("saddle").value(0.0, std::sqrt(2.0)), -1.0, 1e-15);
  // The saddle's origin: zero gradient, but not a minimum.
  const auto& saddle = landscape::test_function("saddle");
  EXPECT_EQ(saddle.gradient(0.0, 0.0)[0], 0.0);
  EXPECT_LT(saddle.value(0.0, 0.1), saddle.value(0.0, 0.0));
}

TEST(TestFunctions, KnownValues) {
  // Written out by hand from the formulas in the header.
  EXPECT_DOUBLE_EQ(landscape::test_function("rosenbrock").value(0.0, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(landscape::test_function("rosenbrock").value(-1.0, 2.0), 4.0 + 100.0);
  EXPECT_DOUBLE_EQ(landscape::test_function("beale").value(0.0, 0.0),
                   1.5 * 1.5 + 2.25 * 2.25 + 2.625 * 2.625);
  EXPECT_DOUBLE_EQ(landscape::test_function("ravine").value(2.0, 1.0), 0.5 * (4.0 + 25.0));
  EXPECT_DOUBLE_EQ(landscape::test_function("saddle").value(1.0, 2.0), 1.0 - 4.0 + 4.0);
}

TEST(TestFunctions, UnknownNameListsTheKnownOnes) {
  try {
    landscape::test_function("himmelblau");
    FAIL() << "no error";
  } catch (const descent::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'himmelblau'"), std::string::npos) << message;
    EXPECT_NE(message.find("rosenbrock, beale, ravine, saddle"), std::string::npos) << message;
  }
}
