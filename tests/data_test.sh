#!/usr/bin/env bash
# Issue 13's acceptance on the user's own data:
#  1. Fashion-MNIST written as a PNG folder trains exactly as the same images through IDX;
#  2. a 2-class 96x96 grayscale JPEG folder and a 12-class [49, 10] float32 .npy set each train,
#     fine-tune quantization-aware, export int8 --io int8, and evaluate to the same accuracy in
#     qat (fake quant and its runtime) and in the official interpreter (when .venv has it);
#  3. qat predict prints what qat eval counts; labels.txt lands beside the export;
#  4. the bad inputs of item 8 each fail with one line naming the file, exit 3, nothing written.
#   data_test.sh QAT WRITE_IMAGES BUILD_DIR
set -euo pipefail
qat=$(readlink -f "$1"); wi=$(readlink -f "$2")
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "$3/data_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
py="$root/.venv/bin/python"
fail() { echo "data_test: FAIL: $*" >&2; exit 1; }
export OPENBLAS_NUM_THREADS=1

# ---- 1. PNG folder == IDX --------------------------------------------------------------
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  "$wi" fashion fm 2000 500
  model='model:
  input: [28, 28, 1]
  layers:
    - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
    - MaxPooling2D: {pool_size: 2}
    - Flatten: {}
    - Dense: {units: 10}
train: {epochs: 1, batch_size: 32, seed: 3}'
  printf '%s\ndata: {dataset: folder, path: fm}\n' "$model" > folder.yaml
  printf '%s\ndata: {dataset: idx, train_images: fm/train-images.idx, train_labels: fm/train-labels.idx, test_images: fm/test-images.idx, test_labels: fm/test-labels.idx}\n' "$model" > idx.yaml
  "$qat" train folder.yaml --threads 1 --out r_folder --json > folder.json 2> folder.log || { cat folder.log; fail "folder training"; }
  "$qat" train idx.yaml --threads 1 --out r_idx --json > idx.json 2> idx.log || { cat idx.log; fail "idx training"; }
  grep -q '^Data: folder .*2000 train, 0 validation, 500 test; 10 classes (c0, c1' folder.log || { cat folder.log; fail "data line"; }
  strip() { tr ',' '\n' < "$1" | grep -E '"(train_loss|train_accuracy|test_loss|test_accuracy)"'; }
  [ "$(strip folder.json)" = "$(strip idx.json)" ] || { cat folder.json idx.json; fail "PNG folder and IDX differ"; }
  echo "data_test: PNG folder == IDX: $(strip folder.json | tr '\n' ' ')"
  # item 7: the model.yaml `qat import` writes trains from any folder (its model.init was
  # relative to the folder import ran in)
  "$qat" import "$root/tests/fixtures/keras/fmnist_cnn.h5" -o imp > /dev/null
  sed -e 's|^# data: .*|data: {dataset: fashion-mnist, limit_train: 64, limit_test: 32}|' \
      -e 's|^# train: .*|train: {epochs: 1, batch_size: 32, seed: 1}|' imp/model.yaml > imp/ft.yaml
  (cd / && "$qat" train "$work/imp/ft.yaml" --threads 1 --out "$work/imp_run" > "$work/imp.log" 2>&1) ||
    { cat imp.log; fail "an imported model.yaml does not train from another folder"; }
  echo "data_test: an imported model.yaml trains from another folder"
fi

# ---- 2. JPEG folder and .npy: train, QAT, int8 --io int8, evaluate everywhere ------------
"$wi" blobs blobs 600 96
cat > blobs.yaml <<'YAML'
model:
  input: [96, 96, 1]
  layers:
    - Conv2D: {filters: 8, kernel_size: 3, strides: 2, activation: relu}
    - MaxPooling2D: {pool_size: 2}
    - Conv2D: {filters: 16, kernel_size: 3, strides: 2, activation: relu}
    - MaxPooling2D: {pool_size: 2}
    - Flatten: {}
    - Dense: {units: 2}
data: {dataset: folder, path: blobs, rescale: 0.00392156862745098}
train: {epochs: 5, batch_size: 32, seed: 1, optimizer: {name: adam, learning_rate: 0.003}}
YAML
if [ -x "$py" ]; then
  "$py" - <<'PY'
import numpy as np
rng = np.random.default_rng(0)
N, T, F = 1500, 49, 10
y = rng.integers(0, 12, N)
centers = rng.normal(0, 1, (12, T, F)).astype(np.float32)
x = (centers[y] + rng.normal(0, 1.5, (N, T, F))).astype(np.float32)
np.save('kws_x.npy', x[:1200]); np.save('kws_y.npy', y[:1200])
np.save('kws_tx.npy', x[1200:]); np.save('kws_ty.npy', np.eye(12, dtype=np.float32)[y[1200:]])
PY
  cat > kws.yaml <<'YAML'
model:
  input: [49, 10, 1]
  layers:
    - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
    - MaxPooling2D: {pool_size: 2}
    - Flatten: {}
    - Dense: {units: 12}
data: {dataset: npy, x: kws_x.npy, y: kws_y.npy, test_x: kws_tx.npy, test_y: kws_ty.npy}
train: {epochs: 2, batch_size: 32, seed: 1}
YAML
  sets="blobs kws"
else
  sets="blobs"
fi
for s in $sets; do
  "$qat" train $s.yaml --threads 2 --out r_$s > $s.log 2>&1 || { cat $s.log; fail "$s training"; }
  sed -e "s|^train: .*|train: {epochs: 1, batch_size: 32, seed: 2}|" -e "/^model:/a\\  init: r_$s/checkpoint.h5" $s.yaml > ${s}_qat.yaml
  printf 'quantize: {mode: qat}\n' >> ${s}_qat.yaml
  "$qat" train ${s}_qat.yaml --threads 2 --out r_${s}_qat > ${s}_qat.log 2>&1 || { cat ${s}_qat.log; fail "$s QAT"; }
  mkdir -p out_$s
  "$qat" export r_${s}_qat/checkpoint.h5 --mode int8 --io int8 -o out_$s/m.tflite > export_$s.log
  # item 4: bytes (rescale 1/255) fold into the input; float arrays do not, and the export says so
  if [ $s = blobs ]; then
    grep -q '^  input: int8, the raw image bytes - 128 (the preprocessing is folded into its scale 0.00392156886 and zero point -128)$' export_$s.log ||
      { cat export_$s.log; fail "the int8 export of byte images does not take raw bytes - 128"; }
    "$qat" export r_${s}_qat/checkpoint.h5 --mode int8 --io uint8 -o out_$s/u8.tflite > export_u8.log
    grep -q '^  input: uint8, the raw image bytes 0..255 ' export_u8.log || { cat export_u8.log; fail "uint8 input"; }
  else
    grep -q '^  input: int8: it expects each array value v as x = v / 255 for bytes (uint8 images or arrays), v as stored for int8 and float arrays, quantized as q = round(x / ' export_$s.log ||
      { cat export_$s.log; fail "the float-array export does not say what its input expects"; }
  fi
  fq=$("$qat" eval r_${s}_qat/checkpoint.h5 --json --dump-test t_$s | tr ',' '\n' | sed -n 's/.*"fakequant_accuracy":\([0-9.]*\).*/\1/p')
  rt=$("$qat" eval --compare r_${s}_qat/checkpoint.h5 out_$s/m.tflite --json | tr ',' '\n' | sed -n 's/.*"int8_accuracy":\([0-9.]*\).*/\1/p' | head -1)
  [ -n "$fq" ] && [ -n "$rt" ] || fail "$s: no accuracies ($fq, $rt)"
  line="data_test: $s: fake-quant $fq, int8 in qat's runtime $rt"
  if [ -x "$py" ]; then
    off=$("$py" - "out_$s/m.tflite" "t_$s" <<'PY'
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.interpreter import OpResolverType
# the reference kernels: qat's runtime is bit-exact with them (the optimized ones may differ by an LSB)
it = Interpreter(model_path=sys.argv[1], experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
it.allocate_tensors()
di, do = it.get_input_details()[0], it.get_output_details()[0]
x = np.load(sys.argv[2] + '.x.npy'); y = np.load(sys.argv[2] + '.y.npy')
s, z = di['quantization']
ok = 0
for i in range(len(x)):
    q = np.clip(np.trunc(x[i] / np.float32(s) + np.copysign(np.float32(0.5), x[i])) + z, -128, 127).astype(np.int8)
    it.set_tensor(di['index'], q.reshape(di['shape'])); it.invoke()
    ok += int(np.argmax(it.get_tensor(do['index'])[0]) == y[i])
print('%.6f' % (ok / len(x)))
PY
)
    line="$line, official interpreter $off"
    [ "$off" = "$rt" ] || fail "$line: official and qat's runtime differ"
    if [ $s = blobs ]; then
      # the uint8 file takes the bytes themselves: no scale, no zero point applied by the caller
      raw=$("$py" - "out_$s/u8.tflite" "t_$s" <<'PY'
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.interpreter import OpResolverType
it = Interpreter(model_path=sys.argv[1], experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
it.allocate_tensors()
di, do = it.get_input_details()[0], it.get_output_details()[0]
assert di['dtype'] == np.uint8 and di['quantization'][1] == 0, di
x = np.load(sys.argv[2] + '.x.npy'); y = np.load(sys.argv[2] + '.y.npy')
b = np.rint(x * 255.0)
assert np.all(np.abs(x * 255.0 - b) < 1e-3) and b.min() >= 0 and b.max() <= 255
ok = 0
for i in range(len(x)):
    it.set_tensor(di['index'], b[i].astype(np.uint8).reshape(di['shape'])); it.invoke()
    ok += int(np.argmax(it.get_tensor(do['index'])[0]) == y[i])
print('%.6f' % (ok / len(x)))
PY
)
      line="$line, raw bytes into the uint8 file $raw"
      [ "$raw" = "$rt" ] || fail "$line: the uint8 file on raw bytes differs"
    fi
  fi
  echo "$line"
  python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 0.005)" "$fq" "$rt" ||
    fail "$line: fake quant and int8 differ by more than 0.5 pp"
  if [ $s = blobs ]; then
    [ "$(cat out_$s/labels.txt)" = "$(printf 'bar\ndisc')" ] || fail "labels.txt beside the export"
    "$qat" eval r_${s}_qat/checkpoint.h5 | grep -q '^    disc ' || fail "eval prints no per-class line"
    # predict agrees with eval: the share of test images predicted as their folder's class
    right=0; total=0
    while read -r f cls p; do
      total=$((total + 1)); case "$f" in */$cls/*) right=$((right + 1));; esac
    done < <("$qat" predict r_${s}_qat/checkpoint.h5 blobs/test/*/*.jpg | sed 's/:$//; s/: / /')
    acc=$(python3 -c "print('%.6f' % ($right / $total))")
    [ "$acc" = "$fq" ] || fail "qat predict counts $acc, qat eval $fq"
  fi
done

# ---- 3b. a folder with no test set: eval, compare and parity judge on the validation split --
sed -e 's|^data: .*|data: {dataset: folder, path: blobs/train, rescale: 0.00392156862745098, validation_split: 0.25}|' \
    -e 's|^train: .*|train: {epochs: 1, batch_size: 32, seed: 1}|' blobs.yaml > val.yaml
printf 'quantize: {mode: qat}\n' >> val.yaml
"$qat" train val.yaml --threads 2 --out r_val > val.log 2>&1 || { cat val.log; fail "validation-split training"; }
held=$(sed -n 's/^Data: folder .* \([0-9]*\) validation, 0 test;.*/\1/p' val.log)
[ -n "$held" ] && [ "$held" -gt 0 ] || { cat val.log; fail "no validation count in the data line"; }
ev=$("$qat" eval r_val/checkpoint.h5 --json) || fail "qat eval of a config without a test set"
case "$ev" in *"\"samples\":$held,\"set\":\"validation\""*) ;; *) fail "eval: $ev (want $held validation samples)";; esac
"$qat" export r_val/checkpoint.h5 --mode int8 -o val.tflite > /dev/null
cmp=$("$qat" eval --compare r_val/checkpoint.h5 val.tflite --json) || fail "qat eval --compare without a test set"
case "$cmp" in *"\"samples\":$held"*) ;; *) fail "eval --compare: $cmp (want $held samples)";; esac
echo "data_test: no test set: eval and --compare judge on the $held held-out validation images"

# ---- 4. bad inputs: one line naming the file, exit 3, nothing written -------------------
"$wi" bad bad
for c in truncated_png:cut.png truncated_jpeg:cut.jpg not_image:text.png png16:deep.png cmyk:cmyk.jpg \
         empty_class:b single_class:only; do
  name=${c%%:*}; file=${c#*:}
  printf 'model:\n  input: [16, 16, 1]\n  layers:\n    - Flatten: {}\n    - Dense: {units: 2}\ndata: {dataset: folder, path: bad/%s}\n' "$name" > bad_$name.yaml
  set +e; "$qat" train bad_$name.yaml --out r_bad_$name > bad.out 2> bad.err; rc=$?; set -e
  [ $rc -eq 3 ] || { cat bad.err; fail "$name: exit $rc (expected 3)"; }
  [ "$(grep -c . bad.err)" = 1 ] && grep -q "$file" bad.err || { cat bad.err; fail "$name: message"; }
  [ ! -e r_bad_$name ] || fail "$name: wrote r_bad_$name"
done
# A symlink loop inside a class folder; a class folder whose image is a dangling symlink; an
# unreadable image (chmod 000: root reads it anyway, so only when not root).
mkdir -p bad/loop/a bad/loop/b bad/dangling/a bad/dangling/b bad/unreadable/a bad/unreadable/b
for d in loop dangling unreadable; do cp bad/ok/a/good.png bad/$d/a/; cp bad/ok/a/good.png bad/$d/b/; done
ln -s . bad/loop/a/self
ln -s nowhere.png bad/dangling/a/gone.png
cp bad/ok/a/good.png bad/unreadable/a/secret.png; chmod 000 bad/unreadable/a/secret.png
cases="loop:nested_more_than dangling:gone.png"
if [ "$(id -u)" != 0 ]; then cases="$cases unreadable:secret.png"
else echo "data_test: unreadable file skipped: running as root, chmod 000 does not stop root's reads"; fi
for c in $cases; do
  name=${c%%:*}; want=${c#*:}
  printf 'model:\n  input: [16, 16, 1]\n  layers:\n    - Flatten: {}\n    - Dense: {units: 2}\ndata: {dataset: folder, path: bad/%s}\n' "$name" > bad_$name.yaml
  set +e; "$qat" train bad_$name.yaml --out r_bad_$name > bad.out 2> bad.err; rc=$?; set -e
  [ $rc -eq 3 ] || [ $rc -eq 4 ] || { cat bad.err; fail "$name: exit $rc (expected 3 or 4)"; }
  [ "$(grep -c . bad.err)" = 1 ] && grep -q "bad/$name/a" bad.err && grep -q "${want//_/ }" bad.err || { cat bad.err; fail "$name: message"; }
  [ ! -e r_bad_$name ] || fail "$name: wrote r_bad_$name"
done
# .npy a model cannot take: samples of another shape, a label beyond the model's classes
if [ -x "$py" ]; then
  "$py" -c "
import numpy as np
np.save('small_x.npy', np.zeros((10, 5, 5, 1), np.uint8)); np.save('two_y.npy', np.arange(10) % 2)
np.save('ok_x.npy', np.zeros((10, 16, 16, 1), np.uint8)); np.save('six_y.npy', np.array([0, 1] * 4 + [0, 5]))"
  for c in "small_x.npy two_y.npy;samples are 5x5x1, model.input expects 16x16x1 (data: npy .*small_x.npy" \
           "ok_x.npy six_y.npy;the data has 6 classes, the last layer outputs 2 .*ok_x.npy" \
           "ok_x.npy six_y.npy 2;six_y.npy: label 5 at index 9 out of range \[0,2)"; do
    set -- ${c%%;*}; want=${c#*;}
    printf 'model:\n  input: [16, 16, 1]\n  layers:\n    - Flatten: {}\n    - Dense: {units: 2}\ndata: {dataset: npy, x: %s, y: %s%s}\n' \
      "$1" "$2" "${3:+, num_classes: $3}" > bad_npy.yaml
    set +e; "$qat" train bad_npy.yaml --out r_bad_npy > bad.out 2> bad.err; rc=$?; set -e
    [ $rc -eq 2 ] || [ $rc -eq 3 ] || { cat bad.err; fail "npy $c: exit $rc"; }
    [ "$(grep -c . bad.err)" = 1 ] && grep -q "$want" bad.err || { cat bad.err; fail "npy $c: message"; }
    [ ! -e r_bad_npy ] || fail "npy $c: wrote r_bad_npy"
  done
fi
printf 'model:\n  input: [16, 16, 3]\n  layers:\n    - Flatten: {}\n    - Dense: {units: 2}\ndata: {dataset: folder, path: bad/truncated_png, skip_invalid: true}\ntrain: {epochs: 1}\n' > skip.yaml
"$qat" train skip.yaml --out r_skip 2>&1 | grep 'skipped 1 invalid' >/dev/null || fail "skip_invalid count"
printf 'model:\n  input: [16, 16, 3]\n  layers:\n    - Flatten: {}\n    - Dense: {units: 2}\ndata: {dataset: folder, path: bad/ok}\ntrain: {epochs: 1}\n' > ok.yaml
"$qat" train ok.yaml --out r_ok 2>&1 | grep 'ignored 1 non-image' >/dev/null || fail "progressive JPEG, RGBA PNG of another size"
set +e; QAT_DATA_MEMORY_LIMIT=1000 "$qat" train ok.yaml --out r_mem 2> mem.err; rc=$?; set -e
[ $rc -ne 0 ] && grep -q 'MiB of memory decoded' mem.err || { cat mem.err; fail "memory refusal"; }
echo "data_test: ok"
