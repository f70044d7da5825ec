#include "descent/data/csv.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "dataset/files.hpp"

namespace descent {
namespace {

std::string message_of(const std::string& text, const data::CsvOptions& options = {}) {
  try {
    data::parse_csv(text, "t.csv", options);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no descent::Error thrown)";
}

TEST(Csv, HeaderAndLabelByName) {
  const std::string text =
      "a, b ,label,c\n"
      "1,2,0,3\r\n"
      "\n"
      "  -4.5 ,+5e1, 2 ,nan\n";
  const data::CsvData csv = data::parse_csv(text, "t.csv", {.label_column = "label"});
  EXPECT_EQ(csv.feature_names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(csv.label_name, "label");
  const Tensor& x = csv.data.inputs();
  EXPECT_EQ(x.shape(), (Shape{2, 3}));
  EXPECT_EQ(x.dtype(), DType::f32);
  const std::vector<double> values = x.to_vector();
  EXPECT_EQ(std::vector<double>(values.begin(), values.begin() + 5),
            (std::vector<double>{1, 2, 3, -4.5, 50}));
  EXPECT_TRUE(std::isnan(values[5]));
  EXPECT_EQ(csv.data.targets().dtype(), DType::i64);
  EXPECT_EQ(csv.data.targets().to_vector(), (std::vector<double>{0, 2}));
}

TEST(Csv, NoHeaderLabelByIndexAndValueLabels) {
  const std::string text = "1.5;2;3\n4;5;6\n";
  const data::CsvOptions options{.header = false,
                                 .delimiter = ';',
                                 .label_index = 0,
                                 .labels = data::CsvLabels::value,
                                 .dtype = DType::f64};
  const data::CsvData csv = data::parse_csv(text, "t.csv", options);
  EXPECT_EQ(csv.feature_names, (std::vector<std::string>{"column 2", "column 3"}));
  EXPECT_EQ(csv.data.inputs().dtype(), DType::f64);
  EXPECT_EQ(csv.data.inputs().to_vector(), (std::vector<double>{2, 3, 5, 6}));
  EXPECT_EQ(csv.data.targets().shape(), (Shape{2, 1}));
  EXPECT_EQ(csv.data.targets().to_vector(), (std::vector<double>{1.5, 4}));
  // Default: the last column; a negative index counts from the end.
  const data::CsvData last = data::parse_csv(text, "t.csv", {.header = false, .delimiter = ';'});
  EXPECT_EQ(last.data.targets().to_vector(), (std::vector<double>{3, 6}));
  const data::CsvData middle =
      data::parse_csv(text, "t.csv", {.header = false, .delimiter = ';', .label_index = -2});
  EXPECT_EQ(middle.data.targets().to_vector(), (std::vector<double>{2, 5}));
}

TEST(Csv, ClassNamesAndQuotedFields) {
  const std::string text =
      "\"x, first\",y,species\n"
      "1,2,virginica\n"
      "3,4,\"setosa\"\n"
      "5,6,versicolor\n"
      "7,8,setosa\n";
  const data::CsvData csv = data::parse_csv(text, "t.csv", {.labels = data::CsvLabels::class_name});
  EXPECT_EQ(csv.feature_names, (std::vector<std::string>{"x, first", "y"}));
  EXPECT_EQ(csv.class_names, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
  EXPECT_EQ(csv.data.targets().to_vector(), (std::vector<double>{2, 0, 1, 0}));
}

TEST(Csv, ReadsAFile) {
  testing::TempDir dir;
  testing::write_text(dir.file("d.csv"), "f,label\n0.5,1\n0.25,0\n");
  const data::CsvData csv = data::read_csv(dir.file("d.csv"));
  EXPECT_EQ(csv.data.size(), 2);
  EXPECT_EQ(csv.data.inputs().to_vector(), (std::vector<double>{0.5, 0.25}));
  const std::string missing = dir.file("missing.csv");
  try {
    data::read_csv(missing);
    ADD_FAILURE() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
}

// Each bad input: the message names file:line:column and what was expected.
TEST(Csv, BadInputsNameLineAndColumn) {
  struct Case {
    const char* name;
    std::string text;
    data::CsvOptions options;
    std::vector<std::string> expected;
  };
  // (Options are named first: GCC 12 warns, wrongly, about strings in braced temporaries.)
  const data::CsvOptions defaults;
  const data::CsvOptions label_y{.label_column = "y"};
  const data::CsvOptions label_2{.label_index = 2};
  const data::CsvOptions both{.label_column = "a", .label_index = 0};
  const data::CsvOptions name_no_header{.header = false, .label_column = "a"};
  const data::CsvOptions int_dtype{.dtype = DType::i32};
  const data::CsvOptions class_names{.labels = data::CsvLabels::class_name};
  const std::vector<Case> cases = {
      {"bad number",
       "a,b,c\n1,2,0\n1,x2,0\n",
       defaults,
       {"t.csv:3:3:", "field 2 (b)", "\"x2\"", "expected a number"}},
      {"trailing text", "a,b\n1.5abc,0\n", defaults, {"t.csv:2:1:", "\"1.5abc\""}},
      {"empty field", "a,b,c\n1,,0\n", defaults, {"t.csv:2:3:", "\"\"", "expected a number"}},
      {"short row",
       "a,b,c\n1,2,0\n1,2\n",
       defaults,
       {"t.csv:3:4:", "expected 3 fields (as on line 1)", "got 2"}},
      {"long row", "a,b,c\n1,2,0,9\n", defaults, {"t.csv:2:7:", "expected 3 fields", "got 4"}},
      {"fractional class", "a,b\n1,2.5\n", defaults, {"t.csv:2:3:", "expected a class index"}},
      {"negative class", "a,b\n1,-1\n", defaults, {"t.csv:2:3:", "expected a class index"}},
      {"unknown label column", "a,b\n1,0\n", label_y, {"t.csv:1:1:", "no column named \"y\""}},
      {"label index out of range", "a,b\n1,0\n", label_2, {"label_index 2"}},
      {"both label options", "a,b\n1,0\n", both, {"not both"}},
      {"label name without header", "1,0\n", name_no_header, {"needs a header"}},
      {"unclosed quote", "a,b\n\"1,0\n", defaults, {"t.csv:2:1:", "not closed"}},
      {"text after quote", "a,b\n\"1\"x,0\n", defaults, {"t.csv:2:4:", "after a quoted field"}},
      {"one column", "a\n1\n", defaults, {"t.csv:1:1:", "at least 2 fields"}},
      {"empty file", "", defaults, {"t.csv", "no records", "empty"}},
      {"header only", "a,b\n", defaults, {"t.csv", "no records after the header"}},
      {"bad dtype", "a,b\n1,0\n", int_dtype, {"dtype must be f32 or f64"}},
      {"empty class name", "a,b\n1, \n", class_names, {"t.csv:2:4:", "expected a class name"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string message = message_of(c.text, c.options);
    for (const std::string& part : c.expected) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "missing \"" << part << "\" in: " << message;
    }
  }
}

}  // namespace
}  // namespace descent
