#include "descent/landscape/test_functions.hpp"

#include <cmath>

#include "descent/core/error.hpp"

namespace descent::landscape {
namespace {

constexpr double kRosenbrockA = 1.0;
constexpr double kRosenbrockB = 100.0;
constexpr double kRavineCurvature = 25.0;  // along y; 1 along x

double rosenbrock(double x, double y) {
  const double valley = y - x * x;
  return (kRosenbrockA - x) * (kRosenbrockA - x) + kRosenbrockB * valley * valley;
}

std::array<double, 2> rosenbrock_gradient(double x, double y) {
  const double valley = y - x * x;
  return {-2.0 * (kRosenbrockA - x) - 4.0 * kRosenbrockB * x * valley, 2.0 * kRosenbrockB * valley};
}

// The three residuals of Beale's function and their derivatives.
struct BealeTerms {
  double t1, t2, t3;
};

BealeTerms beale_terms(double x, double y) {
  return {1.5 - x + x * y, 2.25 - x + x * y * y, 2.625 - x + x * y * y * y};
}

double beale(double x, double y) {
  const BealeTerms t = beale_terms(x, y);
  return t.t1 * t.t1 + t.t2 * t.t2 + t.t3 * t.t3;
}

std::array<double, 2> beale_gradient(double x, double y) {
  const BealeTerms t = beale_terms(x, y);
  const double dx = 2.0 * t.t1 * (y - 1.0)             // term 1
                    + 2.0 * t.t2 * (y * y - 1.0)       // term 2
                    + 2.0 * t.t3 * (y * y * y - 1.0);  // term 3
  const double dy = 2.0 * t.t1 * x                     // term 1
                    + 2.0 * t.t2 * 2.0 * x * y         // term 2
                    + 2.0 * t.t3 * 3.0 * x * y * y;    // term 3
  return {dx, dy};
}

double ravine(double x, double y) {
  return 0.5 * (x * x + kRavineCurvature * y * y);
}

std::array<double, 2> ravine_gradient(double x, double y) {
  return {x, kRavineCurvature * y};
}

double saddle(double x, double y) {
  return x * x - y * y + 0.25 * y * y * y * y;
}

std::array<double, 2> saddle_gradient(double x, double y) {
  return {2.0 * x, -2.0 * y + y * y * y};
}

}  // namespace

const std::vector<TestFunction>& test_functions() {
  static const std::vector<TestFunction> functions = {
      {"rosenbrock",
       "(1 - x)^2 + 100 (y - x^2)^2",
       rosenbrock,
       rosenbrock_gradient,
       {1.0, 1.0},
       {-1.5, 2.0},
       {-2.0, 2.0, -1.0, 3.0},
       true},
      {"beale",
       "(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
       beale,
       beale_gradient,
       {3.0, 0.5},
       {1.0, 1.5},
       {-4.5, 4.5, -4.5, 4.5},
       true},
      {"ravine",
       "(x^2 + 25 y^2) / 2",
       ravine,
       ravine_gradient,
       {0.0, 0.0},
       {-8.0, 2.0},
       {-10.0, 10.0, -4.0, 4.0},
       false},
      {"saddle",
       "x^2 - y^2 + y^4 / 4",
       saddle,
       saddle_gradient,
       {0.0, std::sqrt(2.0)},
       {1.5, 0.01},
       {-2.0, 2.0, -2.5, 2.5},
       false},
  };
  return functions;
}

const TestFunction& test_function(const std::string& name) {
  std::string known;
  for (const TestFunction& f : test_functions()) {
    if (f.name == name) return f;
    known += (known.empty() ? "" : ", ") + f.name;
  }
  throw Error(cat("test_function: unknown function '", name, "' (known: ", known, ")"));
}

}  // namespace descent::landscape
