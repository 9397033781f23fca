#!/usr/bin/env python3
"""16x8 export (int16 activations, int8 weights) against the official TFLite interpreter (run by
ctest: tests/export.cmake).

For each model (test_int8_export.py's small CNN and examples/mobilenet_tiny_qat.yaml's network,
which has depthwise convolutions, residual Adds and a global average pool): the generated QAT
config is trained briefly with `qat train`, then `qat export --mode int16x8` writes it with int16
I/O (twice: the bytes must be identical) and with float32 I/O. Then
  - ai-edge-litert's Interpreter with the reference kernels (OpResolverType.BUILTIN_REF) loads
    both files;
  - every activation is int16 with one scale and zero point 0; every conv / depthwise / dense
    weight int8 per channel with zero points 0 and no -128; every bias INT64 at s_in * s_w[c]
    (the float product) with zero point 0; a softmax output has (1/32768, 0); ADD has
    pot_scale_int16 false (its version is 3);
  - on a few hundred inputs (random images, and random int16 values over the whole range) the
    official outputs equal `qat run`'s bit for bit, for both I/O types.
Refusals: --io uint8/int8 with int16x8, a float checkpoint (no ranges), and a ReLU that no op can
fuse are refused with a clear one-line message and no file.
Whole test set (skipped when Fashion-MNIST is missing or QAT_SANITIZE_BUILD is set):
examples/fashion_mnist_cnn.yaml's network trained 100 steps in float, QAT fine-tuned 100 steps,
exported int16x8 with float I/O and run by the official interpreter over the 10,000 test images:
its accuracy must be within 0.3 pp of the float model's (`qat eval`), and it is printed beside the
fake-quant (int8-simulating) accuracy.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_int8_export as t8  # noqa: E402  (shared configs and helpers)

N_INPUTS = 200


def run_qat(qat, model, x, tmp, out_dtype, out_shape):
    pi, po = os.path.join(tmp, "in.raw"), os.path.join(tmp, "out.raw")
    x.tofile(pi)
    r = subprocess.run([qat, "run", model, "--input", pi, "--output", po], capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    import numpy as np
    return np.fromfile(po, dtype=out_dtype).reshape(out_shape), ""


def graph_checks(c, interp, label):
    import numpy as np
    details = {d["index"]: d for d in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    consts = set()
    bad_act, bad_w, bad_b, why = [], [], [], []
    n_weighted = 0
    for op in ops:
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            n_weighted += 1
            x, w, b = (details[i] for i in op["inputs"][:3])
            consts.update((w["index"], b["index"]))
            qd = 3 if op["op_name"] == "DEPTHWISE_CONV_2D" else 0
            wq, bq, xq = (t["quantization_parameters"] for t in (w, b, x))
            lowest = int(np.array(interp.get_tensor(w["index"]), copy=True).min())
            if not (w["dtype"] == np.int8 and wq["quantized_dimension"] == qd and len(wq["scales"]) == w["shape"][qd]
                    and not np.any(wq["zero_points"]) and lowest >= -127):
                bad_w.append(w["name"])
            want = (np.float32(xq["scales"][0]) * wq["scales"].astype(np.float32)).astype(np.float32)
            if not (b["dtype"] == np.int64 and len(bq["scales"]) == len(want)
                    and np.array_equal(bq["scales"].astype(np.float32), want) and not np.any(bq["zero_points"])):
                bad_b.append(b["name"])
        elif op["op_name"] in ("MEAN", "RESHAPE"):
            consts.add(op["inputs"][1])
    for op in ops:
        tensors = [i for i in list(op["inputs"]) + list(op["outputs"]) if i >= 0 and i not in consts]
        for i in tensors:
            d = details[i]
            q = d["quantization_parameters"]
            if d["dtype"] == np.float32 and op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
                continue
            if not (d["dtype"] == np.int16 and len(q["scales"]) == 1 and not np.any(q["zero_points"])):
                bad_act.append(d["name"])
        if op["op_name"] == "SOFTMAX":
            q = details[op["outputs"][0]]["quantization"]
            if not (abs(q[0] - 1 / 32768) < 1e-12 and q[1] == 0):
                why.append(f"softmax output {q}")
    c.check(not bad_act, f"{label}: every activation int16, one scale, zero point 0 {sorted(set(bad_act))[:4]}")
    c.check(n_weighted > 0 and not bad_w, f"{label}: {n_weighted} weighted ops, int8 per-channel symmetric "
            f"weights without -128 {bad_w[:4]}")
    c.check(n_weighted > 0 and not bad_b, f"{label}: INT64 biases at s_in * s_w[c], zero point 0 {bad_b[:4]}")
    c.check(not why, f"{label}: SOFTMAX output (1/32768, 0) {why}")


def add_versions(path):
    """ADD's operator version and AddOptions.pot_scale_int16 as written in the file."""
    try:
        from ai_edge_litert import schema_py_generated as s
    except ImportError:
        return None
    with open(path, "rb") as f:
        buf = f.read()
    m = s.Model.GetRootAsModel(buf, 0)
    out = []
    for k in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(k)
        if oc.BuiltinCode() == s.BuiltinOperator.ADD:
            out.append(oc.Version())
    sg = m.Subgraphs(0)
    pots = []
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        if m.OperatorCodes(op.OpcodeIndex()).BuiltinCode() == s.BuiltinOperator.ADD:
            t = op.BuiltinOptions()
            o = s.AddOptions()
            o.Init(t.Bytes, t.Pos)
            pots.append(bool(o.PotScaleInt16()))
    return out, pots


def test_model(c, args, Interpreter, resolver, name, config_text):
    import numpy as np
    print(name)
    work = os.path.join(args.work, "interop_int16x8", name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cfg = os.path.join(work, "config.yaml")
    with open(cfg, "w") as f:
        f.write(config_text)
    out = t8.run([args.qat, "train", cfg, "--out", os.path.join(work, "run"), "--threads", "2", "--json"])
    ckpt = os.path.join(work, "run", "checkpoint.h5")
    print("  " + out.strip().splitlines()[-1][:300])
    files = {}
    for io in ("int16", "float32"):
        path = os.path.join(work, f"{name}_{io}.tflite")
        info = json.loads(t8.run([args.qat, "export", ckpt, "--mode", "int16x8", "--io", io, "-o", path, "--json"]))
        files[io] = path
        print(f"  {io} I/O: {info['size_bytes']:,} B, ops {info['ops']}")
    again = os.path.join(work, f"{name}_again.tflite")
    t8.run([args.qat, "export", ckpt, "--mode", "int16x8", "-o", again])
    with open(files["int16"], "rb") as f1, open(again, "rb") as f2:
        c.check(f1.read() == f2.read(), "exported twice (default --io int16): byte-identical")

    rng = np.random.default_rng(16)
    tmp = tempfile.mkdtemp(dir=work)
    for io, path in files.items():
        interp = Interpreter(model_path=path, experimental_op_resolver_type=resolver)
        interp.allocate_tensors()
        di, do = interp.get_input_details()[0], interp.get_output_details()[0]
        want_t = np.int16 if io == "int16" else np.float32
        c.check(di["dtype"] == want_t and do["dtype"] == want_t,
                f"{io} I/O: loads with the reference kernels, {np.dtype(di['dtype']).name} in, "
                f"{np.dtype(do['dtype']).name} out")
        graph_checks(c, interp, f"{io} I/O")
        s_in = di["quantization"][0]
        mismatches, failed = 0, ""
        for k in range(N_INPUTS):
            img = rng.random(di["shape"], dtype=np.float32)
            if io == "float32":
                x = img
            elif k % 2:
                x = rng.integers(-32768, 32768, size=di["shape"]).astype(np.int16)
            else:
                x = np.clip(np.round(img / np.float32(s_in)), -32768, 32767).astype(np.int16)
            interp.set_tensor(di["index"], x)
            interp.invoke()
            want = interp.get_tensor(do["index"]).copy()
            got, err = run_qat(args.qat, path, x, tmp, want.dtype, want.shape)
            if got is None:
                failed = err
                break
            if got.tobytes() != want.tobytes():
                mismatches += 1
        c.check(not failed and mismatches == 0,
                f"{io} I/O: {N_INPUTS} inputs, `qat run` == official BUILTIN_REF bit for bit "
                f"({mismatches} differ) {failed[:200]}")
        versions = add_versions(path)
        if versions and versions[0]:
            c.check(versions[0] == [3] and not any(versions[1]),
                    f"{io} I/O: ADD version {versions[0]}, pot_scale_int16 {versions[1]}")
        del interp


def test_refusals(c, args):
    print("int16x8 refusals")
    work = os.path.join(args.work, "interop_int16x8", "refusals")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    float_cfg = t8.SMALL_CNN.replace("quantize: {mode: qat, delay: 50}\n", "")
    cfg = os.path.join(work, "float.yaml")
    with open(cfg, "w") as f:
        f.write(float_cfg)
    ckpt = os.path.join(work, "float.h5")
    t8.run([args.qat, "init", cfg, "-o", ckpt])
    target = os.path.join(work, "x.tflite")
    r = subprocess.run([args.qat, "export", ckpt, "--mode", "int16x8", "-o", target], capture_output=True, text=True)
    c.check(r.returncode == 2 and "calibrat" in r.stderr and not os.path.exists(target),
            f"float checkpoint: exit {r.returncode}, '{r.stderr.strip()[:160]}'")
    for io in ("uint8", "int8"):
        r = subprocess.run([args.qat, "export", ckpt, "--mode", "int16x8", "--io", io, "-o", target],
                           capture_output=True, text=True)
        c.check(r.returncode == 2 and io in r.stderr and "int16" in r.stderr and not os.path.exists(target),
                f"--io {io}: exit {r.returncode}, '{r.stderr.strip()[:120]}'")
    # a ReLU after a pool: no op can fuse it, and 16x8 export (as int8) has no standalone one
    relu_cfg = t8.SMALL_CNN.replace("    - MaxPooling2D: {name: pool1, pool_size: 2}\n",
                                    "    - MaxPooling2D: {name: pool1, pool_size: 2}\n    - ReLU: {name: lonely}\n")
    relu_cfg = relu_cfg.replace("limit_train: 9600", "limit_train: 640").replace("delay: 50", "delay: 5")
    cfg = os.path.join(work, "relu.yaml")
    with open(cfg, "w") as f:
        f.write(relu_cfg)
    t8.run([args.qat, "train", cfg, "--out", os.path.join(work, "relu"), "--threads", "2"])
    r = subprocess.run([args.qat, "export", os.path.join(work, "relu", "checkpoint.h5"), "--mode", "int16x8", "-o",
                        target], capture_output=True, text=True)
    msg = r.stderr.strip()
    c.check(r.returncode != 0 and "'lonely'" in msg and "int16x8" in msg and len(msg.splitlines()) == 1
            and not os.path.exists(target), f"unfusable ReLU: exit {r.returncode}, '{msg[:200]}'")


def classify_float(path, x, Interpreter, resolver):
    import numpy as np
    interp = Interpreter(model_path=path, experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    di, do = interp.get_input_details()[0], interp.get_output_details()[0]
    pred = np.empty(len(x), dtype=np.int64)
    for i in range(len(x)):
        interp.set_tensor(di["index"], x[i:i + 1])
        interp.invoke()
        pred[i] = int(np.argmax(interp.get_tensor(do["index"])[0]))
    return pred


def whole_test_set(c, args, Interpreter, resolver):
    import numpy as np
    print("fashion_mnist_cnn: float 100 steps, QAT fine-tuning 100 steps, int16x8 over the whole test set")
    d = os.environ.get("QAT_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"
    if os.environ.get("QAT_SANITIZE_BUILD"):
        print("  skip: QAT_SANITIZE_BUILD is set (a sanitizer build trains 200 steps too slowly)")
        return
    if not os.path.isdir(d):
        print(f"  skip: no Fashion-MNIST at {d} (Debian's dataset-fashion-mnist)")
        return
    work = os.path.join(args.work, "interop_int16x8", "fashion_whole_test")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cfgs = {"float": t8.fashion_config()}
    cfgs["qat"] = t8.fashion_config(init=os.path.join(work, "float", "checkpoint.h5"))
    for stage in ("float", "qat"):
        cfg = os.path.join(work, f"{stage}.yaml")
        with open(cfg, "w") as f:
            f.write(cfgs[stage])
        out = t8.run([args.qat, "train", cfg, "--out", os.path.join(work, stage), "--threads", "2", "--json"])
        print(f"  {stage}: " + out.strip().splitlines()[-1][:300])
    ckpt = os.path.join(work, "qat", "checkpoint.h5")
    ev = json.loads(t8.run([args.qat, "eval", ckpt, "--json"]).strip().splitlines()[-1])
    results = {}
    images, labels = t8.load_fashion_test()
    x = images.astype(np.float32) / np.float32(255.0)  # what qat's loader feeds the model
    for mode in ("int16x8", "int8"):
        path = os.path.join(work, f"model_{mode}.tflite")
        info = json.loads(t8.run([args.qat, "export", ckpt, "--mode", mode, "--io", "float32", "-o", path, "--json"]))
        pred = classify_float(path, x, Interpreter, resolver)
        results[mode] = (float(np.mean(pred == labels)), info["size_bytes"])
    fl, fq = ev.get("float_accuracy"), ev.get("fakequant_accuracy")
    a16, a8 = results["int16x8"][0], results["int8"][0]
    print(f"  qat eval: float accuracy {fl}, fake-quant (int8) accuracy {fq}")
    print(f"  official interpreter (BUILTIN_REF), {len(labels)} test images: int16x8 {a16:.4f} "
          f"({results['int16x8'][1]:,} B), int8 {a8:.4f} ({results['int8'][1]:,} B)")
    print(f"  int16x8 - float: {100 * (a16 - fl):+.2f} pp; int8 - float: {100 * (a8 - fl):+.2f} pp")
    c.check(fl is not None and abs(a16 - fl) <= 0.003,
            f"int16x8 accuracy {a16:.4f} within 0.3 pp of the float model's {fl}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--qat", required=True)
    p.add_argument("--work", required=True)
    args = p.parse_args()
    if not t8.in_venv():
        if not os.path.exists(t8.VENV_PY):
            print(f"FAIL: no Python venv at {t8.VENV}: run scripts/setup.sh (this test needs the official "
                  "TFLite interpreter)")
            print("0 passed, 1 failed")
            return 1
        os.execv(t8.VENV_PY, [t8.VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])
    args.qat = os.path.abspath(args.qat)
    args.work = os.path.abspath(args.work)
    Interpreter, resolver, where = t8.load_interpreter()
    print(f"official interpreter: {where}, reference kernels")
    c = t8.Checks()
    try:
        small = t8.SMALL_CNN.replace("limit_train: 9600", "limit_train: 3200")
        test_model(c, args, Interpreter, resolver, "small_cnn", small)
        mobilenet = t8.mobilenet_config().replace("limit_train: 9600", "limit_train: 3200")
        test_model(c, args, Interpreter, resolver, "mobilenet_tiny", mobilenet)
        test_refusals(c, args)
        whole_test_set(c, args, Interpreter, resolver)
    except Exception as e:  # noqa: BLE001
        c.failed += 1
        print(f"  FAIL {type(e).__name__}: {e}")
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
