#!/usr/bin/env python3
"""qat's runtime against the official interpreter (ai-edge-litert) on the same models.

Runs every model through LiteRT with OpResolverType.BUILTIN_REF (TensorFlow Lite's reference
kernels) and through `qat run`, on random inputs (and, for the fixtures, their own inputs), and
requires identical output bytes. Also reports, for information, how often the default
interpreter (optimized kernels, XNNPACK delegate) differs from the reference and by how much.

Models: seeded random single-operator models of every supported operator, int8, int16 and
float32 (written by `test_runtime write-models`, tests/support/random_models.c; REDUCE_MAX among
them, with random axes and keep_dims; the issue 15/16 operators MUL, SUB, MAXIMUM, MINIMUM,
TANH, LEAKY_RELU, HARD_SWISH, PRELU, PAD, PADV2, CONCATENATION, PACK, STRIDED_SLICE, a ReLU's
threshold as LESS + SELECT_V2, and swish as MUL(x, LOGISTIC(x))), and the converter-written fixtures of
../shared/fixtures/tflite. Every kind in EXPECTED_KINDS must be among the generated models.

Exit status: 0 all identical, 1 a mismatch or a failure, 77 (ctest's skip) when numpy or
ai_edge_litert cannot be imported. Environment: QAT_INTEROP_MODELS (variants per operator,
default 4), QAT_INTEROP_INPUTS (random inputs per generated model, default 10),
QAT_INTEROP_FIXTURE_INPUTS (random inputs per fixture, default 1000, besides the fixtures' own).
Each model's inputs go through one `qat run --batch`.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from ai_edge_litert import interpreter as litert
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"skipped: {e} (install ai-edge-litert and numpy, or set QAT_PYTHON to a venv python)")
    sys.exit(77)


# Model kinds (file name without the variant number) the generator must write, so that an
# operator cannot silently drop out of the sweep.
EXPECTED_KINDS = {
    "conv_i8", "conv_f32", "dw_i8", "dw_f32", "fc_i8", "fc_f32", "avgpool_i8", "avgpool_f32",
    "maxpool_i8", "maxpool_f32", "mean_i8", "mean_f32", "softmax_i8", "softmax_f32",
    "logistic_i8", "logistic_f32", "reduce_max_f32", "reduce_max_i8", "reduce_max_i16",
    "mean_i16",
    # issue 15/16 operators
    "mul_f32", "mul_i8", "mul_i16", "sub_f32", "sub_i8", "sub_i16", "maximum_f32", "maximum_i8",
    "maximum_i16", "minimum_f32", "minimum_i8", "minimum_i16", "tanh_f32", "tanh_i8",
    "leaky_relu_f32", "leaky_relu_i8", "leaky_relu_i16", "hard_swish_f32", "hard_swish_i8",
    "prelu_f32", "prelu_i8", "prelu_i16", "pad_f32", "pad_i8", "padv2_f32", "padv2_i8", "concat_f32",
    "concat_i8", "pack_f32", "pack_i8", "strided_slice_f32", "strided_slice_i8",
    "resize_bilinear_f32", "resize_bilinear_i8", "resize_bilinear_i16", "resize_nearest_f32",
    "resize_nearest_i8", "resize_nearest_i16", "requantize_i8_i8", "requantize_i16_i16", "requantize_i16_i8",
    "tanh_i16", "logistic_i16", "threshold_f32", "threshold_i8", "threshold_i16", "swish_i8",
    "relu_f32", "relu_i8", "relu_i16",
}


def make_interpreter(path, resolver):
    it = litert.Interpreter(model_path=path, experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    return it


def random_input(rng, detail):
    shape, dtype = detail["shape"], detail["dtype"]
    if dtype == np.float32:
        return (rng.standard_normal(shape) * 3).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dtype)


def run_litert(it, inputs):
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def run_qat(qat, model, cases, out_details, tmp):
    """All cases in one `qat run --batch`; returns one output list per case, or None and the
    error."""
    n = len(cases)
    args = [qat, "run", model, "--batch", str(n)]
    for j in range(len(cases[0])):
        p = os.path.join(tmp, f"in{j}.raw")
        np.concatenate([c[j].reshape(-1) for c in cases]).tofile(p)
        args += ["--input", p]
    for j in range(len(out_details)):
        args += ["--output", os.path.join(tmp, f"out{j}.raw")]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    outs = [np.fromfile(os.path.join(tmp, f"out{j}.raw"), dtype=d["dtype"]).reshape(n, *d["shape"])
            for j, d in enumerate(out_details)]
    return [[o[i] for o in outs] for i in range(n)], ""


def same_bytes(a, b):
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qat", required=True)
    ap.add_argument("--gen", required=True, help="the test_runtime binary (writes models)")
    ap.add_argument("--fixtures", required=True)
    args = ap.parse_args()
    n_models = int(os.environ.get("QAT_INTEROP_MODELS", "4"))
    n_inputs = int(os.environ.get("QAT_INTEROP_INPUTS", "10"))
    n_fixture_inputs = int(os.environ.get("QAT_INTEROP_FIXTURE_INPUTS", "1000"))
    rng = np.random.default_rng(20261122)
    failures = 0
    stats = {}  # kind -> [runs, ref mismatches, optimized-differing runs, max optimized diff]

    with tempfile.TemporaryDirectory() as tmp:
        mdir = os.path.join(tmp, "models")
        os.mkdir(mdir)
        subprocess.run([args.gen, "write-models", mdir, str(n_models)], check=True)
        jobs = []  # (kind, model path, list of input lists or None for random)
        for path in sorted(glob.glob(os.path.join(mdir, "*.tflite"))):
            kind = os.path.basename(path)[:-7].rsplit("_", 1)[0]
            jobs.append((kind, path, None))
        missing = EXPECTED_KINDS - {kind for kind, _, _ in jobs}
        if n_models > 0 and missing:
            print(f"FAIL the generator wrote no {', '.join(sorted(missing))} models")
            failures += 1
        fx = args.fixtures
        if os.path.isdir(fx):
            jobs.append(("fixture hello_world_int8", os.path.join(fx, "hello_world_int8.tflite"),
                         [[np.array([[v]], dtype=np.int8)] for v in range(-128, 128)]))
            jobs.append(("fixture ToyCar (hybrid)",
                         os.path.join(fx, "non_int8", "model_ToyCar_quant.tflite"), "fixture"))
            jobs.append(("fixture hello_world_float",
                         os.path.join(fx, "non_int8", "hello_world_float.tflite"), "fixture"))
            feats = [[np.fromfile(os.path.join(fx, f), dtype=np.int8).reshape(1, 1960)]
                     for f in ("micro_speech_yes_features_int8.raw",
                               "micro_speech_no_features_int8.raw")]
            jobs.append(("fixture micro_speech", os.path.join(fx, "micro_speech_quantized.tflite"),
                         feats))
            jobs.append(("fixture micro_speech", os.path.join(fx, "micro_speech_quantized.tflite"),
                         "fixture"))
            add_in = [np.fromfile(os.path.join(fx, f), dtype=np.int8).reshape(1, 128, 128, 1)
                      for f in ("add_input1_rand_int8.raw", "add_input2_rand_int8.raw")]
            jobs.append(("fixture simple_add", os.path.join(fx, "simple_add_model.tflite"),
                         [add_in]))
            jobs.append(("fixture simple_add", os.path.join(fx, "simple_add_model.tflite"), "fixture"))
        else:
            print(f"note: fixture folder {fx} is absent; generated models only")

        for kind, path, fixed in jobs:
            ref = make_interpreter(path, litert.OpResolverType.BUILTIN_REF)
            opt = make_interpreter(path, litert.OpResolverType.AUTO)
            in_details = ref.get_input_details()
            out_details = ref.get_output_details()
            count = n_fixture_inputs if fixed == "fixture" else n_inputs
            cases = fixed if isinstance(fixed, list) else [
                [random_input(rng, d) for d in in_details] for _ in range(count)]
            if kind == "threshold_i8":
                # every int8 value once: LESS merges the steps next to the threshold when 256 s < 1,
                # which random inputs seldom reach
                shape = in_details[0]["shape"]
                n = int(np.prod(shape))
                every = np.resize(np.arange(-128, 128, dtype=np.int8), ((256 + n - 1) // n) * n)
                cases += [[every[i:i + n].reshape(shape)] for i in range(0, len(every), n)]
            s = stats.setdefault(kind, [0, 0, 0, 0.0])
            got_all, err = run_qat(args.qat, path, cases, out_details, tmp)
            for i, inputs in enumerate(cases):
                want = run_litert(ref, inputs)
                s[0] += 1
                if got_all is None:
                    print(f"FAIL {kind} {os.path.basename(path)}: qat run: {err}")
                    failures += 1
                    s[1] += 1
                    break
                got = got_all[i]
                bad = [j for j in range(len(want)) if not same_bytes(want[j], got[j])]
                if bad:
                    j = bad[0]
                    diff = np.abs(want[j].astype(np.float64) - got[j].astype(np.float64))
                    print(f"FAIL {kind} {os.path.basename(path)}: output {j} differs from "
                          f"BUILTIN_REF in {int((diff > 0).sum())} of {diff.size} values "
                          f"(max {diff.max():g})")
                    failures += 1
                    s[1] += 1
                    break
                fast = run_litert(opt, inputs)
                d = max(float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
                        for a, b in zip(fast, want))
                if d > 0:
                    s[2] += 1
                    s[3] = max(s[3], d)

    print(f"{'model':28s} {'runs':>5s} {'ref mismatch':>12s} {'default differs':>15s} "
          f"{'max diff':>10s}")
    for kind in sorted(stats):
        runs, mism, odiff, omax = stats[kind]
        print(f"{kind:28s} {runs:5d} {mism:12d} {odiff:15d} {omax:10.3g}")
    print("bit-exact with BUILTIN_REF" if failures == 0 else f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
