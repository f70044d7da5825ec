#include "descent/report/html.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "descent/core/error.hpp"
#include "report/xml_check.hpp"

namespace report = descent::report;
using testing_xml::check_well_formed;
using testing_xml::count;

namespace {

const std::set<std::string> kVoidElements = {"meta"};

report::HtmlReport sample() {
  report::LinePlot plot({.title = "loss"});
  plot.add("sgd", {0, 1, 2}, {1.0, 0.5, 0.25});
  report::ContourPlot map({0, 1}, {0, 1}, {{0, 1}, {1, 2}});
  report::HtmlReport page("Run <a> & b");
  page.heading("Loss")
      .paragraph("SGD's loss halves each step & more.")
      .figure(plot, "Training loss")
      .figure(map)
      .heading("Numbers", 3)
      .table({"optimizer", "loss"}, {{"sgd", "0.25"}, {"adam<", "0.1"}})
      .preformatted("descent train --lr 0.1 <x>");
  return page;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const descent::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(HtmlReport, WellFormedAndSelfContained) {
  const std::string html = sample().html();
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_EQ(check_well_formed(html, kVoidElements), "");
  EXPECT_EQ(count(html, "<figure>"), 2u);
  EXPECT_EQ(count(html, "<svg "), 2u);
  EXPECT_EQ(count(html, "<figcaption>Training loss</figcaption>"), 1u);
  EXPECT_EQ(count(html, "<tr>"), 3u);
  EXPECT_EQ(count(html, "<th>"), 2u);
  EXPECT_NE(html.find("<h3>Numbers</h3>"), std::string::npos);
  EXPECT_NE(html.find("<style>"), std::string::npos);
  // Nothing to run and nothing to fetch.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
}

TEST(HtmlReport, EscapesText) {
  const std::string html = sample().html();
  EXPECT_NE(html.find("<title>Run &lt;a&gt; &amp; b</title>"), std::string::npos);
  EXPECT_NE(html.find("SGD&apos;s loss halves each step &amp; more."), std::string::npos);
  EXPECT_NE(html.find("<td>adam&lt;</td>"), std::string::npos);
  EXPECT_NE(html.find("--lr 0.1 &lt;x&gt;"), std::string::npos);
}

TEST(HtmlReport, BadInput) {
  report::HtmlReport page("t");
  EXPECT_NE(message_of([&] {
              page.table({"a", "b"}, {{"1", "2"}, {"3"}});
            }).find("row 1 has 1 cells but the header has 2"),
            std::string::npos);
  EXPECT_NE(message_of([&] { page.table({}, {}); }).find("header is empty"), std::string::npos);
  EXPECT_NE(message_of([&] { page.heading("x", 1); }).find("level must be"), std::string::npos);
  EXPECT_NE(message_of([&] { page.figure("<p>not svg</p>"); }).find("expected one <svg>"),
            std::string::npos);
  EXPECT_NE(message_of([&] { page.figure(""); }).find("expected one <svg>"), std::string::npos);
  // The failed calls added nothing.
  EXPECT_EQ(page.html(), report::HtmlReport("t").html());
}

TEST(HtmlReport, SaveAndUnwritablePath) {
  const auto dir = std::filesystem::temp_directory_path() / "descent_html_report_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const report::HtmlReport page = sample();
  const auto path = dir / "report.html";
  page.save(path.string());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), page.html());

  const std::string missing = (dir / "missing" / "r.html").string();
  const std::string message = message_of([&] { page.save(missing); });
  EXPECT_NE(message.find("HtmlReport: cannot save '" + missing + "'"), std::string::npos)
      << message;
  std::filesystem::create_directory(path.string() + ".tmp");
  EXPECT_NE(message_of([&] { page.save(path.string()); }).find("cannot save"), std::string::npos);
  std::ifstream again(path);
  std::stringstream kept;
  kept << again.rdbuf();
  EXPECT_EQ(kept.str(), page.html());
  std::filesystem::remove_all(dir);
}
