#!/usr/bin/env bash
# The main job on Fashion-MNIST (Debian's dataset-fashion-mnist): install what is missing,
# build, train the seed CNN for one epoch, fine-tune it quantization-aware for one more,
# export it as a full-integer int8 TensorFlow Lite model (and float32), and evaluate the int8
# file in qat's runtime next to the float and fake-quant accuracy of the checkpoint, then the
# parity report (fake-quant model vs int8 file, layer by layer).
# Extra arguments go to the first `qat train` (e.g. --threads 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
out=runs/fashion_mnist_cnn_qat
./build/qat train examples/fashion_mnist_cnn.yaml --out runs/fashion_mnist_cnn "$@"
./build/qat train examples/fashion_mnist_cnn_qat.yaml --out "$out"
./build/qat export "$out/checkpoint.h5" --mode float32 -o "$out/model_float32.tflite" --json
./build/qat export "$out/checkpoint.h5" --mode int8 -o "$out/model_int8.tflite" --json
./build/qat eval "$out/checkpoint.h5"
./build/qat eval "$out/model_int8.tflite"
./build/qat eval --compare "$out/checkpoint.h5" "$out/model_int8.tflite"
