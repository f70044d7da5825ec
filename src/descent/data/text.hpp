// Character-level language modelling data: a text file, its alphabet, and windows of it as
// (input, next-character target) examples.
//
// ====== Intended usage ======
//   data::TextCorpus text = data::load_text(data::default_text_path());
//   auto [train, val] = data::split_text(text, {.length = 128, .val_fraction = 0.1});
//   train.inputs / targets: an example is (T) i64 characters and (T) i64 next characters
//   ... cross_entropy over (B*T, V) logits, in nats; bits per character = nats / ln 2 ...
//
// The default text is the GNU GPL version 3, /usr/share/common-licenses/GPL-3, from Debian's
// `base-files` package. Why this one: base-files is Essential, so the file is on every
// Debian system and in every CI image without an extra package or a download; it is 35 KB
// of real English prose (35,149 characters over an alphabet of 76), enough for a
// small model to learn words and its bits per character to fall well below the
// log2(alphabet) of a uniform guess within minutes on a CPU. Any other text works: pass its
// path (`--data text:FILE` on the command line).
//
// Bytes are the characters (UTF-8 sequences are learned byte by byte, as Karpathy's
// char-rnn does); the alphabet is the set of byte values that occur, sorted.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "descent/data/dataset.hpp"

namespace descent::data {

struct TextCorpus {
  std::string path;
  std::string alphabet;                            // the distinct bytes, sorted
  std::array<std::int32_t, 256> index{};           // byte -> position in alphabet, -1 if absent
  std::shared_ptr<std::vector<std::int32_t>> ids;  // the text as alphabet positions

  std::int64_t vocab_size() const { return static_cast<std::int64_t>(alphabet.size()); }
  std::int64_t size() const { return static_cast<std::int64_t>(ids->size()); }
  // Alphabet positions -> text; throws on a position outside the alphabet.
  std::string decode(const std::vector<std::int64_t>& positions) const;
};

// /usr/share/common-licenses/GPL-3 (see above).
std::string default_text_path();

// Reads a whole text file. Throws descent::Error naming the file when it cannot be read, is
// empty, holds NUL bytes (not text), or is larger than max_bytes.
TextCorpus load_text(const std::string& path, std::int64_t max_bytes = 256LL << 20);

// Examples: window i of length T starting at begin + i * T holds the characters
// [s, s + T) as input and [s + 1, s + T + 1) as target (non-overlapping windows).
class TextWindows : public Dataset {
 public:
  TextWindows(std::shared_ptr<const std::vector<std::int32_t>> ids, std::int64_t begin,
              std::int64_t end, std::int64_t length);

  std::int64_t size() const override { return size_; }
  const Shape& input_shape() const override { return shape_; }
  DType input_dtype() const override { return DType::i64; }
  const Shape& target_shape() const override { return shape_; }
  DType target_dtype() const override { return DType::i64; }
  void get_batch(std::span<const std::int64_t> indices, Tensor& inputs,
                 Tensor& targets) const override;

 private:
  std::shared_ptr<const std::vector<std::int32_t>> ids_;
  std::int64_t begin_;
  std::int64_t length_;
  std::int64_t size_;
  Shape shape_;
};

struct TextSplitOptions {
  std::int64_t length = 128;  // characters per example (T)
  double val_fraction = 0.1;  // the last part of the text, in [0, 1)
};

// Training windows from the first (1 - val_fraction) of the text, validation windows from
// the rest. Throws when either part is too short for one window.
std::pair<TextWindows, TextWindows> split_text(const TextCorpus& text,
                                               const TextSplitOptions& options = {});

// Mean cross-entropy in nats per character -> bits per character.
double bits_per_char(double nats);

}  // namespace descent::data
