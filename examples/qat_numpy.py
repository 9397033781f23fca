#!/usr/bin/env python3
"""Quantization-aware training of a small CNN on your own NumPy arrays, from Python.

    pip install ./python                     # the binding (needs libqat.so: cmake --install)
    python examples/qat_numpy.py --out runs/numpy_qat

1. Your data: arrays x [N, H, W, C] (float32, already scaled) and integer labels y [N].
   Here: synthetic 16x16 images of three shapes (a horizontal bar, a vertical bar, a square).
2. A config that points at .npy files and asks for QAT (`quantize: {mode: qat}`).
3. Train, compare the float and fake-quant predictions of the checkpoint, export int8, run the
   .tflite in qat's integer runtime, and read the parity report (fake quant vs int8) as a dict.
"""
import argparse
import os

import numpy as np

import qat


def make_shapes(rng, n):
    y = rng.integers(0, 3, size=n)
    x = rng.normal(0.1, 0.05, size=(n, 16, 16, 1)).astype(np.float32)
    for i, c in enumerate(y):
        r, s = rng.integers(2, 10, size=2)
        if c == 0:
            x[i, r:r + 2, 2:14, 0] += 0.8
        elif c == 1:
            x[i, 2:14, s:s + 2, 0] += 0.8
        else:
            x[i, r:r + 5, s:s + 5, 0] += 0.8
    return np.clip(x, 0, 1), y.astype(np.int64)


CONFIG = """
model:
  input: [16, 16, 1]
  layers:
    - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
    - MaxPooling2D: {pool_size: 2}
    - Conv2D: {filters: 16, kernel_size: 3, activation: relu}
    - GlobalAveragePooling2D: {}
    - Dense: {units: 3}
data: {dataset: npy, x: x.npy, y: y.npy, test_x: test_x.npy, test_y: test_y.npy, class_names: [hbar, vbar, square]}
quantize: {mode: qat, delay: 20}
train: {epochs: 3, batch_size: 32, seed: 1, optimizer: {name: adam, learning_rate: 0.01}}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/numpy_qat")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(0)
    x, y = make_shapes(rng, 1200)
    tx, ty = make_shapes(rng, 300)
    for name, a in (("x", x), ("y", y), ("test_x", tx), ("test_y", ty)):
        np.save(os.path.join(args.out, f"{name}.npy"), a)
    cfg = os.path.join(args.out, "config.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG)

    print(f"libqat {qat.version()}: training {len(x)} samples, QAT after 20 steps")
    run = qat.train(cfg, out_dir=os.path.join(args.out, "run"), log_every=10)
    print(f"test accuracy: fake-quant {run['test_accuracy']:.3f}, float {run['float_test_accuracy']:.3f}")

    with qat.Net(run["checkpoint"]) as net:
        f = net.forward(tx)
        q = net.forward(tx, fake_quant=True)
    print(f"float vs fake-quant top-1 agreement on the test arrays: {np.mean(f.argmax(1) == q.argmax(1)):.3f}")

    path = qat.export(run["checkpoint"], os.path.join(args.out, "model_int8.tflite"), mode="int8")
    model = qat.Model(path)
    scale, zp = model.inputs[0]["quantization"]
    xq = np.clip(np.round(tx / scale) + zp, -128, 127).astype(np.int8)
    out = model.run(xq)
    print(f"{path}: int8 accuracy in qat's runtime {np.mean(out.argmax(1) == ty):.3f}, "
          f"arena {model.arena_bytes} bytes")

    rep = qat.parity(run["checkpoint"], path, tx, ty)
    final = next(layer for layer in rep["layers"] if layer["output"])
    print(f"parity: fake-quant {rep['fakequant_accuracy']:.3f} vs int8 {rep['int8_accuracy']:.3f}, "
          f"top-1 agreement {rep['top1_agreement']:.3f}, final tensor bit-identical {final['identical']:.3f}")


if __name__ == "__main__":
    main()
