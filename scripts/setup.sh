#!/usr/bin/env bash
# Installs the Debian 12 packages descent needs (only those missing). Safe to run twice.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git
  libopenblas-dev libdnnl-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev
  dataset-fashion-mnist
  python3 python3-torch python3-numpy
  clang-format
  chromium  # the browser test of the HTML reports (tests/experiment/browser_test.cpp)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
