#!/usr/bin/env python3
"""Float32 export against the official TFLite interpreter (run by ctest: tests/export.cmake).

For each model config: `qat init` writes a checkpoint, `tflite_forward perturb` redraws its
biases and batch-norm statistics (so that folding is really exercised), `qat export --mode
float32` writes the .tflite (twice: the bytes must be identical). Then
  - ai-edge-litert's Interpreter with the reference kernels (OpResolverType.BUILTIN_REF) loads
    it, the serving_default signature runner works, input/output dtypes and shapes are qat's;
  - its outputs on random inputs equal qat's own float forward (tflite_forward run) within
    1e-5, relative to the largest output;
  - flatc (Debian flatbuffers-compiler) decodes it with the patched official schema, and the
    decoded file has what the converter writes (version 3, empty buffer 0, both opcode
    fields, op versions, min_runtime_version, the signature, the description).
The interpreter comes from the repository's .venv, made by scripts/setup.sh: without it the
test fails (it does not skip). Only the flatc part is skipped, with a reason, when flatc or
the schema fixture is missing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, ".venv")
VENV_PY = os.path.join(VENV, "bin", "python")
SCHEMA = os.path.join(ROOT, "..", "shared", "fixtures", "tflite", "schema_debian_flatc.fbs")
HERE = os.path.dirname(os.path.abspath(__file__))

# (name, config, perturbation seed, samples)
MODELS = [
    ("fashion_mnist_cnn", os.path.join(ROOT, "examples", "fashion_mnist_cnn.yaml"), 1, 3),
    ("mobilenet_tiny", os.path.join(ROOT, "examples", "mobilenet_tiny.yaml"), 2, 4),
    ("cifar10_cnn", os.path.join(ROOT, "examples", "cifar10_cnn.yaml"), 3, 3),
    ("features", os.path.join(HERE, "features.yaml"), 4, 4),
    ("gap_softmax", os.path.join(HERE, "gap_softmax.yaml"), 5, 4),
    ("gmp", os.path.join(HERE, "gmp.yaml"), 6, 4),
]
# What the TF converter writes for examples/cifar10_cnn.yaml in float32 (issue 5).
CIFAR_CONVERTER_BYTES = 493624

# BuiltinOperator codes and runtime_version.cc's minimum runtime for version 1 of each.
OP_CODES = {"ADD": 0, "AVERAGE_POOL_2D": 1, "CONV_2D": 3, "DEPTHWISE_CONV_2D": 4, "DEQUANTIZE": 6,
            "FULLY_CONNECTED": 9, "MAX_POOL_2D": 17, "RELU": 19, "RELU6": 21, "RESHAPE": 22,
            "SOFTMAX": 25, "MEAN": 40, "REDUCE_MAX": 82, "QUANTIZE": 114}
RUNTIME_V1 = {"MEAN": "1.6.0", "REDUCE_MAX": "1.11.0", "DEQUANTIZE": "1.13.1", "QUANTIZE": "1.14.0"}


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


def flatc_checks(c, flatc, path, work, expect_ops, out_name):
    """Decodes the file with flatc and checks the converter's conventions."""
    r = subprocess.run([flatc, "--json", "--strict-json", "--raw-binary", "-o", work, SCHEMA, "--", path],
                       capture_output=True, text=True)
    if not c.check(r.returncode == 0, f"flatc decodes {os.path.basename(path)} (exit {r.returncode})"):
        print(r.stderr[-2000:])
        return
    with open(os.path.join(work, os.path.splitext(os.path.basename(path))[0] + ".json")) as f:
        d = json.load(f)
    c.check(d.get("version") == 3, "schema version 3")
    c.check(str(d.get("description", "")).startswith("qat "), f"description {d.get('description')!r}")
    bufs = d.get("buffers", [])
    c.check(len(bufs) > 0 and not bufs[0].get("data"), "buffer 0 is empty")
    codes = d.get("operator_codes", [])
    names = [oc.get("builtin_code", "ADD") for oc in codes]  # ADD (0) is the enum default
    c.check(sorted(names) == sorted(expect_ops),
            f"operator codes {names} (expected {sorted(expect_ops)})")
    c.check(all(oc.get("deprecated_builtin_code", 0) == min(OP_CODES.get(n, -1), 127)
                for oc, n in zip(codes, names)), "deprecated_builtin_code = min(builtin_code, 127)")
    c.check(all(oc.get("version", 1) == 1 for oc in codes), "every float32 op is version 1")
    md = {m["name"]: m.get("buffer", 0) for m in d.get("metadata", [])}
    ok = "min_runtime_version" in md
    if c.check(ok, "min_runtime_version metadata present"):
        raw = bytes(bufs[md["min_runtime_version"]].get("data", []))
        want = max((RUNTIME_V1.get(n, "1.5.0") for n in names),
                   key=lambda v: tuple(int(x) for x in v.split(".")))
        c.check(len(raw) == 16 and raw.rstrip(b"\0").decode() == want,
                f"min_runtime_version {raw.rstrip(bytes(1))!r} (16 bytes, expected {want})")
    sigs = d.get("signature_defs", [])
    ok = (len(sigs) == 1 and sigs[0].get("signature_key") == "serving_default"
          and [t["name"] for t in sigs[0].get("inputs", [])] == ["input"]
          and [t["name"] for t in sigs[0].get("outputs", [])] == [out_name])
    c.check(ok, "serving_default signature in the decoded file")


def test_model(c, args, Interpreter, resolver, name, config, seed, samples):
    import numpy as np
    print(f"{name}: {os.path.relpath(config, ROOT)}")
    work = os.path.join(args.work, "interop_float32", name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    init_ckpt = os.path.join(work, "init.h5")
    ckpt = os.path.join(work, "model.h5")
    tfl = os.path.join(work, "model.tflite")
    again = os.path.join(work, "again.tflite")
    run([args.qat, "init", config, "-o", init_ckpt])
    run([args.forward, "perturb", init_ckpt, ckpt, str(seed)])
    summary = json.loads(run([args.qat, "export", ckpt, "--mode", "float32", "-o", tfl, "--json"]))
    run([args.qat, "export", ckpt, "--mode", "float32", "-o", again])
    size = os.path.getsize(tfl)
    with open(tfl, "rb") as f:
        data = f.read()
    with open(again, "rb") as f:
        c.check(f.read() == data, "exporting twice gives byte-identical files")
    c.check(summary["path"] == tfl and summary["size_bytes"] == size and summary["mode"] == "float32"
            and sum(summary["ops"].values()) == summary["operators"],
            f"--json summary: {size} bytes, {summary['tensors']} tensors, ops {summary['ops']}")
    c.check(data[4:8] == b"TFL3", "file identifier TFL3")

    interp = Interpreter(model_path=tfl, experimental_op_resolver_type=resolver)
    sigs = interp.get_signature_list()
    out_names = sigs.get("serving_default", {}).get("outputs", [])
    c.check(list(sigs) == ["serving_default"] and sigs["serving_default"]["inputs"] == ["input"]
            and len(out_names) == 1, f"signatures {sigs}")
    runner = interp.get_signature_runner("serving_default")
    ind = runner.get_input_details()["input"]
    outd = runner.get_output_details()[out_names[0]]
    with open(config) as f:
        text = f.read()
    # input: [H, W, C] of the config, written on one line in every config here
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("input:"))
    hwc = [int(v) for v in line.split("[")[1].split("]")[0].split(",")]
    c.check(ind["dtype"] == np.float32 and list(ind["shape"]) == [1] + hwc,
            f"input float32 {[int(v) for v in ind['shape']]}")

    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 2.0, size=[samples] + hwc).astype(np.float32)
    got = np.concatenate([runner(input=x[i:i + 1])[out_names[0]] for i in range(samples)])
    xin, yout = os.path.join(work, "x.f32"), os.path.join(work, "y.f32")
    x.tofile(xin)
    run([args.forward, "run", ckpt, xin, str(samples), yout])
    want = np.fromfile(yout, dtype=np.float32).reshape(samples, -1)
    c.check(outd["dtype"] == np.float32 and list(outd["shape"]) == [1, want.shape[1]],
            f"output '{out_names[0]}' float32 {[int(v) for v in outd['shape']]}")
    scale = float(np.max(np.abs(want)))
    err = float(np.max(np.abs(got.astype(np.float64) - want))) / scale if scale > 0 else float("inf")
    c.check(got.shape == want.shape and err <= 1e-5,
            f"interpreter outputs == qat forward on {samples} random inputs (max rel. error {err:.2e})")

    if args.flatc and os.access(args.flatc, os.X_OK) and os.path.exists(SCHEMA):
        expect = sorted(summary["ops"])
        flatc_checks(c, args.flatc, tfl, work, expect, out_names[0])
    else:
        print(f"  skip flatc decode: {'flatc not found (Debian flatbuffers-compiler)' if not args.flatc else ''}"
              f"{'' if os.path.exists(SCHEMA) else ' schema fixture ' + SCHEMA + ' not found'}")
    return size


def test_cli_errors(c, args):
    """`qat export` refusals: exit code, one error line, and the target left as it was."""
    print("qat export errors")
    work = os.path.join(args.work, "interop_float32", "cli")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cfg = os.path.join(work, "bad.yaml")
    with open(cfg, "w") as f:
        f.write("model:\n  input: [6, 6, 1]\n  layers:\n"
                "    - Conv2D: {name: c, filters: 2, kernel_size: 3, activation: relu}\n"
                "    - BatchNormalization: {name: bn}\n    - Flatten: {}\n")
    ckpt = os.path.join(work, "bad.h5")
    run([args.qat, "init", cfg, "-o", ckpt])
    target = os.path.join(work, "keep.tflite")
    with open(target, "wb") as f:
        f.write(b"previous contents")

    def refuse(argv, code, pattern, what):
        r = subprocess.run([args.qat, "export"] + argv, capture_output=True, text=True)
        lines = r.stderr.strip().splitlines()
        with open(target, "rb") as f:
            kept = f.read() == b"previous contents"
        left = sorted(os.listdir(work))
        c.check(r.returncode == code and lines and lines[0].startswith("qat: error: ") and pattern in lines[0]
                and kept and left == ["bad.h5", "bad.yaml", "keep.tflite"],
                f"{what}: exit {r.returncode} (want {code}), '{lines[0] if lines else ''}'")

    refuse([ckpt, "--mode", "float32", "-o", target], 1, "layer 'bn' (BatchNormalization): cannot be folded",
           "unfoldable batch norm")
    # a float checkpoint has no activation ranges: int8 needs QAT (or calibration, later)
    refuse([ckpt, "--mode", "int8", "-o", target], 2, "int8 export needs quantization ranges", "--mode int8 without ranges")
    refuse([ckpt, "--mode", "bogus", "-o", target], 2, "unknown", "--mode bogus")
    refuse([ckpt, "-o", target], 2, "--mode", "no --mode")
    refuse([os.path.join(work, "missing.h5"), "--mode", "float32", "-o", target], 4, "missing.h5",
           "missing checkpoint")
    refuse([cfg, "--mode", "float32", "-o", target], 3, "bad.yaml", "a YAML file given as the checkpoint")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--qat", required=True)
    p.add_argument("--forward", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--flatc", default="")
    args = p.parse_args()
    reexec_in_venv()
    try:
        Interpreter, resolver, which = load_interpreter()
    except ImportError as e:
        print(f"FAIL: the venv at {VENV} has no TFLite interpreter ({e}): run scripts/setup.sh")
        print("0 passed, 1 failed")
        return 1
    print(f"interpreter: {which}, reference kernels")
    c = Checks()
    sizes = {}
    for name, config, seed, samples in MODELS:
        try:
            sizes[name] = test_model(c, args, Interpreter, resolver, name, config, seed, samples)
        except Exception as e:  # one model's failure must not hide the others
            c.check(False, f"{name}: {type(e).__name__}: {e}")
    try:
        test_cli_errors(c, args)
    except Exception as e:
        c.check(False, f"qat export errors: {type(e).__name__}: {e}")
    print("float32 file sizes: " + ", ".join(f"{k} {v:,} B" for k, v in sizes.items()))
    if "cifar10_cnn" in sizes:
        c.check(sizes["cifar10_cnn"] < CIFAR_CONVERTER_BYTES,
                f"cifar10_cnn: {sizes['cifar10_cnn']:,} B < {CIFAR_CONVERTER_BYTES:,} B (TF converter)")
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
