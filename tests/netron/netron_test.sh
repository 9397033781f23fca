#!/usr/bin/env bash
# Issue 19's Netron check: one file of each export mode (float32, float16, dynamic, int8 with its
# packed labels and TFLite Support metadata, int16x8) of a small QAT model trained on an image
# folder, opened in Netron and rendered by headless Chromium (tests/netron/netron_check.py);
# screenshots land in BUILD_DIR/netron_artifacts/. Skips (77) without chromium or netron.
#   netron_test.sh QAT WRITE_IMAGES BUILD_DIR
set -euo pipefail
qat=$(readlink -f "$1"); wi=$(readlink -f "$2"); build=$(readlink -f "$3")
root=$(cd "$(dirname "$0")/../.." && pwd)
py="$root/.venv/bin/python"
if ! command -v chromium >/dev/null || ! "$py" -c "import netron" 2>/dev/null; then
  echo "netron_test: chromium (Debian) or netron (.venv) missing; run scripts/setup.sh" >&2
  exit 77
fi
work=$(mktemp -d "$build/netron_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
"$wi" blobs blobs 120 32
cat > m.yaml <<'YAML'
model:
  input: [32, 32, 1]
  layers:
    - Conv2D: {filters: 8, kernel_size: 3, strides: 2, activation: relu}
    - DepthwiseConv2D: {kernel_size: 3, padding: same, activation: relu6}
    - Conv2D: {name: shortcut, inputs: [conv2d], filters: 8, kernel_size: 1}
    - Add: {inputs: [depthwise_conv2d, shortcut]}
    - GlobalAveragePooling2D: {}
    - Dense: {units: 2, activation: softmax}
data: {dataset: folder, path: blobs}
train: {epochs: 1, batch_size: 16, seed: 1}
quantize: {mode: qat}
YAML
"$qat" train m.yaml --threads 2 --out run > train.log 2>&1 || { cat train.log; exit 1; }
files=()
mkdir -p out
for mode in float32 float16 dynamic int8 int16x8; do
  "$qat" export run/checkpoint.h5 --mode $mode -o out/$mode.tflite > /dev/null
  files+=(out/$mode.tflite)
done
"$py" "$root/tests/netron/netron_check.py" "$build/netron_artifacts" "$qat" "${files[@]}" 2>&1 | grep -v "^Serving\|^Stopping"
