// Helpers for the data-layer tests: a temporary directory and files written byte by byte.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "descent/core/error.hpp"
#include "temp_dir.hpp"

namespace descent::testing {

using Bytes = std::vector<std::uint8_t>;

inline void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  DESCENT_CHECK(out.good(), "write_bytes: cannot write ", path);
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  DESCENT_CHECK(out.good(), "write_text: cannot write ", path);
}

// One gzip member holding `bytes` (zlib's own gzip writer, independent of the reader).
inline Bytes gzip(const Bytes& bytes) {
  z_stream stream{};
  DESCENT_CHECK(deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK,
                "gzip: deflateInit2 failed");
  Bytes out(deflateBound(&stream, static_cast<uLong>(bytes.size())) + 64);
  stream.next_in = const_cast<Bytef*>(bytes.data());
  stream.avail_in = static_cast<uInt>(bytes.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&stream, Z_FINISH);
  deflateEnd(&stream);
  DESCENT_CHECK(status == Z_STREAM_END, "gzip: deflate failed");
  out.resize(stream.total_out);
  return out;
}

}  // namespace descent::testing
