// Scratch memory for kernels, from the caching allocator: after a training loop's first
// step, asking for the same sizes again reaches no system call.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "descent/core/allocator.hpp"

namespace descent::kernels {

// count elements of T, uninitialized, freed when it goes out of scope.
template <typename T>
class Workspace {
 public:
  explicit Workspace(std::int64_t count)
      : bytes_(static_cast<std::size_t>(std::max<std::int64_t>(count, 1)) * sizeof(T)),
        data_(static_cast<T*>(allocate(bytes_))) {}
  ~Workspace() { deallocate(data_, bytes_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  T* get() const { return data_; }

 private:
  std::size_t bytes_;
  T* data_;
};

}  // namespace descent::kernels
