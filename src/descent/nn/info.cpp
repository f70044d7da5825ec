#include "descent/nn/info.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace descent::nn {

ModelInfo model_info(const Module& model, const Shape& sample_shape) {
  ModelInfo info;
  info.model = model.str();
  info.input = sample_shape;
  Shape batch_of_one{1};
  batch_of_one.insert(batch_of_one.end(), sample_shape.begin(), sample_shape.end());
  const Shape output = model.summarize(batch_of_one, info.layers);
  info.output.assign(output.begin() + 1, output.end());
  info.parameters = model.num_parameters();
  for (const LayerSummary& row : info.layers) info.flops += row.flops;
  return info;
}

namespace {

// 1234567 -> "1,234,567"
std::string grouped(double value) {
  std::string digits = std::to_string(static_cast<long long>(std::llround(value)));
  std::string out;
  const std::size_t first = digits.size() % 3 == 0 ? 3 : digits.size() % 3;
  out += digits.substr(0, first);
  for (std::size_t i = first; i < digits.size(); i += 3) {
    out += ',';
    out.append(digits, i, 3);
  }
  return out;
}

// scaled(81234567, "FLOPs") -> "81.23 MFLOPs"; scaled(272186, "") -> "272.19 K"
std::string scaled(double value, const std::string& suffix) {
  const char* prefixes[] = {"", "K", "M", "G", "T"};
  int prefix = 0;
  while (value >= 1000.0 && prefix < 4) {
    value /= 1000.0;
    ++prefix;
  }
  char number[32];
  std::snprintf(number, sizeof number, prefix == 0 ? "%.0f" : "%.2f", value);
  std::string unit = prefixes[prefix];
  unit += suffix;
  return unit.empty() ? number : cat(number, " ", unit);
}

std::string sample_shape_str(const Shape& shape) {
  return shape_str(Shape(shape.begin() + (shape.empty() ? 0 : 1), shape.end()));
}

std::string pad_right(const std::string& text, std::size_t width) {
  return text + std::string(width > text.size() ? width - text.size() : 0, ' ');
}

std::string pad_left(const std::string& text, std::size_t width) {
  return std::string(width > text.size() ? width - text.size() : 0, ' ') + text;
}

}  // namespace

std::string format_info(const ModelInfo& info) {
  struct Line {
    std::string name, layer, output, parameters, flops;
  };
  std::vector<Line> lines{{"name", "layer", "output", "params", "FLOPs"}};
  for (const LayerSummary& row : info.layers) {
    lines.push_back({row.name.empty() ? "(root)" : row.name, row.layer,
                     sample_shape_str(row.output), grouped(static_cast<double>(row.parameters)),
                     grouped(row.flops)});
  }
  std::size_t widths[5] = {0, 0, 0, 0, 0};
  for (const Line& line : lines) {
    widths[0] = std::max(widths[0], line.name.size());
    widths[1] = std::max(widths[1], line.layer.size());
    widths[2] = std::max(widths[2], line.output.size());
    widths[3] = std::max(widths[3], line.parameters.size());
    widths[4] = std::max(widths[4], line.flops.size());
  }
  std::string out = cat("model:  ", info.model, "\n", "input:  ", shape_str(info.input),
                        " per sample\n", "output: ", shape_str(info.output), " per sample\n\n");
  for (const Line& line : lines) {
    out += pad_right(line.name, widths[0]) + "  " + pad_right(line.layer, widths[1]) + "  " +
           pad_right(line.output, widths[2]) + "  " + pad_left(line.parameters, widths[3]) + "  " +
           pad_left(line.flops, widths[4]) + "\n";
  }
  out += cat("\nparameters:        ", grouped(static_cast<double>(info.parameters)), " (",
             scaled(static_cast<double>(info.parameters), ""), ")\n");
  out += cat("FLOPs per sample:  ", grouped(info.flops), " (", scaled(info.flops, "FLOPs"),
             ", forward; multiply-add = 2)\n");
  return out;
}

}  // namespace descent::nn
