#!/usr/bin/env python3
"""Writes issue 15's model list with a real Keras, random weights, logits out (test_import15.py
runs it at test time with scripts/setup.sh's .venv-keras):

    .venv-keras/bin/python tests/acceptance/make_keras_models15.py OUT_DIR

OUT_DIR gets NAME.h5 and NAME.keras for each model of keras.applications below, NAME.x.npy (16
inputs uniform in the range the model's own preprocessing expects) and NAME.y.npy (Keras's
model.predict on them). Every BatchNormalization first takes the moving statistics of one batch
in that range (make_converter_models.py's calibrate_batch_norm): with Keras's initial ones the
activations of a random-weight network shrink to about 1e-10, scales no real model has."""
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import keras  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_converter_models import calibrate_batch_norm  # noqa: E402

A = keras.applications
S96 = (96, 96, 3)
# name: (constructor, the input range its preprocessing expects: MobileNet and V2 [-1, 1], the
# models that rescale pixels themselves [0, 255], ResNet50 caffe-style BGR)
MODELS = {
    "mobilenet": (lambda: A.MobileNet(input_shape=S96, alpha=0.25, weights=None, classes=2,
                                      classifier_activation=None), (-1.0, 1.0)),
    "mobilenetv2": (lambda: A.MobileNetV2(input_shape=S96, alpha=0.35, weights=None, classes=2,
                                          classifier_activation=None), (-1.0, 1.0)),
    "mobilenetv3small_min": (lambda: A.MobileNetV3Small(input_shape=S96, minimalistic=True, weights=None, classes=2,
                                                        classifier_activation=None), (0.0, 255.0)),
    "mobilenetv3small": (lambda: A.MobileNetV3Small(input_shape=S96, weights=None, classes=2,
                                                    classifier_activation=None), (0.0, 255.0)),
    "mobilenetv3large_min": (lambda: A.MobileNetV3Large(input_shape=S96, minimalistic=True, weights=None, classes=2,
                                                        classifier_activation=None), (0.0, 255.0)),
    "efficientnetb0": (lambda: A.EfficientNetB0(input_shape=S96, weights=None, classes=2,
                                                classifier_activation=None), (0.0, 255.0)),
    "resnet50": (lambda: A.ResNet50(input_shape=(64, 64, 3), weights=None, classes=2,
                                    classifier_activation=None), (-124.0, 152.0)),
}


def main():
    out = sys.argv[1]
    only = sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(15)
    rng = np.random.default_rng(15)
    for name, (make, (lo, hi)) in MODELS.items():
        if only and name not in only:
            continue
        m = make()
        calibrate_batch_norm(m, lo, hi)
        for layer in m.layers:  # back to Keras's default, as a trained model has it
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.99
        x = rng.uniform(lo, hi, (16,) + tuple(m.input_shape[1:])).astype(np.float32)
        y = m.predict(x, verbose=0).astype(np.float32)
        m.save(os.path.join(out, name + ".h5"))
        m.save(os.path.join(out, name + ".keras"))
        np.save(os.path.join(out, name + ".x.npy"), x)
        np.save(os.path.join(out, name + ".y.npy"), y)
        print(f"{name}: {len(m.layers)} layers, {m.count_params()} parameters, |y| <= {np.abs(y).max():.3g}")


if __name__ == "__main__":
    main()
