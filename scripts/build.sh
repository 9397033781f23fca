#!/usr/bin/env bash
# Configures and builds qat into build/ (Release), or build-asan/ with QAT_SANITIZE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${QAT_SANITIZE:-0}" = 1 ]; then
  dir=build-asan
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DQAT_SANITIZE=ON -DQAT_TEST_MODULES="" >/dev/null
else
  dir=build
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DQAT_TEST_MODULES="" >/dev/null
fi
cmake --build "$dir" -j"$(nproc)"
