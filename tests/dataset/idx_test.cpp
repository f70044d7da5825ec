#include "descent/data/idx.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "dataset/files.hpp"

namespace descent {
namespace {

using testing::Bytes;
using testing::TempDir;

// An IDX file, encoded here byte by byte (big-endian) independently of the reader.
Bytes idx_header(std::uint8_t type, const std::vector<std::uint32_t>& dims) {
  Bytes out{0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    out.push_back(static_cast<std::uint8_t>(d >> 24));
    out.push_back(static_cast<std::uint8_t>(d >> 16));
    out.push_back(static_cast<std::uint8_t>(d >> 8));
    out.push_back(static_cast<std::uint8_t>(d));
  }
  return out;
}

template <typename T>
void append_big_endian(Bytes& out, T value) {
  std::uint8_t raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));
  for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(raw[sizeof(T) - 1 - i]);
}

Bytes pixels(std::size_t count) {
  Bytes out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
  return out;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no descent::Error thrown)";
}

struct Encoding {
  const char* name;
  bool gzipped;
};
constexpr Encoding kEncodings[] = {{"plain", false}, {"gzip", true}};

TEST(Idx, ImagesAndLabelsRoundTrip) {
  for (const Encoding& encoding : kEncodings) {
    SCOPED_TRACE(encoding.name);
    TempDir dir;
    const Bytes image_bytes = pixels(3 * 4 * 5);
    const Bytes label_bytes{7, 0, 9};
    Bytes images = concat(idx_header(0x08, {3, 4, 5}), image_bytes);
    Bytes labels = concat(idx_header(0x08, {3}), label_bytes);
    if (encoding.gzipped) {
      images = testing::gzip(images);
      labels = testing::gzip(labels);
    }
    testing::write_bytes(dir.file("images"), images);
    testing::write_bytes(dir.file("labels"), labels);

    Tensor x = data::read_idx_images(dir.file("images"));
    EXPECT_EQ(x.shape(), (Shape{3, 1, 4, 5}));
    EXPECT_EQ(x.dtype(), DType::f32);
    const std::vector<double> values = x.to_vector();
    for (std::size_t i = 0; i < image_bytes.size(); ++i) {
      EXPECT_NEAR(values[i], image_bytes[i] / 255.0, 1e-7) << i;
    }
    Tensor y = data::read_idx_labels(dir.file("labels"));
    EXPECT_EQ(y.shape(), (Shape{3}));
    EXPECT_EQ(y.dtype(), DType::i64);
    EXPECT_EQ(y.to_vector(), (std::vector<double>{7, 0, 9}));
  }
}

// Every type code, rank 2, values with a sign and more than one byte where the type allows.
TEST(Idx, EveryTypeRoundTrips) {
  struct Case {
    std::uint8_t code;
    data::IdxType type;
    std::function<void(Bytes&, double)> encode;
    std::vector<double> values;
  };
  const std::vector<Case> cases = {
      {0x08,
       data::IdxType::u8,
       [](Bytes& b, double v) { b.push_back(static_cast<std::uint8_t>(v)); },
       {0, 1, 128, 255, 7, 200}},
      {0x09,
       data::IdxType::i8,
       [](Bytes& b, double v) { append_big_endian(b, static_cast<std::int8_t>(v)); },
       {-128, -1, 0, 1, 127, 5}},
      {0x0B,
       data::IdxType::i16,
       [](Bytes& b, double v) { append_big_endian(b, static_cast<std::int16_t>(v)); },
       {-32768, -300, 0, 258, 32767, 1}},
      {0x0C,
       data::IdxType::i32,
       [](Bytes& b, double v) { append_big_endian(b, static_cast<std::int32_t>(v)); },
       {-2147483648.0, -70000, 0, 65537, 2147483647.0, 3}},
      {0x0D,
       data::IdxType::f32,
       [](Bytes& b, double v) { append_big_endian(b, static_cast<float>(v)); },
       {-1.5, 0.25, 0, 3145728, -0.0009765625, 7}},
      {0x0E,
       data::IdxType::f64,
       [](Bytes& b, double v) { append_big_endian(b, v); },
       {-1.5, 0.1, 0, 3e100, -1e-300, 7}},
  };
  for (const Case& c : cases) {
    for (const Encoding& encoding : kEncodings) {
      SCOPED_TRACE(cat("type ", static_cast<int>(c.code), " ", encoding.name));
      TempDir dir;
      Bytes file = idx_header(c.code, {2, 3});
      for (double v : c.values) c.encode(file, v);
      testing::write_bytes(dir.file("a"), encoding.gzipped ? testing::gzip(file) : file);
      const data::IdxArray array = data::read_idx(dir.file("a"));
      EXPECT_EQ(array.type, c.type);
      EXPECT_EQ(array.dims, (Shape{2, 3}));
      Tensor t = array.to_tensor(DType::f64);
      EXPECT_EQ(t.shape(), (Shape{2, 3}));
      EXPECT_EQ(t.to_vector(), c.values);
    }
  }
}

TEST(Idx, ConcatenatedGzipMembersAndLargeFiles) {
  TempDir dir;
  // 200 KB of pixels split over two gzip members, as `cat a.gz b.gz > c.gz` makes.
  const Bytes body = pixels(100 * 40 * 50);
  const Bytes file = concat(idx_header(0x08, {100, 40, 50}), body);
  const Bytes first(file.begin(), file.begin() + 12345);
  const Bytes second(file.begin() + 12345, file.end());
  testing::write_bytes(dir.file("two.gz"), concat(testing::gzip(first), testing::gzip(second)));
  const data::IdxArray array = data::read_idx(dir.file("two.gz"));
  EXPECT_EQ(array.dims, (Shape{100, 40, 50}));
  EXPECT_EQ(array.payload, body);
}

// Each malformed file gives an Error naming the file, the offset and what was expected.
TEST(Idx, MalformedFilesNameFileAndOffset) {
  const Bytes good = concat(idx_header(0x08, {2, 3, 3}), pixels(18));  // 16 + 18 bytes
  const Bytes good_gz = testing::gzip(good);
  auto with_byte = [](Bytes bytes, std::size_t at, std::uint8_t value) {
    bytes[at] = value;
    return bytes;
  };
  struct Case {
    const char* name;
    Bytes bytes;
    std::function<void(const std::string&)> read;
    std::vector<std::string> expected;  // substrings of the message
  };
  auto read_idx = [](const std::string& p) { data::read_idx(p); };
  auto read_images = [](const std::string& p) { data::read_idx_images(p); };
  auto read_labels = [](const std::string& p) { data::read_idx_labels(p); };
  Bytes corrupt_gz = good_gz;
  for (std::size_t i = 12; i < 20; ++i) corrupt_gz[i] ^= 0xA5;  // inside the deflate data
  Bytes bad_crc_gz = good_gz;
  bad_crc_gz[bad_crc_gz.size() - 6] ^= 0xFF;  // the CRC-32 in the trailer
  const std::vector<Case> cases = {
      {"empty file", {}, read_idx, {"file ends at byte 0", "magic number"}},
      {"bad magic", with_byte(good, 0, 0x1F), read_idx, {"bad magic number at byte 0", "0x1F"}},
      {"bad magic byte 1", with_byte(good, 1, 0x08), read_idx, {"at byte 0", "0x00 0x00"}},
      {"unknown type", with_byte(good, 2, 0x07), read_idx, {"type code 0x07 at byte 2"}},
      {"rank 0", with_byte(good, 3, 0), read_idx, {"rank 0 at byte 3"}},
      {"header cut",
       Bytes(good.begin(), good.begin() + 10),
       read_idx,
       {"file ends at byte 10", "3 dimensions", "bytes 4..15"}},
      {"truncated payload",
       Bytes(good.begin(), good.end() - 1),
       read_idx,
       {"file ends at byte 33", "expected 18 bytes", "in bytes 16..33", "truncated"}},
      {"truncated gzip payload",
       testing::gzip(Bytes(good.begin(), good.end() - 5)),
       read_idx,
       {"file ends at byte 29", "expected 18 bytes", "decompressed"}},
      {"trailing bytes",
       concat(good, {1, 2}),
       read_idx,
       {"2 unexpected bytes at byte 34", "expected the file to end"}},
      {"images of rank 2",
       concat(idx_header(0x08, {2, 9}), pixels(18)),
       read_images,
       {"rank at byte 3 is 2", "(2, 9)", "expected rank 3 (N, H, W)"}},
      {"labels of rank 2", good, read_labels, {"rank at byte 3 is 3", "expected rank 1 (N)"}},
      {"float images",
       concat(idx_header(0x0D, {1, 1, 1}), Bytes(4, 0)),
       read_images,
       {"type code at byte 2 is f32", "expected u8"}},
      {"float labels",
       concat(idx_header(0x0D, {1}), Bytes(4, 0)),
       read_labels,
       {"type code at byte 2 is f32", "expected an integer type"}},
      {"corrupt gzip", corrupt_gz, read_idx, {"corrupt gzip data", "at compressed byte"}},
      {"gzip checksum", bad_crc_gz, read_idx, {"corrupt gzip data", "at compressed byte"}},
      {"truncated gzip",
       Bytes(good_gz.begin(), good_gz.end() - 12),
       read_idx,
       {"gzip data ends early", "at compressed byte"}},
      {"garbage after gzip",
       concat(good_gz, {'x', 'y', 'z'}),
       read_idx,
       {"3 more bytes", "at compressed byte"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    const std::string path = dir.file("bad-idx3-ubyte");
    testing::write_bytes(path, c.bytes);
    const std::string message = message_of([&] { c.read(path); });
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("byte"), std::string::npos) << message;
    for (const std::string& part : c.expected) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "missing \"" << part << "\" in: " << message;
    }
  }
}

TEST(Idx, MissingFileNamesIt) {
  TempDir dir;
  const std::string path = dir.file("no-such-file.gz");
  const std::string message = message_of([&] { data::read_idx(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("cannot open"), std::string::npos) << message;
}

TEST(Idx, ToTensorChecksDtype) {
  data::IdxArray array;
  array.dims = {2};
  array.payload = {1, 2};
  EXPECT_THROW(array.to_tensor(DType::bf16), Error);
  EXPECT_EQ(array.to_tensor(DType::i32).to_vector(), (std::vector<double>{1, 2}));
  array.payload = {1};
  EXPECT_THROW(array.to_tensor(DType::f32), Error);  // payload too short for the dims
}

}  // namespace
}  // namespace descent
