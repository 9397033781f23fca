#!/usr/bin/env bash
# The whole test suite: install what is missing, build, run every test with ctest; then the
# same suite again in an AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure -j2)
if [ "${QAT_SKIP_ASAN:-0}" != 1 ]; then
  QAT_SANITIZE=1 bash scripts/build.sh
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0
  (cd build-asan && ctest --output-on-failure -j2)
fi
# Each fuzz harness for a short fixed time (QAT_FUZZ_SECONDS, default 20; 0 skips), with clang.
if [ "${QAT_FUZZ_SECONDS:-20}" != 0 ]; then
  bash fuzz/run.sh "${QAT_FUZZ_SECONDS:-20}"
fi
