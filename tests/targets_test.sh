#!/usr/bin/env bash
# Issue 13, item 2's targets beyond one class label per sample (and issue 16's losses they need),
# on .npy data the test writes:
#  - a regressor ([N, 8] -> one float, train.loss: mse), a convolutional autoencoder (y = x,
#    mse), a per-pixel segmenter ([N, 16, 16] integer label maps, softmax over the last axis)
#    and a multi-label classifier ([N, 3] multi-hot rows, sigmoid and binary_crossentropy):
#    each trains from a YAML config to a metric its baseline cannot reach, fine-tunes
#    quantization-aware, exports int8, meets the parity target in `qat eval --compare`, and
#    the official interpreter's outputs equal `qat predict --outputs` on the test inputs;
#  - mismatched targets and losses fail with one line that names both; a model with several
#    outputs names the .npz array or the output at fault.
#   targets_test.sh QAT BUILD_DIR
set -euo pipefail
qat=$(readlink -f "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
py="$root/.venv/bin/python"
if ! "$py" -c 'import numpy, ai_edge_litert' 2>/dev/null; then
  echo "targets_test: numpy and ai-edge-litert (.venv) missing; run scripts/setup.sh" >&2
  exit 77
fi
work=$(mktemp -d "$2/targets_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "targets_test: FAIL: $*" >&2; exit 1; }
export OPENBLAS_NUM_THREADS=1

"$py" - <<'PY'
import numpy as np
r = np.random.default_rng(0)
def save(name, x, y, n_test):
    np.savez(name, x_train=x[:-n_test], y_train=y[:-n_test], x_test=x[-n_test:], y_test=y[-n_test:])
x = r.normal(size=(640, 8)).astype(np.float32)
save('reg.npz', x, (x @ r.normal(size=8).astype(np.float32))[:, None].astype(np.float32), 128)
img = np.zeros((384, 16, 16, 1), np.float32)
yy, xx = np.mgrid[:16, :16]
for i in range(len(img)):  # a bright disc on noise: the segmenter's class 1, the autoencoder's input
    cy, cx, rad = r.integers(4, 12), r.integers(4, 12), r.integers(2, 5)
    img[i, ..., 0] = 0.3 * r.random((16, 16)) + 0.6 * ((yy - cy) ** 2 + (xx - cx) ** 2 <= rad * rad)
save('ae.npz', img, img, 64)
save('seg.npz', img, (img[..., 0] > 0.45).astype(np.int64), 64)
x = r.random((640, 6)).astype(np.float32)
save('multi.npz', x, np.stack([x[:, 0] > 0.5, x[:, 1] + x[:, 2] > 1.0, x[:, 3] < 0.3], 1).astype(np.int64), 128)
PY

cat > reg.yaml <<'YAML'
model:
  input: [8, 1, 1]
  layers:
    - Flatten: {}
    - Dense: {units: 32, activation: relu}
    - Dense: {units: 1}
data: {dataset: npy, path: reg.npz}
train: {epochs: 30, batch_size: 32, seed: 1, loss: mse, optimizer: {name: adam, learning_rate: 0.01}}
YAML
cat > ae.yaml <<'YAML'
model:
  input: [16, 16, 1]
  layers:
    - Conv2D: {filters: 8, kernel_size: 3, strides: 2, padding: same, activation: relu}
    - Conv2D: {filters: 16, kernel_size: 3, padding: same, activation: relu}
    - UpSampling2D: {size: 2}
    - Conv2D: {filters: 1, kernel_size: 3, padding: same}
data: {dataset: npy, path: ae.npz}
train: {epochs: 12, batch_size: 16, seed: 1, loss: mean_squared_error, optimizer: {name: adam, learning_rate: 0.005}}
YAML
cat > seg.yaml <<'YAML'
model:
  input: [16, 16, 1]
  layers:
    - Conv2D: {filters: 8, kernel_size: 3, padding: same, activation: relu}
    - Conv2D: {filters: 2, kernel_size: 1, activation: softmax}
data: {dataset: npy, path: seg.npz}
train: {epochs: 6, batch_size: 16, seed: 1, optimizer: {name: adam, learning_rate: 0.01}}
YAML
cat > multi.yaml <<'YAML'
model:
  input: [6, 1, 1]
  layers:
    - Flatten: {}
    - Dense: {units: 32, activation: relu}
    - Dense: {units: 3, activation: sigmoid}
data: {dataset: npy, path: multi.npz}
train: {epochs: 30, batch_size: 32, seed: 1, loss: binary_crossentropy, optimizer: {name: adam, learning_rate: 0.01}}
YAML

# name, metric, the bound it must beat (mae below, accuracy above), the baseline it beats
check() {
  local name=$1 metric=$2 bound=$3 value
  value=$("$qat" eval r_$name/checkpoint.h5 --json | "$py" -c "import json,sys; d=json.load(sys.stdin); assert d['metric'] == '$metric', d; print(d['float_accuracy'])")
  echo "targets_test: $name: float test $metric $value (bound $bound)"
  if [ "$metric" = mae ]; then
    "$py" -c "import sys; sys.exit(0 if $value < $bound else 1)" || fail "$name: test mae $value >= $bound"
  else
    "$py" -c "import sys; sys.exit(0 if $value > $bound else 1)" || fail "$name: test accuracy $value <= $bound"
  fi
}

# the bounds: half the mean |y - mean(y)| for the regressors; for the classifiers above the
# share of the most common class (background pixels, each label's majority value)
bounds=$("$py" - <<'PY'
import numpy as np
out = []
for name in ('reg', 'ae'):
    d = np.load(name + '.npz'); y = d['y_test']
    out.append(f"{name}={0.5 * np.abs(y - d['y_train'].mean()).mean():.4f}")
s = np.load('seg.npz')['y_test']; out.append(f"seg={max(s.mean(), 1 - s.mean()):.4f}")
m = np.load('multi.npz')['y_test']; out.append(f"multi={np.maximum(m.mean(0), 1 - m.mean(0)).mean():.4f}")
print(' '.join(out))
PY
)
eval "$bounds"
for s in reg ae seg multi; do
  "$qat" train $s.yaml --threads 2 --out r_$s > $s.log 2>&1 || { cat $s.log; fail "$s training"; }
done
check reg mae "$reg"
check ae mae "$ae"
check seg accuracy "$seg"
check multi accuracy "$multi"
grep -q ' - mae: ' reg.log || { tail -3 reg.log; fail "the regressor's progress does not name its metric"; }

for s in reg ae seg multi; do
  sed -e "/^model:/a\\  init: r_$s/checkpoint.h5" -e 's/epochs: [0-9]*/epochs: 2/' $s.yaml > ${s}_qat.yaml
  echo "quantize: {mode: qat}" >> ${s}_qat.yaml
  "$qat" train ${s}_qat.yaml --threads 2 --out q_$s > ${s}_qat.log 2>&1 || { cat ${s}_qat.log; fail "$s QAT"; }
  "$qat" export q_$s/checkpoint.h5 --mode int8 -o $s.tflite > /dev/null || fail "$s export"
  "$qat" eval --compare q_$s/checkpoint.h5 $s.tflite --json > $s.parity.json || fail "$s parity"
  "$py" - $s <<'PY' || fail "$s: parity target"
import json, sys
r = json.load(open(sys.argv[1] + '.parity.json'))
o = r['output']
print(f"targets_test: {sys.argv[1]}: int8 file vs fake quant: {100 * o['identical']:.2f} % of '{o['name']}' "
      f"bit-identical, max {o['max_lsb']} LSB")
sys.exit(0 if r['target_met'] and o['identical'] >= 0.99 else 1)
PY
  # the official interpreter on the test inputs, against qat predict's outputs
  "$py" -c "import numpy as np; np.save('x_$s.npy', np.load('$s.npz')['x_test'][:32])"
  "$qat" predict $s.tflite x_$s.npy --outputs > $s.qat.txt || fail "$s predict"
  "$py" - $s <<'PY' || fail "$s: the official interpreter differs from qat predict"
import json, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
s = sys.argv[1]
it = Interpreter(model_path=s + '.tflite', experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
it.allocate_tensors()
di, do = it.get_input_details()[0], it.get_output_details()[0]
(si, zi), (so, zo) = di['quantization'], do['quantization']
xs = np.load('x_' + s + '.npy')
lines = [json.loads(l) for l in open(s + '.qat.txt')]
assert len(lines) == len(xs), (len(lines), len(xs))
for k, x in enumerate(xs):
    q = np.clip(np.floor(np.abs(x / np.float32(si)) + 0.5) * np.sign(x) + zi, -128, 127).astype(np.int8)
    it.set_tensor(di['index'], q.reshape(di['shape']))
    it.invoke()
    got = (it.get_tensor(do['index']).astype(np.float32).ravel() - np.float32(zo)) * np.float32(so)
    want = np.array(lines[k]['outputs'], np.float32)
    if not np.array_equal(got, want):
        sys.exit(f"sample {k}: official {got[:4]} qat {want[:4]}")
print(f"targets_test: {s}: the official interpreter equals qat predict on {len(xs)} test inputs")
PY
done

# qat compare and qat eval MODEL.tflite judge the files by the task's metric, not top-1
"$qat" compare q_reg/checkpoint.h5 -o cmp_reg > cmp_reg.log 2>&1 || { cat cmp_reg.log; fail "compare"; }
"$py" - <<'PY' || fail "compare: the regressor's files are not judged by their mae"
import json
r = json.load(open('cmp_reg/compare.json'))
assert r['metric'] == 'mae', r['metric']
f = {m['name']: m for m in r['modes'] if m.get('available')}
# the int8 QAT file's mae is the fake-quant model's (the two compute the same numbers)
print(f"targets_test: compare: float32 mae {f['float32']['accuracy']:.4f}, int8_qat {f['int8_qat']['accuracy']:.4f}")
assert 0 < f['float32']['accuracy'] < 0.5 and 0 < f['int8_qat']['accuracy'] < 0.5, f
PY
"$qat" eval seg.tflite --data seg.npz --json > eval_seg.json || fail "eval seg.tflite"
grep -q '"metric":"accuracy"' eval_seg.json || fail "eval seg.tflite: $(cat eval_seg.json)"
# its mean IoU (Keras's MeanIoU: per class TP / (TP + FP + FN) over every pixel, averaged over the
# classes that occur), recomputed from the official interpreter's outputs
"$py" - <<'PY' || fail "eval seg.tflite: mean IoU"
import json
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
d = np.load('seg.npz')
it = Interpreter(model_path='seg.tflite', experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
it.allocate_tensors()
di, do = it.get_input_details()[0], it.get_output_details()[0]
si, zi = di['quantization']
k = do['shape'][-1]
conf = np.zeros((k, k), np.int64)
for x, y in zip(d['x_test'], d['y_test']):
    if di['dtype'] == np.int8:
        x = np.clip(np.floor(np.abs(x / np.float32(si)) + 0.5) * np.sign(x) + zi, -128, 127)
    it.set_tensor(di['index'], x.reshape(di['shape']).astype(di['dtype']))
    it.invoke()
    pred = it.get_tensor(do['index']).reshape(-1, k).argmax(1)
    np.add.at(conf, (y.ravel(), pred), 1)
union = conf.sum(0) + conf.sum(1) - np.diag(conf)
want = float((np.diag(conf)[union > 0] / union[union > 0]).mean())
got = json.load(open('eval_seg.json'))['mean_iou']
print(f"targets_test: seg.tflite mean IoU {got:.4f} (official interpreter's outputs: {want:.4f})")
assert abs(got - want) < 1e-6, (got, want)
PY

# mismatches, one line each
expect_error() {
  local what=$1 cfg=$2 pattern=$3
  if "$qat" train $cfg --out bad > bad.log 2>&1; then fail "$what: trained"; fi
  [ "$(wc -l < bad.log)" -le 3 ] || { cat bad.log; fail "$what: more than one error line"; }
  grep -q "$pattern" bad.log || { cat bad.log; fail "$what: message does not say '$pattern'"; }
}
sed 's/loss: mse, //; s/Dense: {units: 1}/Dense: {units: 2}/' reg.yaml > bad1.yaml
expect_error "float targets, class loss" bad1.yaml "float targets and train.loss: sparse_categorical_crossentropy"
sed 's|path: reg.npz|path: seg.npz|; s/input: \[8, 1, 1\]/input: [16, 16, 1]/' reg.yaml > bad2.yaml
expect_error "label maps, mse on one value" bad2.yaml "the targets have 256 values per sample, the last layer outputs 1"
sed 's/loss: mse, //' reg.yaml > bad0.yaml
expect_error "one output, class loss" bad0.yaml "sparse_categorical_crossentropy needs an output \[batch, ..., classes\] with 2 or more classes"
sed 's/epochs: 6,/epochs: 6, loss: huber,/' seg.yaml > bad3.yaml
expect_error "huber after softmax" bad3.yaml "huber after a softmax"
sed 's/activation: sigmoid//; s/Dense: {units: 3, }/Dense: {units: 3}/' multi.yaml > bad4.yaml
expect_error "bce without sigmoid" bad4.yaml "set train.from_logits: true"
sed 's|data: {dataset: npy, path: seg.npz}|data: {dataset: npy, path: seg.npz, augment: [{RandomFlip: {mode: horizontal}}]}|' seg.yaml > bad5.yaml
expect_error "flips with label maps" bad5.yaml "geometric augmentation"
# several outputs: one .npz array per output, each checked, the file and the array named
"$py" - <<'PY'
import numpy as np
r = np.random.default_rng(2)
x = r.integers(0, 256, (20, 4, 4, 1), dtype=np.uint8)
cls, box = r.integers(0, 3, 20), r.normal(size=(20, 2)).astype(np.float32)
np.savez("two_missing.npz", x_train=x, y_train_cls=cls)
bad = box.copy(); bad[7, 1] = np.nan
np.savez("two_nan.npz", x_train=x, y_train_cls=cls, y_train_box=bad)
big = cls.copy(); big[3] = 7
np.savez("two_label.npz", x_train=x, y_train_cls=big, y_train_box=box)
PY
for f in missing nan label; do
  printf 'model:\n  input: [4, 4, 1]\n  outputs: [cls, box]\n  layers:\n    - Flatten: {name: flat}\n    - Dense: {name: cls, units: 3, activation: softmax}\n    - Dense: {name: box, units: 2, inputs: [flat]}\ndata: {dataset: npy, path: two_%s.npz}\ntrain: {loss: [sparse_categorical_crossentropy, mse]}\n' "$f" > two_$f.yaml
done
expect_error "an output without its array" two_missing.yaml "two_missing.npz.*y_train_box"
expect_error "a non-finite target" two_nan.yaml "two_nan.npz: array 'y_train_box': target nan at sample 7"
expect_error "a label past the output's classes" two_label.yaml "output 1 ('cls', sparse_categorical_crossentropy): label 7 at sample 3"
echo "targets_test: ok"
