#!/usr/bin/env python3
"""Writes issue 16's acceptance models with a real Keras, random weights (run at test time by
test_acceptance16.py, with tensorflow + keras 3):

    .venv-keras/bin/python tests/acceptance/make_keras_models16.py OUT_DIR

OUT_DIR/inception.keras  an Inception-style classifier (Keras 3 archive): a Conv-BN-ReLU stem,
                         two blocks of 1x1 / 1x1-3x3 / pool-1x1 branches joined by Concatenate
                         (the second along channels written as axis 3), GlobalAveragePooling2D,
                         Dense logits
OUT_DIR/unet.h5          a small U-Net-like model (legacy HDF5): an encoder of two conv + pool
                         stages, a decoder of UpSampling2D (nearest, then bilinear) and a strided
                         Conv2DTranspose (SAME, ReLU) joined to the encoder's features by
                         Concatenate (skip connections), a VALID Conv2DTranspose-BN-ReLU, and a
                         classification head (GlobalAveragePooling2D, Dense)
OUT_DIR/xception.keras, xception_h5.h5  an Xception-style classifier (both formats): a strided
                         Conv-BN-ReLU stem, SeparableConv2D-BN-ReLU, SeparableConv2D (depth_multiplier
                         2)-BN, MaxPooling2D, a residual Add with a strided 1x1 Conv-BN, a
                         SeparableConv2D with a ReLU activation, GlobalAveragePooling2D, Dense logits
OUT_DIR/ds_cnn.keras     a DS-CNN keyword spotter on [49, 10] MFCC frames, 12 classes: a strided Conv1D-BN-ReLU,
                         two depthwise-separable blocks (DepthwiseConv1D-BN-ReLU, pointwise Conv1D-BN-ReLU),
                         AveragePooling1D, GlobalAveragePooling1D, Dense logits
OUT_DIR/accel.h5         an accelerometer model on [128, 3] (legacy HDF5), 6 classes: Conv1D (VALID,
                         stride 2, ReLU), MaxPooling1D, SeparableConv1D (SAME, ReLU), a dilated Conv1D, a
                         Dense over the last axis of the sequence, GlobalMaxPooling1D, Dense logits
OUT_DIR/segmenter.h5     (compiled with a SparseCategoricalCrossentropy object) a small U-Net segmenter with a per-pixel softmax over 4 classes: encoder conv + pool,
                         UpSampling2D, Concatenate with the encoder's features, a Conv2DTranspose,
                         a 1x1 conv with activation softmax (output [16, 16, 4])
OUT_DIR/autoencoder.keras a convolutional autoencoder on [16, 16, 1], compiled with loss "mse": two strided
                         Conv2D, two strided Conv2DTranspose, a linear 3x3 Conv2D (output [16, 16, 1])
OUT_DIR/two_head.keras   two outputs (compiled with a loss and a weight per output): a softmax class head
                         and a linear 2-value head on shared conv features (the first output is not the
                         last layer)
OUT_DIR/two_16x16x3.npz  the images with y_<part>_cls labels and y_<part>_box values (one array per output)
OUT_DIR/data_16x16x3.npz synthetic uint8 images and labels (make_models.data, seeded)
OUT_DIR/seg_16x16x3.npz  the same images with label maps [N, 16, 16] of 4 classes (bright blobs)
OUT_DIR/ae_16x16x1.npz   grayscale images and, as targets, the same images / 255 (float32)
OUT_DIR/seq_49x10.npz, seq_128x3.npz  smooth synthetic float32 sequences and labels
OUT_DIR/<name>_x.npy, <name>_y.npy  Keras's own outputs (model.predict) for x_test / 255

Keras's own initializers (glorot kernels; BatchNormalization's moving statistics are drawn at
random so that the folded batch norm is not an identity), seed 16."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models  # noqa: E402

SHAPE = (16, 16, 3)


def inception():
    inp = keras.Input(SHAPE, name="input")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for k, axis in enumerate([-1, 3]):
        b1 = layers.Conv2D(8, 1, activation="relu", name=f"m{k}_1x1")(x)
        b2 = layers.Conv2D(6, 1, activation="relu", name=f"m{k}_3x3_reduce")(x)
        b2 = layers.Conv2D(8, 3, padding="same", activation="relu", name=f"m{k}_3x3")(b2)
        b3 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"m{k}_pool")(x)
        b3 = layers.Conv2D(4, 1, activation="relu", name=f"m{k}_pool_proj")(b3)
        x = layers.Concatenate(axis=axis, name=f"m{k}_concat")([b1, b2, b3])
        if k == 0:
            x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(10, name="logits")(x)
    return keras.Model(inp, x, name="inception")


def xception():
    inp = keras.Input(SHAPE, name="input")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    r = layers.Conv2D(16, 1, strides=2, padding="same", use_bias=False, name="res")(x)
    r = layers.BatchNormalization(name="res_bn")(r)
    y = layers.SeparableConv2D(16, 3, padding="same", use_bias=False, name="sep1")(x)
    y = layers.BatchNormalization(name="sep1_bn")(y)
    y = layers.ReLU(name="sep1_relu")(y)
    y = layers.SeparableConv2D(16, 3, padding="same", depth_multiplier=2, use_bias=False, name="sep2")(y)
    y = layers.BatchNormalization(name="sep2_bn")(y)
    y = layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(y)
    x = layers.Add(name="add")([y, r])
    x = layers.SeparableConv2D(24, 3, padding="same", activation="relu", name="sep3")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(10, name="logits")(x)
    return keras.Model(inp, x, name="xception")


def unet():
    inp = keras.Input(SHAPE, name="input")
    e1 = layers.Conv2D(8, 3, padding="same", activation="relu", name="enc1")(inp)
    p1 = layers.MaxPooling2D(2, name="pool1")(e1)
    e2 = layers.Conv2D(12, 3, padding="same", activation="relu", name="enc2")(p1)
    p2 = layers.MaxPooling2D(2, name="pool2")(e2)
    mid = layers.Conv2D(16, 3, padding="same", activation="relu", name="mid")(p2)
    u2 = layers.UpSampling2D(2, name="up2")(mid)
    # learned upsampling beside the nearest one: a strided Conv2DTranspose (SAME, fused ReLU)
    t2 = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu", name="up2t")(mid)
    d2 = layers.Concatenate(name="skip2")([u2, t2, e2])
    d2 = layers.Conv2D(12, 3, padding="same", activation="relu", name="dec2")(d2)
    u1 = layers.UpSampling2D((2, 2), interpolation="bilinear", name="up1")(d2)
    d1 = layers.Concatenate(name="skip1")([u1, e1])
    d1 = layers.Conv2D(8, 3, padding="same", activation="relu", name="dec1")(d1)
    # a VALID Conv2DTranspose with a batch norm folded into it and a ReLU after (16 -> 17)
    d1 = layers.Conv2DTranspose(8, 2, padding="valid", use_bias=False, name="dect")(d1)
    d1 = layers.BatchNormalization(name="dect_bn")(d1)
    d1 = layers.ReLU(name="dect_relu")(d1)
    x = layers.GlobalAveragePooling2D(name="gap")(d1)
    x = layers.Dense(10, name="logits")(x)
    return keras.Model(inp, x, name="unet")


def ds_cnn():
    inp = keras.Input((49, 10), name="input")
    x = layers.Conv1D(24, 5, strides=2, padding="same", use_bias=False, name="stem")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for k in range(2):
        x = layers.DepthwiseConv1D(3, padding="same", use_bias=False, name=f"dw{k}")(x)
        x = layers.BatchNormalization(name=f"dw{k}_bn")(x)
        x = layers.ReLU(name=f"dw{k}_relu")(x)
        x = layers.Conv1D(24, 1, use_bias=False, name=f"pw{k}")(x)
        x = layers.BatchNormalization(name=f"pw{k}_bn")(x)
        x = layers.ReLU(name=f"pw{k}_relu")(x)
    x = layers.AveragePooling1D(2, name="pool")(x)
    x = layers.GlobalAveragePooling1D(name="gap")(x)
    x = layers.Dense(12, name="logits")(x)
    return keras.Model(inp, x, name="ds_cnn")


def accel(per_step=True):
    """per_step False leaves out the Dense over the sequence, which the TF converter lowers through
    SHAPE / GATHER / ... that qat's runtime does not run (make_converter_models.py's variant)."""
    inp = keras.Input((128, 3), name="input")
    x = layers.Conv1D(16, 7, strides=2, activation="relu", name="conv")(inp)
    x = layers.MaxPooling1D(2, name="pool")(x)
    x = layers.SeparableConv1D(24, 5, padding="same", activation="relu", name="sep")(x)
    x = layers.Conv1D(16, 3, dilation_rate=2, padding="same", activation="relu", name="dilated")(x)
    if per_step:
        x = layers.Dense(12, activation="relu", name="per_step")(x)
    x = layers.GlobalMaxPooling1D(name="gmp")(x)
    x = layers.Dense(6, name="logits")(x)
    return keras.Model(inp, x, name="accel")


def segmenter():
    inp = keras.Input(SHAPE, name="input")
    e1 = layers.Conv2D(8, 3, padding="same", activation="relu", name="enc1")(inp)
    p1 = layers.MaxPooling2D(2, name="pool1")(e1)
    mid = layers.Conv2D(12, 3, padding="same", activation="relu", name="mid")(p1)
    u1 = layers.UpSampling2D(2, name="up1")(mid)
    t1 = layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu", name="up1t")(mid)
    d1 = layers.Concatenate(name="skip1")([u1, t1, e1])
    d1 = layers.Conv2D(8, 3, padding="same", activation="relu", name="dec1")(d1)
    out = layers.Conv2D(4, 1, activation="softmax", name="classes")(d1)
    return keras.Model(inp, out, name="segmenter")


def autoencoder():
    inp = keras.Input((16, 16, 1), name="input")
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="enc1")(inp)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="enc2")(x)
    x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu", name="dec1")(x)
    x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu", name="dec2")(x)
    x = layers.Conv2D(1, 3, padding="same", name="recon")(x)
    return keras.Model(inp, x, name="autoencoder")


def two_head():
    """Two outputs, the first not the last layer: a softmax classifier ("cls", 4 classes) and a
    linear regression head ("box", 2 values) on shared features."""
    inp = keras.Input(SHAPE, name="input")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    f = layers.GlobalAveragePooling2D(name="gap")(x)
    cls = layers.Dense(4, activation="softmax", name="cls")(f)
    box = layers.Dense(2, name="box")(f)
    return keras.Model(inp, [cls, box], name="two_head")


def two_head_data(out, data):
    """The images with a class (4, by mean brightness) and two regression targets each (the red
    minus the green mean, the blue mean, in [0, 1] units)."""
    d = np.load(os.path.join(out, data))
    z = {}
    for part in ("train", "test"):
        x = d[f"x_{part}"]
        m = x.reshape(len(x), -1, 3).mean(axis=1) / 255.0
        z[f"x_{part}"] = x
        z[f"y_{part}_cls"] = np.minimum(x.mean(axis=(1, 2, 3)) // 64, 3).astype(np.int64)
        z[f"y_{part}_box"] = np.stack([m[:, 0] - m[:, 1], m[:, 2]], axis=1).astype(np.float32)
    np.savez(os.path.join(out, "two_16x16x3.npz"), **z)


def label_maps(out, data):
    """The images of `data` with a label map each: 4 classes by brightness (what a segmenter can
    learn), and a grayscale copy with its own pixels as regression targets."""
    d = np.load(os.path.join(out, data))
    z = {}
    for part in ("train", "test"):
        x = d[f"x_{part}"]
        z[f"x_{part}"], z[f"y_{part}"] = x, np.minimum(x.mean(axis=3) // 64, 3).astype(np.int64)
    np.savez(os.path.join(out, "seg_16x16x3.npz"), **z)
    g = {}
    for part in ("train", "test"):
        gray = d[f"x_{part}"].mean(axis=3, keepdims=True).astype(np.uint8)
        g[f"x_{part}"], g[f"y_{part}"] = gray, gray.astype(np.float32) / 255.0
    np.savez(os.path.join(out, "ae_16x16x1.npz"), **g)
    return g["x_test"].astype(np.float32) / 255.0


def sequences(out, steps, channels, classes, n_train=256, n_test=256, seed=16):
    """Smooth signals (a few random sinusoids per channel) plus noise, float32, and labels."""
    r = np.random.default_rng(seed)
    t = np.arange(steps, dtype=np.float32)[None, :, None]

    def seqs(n):
        f = r.uniform(0.02, 0.3, size=(n, 1, channels)).astype(np.float32)
        ph = r.uniform(0, 6.3, size=(n, 1, channels)).astype(np.float32)
        a = r.uniform(0.5, 2.0, size=(n, 1, channels)).astype(np.float32)
        return (a * np.sin(f * t + ph) + r.normal(0, 0.1, size=(n, steps, channels))).astype(np.float32)
    name = f"seq_{steps}x{channels}.npz"
    np.savez(os.path.join(out, name), x_train=seqs(n_train), y_train=r.integers(0, classes, n_train),
             x_test=seqs(n_test), y_test=r.integers(0, classes, n_test))
    return name


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(16)
    data = make_models.data(out, SHAPE, n_train=256, n_test=256, seed=16)
    images = np.load(os.path.join(out, data))["x_test"].astype(np.float32) / 255.0
    r = np.random.default_rng(16)
    xs = {(16, 16, 1): label_maps(out, data)}
    two_head_data(out, data)
    for steps, channels, classes in ((49, 10, 12), (128, 3, 6)):
        name = sequences(out, steps, channels, classes)
        xs[(steps, channels)] = np.load(os.path.join(out, name))["x_test"]
    for name, model, ext in (("inception", inception(), ".keras"), ("unet", unet(), ".h5"),
                             ("xception", xception(), ".keras"), ("xception_h5", xception(), ".h5"),
                             ("ds_cnn", ds_cnn(), ".keras"), ("accel", accel(), ".h5"),
                             ("segmenter", segmenter(), ".h5"), ("autoencoder", autoencoder(), ".keras"),
                             ("two_head", two_head(), ".keras")):
        x = xs.get(tuple(model.inputs[0].shape[1:]), images)
        for layer in model.layers:
            if isinstance(layer, layers.BatchNormalization):
                g, b, mu, var = layer.get_weights()
                layer.set_weights([r.uniform(0.5, 1.5, g.shape), r.uniform(-0.2, 0.2, b.shape),
                                   r.uniform(-0.2, 0.2, mu.shape), r.uniform(0.5, 1.5, var.shape)])
        if name == "autoencoder":  # compiled: qat import takes the loss from the file
            model.compile(optimizer="adam", loss="mse")
        if name == "segmenter":  # a loss object, in the legacy .h5's training_config
            model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy())
        if name == "two_head":  # one loss and weight per output, by output name
            model.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy", "box": "mse"},
                          loss_weights={"cls": 1.0, "box": 0.5})
        model.save(os.path.join(out, name + ext))
        np.save(os.path.join(out, name + "_x.npy"), x)
        y = model.predict(x, verbose=0)
        if isinstance(y, (list, tuple)):  # several outputs: side by side per sample, in order
            y = np.concatenate([v.reshape(len(x), -1) for v in y], axis=1)
        np.save(os.path.join(out, name + "_y.npy"), y)
        print(f"{name}{ext}: {model.count_params()} parameters")
    print(f"keras {keras.__version__}")


if __name__ == "__main__":
    main()
