#include "descent/data/text.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dataset/files.hpp"

namespace descent::data {
namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  const std::string message = error_of(fn);
  ASSERT_FALSE(message.empty()) << "no error";
  for (const std::string& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos) << "lacks '" << part << "': " << message;
  }
}

TEST(Text, LoadsTheAlphabetAndTheCharacters) {
  testing::TempDir dir;
  const std::string path = dir.file("t.txt");
  testing::write_text(path, "abca\nb c");
  const TextCorpus text = load_text(path);
  EXPECT_EQ(text.alphabet, std::string("\n abc"));  // sorted bytes
  EXPECT_EQ(text.vocab_size(), 5);
  EXPECT_EQ(*text.ids, (std::vector<std::int32_t>{2, 3, 4, 2, 0, 3, 1, 4}));
  EXPECT_EQ(text.index['a'], 2);
  EXPECT_EQ(text.index['z'], -1);
  EXPECT_EQ(text.decode({2, 3, 4, 0}), "abc\n");
  EXPECT_THROW(text.decode({5}), Error);
}

TEST(Text, TheDefaultTextRoundTrips) {
  const std::string path = default_text_path();
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not installed";
  const TextCorpus text = load_text(path);
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(text.size(), static_cast<std::int64_t>(content.str().size()));
  std::vector<std::int64_t> all(text.ids->begin(), text.ids->end());
  EXPECT_EQ(text.decode(all), content.str());
  EXPECT_GT(text.vocab_size(), 40);
  EXPECT_LT(text.vocab_size(), 128);
}

TEST(Text, WindowsAreInputsAndNextCharacters) {
  testing::TempDir dir;
  const std::string path = dir.file("t.txt");
  testing::write_text(path, "0123456789abcdefghij");  // 20 characters
  const TextCorpus text = load_text(path);
  auto [train, val] = split_text(text, {.length = 4, .val_fraction = 0.3});
  // train: characters [0, 14): (14 - 1) / 4 = 3 windows; val: [14, 20): (6 - 1) / 4 = 1.
  ASSERT_EQ(train.size(), 3);
  ASSERT_EQ(val.size(), 1);
  EXPECT_EQ(train.input_shape(), Shape{4});
  Tensor x = empty({2, 4}, DType::i64);
  Tensor y = empty({2, 4}, DType::i64);
  const std::vector<std::int64_t> picks = {2, 0};
  train.get_batch(picks, x, y);
  auto as_text = [&](const Tensor& t) {
    std::vector<std::int64_t> v;
    for (double d : t.to_vector()) v.push_back(static_cast<std::int64_t>(d));
    return text.decode(v);
  };
  EXPECT_EQ(as_text(x), "89ab0123");
  EXPECT_EQ(as_text(y), "9abc1234");
  Tensor vx = empty({1, 4}, DType::i64);
  Tensor vy = empty({1, 4}, DType::i64);
  const std::vector<std::int64_t> first = {0};
  val.get_batch(first, vx, vy);
  EXPECT_EQ(as_text(vx), "efgh");
  EXPECT_EQ(as_text(vy), "fghi");
  const std::vector<std::int64_t> out_of_range = {3};
  expect_error([&] { train.get_batch(out_of_range, vx, vy); }, {"index 3", "3 examples"});
}

TEST(Text, BitsPerCharacter) {
  EXPECT_DOUBLE_EQ(bits_per_char(std::log(2.0)), 1.0);
  EXPECT_DOUBLE_EQ(bits_per_char(std::log(80.0)), std::log2(80.0));
}

TEST(Text, BadInput) {
  testing::TempDir dir;
  expect_error([&] { load_text(dir.file("missing.txt")); }, {"missing.txt", "cannot read"});
  testing::write_text(dir.file("empty.txt"), "");
  expect_error([&] { load_text(dir.file("empty.txt")); }, {"empty.txt", "empty"});
  testing::write_bytes(dir.file("binary.bin"), {'a', 'b', 0, 'c'});
  expect_error([&] { load_text(dir.file("binary.bin")); }, {"binary.bin", "NUL byte at offset 2"});
  testing::write_text(dir.file("big.txt"), std::string(100, 'x'));
  expect_error([&] { load_text(dir.file("big.txt"), 50); }, {"big.txt", "100 bytes", "50"});
  expect_error([&] { load_text(dir.path().string()); }, {"cannot read"});

  testing::write_text(dir.file("short.txt"), "abcdef");
  const TextCorpus text = load_text(dir.file("short.txt"));
  expect_error([&] { split_text(text, {.length = 8}); }, {"short.txt", "6 characters", "9"});
  expect_error([&] { split_text(text, {.length = 2, .val_fraction = 0.2}); },
               {"validation part", "too short"});
  expect_error([&] { split_text(text, {.length = 2, .val_fraction = 1.0}); }, {"val_fraction"});
  expect_error([&] { split_text(text, {.length = 0}); }, {"length must be positive"});
}

}  // namespace
}  // namespace descent::data
