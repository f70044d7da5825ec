// A self-contained HTML report: one file with inline CSS and inline SVG figures, no scripts
// and nothing fetched from the network, so it opens anywhere and can be archived or mailed.
//
// ====== Intended usage ======
//   report::HtmlReport page("Adam vs SGD on Fashion-MNIST");
//   page.heading("Loss");
//   page.paragraph("Adam reaches 0.35 in a third of the steps.");
//   page.figure(loss_plot, "Training loss per step (log scale).");  // a LinePlot or ContourPlot
//   page.table({"optimizer", "final loss", "accuracy"}, {{"sgd", "0.41", "85.2%"},
//                                                         {"adam", "0.35", "87.9%"}});
//   page.save("runs/compare/report.html");  // atomic: the old file stays whole on failure
//
// All text is HTML-escaped; figures are inserted as the SVG text the plots produce.
#pragma once

#include <string>
#include <vector>

#include "descent/report/svg.hpp"

namespace descent::report {

class HtmlReport {
 public:
  explicit HtmlReport(std::string title);

  // A section heading; level 2 (the default) to 4 (level 1 is the title).
  HtmlReport& heading(std::string text, int level = 2);
  HtmlReport& paragraph(std::string text);
  // Monospaced text kept as typed (a command line, a config).
  HtmlReport& preformatted(std::string text);
  // An SVG figure with a caption (may be empty). The text must be one <svg> element.
  HtmlReport& figure(const std::string& svg, std::string caption = "");
  HtmlReport& figure(const LinePlot& plot, std::string caption = "");
  HtmlReport& figure(const ContourPlot& plot, std::string caption = "");
  // A table; every row must have as many cells as the header.
  HtmlReport& table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows);

  std::string html() const;
  // Writes html() atomically (temporary file + rename); throws descent::Error naming the path.
  void save(const std::string& path) const;

 private:
  std::string title_;
  std::string body_;
};

}  // namespace descent::report
