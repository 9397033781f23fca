#!/usr/bin/env bash
# The main job on Fashion-MNIST (Debian's dataset-fashion-mnist): install what is missing,
# build, train the seed CNN for one epoch, fine-tune it quantization-aware for one more,
# report float and fake-quant test accuracy, and export it as TensorFlow Lite.
# Extra arguments go to the first `qat train` (e.g. --threads 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/qat train examples/fashion_mnist_cnn.yaml --out runs/fashion_mnist_cnn "$@"
./build/qat train examples/fashion_mnist_cnn_qat.yaml --out runs/fashion_mnist_cnn_qat
./build/qat eval runs/fashion_mnist_cnn_qat/checkpoint.h5
./build/qat export runs/fashion_mnist_cnn_qat/checkpoint.h5 --mode float32 \
  -o runs/fashion_mnist_cnn_qat/model_float32.tflite --json
