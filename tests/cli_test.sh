#!/usr/bin/env bash
# The qat command as a user meets it: help, exit codes, one-line errors that name the file,
# a tiny training run with --json, h5dump-readable checkpoints, and divergence.
set -u
qat=$1
work=$(mktemp -d "$2/cli_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
pass=0

# expect CODE PATTERN -- command...: exit code and a stderr/stdout substring
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" != "$code" ] || ! grep -qF -- "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $rc (want $code), output:"
    echo "$out" | head -5
    echo "  (wanted: $pattern)"
    failures=$((failures + 1))
  else
    pass=$((pass + 1))
  fi
}

python3 - "$work" <<'PY'
import random, struct, sys, gzip
d = sys.argv[1]
random.seed(1)
def write(stem, n, gz):
    imgs, labels = bytearray(), bytearray()
    for _ in range(n):
        c = random.randrange(10)
        labels.append(c)
        by, bx = (c // 4) * 3, (c % 4) * 2
        for y in range(8):
            for x in range(8):
                on = by <= y < by + 2 and bx <= x < bx + 2
                imgs.append(random.randrange(60) + (180 if on else 0))
    op = gzip.open if gz else open
    with op(f"{d}/{stem}-images" + (".gz" if gz else ""), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 8, 8) + bytes(imgs))
    with op(f"{d}/{stem}-labels" + (".gz" if gz else ""), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(labels))
write("train", 256, True)
write("test", 64, False)
PY

config() { # $1 = optimizer mapping, $2 = file
  cat >"$2" <<YAML
model:
  input: [8, 8, 1]
  layers:
    - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
    - Flatten: {}
    - Dense: {units: 10}
data: {dataset: idx, train_images: $work/train-images.gz, train_labels: $work/train-labels.gz,
       test_images: $work/test-images, test_labels: $work/test-labels}
train: {epochs: 2, batch_size: 32, seed: 3, optimizer: $1}
YAML
}
config "{name: adam, learning_rate: 0.01}" "$work/ok.yaml"

expect 0 "commands:" -- "$qat" --help
expect 0 "--resume CKPT" -- "$qat" train --help
expect 0 "qat 0." -- "$qat" --version
expect 2 "usage: qat" -- "$qat"
expect 2 "unknown command 'frob'" -- "$qat" frob
expect 2 "train needs a CONFIG file" -- "$qat" train
expect 2 "--epochs expects an integer in [1, 1000000], got '0'" -- "$qat" train "$work/ok.yaml" --epochs 0
expect 2 "--batch-size expects an integer" -- "$qat" train "$work/ok.yaml" --batch-size 12x
expect 2 "unknown option '--epoch'" -- "$qat" train "$work/ok.yaml" --epoch 3
expect 2 "--seed expects a non-negative integer" -- "$qat" train "$work/ok.yaml" --seed -4
expect 4 "$work/missing.yaml" -- "$qat" train "$work/missing.yaml"

sed 's/optimizer:/optimiser:/' "$work/ok.yaml" >"$work/typo.yaml"
expect 2 "typo.yaml:9:45: train.optimiser: unknown key" -- "$qat" train "$work/typo.yaml"
expect 2 "did you mean 'optimizer'" -- "$qat" train "$work/typo.yaml"

head -c 100 "$work/test-images" >"$work/short-images"
sed "s|$work/test-images|$work/short-images|" "$work/ok.yaml" >"$work/short.yaml"
expect 3 "short-images: truncated" -- "$qat" train "$work/short.yaml" --out "$work/short"

expect 0 "(None, 6, 6, 4)" -- "$qat" summary "$work/ok.yaml"
expect 0 "parameters, seed 3" -- "$qat" init "$work/ok.yaml" -o "$work/init.h5"

out=$("$qat" train "$work/ok.yaml" --out "$work/run" --json 2>"$work/progress.txt")
rc=$?
if [ $rc != 0 ] || ! python3 -c '
import json, sys
s = json.loads(sys.argv[1])
for k in ("test_accuracy", "test_loss", "epochs", "steps", "ms_per_step", "checkpoint"):
    assert k in s, k
assert s["epochs"] == 2 and s["steps"] == 16, s
assert s["test_accuracy"] > 0.3, s
' "$out"; then
  echo "FAIL: --json summary: exit $rc: $out"
  failures=$((failures + 1))
else
  pass=$((pass + 1))
fi
expect 0 "Epoch 2/2" -- cat "$work/progress.txt"
if command -v h5dump >/dev/null; then
  expect 0 'DATASET "kernel"' -- h5dump -H "$work/run/checkpoint.h5"
fi
expect 0 "2,16," -- cat "$work/run/log.csv"

config "{name: sgd, learning_rate: 1e30}" "$work/diverge.yaml"
expect 5 "training diverged" -- "$qat" train "$work/diverge.yaml" --out "$work/diverge"

echo "$pass passed, $failures failed"
[ "$failures" = 0 ]
