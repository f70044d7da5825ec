// publish_folder: a report folder never mixes two runs; running_mean.
#include "descent/experiment/common.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <stdexcept>

#include "../temp_dir.hpp"
#include "descent/core/error.hpp"

namespace descent::experiment {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A rerun replaces the folder: the stale file of the first run (which the second does not
// write) is gone, and no temporary folder is left beside it.
TEST(PublishFolder, ReplacesAnEarlierReportWhole) {
  const testing::TempDir tmp;
  const fs::path dir = tmp.path() / "report";
  publish_folder(dir.string(), "test", [](const fs::path& folder) {
    write_text(folder / "report.html", "first");
    write_text(folder / "stale.csv", "first");
  });
  EXPECT_EQ(read_text(dir / "report.html"), "first");
  publish_folder(dir.string(), "test",
                 [](const fs::path& folder) { write_text(folder / "report.html", "second"); });
  EXPECT_EQ(read_text(dir / "report.html"), "second");
  EXPECT_FALSE(fs::exists(dir / "stale.csv"));
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);
}

// An interrupted write (an exception) leaves the earlier report as it was.
TEST(PublishFolder, AFailedWriteLeavesTheEarlierReport) {
  const testing::TempDir tmp;
  const fs::path dir = tmp.path() / "report";
  publish_folder(dir.string(), "test",
                 [](const fs::path& folder) { write_text(folder / "report.html", "first"); });
  EXPECT_THROW(publish_folder(dir.string(), "test",
                              [](const fs::path& folder) {
                                write_text(folder / "report.html", "half");
                                throw std::runtime_error("interrupted");
                              }),
               std::runtime_error);
  EXPECT_EQ(read_text(dir / "report.html"), "first");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);
}

// A folder of other files (e.g. --out . by mistake) is never replaced.
TEST(PublishFolder, RefusesAFolderThatIsNotAReport) {
  const testing::TempDir tmp;
  write_text(tmp.path() / "notes.txt", "keep me");
  try {
    publish_folder(tmp.str(), "test", [](const fs::path&) {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an earlier report"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_text(tmp.path() / "notes.txt"), "keep me");
  // an empty folder is fine
  const fs::path empty = tmp.path() / "empty";
  fs::create_directory(empty);
  publish_folder(empty.string(), "test",
                 [](const fs::path& folder) { write_text(folder / "report.html", "x"); });
  EXPECT_TRUE(fs::exists(empty / "report.html"));
}

TEST(RunningMean, WindowsAndGaps) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> out = running_mean({1, 3, 5, nan, 7}, 2);
  EXPECT_DOUBLE_EQ(out[0], 1);
  EXPECT_DOUBLE_EQ(out[1], 2);
  EXPECT_DOUBLE_EQ(out[2], 4);
  EXPECT_TRUE(std::isnan(out[3]));
  EXPECT_DOUBLE_EQ(out[4], 7);  // the NaN is left out of the window
  EXPECT_THROW(running_mean({1}, 0), Error);
}

}  // namespace
}  // namespace descent::experiment
