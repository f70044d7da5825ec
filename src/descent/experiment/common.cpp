#include "descent/experiment/common.hpp"

#include <cmath>
#include <limits>
#include <sstream>

#include "descent/core/error.hpp"

namespace descent::experiment {

std::string number(double value, int digits) {
  if (std::isnan(value)) return "nan";
  std::ostringstream out;
  out.precision(digits);
  out << value;
  return out.str();
}

std::filesystem::path prepare_folder(const std::string& dir, const char* what) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  DESCENT_CHECK(!error, what, ": cannot create '", dir, "': ", error.message());
  return std::filesystem::path(dir);
}

std::vector<double> positive_or_gap(std::vector<double> values) {
  for (double& v : values) v = v > 0 ? v : std::numeric_limits<double>::quiet_NaN();
  return values;
}

}  // namespace descent::experiment
