#include "descent/data/text.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace descent::data {

std::string default_text_path() {
  return "/usr/share/common-licenses/GPL-3";
}

std::string TextCorpus::decode(const std::vector<std::int64_t>& positions) const {
  std::string out;
  out.reserve(positions.size());
  for (const std::int64_t p : positions) {
    DESCENT_CHECK(p >= 0 && p < vocab_size(), "TextCorpus::decode: position ", p,
                  " is outside the alphabet of ", vocab_size(), " characters");
    out.push_back(alphabet[static_cast<std::size_t>(p)]);
  }
  return out;
}

TextCorpus load_text(const std::string& path, std::int64_t max_bytes) {
  std::error_code error;
  const auto bytes = std::filesystem::file_size(path, error);
  DESCENT_CHECK(!error, "text file '", path, "': cannot read it (", error.message(), ")");
  DESCENT_CHECK(bytes > 0, "text file '", path, "': is empty");
  DESCENT_CHECK(static_cast<std::int64_t>(bytes) <= max_bytes, "text file '", path, "': ", bytes,
                " bytes is more than the limit of ", max_bytes);
  std::ifstream in(path, std::ios::binary);
  DESCENT_CHECK(in.good(), "text file '", path, "': cannot open it");
  std::string content(static_cast<std::size_t>(bytes), '\0');
  in.read(content.data(), static_cast<std::streamsize>(bytes));
  DESCENT_CHECK(in.gcount() == static_cast<std::streamsize>(bytes), "text file '", path, "': read ",
                in.gcount(), " of ", bytes, " bytes");

  TextCorpus text;
  text.path = path;
  std::array<bool, 256> seen{};
  for (std::size_t i = 0; i < content.size(); ++i) {
    const auto byte = static_cast<unsigned char>(content[i]);
    DESCENT_CHECK(byte != 0, "text file '", path, "': NUL byte at offset ", i,
                  " (not a text file?)");
    seen[byte] = true;
  }
  text.index.fill(-1);
  for (int byte = 0; byte < 256; ++byte) {
    if (!seen[byte]) continue;
    text.index[byte] = static_cast<std::int32_t>(text.alphabet.size());
    text.alphabet.push_back(static_cast<char>(byte));
  }
  auto ids = std::make_shared<std::vector<std::int32_t>>(content.size());
  for (std::size_t i = 0; i < content.size(); ++i) {
    (*ids)[i] = text.index[static_cast<unsigned char>(content[i])];
  }
  text.ids = std::move(ids);
  return text;
}

TextWindows::TextWindows(std::shared_ptr<const std::vector<std::int32_t>> ids, std::int64_t begin,
                         std::int64_t end, std::int64_t length)
    : ids_(std::move(ids)), begin_(begin), length_(length), shape_{length} {
  DESCENT_CHECK(ids_ != nullptr, "TextWindows: no text");
  DESCENT_CHECK(length > 0, "TextWindows: window length must be positive, got ", length);
  DESCENT_CHECK(0 <= begin && begin <= end && end <= static_cast<std::int64_t>(ids_->size()),
                "TextWindows: range [", begin, ", ", end, ") is outside a text of ", ids_->size(),
                " characters");
  // A window needs length + 1 characters (its targets run one further).
  size_ = end - begin > length ? (end - begin - 1) / length : 0;
}

void TextWindows::get_batch(std::span<const std::int64_t> indices, Tensor& inputs,
                            Tensor& targets) const {
  check_batch("TextWindows::get_batch", indices, inputs, targets);
  std::int64_t* in = inputs.data<std::int64_t>();
  std::int64_t* out = targets.data<std::int64_t>();
  const std::int32_t* text = ids_->data();
  for (std::size_t b = 0; b < indices.size(); ++b) {
    const std::int32_t* start = text + begin_ + indices[b] * length_;
    for (std::int64_t t = 0; t < length_; ++t) {
      in[b * length_ + t] = start[t];
      out[b * length_ + t] = start[t + 1];
    }
  }
}

std::pair<TextWindows, TextWindows> split_text(const TextCorpus& text,
                                               const TextSplitOptions& options) {
  DESCENT_CHECK(options.val_fraction >= 0 && options.val_fraction < 1,
                "split_text: val_fraction must be in [0, 1), got ", options.val_fraction);
  DESCENT_CHECK(options.length > 0, "split_text: length must be positive, got ", options.length);
  const std::int64_t n = text.size();
  const auto cut = static_cast<std::int64_t>(
      std::llround(static_cast<double>(n) * (1.0 - options.val_fraction)));
  TextWindows train(text.ids, 0, cut, options.length);
  TextWindows val(text.ids, cut, n, options.length);
  DESCENT_CHECK(train.size() > 0, "split_text: '", text.path, "' has ", n,
                " characters, too few for one training window of ", options.length + 1);
  DESCENT_CHECK(options.val_fraction == 0 || val.size() > 0, "split_text: the validation part of '",
                text.path, "' (", n - cut, " characters) is too short for one window of ",
                options.length + 1, "; lower the length or raise the fraction");
  return {std::move(train), std::move(val)};
}

double bits_per_char(double nats) {
  return nats / std::log(2.0);
}

}  // namespace descent::data
