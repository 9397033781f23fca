#!/usr/bin/env python3
"""Issue 15/16 acceptance (runtime): qat's runtime runs the official TFLite converter's files
for the Keras mobile classifiers bit-exactly with ai_edge_litert's BUILTIN_REF kernels.

    test_converter.py QAT_BINARY WORK_DIR [NAME...]

The models come from tests/acceptance/make_converter_models.py, run with the Keras venv
(${QAT_KERAS_PYTHON:-<repo>/.venv-keras/bin/python}) into WORK_DIR (kept between runs; exit 77
when Keras does not import and a model is missing). For each model, float32, full int8 with
int8 I/O and full int8 with float I/O: `qat inspect` must describe it, and `qat run --batch N`
on N seeded random inputs must give BUILTIN_REF's outputs: int8 bit for bit (with float I/O:
the dequantized outputs bit for bit too), float32 within 1e-5 relative (of the largest
magnitude of each output). N is QAT_CONVERTER_N (default 200). Prints the builtin ops of each
file and the wall time of both runtimes on the N inputs (they run side by side, one thread each:
qat run --batch in a subprocess, BUILTIN_REF in this process).
"""
import collections
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
N = int(os.environ.get("QAT_CONVERTER_N", "200"))
KINDS = ("f32", "int8", "int8f")
NAMES = ["mobilenet", "mobilenetv2", "mobilenetv3small_min", "mobilenetv3small",
         "mobilenetv3large_min", "efficientnetb0", "resnet50", "ds_cnn", "accel", "two_head",
         "inception", "xception", "unet", "segmenter", "autoencoder"]


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def generate(work, names):
    missing = [n for n in names
               if not all(os.path.exists(os.path.join(work, f"{n}_{q}.tflite")) for q in KINDS)]
    if not missing and os.path.exists(os.path.join(work, "input_ranges.json")):
        return
    py = os.environ.get("QAT_KERAS_PYTHON", os.path.join(REPO, ".venv-keras", "bin", "python"))
    try:
        probe = subprocess.run([py, "-c", "import keras, tensorflow"], capture_output=True)
    except OSError:
        probe = None
    if probe is None or probe.returncode != 0:
        skip(f"Keras/TensorFlow does not import with {py} (set QAT_KERAS_PYTHON)")
    t0 = time.time()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run([py, os.path.join(HERE, "make_converter_models.py"), work] + missing,
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"make_converter_models.py failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    print(f"converted {', '.join(missing)} in {time.time() - t0:.0f} s")


def ref_copy(path):
    """The reference resolver registers TILE up to version 2, while the converter writes its int8
    TILE (Keras 3's nearest UpSampling2D) as version 3; the kernel is one for every type, so a
    copy of the file with that version lowered runs on BUILTIN_REF (the optimized kernels of the
    default resolver round other int8 ops differently)."""
    from ai_edge_litert import schema_py_generated as schema
    import flatbuffers
    with open(path, "rb") as f:
        model = schema.ModelT.InitFromPackedBuf(bytearray(f.read()), 0)
    for oc in model.operatorCodes:
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == schema.BuiltinOperator.TILE and oc.version == 3:
            oc.version = 2
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    copy = path + ".ref.tflite"
    with open(copy, "wb") as f:
        f.write(b.Output())
    return copy


def ref_run(path, inputs):
    try:
        it = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    except ValueError as e:
        if "TILE" not in str(e):
            raise
        it = Interpreter(model_path=ref_copy(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    i = it.get_input_details()[0]
    os_ = it.get_output_details()
    outs = [[] for _ in os_]
    t0 = time.time()
    for x in inputs:
        it.set_tensor(i["index"], x[None])
        it.invoke()
        for j, o in enumerate(os_):
            outs[j].append(it.get_tensor(o["index"])[0].copy())
    ops = collections.Counter(d["op_name"] for d in it._get_ops_details())
    return [np.stack(o) for o in outs], time.time() - t0, ops


def qat_start(qat, path, inputs, tmp, n_out):
    """Starts `qat run --batch` (one thread) on the inputs, writing each of the n_out outputs; the
    reference runs meanwhile on the other core. A thread waits for it, so that its own wall time is
    known."""
    fin, fout = tmp + ".in", [f"{tmp}.out{j}" for j in range(n_out)]
    inputs.tofile(fin)
    t0 = time.time()
    cmd = [qat, "run", path, "--batch", str(len(inputs)), "--input", fin]
    for f in fout:
        cmd += ["--output", f]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    done = {}

    def wait():
        done["err"] = proc.communicate()[1]
        done["t"] = time.time() - t0
    th = threading.Thread(target=wait)
    th.start()
    return proc, th, done, fin, fout


def qat_finish(started, n, out_details):
    proc, th, done, fin, fout = started
    th.join()
    os.unlink(fin)
    if proc.returncode != 0:
        return None, done["t"], done["err"].strip()
    outs = []
    for f, o in zip(fout, out_details):
        outs.append(np.fromfile(f, dtype=o["dtype"]).reshape((n,) + tuple(o["shape"][1:])))
        os.unlink(f)
    return outs, done["t"], ""


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    qat, work = sys.argv[1], sys.argv[2]
    names = sys.argv[3:] or NAMES
    os.makedirs(work, exist_ok=True)
    generate(work, names)
    with open(os.path.join(work, "input_ranges.json")) as f:
        ranges = json.load(f)
    failures = []
    report = []
    for name in names:
        for q in KINDS:
            path = os.path.join(work, f"{name}_{q}.tflite")
            label = f"{name}_{q}"
            r = subprocess.run([qat, "inspect", path], capture_output=True, text=True)
            if r.returncode != 0 or "MACs" not in r.stdout:
                failures.append(f"{label}: qat inspect failed: {r.stderr.strip()}")
                continue
            it = Interpreter(model_path=path)
            i = it.get_input_details()[0]
            outs = it.get_output_details()
            shape = tuple(i["shape"][1:])
            rng = np.random.default_rng(1516)
            if i["dtype"] == np.float32:
                lo, hi = ranges[name]
                x = rng.uniform(lo, hi, (N,) + shape).astype(np.float32)
            else:
                x = rng.integers(-128, 128, (N,) + shape, dtype=np.int64).astype(np.int8)
            started = qat_start(qat, path, x, os.path.join(work, f".{label}"), len(outs))
            wants, t_ref, ops = ref_run(path, x)
            gots, t_qat, err = qat_finish(started, N, outs)
            line = (f"{label}: ops {dict(sorted(ops.items()))}; {N} inputs: qat run {t_qat:.2f} s, "
                    f"BUILTIN_REF {t_ref:.2f} s")
            report.append(line)
            print(line, flush=True)
            if gots is None:
                failures.append(f"{label}: qat run failed: {err}")
                continue
            for o, got, want in zip(outs, gots, wants):
                check(label if len(outs) == 1 else f"{label} {o['name']}", q, o, got, want, failures)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"all {len(KINDS) * len(names)} converter files agree with BUILTIN_REF")


def check(label, q, o, got, want, failures):
    """One output of a converter file: qat run's values against BUILTIN_REF's."""
    if q == "int8f":
        # int8 inside, float at the ends: DEQUANTIZE of the same int8 result, bit-exact
        bad = int((got.view(np.uint32) != want.view(np.uint32)).any(
            axis=tuple(range(1, want.ndim))).sum())
        print(f"  int8 with float I/O: {bad} of {N} outputs differ")
        if bad:
            failures.append(f"{label}: {bad} of {N} outputs differ from BUILTIN_REF")
    elif o["dtype"] == np.float32:
        scale = np.maximum(np.abs(want).max(axis=tuple(range(1, want.ndim)), keepdims=True), 1e-30)
        rel = float((np.abs(got - want) / scale).max())
        print(f"  float32: max relative difference {rel:.3g}")
        if not rel <= 1e-5:
            failures.append(f"{label}: float32 outputs differ by {rel:.3g} relative")
    else:
        bad = int((got != want).any(axis=tuple(range(1, want.ndim))).sum())
        diff = int(np.abs(got.astype(np.int32) - want.astype(np.int32)).max())
        print(f"  int8: {bad} of {N} outputs differ (max {diff} LSB)")
        if bad:
            failures.append(f"{label}: {bad} of {N} int8 outputs differ from BUILTIN_REF "
                            f"(max {diff} LSB)")


if __name__ == "__main__":
    main()
