#!/usr/bin/env python3
"""Issue 15's acceptance check (ctest: acceptance15; tests/layers15.cmake) over its model list:
keras.applications MobileNet (alpha 0.25), MobileNetV2 (alpha 0.35), MobileNetV3Small
(minimalistic and full), MobileNetV3Large (minimalistic), EfficientNetB0 (96x96x3) and ResNet50
(64x64x3), written by a real Keras with random weights at test time (make_keras_models15.py),
2 classes, logits out. For each model:

  1. `qat import` reads its .h5 and its .keras; the float32 export of the imported weights, run
     by the official interpreter (BUILTIN_REF) on 16 inputs, gives Keras's logits within 1e-4
     relative to their largest magnitude (random weights make logits as small as 1e-10, so an
     absolute bound would hold for anything);
  2. calibrated: the float checkpoint exported int8 and int16x8 with --calibrate;
  3. after a short quant-aware fine-tune from a YAML config (generated images, dataset: npy),
     exported int8, int16x8, float16 and dynamic;
  every file of 2 and 3 runs in the official interpreter and in `qat run --batch` on N (200)
  inputs: int8, int16 and dynamic outputs bit for bit, float16 within 1e-5 relative; where
  TFLite has no kernel for a mode (int16 HARD_SWISH), the export must refuse naming the layer
  and the mode (EfficientNet's 16x8 file, with its int16 LOGISTIC, is held to the interpreter
  like every other);
  4. the int8 QAT export of MobileNetV2 and MobileNetV3Small (full) meets the parity target
     against the fake-quant model (>= 99 % of outputs bit-identical, max 1 LSB; the fake-quant
     forward through the Python binding, libqat.so);
  5. the int8 export is no larger than the TF converter's int8 file of the same model, where
     acceptance_converter has written it (build/converter_models).
Figures are printed. Exit 77 (ctest's skip) when Keras or the interpreter cannot be imported.

    .venv/bin/python tests/acceptance/test_acceptance15.py --qat build/qat --lib build/lib/libqat.so \
        --work build [--models a,b]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

try:
    import numpy as np
    import ai_edge_litert.interpreter  # noqa: F401 (litert_io's, probed here for the skip)
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"skipped: {e} (the official interpreter is needed: run scripts/setup.sh)")
    sys.exit(77)
sys.path.insert(0, HERE)
from litert_io import interpret, qat_run  # noqa: E402

MODELS = ("mobilenet", "mobilenetv2", "mobilenetv3small_min", "mobilenetv3small", "mobilenetv3large_min",
          "efficientnetb0", "resnet50")
PARITY = ("mobilenetv2", "mobilenetv3small")
N = int(os.environ.get("QAT_ACCEPT15_N", "200"))


def run(cmd, ok=True, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if ok and r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


def images(shape, n, rng):
    """Smooth random images, uint8 (qat's loader scales them to [0, 1])."""
    base = rng.integers(0, 256, size=(n, 1, 1, shape[2])).astype(np.float32)
    up = base.repeat(shape[0], axis=1).repeat(shape[1], axis=2)
    return np.clip(up + rng.normal(0, 40, size=up.shape), 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qat", required=True)
    ap.add_argument("--lib", required=True, help="libqat.so, for the fake-quant forward (python/qat)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--keras-python", default=os.environ.get("QAT_KERAS_PYTHON",
                                                             os.path.join(ROOT, ".venv-keras", "bin", "python")))
    a = ap.parse_args()
    if not os.path.exists(a.lib):
        print(f"skipped: no {a.lib} (only the full, uninstrumented build makes libqat.so)")
        sys.exit(77)
    if run([a.keras_python, "-c", "import keras"], ok=False).returncode != 0:
        print(f"skipped: no Keras at {a.keras_python} (scripts/setup.sh creates .venv-keras)")
        sys.exit(77)
    os.environ["QAT_LIBRARY"] = os.path.abspath(a.lib)
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import qat as qatpy  # noqa: E402

    work = os.path.join(os.path.abspath(a.work), "acceptance15")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    names = a.models.split(",")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    print(run([a.keras_python, os.path.join(HERE, "make_keras_models15.py"), work] + names, env=env).stdout.strip())
    conv_dir = os.path.join(os.path.abspath(a.work), "converter_models")
    failed = []
    for name in names:
        fails = []
        xk, yk = np.load(os.path.join(work, name + ".x.npy")), np.load(os.path.join(work, name + ".y.npy"))
        shape = xk.shape[1:]
        # 1. import, both formats
        for ext in ("h5", "keras"):
            imp = os.path.join(work, f"{name}_{ext}")
            run([a.qat, "import", os.path.join(work, f"{name}.{ext}"), "-o", imp])
            tfl = os.path.join(imp, "float32.tflite")
            run([a.qat, "export", os.path.join(imp, "checkpoint.h5"), "--mode", "float32", "-o", tfl])
            got, _, _ = interpret(tfl, xk)
            rel = float(np.abs(got - yk).max() / max(np.abs(yk).max(), 1e-30))
            print(f"{name}.{ext}: float32 export vs Keras on {len(xk)} inputs: max |diff| / max |logit| = {rel:.2g}")
            if not rel <= 1e-4:
                fails.append(f"{ext} import differs from Keras ({rel:.3g} relative)")
            os.remove(tfl)
        # data: generated images at the model's size; the inputs the interpreter is fed
        d = os.path.join(work, name + "_keras")
        rng = np.random.default_rng(15)
        data = os.path.join(d, "data.npz")
        xtr, xte = images(shape, 64, rng), images(shape, N, rng)
        np.savez(data, x_train=xtr, y_train=rng.integers(0, 2, 64), x_test=xte, y_test=rng.integers(0, 2, N))
        x = xte.astype(np.float32) / np.float32(255)
        files = []
        # 2. calibrated int8 and int16x8 from the float checkpoint
        for mode in ("int8", "int16x8"):
            ptq = os.path.join(d, f"ptq_{mode}.tflite")
            r = run([a.qat, "export", os.path.join(d, "checkpoint.h5"), "--mode", mode, "--calibrate", "16",
                     "--calibration-data", data, "-o", ptq], ok=False)
            err = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
            if r.returncode == 0:
                files.append((f"calibrated {mode}", ptq))
            elif mode == "int16x8" and "int16x8" in err and "hard_silu" in err and "layer '" in err:
                print(f"  calibrated {mode}: refused as it must be: {err[:200]}")
            else:
                print(f"  calibrated {mode} refused: {err}")
                fails.append(f"calibrated {mode} export refused")
        # 3. a short quant-aware fine-tune, every mode
        with open(os.path.join(d, "model.yaml")) as f:
            text = "".join(line for line in f if not line.startswith("#"))
        cfg = os.path.join(d, "qat.yaml")
        with open(cfg, "w") as f:
            f.write(text + f"data: {{dataset: npy, path: {data}}}\nquantize: {{mode: qat}}\n"
                    "train: {epochs: 1, steps_per_epoch: 4, batch_size: 8, seed: 1, "
                    "optimizer: {name: adam, learning_rate: 0.0001}}\n")
        run([a.qat, "train", cfg, "--out", os.path.join(d, "qat"), "--threads", "2"])
        ckpt = os.path.join(d, "qat", "checkpoint.h5")
        for mode in ("int8", "int16x8", "float16", "dynamic"):
            path = os.path.join(d, f"qat_{mode}.tflite")
            r = run([a.qat, "export", ckpt, "--mode", mode, "-o", path], ok=False)
            if r.returncode == 0:
                files.append((f"QAT {mode}", path))
                continue
            err = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
            # TFLite has no int16 HARD_SWISH kernel: the refusal must name the layer and the mode
            if mode == "int16x8" and "int16x8" in err and "hard_silu" in err and "layer '" in err:
                print(f"  QAT {mode}: refused as it must be: {err[:200]}")
            else:
                print(f"  QAT {mode}: export failed: {err}")
                fails.append(f"QAT {mode} export failed")
        for what, path in files:
            y, feed, od = interpret(path, x)
            mine, why = qat_run(a.qat, path, feed, od, d)
            if mine is None:
                print(f"  {what}: qat run failed: {why}")
                fails.append(f"qat run failed on {what}")
                continue
            if y.dtype == np.float32 and what != "QAT dynamic":
                rel = float(np.abs(mine - y).max() / max(np.abs(y).max(), 1e-30))
                ok = rel <= 1e-5
                print(f"  {what}: qat run vs interpreter on {N} inputs: max |diff| / max |y| = {rel:.2g}")
            else:
                ok = bool(np.array_equal(mine, y))
                print(f"  {what}: qat run vs interpreter on {N} inputs: "
                      f"{'bit-identical' if ok else 'DIFFERENT (%d values)' % int((mine != y).sum())}")
            if not ok:
                fails.append(f"qat run differs from the interpreter on {what}")
            if what == "QAT int8" and name in PARITY:
                net = qatpy.Net(ckpt, max_batch=50)
                fq = np.concatenate([net.forward(x[k:k + 50], fake_quant=True) for k in range(0, N, 50)])
                net.close()
                s, zp = od["quantization"]
                q = np.clip(np.sign(fq / s) * np.floor(np.abs(fq / s) + 0.5) + zp, -128, 127)
                lsb = np.abs(q - y.astype(np.int64))
                ident = float((lsb == 0).mean())
                print(f"  parity: int8 vs fake quant {100 * ident:.2f} % bit-identical, max {int(lsb.max())} LSB")
                if ident < 0.99 or lsb.max() > 1:
                    fails.append("int8 parity below target")
                # the same through the user's command (keras.applications end in a linear
                # Activation 'predictions', whose tensor is its input's)
                r = run([a.qat, "eval", "--compare", ckpt, path, "--limit", "50", "--json"], ok=False)
                rep = json.loads(r.stdout) if r.returncode == 0 else {}
                print(f"  qat eval --compare: {rep.get('output', {}).get('identical', r.stderr.strip()[-200:])} of "
                      f"'{rep.get('output', {}).get('name')}' identical, target met: {rep.get('target_met')}")
                if not rep.get("target_met"):
                    fails.append("qat eval --compare does not report the parity target met")
            if what == "QAT int8":
                conv = os.path.join(conv_dir, name + "_int8.tflite")
                if os.path.exists(conv):
                    ours, theirs = os.path.getsize(path), os.path.getsize(conv)
                    print(f"  int8 size: {ours} bytes, the converter's {theirs} ({ours / theirs:.3f}x)")
                    if ours > theirs:
                        fails.append("int8 file larger than the converter's")
                else:
                    print(f"  int8 size: {os.path.getsize(path)} bytes (no converter file at {conv} to compare)")
        if fails:
            print(f"{name}: FAIL: " + "; ".join(fails))
            failed.append(name)
    if failed:
        sys.exit("FAIL: " + ", ".join(failed))
    print("OK")


if __name__ == "__main__":
    main()
