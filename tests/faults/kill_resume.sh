#!/usr/bin/env bash
# Kill-and-resume: `qat train` is killed with SIGKILL at K random moments (seeded), then
# resumed from the newest checkpoint of its folder (started afresh when it had written none)
# until it finishes; the final checkpoint must hold exactly the weights, batch-norm state and
# optimizer moments of an uninterrupted run (h5diff: bit-identical data and attributes), no
# temporary file may remain, and checkpoint.h5 must be the last epoch's.
# Usage: tests/faults/kill_resume.sh QAT_BINARY WORKDIR [K=10] [SEED=1]
set -uo pipefail
qat=$(readlink -f "$1")
work=$2
K=${3:-10}
seed=${4:-1}
rm -rf "$work"; mkdir -p "$work"; cd "$work"
cat > cfg.yaml <<'YAML'
model:
  input: [28, 28, 1]
  layers:
    - Conv2D: {filters: 4, kernel_size: 3}
    - BatchNormalization: {}
    - ReLU: {}
    - MaxPooling2D: {pool_size: 2}
    - Flatten: {}
    - Dense: {units: 10}
data: {dataset: fashion-mnist, limit_train: 1024, limit_test: 256}
train: {epochs: 4, batch_size: 32, seed: 3, optimizer: {name: adam, learning_rate: 0.002}}
quantize: {mode: qat, delay: 40}
YAML
export OMP_NUM_THREADS=1
t0=$(date +%s.%N)
"$qat" train cfg.yaml --threads 1 --out ref >/dev/null 2>ref.err || {
  grep -qi "fashion" ref.err && { echo "kill_resume: no Fashion-MNIST, skipping: $(tail -1 ref.err)"; exit 77; }
  cat ref.err; exit 1; }
t1=$(date +%s.%N)
total=$(python3 -c "print($t1 - $t0)")
fail=0
for ((k = 1; k <= K; k++)); do
  # a kill moment in (5%, 95%) of an uninterrupted run, from the seed
  t=$(python3 -c "import random; r = random.Random($seed * 1000 + $k); print(round($total * r.uniform(0.05, 0.95), 3))")
  d=run$k
  timeout -s KILL "$t" "$qat" train cfg.yaml --threads 1 --out $d >/dev/null 2>$d.err
  rc=$?
  if [ $rc -eq 0 ]; then note="finished before the kill"; else note="killed at ${t}s"; fi
  latest=$(ls $d/epoch_*.h5 2>/dev/null | sort | tail -1)
  if [ -n "$latest" ]; then
    "$qat" train cfg.yaml --threads 1 --out $d --resume "$latest" >/dev/null 2>>$d.err
  else
    "$qat" train cfg.yaml --threads 1 --out $d >/dev/null 2>>$d.err
  fi
  rc2=$?
  bad=""
  [ $rc2 -eq 0 ] || bad="resume exited $rc2: $(tail -1 $d.err)"
  [ -z "$bad" ] && ! h5diff -q ref/checkpoint.h5 $d/checkpoint.h5 >/dev/null 2>&1 && bad="final checkpoint differs from the uninterrupted run"
  [ -z "$bad" ] && ! h5diff -q ref/epoch_004.h5 $d/checkpoint.h5 >/dev/null 2>&1 && bad="checkpoint.h5 is not the last epoch's"
  ls $d | grep -q '\.tmp\.' && bad="$bad; temp files left: $(ls $d | grep '\.tmp\.')"
  if [ -n "$bad" ]; then
    fail=1; echo "kill_resume: #$k ($note, resumed from ${latest:-scratch}): FAIL: $bad"
  else
    echo "kill_resume: #$k ($note, resumed from ${latest:-scratch}): bit-identical"
  fi
done
# A damaged latest checkpoint (truncated, as a full disk or a copy cut short leaves it):
# --resume falls back to the newest epoch checkpoint beside it, says so, and still ends
# bit-identical; with nothing to fall back to, it fails naming the file.
"$qat" train cfg.yaml --threads 1 --out fb --epochs 2 >/dev/null 2>fb.err || { cat fb.err; exit 1; }
head -c 3000 fb/checkpoint.h5 > fb/cut.h5 && mv fb/cut.h5 fb/checkpoint.h5
"$qat" train cfg.yaml --threads 1 --out fb --resume fb/checkpoint.h5 >fb.out 2>>fb.err
rc=$?
if [ $rc -ne 0 ] || ! grep -q "cannot resume from fb/checkpoint.h5 .*resuming from fb/epoch_002.h5" fb.out ||
   ! h5diff -q ref/checkpoint.h5 fb/checkpoint.h5 >/dev/null 2>&1; then
  fail=1; echo "kill_resume: damaged checkpoint.h5: FAIL (exit $rc): $(grep -i resum fb.out fb.err | head -2)"
else
  echo "kill_resume: damaged checkpoint.h5: resumed from the newest epoch checkpoint, bit-identical"
fi
mkdir -p lone && head -c 3000 ref/checkpoint.h5 > lone/checkpoint.h5
"$qat" train cfg.yaml --threads 1 --out lone --resume lone/checkpoint.h5 >/dev/null 2>lone.err
rc=$?
if [ $rc -eq 0 ] || ! grep -q "lone/checkpoint.h5.*no epoch checkpoint beside it to fall back to" lone.err; then
  fail=1; echo "kill_resume: damaged checkpoint with no fallback: FAIL (exit $rc): $(cat lone.err)"
else
  echo "kill_resume: damaged checkpoint with no fallback: refused ($(tail -1 lone.err))"
fi
exit $fail
