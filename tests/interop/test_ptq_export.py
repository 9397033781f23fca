#!/usr/bin/env python3
"""Post-training quantization exports against the official TFLite interpreter (run by ctest:
tests/export.cmake).

Float checkpoints (a small CNN trained briefly on a slice of Fashion-MNIST (initialized only in
sanitizer builds), examples/
mobilenet_tiny.yaml's network and examples/cifar10_cnn.yaml's, freshly initialized) are exported
with `qat export` as float32, float16, dynamic and int8 calibrated with `--calibrate N` (min/max;
for the small CNN also percentile, MSE and --calibration-data FILE). Then
  - ai-edge-litert's Interpreter with the reference kernels (OpResolverType.BUILTIN_REF) loads
    every file and the serving_default signature runner works;
  - float16: every constant the ops read is a FLOAT16 tensor feeding a DEQUANTIZE op (or an int32
    shape); inputs and outputs float32;
  - dynamic: the CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED weights of >= 1024 elements are
    int8, zero point 0, per channel along 0 (conv) or 3 (depthwise), per tensor for
    FULLY_CONNECTED; smaller ones stay float32; biases, inputs and outputs float32;
  - int8 (calibrated): per-channel int8 weights, int32 biases at s_in * s_w (the int8 test's
    checks);
  - on random inputs the official outputs equal `qat run`'s bit for bit (int8, dynamic) or within
    1e-6 relative (float32, float16);
  - the CIFAR architecture's file sizes are below the TF converter's (float16 249,936 B,
    dynamic 131,472 B, int8 133,216 B) and about 1/2 (float16) and 1/4 (dynamic, int8) of our
    float32 file;
  - `qat export` refuses bad PTQ options and calibration data with one-line errors naming the
    problem (exit 2 usage, 4 I/O), writing nothing;
  - examples/fashion_mnist_cnn.yaml's network trained 100 steps in float, then `qat compare`
    over 2,000 test images: int8 calibrated within 1 pp of float32, float16 within 0.1 pp,
    dynamic within 1 pp, compare.md/json/svg written, and the --official column (the official
    interpreter's accuracy) equal to qat's runtime's in every mode. Skipped under
    QAT_SANITIZE_BUILD and without the dataset.
The interpreter comes from the repository's .venv (scripts/setup.sh): without it the test fails.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_int8_export as i8  # noqa: E402  (its helpers: venv, checks, configs, CIFAR files)

FLOAT_CNN = i8.SMALL_CNN.replace("quantize: {mode: qat, delay: 50}\n", "").replace(
    "limit_train: 9600", "limit_train: 3200")
TF_SIZES = {"float16": 249936, "dynamic": 131472, "int8": 133216}
MIN_ELEMENTS = 1024


def mobilenet_float():
    with open(os.path.join(i8.ROOT, "examples", "mobilenet_tiny.yaml")) as f:
        text = f.read()
    text = text.replace("data: {dataset: fashion-mnist}",
                        "data: {dataset: fashion-mnist, limit_train: 2000, limit_test: 200}")
    if "limit_train" not in text:
        raise RuntimeError("examples/mobilenet_tiny.yaml changed shape: cannot shorten it")
    return text


def cifar_float(train_files, test_file):
    return i8.cifar_config(train_files, test_file).replace("quantize: {mode: qat, delay: 10}\n", "")


def consts(interp):
    """Tensor index -> detail for the tensors the ops read that no op writes (constants)."""
    details = {d["index"]: d for d in interp.get_tensor_details()}
    written = set()
    read = set()
    for op in interp._get_ops_details():
        written.update(int(i) for i in op["outputs"])
        read.update(int(i) for i in op["inputs"] if i >= 0)
    graph_in = {d["index"] for d in interp.get_input_details()}
    return {i: details[i] for i in read - written - graph_in}, details


def structure_checks(c, interp, mode, label):
    import numpy as np
    const, details = consts(interp)
    ops = interp._get_ops_details()
    ins, outs = interp.get_input_details(), interp.get_output_details()
    if mode in ("float16", "dynamic", "float32"):
        c.check(all(d["dtype"] == np.float32 for d in ins + outs), f"{label}: float32 inputs and outputs")
    if mode == "float16":
        bad = [d["name"] for d in const.values() if d["dtype"] not in (np.float16, np.int32)]
        deq = [op for op in ops if op["op_name"] == "DEQUANTIZE"]
        fed = all(details[int(op["inputs"][0])]["dtype"] == np.float16 for op in deq)
        n16 = sum(d["dtype"] == np.float16 for d in const.values())
        c.check(not bad and deq and fed and len(deq) == n16,
                f"{label}: {n16} FLOAT16 constants, each behind a DEQUANTIZE; no float32 constant {bad[:3]}")
    if mode == "dynamic":
        why = []
        n_q = 0
        for op in ops:
            if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                continue
            w = details[int(op["inputs"][1])]
            b = details[int(op["inputs"][2])] if len(op["inputs"]) > 2 and op["inputs"][2] >= 0 else None
            n = int(np.prod(w["shape"]))
            q = w["quantization_parameters"]
            if b is not None and b["dtype"] != np.float32:
                why.append(f"{b['name']} bias {b['dtype']}")
            if n < MIN_ELEMENTS:
                if w["dtype"] != np.float32:
                    why.append(f"{w['name']} ({n} elements) should stay float32")
                continue
            n_q += 1
            qd = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3}.get(op["op_name"])
            want_n = w["shape"][qd] if qd is not None else 1
            vals = np.array(interp.get_tensor(w["index"]), copy=True)
            if (w["dtype"] != np.int8 or len(q["scales"]) != want_n or np.any(q["zero_points"])
                    or (qd is not None and q["quantized_dimension"] != qd) or vals.min() < -127):
                why.append(f"{w['name']}: {w['dtype']}, {len(q['scales'])} scales along "
                           f"{q['quantized_dimension']}")
        c.check(n_q > 0 and not why, f"{label}: {n_q} int8 weight tensors (conv per channel, dense per "
                f"tensor, zero point 0), small ones float, float biases {'; '.join(why)}")
    if mode == "int8":
        i8.weight_checks(c, interp, label)


def compare_outputs(c, args, interps, files, shape, work, samples):
    import numpy as np
    rng = np.random.default_rng(11)
    worst = {m: 0.0 for m in files}
    differ = {m: 0 for m in files}
    for s in range(samples):
        x = rng.random((1, *shape)).astype(np.float32)
        if s % 2:
            x = (x ** 3).astype(np.float32)
        for mode, interp in interps.items():
            di, do = interp.get_input_details()[0], interp.get_output_details()[0]
            if di["dtype"] == np.int8:
                sc, zp = di["quantization"]
                xin = np.clip(np.round(x / np.float32(sc)) + zp, -128, 127).astype(np.int8)
            else:
                xin = x
            interp.set_tensor(di["index"], xin)
            interp.invoke()
            official = np.array(interp.get_tensor(do["index"]), copy=True)
            raw_in, raw_out = os.path.join(work, "in.raw"), os.path.join(work, "out.raw")
            xin.tofile(raw_in)
            i8.run([args.qat, "run", files[mode], "--input", raw_in, "--output", raw_out])
            ours = np.fromfile(raw_out, dtype=official.dtype).reshape(official.shape)
            if mode in ("int8", "dynamic") or mode.startswith("int8"):
                differ[mode] += not np.array_equal(official, ours)
            else:
                scale = float(np.max(np.abs(official.astype(np.float64)))) or 1.0
                worst[mode] = max(worst[mode], float(np.max(np.abs(official.astype(np.float64) -
                                                                   ours.astype(np.float64)))) / scale)
    for mode in files:
        if mode in ("float32", "float16"):
            c.check(worst[mode] <= 1e-6, f"{mode}: official outputs within 1e-6 relative of `qat run` on "
                    f"{samples} inputs (worst {worst[mode]:.3g})")
        else:
            c.check(differ[mode] == 0, f"{mode}: official outputs equal `qat run` bit for bit on {samples} "
                    f"inputs ({differ[mode]} differ)")


def export_all(c, args, Interpreter, resolver, name, ckpt, work, shape, extra=()):
    """float32, float16, dynamic, int8 calibrated (+ extra (label, options) int8 variants)."""
    files, sizes, interps = {}, {}, {}
    variants = [("float32", ["--mode", "float32"]), ("float16", ["--mode", "float16"]),
                ("dynamic", ["--mode", "dynamic"]), ("int8", ["--mode", "int8", "--calibrate", "64"])]
    variants += list(extra)
    for label, opts in variants:
        path = os.path.join(work, f"{name}_{label}.tflite")
        info = json.loads(i8.run([args.qat, "export", ckpt, *opts, "-o", path, "--json"]))
        files[label] = path
        sizes[label] = info["size_bytes"]
        interp = Interpreter(model_path=path, experimental_op_resolver_type=resolver)
        interp.allocate_tensors()
        try:
            sig_ok = interp.get_signature_runner("serving_default") is not None
        except Exception as e:  # noqa: BLE001
            sig_ok = False
            print(f"    {e}")
        c.check(sig_ok and os.path.getsize(path) == sizes[label],
                f"{name} {label}: {sizes[label]:,} B, loads with the reference kernels, serving_default works")
        interps[label] = interp
        structure_checks(c, interp, "int8" if label.startswith("int8") else label, f"{name} {label}")
    again = os.path.join(work, f"{name}_int8_again.tflite")
    i8.run([args.qat, "export", ckpt, "--mode", "int8", "--calibrate", "64", "-o", again])
    with open(files["int8"], "rb") as f1, open(again, "rb") as f2:
        c.check(f1.read() == f2.read(), f"{name}: calibrated int8 exported twice is byte-identical (seeded samples)")
    compare_outputs(c, args, interps, files, shape, work, args.samples)
    return sizes


def fresh(args, name):
    work = os.path.join(args.work, "interop_ptq", name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    return work


def small_cnn(c, args, Interpreter, resolver):
    import numpy as np
    name = "small_cnn"
    print(name)
    work = fresh(args, name)
    cfg = os.path.join(work, "config.yaml")
    with open(cfg, "w") as f:
        f.write(FLOAT_CNN)
    if os.environ.get("QAT_SANITIZE_BUILD"):  # a sanitizer build trains slowly: initialized weights
        ckpt = os.path.join(work, "init.h5")
        i8.run([args.qat, "init", cfg, "-o", ckpt])
    else:
        out = i8.run([args.qat, "train", cfg, "--out", os.path.join(work, "run"), "--threads", "2", "--json"])
        print("  " + out.strip().splitlines()[-1][:200])
        ckpt = os.path.join(work, "run", "checkpoint.h5")
    # a representative IDX image file: 100 training images
    images, _ = i8.load_fashion_test()
    idx = os.path.join(work, "calib-images-idx3-ubyte")
    with open(idx, "wb") as f:
        f.write(np.array([0x803, 100, 28, 28], dtype=">u4").tobytes())
        f.write(images[:100].tobytes())
    extra = [("int8_percentile", ["--mode", "int8", "--calibrate", "64", "--calibration-method", "percentile",
                                  "--percentile", "99.9"]),
             ("int8_mse", ["--mode", "int8", "--calibrate", "64", "--calibration-method", "mse"]),
             ("int8_file", ["--mode", "int8", "--calibrate", "50", "--calibration-data", idx])]
    export_all(c, args, Interpreter, resolver, name, ckpt, work, (28, 28, 1), extra)
    calibration_sources(args, ckpt, work, idx, images[:100])
    refusals(c, args, ckpt, work)


def calibration_sources(args, ckpt, work, idx, images):
    """--calibration-data takes the same 100 images as IDX, as a .npz (x_train) and as a PNG
    folder of two classes (--calibrate 100: every sample). The .npz keeps the IDX order: the
    int8 files are byte-identical. The folder orders them by class, so the batches differ and
    OpenBLAS may round a sample's sums differently in another batch position: its scales
    agree to 1e-6, its zero points exactly."""
    import numpy as np
    from PIL import Image
    npz = os.path.join(work, "calib.npz")
    np.savez(npz, x_train=images.reshape(-1, 28, 28, 1), y_train=np.arange(len(images)) % 2)
    folder = os.path.join(work, "calib_folder")
    for i, im in enumerate(images):
        d = os.path.join(folder, f"c{i % 2}")
        os.makedirs(d, exist_ok=True)
        Image.fromarray(im.reshape(28, 28)).save(os.path.join(d, f"{i:03d}.png"))
    files = {}
    for tag, src in (("idx", idx), ("npz", npz), ("folder", folder)):
        out = os.path.join(work, f"calib_{tag}.tflite")
        i8.run([args.qat, "export", ckpt, "--mode", "int8", "--calibrate", "100", "--calibration-data", src,
                "-o", out])
        with open(out, "rb") as f:
            files[tag] = f.read()
    if files["npz"] != files["idx"]:
        sys.exit("FAIL: --calibration-data: the same images as IDX and as .npz gave different files")
    from ai_edge_litert.interpreter import Interpreter
    q = {tag: [t["quantization"] for t in Interpreter(model_content=files[tag]).get_tensor_details()]
         for tag in ("idx", "folder")}
    for (s1, z1), (s2, z2) in zip(q["idx"], q["folder"]):
        if z1 != z2 or abs(s1 - s2) > 1e-6 * max(abs(s1), 1e-30):
            sys.exit(f"FAIL: --calibration-data folder: scale/zero point {s2}/{z2}, IDX {s1}/{z1}")
    print("  --calibration-data: the same 100 images as IDX, .npz (identical file) and a PNG folder "
          "(scales within 1e-6)")


def refusals(c, args, ckpt, work):
    target = os.path.join(work, "refused.tflite")
    cifar = os.path.join(work, "one_batch.bin")
    i8.write_cifar(cifar, 10, 5)
    cases = [
        (["--mode", "float16", "--calibrate", "10"], 2, "--calibrate applies to", "--calibrate with float16"),
        (["--mode", "int8", "--calibrate", "0"], 2, "--calibrate expects", "--calibrate 0"),
        (["--mode", "int8", "--calibrate", "10", "--calibration-method", "kl"], 2, "'kl' is unknown",
         "unknown calibration method"),
        (["--mode", "int8", "--calibration-method", "mse"], 2, "need --calibrate", "method without --calibrate"),
        (["--mode", "int8", "--calibrate", "10", "--percentile", "99"], 2, "--percentile goes with",
         "--percentile without the percentile method"),
        (["--mode", "int8", "--calibrate", "10", "--calibration-data", os.path.join(work, "nope.idx")], 4,
         "nope.idx", "missing calibration file"),
        (["--mode", "int8", "--calibrate", "10", "--calibration-data", cifar], 2, "32x32x3",
         "CIFAR images for a 28x28x1 model"),
        (["--mode", "int8", "--calibrate", "10", "--calibration-data", FLOAT_CNN_PATH[0]], 3, "CIFAR-10",
         "a YAML file as calibration data"),
    ]
    for opts, code, pattern, what in cases:
        r = subprocess.run([args.qat, "export", ckpt, *opts, "-o", target], capture_output=True, text=True)
        first = r.stderr.strip().splitlines()[0] if r.stderr.strip() else ""
        c.check(r.returncode == code and first.startswith("qat: error: ") and pattern in first
                and not os.path.exists(target), f"refused: {what}: exit {r.returncode} (want {code}), '{first[:150]}'")


FLOAT_CNN_PATH = [""]


def mobilenet(c, args, Interpreter, resolver):
    name = "mobilenet_tiny"
    print(name)
    work = fresh(args, name)
    cfg = os.path.join(work, "config.yaml")
    with open(cfg, "w") as f:
        f.write(mobilenet_float())
    ckpt = os.path.join(work, "init.h5")
    i8.run([args.qat, "init", cfg, "-o", ckpt])
    export_all(c, args, Interpreter, resolver, name, ckpt, work, (28, 28, 1))


def cifar(c, args, Interpreter, resolver):
    name = "cifar10_cnn"
    print(name)
    work = fresh(args, name)
    train_files = [os.path.join(work, f"data_batch_{i}.bin") for i in (1, 2)]
    for i, path in enumerate(train_files):
        i8.write_cifar(path, 200, 10 + i)
    test_file = os.path.join(work, "test_batch.bin")
    i8.write_cifar(test_file, 50, 20)
    cfg = os.path.join(work, "config.yaml")
    with open(cfg, "w") as f:
        f.write(cifar_float(train_files, test_file))
    ckpt = os.path.join(work, "init.h5")
    i8.run([args.qat, "init", cfg, "-o", ckpt])
    extra = [("int8_file", ["--mode", "int8", "--calibrate", "64", "--calibration-data", test_file])]
    sizes = export_all(c, args, Interpreter, resolver, name, ckpt, work, (32, 32, 3), extra)
    f32 = sizes["float32"]
    for mode, tf in TF_SIZES.items():
        c.check(sizes[mode] < tf, f"examples/cifar10_cnn.yaml architecture, {mode}: {sizes[mode]:,} B < TF "
                f"converter's {tf:,} B ({100 * sizes[mode] / tf:.1f} %)")
    r16, rdyn, r8 = sizes["float16"] / f32, sizes["dynamic"] / f32, sizes["int8"] / f32
    c.check(0.45 <= r16 <= 0.55, f"float16 is about 1/2 of float32 ({sizes['float16']:,} / {f32:,} = {r16:.3f})")
    c.check(0.2 <= rdyn <= 0.3 and 0.2 <= r8 <= 0.3,
            f"dynamic and int8 are about 1/4 of float32 ({rdyn:.3f}, {r8:.3f})")


def accuracy(c, args, Interpreter, resolver):
    """examples/fashion_mnist_cnn.yaml's network, 100 float steps, then qat compare."""
    print("fashion_mnist_cnn: float 100 steps, qat compare over 2,000 test images")
    d = os.environ.get("QAT_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"
    if os.environ.get("QAT_SANITIZE_BUILD"):
        print("  skip: QAT_SANITIZE_BUILD is set (a sanitizer build trains too slowly)")
        return
    if not os.path.isdir(d):
        print(f"  skip: no Fashion-MNIST at {d}")
        return
    work = fresh(args, "fashion_compare")
    cfg = os.path.join(work, "float.yaml")
    with open(cfg, "w") as f:
        f.write(i8.fashion_config())
    out = i8.run([args.qat, "train", cfg, "--out", os.path.join(work, "float"), "--threads", "2", "--json"])
    print("  " + out.strip().splitlines()[-1][:200])
    ckpt = os.path.join(work, "float", "checkpoint.h5")
    outdir = os.path.join(work, "compare")
    res = json.loads(i8.run([args.qat, "compare", ckpt, "--calibrate", "500", "--limit", "2000", "-o", outdir,
                             "--official", sys.executable, "--json"]))
    rows = {r["name"]: r for r in res["modes"]}
    for r in res["modes"]:
        if r["available"]:
            print(f"  {r['name']:9s} {r['size_bytes']:>9,} B  accuracy {r['accuracy']:.4f}  "
                  f"{r['accuracy_delta_pp']:+.2f} pp  {r['ms_per_sample']:.3f} ms")
        else:
            print(f"  {r['name']:9s} not available: {r['reason']}")
    c.check(all(os.path.exists(os.path.join(outdir, f)) for f in ("compare.md", "compare.json", "compare.svg")),
            "qat compare wrote compare.md, compare.json and compare.svg")
    with open(os.path.join(outdir, "compare.json")) as f:
        c.check(json.load(f) == res, "compare.json is what --json printed")
    same = [r["name"] for r in res["modes"] if r["available"] and r.get("official_accuracy") != r["accuracy"]]
    c.check(not same and all("official_accuracy" in r for r in res["modes"] if r["available"]),
            f"qat compare --official: the official interpreter's accuracy equals qat's runtime's in every mode {same}")
    f32 = rows["float32"]["accuracy"]
    for mode, tol in (("int8", 1.0), ("float16", 0.1), ("dynamic", 1.0)):
        r = rows.get(mode)
        ok = r is not None and r["available"] and abs(r["accuracy"] - f32) * 100 <= tol + 1e-9
        c.check(ok, f"{mode}: accuracy {r and r.get('accuracy')} within {tol} pp of float32 {f32:.4f} "
                f"on {res['test_samples']} test images")
    r16 = rows.get("int16x8")
    c.check(r16 is not None and (r16["available"] or "int16x8" in r16["reason"]),
            f"int16x8 row: {'available' if r16 and r16['available'] else (r16 or {}).get('reason')}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--qat", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--samples", type=int, default=12)
    args = p.parse_args()
    i8.VENV_PY = os.path.join(i8.VENV, "bin", "python")
    if not i8.in_venv():
        if not os.path.exists(i8.VENV_PY):
            print(f"FAIL: no Python venv at {i8.VENV}: run scripts/setup.sh")
            print("0 passed, 1 failed")
            return 1
        os.execv(i8.VENV_PY, [i8.VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])
    Interpreter, resolver, which = i8.load_interpreter()
    print(f"interpreter: {which}, reference kernels")
    c = i8.Checks()
    FLOAT_CNN_PATH[0] = os.path.join(args.work, "interop_ptq", "small_cnn", "config.yaml")
    for label, part in (("small_cnn", small_cnn), ("mobilenet_tiny", mobilenet), ("cifar10_cnn", cifar),
                        ("accuracy", accuracy)):
        started = time.monotonic()
        try:
            part(c, args, Interpreter, resolver)
        except Exception as e:  # noqa: BLE001  (one part's failure must not hide the others)
            c.check(False, f"{label}: {type(e).__name__}: {e}")
        print(f"  ({label}: {time.monotonic() - started:.1f} s)")
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
