// safetensors: the layout byte by byte, round trips, atomic writes, and every kind of
// hostile file giving a clear error that names the file.
#include "descent/train/safetensors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "descent/train/atomic_file.hpp"
#include "train_test_util.hpp"

namespace descent::train {
namespace {

using testing::error_of;
using testing::TempDir;

std::string le64(std::uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

// A file: the header's length, the header, then `data_bytes` bytes of data.
std::string raw(const std::string& header, std::size_t data_bytes) {
  return le64(header.size()) + header + std::string(data_bytes, '\x01');
}

TEST(Safetensors, LayoutIsTheReferenceFormat) {
  TempDir dir;
  const std::string path = dir.file("a.safetensors");
  const Tensor w = from_vector({1, 2, 3, 4, 5, 6}, {2, 3});  // f32
  const Tensor steps = from_vector({7, -8}, {2}, DType::i64);
  save_safetensors(path, {{"w", w}, {"steps", steps}}, {{"note", "hello"}});

  const std::string bytes = testing::read_file(path);
  ASSERT_GE(bytes.size(), 8u);
  std::uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  EXPECT_EQ((8 + header_size) % 8, 0u) << "data should start 8-byte aligned";
  const auto header = nlohmann::json::parse(bytes.substr(8, header_size));
  EXPECT_EQ(header["__metadata__"]["note"], "hello");
  EXPECT_EQ(header["w"]["dtype"], "F32");
  EXPECT_EQ(header["w"]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(header["w"]["data_offsets"], nlohmann::json({0, 24}));
  EXPECT_EQ(header["steps"]["dtype"], "I64");
  EXPECT_EQ(header["steps"]["data_offsets"], nlohmann::json({24, 40}));
  ASSERT_EQ(bytes.size(), 8 + header_size + 40);
  float third = 0;
  std::memcpy(&third, bytes.data() + 8 + header_size + 2 * sizeof(float), sizeof third);
  EXPECT_EQ(third, 3.0f);
  std::int64_t second = 0;
  std::memcpy(&second, bytes.data() + 8 + header_size + 24 + 8, sizeof second);
  EXPECT_EQ(second, -8);
}

TEST(Safetensors, RoundTripKeepsNamesOrderDtypesShapesAndBytes) {
  TempDir dir;
  const std::string path = dir.file("b.safetensors");
  Generator gen(3);
  NamedTensors tensors = {
      {"layer.weight", randn({4, 5}, gen)},
      {"double", randn({3}, gen, DType::f64)},
      {"ids", from_vector({1, 2, 3}, {3}, DType::i32)},
      {"count", scalar(12, DType::i64)},  // shape ()
      {"nothing", zeros({0, 7})},         // no elements
      {"half", empty({2}, DType::bf16)},  // storage only: bf16 has no kernels yet
  };
  std::memcpy(tensors.back().second.raw_data(), "\x80\x3f\x00\x40", 4);  // 1.0, 2.0
  save_safetensors(path, tensors, {{"step", "12"}, {"config", "{\"lr\": 0.1}"}});
  const Safetensors back = load_safetensors(path);
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(back.tensors[i].first, tensors[i].first);
    EXPECT_TRUE(testing::bitwise_equal(back.tensors[i].second, tensors[i].second))
        << tensors[i].first;
  }
  EXPECT_EQ(back.metadata.at("step"), "12");
  EXPECT_EQ(back.metadata.at("config"), "{\"lr\": 0.1}");
  EXPECT_EQ(back.at("count").item(), 12.0);
  EXPECT_EQ(back.find("missing"), nullptr);
  EXPECT_NE(error_of([&] { back.at("missing"); }).find("missing"), std::string::npos);
}

TEST(Safetensors, WriteIsAtomicAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("c.safetensors");
  save_safetensors(path, {{"a", ones({3})}});
  const std::string before = testing::read_file(path);
  // A writer that fails half way leaves the previous file as it was, and no temporary file.
  const std::string message = error_of([&] {
    save_safetensors(path, {{"a", zeros({3})}, {"b", zeros({100})}}, {},
                     {.on_write = [](std::uint64_t written, std::uint64_t total) {
                       if (written > 8 && written < total) throw Error("disk full (simulated)");
                     }});
  });
  EXPECT_NE(message.find("simulated"), std::string::npos);
  EXPECT_EQ(testing::read_file(path), before);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  // A finished write replaces it, and removes nothing else.
  save_safetensors(path, {{"a", zeros({3})}});
  EXPECT_EQ(load_safetensors(path).at("a").to_vector(), std::vector<double>({0, 0, 0}));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Safetensors, WriteErrorsNameTheFileOrTensor) {
  TempDir dir;
  EXPECT_NE(error_of([&] {
              save_safetensors(dir.file("no/such/folder/x.safetensors"), {});
            }).find("no/such/folder/x.safetensors.tmp"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              save_safetensors(dir.file("x"), {{"a", ones({1})}, {"a", ones({1})}});
            }).find("'a' appears twice"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              save_safetensors(dir.file("x"), {{"__metadata__", ones({1})}});
            }).find("invalid tensor name"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              save_safetensors(dir.file("x"), {{"u", Tensor()}});
            }).find("undefined"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.file("x")));
}

// ---- hostile files: one entry per way a file can lie ----

struct HostileCase {
  const char* name;
  std::string bytes;
  const char* expected;  // part of the message
};

const std::string kTensor = R"("t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";

std::vector<HostileCase> hostile_cases() {
  return {
      {"empty", "", "truncated: 0 bytes"},
      {"shorter than the length", std::string("\x05\x00\x00", 3), "truncated: 3 bytes"},
      {"header length past the end", le64(1000) + "{}", "header length 1000 runs past the end"},
      {"header claims gigabytes", le64(8ULL << 30) + "{}",
       "header length 8589934592 runs past the end"},
      {"header length 2^64 - 1", le64(~0ULL) + "{}", "runs past the end"},
      {"invalid JSON", raw("{\"t\": [1, 2", 0), "not valid JSON"},
      {"JSON but not an object", raw("[1, 2, 3]", 0), "must be a JSON object, got array"},
      {"entry not an object", raw(R"({"t": 3})", 0), "tensor 't': expected an object"},
      {"missing dtype", raw(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", 4),
       "missing the string 'dtype'"},
      {"unknown dtype", raw(R"({"t":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4),
       "unknown dtype 'F33'"},
      {"unsupported dtype", raw(R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 4),
       "dtype U8 is not supported"},
      {"shape not an array", raw(R"({"t":{"dtype":"F32","shape":4,"data_offsets":[0,16]}})", 16),
       "missing the array 'shape'"},
      {"negative shape", raw(R"({"t":{"dtype":"F32","shape":[-2,2],"data_offsets":[0,16]}})", 16),
       "non-negative integers, got the negative number -2"},
      {"fractional shape", raw(R"({"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
       "non-negative integers, got the number 1.5"},
      {"offsets missing", raw(R"({"t":{"dtype":"F32","shape":[1]}})", 4),
       "'data_offsets' must be two"},
      {"three offsets", raw(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 8),
       "'data_offsets' must be two"},
      {"offsets backwards", raw(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
       "data_offsets [8, 0] run backwards"},
      {"offsets past the data",
       raw(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
       "run past the end of the data (8 bytes)"},
      {"tensor claims gigabytes",
       raw(R"({"t":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}})", 16),
       "run past the end of the data (16 bytes)"},
      {"shape does not match the bytes",
       raw(R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20),
       "shape (2, 3) of F32 needs 24 bytes, but data_offsets [0, 20] hold 20"},
      {"shape overflows",
       raw(R"({"t":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
       "needs more than 2^64 bytes"},
      {"overlap",
       raw(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
           24),
       "tensors 'a' [0, 16] and 'b' [8, 24] overlap"},
      {"same bytes twice",
       raw(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"I32","shape":[4],"data_offsets":[0,16]}})",
           16),
       "overlap"},
      {"gap",
       raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})",
           24),
       "a gap of 8 bytes before tensor 'b'"},
      {"gap at the start", raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
       "a gap of 4 bytes before tensor 'a'"},
      {"bytes after the last tensor", raw("{" + kTensor + "}", 20),
       "4 bytes of data after the last tensor"},
      {"metadata not an object", raw(R"({"__metadata__": "x"})", 0),
       "__metadata__ must be an object"},
      {"metadata value not a string", raw(R"({"__metadata__": {"step": 3}})", 0),
       "__metadata__ entry 'step' must be a string, got a non-negative integer"},
  };
}

TEST(Safetensors, HostileFilesGiveClearErrorsNamingTheFile) {
  TempDir dir;
  for (const HostileCase& c : hostile_cases()) {
    const std::string path = dir.file("hostile.safetensors");
    testing::write_file(path, c.bytes);
    const std::string message = error_of([&] { load_safetensors(path); });
    EXPECT_NE(message.find(c.expected), std::string::npos)
        << c.name << ": got '" << message << "', expected it to contain '" << c.expected << "'";
    EXPECT_NE(message.find(path), std::string::npos) << c.name << ": " << message;
  }
}

TEST(Safetensors, ValidHandWrittenFileLoads) {
  // The control for the cases above: the same builder, a consistent header.
  TempDir dir;
  const std::string path = dir.file("ok.safetensors");
  testing::write_file(path, raw("{" + kTensor + R"(,"__metadata__":{"k":"v"}})", 16));
  const Safetensors file = load_safetensors(path);
  EXPECT_EQ(file.at("t").shape(), Shape({2, 2}));
  EXPECT_EQ(file.metadata.at("k"), "v");
}

TEST(Safetensors, HeaderOverTheLimitIsRefusedWithoutReadingIt) {
  // A sparse file larger than the limit, whose header claims just over it.
  TempDir dir;
  const std::string path = dir.file("huge.safetensors");
  testing::write_file(path, le64(kMaxHeaderBytes + 1));
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(kMaxHeaderBytes + 64)), 0);
  const std::string message = error_of([&] { load_safetensors(path); });
  EXPECT_NE(message.find("exceeds the limit of 100000000 bytes"), std::string::npos) << message;
}

TEST(Safetensors, MissingFileAndFolderAreNamed) {
  TempDir dir;
  const std::string missing = dir.file("missing.safetensors");
  const std::string message = error_of([&] { load_safetensors(missing); });
  EXPECT_NE(message.find(missing), std::string::npos);
  EXPECT_NE(message.find("No such file"), std::string::npos) << message;
  EXPECT_NE(error_of([&] { load_safetensors(dir.path().string()); }).find("not a regular file"),
            std::string::npos);
}

TEST(Safetensors, DtypeCodes) {
  EXPECT_EQ(safetensors_dtype(DType::f32), "F32");
  EXPECT_EQ(safetensors_dtype(DType::f64), "F64");
  EXPECT_EQ(safetensors_dtype(DType::bf16), "BF16");
  EXPECT_EQ(safetensors_dtype(DType::f16), "F16");
  EXPECT_EQ(safetensors_dtype(DType::i32), "I32");
  EXPECT_EQ(safetensors_dtype(DType::i64), "I64");
}

TEST(AtomicFile, UncommittedWriteRemovesItsTemporaryAndKeepsTheTarget) {
  TempDir dir;
  const std::string path = dir.file("summary.json");
  write_file_atomic(path, "old");
  {
    AtomicFile file(path);
    file.write(std::string_view("new, unfinished"));
    EXPECT_TRUE(std::filesystem::exists(file.temporary_path()));
  }
  EXPECT_EQ(testing::read_file(path), "old");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  write_file_atomic(path, "new");
  EXPECT_EQ(testing::read_file(path), "new");
}

}  // namespace
}  // namespace descent::train
