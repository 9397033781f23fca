#!/usr/bin/env bash
# Fault injection at every write-side syscall of a checkpoint save (`qat init`) and of an
# export (`qat export`), with strace (-e inject, needs ptrace: root or a permissive
# yama/ptrace_scope; skipped with exit 77 otherwise):
#   - ENOSPC and EIO on the N-th write, fsync and rename, for every N;
#   - SIGKILL on the N-th write, fsync and rename, for every N.
# For every case: the previous target is byte-identical, or (exit 0 only) the new one is
# exactly the reference output; a failing run exits non-zero with a "qat: error:" line naming
# the target and the failed step; no temporary file is left after an error qat saw; after a
# kill, the next write into the folder removes the orphaned temp file.
# Usage: tests/faults/inject.sh QAT_BINARY WORKDIR   (prints a summary line per family)
set -uo pipefail
qat=$(readlink -f "$1")
work=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
command -v strace >/dev/null || { echo "inject: strace not installed, skipping"; exit 77; }
rm -rf "$work"; mkdir -p "$work"; cd "$work"
strace -f -o /dev/null -e inject=getpid:retval=1:when=1000 true 2>/dev/null ||
  { echo "inject: strace cannot inject here (ptrace refused), skipping"; exit 77; }
cfg=$src/fuzz/seeds/config/tiny.yaml
cfg2=cfg2.yaml
sed 's/seed: 1/seed: 2/' "$cfg" > "$cfg2"
cal=cal.idx
python3 - <<'PY'
import struct, random
random.seed(1)
open('cal.idx', 'wb').write(struct.pack('>BBBBIII', 0, 0, 8, 3, 16, 8, 8) + bytes(random.randrange(256) for _ in range(16 * 64)))
PY
"$qat" init "$cfg" -o base.h5 >/dev/null || exit 1
"$qat" init "$cfg2" -o ref_init.h5 >/dev/null || exit 1
"$qat" export base.h5 --mode int8 --calibrate 16 --calibration-data $cal -o ref_export.tflite >/dev/null || exit 1
"$qat" export ref_init.h5 --mode int8 --calibrate 16 --calibration-data $cal -o prev_export.tflite >/dev/null || exit 1
# The new file is complete: byte-identical for an export; for a checkpoint, the same objects,
# data and attributes (HDF5 object headers carry modification times).
same_new() {
  case $1 in
    *.h5) h5diff -q "$1" "$2" >/dev/null 2>&1 ;;
    *) cmp -s "$1" "$2" ;;
  esac
}
fail=0
declare -A total
declare -A ok
# what: init | export. Each run writes target t/<name> over a previous version.
run_case() { # what fault syscall n
  local what=$1 fault=$2 sc=$3 n=$4 d=case
  rm -rf $d; mkdir $d
  local target prev ref cmd
  if [ "$what" = init ]; then
    target=$d/ckpt.h5; prev=base.h5; ref=ref_init.h5
    cp $prev $target
    cmd=("$qat" init "$cfg2" -o $target)
  else
    target=$d/model.tflite; prev=prev_export.tflite; ref=ref_export.tflite
    cp $prev $target
    cmd=("$qat" export base.h5 --mode int8 --calibrate 16 --calibration-data $cal -o $target)
  fi
  local inj
  case $fault in
    KILL) inj="inject=$sc:signal=KILL:when=$n" ;;
    *) inj="inject=$sc:error=$fault:when=$n" ;;
  esac
  (strace -f -o /dev/null -e trace=$sc -e "$inj" "${cmd[@]}" >$d/out 2>$d/err) 2>/dev/null
  local rc=$?
  local key="$what $fault $sc"
  total[$key]=$(( ${total[$key]:-0} + 1 ))
  local bad=""
  if cmp -s $target $prev; then :;
  elif same_new $target $ref; then
    [ $rc -eq 0 ] || [ "$fault" = KILL ] || grep -q "qat: error:" $d/err || bad="new file but exit $rc without a message"
  else bad="target is neither the previous nor the complete new file"; fi
  if [ "$fault" = KILL ]; then
    # the next writer into the folder removes the orphan
    "$qat" init "$cfg" -o $d/other.h5 >/dev/null 2>&1 || bad="$bad; next write failed"
    ls $d | grep -q '\.tmp\.' && bad="$bad; orphaned temp file not removed by the next write"
  else
    if [ $rc -ne 0 ]; then
      grep -q "qat: error: .*\(ckpt.h5\|model.tflite\|<stdout>\)" $d/err || bad="$bad; exit $rc but no error line naming the file: $(head -c 200 $d/err)"
    elif ! same_new $target $ref; then bad="$bad; exit 0 but the target is not the new file"; fi
    ls $d | grep -q '\.tmp\.' && bad="$bad; temp file left after an error qat saw"
  fi
  if [ -n "$bad" ]; then
    fail=1
    echo "FAIL: $what $fault at $sc #$n (exit $rc): $bad | $(head -c 300 $d/err)"
  else
    ok[$key]=$(( ${ok[$key]:-0} + 1 ))
  fi
}
count() { # what syscall -> number of calls in a normal run
  local what=$1 sc=$2 d=count
  rm -rf $d; mkdir $d
  if [ "$what" = init ]; then cp base.h5 $d/ckpt.h5; strace -f -o $d/trace -e trace=$sc "$qat" init "$cfg2" -o $d/ckpt.h5 >/dev/null 2>&1
  else cp prev_export.tflite $d/model.tflite; strace -f -o $d/trace -e trace=$sc "$qat" export base.h5 --mode int8 --calibrate 16 --calibration-data $cal -o $d/model.tflite >/dev/null 2>&1; fi
  grep -c "^[0-9]* *$sc(" $d/trace || true
}
for what in init export; do
  for sc in write fsync rename; do
    n=$(count $what $sc)
    for fault in ENOSPC EIO KILL; do
      for ((i = 1; i <= n; i++)); do run_case $what $fault $sc $i; done
    done
  done
done
all=0; good=0
for key in "${!total[@]}"; do
  echo "inject: $key: ${ok[$key]:-0}/${total[$key]} cases correct"
  all=$((all + total[$key])); good=$((good + ${ok[$key]:-0}))
done | sort
all=0; good=0
for key in "${!total[@]}"; do all=$((all + total[$key])); good=$((good + ${ok[$key]:-0})); done
echo "inject: $good/$all fault cases: previous file intact or new file complete, no stray temp files"
exit $fail
