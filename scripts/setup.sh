#!/usr/bin/env bash
# Installs everything qat needs on Debian 12 (as root). Idempotent: when every package
# is present it only checks and returns, so the README commands can always call it first.
set -euo pipefail

pkgs=(cmake gcc make pkg-config
      libopenblas-openmp-dev libopenblas0-openmp libopenblas-dev
      libhdf5-dev hdf5-tools libcmocka-dev libyaml-dev zlib1g-dev
      dataset-fashion-mnist python3-venv flatbuffers-compiler
      libjson-c-dev libzip-dev libpng-dev libjpeg62-turbo-dev
      libisal-dev                         # ISA-L inflate: PNG image data (data/image.c)
      openmpi-bin libopenmpi-dev          # data-parallel training (optional: QAT_MPI)
      clang libclang-rt-14-dev strace valgrind  # fuzz/, tests/faults/, tests/valgrind.sh
      libfreetype-dev fonts-dejavu-core   # qat plot / compare PNG text
      libusb-1.0-0                        # tflite-support's wheel links it (tests/metadata_test.sh)
      chromium)                           # headless, renders Netron's page (tests/netron/)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# One thread pool: OpenBLAS must be Debian's OpenMP build so its threads are our OpenMP threads.
for alt in libblas.so.3-x86_64-linux-gnu libopenblas.so.0-x86_64-linux-gnu; do
  target=$(update-alternatives --list "$alt" 2>/dev/null | grep -m1 openblas-openmp || true)
  if [ -n "$target" ] && [ "$(readlink -f /etc/alternatives/$alt)" != "$(readlink -f "$target")" ]; then
    ${SUDO:-} update-alternatives --set "$alt" "$target" >/dev/null
  fi
done

# Python venv for the TFLite interop tests (tests/interop/): the official interpreter from
# PyPI (ai-edge-litert; tensorflow-cpu as a fallback where no wheel fits) and numpy, in .venv
# at the repository root (gitignored). Quick when already there: it only tries the imports.
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
have_interp() {
  "$venv/bin/python" -c 'import numpy; from ai_edge_litert.interpreter import Interpreter' 2>/dev/null ||
    "$venv/bin/python" -c 'import numpy; import tensorflow as tf; tf.lite.Interpreter' 2>/dev/null
}
if ! { [ -x "$venv/bin/python" ] && have_interp; }; then
  echo "setup: creating $venv with ai-edge-litert and numpy"
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check ai-edge-litert numpy ||
    "$venv/bin/python" -m pip install -q --disable-pip-version-check tensorflow-cpu numpy
  have_interp || { echo "setup: the TFLite interpreter does not import in $venv" >&2; exit 1; }
fi
# Pillow: the reference that bench/data measures qat's image decoding against (bench only, so
# a failed install is a warning).
if ! "$venv/bin/python" -c 'import PIL' 2>/dev/null; then
  echo "setup: installing Pillow into $venv (for bench/data)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check pillow ||
    echo "setup: warning: Pillow did not install; bench/data will report its reference missing" >&2
fi

# Tools for the issue-19 tests, in the same venv: TensorFlow Lite Micro's Python interpreter
# (tflite-micro: the TFLM interop test), TensorBoard's event reader (the curves test), pytest
# (the Python binding's tests) and netron (the Netron check). Each is optional: where no wheel
# fits this Python the test that needs it skips and says so.
for mod_pkg in tflite_micro:tflite-micro tensorboard:tensorboard pytest:pytest wheel:wheel netron:netron; do
  mod=${mod_pkg%%:*} pkg=${mod_pkg#*:}
  if ! "$venv/bin/python" -c "import $mod" 2>/dev/null; then
    echo "setup: installing $pkg into $venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$pkg" ||
      echo "setup: $pkg has no wheel for this Python; the tests that need it will skip" >&2
  fi
done
# TFLite Support (its metadata reader and Task Library) for tests/metadata_test.sh: its own small
# venv, .venv-support, since its numpy and protobuf pins need not agree with the interop venv's.
svenv="$root/.venv-support"
if ! "$svenv/bin/python" -c 'from tflite_support.task import vision' 2>/dev/null; then
  echo "setup: creating $svenv with tflite-support"
  [ -x "$svenv/bin/python" ] || "$py" -m venv "$svenv"
  "$svenv/bin/python" -m pip install -q --disable-pip-version-check tflite-support ||
    echo "setup: tflite-support has no wheel for this Python; tests/metadata_test.sh will skip" >&2
fi
# A real Keras (tensorflow-cpu from PyPI) for the tests that import what Keras writes and run
# what the TFLite converter writes (tests/acceptance/): its own venv, .venv-keras, since it is
# large (about 1.6 GB) and the interop venv above must stay small. QAT_KERAS_PYTHON points the
# tests at another Python with tensorflow; where neither imports, those tests skip and say so.
kvenv="$root/.venv-keras"
if ! "$kvenv/bin/python" -c 'import tensorflow, keras, h5py' 2>/dev/null; then
  echo "setup: creating $kvenv with tensorflow-cpu (a real Keras and TFLite converter for the tests)"
  [ -x "$kvenv/bin/python" ] || "$py" -m venv "$kvenv"
  "$kvenv/bin/python" -m pip install -q --disable-pip-version-check tensorflow-cpu h5py numpy ||
    echo "setup: warning: tensorflow-cpu did not install; the Keras acceptance tests will skip" >&2
fi
exit 0
