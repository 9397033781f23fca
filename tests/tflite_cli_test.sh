#!/usr/bin/env bash
# qat eval MODEL.tflite and qat inspect, as a user meets them:
#  * eval of a float32 export equals `qat eval CKPT` of the same weights (untrained and trained);
#  * eval of an int8-input model (the micro_speech fixture on generated 49x40 IDX images)
#    and of qat's own int8 exports (int8, uint8, float32 I/O; when `qat export --mode int8`
#    exists) equal the accuracy and confusion matrix the official interpreter (BUILTIN_REF)
#    gives on the inputs quantized as TFLite's QUANTIZE would (skipped without the .venv);
#  * inspect on the fixtures: op names, versions, MACs, peak arena, JSON fields;
#  * usage errors (2), bad models and data (3, one line), missing files (4).
# usage: tflite_cli_test.sh QAT BINARY_DIR FIXTURE_DIR PYTHON
set -u
qat=$1
work=$(mktemp -d "$2/tflite_cli_test.XXXXXX")
F=$3
py=${4:-}
trap 'rm -rf "$work"' EXIT
failures=0
pass=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect CODE PATTERN -- command...: exit code, a substring of the output, and (for errors)
# exactly one line on stderr
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  "$@" >"$work/out" 2>"$work/err"
  rc=$?
  out=$(cat "$work/out" "$work/err")
  if [ "$rc" != "$code" ] || ! grep -qF -- "$pattern" <<<"$out"; then
    fail "$* -> exit $rc (want $code), output:"
    echo "$out" | head -5
    echo "  (wanted: $pattern)"
  elif [ "$code" = 3 ] || [ "$code" = 4 ]; then
    if [ "$(wc -l <"$work/err")" != 1 ] || [ -s "$work/out" ]; then
      fail "$* -> error is not one line on stderr:"
      cat "$work/err" "$work/out" | head -5
    else
      pass=$((pass + 1))
    fi
  else
    pass=$((pass + 1))
  fi
}

# json_field FILE KEY: the value of a top-level number field of a one-line JSON object
json_field() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

have_litert=0
[ -n "$py" ] && [ -x "$py" ] && "$py" -c "import numpy, ai_edge_litert" 2>/dev/null && have_litert=1

# litert_check MODEL IMAGES LABELS RESULT_JSON: the official interpreter (BUILTIN_REF) on the
# same samples, pixels / 255 fed as float32 or quantized as TFLite's QUANTIZE does (float32
# division, round half away from zero, + zero point, clamp), must give the same accuracy and
# confusion matrix as `qat eval --json --confusion` did.
litert_check() {
  "$py" - "$@" <<'PY' && pass=$((pass + 1)) || fail "eval of $1 vs LiteRT"
import json, os, struct, sys
import numpy as np
from ai_edge_litert import interpreter as litert
model, images, labels, res = sys.argv[1:5]
raw = open(images, "rb").read()
n, h, w = struct.unpack(">III", raw[4:16])
x = np.frombuffer(raw[16:], np.uint8).reshape(n, h * w)
y = np.frombuffer(open(labels, "rb").read()[8:], np.uint8)
it = litert.Interpreter(model_path=model,
                        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
it.allocate_tensors()
di, do = it.get_input_details()[0], it.get_output_details()[0]
nc = int(np.prod(do["shape"]))
ok, conf = 0, [[0] * nc for _ in range(nc)]
for i in range(n):
    v = x[i].astype(np.float32) / np.float32(255.0)
    if di["dtype"] == np.float32:
        q = v
    else:
        scale, zp = di["quantization"]
        r = v / np.float32(scale)
        r = np.sign(r) * np.floor(np.abs(r) + np.float32(0.5))
        info = np.iinfo(di["dtype"])
        q = np.clip(r.astype(np.int64) + int(zp), info.min, info.max).astype(di["dtype"])
    it.set_tensor(di["index"], q.reshape(di["shape"]))
    it.invoke()
    p = int(np.argmax(it.get_tensor(do["index"]).reshape(-1)))
    ok += int(p == y[i])
    conf[y[i]][p] += 1
j = json.load(open(res))
print(f"{os.path.basename(model)}: qat accuracy {j['accuracy']:.6f}, LiteRT BUILTIN_REF {ok / n:.6f}"
      f"{'' if j['confusion'] == conf else ' (confusion matrices differ)'}")
sys.exit(0 if j["samples"] == n and f"{ok / n:.6f}" == f"{j['accuracy']:.6f}" and j["confusion"] == conf else 1)
PY
}

# ---- data: 8x8 IDX images of 10 classes (a bright 2x2 square whose place is the class) ----
python3 - "$work" <<'PY'
import random, struct, sys, gzip
d = sys.argv[1]
random.seed(5)
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
write("test", 200, False)
# 49x40 images with labels 0..3 for micro_speech (input [1,1960], 4 classes)
random.seed(6)
n = 60
with open(f"{d}/speech-images", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 49, 40) + bytes(random.randrange(256) for _ in range(n * 1960)))
with open(f"{d}/speech-labels", "wb") as f:
    f.write(struct.pack(">II", 0x801, n) + bytes(random.randrange(4) for _ in range(n)))
with open(f"{d}/bad-labels", "wb") as f:  # label 7 is not a class of a 4-way output
    f.write(struct.pack(">II", 0x801, n) + bytes([7] * n))
PY

cat >"$work/c.yaml" <<YAML
model:
  input: [8, 8, 1]
  layers:
    - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
    - MaxPooling2D: {pool_size: 2}
    - Flatten: {}
    - Dense: {units: 10}
data: {dataset: idx, train_images: $work/train-images.gz, train_labels: $work/train-labels.gz,
       test_images: $work/test-images, test_labels: $work/test-labels}
train: {epochs: 2, batch_size: 32, seed: 3, optimizer: {name: adam, learning_rate: 0.01}}
YAML

# ---- eval: float32 export == checkpoint eval (same weights) ----
"$qat" init "$work/c.yaml" -o "$work/init.h5" >/dev/null || fail "qat init"
"$qat" train "$work/c.yaml" --out "$work/run" --json >/dev/null 2>&1 || fail "qat train"
for ck in "$work/init.h5" "$work/run/checkpoint.h5"; do
  "$qat" export "$ck" --mode float32 -o "$work/m.tflite" >/dev/null || fail "export $ck"
  "$qat" eval "$ck" --json >"$work/ck.json" || fail "eval $ck"
  "$qat" eval "$work/m.tflite" --images "$work/test-images" --labels "$work/test-labels" --json \
    >"$work/tf.json" || fail "eval tflite of $ck"
  a=$(json_field "$work/ck.json" float_accuracy)
  b=$(json_field "$work/tf.json" accuracy)
  n=$(json_field "$work/tf.json" samples)
  if [ "$a" != "$b" ] || [ "$n" != 200 ]; then
    fail "float32 export of $ck: tflite accuracy $b over $n samples, checkpoint $a"
  else
    pass=$((pass + 1))
    echo "float32 export of $(basename "$ck"): accuracy $b (checkpoint $a)"
  fi
  # --limit on both
  "$qat" eval "$ck" --json --limit 37 >"$work/ck.json"
  "$qat" eval "$work/m.tflite" --images "$work/test-images" --labels "$work/test-labels" --json --limit 37 \
    >"$work/tf.json"
  [ "$(json_field "$work/ck.json" float_accuracy)" = "$(json_field "$work/tf.json" accuracy)" ] &&
    [ "$(json_field "$work/tf.json" samples)" = 37 ] && pass=$((pass + 1)) || fail "--limit 37 of $ck"
done
cp "$work/m.tflite" "$work/trained.tflite"

# ---- eval --data SOURCE: a config's test split, the same samples as a .npz, and a folder ----
"$qat" eval "$work/run/checkpoint.h5" --json >"$work/ck.json"
"$qat" eval "$work/trained.tflite" --data "$work/c.yaml" --json >"$work/tf.json" || fail "eval --data c.yaml"
[ "$(json_field "$work/ck.json" float_accuracy)" = "$(json_field "$work/tf.json" accuracy)" ] &&
  [ "$(json_field "$work/tf.json" samples)" = 200 ] && pass=$((pass + 1)) ||
  fail "eval --data c.yaml: $(json_field "$work/tf.json" accuracy) vs checkpoint $(json_field "$work/ck.json" float_accuracy)"
if [ $have_litert = 1 ]; then
  "$py" - "$work" <<'PY' || fail "writing the test set as .npz and as a PNG folder"
import gzip, os, struct, sys
import numpy as np
from PIL import Image
d = sys.argv[1]
raw = open(f"{d}/test-images", "rb").read()
n, h, w = struct.unpack(">III", raw[4:16])
x = np.frombuffer(raw[16:], np.uint8).reshape(n, h, w, 1)
y = np.frombuffer(open(f"{d}/test-labels", "rb").read()[8:], np.uint8)
np.savez(f"{d}/test.npz", x_train=x[:10], y_train=y[:10].astype(np.int64), x_test=x, y_test=y.astype(np.int64))
for i in range(n):  # class folders named so that sorting keeps the label order
    os.makedirs(f"{d}/folder/test/c{y[i]}", exist_ok=True)
    Image.fromarray(x[i, :, :, 0]).save(f"{d}/folder/test/c{y[i]}/{i:04d}.png")
for c in range(10):  # every class, as the training folder the loader expects beside test/
    os.makedirs(f"{d}/folder/train/c{c}", exist_ok=True)
    Image.fromarray(np.zeros((h, w), np.uint8)).save(f"{d}/folder/train/c{c}/0.png")
PY
  "$qat" eval "$work/trained.tflite" --data "$work/test.npz" --json >"$work/npz.json" || fail "eval --data .npz"
  [ "$(json_field "$work/npz.json" accuracy)" = "$(json_field "$work/tf.json" accuracy)" ] &&
    [ "$(json_field "$work/npz.json" samples)" = 200 ] && pass=$((pass + 1)) || fail "eval --data .npz accuracy"
  # a folder: PNG decoding is lossless and 8x8 needs no resize, so the same accuracy, unless
  # a class is missing from test/ (then the labels would shift): compared per class count
  "$qat" eval "$work/trained.tflite" --data "$work/folder" --json >"$work/dir.json" || fail "eval --data folder"
  python3 - "$work/dir.json" "$work/tf.json" <<'PY' && pass=$((pass + 1)) || fail "eval --data folder"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["samples"] == b["samples"] == 200, (a["samples"], b["samples"])
if a["per_class_samples"] == b["per_class_samples"]:
    assert a["accuracy"] == b["accuracy"], (a["accuracy"], b["accuracy"])
PY
fi
expect 2 "--data expects" -- "$qat" eval "$work/trained.tflite" --data "$work/test-images"
expect 4 "nope.npz" -- "$qat" eval "$work/trained.tflite" --data "$work/nope.npz"
if [ $have_litert = 1 ]; then
  "$qat" eval "$work/trained.tflite" --images "$work/test-images" --labels "$work/test-labels" --json \
    --confusion >"$work/tf.json"
  litert_check "$work/trained.tflite" "$work/test-images" "$work/test-labels" "$work/tf.json"
fi

# JSON: fields, per-class, confusion rows sum to the per-class counts
"$qat" eval "$work/trained.tflite" --images "$work/train-images.gz" --labels "$work/train-labels.gz" \
  --json --confusion >"$work/tf.json" 2>&1
python3 - "$work/tf.json" <<'PY' && pass=$((pass + 1)) || fail "eval --json --confusion fields"
import json, sys
j = json.load(open(sys.argv[1]))
assert set(["accuracy", "per_class", "samples", "ms_per_sample", "confusion"]) <= set(j), j.keys()
assert len(j["per_class"]) == 10 and len(j["confusion"]) == 10
assert [sum(r) for r in j["confusion"]] == j["per_class_samples"]
assert sum(j["per_class_samples"]) == j["samples"] == 256
ok = sum(j["confusion"][c][c] for c in range(10))
assert abs(ok / j["samples"] - j["accuracy"]) < 1e-6
for c in range(10):
    n = j["per_class_samples"][c]
    assert n == 0 or abs(j["confusion"][c][c] / n - j["per_class"][c]) < 1e-6
assert j["ms_per_sample"] > 0
PY
expect 0 "confusion (rows: true class" -- "$qat" eval "$work/trained.tflite" --images "$work/test-images" \
  --labels "$work/test-labels" --confusion
expect 0 "accuracy:" -- "$qat" eval --limit 5 "$work/trained.tflite" --images "$work/test-images" \
  --labels "$work/test-labels"

# ---- eval of an int8-input model against the official interpreter ----
if [ -d "$F" ]; then
  ms="$F/micro_speech_quantized.tflite"
  "$qat" eval "$ms" --images "$work/speech-images" --labels "$work/speech-labels" --json \
    --confusion >"$work/ms.json" || fail "eval micro_speech"
  if [ $have_litert = 1 ]; then
    litert_check "$ms" "$work/speech-images" "$work/speech-labels" "$work/ms.json"
  else
    echo "note: no .venv with ai-edge-litert: micro_speech eval not compared with LiteRT"
  fi
  expect 3 "label 7 of sample 0 is not a class" -- "$qat" eval "$ms" --images "$work/speech-images" \
    --labels "$work/bad-labels"
  expect 3 "takes 1960 values per invocation, the images are 8x8x1" -- "$qat" eval "$ms" \
    --images "$work/test-images" --labels "$work/test-labels"

  # ---- inspect on the fixtures ----
  hw="$F/hello_world_int8.tflite"
  "$qat" inspect "$hw" --json >"$work/hw.json" || fail "inspect hello_world"
  "$qat" inspect "$ms" --json >"$work/ms_i.json" || fail "inspect micro_speech"
  python3 - "$work/hw.json" "$work/ms_i.json" "$hw" "$ms" <<'PY' && pass=$((pass + 1)) || fail "inspect fixtures"
import json, os, sys
hw, ms = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
ops = lambda j: [(o["op"], o["version"]) for o in j["operators"]]
assert ops(hw) == [("FULLY_CONNECTED", 4)] * 3, ops(hw)
assert [o["macs"] for o in hw["operators"]] == [16, 256, 16]
assert hw["total_macs"] == 288 and hw["file_bytes"] == os.path.getsize(sys.argv[3])
assert hw["peak_activation_bytes"] == 32 and hw["activation_bytes"] == 64, hw["peak_activation_bytes"]
assert len(hw["tensors"]) == 10 and hw["tensors"][0]["shape"] == [1, 1]
assert hw["tensors"][0]["type"] == "INT8" and hw["tensors"][0]["zero_point"] == -128
assert hw["const_bytes_by_type"] == {"INT32": 132, "INT8": 288}
assert ops(ms) == [("RESHAPE", 1), ("DEPTHWISE_CONV_2D", 3), ("FULLY_CONNECTED", 4), ("SOFTMAX", 2)], ops(ms)
assert [o["macs"] for o in ms["operators"]] == [0, 320000, 16000, 0]
assert ms["total_macs"] == 336000 and ms["file_bytes"] == os.path.getsize(sys.argv[4])
assert ms["peak_activation_bytes"] == 5968 and ms["activation_bytes"] == 7968, ms["peak_activation_bytes"]
w = [t for t in ms["tensors"] if t["name"] == "first_weights/read"][0]
assert w["per_channel"] == 8 and w["quantized_dimension"] == 3 and w["shape"] == [1, 10, 8, 8]
assert {b["metadata"] for b in ms["buffers"] if "metadata" in b} == {"min_runtime_version"}
assert sum(b["bytes"] for b in ms["buffers"]) == ms["buffer_bytes"]
print("inspect: hello_world_int8 288 MACs, peak 32 B; micro_speech 336000 MACs, peak 5968 B")
PY
  expect 0 "FULLY_CONNECTED          v4" -- "$qat" inspect "$hw"
  expect 0 "peak activation memory (greedy arena plan): 5968 bytes" -- "$qat" inspect "$ms"
  expect 0 "DEPTHWISE_CONV_2D        v3" -- "$qat" inspect "$ms"
  head -c 1000 "$hw" >"$work/cut.tflite"
  expect 3 "cut.tflite: invalid flatbuffer" -- "$qat" inspect "$work/cut.tflite"
  expect 3 "cut.tflite: invalid flatbuffer" -- "$qat" eval "$work/cut.tflite" --images "$work/test-images" \
    --labels "$work/test-labels"
else
  echo "note: fixture folder $F is absent: the fixture checks are skipped"
fi

# ---- int8 exports (when `qat export --mode int8` exists): int8, uint8 and float32 I/O of the
# same int8 graph must give the same accuracy (eval quantizes pixels as the QUANTIZE op does) ----
sed 's/^train:/quantize: {mode: qat}\ntrain:/' "$work/c.yaml" >"$work/cq.yaml"
if "$qat" train "$work/cq.yaml" --out "$work/runq" --json >/dev/null 2>&1 &&
  "$qat" export "$work/runq/checkpoint.h5" --mode int8 -o "$work/q_int8.tflite" >/dev/null 2>&1; then
  accs=""
  for io in int8 uint8 float32; do
    "$qat" export "$work/runq/checkpoint.h5" --mode int8 --io $io -o "$work/q_$io.tflite" >/dev/null ||
      fail "export --io $io"
    "$qat" eval "$work/q_$io.tflite" --images "$work/test-images" --labels "$work/test-labels" --json \
      --confusion >"$work/q.json" || fail "eval q_$io"
    [ $have_litert = 1 ] && litert_check "$work/q_$io.tflite" "$work/test-images" "$work/test-labels" "$work/q.json"
    accs="$accs $(json_field "$work/q.json" input_type)=$(json_field "$work/q.json" accuracy)"
  done
  echo "int8 export, by input type:$accs"
  [ "$(echo "$accs" | tr ' ' '\n' | sed 's/.*=//' | sort -u | grep -c .)" = 1 ] && pass=$((pass + 1)) ||
    fail "int8 export: accuracies differ by I/O type:$accs"
else
  echo "note: no int8 export yet: the int8/uint8/float32-I/O check is skipped"
fi

# ---- 16x8 exports of the same QAT checkpoint: int16 and float32 I/O give the same accuracy ----
if [ -e "$work/runq/checkpoint.h5" ]; then
  accs=""
  for io in int16 float32; do
    "$qat" export "$work/runq/checkpoint.h5" --mode int16x8 --io $io -o "$work/q16_$io.tflite" >/dev/null ||
      fail "export --mode int16x8 --io $io"
    "$qat" eval "$work/q16_$io.tflite" --images "$work/test-images" --labels "$work/test-labels" --json \
      --confusion >"$work/q.json" || fail "eval q16_$io"
    [ $have_litert = 1 ] && litert_check "$work/q16_$io.tflite" "$work/test-images" "$work/test-labels" "$work/q.json"
    accs="$accs $(json_field "$work/q.json" input_type)=$(json_field "$work/q.json" accuracy)"
  done
  echo "int16x8 export, by input type:$accs"
  [ "$(echo "$accs" | tr ' ' '\n' | sed 's/.*=//' | sort -u | grep -c .)" = 1 ] && pass=$((pass + 1)) ||
    fail "int16x8 export: accuracies differ by I/O type:$accs"
fi

# ---- eval on Fashion-MNIST (the default data) when it is installed ----
fm=${QAT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ -e "$fm/t10k-images-idx3-ubyte.gz" ] || [ -e "$fm/t10k-images-idx3-ubyte" ]; then
  if "$qat" init "$(dirname "$0")/../examples/fashion_mnist_cnn.yaml" -o "$work/fm.h5" >/dev/null &&
    "$qat" export "$work/fm.h5" --mode float32 -o "$work/fm.tflite" >/dev/null; then
    "$qat" eval "$work/fm.h5" --json --limit 150 >"$work/ck.json"
    "$qat" eval "$work/fm.tflite" --json --limit 150 >"$work/tf.json"
    [ "$(json_field "$work/ck.json" float_accuracy)" = "$(json_field "$work/tf.json" accuracy)" ] &&
      [ "$(json_field "$work/tf.json" samples)" = 150 ] && pass=$((pass + 1)) ||
      fail "fashion-mnist float32 export vs checkpoint"
  else
    fail "fashion-mnist config init/export"
  fi
else
  echo "note: no Fashion-MNIST at $fm: the default-data check is skipped"
fi

# the float export through inspect
expect 0 "CONV_2D" -- "$qat" inspect "$work/trained.tflite"

# ---- bad inputs ----
expect 2 "needs MODEL.tflite" -- "$qat" inspect
expect 2 "unknown option '--frob'" -- "$qat" inspect "$work/trained.tflite" --frob
expect 2 "--images and --labels go together" -- "$qat" eval "$work/trained.tflite" --images "$work/test-images"
expect 2 "--data expects fashion-mnist" -- "$qat" eval "$work/trained.tflite" --data cifar
expect 2 "--limit expects an integer" -- "$qat" eval "$work/trained.tflite" --limit 0
expect 2 "exclude each other" -- "$qat" eval "$work/trained.tflite" --data fashion-mnist \
  --images "$work/test-images" --labels "$work/test-labels"
expect 4 "$work/missing.tflite" -- "$qat" eval "$work/missing.tflite" --images "$work/test-images" \
  --labels "$work/test-labels"
expect 4 "$work/missing.tflite" -- "$qat" inspect "$work/missing.tflite"
expect 4 "$work/nope-images" -- "$qat" eval "$work/trained.tflite" --images "$work/nope-images" \
  --labels "$work/test-labels"
head -c 100 "$work/test-images" >"$work/short-images"
expect 3 "short-images" -- "$qat" eval "$work/trained.tflite" --images "$work/short-images" \
  --labels "$work/test-labels"
printf 'TFL3 not a model at all, just some bytes' >"$work/junk.tflite"
expect 3 "junk.tflite" -- "$qat" inspect "$work/junk.tflite"
: >"$work/empty.tflite"
expect 3 "empty.tflite" -- "$qat" eval "$work/empty.tflite" --images "$work/test-images" \
  --labels "$work/test-labels"
# the checkpoint path of qat eval still works next to the .tflite one
expect 0 "float accuracy" -- "$qat" eval "$work/init.h5"
expect 0 "qat eval MODEL.tflite" -- "$qat" eval --help
expect 0 "--confusion" -- "$qat" eval "$work/trained.tflite" --help
expect 0 "inspect MODEL" -- "$qat" --help

echo "tflite cli: $pass passed, $failures failed"
[ "$failures" = 0 ]
