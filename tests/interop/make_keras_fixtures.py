#!/usr/bin/env python3
"""Builds the Keras fixtures of tests/fixtures/keras/ with a real Keras (run once, by hand).

The importer's tests compare qat's float forward of each imported model with what Keras itself
computed, so the files must come from Keras, not from qat. Needs tensorflow-cpu, which the
project does not depend on: install it in a separate venv and run

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    /tmp/tfvenv/bin/python tests/interop/make_keras_fixtures.py [--out tests/fixtures/keras]

Reads Fashion-MNIST from /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist),
scaled to [0, 1] as qat's loader does. Writes, for each model NAME:
    NAME.h5 / NAME.keras / NAME.weights.h5   the model as Keras saved it (without optimizer state)
    NAME.io.h5                                x: a fixed input batch, y: Keras's outputs on it
and keras_fixtures.json: TF/Keras/h5py versions, and for the acceptance model (fmnist_cnn) its
float accuracy on all 10,000 test images as Keras computes it.
"""
import argparse
import gzip
import json
import os
import struct

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import h5py  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", raw[8:16])
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, rows, cols, 1)
    return np.frombuffer(raw, np.uint8, offset=8)


def load():
    xtr = read_idx(os.path.join(DATA, "train-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    ytr = read_idx(os.path.join(DATA, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xte = read_idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    yte = read_idx(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    return xtr, ytr, xte, yte


def fmnist_cnn():
    """The acceptance model: a small Fashion-MNIST CNN (well under 1 MiB), Sequential."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ], name="fmnist_cnn")


def bn_dw_add():
    """Functional: BatchNormalization, DepthwiseConv2D (multiplier 1 and 2), Add, ReLU,
    Activation, pools, GAP, Dropout, Dense."""
    inp = keras.Input((28, 28, 1))
    x = layers.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU(max_value=6.0)(y)
    x = layers.Add()([x, y])
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(16, 3, strides=2, activation="relu6")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)
    x = layers.Activation("relu")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    out = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inp, out, name="bn_dw_add")


def mlp():
    """Sequential with Reshape, Dense without bias and a separate softmax Activation."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Reshape((784,)),
        layers.Dense(16, activation="relu"),
        layers.Dropout(0.1),
        layers.Dense(10, use_bias=False),
        layers.Activation("softmax"),
    ], name="mlp")


def pad_rescale():
    """Rescaling (folded into the next conv) and ZeroPadding2D (folded into the next conv when it
    equals SAME padding: ((0,1),(0,1)) before a stride-2 3x3 conv on an even input, as Keras's
    MobileNets do, and 1 before a stride-1 3x3 depthwise)."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Rescaling(2.0, offset=-1.0),
        layers.Conv2D(8, 3, activation="relu"),
        layers.ZeroPadding2D(((0, 1), (0, 1))),
        layers.Conv2D(8, 3, strides=2, activation="relu"),
        layers.ZeroPadding2D(1),
        layers.DepthwiseConv2D(3, activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(10, activation="softmax"),
    ], name="pad_rescale")


def pad_not_same():
    """Not trained: a ZeroPadding2D that is no SAME padding must be refused, naming it."""
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.ZeroPadding2D(2),
        layers.Conv2D(2, 3),
        layers.Flatten(),
        layers.Dense(3),
    ], name="pad_not_same")


def unsupported():
    """Not trained: its import must fail naming the LayerNormalization layer (UpSampling2D, the
    first choice, is supported since issue 16)."""
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.LayerNormalization(name="layer_normalization"),
        layers.Conv2D(2, 3),
        layers.Flatten(),
        layers.Dense(3),
    ], name="unsupported")


def bare(model, build):
    """The same weights in a freshly built, never compiled model: no optimizer state in the
    files (clone_model keeps it), and Keras 3 gives its layers new names (conv2d_2, ...), which
    the importer must map to the class-derived object paths of model.weights.h5."""
    copy = build()
    copy.set_weights(model.get_weights())
    return copy


def write_io(path, x, y):
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x.astype(np.float32))
        f.create_dataset("y", data=y.astype(np.float32))


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "fixtures", "keras"))
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(1)
    xtr, ytr, xte, yte = load()
    batch = xte[:8]
    meta = {"tensorflow": tf.__version__, "keras": keras.__version__, "h5py": h5py.__version__,
            "numpy": np.__version__, "data": DATA, "input_scaling": "x / 255", "models": {}}

    def compile_fit(model, n, epochs):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(xtr[:n], ytr[:n], batch_size=32, epochs=epochs, verbose=2, shuffle=True)

    m = fmnist_cnn()
    compile_fit(m, len(xtr), args.epochs)
    loss, acc = m.evaluate(xte, yte, batch_size=256, verbose=0)
    bare(m, fmnist_cnn).save(os.path.join(args.out, "fmnist_cnn.h5"))
    bare(m, fmnist_cnn).save(os.path.join(args.out, "fmnist_cnn.keras"))
    write_io(os.path.join(args.out, "fmnist_cnn.io.h5"), batch, m.predict(batch, verbose=0))
    meta["models"]["fmnist_cnn"] = {
        "files": ["fmnist_cnn.h5", "fmnist_cnn.keras"], "epochs": args.epochs,
        "train_samples": int(len(xtr)), "params": int(m.count_params()),
        "keras_float_test_accuracy": float(acc), "keras_float_test_loss": float(loss),
        "test_samples": int(len(xte))}

    m = bn_dw_add()
    compile_fit(m, 6000, 1)
    bare(m, bn_dw_add).save(os.path.join(args.out, "bn_dw_add.keras"))
    bare(m, bn_dw_add).save(os.path.join(args.out, "bn_dw_add.h5"))
    write_io(os.path.join(args.out, "bn_dw_add.io.h5"), batch, m.predict(batch, verbose=0))
    meta["models"]["bn_dw_add"] = {"files": ["bn_dw_add.keras", "bn_dw_add.h5"], "epochs": 1,
                                   "train_samples": 6000, "params": int(m.count_params())}

    m = mlp()
    compile_fit(m, 6000, 1)
    bare(m, mlp).save(os.path.join(args.out, "mlp.keras"))
    bare(m, mlp).save_weights(os.path.join(args.out, "mlp.weights.h5"))
    write_io(os.path.join(args.out, "mlp.io.h5"), batch, m.predict(batch, verbose=0))
    meta["models"]["mlp"] = {"files": ["mlp.keras", "mlp.weights.h5"], "epochs": 1,
                             "train_samples": 6000, "params": int(m.count_params())}

    m = pad_rescale()
    compile_fit(m, 6000, 1)
    bare(m, pad_rescale).save(os.path.join(args.out, "pad_rescale.keras"))
    bare(m, pad_rescale).save(os.path.join(args.out, "pad_rescale.h5"))
    write_io(os.path.join(args.out, "pad_rescale.io.h5"), batch, m.predict(batch, verbose=0))
    meta["models"]["pad_rescale"] = {"files": ["pad_rescale.keras", "pad_rescale.h5"], "epochs": 1,
                                     "train_samples": 6000, "params": int(m.count_params())}

    for name, build in (("unsupported", unsupported), ("pad_not_same", pad_not_same)):
        build().save(os.path.join(args.out, name + ".keras"))
        meta["models"][name] = {"files": [name + ".keras"], "epochs": 0}

    with open(os.path.join(args.out, "keras_fixtures.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps(meta, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
