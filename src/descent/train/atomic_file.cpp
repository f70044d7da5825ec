#include "descent/train/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "descent/core/error.hpp"

namespace descent::train {
namespace {

std::string reason(int error) {
  return std::strerror(error);
}

// The folder holding `path` ("." for a bare file name).
std::string folder_of(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), temporary_(path_ + ".tmp") {
  DESCENT_CHECK(!path_.empty(), "write: empty file name");
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  DESCENT_CHECK(fd_ >= 0, "cannot write '", temporary_, "': ", reason(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temporary_.c_str());
}

void AtomicFile::write(const void* data, std::size_t size) {
  DESCENT_CHECK(fd_ >= 0 && !committed_, "write '", path_, "': the file was already committed");
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    DESCENT_CHECK(n > 0, "cannot write '", temporary_, "': ", reason(errno));
    bytes += n;
    size -= static_cast<std::size_t>(n);
    written_ += static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  DESCENT_CHECK(fd_ >= 0 && !committed_, "write '", path_, "': the file was already committed");
  // The data must be on disk before the rename makes it the target's: otherwise a crash could
  // leave the new name pointing at a file whose blocks were never written.
  DESCENT_CHECK(::fsync(fd_) == 0, "cannot write '", temporary_, "' (fsync): ", reason(errno));
  const int closed = ::close(fd_);
  fd_ = -1;
  DESCENT_CHECK(closed == 0, "cannot write '", temporary_, "' (close): ", reason(errno));
  DESCENT_CHECK(::rename(temporary_.c_str(), path_.c_str()) == 0, "cannot rename '", temporary_,
                "' to '", path_, "': ", reason(errno));
  committed_ = true;
  // The rename lives in the folder: sync it too, so that the new name survives a power cut.
  const std::string folder = folder_of(path_);
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DESCENT_CHECK(dir >= 0, "cannot open folder '", folder, "' to sync it: ", reason(errno));
  const int synced = ::fsync(dir);
  const int error = errno;
  ::close(dir);
  DESCENT_CHECK(synced == 0, "cannot sync folder '", folder, "': ", reason(error));
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

}  // namespace descent::train
