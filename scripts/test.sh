#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite: the normal build
# (warnings as errors) and the AddressSanitizer + UndefinedBehaviorSanitizer build.
# Usage: scripts/test.sh [--no-sanitize]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
jobs="$(nproc)"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDESCENT_WERROR=ON >/dev/null
cmake --build "$root/build" -j "$jobs"
(cd "$root/build" && ctest --output-on-failure -j "$jobs")
if [ "${1:-}" != "--no-sanitize" ]; then
  cmake -S "$root" -B "$root/build-sanitize" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DDESCENT_WERROR=ON -DDESCENT_SANITIZE=ON -DDESCENT_BUILD_BENCH=OFF >/dev/null
  cmake --build "$root/build-sanitize" -j "$jobs"
  (cd "$root/build-sanitize" && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j "$jobs")
fi
