#!/usr/bin/env bash
# The unit tests under valgrind memcheck: 0 errors, 0 bytes definitely lost (suppressions in
# tests/valgrind.supp, OpenBLAS/libgomp internals only). Slow (20-50x): run on demand,
#   tests/valgrind.sh [BUILD_DIR=build] [TEST...]   (default: every tests/test_* binary)
# with 1 thread, and again with QAT_VALGRIND_THREADS=2.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=($(ls "$build"/tests/test_* 2>/dev/null | xargs -n1 basename))
command -v valgrind >/dev/null || { echo "valgrind: not installed"; exit 77; }
export OMP_NUM_THREADS=${QAT_VALGRIND_THREADS:-1} OPENBLAS_NUM_THREADS=${QAT_VALGRIND_THREADS:-1}
fail=0
for t in "${tests[@]}"; do
  log=$build/valgrind_$t.log
  # the log through a pipe, not --log-file: test_h5store's test_write_refused caps the process's
  # file size at 64 KiB (RLIMIT_FSIZE), which valgrind's own log writes would hit
  valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --suppressions=tests/valgrind.supp --log-fd=9 \
    "$build/tests/$t" >/dev/null 2>&1 9> >(cat > "$log")
  rc=$?
  wait
  summary=$(grep -E "ERROR SUMMARY" "$log" | tail -1 | sed 's/==[0-9]*== //')
  if [ $rc -eq 99 ]; then fail=1; echo "valgrind: $t: FAIL: $summary (see $log)";
  elif [ $rc -ne 0 ]; then fail=1; echo "valgrind: $t: the test failed (exit $rc) under valgrind (see $log)";
  else echo "valgrind: $t: $summary"; fi
done
exit $fail
