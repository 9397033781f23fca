#!/usr/bin/env bash
# qat against its peers on the seed MNIST CNN (batch 32), the seed CIFAR-10 CNN (batch 64) and
# mobilenet_tiny (batch 64), the networks of examples/: float and quantization-aware ms/step and
# peak RSS of qat, PyTorch (eager; eager-mode QAT) and TF-Keras (tf_keras;
# tensorflow-model-optimization's quantize_model), measured in the same run, each in its own
# process, as ratios against qat.
#
#   bash bench/peers/peers.sh [BUILD_DIR] [--steps N] [--rounds R] [--threads T]
#                             [--models mnist,cifar,mobilenet]
#
# The peers live in a venv outside the repo, built on first use and reused:
# ${QAT_PEERS_VENV:-$HOME/.cache/qat-peers} (PyPI's torch wheel pulls its CUDA libraries,
# about 7.6 GB; tensorflow-cpu, tf_keras, tensorflow-model-optimization beside it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
if [[ $# -gt 0 && $1 != --* ]]; then build=$(cd "$1" && pwd); shift; fi
venv=${QAT_PEERS_VENV:-$HOME/.cache/qat-peers}
if ! "$venv/bin/python" -c 'import torch, tensorflow, tf_keras, tensorflow_model_optimization' 2>/dev/null; then
  echo "peers: building $venv (torch, tensorflow-cpu, tf_keras, tensorflow-model-optimization)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch tensorflow-cpu tf_keras tensorflow-model-optimization
fi
if [[ ! -x $build/bench/train_step ]]; then
  echo "peers: $build/bench/train_step not found (build qat first: cmake --build build)" >&2
  exit 1
fi
exec "$venv/bin/python" "$here/peers.py" --train-step "$build/bench/train_step" --examples "$root/examples" "$@"
