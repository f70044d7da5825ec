// safetensors files: named tensors and a string map, in the format of Hugging Face's
// safetensors (https://github.com/huggingface/safetensors, "Format"), so that
// `safetensors.torch.load_file(path)` reads what descent writes and the other way round.
//
// ====== Intended usage ======
//   train::save_safetensors("model.safetensors", {{"fc.weight", w}, {"fc.bias", b}},
//                           {{"step", "1200"}});           // atomic: see atomic_file.hpp
//   train::Safetensors file = train::load_safetensors("model.safetensors");
//   const Tensor& w = file.at("fc.weight");                // (out, in)
//   file.metadata.at("step");                              // "1200"
//
// The layout:
//   bytes [0, 8)       N, the header's length, an unsigned 64-bit little-endian integer
//   bytes [8, 8 + N)   a JSON object: for each tensor
//                        "name": {"dtype": "F32", "shape": [256, 784], "data_offsets": [b, e]}
//                      and optionally "__metadata__": {"key": "value", ...} (strings only);
//                      descent pads it with spaces so that the data starts 8-byte aligned
//   bytes [8 + N, end) the data: tensor t's row-major little-endian bytes at [b, e) of it
// dtypes: F32, F64, BF16, F16, I32, I64 (safetensors' other codes, such as U8 or BOOL, are
// recognised and refused as unsupported).
//
// Reading trusts nothing in the file. Every one of these is an Error naming the file and
// what is wrong, found before any tensor is allocated (so a header claiming gigabytes
// allocates nothing): a file shorter than 8 bytes; a header length past the end of the file
// or over kMaxHeaderBytes; a header that is not JSON, not an object, or has an entry
// without a string dtype, an array shape of non-negative integers or two data_offsets; an
// unknown or unsupported dtype; offsets that run backwards, past the data, overlap, or
// leave a gap (the data must be exactly the tensors, back to back, as safetensors itself
// requires); a byte count that differs from shape x dtype size; a non-string metadata value.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::train {

// The largest header accepted, as in the reference implementation (100 MB).
inline constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::map<std::string, std::string>;

struct Safetensors {
  NamedTensors tensors;  // in the order of their data in the file
  Metadata metadata;

  // The tensor named `name`, or nullptr.
  const Tensor* find(const std::string& name) const;
  // The tensor named `name`; throws naming it when absent.
  const Tensor& at(const std::string& name) const;
};

struct SaveOptions {
  // Called after the header and after each tensor's data with (bytes written so far, bytes
  // in all): for progress reports, and for tests that stop a writer half way.
  std::function<void(std::uint64_t written, std::uint64_t total)> on_write = nullptr;
};

// Writes `tensors` (unique non-empty names, not "__metadata__"; any supported dtype) in the
// given order, atomically. Throws naming the file or the tensor.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata = {}, const SaveOptions& options = {});

// Reads a whole file, checking it as the header says.
Safetensors load_safetensors(const std::string& path);

// safetensors' dtype code ("F32") and back; the parse throws for codes descent cannot hold.
std::string safetensors_dtype(DType dtype);

}  // namespace descent::train
