// The browser test of the HTML reports: headless Chromium (Debian's `chromium`, installed by
// scripts/setup.sh) opens a quick experiment's report.html; the screenshot must have the
// window's size and a good share of non-white pixels (the plots drew), the rendered DOM must
// hold every inline SVG figure, and the page must log nothing to the console (no errors).
// A control page that throws checks that console errors are caught at all.
//
// Without chromium the tests FAIL (not skip) with a message to run scripts/setup.sh: the
// report is the experiments' product, and an untested renderer would pass silently.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../temp_dir.hpp"
#include "descent/experiment/clipping.hpp"

namespace descent {
namespace {

namespace fs = std::filesystem;

constexpr const char* kChromium = "/usr/bin/chromium";
constexpr int kWidth = 1000;
constexpr int kHeight = 1600;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs chromium headless on `page` with `mode` ("--screenshot=FILE" or "--dump-dom"); returns
// the exit status, stdout (the DOM for --dump-dom) and stderr (the log, console included).
struct Browser {
  int status = -1;
  std::string out;
  std::string log;
};
Browser run_chromium(const testing::TempDir& tmp, const fs::path& page, const std::string& mode) {
  const std::string command =
      std::string("timeout 60 ") + kChromium +
      " --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir=" +
      tmp.file("profile") + " --window-size=" + std::to_string(kWidth) + "," +
      std::to_string(kHeight) + " --enable-logging=stderr --v=0 " + mode + " 'file://" +
      page.string() + "' >" + tmp.file("out.txt") + " 2>" + tmp.file("log.txt");
  Browser b;
  b.status = std::system(command.c_str());
  b.out = read_file(tmp.file("out.txt"));
  b.log = read_file(tmp.file("log.txt"));
  return b;
}

// Chromium logs each console message as "...:CONSOLE:<line>] "<text>", source: ...".
std::vector<std::string> console_lines(const std::string& log) {
  std::vector<std::string> out;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(":CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos) {
      out.push_back(line);
    }
  }
  return out;
}

// A decoded 8-bit RGB or RGBA PNG (non-interlaced: what Chromium writes).
struct Image {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  int channels = 0;
  std::vector<std::uint8_t> pixels;  // (height, width, channels)
};

std::uint32_t big_endian(const std::string& data, std::size_t at) {
  return (std::uint32_t(std::uint8_t(data[at])) << 24) |
         (std::uint32_t(std::uint8_t(data[at + 1])) << 16) |
         (std::uint32_t(std::uint8_t(data[at + 2])) << 8) |
         std::uint32_t(std::uint8_t(data[at + 3]));
}

int paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a);
  const int pb = std::abs(p - b);
  const int pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
}

// PNG (ISO/IEC 15948): chunks after the signature; IHDR, then IDAT chunks whose joined data
// is one zlib stream of rows, each row a filter byte then the filtered bytes.
Image decode_png(const std::string& data) {
  Image image;
  if (data.size() < 33 || data.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) {
    ADD_FAILURE() << "not a PNG";
    return image;
  }
  std::string compressed;
  for (std::size_t at = 8; at + 8 <= data.size();) {
    const std::uint32_t length = big_endian(data, at);
    const std::string type = data.substr(at + 4, 4);
    if (type == "IHDR") {
      image.width = big_endian(data, at + 8);
      image.height = big_endian(data, at + 12);
      const int depth = std::uint8_t(data[at + 16]);
      const int colour = std::uint8_t(data[at + 17]);
      const int interlace = std::uint8_t(data[at + 20]);
      if (depth != 8 || (colour != 2 && colour != 6) || interlace != 0) {
        ADD_FAILURE() << "unsupported PNG: depth " << depth << ", colour type " << colour
                      << ", interlace " << interlace;
        return image;
      }
      image.channels = colour == 2 ? 3 : 4;
    } else if (type == "IDAT") {
      compressed += data.substr(at + 8, length);
    }
    at += 12 + length;
  }
  const std::size_t stride = std::size_t(image.width) * image.channels;
  std::vector<std::uint8_t> raw((stride + 1) * image.height);
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(compressed.data()),
                 compressed.size()) != Z_OK ||
      raw_size != raw.size()) {
    ADD_FAILURE() << "PNG: the image data does not inflate to " << raw.size() << " bytes";
    return image;
  }
  image.pixels.resize(stride * image.height);
  const int bpp = image.channels;
  for (std::size_t y = 0; y < image.height; ++y) {
    const int filter = raw[y * (stride + 1)];
    const std::uint8_t* in = &raw[y * (stride + 1) + 1];
    std::uint8_t* row = &image.pixels[y * stride];
    const std::uint8_t* up = y > 0 ? &image.pixels[(y - 1) * stride] : nullptr;
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= std::size_t(bpp) ? row[x - bpp] : 0;
      const int b = up ? up[x] : 0;
      const int c = up && x >= std::size_t(bpp) ? up[x - bpp] : 0;
      int predictor = 0;
      switch (filter) {
        case 0:
          predictor = 0;
          break;
        case 1:
          predictor = a;
          break;
        case 2:
          predictor = b;
          break;
        case 3:
          predictor = (a + b) / 2;
          break;
        case 4:
          predictor = paeth(a, b, c);
          break;
        default:
          ADD_FAILURE() << "PNG: filter " << filter << " in row " << y;
          return image;
      }
      row[x] = std::uint8_t(in[x] + predictor);
    }
  }
  return image;
}

bool chromium_installed() {
  if (fs::exists(kChromium)) return true;
  ADD_FAILURE() << kChromium
                << " is missing: the browser test needs Debian's chromium; run scripts/setup.sh "
                   "(or apt install chromium)";
  return false;
}

// The quick clipping experiment's report (synthetic data: needs no dataset).
fs::path write_report(const testing::TempDir& tmp) {
  experiment::ClippingOptions o;
  o.lengths = {8};
  o.seeds = 1;
  o.steps = 20;
  o.hidden = 8;
  o.test_size = 50;
  o.threads = 1;
  const auto runs = experiment::run_clipping(o);
  experiment::write_clipping_report(runs, o, tmp.file("report"));
  return tmp.path() / "report" / "report.html";
}

TEST(Browser, ReportRendersWithItsPlotsAndNoConsoleErrors) {
  if (!chromium_installed()) return;
  const testing::TempDir tmp;
  const fs::path page = write_report(tmp);
  const std::string html = read_file(page);
  std::size_t figures = 0;
  for (std::size_t at = html.find("<svg"); at != std::string::npos;
       at = html.find("<svg", at + 1)) {
    ++figures;
  }
  ASSERT_GE(figures, 2u) << "the report should inline its two plots";

  const Browser shot = run_chromium(tmp, page, "--screenshot=" + tmp.file("shot.png"));
  ASSERT_EQ(shot.status, 0) << shot.log;
  EXPECT_TRUE(console_lines(shot.log).empty()) << "console messages:\n"
                                               << ::testing::PrintToString(console_lines(shot.log));
  const Image image = decode_png(read_file(tmp.file("shot.png")));
  EXPECT_EQ(image.width, std::uint32_t(kWidth));
  EXPECT_EQ(image.height, std::uint32_t(kHeight));
  ASSERT_FALSE(image.pixels.empty());
  // Text, table rules, axes and coloured lines: a blank page would be all white.
  std::size_t non_white = 0;
  std::size_t coloured = 0;  // channels differing by > 40: the plots' series, not grey text
  const std::size_t n = std::size_t(image.width) * image.height;
  for (std::size_t p = 0; p < n; ++p) {
    const std::uint8_t* px = &image.pixels[p * image.channels];
    non_white += px[0] < 235 || px[1] < 235 || px[2] < 235;
    const int spread = std::max({px[0], px[1], px[2]}) - std::min({px[0], px[1], px[2]});
    coloured += spread > 40;
  }
  EXPECT_GT(double(non_white) / double(n), 0.02) << non_white << " of " << n;
  EXPECT_GT(coloured, 500u) << "no coloured plot lines on the screenshot";

  const Browser dom = run_chromium(tmp, page, "--dump-dom");
  ASSERT_EQ(dom.status, 0) << dom.log;
  std::size_t rendered = 0;
  for (std::size_t at = dom.out.find("<svg"); at != std::string::npos;
       at = dom.out.find("<svg", at + 1)) {
    ++rendered;
  }
  EXPECT_EQ(rendered, figures) << "the rendered DOM lost figures";
  EXPECT_NE(dom.out.find("<path"), std::string::npos) << "no plotted line in the DOM";
}

// The control: a page that throws is reported, so the check above can fail.
TEST(Browser, ConsoleErrorsAreCaught) {
  if (!chromium_installed()) return;
  const testing::TempDir tmp;
  const fs::path page = tmp.path() / "throws.html";
  std::ofstream(page) << "<!DOCTYPE html><html><body><p>x</p><script>throw new Error('boom');"
                         "</script></body></html>";
  const Browser dom = run_chromium(tmp, page, "--dump-dom");
  ASSERT_EQ(dom.status, 0) << dom.log;
  const std::vector<std::string> lines = console_lines(dom.log);
  ASSERT_EQ(lines.size(), 1u) << dom.log;
  EXPECT_NE(lines[0].find("Uncaught Error: boom"), std::string::npos) << lines[0];
}

}  // namespace
}  // namespace descent
