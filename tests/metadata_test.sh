#!/usr/bin/env bash
# Issue 13, items 3 and 4, checked with TFLite Support's own reader and Task Library
# (tflite-support, in .venv-support): an RGB PNG folder trains quantization-aware; its int8
# (--io uint8) and float32 exports carry TFLite Support metadata whose labels file is packed in
# the model and whose input normalization, in pixel units, is the config's preprocessing.
#  - MetadataDisplayer parses the metadata, lists labels.txt as packed, and reads the class
#    names back; the input's NormalizationOptions are the config's rescale 1/127.5, offset -1
#    in pixel units (mean 127.5, std 127.5);
#  - Task Library's ImageClassifier, which feeds raw pixels to a uint8 input and normalizes a
#    float one with the metadata's mean/std, names the same class as `qat predict` for every test
#    image of both files;
#  - `qat predict` on each file names the same class as on the checkpoint, and on the int8 file
#    prints the same output values: it preprocesses with the metadata's normalization (pixels /
#    255, its default without one, would not);
#  - the official interpreter loads both, and `qat predict` reads the names from the packed file
#    when no labels.txt lies beside the model.
#   metadata_test.sh QAT BUILD_DIR
set -euo pipefail
qat=$(readlink -f "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
py="$root/.venv/bin/python" spy="$root/.venv-support/bin/python"
if ! "$spy" -c 'from tflite_support.task import vision' 2>/dev/null || ! "$py" -c 'import PIL, ai_edge_litert' 2>/dev/null; then
  echo "metadata_test: tflite-support (.venv-support) or Pillow and ai-edge-litert (.venv) missing; run scripts/setup.sh" >&2
  exit 77
fi
work=$(mktemp -d "$2/metadata_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "metadata_test: FAIL: $*" >&2; exit 1; }

# three classes by dominant colour, 32x32 RGB PNG, noisy
"$py" - <<'PY'
import os, numpy as np
from PIL import Image
rng = np.random.default_rng(5)
for split, n in (('train', 90), ('test', 15)):
    for k, name in enumerate(('red', 'green', 'blue')):
        os.makedirs(f'rgb/{split}/{name}', exist_ok=True)
        for i in range(n):
            a = rng.integers(0, 140, (32, 32, 3))
            a[:, :, k] += rng.integers(60, 116)
            Image.fromarray(a.clip(0, 255).astype(np.uint8), 'RGB').save(f'rgb/{split}/{name}/{i:03d}.png')
PY
cat > rgb.yaml <<'YAML'
model:
  input: [32, 32, 3]
  layers:
    - Conv2D: {filters: 8, kernel_size: 3, strides: 2, activation: relu}
    - GlobalAveragePooling2D: {}
    - Dense: {units: 3}
data: {dataset: folder, path: rgb, rescale: 0.0078431373, offset: -1}
train: {epochs: 3, batch_size: 16, seed: 1, optimizer: {name: adam, learning_rate: 0.01}}
quantize: {mode: qat}
YAML
"$qat" train rgb.yaml --threads 2 --out run > train.log 2>&1 || { cat train.log; fail "training"; }
mkdir -p u8 f32 bare
"$qat" export run/checkpoint.h5 --mode int8 --io uint8 -o u8/m.tflite > u8.log || fail "int8 export"
"$qat" export run/checkpoint.h5 --mode float32 -o f32/m.tflite > f32.log || fail "float32 export"
grep -q 'labels.txt packed into it and beside it' u8.log || { cat u8.log; fail "export does not say labels.txt is packed"; }
cp u8/m.tflite bare/m.tflite # no labels.txt beside: qat predict must read the packed one

for m in u8 f32; do
  "$qat" predict bare/m.tflite rgb/test/*/*.png --json > /dev/null || fail "qat predict $m"
  "$qat" predict run/checkpoint.h5 rgb/test/*/*.png | sed 's/:$//; s/: / /' | awk '{print $1, $2}' > qat_$m.txt
  "$spy" - "$m/m.tflite" > tfs_$m.txt <<'PY' || fail "TFLite Support on $m"
import glob, json, sys
from tflite_support import metadata
from tflite_support.task import core, processor, vision
path = sys.argv[1]
d = metadata.MetadataDisplayer.with_model_file(path)
md = json.loads(d.get_metadata_json())
assert d.get_packed_associated_file_list() == ['labels.txt'], d.get_packed_associated_file_list()
assert d.get_associated_file_buffer('labels.txt') == b'blue\ngreen\nred\n'
sg = md['subgraph_metadata'][0]
files = sg['output_tensor_metadata'][0]['associated_files']
assert files[0]['name'] == 'labels.txt' and files[0]['type'] == 'TENSOR_AXIS_LABELS', files
inp = sg['input_tensor_metadata'][0]
assert inp['content']['content_properties']['color_space'] == 'RGB', inp
norm = inp['process_units'][0]['options']
assert abs(norm['mean'][0] - 127.5) < 1e-3 and abs(norm['std'][0] - 127.5) < 1e-3, norm
opts = vision.ImageClassifierOptions(base_options=core.BaseOptions(file_name=path),
                                     classification_options=processor.ClassificationOptions(max_results=1))
c = vision.ImageClassifier.create_from_options(opts)
for f in sorted(glob.glob('rgb/test/*/*.png')):
    r = c.classify(vision.TensorImage.create_from_file(f))
    print(f, r.classifications[0].categories[0].category_name)
PY
  "$qat" predict $m/m.tflite rgb/test/*/*.png | sed 's/:$//; s/: / /' | awk '{print $1, $2}' > tfl_$m.txt
  same=$(join <(sort qat_$m.txt) <(sort tfl_$m.txt) | awk '$2 == $3' | wc -l)
  echo "metadata_test: $m: qat predict on the file and on the checkpoint name the same class for $same images"
  # the float file's scores can tie where the int8 model's cannot: compare each image's class
  agree=$(join <(sort qat_$m.txt) <(sort tfs_$m.txt) | awk '$2 == $3' | wc -l)
  total=$(wc -l < qat_$m.txt)
  echo "metadata_test: $m: Task Library and qat predict name the same class for $agree of $total images"
  [ "$total" -eq 45 ] || fail "$m: $total predictions"
  if [ $m = u8 ]; then
    # the int8 file and the fake-quant checkpoint compute the same integers (parity)
    [ "$agree" -eq "$total" ] || { paste qat_$m.txt tfs_$m.txt | head; fail "$m: classes differ"; }
    [ "$same" -eq "$total" ] || { paste qat_$m.txt tfl_$m.txt | head; fail "$m: qat predict on the file differs"; }
    # and the same numbers: the int8 file takes each pixel exactly as the fake-quant model does
    "$qat" predict $m/m.tflite rgb/test/*/*.png --outputs > out_file.txt
    "$qat" predict run/checkpoint.h5 rgb/test/*/*.png --outputs > out_ckpt.txt
    cmp -s out_file.txt out_ckpt.txt || { diff out_file.txt out_ckpt.txt | head -4; fail "$m: outputs differ"; }
  else
    [ "$same" -ge $((total - 1)) ] || { paste qat_$m.txt tfl_$m.txt | head; fail "$m: qat predict on the file differs"; }
    [ "$agree" -ge $((total - 1)) ] || { paste qat_$m.txt tfs_$m.txt | head; fail "$m: classes differ"; }
  fi
done
"$qat" predict bare/m.tflite rgb/test/red/000.png | grep -Eq ': (red|green|blue) ' || fail "packed labels not read by qat predict"
"$py" -c "
import sys
from ai_edge_litert.interpreter import Interpreter
for p in sys.argv[1:]:
    it = Interpreter(model_path=p); it.allocate_tensors()
" u8/m.tflite f32/m.tflite || fail "the official interpreter does not load the files"
# qat eval matches the data's classes to the labels the file carries: the test images as an .npz
# numbered in generation order (red 0, green 1, blue 2; the file's labels are sorted: blue,
# green, red) score 1/3 without names, with a note saying whose order was assumed; named through
# a config's data.class_names they are renumbered by name and score as the folder does; a name
# the file lacks is refused naming it
"$py" - <<'PY'
import glob, numpy as np
from PIL import Image
xs, ys = [], []
for k, name in enumerate(('red', 'green', 'blue')):
    for f in sorted(glob.glob(f'rgb/test/{name}/*.png')):
        xs.append(np.asarray(Image.open(f)))
        ys.append(k)
x, y = np.stack(xs).astype(np.uint8), np.array(ys, np.int64)
np.savez('t.npz', x_train=x, y_train=y, x_test=x, y_test=y)
PY
sed -e 's|^data: .*|data: {dataset: npy, path: t.npz, class_names: [red, green, blue]}|' rgb.yaml > named.yaml
sed -e 's|^data: .*|data: {dataset: npy, path: t.npz, class_names: [red, green, purple]}|' rgb.yaml > wrong.yaml
acc() { sed -e 's/.*"accuracy":\([0-9.]*\).*/\1/' "$1"; }
"$qat" eval bare/m.tflite --data rgb/test --json > folder.json 2>/dev/null || fail "eval on the folder"
"$qat" eval bare/m.tflite --data named.yaml --json > named.json 2> named.err || { cat named.err; fail "eval on named arrays"; }
grep -q "names its classes in another order than bare/m.tflite; matched by name" named.err || { cat named.err; fail "no note on the renumbering"; }
[ "$(acc named.json)" = "$(acc folder.json)" ] || fail "named arrays score $(acc named.json), the folder $(acc folder.json)"
"$qat" eval bare/m.tflite --data t.npz --json > bare.json 2> bare.err || fail "eval on unnamed arrays"
grep -q "t.npz numbers its classes without names; class k is taken as the model's k-th label (0: blue, 1: green" bare.err ||
  { cat bare.err; fail "no note on unnamed classes"; }
[ "$(acc bare.json)" = 0.333333 ] || fail "unnamed arrays in another order scored $(acc bare.json)"
if "$qat" eval bare/m.tflite --data wrong.yaml > /dev/null 2> wrong.err; then fail "a class the file lacks was accepted"; fi
grep -q "wrong.yaml: class 'purple' is not among the 3 labels of bare/m.tflite" wrong.err || { cat wrong.err; fail "message"; }
echo "metadata_test: ok"
