#!/usr/bin/env python3
"""Issue 15's model list through `qat import` (ctest: acceptance15_import; tests/layers15.cmake):
keras.applications MobileNet (alpha 0.25), MobileNetV2 (alpha 0.35), MobileNetV3Small
(minimalistic and full), MobileNetV3Large (minimalistic), EfficientNetB0 (96x96x3) and ResNet50
(64x64x3), written by a real Keras with random weights at test time (make_keras_models15.py),
each in .h5 and .keras:

  1. `qat import` reads it;
  2. the float32 export of the imported weights, run by the official interpreter (BUILTIN_REF)
     on 16 inputs, gives Keras's own logits (model.predict) within 1e-4 relative to the logits'
     largest magnitude (random weights make logits as small as 1e-10, so an absolute bound would
     hold for anything);
  3. the int8 export of MobileNetV3Small (full) is refused naming its hard_sigmoid and the mode
     (TFLite lowers it as ADD + MUL by constants, which have no quantizers in the QAT model).
Exit 77 (ctest's skip) when Keras or the interpreter cannot be imported.

    .venv/bin/python tests/acceptance/test_import15.py --qat build/qat --work build
"""
import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

try:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"skipped: {e} (the official interpreter is needed: run scripts/setup.sh)")
    sys.exit(77)

MODELS = ("mobilenet", "mobilenetv2", "mobilenetv3small_min", "mobilenetv3small", "mobilenetv3large_min",
          "efficientnetb0", "resnet50")


def run(cmd, ok=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if ok and r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


def keras_python():
    py = os.environ.get("QAT_KERAS_PYTHON", os.path.join(ROOT, ".venv-keras", "bin", "python"))
    if not os.path.exists(py) or subprocess.run([py, "-c", "import keras"], capture_output=True).returncode:
        print(f"skipped: no Keras at {py} (scripts/setup.sh creates .venv-keras)")
        sys.exit(77)
    return py


def interpret(path, x):
    it = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    out = []
    for k in range(len(x)):
        it.set_tensor(di["index"], x[k:k + 1])
        it.invoke()
        out.append(it.get_tensor(do["index"])[0].copy())
    return np.array(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qat", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--models", default=",".join(MODELS))
    a = ap.parse_args()
    work = os.path.join(os.path.abspath(a.work), "acceptance15_import")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    names = a.models.split(",")
    run([keras_python(), os.path.join(HERE, "make_keras_models15.py"), work] + names)
    failed = 0
    for name in names:
        x, y = np.load(os.path.join(work, name + ".x.npy")), np.load(os.path.join(work, name + ".y.npy"))
        for ext in ("h5", "keras"):
            imp = os.path.join(work, f"{name}_{ext}")
            run([a.qat, "import", os.path.join(work, f"{name}.{ext}"), "-o", imp])
            tfl = os.path.join(imp, "float32.tflite")
            run([a.qat, "export", os.path.join(imp, "checkpoint.h5"), "--mode", "float32", "-o", tfl])
            got = interpret(tfl, x)
            rel = float(np.abs(got - y).max() / max(np.abs(y).max(), 1e-30))
            ok = rel <= 1e-4
            failed += not ok
            print(f"  {'ok' if ok else 'FAIL'}: {name}.{ext}: float32 export vs Keras on {len(x)} inputs: max |diff| "
                  f"/ max |logit| = {rel:.3g} (logits up to {np.abs(y).max():.3g})")
            os.remove(tfl)
        if name == "mobilenetv3small":
            # one QAT step on 16 generated images, then the int8 export
            r = np.random.default_rng(15)
            data = os.path.join(work, "data.npz")
            img = r.integers(0, 256, (16, 96, 96, 3)).astype(np.uint8)
            lab = r.integers(0, 2, 16)
            np.savez(data, x_train=img, y_train=lab, x_test=img, y_test=lab)
            with open(os.path.join(work, f"{name}_keras", "model.yaml")) as f:
                text = "".join(line for line in f if not line.startswith("#"))
            cfg = os.path.join(work, "qat.yaml")
            with open(cfg, "w") as f:
                f.write(text + f"data: {{dataset: npy, path: {data}}}\nquantize: {{mode: qat}}\n"
                        "train: {epochs: 1, batch_size: 16, seed: 1, optimizer: {name: adam, learning_rate: 0.0001}}\n")
            run([a.qat, "train", cfg, "--out", os.path.join(work, "qat"), "--threads", "2"])
            r = run([a.qat, "export", os.path.join(work, "qat", "checkpoint.h5"), "--mode", "int8", "-o",
                     os.path.join(work, "no.tflite")], ok=False)
            err = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
            ok = r.returncode != 0 and "hard_sigmoid" in err and "int8" in err and "re_lu" in err
            failed += not ok
            print(f"  {'ok' if ok else 'FAIL'}: {name} int8 refused: {err[:300]}")
    print(f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
