// descent::Error: what went wrong, where, and what to try.
//
// Library code never asserts or exits; it throws Error. Messages name the op (or file, key,
// flag) and the values involved, e.g. "matmul: inner dimensions differ: (2, 3) @ (4, 5)".
#pragma once

#include <source_location>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace descent {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message,
                 std::source_location where = std::source_location::current())
      : std::runtime_error(message), where_(where) {}
  const std::source_location& where() const noexcept { return where_; }

 private:
  std::source_location where_;
};

// Concatenates anything streamable: cat("got ", 3, " dims") == "got 3 dims".
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

}  // namespace descent

// Throws descent::Error with the streamed message when cond is false. The message is only
// built on failure.
#define DESCENT_CHECK(cond, ...)                           \
  do {                                                     \
    if (!(cond)) [[unlikely]] {                            \
      throw ::descent::Error(::descent::cat(__VA_ARGS__)); \
    }                                                      \
  } while (0)
