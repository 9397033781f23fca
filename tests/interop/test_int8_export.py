#!/usr/bin/env python3
"""Int8 export against the official TFLite interpreter (run by ctest: tests/export.cmake).

For each model: a generated quantization-aware config is trained briefly with `qat train`
(a few hundred steps on a slice of Fashion-MNIST), then `qat export --mode int8` writes it with
int8, uint8 and float32 I/O (the int8 file twice: the bytes must be identical). Then
  - ai-edge-litert's Interpreter with the reference kernels (OpResolverType.BUILTIN_REF) loads
    every file and the serving_default signature runner works;
  - input/output dtypes and shapes are qat's; uint8 edges have the int8 scale and zero point
    + 128; float32 edges are unquantized; a softmax output has (1/256, -128);
  - every conv / depthwise / dense weight is int8 per channel along dimension 0 (3 for
    depthwise) with zero points 0 and values in [-127, 127], and its int32 bias has scale
    s_in * s_w[c] (the float product) and zero point 0;
  - on random inputs the official outputs equal qat's own integer runtime (`qat run`) bit for
    bit, for all three I/O types;
  - flatc (Debian flatbuffers-compiler) decodes the files (skipped when flatc or the schema
    fixture is missing).
Models: a small CNN, examples/mobilenet_tiny_qat.yaml's network, and examples/cifar10_cnn.yaml's
(32x32x3) trained on two generated CIFAR-10 batch files; for the last one the int8 and float32
file sizes must be below the TF converter's for that architecture (133,216 B and 493,624 B).
Whole test set (issue 5's acceptance): examples/fashion_mnist_cnn.yaml's network trained 100 steps
in float, QAT fine-tuned 100 steps from that checkpoint, exported int8 and run by the official
interpreter over all 10,000 Fashion-MNIST test images: its accuracy within 0.2 pp of `qat eval`'s
fake-quant accuracy, top-1 agreement with the fake-quant model (--predictor) >= 99.5 %. Skipped
when the dataset is missing or QAT_SANITIZE_BUILD is set (tests/export.cmake sets it for
sanitizer builds).
Also: `qat init` of a QAT config (no ranges observed yet) and a float config are refused with a
message pointing to calibration. The interpreter comes from the repository's .venv (made by
scripts/setup.sh): without it the test fails.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, ".venv")
VENV_PY = os.path.join(VENV, "bin", "python")
SCHEMA = os.path.join(ROOT, "..", "shared", "fixtures", "tflite", "schema_debian_flatc.fbs")

SMALL_CNN = """\
model:
  input: [28, 28, 1]
  layers:
    - Conv2D: {name: conv1, filters: 8, kernel_size: 3, activation: relu}
    - MaxPooling2D: {name: pool1, pool_size: 2}
    - Conv2D: {name: conv2, filters: 16, kernel_size: 3, use_bias: false}
    - BatchNormalization: {name: bn2}
    - ReLU: {name: relu2, max_value: 6}
    - AveragePooling2D: {name: pool2, pool_size: 2}
    - Dropout: {rate: 0.25}
    - Flatten: {name: flatten}
    - Dense: {name: hidden, units: 32, activation: relu}
    - Dense: {name: probs, units: 10, activation: softmax}
data: {dataset: fashion-mnist, limit_train: 9600, limit_test: 500}
quantize: {mode: qat, delay: 50}
train: {epochs: 1, batch_size: 32, seed: 4, optimizer: {name: adam, learning_rate: 0.002}}
"""


# GlobalMaxPooling2D: REDUCE_MAX keeps its input's scale and zero point (no fake quant after it).
GMP_QAT = """\
model:
  input: [28, 28, 1]
  layers:
    - Conv2D: {name: conv1, filters: 8, kernel_size: 3, strides: 2, activation: relu}
    - Conv2D: {name: conv2, filters: 16, kernel_size: 3}
    - GlobalMaxPooling2D: {name: gmp}
    - Dense: {name: logits, units: 10}
data: {dataset: fashion-mnist, limit_train: 3200, limit_test: 200}
quantize: {mode: qat, delay: 20}
train: {epochs: 1, batch_size: 32, seed: 5, optimizer: {name: adam, learning_rate: 0.002}}
"""


def mobilenet_config():
    """examples/mobilenet_tiny_qat.yaml's network with a short schedule."""
    with open(os.path.join(ROOT, "examples", "mobilenet_tiny_qat.yaml")) as f:
        text = f.read()
    text = re.sub(r"delay: \d+", "delay: 40", text)
    text = text.replace("data: {dataset: fashion-mnist}",
                        "data: {dataset: fashion-mnist, limit_train: 9600, limit_test: 500}")
    if "limit_train" not in text or "delay: 40" not in text:
        raise RuntimeError("examples/mobilenet_tiny_qat.yaml changed shape: cannot shorten it")
    return text


def in_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)


def reexec_in_venv():
    if in_venv():
        return
    if not os.path.exists(VENV_PY):
        print(f"FAIL: no Python venv at {VENV}: run scripts/setup.sh, which creates it with "
              "ai-edge-litert and numpy (this test needs the official TFLite interpreter)")
        print("0 passed, 1 failed")
        sys.exit(1)
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])


def load_interpreter():
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        return Interpreter, OpResolverType.BUILTIN_REF, "ai-edge-litert"
    except ImportError:
        import tensorflow as tf  # the fallback scripts/setup.sh installs
        return (tf.lite.Interpreter, tf.lite.experimental.OpResolverType.BUILTIN_REF,
                "tensorflow " + tf.__version__)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
            print(f"  ok   {what}")
        else:
            self.failed += 1
            print(f"  FAIL {what}")
        return ok


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r.stdout


def weight_checks(c, interp, label):
    """Per-channel int8 weights and s_in * s_w int32 biases, read back from the interpreter."""
    import numpy as np
    details = {d["index"]: d for d in interp.get_tensor_details()}
    n_ops = 0
    ok_w, ok_b, why = True, True, []
    for op in interp._get_ops_details():
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        n_ops += 1
        x, w, b = (details[i] for i in op["inputs"][:3])
        qd = 3 if op["op_name"] == "DEPTHWISE_CONV_2D" else 0
        wq, bq, xq = (t["quantization_parameters"] for t in (w, b, x))
        lowest = int(np.array(interp.get_tensor(w["index"]), copy=True).min())
        good = (w["dtype"] == np.int8 and wq["quantized_dimension"] == qd
                and len(wq["scales"]) == w["shape"][qd] and not np.any(wq["zero_points"])
                and lowest >= -127)
        if not good:
            ok_w = False
            why.append(f"{w['name']}: dim {wq['quantized_dimension']}, {len(wq['scales'])} scales")
        want = (np.float32(xq["scales"][0]) * wq["scales"].astype(np.float32)).astype(np.float32)
        good = (b["dtype"] == np.int32 and len(bq["scales"]) == len(want)
                and np.array_equal(bq["scales"].astype(np.float32), want) and not np.any(bq["zero_points"]))
        if not good:
            ok_b = False
            why.append(f"{b['name']}: bias scales not s_in * s_w")
    c.check(n_ops > 0 and ok_w, f"{label}: {n_ops} weighted ops with int8 per-channel weights "
            f"(dimension 0, depthwise 3; zero points 0; no -128) {'; '.join(why)}")
    c.check(n_ops > 0 and ok_b, f"{label}: int32 biases with scale s_in * s_w[c] and zero point 0")


def test_model(c, args, Interpreter, resolver, name, config_text, samples, shape=(28, 28, 1), work=None):
    """Returns {io: path} of the int8 exports and the checkpoint's path."""
    import numpy as np
    print(f"{name}")
    if work is None:
        work = os.path.join(args.work, "interop_int8", name)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
    cfg = os.path.join(work, "config.yaml")
    with open(cfg, "w") as f:
        f.write(config_text)
    out = run([args.qat, "train", cfg, "--out", os.path.join(work, "run"), "--threads", "2", "--json"])
    ckpt = os.path.join(work, "run", "checkpoint.h5")
    c.check(os.path.exists(ckpt), f"qat train wrote {os.path.relpath(ckpt, args.work)}")
    print("  " + out.strip().splitlines()[-1][:300])

    files = {}
    for io in ("int8", "uint8", "float32"):
        path = os.path.join(work, f"{name}_{io}.tflite")
        run([args.qat, "export", ckpt, "--mode", "int8", "--io", io, "-o", path, "--json"])
        files[io] = path
    again = os.path.join(work, f"{name}_again.tflite")
    run([args.qat, "export", ckpt, "--mode", "int8", "-o", again])
    with open(files["int8"], "rb") as f1, open(again, "rb") as f2:
        a, b = f1.read(), f2.read()
    c.check(a == b, f"exported twice: byte-identical ({len(a):,} B)")

    interps = {}
    for io, path in files.items():
        interp = Interpreter(model_path=path, experimental_op_resolver_type=resolver)
        interp.allocate_tensors()
        interps[io] = interp
        try:
            runner = interp.get_signature_runner("serving_default")
            sig_ok = runner is not None
            del runner
        except Exception as e:  # noqa: BLE001
            sig_ok = False
            print(f"    {e}")
        c.check(sig_ok, f"{io} I/O: loads with the reference kernels; serving_default runner works")

    i8, o8 = interps["int8"].get_input_details()[0], interps["int8"].get_output_details()[0]
    iu, ou = interps["uint8"].get_input_details()[0], interps["uint8"].get_output_details()[0]
    fi, fo = interps["float32"].get_input_details()[0], interps["float32"].get_output_details()[0]
    c.check(i8["dtype"] == np.int8 and o8["dtype"] == np.int8 and list(i8["shape"]) == [1, *shape]
            and list(o8["shape"]) == [1, 10],
            f"int8 I/O: int8 {[int(d) for d in i8['shape']]} -> int8 {[int(d) for d in o8['shape']]}")
    s_in, zp_in = i8["quantization"]
    c.check(abs(s_in - 1.0 / 255.0) < 1e-6 and zp_in == -128,
            f"input quantization ({s_in:.9g}, {zp_in}) is the [0, 1] pixel range's (1/255, -128)")
    if "softmax" in config_text.split("layers:")[1].split("data:")[0]:
        c.check(o8["quantization"] == (1.0 / 256.0, -128), f"softmax output quantization {o8['quantization']}")
    c.check(iu["dtype"] == np.uint8 and ou["dtype"] == np.uint8
            and iu["quantization"] == (i8["quantization"][0], i8["quantization"][1] + 128)
            and ou["quantization"] == (o8["quantization"][0], o8["quantization"][1] + 128),
            f"uint8 I/O: same scales, zero points + 128 ({iu['quantization']}, {ou['quantization']})")
    c.check(fi["dtype"] == np.float32 and fo["dtype"] == np.float32 and fi["quantization"] == (0.0, 0)
            and fo["quantization"] == (0.0, 0), "float32 I/O: float edges, unquantized")
    weight_checks(c, interps["int8"], "int8 file")

    rng = np.random.default_rng(7)
    mismatches = {io: 0 for io in files}
    for s in range(samples):
        q = rng.integers(-128, 128, size=(1, *shape)).astype(np.int8)
        if s % 2:  # smoother, image-like inputs too
            q = np.clip(np.round(rng.random((1, *shape)) ** 3 * 255 - 128), -128, 127).astype(np.int8)
        inputs = {"int8": q, "uint8": (q.astype(np.int16) + 128).astype(np.uint8),
                  "float32": ((q.astype(np.float32) - zp_in) * np.float32(s_in)).astype(np.float32)}
        for io, interp in interps.items():
            det_i, det_o = interp.get_input_details()[0], interp.get_output_details()[0]
            interp.set_tensor(det_i["index"], inputs[io])
            interp.invoke()
            official = np.array(interp.get_tensor(det_o["index"]), copy=True)
            raw_in, raw_out = os.path.join(work, "in.raw"), os.path.join(work, "out.raw")
            inputs[io].tofile(raw_in)
            run([args.qat, "run", files[io], "--input", raw_in, "--output", raw_out])
            ours = np.fromfile(raw_out, dtype=official.dtype).reshape(official.shape)
            mismatches[io] += not np.array_equal(official, ours)
    for io in files:
        c.check(mismatches[io] == 0,
                f"{io} I/O: official outputs equal `qat run` bit for bit on {samples} inputs "
                f"({mismatches[io]} differ)")

    if args.flatc and os.path.exists(SCHEMA):
        for io, path in files.items():
            r = subprocess.run([args.flatc, "--json", "--strict-json", "--raw-binary", "-o", work, SCHEMA, "--",
                                path], capture_output=True, text=True)
            c.check(r.returncode == 0, f"flatc decodes {os.path.basename(path)} (exit {r.returncode})")
    else:
        print("  skip flatc decode: flatc or the schema fixture is missing")
    return files, ckpt


def test_no_ranges(c, args):
    """A QAT checkpoint before any fake-quant step, and a float one, point to calibration."""
    print("int8 export without QAT ranges")
    work = os.path.join(args.work, "interop_int8", "no_ranges")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    float_cfg = SMALL_CNN.replace("quantize: {mode: qat, delay: 50}\n", "")
    for label, text in (("qat init (no range observed)", SMALL_CNN), ("float checkpoint", float_cfg)):
        cfg = os.path.join(work, "c.yaml")
        with open(cfg, "w") as f:
            f.write(text)
        ckpt = os.path.join(work, "init.h5")
        run([args.qat, "init", cfg, "-o", ckpt])
        target = os.path.join(work, "x.tflite")
        r = subprocess.run([args.qat, "export", ckpt, "--mode", "int8", "-o", target], capture_output=True,
                           text=True)
        c.check(r.returncode == 2 and "calibrat" in r.stderr and not os.path.exists(target),
                f"{label}: exit {r.returncode}, '{r.stderr.strip()[:160]}'")
    r = subprocess.run([args.qat, "export", ckpt, "--mode", "float32", "--io", "uint8", "-o",
                        os.path.join(work, "y.tflite")], capture_output=True, text=True)
    c.check(r.returncode == 2 and "--io" in r.stderr, f"--io with float32: exit {r.returncode}")
    r = subprocess.run([args.qat, "export", ckpt, "--mode", "int8", "--io", "int4", "-o",
                        os.path.join(work, "y.tflite")], capture_output=True, text=True)
    c.check(r.returncode == 2 and "int4" in r.stderr, f"--io int4: exit {r.returncode}")


def load_fashion_test():
    import gzip
    import numpy as np
    d = os.environ.get("QAT_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"

    def read(stem):
        path = os.path.join(d, stem)
        if os.path.exists(path + ".gz"):
            with gzip.open(path + ".gz", "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    images = np.frombuffer(read("t10k-images-idx3-ubyte"), dtype=np.uint8, offset=16).reshape(-1, 28, 28, 1)
    labels = np.frombuffer(read("t10k-labels-idx1-ubyte"), dtype=np.uint8, offset=8)
    return images, labels


def accuracy(args, Interpreter, resolver):
    """`--accuracy CKPT`: the acceptance measurement on a given checkpoint (the default run does
    the same on a briefly trained one: whole_test_set)."""
    work = os.path.join(args.work, "interop_int8", "accuracy")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    measure(args, Interpreter, resolver, args.accuracy, work, args.predictor)
    return 0


def classify(path, q):
    """Top-1 of the official interpreter (reference kernels) on each int8 image of Q."""
    import numpy as np
    Interpreter, resolver, _ = load_interpreter()
    interp = Interpreter(model_path=path, experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    di, do = interp.get_input_details()[0], interp.get_output_details()[0]
    pred = np.empty(len(q), dtype=np.int64)
    for i in range(len(q)):
        interp.set_tensor(di["index"], q[i:i + 1])
        interp.invoke()
        pred[i] = int(np.argmax(interp.get_tensor(do["index"])[0]))
    return pred


def measure(args, Interpreter, resolver, ckpt, work, predictor):
    """The official interpreter over the whole Fashion-MNIST test set on the int8 export of CKPT,
    against `qat eval CKPT` (fake quant) and, with PREDICTOR (build/tests/test_export_int8), the
    fake-quant model's own predictions image by image. Returns the figures."""
    import json
    import numpy as np
    ev = json.loads(run([args.qat, "eval", ckpt, "--json"]).strip().splitlines()[-1])
    path = os.path.join(work, "model_int8.tflite")
    info = json.loads(run([args.qat, "export", ckpt, "--mode", "int8", "-o", path, "--json"]))
    interp = Interpreter(model_path=path, experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    di, do = interp.get_input_details()[0], interp.get_output_details()[0]
    s, zp = di["quantization"]
    images, labels = load_fashion_test()
    x = images.astype(np.float32) / np.float32(255.0)  # what qat's loader feeds the model
    q = np.clip(np.round(x / np.float32(s)) + zp, -128, 127).astype(np.int8)
    pred = np.empty(len(labels), dtype=np.int64)
    parts = max(1, min(2, os.cpu_count() or 1))  # the reference kernels are single-threaded
    if parts > 1:
        import concurrent.futures
        import multiprocessing
        with concurrent.futures.ProcessPoolExecutor(parts, mp_context=multiprocessing.get_context("fork")) as ex:
            jobs = [ex.submit(classify, path, q[k::parts]) for k in range(parts)]
            for k, job in enumerate(jobs):
                pred[k::parts] = job.result()
    else:
        pred[:] = classify(path, q)
    acc = float(np.mean(pred == labels))
    agree = None
    fq_acc = None
    if predictor:  # the fake-quant model's own top-1, image by image
        pf = os.path.join(work, "fakequant_pred.bin")
        run([predictor, "predict", ckpt, pf])
        fq_pred = np.fromfile(pf, dtype=np.int32)
        agree = float(np.mean(fq_pred == pred)) if len(fq_pred) == len(pred) else None
        fq_acc = float(np.mean(fq_pred == labels)) if len(fq_pred) == len(labels) else None
        print(f"  fake-quant model (qat, {len(fq_pred)} images): accuracy {fq_acc}")
    fq = ev.get("fakequant_accuracy")
    print(f"checkpoint {ckpt}")
    print(f"  int8 file {info['size_bytes']:,} B, ops {info['ops']}")
    print(f"  qat eval: float accuracy {ev.get('float_accuracy')}, fake-quant accuracy {fq}")
    print(f"  official interpreter (BUILTIN_REF), int8 file, {len(labels)} test images: accuracy {acc:.4f}")
    if fq is not None:
        print(f"  difference official - fake-quant: {100 * (acc - fq):+.2f} pp")
    if agree is not None:
        print(f"  top-1 agreement official int8 vs fake-quant model: {100 * agree:.2f} %")
    np.save(os.path.join(work, "official_pred.npy"), pred)
    return {"official": acc, "fakequant": fq, "float": ev.get("float_accuracy"), "agree": agree,
            "predictor_accuracy": fq_acc, "images": len(labels), "size": info["size_bytes"]}


def fashion_config(init=None):
    """examples/fashion_mnist_cnn.yaml's network on 6,400 training images (100 steps of 64), at a
    constant learning rate; with INIT: the QAT fine-tuning of that checkpoint."""
    with open(os.path.join(ROOT, "examples", "fashion_mnist_cnn.yaml")) as f:
        text = f.read()
    text = re.sub(r"(?m)^  schedule:.*\n", "", text)
    text = re.sub(r"batch_size: \d+", "batch_size: 64", text)
    text = re.sub(r"epochs: \d+", "epochs: 1", text)
    text = text.replace("data: {dataset: fashion-mnist}", "data: {dataset: fashion-mnist, limit_train: 6400}")
    if init:
        text = text.replace("  input: [28, 28, 1]", f"  init: {init}\n  input: [28, 28, 1]")
        text = re.sub(r"learning_rate: [0-9.e-]+", "learning_rate: 0.0002", text)
        text = re.sub(r"seed: \d+", "seed: 2", text)
        text = text.replace("\ntrain:", "\nquantize: {mode: qat}\ntrain:")
    else:
        text = re.sub(r"learning_rate: [0-9.e-]+", "learning_rate: 0.001", text)
    if ("limit_train: 6400" not in text or "schedule" in text or "batch_size: 64" not in text
            or (init and ("init:" not in text or "quantize:" not in text))):
        raise RuntimeError("examples/fashion_mnist_cnn.yaml changed shape: cannot shorten it")
    return text


def whole_test_set(c, args, Interpreter, resolver):
    """Issue 5's acceptance measurement in ctest: examples/fashion_mnist_cnn.yaml's network trained
    briefly in float, QAT fine-tuned from it, exported int8 and run by the official interpreter
    over all 10,000 Fashion-MNIST test images."""
    print("fashion_mnist_cnn: float 100 steps, QAT fine-tuning 100 steps, whole test set")
    d = os.environ.get("QAT_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"
    if os.environ.get("QAT_SANITIZE_BUILD"):
        print("  skip: QAT_SANITIZE_BUILD is set (a sanitizer build trains 200 steps too slowly)")
        return
    if not os.path.isdir(d):
        print(f"  skip: no Fashion-MNIST at {d} (Debian's dataset-fashion-mnist)")
        return
    if not args.predictor:
        print("  skip: no --predictor (build/tests/test_export_int8) to give the fake-quant predictions")
        return
    work = os.path.join(args.work, "interop_int8", "fashion_whole_test")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cfgs = {"float": fashion_config()}
    cfgs["qat"] = fashion_config(init=os.path.join(work, "float", "checkpoint.h5"))
    for stage in ("float", "qat"):
        cfg = os.path.join(work, f"{stage}.yaml")
        with open(cfg, "w") as f:
            f.write(cfgs[stage])
        out = run([args.qat, "train", cfg, "--out", os.path.join(work, stage), "--threads", "2", "--json"])
        print(f"  {stage}: " + out.strip().splitlines()[-1][:300])
    ckpt = os.path.join(work, "qat", "checkpoint.h5")
    r = measure(args, Interpreter, resolver, ckpt, work, args.predictor)
    fq, off, agree = r["fakequant"], r["official"], r["agree"]
    c.check(r["images"] == 10000 and fq is not None and r["predictor_accuracy"] is not None
            and abs(r["predictor_accuracy"] - fq) < 1.5e-4,
            f"{r['images']} test images; `qat eval` fake-quant accuracy {fq} is the predictor's "
            f"{r['predictor_accuracy']}")
    c.check(fq is not None and abs(off - fq) <= 0.002 + 1e-9,
            f"official int8 accuracy {off:.4f} within 0.2 pp of fake-quant {fq} "
            f"({100 * (off - (fq or 0)):+.2f} pp)")
    c.check(agree is not None and agree >= 0.995,
            f"top-1 agreement official int8 vs fake-quant: {100 * (agree or 0):.2f} % (>= 99.5 %)")


TF_CONVERTER_SIZES = {"int8": 133216, "float32": 493624}  # issue 5: examples/cifar10_cnn.yaml


def write_cifar(path, n, seed):
    """N CIFAR-10 binary records (label byte, then R, G, B planes of 32x32) with a learnable
    pattern: class k is a white (255) horizontal band at row 3k in channel k % 3, over noise
    in [0, 96): the pixels span [0, 255] like real images."""
    import numpy as np
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    img = rng.integers(0, 96, size=(n, 3, 32, 32)).astype(np.uint8)
    for i, k in enumerate(labels):
        img[i, k % 3, 3 * k:3 * k + 3, :] = 255
    rec = np.concatenate([labels[:, None], img.reshape(n, 3072)], axis=1)
    rec.tofile(path)


def cifar_config(train_files, test_file):
    """examples/cifar10_cnn.yaml's network on generated batches, quantization-aware."""
    with open(os.path.join(ROOT, "examples", "cifar10_cnn.yaml")) as f:
        text = f.read()
    head, sep, _ = text.partition("\ndata:")
    if not sep or "input: [32, 32, 3]" not in head:
        raise RuntimeError("examples/cifar10_cnn.yaml changed shape: cannot rewrite its data")
    files = ", ".join(train_files)
    return (head + f"\ndata: {{dataset: cifar10, train_files: [{files}], test_file: {test_file}}}\n"
            "quantize: {mode: qat, delay: 10}\n"
            "train: {epochs: 1, batch_size: 32, seed: 3, optimizer: {name: adam, learning_rate: 0.002}}\n")


def cifar_arch(c, args, Interpreter, resolver):
    """examples/cifar10_cnn.yaml's architecture (32x32x3) trained 40 steps on two generated
    CIFAR-10 batch files: the int8 checks of test_model, and the file sizes against the TF
    converter's for this architecture."""
    import json
    name = "cifar10_cnn_qat"
    work = os.path.join(args.work, "interop_int8", name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    train_files = [os.path.join(work, f"data_batch_{i}.bin") for i in (1, 2)]
    for i, path in enumerate(train_files):
        write_cifar(path, 640, 10 + i)
    test_file = os.path.join(work, "test_batch.bin")
    write_cifar(test_file, 200, 20)
    files, ckpt = test_model(c, args, Interpreter, resolver, name, cifar_config(train_files, test_file),
                             max(4, args.samples // 4), shape=(32, 32, 3), work=work)
    path = os.path.join(work, f"{name}_float32_mode.tflite")
    info = json.loads(run([args.qat, "export", ckpt, "--mode", "float32", "-o", path, "--json"]))
    sizes = {"int8": os.path.getsize(files["int8"]), "float32": os.path.getsize(path)}
    c.check(info["size_bytes"] == sizes["float32"], f"float32 export: --json size {info['size_bytes']:,} B")
    for mode, size in sizes.items():
        tf = TF_CONVERTER_SIZES[mode]
        c.check(size < tf, f"examples/cifar10_cnn.yaml architecture, {mode}: {size:,} B "
                f"< TF converter's {tf:,} B ({100 * size / tf:.1f} %)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--qat", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--flatc", default="")
    p.add_argument("--samples", type=int, default=40)
    p.add_argument("--accuracy", default="", help="measure CKPT over the whole test set instead of testing")
    p.add_argument("--predictor", default="", help="build/tests/test_export_int8: the fake-quant model's predictions (top-1 agreement)")
    args = p.parse_args()
    reexec_in_venv()
    try:
        Interpreter, resolver, which = load_interpreter()
    except ImportError as e:
        print(f"FAIL: the venv at {VENV} has no TFLite interpreter ({e}): run scripts/setup.sh")
        print("0 passed, 1 failed")
        return 1
    print(f"interpreter: {which}, reference kernels")
    if args.accuracy:
        return accuracy(args, Interpreter, resolver)
    c = Checks()
    models = [("small_cnn_qat", lambda: SMALL_CNN), ("mobilenet_tiny_qat", mobilenet_config), ("gmp_qat", lambda: GMP_QAT)]
    for name, make in models:
        try:
            test_model(c, args, Interpreter, resolver, name, make(), args.samples)
        except Exception as e:  # one model's failure must not hide the others
            c.check(False, f"{name}: {type(e).__name__}: {e}")
    for label, part in (("cifar10_cnn", cifar_arch), ("whole test set", whole_test_set)):
        started = time.monotonic()
        try:
            part(c, args, Interpreter, resolver)
        except Exception as e:  # noqa: BLE001
            c.check(False, f"{label}: {type(e).__name__}: {e}")
        print(f"  ({label}: {time.monotonic() - started:.1f} s)")
    try:
        test_no_ranges(c, args)
    except Exception as e:
        c.check(False, f"no ranges: {type(e).__name__}: {e}")
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
