// Files that are either wholly the old version or wholly the new one, even across a crash.
//
// ====== Intended usage ======
//   train::AtomicFile file("runs/a/last.safetensors");  // writes "runs/a/last.safetensors.tmp"
//   file.write(header);
//   file.write(data);
//   file.commit();       // fsync the file, rename it over the target, fsync the folder
//   // leaving the scope without commit() removes the temporary file; the target is untouched
//
//   train::write_file_atomic("runs/a/summary.json", text);  // the same, in one call
//
// The temporary file sits in the target's folder (a rename is atomic only within one file
// system) and is named "<target>.tmp": a process killed mid-write leaves at most that file
// behind, and the next write to the same target replaces it. Errors throw descent::Error
// naming the file and the system's reason ("No space left on device").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace descent::train {

class AtomicFile {
 public:
  // Creates (or truncates) "<path>.tmp"; throws naming it when that fails.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // Bytes written so far.
  std::size_t size() const { return written_; }
  // Makes the new contents the target's, durably: fsync, rename, fsync of the folder.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temporary_path() const { return temporary_; }

 private:
  std::string path_;
  std::string temporary_;
  int fd_ = -1;
  std::size_t written_ = 0;
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, std::string_view contents);

}  // namespace descent::train
