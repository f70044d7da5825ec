// Reads reference values recorded from PyTorch by the scripts in tests/reference/.
//
// File format (text, one record per line, '#' starts a comment line):
//   <key> <rank> <d0> ... <d(rank-1)> <v0> <v1> ...
// Values are written with 17 significant digits; every record loads as a f64 tensor.
#pragma once

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "descent/core/tensor.hpp"

namespace descent::testing {

inline std::map<std::string, Tensor> load_reference(const std::string& filename) {
  const std::string path = std::string(DESCENT_TEST_DATA) + "/" + filename;
  std::ifstream in(path);
  DESCENT_CHECK(in.good(), "reference data: cannot open ", path,
                " (regenerate it with the script in tests/reference/)");
  std::map<std::string, Tensor> records;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string key;
    std::int64_t rank = -1;
    fields >> key >> rank;
    DESCENT_CHECK(fields && rank >= 0, path, ":", line_number, ": expected '<key> <rank> ...'");
    Shape shape(rank);
    for (auto& d : shape) fields >> d;
    std::vector<double> values(static_cast<std::size_t>(shape_numel(shape)));
    for (auto& v : values) fields >> v;
    DESCENT_CHECK(!fields.fail(), path, ":", line_number, ": record '", key, "' is short");
    records[key] = from_vector(values, shape.empty() ? Shape{} : shape, DType::f64);
    if (shape.empty()) records[key] = records[key].view_of(0, {});
  }
  return records;
}

inline const Tensor& ref(const std::map<std::string, Tensor>& records, const std::string& key) {
  auto it = records.find(key);
  DESCENT_CHECK(it != records.end(), "reference data: no record '", key, "'");
  return it->second;
}

}  // namespace descent::testing
