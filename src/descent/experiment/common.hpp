// Helpers the experiments share: numbers for tables and CSV, the output folder, and the
// positive-or-gap series that log-scale plots take.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace descent::experiment {

// `value` with `digits` significant digits ("0.1235"), "nan" for NaN.
std::string number(double value, int digits = 4);

// Creates `dir` (and its parents) if needed; throws descent::Error naming `what` and the
// folder when it cannot.
std::filesystem::path prepare_folder(const std::string& dir, const char* what);

// The values with every non-positive one replaced by NaN (a gap on a log axis).
std::vector<double> positive_or_gap(std::vector<double> values);

}  // namespace descent::experiment
