#!/usr/bin/env bash
# Golden outputs: the sha256 of every checkpoint `qat train` writes for the example configs
# (a few hundred seeded steps on Fashion-MNIST) and of every file `qat export` writes from
# them, in every mode and I/O type. A refactor that claims to change nothing qat computes
# must leave every hash as recorded in tests/golden/sha256.txt.
#
#   golden.sh QAT_BINARY WORK_DIR            check against sha256.txt (exit 1 on any change)
#   golden.sh QAT_BINARY WORK_DIR --record   rewrite sha256.txt (only after a change that is
#                                            meant to change the numbers; say why in the commit)
#
# Float training sums depend on the BLAS kernels and thread count, so the runs use 2 threads
# and one OpenBLAS kernel family on every machine: Haswell's (AVX2 + FMA), which every CPU qat
# is built for (x86-64-v3) runs. The machine's own choice would make the hashes a property of
# the CI host: a Zen 4 picks Cooperlake, an Intel Sapphire Rapids SkylakeX (through qat's
# widening), a Zen 2 Zen (= Haswell's kernels), and each sums differently. A user's
# OPENBLAS_CORETYPE is overridden here on purpose.
set -euo pipefail
export OPENBLAS_CORETYPE=Haswell
qat=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
examples=$(cd "$here/../../examples" && pwd)
work=$(mktemp -d "$2/golden.XXXXXX")
trap 'rm -rf "$work"' EXIT
record=${3:-}
mnist=/usr/share/datasets/fashion-mnist
if [ ! -f "$mnist/train-images-idx3-ubyte.gz" ] && [ ! -f "$mnist/train-images-idx3-ubyte" ]; then
  echo "golden: Debian's dataset-fashion-mnist is not installed; nothing to compare" >&2
  exit 77
fi
cd "$work"

# The example's model and optimizer, on 6,400 training and 500 test images: 200 steps at
# batch 32 (100 at batch 64), one epoch; mobilenet_tiny_qat gets 400 steps, past its
# 300-step quantization delay. model.init points at the float run where the example
# fine-tunes one.
derive() { # derive EXAMPLE OUT [INIT] [TRAIN_IMAGES]
  sed -e "s|^data: {dataset: fashion-mnist}|data: {dataset: fashion-mnist, limit_train: ${4:-6400}, limit_test: 500}|" \
      -e "s|^  init: .*|  init: ${3:-none}|" "$examples/$1.yaml" >"$2"
  grep -q 'limit_train: ' "$2" || { echo "golden: $1.yaml has no fashion-mnist data line" >&2; exit 1; }
}
train() { # train CONFIG OUTDIR
  "$qat" train "$1" --threads 2 --out "$2" --json >/dev/null 2>"$2.log" || { cat "$2.log" >&2; exit 1; }
}

derive fashion_mnist_cnn cnn.yaml
train cnn.yaml cnn
derive fashion_mnist_cnn_qat cnn_qat.yaml cnn/checkpoint.h5
train cnn_qat.yaml cnn_qat
derive mobilenet_tiny mnt.yaml
train mnt.yaml mnt
derive mobilenet_tiny_qat mnt_qat.yaml none 25600
train mnt_qat.yaml mnt_qat
# CIFAR-10 is not packaged: its example is checked through `qat init` and the modes that need
# no data.
"$qat" init "$examples/cifar10_cnn.yaml" -o cifar_init.h5 >/dev/null

export_all() { # export_all CKPT STEM QAT(0|1)
  local c=$1 s=$2
  for mode in float32 float16 dynamic; do
    "$qat" export "$c" --mode "$mode" -o "$s.$mode.tflite" >/dev/null
  done
  [ "$3" = nodata ] && return
  local cal=""
  [ "$3" = 1 ] || cal="--calibrate 200"
  for io in int8 uint8 float32; do
    # shellcheck disable=SC2086
    "$qat" export "$c" --mode int8 --io "$io" $cal -o "$s.int8_$io.tflite" >/dev/null
  done
  for io in int16 float32; do
    # shellcheck disable=SC2086
    "$qat" export "$c" --mode int16x8 --io "$io" $cal -o "$s.int16x8_$io.tflite" >/dev/null
  done
  for method in minmax percentile mse; do
    "$qat" export "$c" --mode int8 --calibrate 100 --calibration-method "$method" -o "$s.ptq_$method.tflite" >/dev/null
  done
}
export_all cnn/checkpoint.h5 cnn 0
export_all cnn_qat/checkpoint.h5 cnn_qat 1
export_all mnt/checkpoint.h5 mnt 0
export_all mnt_qat/checkpoint.h5 mnt_qat 1
export_all cifar_init.h5 cifar nodata

# Checkpoints: every dataset and attribute as h5dump prints them (9 significant digits
# round-trip a float32 exactly), since the HDF5 bytes carry object time stamps; each epoch
# file too. Exports: the bytes.
for h5 in cnn/*.h5 cnn_qat/*.h5 mnt/*.h5 mnt_qat/*.h5 cifar_init.h5; do
  echo "$(h5dump -w0 -m '%.9g' "$h5" | sha256sum | cut -d' ' -f1)  $h5"
done >actual.txt
sha256sum ./*.tflite >>actual.txt
sort -k2 -o actual.txt actual.txt
if [ "$record" = --record ]; then
  cp actual.txt "$here/sha256.txt"
  echo "golden: recorded $(wc -l <actual.txt) hashes in $here/sha256.txt"
  exit 0
fi
if diff -u "$here/sha256.txt" actual.txt; then
  echo "golden: $(wc -l <actual.txt) files identical to the recorded hashes"
  echo "$(wc -l <actual.txt) passed, 0 failed"
else
  echo "golden: the files above differ from tests/golden/sha256.txt" >&2
  exit 1
fi
