#include "descent/experiment/common.hpp"

#include <unistd.h>

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

std::vector<double> running_mean(const std::vector<double>& values, std::int64_t window) {
  DESCENT_CHECK(window >= 1, "running_mean: window must be positive, got ", window);
  std::vector<double> out(values.size());
  double sum = 0;
  std::int64_t count = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i])) {
      sum += values[i];
      ++count;
    }
    const std::size_t w = static_cast<std::size_t>(window);
    if (i >= w && std::isfinite(values[i - w])) {
      sum -= values[i - w];
      --count;
    }
    out[i] = std::isfinite(values[i]) && count > 0 ? sum / static_cast<double>(count) : values[i];
  }
  return out;
}

std::vector<double> positive_or_gap(std::vector<double> values) {
  for (double& v : values) v = v > 0 ? v : std::numeric_limits<double>::quiet_NaN();
  return values;
}

void publish_folder(const std::string& dir, const char* what,
                    const std::function<void(const std::filesystem::path& folder)>& write) {
  namespace fs = std::filesystem;
  DESCENT_CHECK(!dir.empty(), what, ": empty output folder");
  fs::path target = fs::path(dir);
  if (!target.has_filename()) target = target.parent_path();  // "runs/x/" -> "runs/x"
  const std::string pid = std::to_string(static_cast<long long>(::getpid()));
  const fs::path partial = fs::path(target.string() + ".partial-" + pid);
  const fs::path old = fs::path(target.string() + ".old-" + pid);
  std::error_code error;
  // Only an empty folder or an earlier report is replaced: a typo such as --out . must not
  // delete a folder of other files.
  if (fs::exists(target)) {
    DESCENT_CHECK(
        fs::is_directory(target) && (fs::is_empty(target) || fs::exists(target / "report.html")),
        what, ": refusing to replace '", target.string(),
        "': it exists and is not an earlier report (no report.html); choose another "
        "output folder");
  }
  fs::remove_all(partial, error);
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), error);
    DESCENT_CHECK(!error, what, ": cannot create '", target.parent_path().string(),
                  "': ", error.message());
  }
  fs::create_directory(partial, error);
  DESCENT_CHECK(!error, what, ": cannot create '", partial.string(), "': ", error.message());
  try {
    write(partial);
  } catch (...) {
    fs::remove_all(partial, error);
    throw;
  }
  const bool had_old = fs::exists(target);
  if (had_old) {
    fs::remove_all(old, error);
    fs::rename(target, old, error);
    DESCENT_CHECK(!error, what, ": cannot move the previous '", target.string(),
                  "' aside: ", error.message());
  }
  fs::rename(partial, target, error);
  if (error) {
    const std::string message = error.message();
    if (had_old) fs::rename(old, target, error);  // put the previous run back
    fs::remove_all(partial, error);
    DESCENT_CHECK(false, what, ": cannot rename the new report into '", target.string(),
                  "': ", message);
  }
  if (had_old) fs::remove_all(old, error);
}

}  // namespace descent::experiment
