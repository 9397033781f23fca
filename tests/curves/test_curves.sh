#!/usr/bin/env bash
# qat train's curves: steps.csv every --log-every steps, a TensorBoard events file that
# TensorBoard's own reader loads (tags, steps, values equal to the CSV's), and qat plot's SVG
# and PNG. Skips the TensorBoard part (exit 77 only if nothing else can run) when the venv lacks
# tensorboard.
set -euo pipefail
qat=$1 build=$2 src=$3
py=$src/.venv/bin/python
work=$(mktemp -d "$build/curves_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/c.yaml" <<'YAML'
model:
  input: [28, 28, 1]
  layers:
    - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
    - MaxPooling2D: {pool_size: 2}
    - Flatten: {}
    - Dense: {units: 10}
data: {dataset: fashion-mnist, limit_train: 640, limit_test: 200, validation_split: 0.25}
quantize: {mode: qat}
train: {epochs: 2, batch_size: 32, seed: 3, optimizer: {name: adam, learning_rate: 0.003}}
YAML
"$qat" train "$work/c.yaml" --out "$work/run" --log-every 4 --threads 1 > "$work/train.log"
csv=$work/run/steps.csv
head -1 "$csv" | grep -q '^step,epoch,wall_time,loss,accuracy,lr,val_loss,val_accuracy,test_loss,test_accuracy,float_test_accuracy$' \
  || { echo "FAIL: steps.csv header"; head -2 "$csv"; exit 1; }
rows=$(($(wc -l < "$csv") - 1))
# 480 training samples / 32 = 15 steps per epoch: rows at 4, 8, 12, 15(end) and the epoch end row
[ "$rows" -ge 8 ] || { echo "FAIL: $rows rows in steps.csv"; cat "$csv"; exit 1; }
ls "$work"/run/events.out.tfevents.* > /dev/null || { echo "FAIL: no events file"; exit 1; }
"$qat" plot "$work/run" > /dev/null
for f in curves.svg curves.png; do [ -s "$work/run/$f" ] || { echo "FAIL: no $f"; exit 1; }; done
head -c 8 "$work/run/curves.png" | od -An -tx1 | grep -q "89 50 4e 47 0d 0a 1a 0a" || { echo "FAIL: not a PNG"; exit 1; }
grep -q "<svg" "$work/run/curves.svg" && grep -q "accuracy" "$work/run/curves.svg" || { echo "FAIL: svg"; exit 1; }
# errors: a missing run, a broken CSV
set +e
out=$("$qat" plot "$work/nothing" 2>&1); rc=$?
set -e
[ "$rc" = 4 ] && grep -q "nothing: cannot open" <<<"$out" || { echo "FAIL: missing run: rc $rc: $out"; exit 1; }
printf 'step,loss\n1,abc\n' > "$work/bad.csv"
set +e
out=$("$qat" plot "$work/bad.csv" 2>&1); rc=$?
set -e
[ "$rc" = 3 ] && grep -q "bad.csv:2" <<<"$out" || { echo "FAIL: bad csv: rc $rc: $out"; exit 1; }
if ! "$py" -c "import tensorboard" 2>/dev/null; then
  echo "SKIP: tensorboard is not installed in $src/.venv (scripts/setup.sh installs it); CSV and plot checked"
  exit 0
fi
"$py" - "$work/run" <<'PY'
import csv, glob, math, sys
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
run = sys.argv[1]
files = glob.glob(run + "/events.out.tfevents.*")
assert len(files) == 1, files
# the low-level loader checks every record's CRCs
events = list(event_file_loader.EventFileLoader(files[0]).Load())
assert events[0].file_version == "brain.Event:2", events[0]
ea = EventAccumulator(run)
ea.Reload()
tags = set(ea.Tags()["scalars"])
want = {"train/loss", "train/accuracy", "train/learning_rate", "validation/loss", "validation/accuracy",
        "test/loss", "test/accuracy", "test/float_accuracy"}
assert want <= tags, (want - tags)
rows = list(csv.DictReader(open(run + "/steps.csv")))
col = {"train/loss": "loss", "train/accuracy": "accuracy", "train/learning_rate": "lr",
       "test/accuracy": "test_accuracy", "test/float_accuracy": "float_test_accuracy"}
for tag, c in col.items():
    csv_pts = [(int(r["step"]), float(r[c])) for r in rows if r[c] != ""]
    tb_pts = [(e.step, e.value) for e in ea.Scalars(tag)]
    assert len(csv_pts) == len(tb_pts), (tag, len(csv_pts), len(tb_pts))
    for (s1, v1), (s2, v2) in zip(csv_pts, tb_pts):
        assert s1 == s2 and math.isclose(v1, v2, rel_tol=1e-6, abs_tol=1e-9), (tag, s1, v1, s2, v2)
print("tensorboard reads %d events, %d tags" % (len(events), len(tags)))
PY
# a corrupted record is refused by TensorBoard's CRC check: flip one byte of the payload
cp "${work}"/run/events.out.tfevents.* "$work/bad.tfevents"
printf '\xff' | dd of="$work/bad.tfevents" bs=1 seek=30 conv=notrunc status=none
"$py" - "$work/bad.tfevents" <<'PY' || { echo "FAIL: a corrupted event file was accepted"; exit 1; }
import sys
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New
r = PyRecordReader_New(sys.argv[1])
try:
    for _ in range(1000):
        r.GetNext()
except Exception as e:
    if "corrupt" in str(e).lower() or "crc" in str(e).lower() or "DataLoss" in type(e).__name__:
        sys.exit(0)
    raise
sys.exit(1)
PY
# A resumed run keeps its curves: a run of both epochs resumed from its epoch-1 checkpoint (as
# after a kill in epoch 2) logs each step once, the same rows as the uninterrupted run; and
# TensorBoard, reading both events files, drops the first file's epoch-2 points (the session
# START the resumed file opens with) and sees each step once, equal to the CSV.
"$qat" train "$work/c.yaml" --out "$work/run2" --log-every 4 --threads 1 > /dev/null
"$qat" train "$work/c.yaml" --out "$work/run2" --log-every 4 --threads 1 --resume "$work/run2/epoch_001.h5" > /dev/null
cols() { cut -d, -f1,2,4- "$1"; }
[ "$(cols "$work/run2/steps.csv")" = "$(cols "$csv")" ] ||
  { echo "FAIL: resumed steps.csv differs from the uninterrupted run's"; diff <(cols "$work/run2/steps.csv") <(cols "$csv"); exit 1; }
"$py" - "$work/run2" <<'PY'
import csv, glob, math, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
run = sys.argv[1]
assert len(glob.glob(run + "/events.out.tfevents.*")) == 2
ea = EventAccumulator(run)
ea.Reload()
rows = list(csv.DictReader(open(run + "/steps.csv")))
for tag, c in {"train/loss": "loss", "train/accuracy": "accuracy", "test/accuracy": "test_accuracy"}.items():
    csv_pts = [(int(r["step"]), float(r[c])) for r in rows if r[c] != ""]
    tb_pts = [(e.step, e.value) for e in ea.Scalars(tag)]
    assert [s for s, _ in tb_pts] == [s for s, _ in csv_pts], (tag, tb_pts, csv_pts)
    for (s1, v1), (s2, v2) in zip(csv_pts, tb_pts):
        assert math.isclose(v1, v2, rel_tol=1e-6, abs_tol=1e-9), (tag, s1, v1, v2)
print("resumed run: tensorboard sees each step once, as steps.csv")
PY
echo "curves test: ok"
