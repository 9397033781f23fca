#!/usr/bin/env python3
"""Writes the official TFLite converter's files for the Keras mobile classifiers (issue 15/16):

    .venv-keras/bin/python tests/acceptance/make_converter_models.py OUT_DIR [NAME...]

keras.applications with random weights (weights=None, seed 15; the BatchNormalization moving
statistics set from one batch of inputs, see calibrate_batch_norm): MobileNet (alpha 0.25),
MobileNetV2 (alpha 0.35), MobileNetV3Small (minimalistic and full, include_preprocessing as
default), MobileNetV3Large (minimalistic), EfficientNetB0 (all 96x96x3) and ResNet50
(64x64x3), 2 classes; and issue 16's DS-CNN keyword spotter ([49, 10]) and accelerometer model
([128, 3], with its Dense over the sequence: the converter's SHAPE / GATHER / REDUCE_PROD /
PACK shape arithmetic around a FULLY_CONNECTED) two-output model (two_head) and
image models (inception, xception, unet, segmenter, autoencoder; Keras 3's nearest UpSampling2D
is EXPAND_DIMS / TILE / RESHAPE there) of make_keras_models16.py. Each is converted with tf.lite.TFLiteConverter to NAME_f32.tflite, to
full int8 NAME_int8.tflite (representative dataset: 16 seeded uniform inputs in the range the
model expects; int8 input and output) and to NAME_int8f.tflite (the same full int8 with the
converter's default float32 input and output). A file already present is kept (the ctest caches
them in its build directory).
input_ranges.json records the float input range each model expects (its calibration data and
the ctest's float inputs are uniform in it).
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_keras_models16  # noqa: E402

A = keras.applications
S96 = (96, 96, 3)
# name: (constructor, the input range its own preprocessing expects). MobileNet and MobileNetV2
# take preprocess_input's [-1, 1]; MobileNetV3 and EfficientNet rescale pixels [0, 255]
# themselves; ResNet50 takes caffe-style mean-subtracted BGR, about [-124, 152]. The batch-norm
# calibration, the representative dataset and the ctest's float inputs are uniform in it.
MODELS = {
    "mobilenet": (lambda: A.MobileNet(input_shape=S96, alpha=0.25, weights=None, classes=2),
                  (-1.0, 1.0)),
    "mobilenetv2": (lambda: A.MobileNetV2(input_shape=S96, alpha=0.35, weights=None, classes=2),
                    (-1.0, 1.0)),
    "mobilenetv3small_min": (lambda: A.MobileNetV3Small(input_shape=S96, minimalistic=True,
                                                        weights=None, classes=2), (0.0, 255.0)),
    "mobilenetv3small": (lambda: A.MobileNetV3Small(input_shape=S96, weights=None, classes=2),
                         (0.0, 255.0)),
    "mobilenetv3large_min": (lambda: A.MobileNetV3Large(input_shape=S96, minimalistic=True,
                                                        weights=None, classes=2), (0.0, 255.0)),
    "efficientnetb0": (lambda: A.EfficientNetB0(input_shape=S96, weights=None, classes=2),
                       (0.0, 255.0)),
    "resnet50": (lambda: A.ResNet50(input_shape=(64, 64, 3), weights=None, classes=2),
                 (-124.0, 152.0)),
    # issue 16's sequence models (make_keras_models16.py): the converter's EXPAND_DIMS / CONV_2D /
    # SQUEEZE lowering of Conv1D, DepthwiseConv1D, SeparableConv1D and the 1-D pools
    "ds_cnn": (lambda: make_keras_models16.ds_cnn(), (-2.0, 2.0)),
    "accel": (lambda: make_keras_models16.accel(), (-2.0, 2.0)),
    # issue 16's two-output model: a softmax head before the last layer and a regression head
    "two_head": (lambda: make_keras_models16.two_head(), (0.0, 1.0)),
    # and its image models: Concatenate, SeparableConv2D, UpSampling2D, Conv2DTranspose, a
    # per-pixel softmax, an autoencoder
    "inception": (lambda: make_keras_models16.inception(), (0.0, 1.0)),
    "xception": (lambda: make_keras_models16.xception(), (0.0, 1.0)),
    "unet": (lambda: make_keras_models16.unet(), (0.0, 1.0)),
    "segmenter": (lambda: make_keras_models16.segmenter(), (0.0, 1.0)),
    "autoencoder": (lambda: make_keras_models16.autoencoder(), (0.0, 1.0)),
}


KINDS = ("f32", "int8", "int8f")


def rep_data(shape, lo, hi, n=16, seed=15):
    rng = np.random.default_rng(seed)

    def gen():
        for _ in range(n):
            yield [rng.uniform(lo, hi, (1,) + tuple(shape)).astype(np.float32)]
    return gen


def calibrate_batch_norm(model, lo, hi, seed=16):
    """Sets every BatchNormalization's moving statistics to those of one batch of 32 inputs.
    With Keras's initial statistics (mean 0, variance 1) the activations of a random-weight
    network shrink layer by layer to about 1e-10: its logits no longer depend on the input and
    the int8 converter gives them scales near its 1e-6 floor, where TFLite's SOFTMAX aborts."""
    x = np.random.default_rng(seed).uniform(lo, hi, (32,) + tuple(model.input_shape[1:]))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(x.astype(np.float32), training=True)


def convert(model, kind, lo, hi):
    """kind f32: float32; int8: full int8 with int8 input and output; int8f: full int8 inside,
    float32 input and output (QUANTIZE and DEQUANTIZE at the ends)."""
    c = tf.lite.TFLiteConverter.from_keras_model(model)
    if kind != "f32":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = rep_data(model.input_shape[1:], lo, hi)
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if kind == "int8":
            c.inference_input_type = tf.int8
            c.inference_output_type = tf.int8
    return c.convert()


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_converter_models.py OUT_DIR [NAME...]")
    out = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "input_ranges.json"), "w") as f:
        json.dump({n: MODELS[n][1] for n in MODELS}, f)
    for name in names:
        paths = {q: os.path.join(out, f"{name}_{q}.tflite") for q in KINDS}
        if all(os.path.exists(p) for p in paths.values()):
            continue
        keras.utils.set_random_seed(15)
        make, (lo, hi) = MODELS[name]
        model = make()
        calibrate_batch_norm(model, lo, hi)
        for q, p in paths.items():
            if os.path.exists(p):
                continue
            data = convert(model, q, lo, hi)
            with open(p + ".tmp", "wb") as f:
                f.write(data)
            os.replace(p + ".tmp", p)
            print(f"wrote {p} ({len(data)} bytes)", flush=True)


if __name__ == "__main__":
    main()
