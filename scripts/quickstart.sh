#!/usr/bin/env bash
# Installs what is missing, builds in Release, and runs the main job: `descent train`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j "$(nproc)" --target descent_cli
"$root/build/descent" train "$@"
