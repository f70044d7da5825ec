// The `descent` command.
#include <cstdio>
#include <cstring>
#include <string>

#include "descent/core/error.hpp"

namespace {

constexpr const char* kUsage =
    "usage: descent <command> [options]\n"
    "\n"
    "commands:\n"
    "  help              show this message\n";

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2 || std::strcmp(argv[1], "help") == 0 || std::strcmp(argv[1], "--help") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    throw descent::Error(descent::cat("unknown command '", argv[1], "' (try: descent help)"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "descent: %s\n", e.what());
    return 1;
  }
}
