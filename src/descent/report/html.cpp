#include "descent/report/html.hpp"

#include "descent/core/error.hpp"
#include "descent/train/atomic_file.hpp"

namespace descent::report {
namespace {

constexpr const char* kStyle =
    R"(body { font-family: sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 1px solid #ccc; padding-bottom: 0.3em; }
h2 { font-size: 1.3em; margin-top: 1.6em; }
h3, h4 { font-size: 1.1em; }
figure { margin: 1.2em 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #555; margin-top: 0.3em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
th { background: #f2f2f2; }
td { font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; }
)";

}  // namespace

HtmlReport::HtmlReport(std::string title) : title_(std::move(title)) {}

HtmlReport& HtmlReport::heading(std::string text, int level) {
  DESCENT_CHECK(level >= 2 && level <= 4, "HtmlReport::heading: level must be 2, 3 or 4, got ",
                level);
  body_ += cat("<h", level, ">", xml_escape(text), "</h", level, ">\n");
  return *this;
}

HtmlReport& HtmlReport::paragraph(std::string text) {
  body_ += cat("<p>", xml_escape(text), "</p>\n");
  return *this;
}

HtmlReport& HtmlReport::preformatted(std::string text) {
  body_ += cat("<pre>", xml_escape(text), "</pre>\n");
  return *this;
}

HtmlReport& HtmlReport::figure(const std::string& svg, std::string caption) {
  const std::size_t start = svg.find_first_not_of(" \t\r\n");
  const std::size_t end = svg.find_last_not_of(" \t\r\n");
  const std::string trimmed =
      start == std::string::npos ? std::string() : svg.substr(start, end - start + 1);
  DESCENT_CHECK(trimmed.starts_with("<svg") && trimmed.ends_with("</svg>"),
                "HtmlReport::figure: expected one <svg> element, got text starting with '",
                trimmed.substr(0, 20), "'");
  body_ += "<figure>\n" + trimmed + "\n";
  if (!caption.empty()) body_ += cat("<figcaption>", xml_escape(caption), "</figcaption>\n");
  body_ += "</figure>\n";
  return *this;
}

HtmlReport& HtmlReport::figure(const LinePlot& plot, std::string caption) {
  return figure(plot.svg(), std::move(caption));
}

HtmlReport& HtmlReport::figure(const ContourPlot& plot, std::string caption) {
  return figure(plot.svg(), std::move(caption));
}

HtmlReport& HtmlReport::table(std::vector<std::string> header,
                              std::vector<std::vector<std::string>> rows) {
  DESCENT_CHECK(!header.empty(), "HtmlReport::table: the header is empty");
  for (std::size_t r = 0; r < rows.size(); ++r) {
    DESCENT_CHECK(rows[r].size() == header.size(), "HtmlReport::table: row ", r, " has ",
                  rows[r].size(), " cells but the header has ", header.size());
  }
  std::string out = "<table>\n<thead><tr>";
  for (const std::string& cell : header) out += cat("<th>", xml_escape(cell), "</th>");
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : rows) {
    out += "<tr>";
    for (const std::string& cell : row) out += cat("<td>", xml_escape(cell), "</td>");
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n";
  body_ += out;
  return *this;
}

std::string HtmlReport::html() const {
  return cat("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
             xml_escape(title_), "</title>\n<style>\n", kStyle, "</style>\n</head>\n<body>\n<h1>",
             xml_escape(title_), "</h1>\n", body_, "</body>\n</html>\n");
}

void HtmlReport::save(const std::string& path) const {
  try {
    train::write_file_atomic(path, html());
  } catch (const Error& e) {
    throw Error(cat("HtmlReport: cannot save '", path, "': ", e.what()));
  }
}

}  // namespace descent::report
