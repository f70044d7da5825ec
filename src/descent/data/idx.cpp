#include "descent/data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "descent/core/parallel.hpp"

namespace descent::data {
namespace {

constexpr std::int64_t kParallelThreshold = 32768;

std::string hex_byte(std::uint8_t byte) {
  char text[8];
  std::snprintf(text, sizeof(text), "0x%02X", static_cast<unsigned>(byte));
  return text;
}

bool is_known_type(std::uint8_t code) {
  return code == 0x08 || code == 0x09 || code == 0x0B || code == 0x0C || code == 0x0D ||
         code == 0x0E;
}

std::vector<std::uint8_t> read_whole_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  DESCENT_CHECK(file != nullptr, "read_idx: cannot open ", path, ": ", std::strerror(errno));
  std::vector<std::uint8_t> bytes;
  std::size_t size = 0;
  // The size is a hint (it is absent for a pipe); reading goes on until the end either way.
  if (std::fseek(file, 0, SEEK_END) == 0) {
    const long end = std::ftell(file);
    if (end > 0) bytes.resize(static_cast<std::size_t>(end));
    std::rewind(file);
  }
  while (true) {
    if (size == bytes.size()) {
      const int next = std::fgetc(file);  // at the end already? then no need to grow
      if (next == EOF) break;
      bytes.resize(std::max<std::size_t>(2 * size, 1 << 16));
      bytes[size++] = static_cast<std::uint8_t>(next);
    }
    const std::size_t got = std::fread(bytes.data() + size, 1, bytes.size() - size, file);
    size += got;
    if (got == 0) break;
  }
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  DESCENT_CHECK(!failed, "read_idx: ", path, ": read error after ", size, " bytes");
  bytes.resize(size);
  return bytes;
}

// RFC 1952 streams, possibly several members one after another (as `cat a.gz b.gz` makes).
std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& compressed,
                                 const std::string& path) {
  // The last four bytes of a member hold its decompressed size mod 2^32: a good first guess,
  // capped by deflate's best ratio (about 1032:1) in case those bytes are garbage.
  std::size_t guess = std::size_t{1} << 16;
  if (compressed.size() >= 18) {
    const std::uint8_t* tail = compressed.data() + compressed.size() - 4;
    const std::size_t stated =
        static_cast<std::size_t>(tail[0]) | static_cast<std::size_t>(tail[1]) << 8 |
        static_cast<std::size_t>(tail[2]) << 16 | static_cast<std::size_t>(tail[3]) << 24;
    guess = std::min(stated, compressed.size() * 1032) + 1;
  }
  std::vector<std::uint8_t> out(guess);

  z_stream stream{};
  DESCENT_CHECK(inflateInit2(&stream, 16 + MAX_WBITS) == Z_OK, "read_idx: ", path,
                ": zlib could not start (out of memory?)");
  stream.next_in = const_cast<Bytef*>(compressed.data());
  stream.avail_in = static_cast<uInt>(std::min<std::size_t>(compressed.size(), UINT32_MAX));
  std::size_t produced = 0;
  auto fail = [&](const std::string& what) {
    const std::size_t compressed_offset = stream.next_in - compressed.data();
    inflateEnd(&stream);
    throw Error(cat("read_idx: ", path, ": ", what, " at compressed byte ", compressed_offset,
                    " (decompressed byte ", produced, ")"));
  };
  while (true) {
    if (produced == out.size()) out.resize(out.size() * 2);
    stream.next_out = out.data() + produced;
    stream.avail_out = static_cast<uInt>(std::min<std::size_t>(out.size() - produced, 1u << 30));
    const std::size_t window = stream.avail_out;
    const int status = inflate(&stream, Z_NO_FLUSH);
    produced += window - stream.avail_out;
    const std::size_t read_so_far = stream.next_in - compressed.data();
    if (stream.avail_in == 0 && read_so_far < compressed.size()) {
      stream.avail_in =
          static_cast<uInt>(std::min<std::size_t>(compressed.size() - read_so_far, UINT32_MAX));
    }
    if (status == Z_STREAM_END) {
      const std::size_t left = compressed.size() - read_so_far;
      if (left == 0) break;
      // Another member follows, or trailing bytes that are not gzip data.
      if (left < 2 || stream.next_in[0] != 0x1F || stream.next_in[1] != 0x8B) {
        fail(cat("expected the end of the file or another gzip member (0x1F 0x8B), found ", left,
                 " more bytes"));
      }
      inflateReset(&stream);
      continue;
    }
    if (status == Z_DATA_ERROR) {
      fail(cat("corrupt gzip data (zlib: ", stream.msg ? stream.msg : "data error", ")"));
    }
    if (status == Z_MEM_ERROR) fail("zlib ran out of memory");
    if (status == Z_BUF_ERROR && stream.avail_in == 0 && stream.avail_out != 0) {
      fail("gzip data ends early (truncated file?)");
    }
    if (status == Z_NEED_DICT) fail("gzip data asks for a preset dictionary");
  }
  inflateEnd(&stream);
  out.resize(produced);
  return out;
}

// Converts big-endian values in place to the host's byte order.
void to_host_order(std::uint8_t* bytes, std::int64_t count, std::size_t width) {
  if constexpr (std::endian::native == std::endian::big) return;
  if (width == 1) return;
  parallel_for_if(count > kParallelThreshold, count, [=](std::int64_t i) {
    std::reverse(bytes + i * width, bytes + (i + 1) * width);
  });
}

template <typename Source, typename Target>
void convert(const std::uint8_t* bytes, Target* out, std::int64_t n, double scale) {
  const Source* in = reinterpret_cast<const Source*>(bytes);
  if (scale == 1.0) {
    const bool parallel = n > kParallelThreshold;
    parallel_simd_if(parallel, n, [=](std::int64_t i) { out[i] = static_cast<Target>(in[i]); });
  } else {
    const bool parallel = n > kParallelThreshold;
    parallel_simd_if(parallel, n,
                     [=](std::int64_t i) { out[i] = static_cast<Target>(in[i] * scale); });
  }
}

}  // namespace

std::string_view idx_type_name(IdxType type) {
  switch (type) {
    case IdxType::u8:
      return "u8";
    case IdxType::i8:
      return "i8";
    case IdxType::i16:
      return "i16";
    case IdxType::i32:
      return "i32";
    case IdxType::f32:
      return "f32";
    case IdxType::f64:
      return "f64";
  }
  return "?";
}

std::size_t idx_type_size(IdxType type) {
  switch (type) {
    case IdxType::u8:
    case IdxType::i8:
      return 1;
    case IdxType::i16:
      return 2;
    case IdxType::i32:
    case IdxType::f32:
      return 4;
    case IdxType::f64:
      return 8;
  }
  return 0;
}

std::vector<std::uint8_t> read_maybe_gzip(const std::string& path) {
  std::vector<std::uint8_t> bytes = read_whole_file(path);
  if (bytes.size() >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B) return gunzip(bytes, path);
  return bytes;
}

IdxArray read_idx(const std::string& file) {
  std::vector<std::uint8_t> bytes = read_whole_file(file);
  // The messages below name `path`, which says when offsets count decompressed bytes.
  std::string path = file;
  if (bytes.size() >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B) {
    bytes = gunzip(bytes, file);
    path += " (gzip; offsets count decompressed bytes)";
  }
  const std::size_t size = bytes.size();

  // magic number: 0x00 0x00 type rank
  DESCENT_CHECK(size >= 4, "read_idx: ", path, ": file ends at byte ", size,
                ", expected a 4-byte magic number (0x00 0x00 type rank)");
  DESCENT_CHECK(bytes[0] == 0 && bytes[1] == 0, "read_idx: ", path,
                ": bad magic number at byte 0: expected 0x00 0x00 type rank, got ",
                hex_byte(bytes[0]), " ", hex_byte(bytes[1]), " ", hex_byte(bytes[2]), " ",
                hex_byte(bytes[3]), " (not an IDX file?)");
  DESCENT_CHECK(is_known_type(bytes[2]), "read_idx: ", path, ": unknown type code ",
                hex_byte(bytes[2]),
                " at byte 2: expected 0x08 (u8), 0x09 (i8), 0x0B (i16), 0x0C (i32), 0x0D (f32) "
                "or 0x0E (f64)");
  const IdxType type = static_cast<IdxType>(bytes[2]);
  const std::size_t rank = bytes[3];
  DESCENT_CHECK(rank >= 1, "read_idx: ", path, ": rank 0 at byte 3: expected at least 1 dimension");

  // dimensions: rank big-endian u32s
  const std::size_t header = 4 + 4 * rank;
  DESCENT_CHECK(size >= header, "read_idx: ", path, ": file ends at byte ", size, ", expected ",
                rank, " dimensions (4 bytes each) in bytes 4..", header - 1);
  IdxArray array;
  array.type = type;
  const std::size_t width = idx_type_size(type);
  // The payload can be no longer than the file, so a product beyond it is already an error;
  // stopping there also keeps the product from overflowing.
  std::size_t expected = width;
  bool too_big = false;
  for (std::size_t d = 0; d < rank; ++d) {
    const std::uint8_t* p = bytes.data() + 4 + 4 * d;
    const std::uint32_t dim = static_cast<std::uint32_t>(p[0]) << 24 |
                              static_cast<std::uint32_t>(p[1]) << 16 |
                              static_cast<std::uint32_t>(p[2]) << 8 | p[3];
    array.dims.push_back(dim);
    if (!too_big && dim != 0 && expected > (std::numeric_limits<std::size_t>::max() / 2) / dim) {
      too_big = true;
    }
    if (!too_big) expected *= dim;
  }
  DESCENT_CHECK(!too_big, "read_idx: ", path, ": dimensions ", shape_str(array.dims),
                " in bytes 4..", header - 1, " describe more data than any file holds");

  // payload: exactly prod(dims) values
  const std::size_t actual = size - header;
  DESCENT_CHECK(actual >= expected, "read_idx: ", path, ": file ends at byte ", size, ", expected ",
                expected, " bytes of ", idx_type_name(type), " values for dims ",
                shape_str(array.dims), " in bytes ", header, "..", header + expected - 1,
                " (truncated file?)");
  DESCENT_CHECK(actual == expected, "read_idx: ", path, ": ", actual - expected,
                " unexpected bytes at byte ", header + expected,
                ": expected the file to end after ", expected, " bytes of ", idx_type_name(type),
                " values for dims ", shape_str(array.dims));

  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
  array.payload = std::move(bytes);
  to_host_order(array.payload.data(), array.numel(), width);
  return array;
}

Tensor IdxArray::to_tensor(DType dtype, double scale) const {
  DESCENT_CHECK(
      dtype == DType::f32 || dtype == DType::f64 || dtype == DType::i32 || dtype == DType::i64,
      "IdxArray::to_tensor: expected dtype f32, f64, i32 or i64, got ", dtype_name(dtype));
  const std::int64_t n = numel();
  DESCENT_CHECK(payload.size() == static_cast<std::size_t>(n) * idx_type_size(type),
                "IdxArray::to_tensor: payload holds ", payload.size(), " bytes, dims ",
                shape_str(dims), " of ", idx_type_name(type), " need ",
                n * static_cast<std::int64_t>(idx_type_size(type)));
  Tensor out = empty(dims, dtype);
  auto from = [&]<typename Target>(Target* target) {
    switch (type) {
      case IdxType::u8:
        return convert<std::uint8_t>(payload.data(), target, n, scale);
      case IdxType::i8:
        return convert<std::int8_t>(payload.data(), target, n, scale);
      case IdxType::i16:
        return convert<std::int16_t>(payload.data(), target, n, scale);
      case IdxType::i32:
        return convert<std::int32_t>(payload.data(), target, n, scale);
      case IdxType::f32:
        return convert<float>(payload.data(), target, n, scale);
      case IdxType::f64:
        return convert<double>(payload.data(), target, n, scale);
    }
  };
  switch (dtype) {
    case DType::f32:
      from(out.data<float>());
      break;
    case DType::f64:
      from(out.data<double>());
      break;
    case DType::i32:
      from(out.data<std::int32_t>());
      break;
    default:
      from(out.data<std::int64_t>());
      break;
  }
  return out;
}

Tensor read_idx_images(const std::string& path) {
  const IdxArray array = read_idx(path);
  DESCENT_CHECK(array.type == IdxType::u8, "read_idx_images: ", path, ": type code at byte 2 is ",
                idx_type_name(array.type), ", expected u8 (0x08) pixels");
  DESCENT_CHECK(array.dims.size() == 3 || array.dims.size() == 4, "read_idx_images: ", path,
                ": rank at byte 3 is ", array.dims.size(), " (dims ", shape_str(array.dims),
                "), expected rank 3 (N, H, W) or 4 (N, C, H, W)");
  Tensor images = array.to_tensor(DType::f32, 1.0 / 255.0);
  if (array.dims.size() == 3) {
    images = images.view_of(0, {array.dims[0], 1, array.dims[1], array.dims[2]});
  }
  return images;  // (N, C, H, W)
}

Tensor read_idx_labels(const std::string& path) {
  const IdxArray array = read_idx(path);
  DESCENT_CHECK(array.type == IdxType::u8 || array.type == IdxType::i8 ||
                    array.type == IdxType::i16 || array.type == IdxType::i32,
                "read_idx_labels: ", path, ": type code at byte 2 is ", idx_type_name(array.type),
                ", expected an integer type (u8, i8, i16 or i32)");
  DESCENT_CHECK(array.dims.size() == 1, "read_idx_labels: ", path, ": rank at byte 3 is ",
                array.dims.size(), " (dims ", shape_str(array.dims), "), expected rank 1 (N)");
  return array.to_tensor(DType::i64);  // (N)
}

}  // namespace descent::data
