#!/usr/bin/env bash
# qat deploy on a freshly trained tiny QAT model: the files, the generated model_test.c built
# with the host compiler against libqat (build/lib) and run (goldens bit for bit, both kernel
# flavors), the refusal of a float16 export with --tflm (exit 3, naming the operator), usage
# errors.
set -euo pipefail
qat=$1 build=$2 src=$3
work=$(mktemp -d "$build/deploy_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/c.yaml" <<'YAML'
model:
  input: [28, 28, 1]
  layers:
    - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
    - MaxPooling2D: {pool_size: 2}
    - Flatten: {}
    - Dense: {units: 10}
data: {dataset: fashion-mnist, limit_train: 320, limit_test: 100}
quantize: {mode: qat}
train: {epochs: 1, batch_size: 32, seed: 5, optimizer: {name: adam, learning_rate: 0.003}}
YAML
"$qat" train "$work/c.yaml" --out "$work/run" --threads 1 > /dev/null
"$qat" export "$work/run/checkpoint.h5" --mode int8 -o "$work/m8.tflite" > /dev/null
"$qat" export "$work/run/checkpoint.h5" --mode float16 -o "$work/mf16.tflite" > /dev/null
printf 'zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n' > "$work/labels.txt"
for flavor in tflm litert; do
  out=$work/d_$flavor
  if [ $flavor = tflm ]; then "$qat" deploy "$work/m8.tflite" -o "$out" --tflm --samples 8 > "$work/deploy.log"
  else "$qat" deploy "$work/m8.tflite" -o "$out" --samples 8 > "$work/deploy.log"; fi
  for f in model_data.h model_data.c model_settings.h op_resolver.h golden_data.h golden_data.c model_test.c \
           tflm_main.cc labels.h labels.c README.txt; do
    [ -s "$out/$f" ] || { echo "FAIL: deploy wrote no $f"; exit 1; }
  done
  grep -q "_Alignas(16) const unsigned char g_model_data\[\]" "$out/model_data.c" || { echo "FAIL: alignment"; exit 1; }
  grep -q "MicroMutableOpResolver<4>" "$out/op_resolver.h" || { echo "FAIL: resolver size"; cat "$out/op_resolver.h"; exit 1; }
  for op in AddConv2D AddMaxPool2D AddReshape AddFullyConnected; do
    grep -q "resolver.$op()" "$out/op_resolver.h" || { echo "FAIL: $op missing"; exit 1; }
  done
  [ "$(grep -c 'resolver.Add' "$out/op_resolver.h")" = 4 ] || { echo "FAIL: extra ops"; exit 1; }
  grep -q '"nine"' "$out/labels.c" || { echo "FAIL: labels"; exit 1; }
  grep -q "MODEL_ARENA_BYTES" "$out/model_settings.h" || { echo "FAIL: arena"; exit 1; }
  plan=$("$qat" inspect "$work/m8.tflite" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["peak_activation_bytes"])')
  grep -q "#define MODEL_ARENA_ACTIVATION_BYTES $plan\$" "$out/model_settings.h" || { echo "FAIL: plan $plan"; exit 1; }
  cc -std=c11 -Wall -Wextra -Werror ${QAT_SAN_CFLAGS:-} -I"$src/include" "$out/model_test.c" "$out/model_data.c" "$out/golden_data.c" \
    "$out/labels.c" -L"$build/lib" -lqat -Wl,-rpath,"$build/lib" -o "$out/model_test"
  "$out/model_test" | grep -q "8/8 golden vectors match" || { echo "FAIL: goldens ($flavor)"; exit 1; }
  # a corrupted golden must fail the generated test
  python3 - "$out/golden_data.c" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
i = s.index("golden_outputs[GOLDEN_COUNT]")
m = re.compile(r"(-?\d+), ").search(s, s.index("{", s.index("{", i) + 1))
v = int(m.group(1))
s = s[:m.start(1)] + str(v + 1 if v < 127 else v - 1) + s[m.end(1):]
open(p, "w").write(s)
PY
  cc -std=c11 ${QAT_SAN_CFLAGS:-} -I"$src/include" "$out/model_test.c" "$out/model_data.c" "$out/golden_data.c" \
    -L"$build/lib" -lqat -Wl,-rpath,"$build/lib" -o "$out/model_test_bad"
  if "$out/model_test_bad" > /dev/null 2>&1; then echo "FAIL: a wrong golden passed"; exit 1; fi
done
set +e
err=$("$qat" deploy "$work/mf16.tflite" -o "$work/df16" --tflm 2>&1); rc=$?
set -e
[ $rc = 3 ] && grep -q "DEQUANTIZE of FLOAT16" <<<"$err" || { echo "FAIL: float16 --tflm: rc $rc: $err"; exit 1; }
[ ! -e "$work/df16" ] || { echo "FAIL: files written for a refused model"; exit 1; }
set +e
err=$("$qat" deploy "$work/missing.tflite" -o "$work/x" 2>&1); rc=$?
set -e
[ $rc != 0 ] && grep -q "missing.tflite" <<<"$err" || { echo "FAIL: missing model: rc $rc: $err"; exit 1; }
set +e
err=$("$qat" deploy "$work/m8.tflite" 2>&1); rc=$?
set -e
[ $rc = 2 ] || { echo "FAIL: no -o: rc $rc"; exit 1; }
echo "deploy test: ok"
