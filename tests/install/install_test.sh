#!/usr/bin/env bash
# A fresh `cmake --install` into a temporary prefix, then examples/train_export.c built against
# it with pkg-config alone and run: trains a tiny QAT model, exports int8, runs it.
set -euo pipefail
src=$1 build=$2
work=$(mktemp -d "$build/install_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for f in bin/qat include/qat/qat.h include/qat/runtime.h; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
libdir=$(dirname "$(find "$prefix" -name qat.pc)")/..
for f in libqat.so libqat.a; do
  [ -e "$libdir/$f" ] || { echo "FAIL: $f not installed in $libdir"; exit 1; }
done
"$prefix/bin/qat" --version | grep -q "qat " || { echo "FAIL: qat --version"; exit 1; }
export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=$(pkg-config --cflags --libs qat)
echo "pkg-config --cflags --libs qat: $flags"
cc -std=c11 -Wall -Wextra -Werror ${QAT_SAN_CFLAGS:-} "$src/examples/train_export.c" $flags -o "$work/train_export"
# the static archive links too (with the dependencies pkg-config --static lists)
cc -std=c11 -Wall -Wextra -Werror ${QAT_SAN_CFLAGS:-} "$src/examples/train_export.c" -I"$prefix/include" "$libdir/libqat.a" \
  $(pkg-config --static --libs-only-l --libs-only-L qat | sed 's/-lqat//') -fopenmp -o "$work/train_export_static"
cat > "$work/tiny.yaml" <<'YAML'
model:
  input: [28, 28, 1]
  layers:
    - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
    - MaxPooling2D: {pool_size: 2}
    - Flatten: {}
    - Dense: {units: 10}
data: {dataset: fashion-mnist, limit_train: 640, limit_test: 200}
quantize: {mode: qat}
train: {epochs: 1, batch_size: 32, seed: 3, optimizer: {name: adam, learning_rate: 0.003}}
YAML
LD_LIBRARY_PATH=$libdir "$work/train_export" "$work/tiny.yaml" "$work/run" | tee "$work/out.txt"
grep -q "INT8 input 784 values" "$work/out.txt" || { echo "FAIL: the exported model did not run"; exit 1; }
grep -q '"samples":200' "$work/out.txt" || { echo "FAIL: no parity report"; exit 1; }
[ -s "$work/run/steps.csv" ] || { echo "FAIL: no steps.csv"; exit 1; }
"$work/train_export_static" "$work/tiny.yaml" "$work/run_static" > /dev/null || { echo "FAIL: static build"; exit 1; }
echo "install test: ok"
