"""The Python binding end to end: train a tiny QAT model from a config on the user's own
arrays (.npy), float and fake-quant forward, export, qat's runtime, the parity report."""
import os

import numpy as np
import pytest

import qat

CONFIG = """
model:
  input: [8, 8, 1]
  layers:
    - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
    - Flatten: {}
    - Dense: {units: 3}
data: {dataset: npy, x: x.npy, y: y.npy, test_x: tx.npy, test_y: ty.npy}
quantize: {mode: qat}
train: {epochs: 2, batch_size: 16, seed: 4, optimizer: {name: adam, learning_rate: 0.01}}
"""


def make_data(rng, n):
    """Three classes: a bright block top-left, bottom-right, or none."""
    y = rng.integers(0, 3, size=n)
    x = rng.random((n, 8, 8, 1), dtype=np.float32) * 0.2
    x[y == 0, :4, :4, 0] += 0.8
    x[y == 1, 4:, 4:, 0] += 0.8
    return x.astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("pyqat")
    rng = np.random.default_rng(0)
    x, y = make_data(rng, 256)
    tx, ty = make_data(rng, 96)
    for name, a in (("x", x), ("y", y), ("tx", tx), ("ty", ty)):
        np.save(d / f"{name}.npy", a)
    (d / "c.yaml").write_text(CONFIG)
    summary = qat.train(str(d / "c.yaml"), out_dir=str(d / "run"), log_every=4)
    return d, summary, tx, ty


def test_version():
    assert qat.version().count(".") == 2


def test_train(run):
    d, s, _, _ = run
    assert s["epochs"] == 2 and s["steps"] == 32
    assert os.path.exists(s["checkpoint"])
    assert s["test_accuracy"] > 0.8, s
    assert "float_test_accuracy" in s
    assert (d / "run" / "steps.csv").exists()


def test_forward(run):
    _, s, tx, ty = run
    with qat.Net(s["checkpoint"]) as net:
        assert net.input_shape == (8, 8, 1) and net.num_classes == 3 and net.quantized
        f = net.forward(tx)
        q = net.forward(tx, fake_quant=True)
    assert f.shape == (96, 3) and q.shape == (96, 3)
    assert np.mean(np.argmax(f, 1) == ty) > 0.8
    assert not np.array_equal(f, q)          # fake quant changes the numbers
    assert np.mean(np.argmax(f, 1) == np.argmax(q, 1)) > 0.9


def test_export_run_and_parity(run):
    d, s, tx, ty = run
    path = qat.export(s["checkpoint"], str(d / "m.tflite"), mode="int8")
    m = qat.Model(path)
    i = m.inputs[0]
    assert i["dtype"] == np.int8 and i["shape"] == (1, 8, 8, 1)
    scale, zp = i["quantization"]
    xq = np.clip(np.round(tx / scale) + zp, -128, 127).astype(np.int8)
    out = m.run(xq)
    assert out.shape == (96, 3) and out.dtype == np.int8
    acc_int8 = np.mean(np.argmax(out, 1) == ty)
    rep = qat.parity(s["checkpoint"], path, tx, ty)
    assert rep["samples"] == 96
    assert abs(rep["int8_accuracy"] - acc_int8) < 1e-9
    assert rep["top1_agreement"] > 0.95
    assert any(layer["output"] for layer in rep["layers"])
    assert m.arena_bytes > 0
    tflm = qat.Model(path, flavor="tflm").run(xq)
    assert tflm.shape == out.shape


def test_errors(run, tmp_path):
    d, s, _, _ = run
    with pytest.raises(qat.QatError, match="nothing.yaml"):
        qat.train(str(tmp_path / "nothing.yaml"))
    with pytest.raises(qat.QatError, match="mode"):
        qat.export(s["checkpoint"], str(tmp_path / "x.tflite"), mode="int4")
    (tmp_path / "bad.tflite").write_bytes(b"not a model")
    with pytest.raises(qat.QatError, match="bad.tflite"):
        qat.Model(str(tmp_path / "bad.tflite"))
    with pytest.raises(ValueError):
        qat.Net(s["checkpoint"]).forward(np.zeros(7, np.float32))
