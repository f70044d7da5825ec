#include "descent/data/csv.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

namespace descent::data {
namespace {

struct Field {
  std::string text;
  std::size_t column = 0;  // 1-based character position where the field starts
};

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// Splits line `line_number` of file `name` into fields.
void split_line(std::string_view line, char delimiter, const std::string& name,
                std::size_t line_number, std::vector<Field>& fields) {
  fields.clear();
  std::size_t pos = 0;
  while (true) {
    while (pos < line.size() && is_blank(line[pos]) && line[pos] != delimiter) ++pos;
    Field field;
    field.column = pos + 1;
    if (pos < line.size() && line[pos] == '"') {
      const std::size_t open = pos++;
      bool closed = false;
      while (pos < line.size()) {
        if (line[pos] == '"') {
          if (pos + 1 < line.size() && line[pos + 1] == '"') {
            field.text += '"';
            pos += 2;
            continue;
          }
          closed = true;
          ++pos;
          break;
        }
        field.text += line[pos++];
      }
      DESCENT_CHECK(closed, "read_csv: ", name, ":", line_number, ":", open + 1,
                    ": quote opened here is not closed on this line (fields cannot span lines)");
      while (pos < line.size() && is_blank(line[pos]) && line[pos] != delimiter) ++pos;
      DESCENT_CHECK(pos == line.size() || line[pos] == delimiter, "read_csv: ", name, ":",
                    line_number, ":", pos + 1, ": expected '", delimiter,
                    "' or the end of the line after a quoted "
                    "field, got '",
                    line[pos], "'");
    } else {
      const std::size_t start = pos;
      while (pos < line.size() && line[pos] != delimiter) ++pos;
      std::size_t end = pos;
      while (end > start && is_blank(line[end - 1])) --end;
      field.text.assign(line.substr(start, end - start));
    }
    fields.push_back(std::move(field));
    if (pos == line.size()) return;
    ++pos;  // the delimiter
  }
}

// The field's number, or nullopt if it is not one number.
std::optional<double> to_number(std::string_view text) {
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

CsvData read_csv(const std::string& path, const CsvOptions& options) {
  std::ifstream in(path, std::ios::binary);
  DESCENT_CHECK(in.good(), "read_csv: cannot open ", path);
  std::ostringstream text;
  text << in.rdbuf();
  DESCENT_CHECK(!in.bad(), "read_csv: ", path, ": read error");
  return parse_csv(text.str(), path, options);
}

CsvData parse_csv(std::string_view text, const std::string& name, const CsvOptions& options) {
  DESCENT_CHECK(options.dtype == DType::f32 || options.dtype == DType::f64,
                "read_csv: dtype must be f32 or f64, got ", dtype_name(options.dtype));
  DESCENT_CHECK(options.delimiter != '"' && options.delimiter != '\n' && options.delimiter != '\r',
                "read_csv: the delimiter cannot be a quote or a line break");
  DESCENT_CHECK(options.label_column.empty() || !options.label_index.has_value(),
                "read_csv: set label_column or label_index, not both (got label_column \"",
                options.label_column, "\" and label_index ", options.label_index.value_or(0), ")");
  DESCENT_CHECK(options.label_column.empty() || options.header, "read_csv: label_column \"",
                options.label_column,
                "\" needs a header line (header = true); use label_index without one");

  CsvData out;
  std::vector<Field> fields;
  std::size_t columns = 0;       // fields per record, fixed by the first record
  std::size_t first_line = 0;    // the line that fixed it
  std::size_t label = 0;         // the label's field number (0-based)
  std::vector<double> features;  // (N, F) row-major
  std::vector<double> values;    // labels as numbers (class_index, value)
  std::vector<std::string> names;
  std::int64_t records = 0;

  std::size_t line_number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (std::all_of(line.begin(), line.end(), is_blank)) continue;
    split_line(line, options.delimiter, name, line_number, fields);

    if (columns == 0) {
      columns = fields.size();
      first_line = line_number;
      DESCENT_CHECK(columns >= 2, "read_csv: ", name, ":", line_number,
                    ":1: expected at least 2 fields (features and a label), got ", columns);
      std::vector<std::string> header(columns);
      for (std::size_t c = 0; c < columns; ++c) {
        header[c] = options.header ? fields[c].text : cat("column ", c + 1);
      }
      if (!options.label_column.empty()) {
        const auto found = std::find(header.begin(), header.end(), options.label_column);
        DESCENT_CHECK(found != header.end(), "read_csv: ", name, ":", line_number,
                      ":1: no column named \"", options.label_column, "\" in the header");
        label = static_cast<std::size_t>(found - header.begin());
      } else {
        const std::int64_t index = options.label_index.value_or(-1);
        const auto count = static_cast<std::int64_t>(columns);
        DESCENT_CHECK(-count <= index && index < count, "read_csv: ", name, ":", line_number,
                      ":1: label_index ", index, " is out of range for ", columns, " columns");
        label = static_cast<std::size_t>(index < 0 ? index + count : index);
      }
      out.label_name = header[label];
      for (std::size_t c = 0; c < columns; ++c) {
        if (c != label) out.feature_names.push_back(header[c]);
      }
      if (options.header) continue;
    }

    // A ragged record: point at the first extra field, or at the end of a short line.
    const std::size_t ragged_column =
        fields.size() > columns ? fields[columns].column : line.size() + 1;
    DESCENT_CHECK(fields.size() == columns, "read_csv: ", name, ":", line_number, ":",
                  ragged_column, ": expected ", columns, " fields (as on line ", first_line,
                  "), got ", fields.size());
    for (std::size_t c = 0; c < columns; ++c) {
      const Field& field = fields[c];
      auto describe = [&] {
        if (!options.header) return cat("field ", c + 1);
        std::size_t feature = c < label ? c : c - 1;
        return cat("field ", c + 1, " (", c == label ? out.label_name : out.feature_names[feature],
                   ")");
      };
      if (c == label && options.labels == CsvLabels::class_name) {
        DESCENT_CHECK(!field.text.empty(), "read_csv: ", name, ":", line_number, ":", field.column,
                      ": ", describe(), " is empty, expected a class name");
        names.push_back(field.text);
        continue;
      }
      const std::optional<double> number = to_number(field.text);
      DESCENT_CHECK(number.has_value(), "read_csv: ", name, ":", line_number, ":", field.column,
                    ": ", describe(), " is \"", field.text, "\", expected a number");
      if (c != label) {
        features.push_back(*number);
      } else if (options.labels == CsvLabels::value) {
        values.push_back(*number);
      } else {
        DESCENT_CHECK(
            *number >= 0 && *number == static_cast<double>(static_cast<std::int64_t>(*number)),
            "read_csv: ", name, ":", line_number, ":", field.column, ": ", describe(), " is \"",
            field.text, "\", expected a class index (an integer >= 0)");
        values.push_back(*number);
      }
    }
    ++records;
  }
  DESCENT_CHECK(records > 0, "read_csv: ", name, ": no records",
                columns > 0 ? " after the header" : " (the file is empty)");

  const auto feature_count = static_cast<std::int64_t>(columns - 1);
  Tensor inputs = from_vector(features, {records, feature_count}, options.dtype);  // (N, F)
  Tensor targets;
  switch (options.labels) {
    case CsvLabels::class_index:
      targets = from_vector(values, {records}, DType::i64);  // (N)
      break;
    case CsvLabels::value:
      targets = from_vector(values, {records, 1}, options.dtype);  // (N, 1)
      break;
    case CsvLabels::class_name: {
      std::map<std::string, std::int64_t> ids;
      for (const std::string& n : names) ids.emplace(n, 0);
      std::int64_t next = 0;
      for (auto& [class_name, id] : ids) {
        id = next++;
        out.class_names.push_back(class_name);
      }
      targets = empty({records}, DType::i64);  // (N)
      auto* t = targets.data<std::int64_t>();
      for (std::int64_t i = 0; i < records; ++i) t[i] = ids.at(names[i]);
      break;
    }
  }
  out.data = TensorDataset(inputs, targets);
  return out;
}

}  // namespace descent::data
