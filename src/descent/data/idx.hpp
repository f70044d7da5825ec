// IDX files: the format of MNIST, Fashion-MNIST, EMNIST and KMNIST.
//
// ====== Intended usage ======
//   Tensor images = data::read_idx_images("train-images-idx3-ubyte.gz");  // (N, 1, H, W) f32
//   Tensor labels = data::read_idx_labels("train-labels-idx1-ubyte.gz");  // (N) i64
//   data::IdxArray raw = data::read_idx("anything-idx2-float");           // any type, any rank
//
// Format (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE"):
//   byte 0, 1     0x00 0x00
//   byte 2        type code: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
//   byte 3        rank (number of dimensions)
//   4 * rank      each dimension, a big-endian u32
//   the rest      the values, row-major, big-endian, exactly prod(dims) of them
// A file that starts with the gzip magic bytes (0x1F 0x8B) is decompressed first, so the
// `.gz` files from the datasets' sites load as they are.
//
// Every problem throws descent::Error naming the file, the byte offset (counted in the
// decompressed data for a gzip file, as the message says) and what was expected there:
//   read_idx: t10k-images-idx3-ubyte.gz (gzip; offsets count decompressed bytes): file ends
//   at byte 7000016, expected 7840000 bytes of u8 values for dims (10000, 28, 28) in bytes
//   16..7840015 (truncated file?)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::data {

enum class IdxType : std::uint8_t {
  u8 = 0x08,
  i8 = 0x09,
  i16 = 0x0B,
  i32 = 0x0C,
  f32 = 0x0D,
  f64 = 0x0E
};

// "u8", "i8", "i16", "i32", "f32", "f64".
std::string_view idx_type_name(IdxType type);
// Bytes per value: 1, 1, 2, 4, 4, 8.
std::size_t idx_type_size(IdxType type);

// The decoded contents of one IDX file.
struct IdxArray {
  IdxType type = IdxType::u8;
  Shape dims;
  // The values, row-major, already converted to the host's byte order.
  std::vector<std::uint8_t> payload;

  std::int64_t numel() const { return shape_numel(dims); }
  // The values as a tensor of `dtype` (f32, f64, i32 or i64) and shape `dims`, each
  // multiplied by `scale` (for example 1/255 to map u8 pixels to [0, 1]).
  Tensor to_tensor(DType dtype, double scale = 1.0) const;
};

// Reads and checks a plain or gzip-compressed IDX file.
IdxArray read_idx(const std::string& path);

// An u8 image file of shape (N, H, W) or (N, C, H, W), as f32 (N, C, H, W) with the pixels
// divided by 255 (so in [0, 1]); a (N, H, W) file gets C = 1.
Tensor read_idx_images(const std::string& path);

// An integer label file of shape (N), as i64 (N).
Tensor read_idx_labels(const std::string& path);

// The whole file, decompressed if it starts with the gzip magic bytes; errors name `path`
// and, for corrupt or truncated gzip data, the compressed and decompressed byte offsets.
std::vector<std::uint8_t> read_maybe_gzip(const std::string& path);

}  // namespace descent::data
