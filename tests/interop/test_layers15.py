#!/usr/bin/env python3
"""Issue 15's layers against the official interpreter (ctest interop_layers15; tests/layers15.cmake).

1. The Keras fixtures of tests/fixtures/layers15 (written by a real Keras, make_fixtures.py
   there), imported from .h5 and .keras and exported float32, float16 and dynamic: the official
   interpreter's outputs on the 16 stored inputs against Keras's own (float32 and dynamic
   within 1e-4, float16 within 2e-3).
2. act_int8, se_block and se_keepdims fine-tuned quant-aware (one short epoch on synthetic images) and
   exported int8 (int8, uint8 and float32 I/O): the interpreter's outputs (BUILTIN_REF kernels)
   on 128 inputs equal the fake-quant model's (`qat predict --outputs`) exactly; act_int8's
   int16x8 export refuses HARD_SWISH by layer and mode, se_block's runs (checked as in 3).
3. One small model per activation (Conv2D, Dense, then the activation as the last layer, so
   its own requantization is the output): int8 bit-exact as above; int16x8 loads and runs, and
   (the fake-quant model simulates int8 only; both files share the int8 weights) is no farther
   from the float32 export than the int8 file plus one int8 output step.
4. The "activations" fixture (hard_sigmoid, elu) fine-tuned and exported int8: refused, naming
   the layer and the mode.

    python3 tests/interop/test_layers15.py --qat build/qat --work build
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FIX = os.path.join(ROOT, "tests", "fixtures", "layers15")
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")


def reexec_in_venv():
    try:
        import numpy  # noqa: F401
        import ai_edge_litert  # noqa: F401
        return
    except ImportError:
        pass
    if sys.prefix == sys.base_prefix and os.path.exists(VENV_PY):
        os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])
    print("skip: the official interpreter (ai_edge_litert) and numpy do not import; run scripts/setup.sh")
    sys.exit(77)


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, what):
        self.passed += bool(ok)
        self.failed += not ok
        print(f"  {'ok' if ok else 'FAIL'}: {what}")


def run(cmd, ok=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if ok and r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)}: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def interpret(path, x, resolver="BUILTIN_REF"):
    """Outputs of the file on the float inputs x, quantized at the input and dequantized at the
    output as their parameters say; also the raw integers when the output is quantized."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_path=path, experimental_op_resolver_type=getattr(OpResolverType, resolver))
    it.allocate_tensors()
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    s, zp = di["quantization"]
    so, zo = do["quantization"]
    raw = []
    for i in range(len(x)):
        v = x[i:i + 1]
        if di["dtype"] != np.float32:
            info = np.iinfo(di["dtype"])
            v = np.clip(np.round(v / np.float32(s)) + zp, info.min, info.max).astype(di["dtype"])
        it.set_tensor(di["index"], v)
        it.invoke()
        raw.append(it.get_tensor(do["index"])[0].copy())
    raw = np.array(raw)
    if do["dtype"] == np.float32:
        return raw, None, (so, zo)
    return (raw.astype(np.float32) - zo) * np.float32(so), raw.astype(np.int64), (so, zo)


def runtime_equal(qat, path, x, work):
    """`qat run --batch` on the inputs the interpreter was fed: its outputs byte for byte."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    feed = x.astype(np.float32)
    if di["dtype"] != np.float32:
        s, zp = di["quantization"]
        info = np.iinfo(di["dtype"])
        feed = np.clip(np.round(feed / np.float32(s)) + zp, info.min, info.max).astype(di["dtype"])
    ref = []
    for i in range(len(feed)):
        it.set_tensor(di["index"], feed[i:i + 1])
        it.invoke()
        ref.append(it.get_tensor(do["index"])[0].copy())
    xin, yout = os.path.join(work, "rt_in.raw"), os.path.join(work, "rt_out.raw")
    feed.tofile(xin)
    r = run([qat, "run", path, "--batch", str(len(feed)), "--input", xin, "--output", yout], ok=False)
    if r.returncode != 0:
        print(f"  qat run {os.path.basename(path)}: {r.stderr.strip()}")
        return False
    mine = np.fromfile(yout, dtype=do["dtype"]).reshape(len(feed), -1)
    return bool(np.array_equal(mine, np.array(ref).reshape(len(feed), -1)))


def fake_quant_outputs(qat, ckpt, xpath):
    import numpy as np
    out = run([qat, "predict", ckpt, xpath, "--outputs"]).stdout
    return np.array([json.loads(line)["outputs"] for line in out.splitlines() if line.startswith("{")], np.float64)


def synthetic(work, shape, n_train=128, n_test=32, classes=4, seed=15):
    """Smooth random images [H, W, C] or sequences [T, C] (uint8; qat's loader scales them to
    [0, 1]) and labels."""
    work = os.path.join(work, "data_" + "x".join(str(d) for d in shape))
    os.makedirs(work, exist_ok=True)
    import numpy as np
    r = np.random.default_rng(seed)

    def imgs(n):
        up = r.integers(0, 256, size=(n,) + (1,) * (len(shape) - 1) + (shape[-1],)).astype(np.float32)
        for axis, size in enumerate(shape[:-1]):
            up = up.repeat(size, axis=axis + 1)
        return np.clip(up + r.normal(0, 40, size=up.shape), 0, 255).astype(np.uint8)
    path = os.path.join(work, "data.npz")
    np.savez(path, x_train=imgs(n_train), y_train=r.integers(0, classes, n_train), x_test=imgs(n_test),
             y_test=r.integers(0, classes, n_test))
    x = imgs(128).astype(np.float32) / np.float32(255)
    np.save(os.path.join(work, "x.npy"), x)
    return path, x


TRAIN = ("data: {dataset: npy, path: %s}\nquantize: {mode: qat}\n"
         "train: {epochs: 1, batch_size: 8, seed: 1, optimizer: {name: adam, learning_rate: 0.001}}\n")


def fine_tune(qat, work, name, model_yaml, data):
    cfg = os.path.join(work, name + ".yaml")
    with open(cfg, "w") as f:
        f.write(model_yaml + TRAIN % data)
    run([qat, "train", cfg, "--out", os.path.join(work, name), "--threads", "2"])
    return os.path.join(work, name, "checkpoint.h5")


def parity(c, qat, ckpt, tfl, x, xpath, what):
    import numpy as np
    fq = fake_quant_outputs(qat, ckpt, xpath)
    got, q, (so, zo) = interpret(tfl, x)
    if q is None:  # float32 I/O: the DEQUANTIZE of the int8 output, the same float values
        d = np.abs(got - fq)
        c.check(len(fq) == len(x) and d.max() <= 1e-6 * max(1.0, float(np.abs(fq).max())),
                f"{what}: {len(x)} inputs, max |interpreter - fake-quant| = {d.max():.3g}")
        return
    d = np.abs(q - (np.round(fq / so).astype(np.int64) + zo))
    c.check(len(fq) == len(x) and d.max() == 0,
            f"{what}: {len(x)} inputs, {100 * np.mean(d == 0):.2f} % of outputs equal the fake-quant model's, "
            f"max {d.max()} LSB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qat", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    reexec_in_venv()
    import numpy as np
    c = Checks()
    qat = os.path.abspath(a.qat)
    work = os.path.join(os.path.abspath(a.work), "interop_layers15")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    # 1. float modes against Keras
    for name in ("activations", "act_int8", "se_block", "se_keepdims", "softmax_slope", "sub_block", "pad_pool",
                 "rescale_same", "norm_stem", "norm_pool", "hard_se", "crop", "dilated", "add_bcast", "max_min",
                 "prelu", "prelu_seq", "relu_cap", "relu_threshold", "upsample_seq", "causal_seq"):
        x = np.load(os.path.join(FIX, name + ".x.npy"))
        y = np.load(os.path.join(FIX, name + ".y.npy"))
        for ext in ("h5", "keras"):
            imp = os.path.join(work, f"{name}_{ext}")
            run([qat, "import", os.path.join(FIX, f"{name}.{ext}"), "-o", imp])
            for mode, tol in (("float32", 1e-4), ("float16", 2e-3), ("dynamic", 1e-4)):
                tfl = os.path.join(imp, mode + ".tflite")
                run([qat, "export", os.path.join(imp, "checkpoint.h5"), "--mode", mode, "-o", tfl])
                # ELU has no kernel in the reference op resolver: the default one then
                got, _, _ = interpret(tfl, x, "BUILTIN" if name == "activations" else "BUILTIN_REF")
                err = float(np.abs(got - y).max())
                c.check(err <= tol, f"{name}.{ext} {mode}: max |interpreter - keras| = {err:.3g} (<= {tol:g})")

    # 1b. a model saved with unknown input dimensions: refused with a hint, then sized on the
    # command line (a dimension the file fixes must agree)
    x = np.load(os.path.join(FIX, "none_input.x.npy"))
    y = np.load(os.path.join(FIX, "none_input.y.npy"))
    for ext in ("h5", "keras"):
        src, imp = os.path.join(FIX, f"none_input.{ext}"), os.path.join(work, f"none_input_{ext}")
        r = run([qat, "import", src, "-o", imp], ok=False)
        err = r.stderr.strip().splitlines()[0] if r.stderr.strip() else ""
        c.check(r.returncode != 0 and "unknown (None)" in err and "--input-shape" in err,
                f"none_input.{ext} without a size refused: {err}")
        r = run([qat, "import", src, "-o", imp, "--input-shape", "10,10,1"], ok=False)
        err = r.stderr.strip().splitlines()[0] if r.stderr.strip() else ""
        c.check(r.returncode != 0 and "dimension 3 is 3 in the file" in err, f"none_input.{ext} 1 channel refused: {err}")
        run([qat, "import", src, "-o", imp, "--input-shape", "10,10,3"])
        tfl = os.path.join(imp, "float32.tflite")
        run([qat, "export", os.path.join(imp, "checkpoint.h5"), "--mode", "float32", "-o", tfl])
        got, _, _ = interpret(tfl, x)
        err = float(np.abs(got - y).max())
        c.check(err <= 1e-4, f"none_input.{ext} sized 10x10x3: max |interpreter - keras| = {err:.3g}")

    # 2. QAT fine-tune, int8 parity with every I/O type; int16x8 where it exports, else a refusal
    for name in ("act_int8", "se_block", "se_keepdims", "sub_block", "pad_pool", "rescale_same", "norm_stem",
                 "norm_pool", "hard_se", "crop", "dilated", "add_bcast", "max_min", "prelu", "prelu_seq",
                 "relu_cap", "relu_threshold", "upsample_seq", "causal_seq"):
        shape = {"se_keepdims": (9, 9, 3), "pad_pool": (16, 16, 3), "rescale_same": (12, 12, 3),
                 "norm_stem": (12, 12, 3), "norm_pool": (10, 10, 2), "crop": (10, 10, 3),
                 "dilated": (12, 12, 3), "prelu_seq": (16, 3),
                 "upsample_seq": (16, 3), "causal_seq": (16, 3)}.get(name, (8, 8, 3))
        data, x = synthetic(work, shape)
        xpath = os.path.join(os.path.dirname(data), "x.npy")
        with open(os.path.join(work, f"{name}_keras", "model.yaml")) as f:
            text = "".join(line for line in f if not line.startswith("#"))
        ckpt = fine_tune(qat, work, f"{name}_qat", text, data)
        for io in ("int8", "uint8", "float32"):
            tfl = os.path.join(work, f"{name}_{io}.tflite")
            run([qat, "export", ckpt, "--mode", "int8", "--io", io, "-o", tfl])
            parity(c, qat, ckpt, tfl, x, xpath, f"{name} int8 ({io} I/O)")
        c.check(runtime_equal(qat, os.path.join(work, f"{name}_int8.tflite"), x, work),
                f"{name} int8: qat run equals the interpreter byte for byte on {len(x)} inputs")
        tfl16 = os.path.join(work, f"{name}_int16x8.tflite")
        r = run([qat, "export", ckpt, "--mode", "int16x8", "-o", tfl16], ok=False)
        err = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        if name in ("act_int8", "hard_se"):
            what = "dw_hard_silu" if name == "act_int8" else "hswish"
            c.check(r.returncode != 0 and what in err and "int16x8" in err and "hard_silu" in err,
                    f"{name} int16x8 refused: {err}")
            continue
        c.check(r.returncode == 0, f"{name} int16x8 exported {err}")
        if r.returncode == 0:
            c.check(runtime_equal(qat, tfl16, x, work),
                    f"{name} int16x8: qat run equals the interpreter byte for byte on {len(x)} inputs")
        tfl32 = os.path.join(work, f"{name}_float32.tflite")
        run([qat, "export", ckpt, "--mode", "float32", "-o", tfl32])
        ref, _, _ = interpret(tfl32, x)
        got8, _, (s8, _) = interpret(os.path.join(work, f"{name}_int8.tflite"), x)
        got16, _, _ = interpret(tfl16, x)
        e8, e16 = float(np.abs(got8 - ref).max()), float(np.abs(got16 - ref).max())
        c.check(e16 <= e8 + s8, f"{name} int16x8: max |int16x8 - float32| = {e16:.3g}, int8's {e8:.3g}")

    data, x = synthetic(work, (8, 8, 3))
    xpath = os.path.join(os.path.dirname(data), "x.npy")

    # 3. one activation at a time as the model output
    for act in ("sigmoid", "tanh", "silu", "hard_silu", "leaky_relu", "hard_sigmoid"):
        model = ("model:\n  input: [8, 8, 3]\n  layers:\n    - Conv2D: {filters: 4, kernel_size: 3, strides: 2}\n"
                 "    - Flatten\n    - Dense: {units: 4}\n    - Activation: {activation: %s}\n" % act)
        ck = fine_tune(qat, work, "only_" + act, model, data)
        tfl = os.path.join(work, f"only_{act}_int8.tflite")
        run([qat, "export", ck, "--mode", "int8", "-o", tfl])
        parity(c, qat, ck, tfl, x, xpath, f"{act} as the output, int8")
        if act == "hard_silu":
            continue
        tfl16 = os.path.join(work, f"only_{act}_int16.tflite")
        run([qat, "export", ck, "--mode", "int16x8", "-o", tfl16])
        tfl32 = os.path.join(work, f"only_{act}_float32.tflite")
        run([qat, "export", ck, "--mode", "float32", "-o", tfl32])
        ref, _, _ = interpret(tfl32, x)
        got8, _, (s8, _) = interpret(tfl, x)
        got16, _, _ = interpret(tfl16, x)
        e8, e16 = float(np.abs(got8 - ref).max()), float(np.abs(got16 - ref).max())
        c.check(e16 <= e8 + s8, f"{act} int16x8: max |int16x8 - float32| = {e16:.3g}, int8's {e8:.3g}")

    # 3b. Add of 3 inputs, one [N,1,1,C] broadcast, before a fused ReLU: the chain of two-input ADDs
    # the integer modes write, each partial sum with a quantizer of its own
    model = ("model:\n  input: [8, 8, 3]\n  layers:\n"
             "    - Conv2D: {name: a, filters: 4, kernel_size: 3, padding: same}\n"
             "    - Conv2D: {name: b, filters: 4, kernel_size: 3, padding: same, inputs: [input]}\n"
             "    - GlobalAveragePooling2D: {name: g, keepdims: true, inputs: [a]}\n"
             "    - Add: {name: sum3, inputs: [g, a, b]}\n"
             "    - ReLU: {name: relu}\n"
             "    - GlobalAveragePooling2D: {name: gap}\n"
             "    - Dense: {units: 4}\n")
    # ... and Multiply of 3, two of them [N,1,1,C] (a broadcast partial product; no ReLU after it,
    # which only fuses into a conv, Dense or Add)
    mul3 = model.replace("Add: {name: sum3, inputs: [g, a, b]}",
                         "GlobalMaxPooling2D: {name: g2, keepdims: true, inputs: [b]}\n"
                         "    - Multiply: {name: prod3, inputs: [g, g2, a]}").replace("    - ReLU: {name: relu}\n", "")
    for what, text in (("Add", model), ("Multiply", mul3)):
        ck = fine_tune(qat, work, what + "3", text, data)
        for mode in ("int8", "int16x8"):
            tfl = os.path.join(work, f"{what}3_{mode}.tflite")
            r = run([qat, "export", ck, "--mode", mode, "-o", tfl], ok=False)
            c.check(r.returncode == 0, f"{what} of 3 inputs exports {mode} {r.stderr.strip()[-300:]}")
            if r.returncode != 0:
                continue
            if mode == "int8":
                parity(c, qat, ck, tfl, x, xpath, f"{what} of 3 inputs, int8")
            c.check(runtime_equal(qat, tfl, x, work),
                    f"{what} of 3 inputs {mode}: qat run equals the interpreter byte for byte")

    # 4. refusals by layer and mode
    with open(os.path.join(work, "activations_h5", "model.yaml")) as f:
        text = "".join(line for line in f if not line.startswith("#"))
    ck = fine_tune(qat, work, "activations_qat", text, data)
    r = run([qat, "export", ck, "--mode", "int8", "-o", os.path.join(work, "no.tflite")], ok=False)
    err = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    c.check(r.returncode != 0 and "act_hard_sigmoid" in err and "int8" in err and "hard_sigmoid" in err,
            f"activations int8 refused: {err}")

    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
