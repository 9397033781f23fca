#!/usr/bin/env bash
# The main job: install what is missing, build, and train the seed CNN on Fashion-MNIST
# (Debian's dataset-fashion-mnist) for one epoch. Extra arguments go to `qat train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/qat train examples/fashion_mnist_cnn.yaml --out runs/fashion_mnist_cnn "$@"
