#!/usr/bin/env python3
"""Writes the acceptance models of issue 14 as qat configs plus synthetic data (run by hand):

    .venv/bin/python tests/acceptance/make_models.py OUT_DIR

OUT_DIR/resnet8.yaml               ResNet-8 (MLPerf Tiny): Conv-BN-ReLU blocks, 1x1 shortcut convs,
                                   AveragePooling2D, Dense; 32x32x3
OUT_DIR/mobilenetv2_96x96x{1,3}.yaml  MobileNetV2 alpha 0.35 (Keras's layer structure: expand,
                                   depthwise, project, residual Add; 1280-wide last conv)
OUT_DIR/data_{32x32x3,96x96x1,96x96x3}.npz  synthetic uint8 images and labels (seeded)

The configs fine-tune (model.init) a checkpoint that `qat init` draws with random weights, as
an imported Keras model would start, for 32 steps of quant-aware training."""
import os
import sys

import numpy as np


def make_divisible(v, divisor=8, min_value=None):
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def mobilenetv2(shape, alpha=0.35, classes=10):
    L = []
    add = L.append
    first = make_divisible(32 * alpha, 8)
    add(f"Conv2D: {{name: Conv1, filters: {first}, kernel_size: 3, strides: 2, padding: same, use_bias: false}}")
    add("BatchNormalization: {name: bn_Conv1, epsilon: 0.001, momentum: 0.999}")
    add("ReLU: {name: Conv1_relu, max_value: 6}")
    cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    prev, ch, block = "Conv1_relu", first, 0
    for t, c, n, s in cfg:
        out = make_divisible(c * alpha, 8)
        for i in range(n):
            stride = s if i == 0 else 1
            p = f"block_{block}_" if block else "expanded_conv_"
            x = prev
            if t != 1:
                add(f"Conv2D: {{name: {p}expand, inputs: [{x}], filters: {t * ch}, kernel_size: 1, use_bias: false}}")
                add(f"BatchNormalization: {{name: {p}expand_BN, epsilon: 0.001, momentum: 0.999}}")
                add(f"ReLU: {{name: {p}expand_relu, max_value: 6}}")
                x = f"{p}expand_relu"
            add(f"DepthwiseConv2D: {{name: {p}depthwise, inputs: [{x}], kernel_size: 3, strides: {stride}, padding: same, use_bias: false}}")
            add(f"BatchNormalization: {{name: {p}depthwise_BN, epsilon: 0.001, momentum: 0.999}}")
            add(f"ReLU: {{name: {p}depthwise_relu, max_value: 6}}")
            add(f"Conv2D: {{name: {p}project, filters: {out}, kernel_size: 1, use_bias: false}}")
            add(f"BatchNormalization: {{name: {p}project_BN, epsilon: 0.001, momentum: 0.999}}")
            y = f"{p}project_BN"
            if stride == 1 and ch == out:
                add(f"Add: {{name: {p}add, inputs: [{prev}, {y}]}}")
                y = f"{p}add"
            prev, ch, block = y, out, block + 1
    add(f"Conv2D: {{name: Conv_1, inputs: [{prev}], filters: 1280, kernel_size: 1, use_bias: false}}")
    add("BatchNormalization: {name: Conv_1_bn, epsilon: 0.001, momentum: 0.999}")
    add("ReLU: {name: out_relu, max_value: 6}")
    add("GlobalAveragePooling2D: {name: global_average_pooling2d}")
    add(f"Dense: {{name: predictions, units: {classes}}}")
    return L


def resnet8(classes=10):
    L = []
    add = L.append
    add("Conv2D: {name: conv0, filters: 16, kernel_size: 3, padding: same}")
    add("BatchNormalization: {name: bn0}")
    add("ReLU: {name: relu0}")
    prev = "relu0"
    for k, f in enumerate([16, 32, 64]):
        s = 1 if k == 0 else 2
        add(f"Conv2D: {{name: s{k}_c1, inputs: [{prev}], filters: {f}, kernel_size: 3, strides: {s}, padding: same}}")
        add(f"BatchNormalization: {{name: s{k}_bn1}}")
        add(f"ReLU: {{name: s{k}_relu1}}")
        add(f"Conv2D: {{name: s{k}_c2, filters: {f}, kernel_size: 3, padding: same}}")
        add(f"BatchNormalization: {{name: s{k}_bn2}}")
        short = prev
        if k:
            add(f"Conv2D: {{name: s{k}_short, inputs: [{prev}], filters: {f}, kernel_size: 1, strides: 2}}")
            short = f"s{k}_short"
        add(f"Add: {{name: s{k}_add, inputs: [{short}, s{k}_bn2]}}")
        add(f"ReLU: {{name: s{k}_relu}}")
        prev = f"s{k}_relu"
    add("AveragePooling2D: {name: pool, pool_size: 8}")
    add("Flatten: {name: flatten}")
    add(f"Dense: {{name: logits, units: {classes}}}")
    return L


def write(out, name, shape, layers, data):
    with open(os.path.join(out, name + ".yaml"), "w") as f:
        f.write(f"# issue 14 acceptance model {name}: random weights, 32 steps of QAT fine-tuning\n")
        f.write(f"model:\n  init: {name}_init.h5\n  input: [{shape[0]}, {shape[1]}, {shape[2]}]\n  layers:\n")
        for l in layers:
            f.write(f"    - {l}\n")
        f.write(f"data: {{dataset: npy, path: {data}}}\n")
        f.write("quantize: {mode: qat}\n")
        f.write("train: {epochs: 1, batch_size: 16, seed: 1, optimizer: {name: adam, learning_rate: 0.0005}}\n")


def data(out, shape, n_train=512, n_test=256, seed=0):
    r = np.random.default_rng(seed)
    # smooth blobs, not white noise: activations with structure, as images have
    def imgs(n):
        base = r.integers(0, 256, size=(n, shape[0] // 8, shape[1] // 8, shape[2])).astype(np.float32)
        up = base.repeat(8, axis=1).repeat(8, axis=2)
        noise = r.normal(0, 20, size=up.shape)
        return np.clip(up + noise, 0, 255).astype(np.uint8)
    name = f"data_{shape[0]}x{shape[1]}x{shape[2]}.npz"
    np.savez(os.path.join(out, name), x_train=imgs(n_train), y_train=r.integers(0, 10, n_train),
             x_test=imgs(n_test), y_test=r.integers(0, 10, n_test))
    return name


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "acceptance"
    os.makedirs(out, exist_ok=True)
    write(out, "resnet8", (32, 32, 3), resnet8(), data(out, (32, 32, 3)))
    for c in (1, 3):
        write(out, f"mobilenetv2_96x96x{c}", (96, 96, c), mobilenetv2((96, 96, c)), data(out, (96, 96, c)))


if __name__ == "__main__":
    main()
