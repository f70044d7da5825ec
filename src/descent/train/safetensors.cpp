#include "descent/train/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "descent/train/atomic_file.hpp"

namespace descent::train {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; descent writes memory as it is");

namespace {

using Json = nlohmann::json;

struct DTypeCode {
  const char* code;
  std::optional<DType> dtype;  // empty: a valid safetensors dtype that descent cannot hold
};

constexpr DTypeCode kDTypes[] = {
    {"F32", DType::f32},    {"F64", DType::f64},       {"BF16", DType::bf16},
    {"F16", DType::f16},    {"I32", DType::i32},       {"I64", DType::i64},
    {"BOOL", std::nullopt}, {"U8", std::nullopt},      {"I8", std::nullopt},
    {"I16", std::nullopt},  {"U16", std::nullopt},     {"U32", std::nullopt},
    {"U64", std::nullopt},  {"F8_E4M3", std::nullopt}, {"F8_E5M2", std::nullopt},
};

// One tensor's header entry, checked.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  std::uint64_t begin;
  std::uint64_t end;
};

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    DESCENT_CHECK(fd_ >= 0, "cannot read '", path, "': ", std::strerror(errno));
    struct stat info {};
    if (::fstat(fd_, &info) != 0) fail("cannot stat it: ", std::strerror(errno));
    if (!S_ISREG(info.st_mode)) fail("not a regular file");
    size_ = static_cast<std::uint64_t>(info.st_size);
  }
  ~Reader() { ::close(fd_); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  std::uint64_t size() const { return size_; }

  void read(std::uint64_t offset, void* out, std::uint64_t count) const {
    char* bytes = static_cast<char*>(out);
    while (count > 0) {
      const ssize_t n = ::pread(fd_, bytes, count, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("read error at byte ", offset, ": ", std::strerror(errno));
      if (n == 0) fail("the file ended at byte ", offset, " while reading (did it shrink?)");
      bytes += n;
      offset += static_cast<std::uint64_t>(n);
      count -= static_cast<std::uint64_t>(n);
    }
  }

  template <typename... Args>
  [[noreturn]] void fail(const Args&... args) const {
    throw Error(cat("safetensors file '", path_, "': ", args...));
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

std::string json_type(const Json& value) {
  if (value.is_number_unsigned()) return "a non-negative integer";
  if (value.is_number_integer()) return cat("the negative number ", value.dump());
  if (value.is_number_float()) return cat("the number ", value.dump());
  return cat(value.type_name(), " ", value.dump().substr(0, 40));
}

std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, bool& overflow) {
  std::uint64_t out = 0;
  overflow = overflow || __builtin_mul_overflow(a, b, &out);
  return out;
}

Entry parse_entry(const Reader& file, const std::string& name, const Json& value,
                  std::uint64_t data_size) {
  auto fail = [&](const auto&... args) { file.fail("tensor '", name, "': ", args...); };
  if (!value.is_object()) fail("expected an object, got ", json_type(value));
  Entry entry{name, DType::f32, {}, 0, 0};

  const auto dtype = value.find("dtype");
  if (dtype == value.end() || !dtype->is_string()) fail("missing the string 'dtype'");
  const std::string code = dtype->get<std::string>();
  const auto known = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                                  [&](const DTypeCode& d) { return code == d.code; });
  if (known == std::end(kDTypes)) fail("unknown dtype '", code, "'");
  if (!known->dtype) fail("dtype ", code, " is not supported (F32, F64, BF16, F16, I32, I64)");
  entry.dtype = *known->dtype;

  const auto shape = value.find("shape");
  if (shape == value.end() || !shape->is_array()) fail("missing the array 'shape'");
  bool overflow = false;
  std::uint64_t numel = 1;
  for (const Json& dim : *shape) {
    if (!dim.is_number_unsigned())
      fail("shape entries must be non-negative integers, got ", json_type(dim));
    const std::uint64_t d = dim.get<std::uint64_t>();
    if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail("shape entry ", d, " is too large");
    }
    entry.shape.push_back(static_cast<std::int64_t>(d));
    numel = checked_mul(numel, d, overflow);
  }
  const std::uint64_t nbytes = checked_mul(numel, dtype_size(entry.dtype), overflow);

  const auto offsets = value.find("data_offsets");
  if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
    fail("'data_offsets' must be two non-negative integers [begin, end]");
  }
  entry.begin = (*offsets)[0].get<std::uint64_t>();
  entry.end = (*offsets)[1].get<std::uint64_t>();
  if (entry.end < entry.begin)
    fail("data_offsets [", entry.begin, ", ", entry.end, "] run backwards");
  if (entry.end > data_size) {
    fail("data_offsets [", entry.begin, ", ", entry.end, "] run past the end of the data (",
         data_size, " bytes)");
  }
  if (overflow || nbytes != entry.end - entry.begin) {
    fail("shape ", shape_str(entry.shape), " of ", code, " needs ",
         overflow ? std::string("more than 2^64") : std::to_string(nbytes),
         " bytes, but data_offsets [", entry.begin, ", ", entry.end, "] hold ",
         entry.end - entry.begin);
  }
  return entry;
}

}  // namespace

std::string safetensors_dtype(DType dtype) {
  for (const DTypeCode& d : kDTypes) {
    if (d.dtype == dtype) return d.code;
  }
  throw Error(cat("safetensors: no code for dtype ", dtype_name(dtype)));
}

const Tensor* Safetensors::find(const std::string& name) const {
  for (const auto& [key, value] : tensors) {
    if (key == name) return &value;
  }
  return nullptr;
}

const Tensor& Safetensors::at(const std::string& name) const {
  const Tensor* found = find(name);
  DESCENT_CHECK(found != nullptr, "safetensors: no tensor named '", name, "'");
  return *found;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata, const SaveOptions& options) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    DESCENT_CHECK(!name.empty() && name != "__metadata__", "save_safetensors '", path,
                  "': invalid tensor name '", name, "'");
    DESCENT_CHECK(names.insert(name).second, "save_safetensors '", path, "': tensor '", name,
                  "' appears twice");
    DESCENT_CHECK(tensor.defined(), "save_safetensors '", path, "': tensor '", name,
                  "' is undefined");
    const std::uint64_t end = offset + tensor.nbytes();
    header[name] = {{"dtype", safetensors_dtype(tensor.dtype())},
                    {"shape", tensor.shape()},
                    {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  // Pad with spaces (valid JSON whitespace) so that the data starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::uint64_t header_size = text.size();
  const std::uint64_t total = 8 + header_size + offset;

  AtomicFile file(path);
  file.write(&header_size, sizeof header_size);  // little-endian (static_assert above)
  file.write(text);
  if (options.on_write) options.on_write(file.size(), total);
  for (const auto& [name, tensor] : tensors) {
    file.write(tensor.raw_data(), tensor.nbytes());
    if (options.on_write) options.on_write(file.size(), total);
  }
  file.commit();
}

Safetensors load_safetensors(const std::string& path) {
  const Reader file(path);
  if (file.size() < 8) {
    file.fail("truncated: ", file.size(),
              " bytes, but the file must start with an 8-byte header length");
  }
  std::uint64_t header_size = 0;
  file.read(0, &header_size, 8);
  if (header_size > file.size() - 8) {
    file.fail("the header length ", header_size, " runs past the end of the file (", file.size(),
              " bytes): truncated or not a safetensors file");
  }
  if (header_size > kMaxHeaderBytes) {
    file.fail("the header length ", header_size, " exceeds the limit of ", kMaxHeaderBytes,
              " bytes");
  }
  std::string text(header_size, '\0');
  file.read(8, text.data(), header_size);
  Json header;
  try {
    header = Json::parse(text);
  } catch (const Json::parse_error& e) {
    file.fail("the header is not valid JSON (at byte ", e.byte, " of ", header_size, ")");
  }
  if (!header.is_object()) file.fail("the header must be a JSON object, got ", header.type_name());

  const std::uint64_t data_start = 8 + header_size;
  const std::uint64_t data_size = file.size() - data_start;
  Safetensors out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) file.fail("__metadata__ must be an object of strings");
      for (const auto& [key, text_value] : value.items()) {
        if (!text_value.is_string()) {
          file.fail("__metadata__ entry '", key, "' must be a string, got ", json_type(text_value));
        }
        out.metadata[key] = text_value.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(file, name, value, data_size));
  }

  // The data must be the tensors back to back: no overlap, no gap, nothing after.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const Entry& entry : entries) {
    if (entry.begin < expected) {
      file.fail("tensors '", previous->name, "' [", previous->begin, ", ", previous->end, "] and '",
                entry.name, "' [", entry.begin, ", ", entry.end, "] overlap");
    }
    if (entry.begin > expected) {
      file.fail("a gap of ", entry.begin - expected, " bytes before tensor '", entry.name,
                "' (data_offsets [", entry.begin, ", ", entry.end, "])");
    }
    expected = entry.end;
    previous = &entry;
  }
  if (expected != data_size) {
    file.fail(data_size - expected, " bytes of data after the last tensor (the tensors hold ",
              expected, " of ", data_size, ")");
  }

  // Every size is now bounded by the file's own: allocating is safe.
  for (const Entry& entry : entries) {
    Tensor tensor = empty(entry.shape, entry.dtype);
    file.read(data_start + entry.begin, tensor.raw_data(), entry.end - entry.begin);
    out.tensors.emplace_back(entry.name, std::move(tensor));
  }
  return out;
}

}  // namespace descent::train
