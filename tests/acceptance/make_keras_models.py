#!/usr/bin/env python3
"""Writes issue 14's acceptance models with a real Keras, random weights (test_acceptance.py runs
it at test time with scripts/setup.sh's .venv-keras):

    .venv-keras/bin/python tests/acceptance/make_keras_models.py OUT_DIR

OUT_DIR gets resnet8.h5, mobilenetv2_96x96x1.h5 and
mobilenetv2_96x96x3.h5: keras.applications.MobileNetV2 (alpha 0.35, 10 classes, linear
logits; its ZeroPadding2D layers are folded by qat import as padding 'same') and the ResNet-8 of
MLPerf Tiny (Conv-BN-ReLU blocks, 1x1 shortcut convs, AveragePooling2D, Dense logits) as
tests/acceptance/make_models.py lays it out; Keras's own initializers (glorot kernels, BN gamma
1, beta 0, moving mean 0, variance 1), seed 14. tests/acceptance/test_acceptance.py imports them with
`qat import` and fine-tunes them."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import keras  # noqa: E402
from keras import layers  # noqa: E402


def mobilenetv2(shape, alpha=0.35, classes=10):
    """keras.applications' own MobileNetV2, logits out (its ZeroPadding2D before each stride-2
    depthwise is the padding 'same' that qat import folds)."""
    m = keras.applications.MobileNetV2(input_shape=shape, alpha=alpha, weights=None, classes=classes,
                                       classifier_activation=None)
    return keras.Model(m.inputs, m.outputs, name=f"mobilenetv2_{shape[0]}x{shape[1]}x{shape[2]}")


def resnet8(classes=10):
    inp = keras.Input((32, 32, 3), name="input")
    x = layers.Conv2D(16, 3, padding="same", name="conv0")(inp)
    x = layers.BatchNormalization(name="bn0")(x)
    x = layers.ReLU(name="relu0")(x)
    for k, f in enumerate([16, 32, 64]):
        s = 1 if k == 0 else 2
        y = layers.Conv2D(f, 3, strides=s, padding="same", name=f"s{k}_c1")(x)
        y = layers.BatchNormalization(name=f"s{k}_bn1")(y)
        y = layers.ReLU(name=f"s{k}_relu1")(y)
        y = layers.Conv2D(f, 3, padding="same", name=f"s{k}_c2")(y)
        y = layers.BatchNormalization(name=f"s{k}_bn2")(y)
        short = layers.Conv2D(f, 1, strides=2, name=f"s{k}_short")(x) if k else x
        x = layers.Add(name=f"s{k}_add")([short, y])
        x = layers.ReLU(name=f"s{k}_relu")(x)
    x = layers.AveragePooling2D(8, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(classes, name="logits")(x)
    return keras.Model(inp, x, name="resnet8")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(14)
    models = {"resnet8": resnet8()}
    for c in (1, 3):
        models[f"mobilenetv2_96x96x{c}"] = mobilenetv2((96, 96, c))
    for name, m in models.items():
        path = os.path.join(out, name + ".h5")
        m.save(path, include_optimizer=False)
        print(f"{path}: {m.count_params()} parameters, {os.path.getsize(path)} bytes")
    print(f"tensorflow {__import__('tensorflow').__version__}, keras {keras.__version__}")


if __name__ == "__main__":
    main()
