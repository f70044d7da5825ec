// Helpers the experiments share: numbers for tables and CSV, the output folder, and the
// positive-or-gap series that log-scale plots take.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace descent::experiment {

// `value` with `digits` significant digits ("0.1235"), "nan" for NaN.
std::string number(double value, int digits = 4);

// Writes a report folder so that `dir` never holds a mix of two runs: `write` fills a fresh
// temporary folder beside `dir` ("<dir>.partial-<pid>"), which then replaces `dir` (the old
// folder and every stale file in it go). An existing `dir` must be empty or hold a
// report.html (an earlier report); anything else throws, so that a mistyped folder is never
// deleted. When `write` throws, `dir` is left as it was and the
// temporary folder is removed. Throws descent::Error naming `what` and the folder when a file
// operation fails. (Between the two renames a crash leaves `dir` absent and "<dir>.old-<pid>"
// whole: never a mix.)
void publish_folder(const std::string& dir, const char* what,
                    const std::function<void(const std::filesystem::path& folder)>& write);

// The mean of each value and the `window - 1` before it (fewer at the start); a non-finite
// value stays as it is and is left out of the means after it. For noisy batch losses.
std::vector<double> running_mean(const std::vector<double>& values, std::int64_t window);

// The values with every non-positive one replaced by NaN (a gap on a log axis).
std::vector<double> positive_or_gap(std::vector<double> values);

}  // namespace descent::experiment
