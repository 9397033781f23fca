#!/usr/bin/env bash
# Runs the libFuzzer harnesses: `fuzz/run.sh [SECONDS] [HARNESS...]` (default 20 s each, all
# harnesses). Short fixed-time runs are the CI smoke test; long campaigns are the same with
# more time (`fuzz/run.sh 3600 keras`, or QAT_FUZZ_JOBS=N for parallel jobs).
# Builds build-fuzz/ with clang (-DQAT_FUZZ=ON) when needed; skips (exit 0) without clang.
# The working corpus grows in build-fuzz/corpus/<harness>/ (seeded from the fixtures and from
# fuzz/seeds/, never committed); crashes, leaks and timeouts land in build-fuzz/findings/,
# minimize them (binary -minimize_crash=1) and commit them to fuzz/corpus/<harness>/ with the
# fix: ctest replays that folder in every build.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
shift || true
all=(tflite_load tflite_noverify config idx cifar h5_checkpoint keras png jpeg npy npz)
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")
if ! command -v clang >/dev/null; then
  echo "fuzz: clang not found, skipping (apt-get install clang libclang-rt-14-dev)"
  exit 0
fi
if [ ! -x build-fuzz/fuzz/fuzz_keras ] || [ "${QAT_FUZZ_REBUILD:-1}" = 1 ]; then
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DQAT_FUZZ=ON -DQAT_TEST_MODULES=none >/dev/null
  cmake --build build-fuzz -j"$(nproc)" >/dev/null
fi
fix=../shared/fixtures
declare -A seeds=(
  [tflite_load]="$fix/tflite fuzz/seeds/tflite"
  [tflite_noverify]="$fix/tflite fuzz/seeds/tflite"
  [config]="examples fuzz/seeds/config"
  [idx]="fuzz/seeds/idx"
  [cifar]="fuzz/seeds/cifar"
  [h5_checkpoint]="fuzz/seeds/h5_checkpoint"
  [keras]="$fix/keras fuzz/seeds/keras fuzz/seeds/h5_checkpoint"
  [png]="fuzz/seeds/png"
  [jpeg]="fuzz/seeds/jpeg"
  [npy]="fuzz/seeds/npy"
  [npz]="fuzz/seeds/npz"
)
declare -A dicts=([tflite_load]=tflite [tflite_noverify]=tflite [config]=yaml [idx]=idx
                  [cifar]=cifar [h5_checkpoint]=hdf5 [keras]=keras [png]=png [jpeg]=jpeg [npy]=npy [npz]=npy)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1
status=0
for h in "${harnesses[@]}"; do
  work=build-fuzz/corpus/$h
  out=build-fuzz/findings/$h
  mkdir -p "$work" "$out"
  dirs=("$work" fuzz/corpus/"$h")
  for d in ${seeds[$h]}; do [ -d "$d" ] && dirs+=("$d"); done
  log=build-fuzz/findings/$h.log
  set +e
  build-fuzz/fuzz/fuzz_"$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -malloc_limit_mb=1024 -max_len=1048576 -dict=fuzz/dict/"${dicts[$h]}".dict \
      -artifact_prefix="$out/" -print_final_stats=1 ${QAT_FUZZ_JOBS:+-jobs=$QAT_FUZZ_JOBS} \
      "${dirs[@]}" >"$log" 2>&1
  rc=$?
  set -e
  # the last: children that libFuzzer's handlers end (contained crashes) print stats too
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  if [ $rc -ne 0 ]; then
    status=1
    echo "fuzz: $h: FOUND A PROBLEM after $execs runs ($cov): $(grep -m1 -E 'ERROR|SUMMARY|timeout|out-of-memory' "$log" || tail -1 "$log")"
    ls "$out" | sed 's/^/    /'
  else
    echo "fuzz: $h: ${secs}s, $execs runs, $cov, nothing found"
  fi
done
exit $status
