// Classic 2-D test functions for optimizers, in f64, with closed-form gradients: the terrain
// on which `descent trace` races optimizers and draws their paths.
//
// ====== Intended usage ======
//   const landscape::TestFunction& f = landscape::test_function("rosenbrock");
//   double loss = f.value(x, y);
//   auto [dx, dy] = f.gradient(x, y);
//   for (const auto& g : landscape::test_functions()) print(g.name, g.formula);
//
// The functions (tests/landscape/test_functions_test.cpp checks every gradient against
// central differences):
//   rosenbrock  (a - x)^2 + b (y - x^2)^2 with a = 1, b = 100 (Rosenbrock 1960): a curved,
//               flat-bottomed valley; minimum 0 at (1, 1).
//   beale       (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2 (Beale 1958):
//               flat plateaus and steep walls; minimum 0 at (3, 0.5).
//   ravine      (x^2 + 25 y^2) / 2: a narrow quadratic, curvature 1 along x and 25 along y
//               (condition number 25). Gradient descent zig-zags across it for lr near
//               2/25 and crawls along it for small lr; minimum 0 at (0, 0).
//   saddle      x^2 - y^2 + y^4 / 4: a saddle point at (0, 0) (curvature +2 along x, -2 along
//               y) between two minima, -1 at (0, +-sqrt(2)). Started near y = 0, a method
//               must escape the saddle along y.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace descent::landscape {

struct TestFunction {
  std::string name;
  std::string formula;  // as in the list above
  double (*value)(double x, double y);
  std::array<double, 2> (*gradient)(double x, double y);  // (df/dx, df/dy)
  std::array<double, 2> minimum;                          // a global minimum (x, y)
  std::array<double, 2> start;                            // a customary starting point
  std::array<double, 4> view;  // x_lo, x_hi, y_lo, y_hi: the region worth plotting
  bool log_scale;              // its values read better on a log scale (>= 0, huge range)
};

// Every test function, in the order of the list above.
const std::vector<TestFunction>& test_functions();
// The function called `name`; throws descent::Error listing the known names otherwise.
const TestFunction& test_function(const std::string& name);

}  // namespace descent::landscape
