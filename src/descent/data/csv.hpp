// Tabular data from CSV files: numeric feature columns and one label column.
//
// ====== Intended usage ======
//   // iris.csv: sepal_length,sepal_width,petal_length,petal_width,species
//   data::CsvData iris = data::read_csv("iris.csv", {.label_column = "species",
//                                                    .labels = data::CsvLabels::class_name});
//   iris.data            // inputs (N, 4) f32, targets (N) i64
//   iris.class_names     // {"setosa", "versicolor", "virginica"}: label i is class_names[i]
//   data::read_csv("houses.csv", {.label_index = 0, .labels = data::CsvLabels::value});
//                        // targets (N, 1) f32 from the first column
//
// The format is RFC 4180's, one record per line: fields separated by `delimiter`, spaces
// around a field ignored, a field in double quotes may hold the delimiter and "" for a
// quote (but not a line break). Blank lines are skipped; every other line must have as
// many fields as the first. Numbers are read as std::from_chars reads them, whatever the
// locale ("1", "+2", "-2.5e3", "nan", "inf"); an empty field is an error, not a missing
// value.
//
// Errors name the place as file:line:column (column counts characters from 1), the field's
// name when there is a header, and what was expected there, e.g.
//   "read_csv: iris.csv:17:9: field 2 (sepal_width) is "3,1", expected a number"
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "descent/data/dataset.hpp"

namespace descent::data {

enum class CsvLabels {
  class_index,  // integers 0, 1, 2, ... -> targets (N) i64
  class_name,   // any text -> targets (N) i64, numbered in sorted order of the names
  value,        // numbers -> targets (N, 1) f32/f64, for regression
};

struct CsvOptions {
  bool header = true;  // the first line names the columns (pandas' default)
  char delimiter = ',';
  // The label column, by name (needs a header) or by index (negative counts from the end).
  // Neither set: the last column. Both set: an error.
  std::string label_column = "";
  std::optional<std::int64_t> label_index = std::nullopt;
  CsvLabels labels = CsvLabels::class_index;
  DType dtype = DType::f32;  // of the features (and of value labels): f32 or f64
};

struct CsvData {
  TensorDataset data;                      // inputs (N, F), targets (N) or (N, 1)
  std::vector<std::string> feature_names;  // F names (from the header, else "column 1", ...)
  std::string label_name;
  std::vector<std::string> class_names;  // for CsvLabels::class_name; empty otherwise
};

CsvData read_csv(const std::string& path, const CsvOptions& options = {});

// The same, from text held in memory; `name` stands for the file in error messages.
CsvData parse_csv(std::string_view text, const std::string& name, const CsvOptions& options = {});

}  // namespace descent::data
