#!/usr/bin/env python3
"""Every model qat exports from the example configs, in qat's runtime and in the official
interpreter (run by ctest: tests/runtime.cmake).

Checkpoints: the float examples (fashion_mnist_cnn, mobilenet_tiny, cifar10_cnn) straight from
`qat init` (the weights do not matter for bit-exactness); the QAT examples
(fashion_mnist_cnn_qat from that float checkpoint, mobilenet_tiny_qat, and cifar10_cnn's
network quantization-aware) trained a few steps so that every quantizer has a range. Float
examples are exported float32, float16 and dynamic range; QAT ones int8 (int8 I/O), int8 with
float32 I/O and int16x8 (int16 I/O).

For each file, N random inputs (QAT_INTEROP_INPUTS, default 1000; 100 in a sanitizer build):
  - `qat run --batch N` against ai-edge-litert with OpResolverType.BUILTIN_REF (TensorFlow
    Lite's reference kernels): identical output bytes for every input;
  - the default interpreter (optimized kernels, XNNPACK): reported, not required: how many
    outputs differ from the reference kernels and by how much.
And the parity report `qat eval --compare` of each QAT checkpoint against its int8 file on the
first 500 test images of its config: the target (>= 99 % of final outputs bit-identical to
the fake-quant model, max 1 LSB) must hold. Fashion-MNIST comes from Debian's
dataset-fashion-mnist (the Fashion models are skipped with a message when it is absent);
CIFAR-10 batches are generated.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
sys.path.insert(0, HERE)


def reexec_in_venv():
    if os.path.realpath(sys.prefix) == os.path.realpath(os.path.join(ROOT, ".venv")):
        return
    if not os.path.exists(VENV_PY):
        print(f"FAIL: no Python venv at {VENV_PY}: run scripts/setup.sh (it installs ai-edge-litert)")
        sys.exit(1)
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r.stdout


def example(name):
    with open(os.path.join(ROOT, "examples", name)) as f:
        return f.read()


def shorten(text, name, **subs):
    """The example's text with regex substitutions; each must apply, or the example changed
    shape and the test says so instead of testing something else."""
    for pattern, repl in subs.values():
        text, n = re.subn(pattern, repl, text)
        if n == 0:
            raise RuntimeError(f"examples/{name} changed shape: no match for {pattern!r}")
    return text


def make_checkpoints(args, work, fashion):
    """[(label, checkpoint, mode, parity)] for every example."""
    from test_int8_export import cifar_config, write_cifar
    qat = args.qat
    out = []
    cfgs = {}
    if fashion:
        cfgs["fashion_mnist_cnn"] = example("fashion_mnist_cnn.yaml")
        cfgs["mobilenet_tiny"] = example("mobilenet_tiny.yaml")
    cfgs["cifar10_cnn"] = example("cifar10_cnn.yaml")
    for name, text in cfgs.items():
        cfg = os.path.join(work, f"{name}.yaml")
        with open(cfg, "w") as f:
            f.write(text)
        os.makedirs(os.path.join(work, name))
        ckpt = os.path.join(work, name, "checkpoint.h5")
        run([qat, "init", cfg, "-o", ckpt])
        out.append((name, ckpt, "float32", False))
        out.append((name, ckpt, "float16", False))
        out.append((name, ckpt, "dynamic", False))
    limit = "data: {dataset: fashion-mnist, limit_train: 640, limit_test: 500}"
    qat_cfgs = {}
    if fashion:
        float_ckpt = os.path.join(work, "fashion_mnist_cnn", "checkpoint.h5")
        qat_cfgs["fashion_mnist_cnn_qat"] = shorten(
            example("fashion_mnist_cnn_qat.yaml"), "fashion_mnist_cnn_qat.yaml",
            init=(r"init: \S+", f"init: {float_ckpt}"),
            data=(r"data: \{dataset: fashion-mnist\}", limit))
        qat_cfgs["mobilenet_tiny_qat"] = shorten(
            example("mobilenet_tiny_qat.yaml"), "mobilenet_tiny_qat.yaml",
            delay=(r"delay: \d+", "delay: 5"),
            data=(r"data: \{dataset: fashion-mnist\}", limit))
    cifar_dir = os.path.join(work, "cifar")
    os.makedirs(cifar_dir, exist_ok=True)
    train_file, test_file = os.path.join(cifar_dir, "data_batch_1.bin"), os.path.join(cifar_dir, "test_batch.bin")
    write_cifar(train_file, 320, 31)
    write_cifar(test_file, 200, 32)
    qat_cfgs["cifar10_cnn_qat"] = cifar_config([train_file], test_file).replace("delay: 10", "delay: 5")
    for name, text in qat_cfgs.items():
        cfg = os.path.join(work, f"{name}.yaml")
        with open(cfg, "w") as f:
            f.write(text)
        run([qat, "train", cfg, "--out", os.path.join(work, name), "--threads", "2", "--json"])
        ckpt = os.path.join(work, name, "checkpoint.h5")
        out.append((name, ckpt, "int8", True))
        out.append((name + " (float32 I/O)", ckpt, "int8-float-io", False))
        out.append((name, ckpt, "int16x8", False))
    return out


def random_inputs(np, rng, detail, n):
    shape, dtype = list(detail["shape"]), detail["dtype"]
    if dtype == np.float32:
        x = rng.random((n, *shape[1:]), dtype=np.float32)
        x[1::2] = rng.standard_normal((n // 2, *shape[1:])).astype(np.float32)
        return x
    if dtype == np.int16:
        q = rng.integers(-32768, 32768, size=(n, *shape[1:])).astype(np.int16)
        q[1::2] = np.round(rng.random((n // 2, *shape[1:])) ** 3 * 32767).astype(np.int16)
        return q
    q = rng.integers(-128, 128, size=(n, *shape[1:])).astype(np.int8)
    # half of them image-like: mostly dark pixels, a few bright ones
    smooth = np.clip(np.round(rng.random((n, *shape[1:])) ** 3 * 255 - 128), -128, 127).astype(np.int8)
    q[1::2] = smooth[1::2]
    return q


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qat", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    reexec_in_venv()
    import numpy as np
    from ai_edge_litert import interpreter as litert
    sanitize = bool(os.environ.get("QAT_SANITIZE_BUILD"))
    n = int(os.environ.get("QAT_INTEROP_INPUTS", "100" if sanitize else "1000"))
    work = os.path.join(args.work, "interop_examples")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    fashion_dir = os.environ.get("QAT_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"
    fashion = os.path.isdir(fashion_dir)
    if not fashion:
        print(f"note: no Fashion-MNIST at {fashion_dir} (Debian's dataset-fashion-mnist): "
              "the Fashion-MNIST examples are skipped")
    failures = 0
    rows = []
    rng = np.random.default_rng(20261122)
    for label, ckpt, mode, parity in make_checkpoints(args, work, fashion):
        stem = re.sub(r"[^a-z0-9_]+", "_", f"{label}_{mode}".lower()).strip("_")
        path = os.path.join(work, f"{stem}.tflite")
        cmd = [args.qat, "export", ckpt, "-o", path, "--mode", "int8" if mode == "int8-float-io" else mode]
        if mode == "int8-float-io":
            cmd += ["--io", "float32"]
        run(cmd)
        ref = litert.Interpreter(model_path=path, experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
        opt = litert.Interpreter(model_path=path)
        ref.allocate_tensors()
        opt.allocate_tensors()
        di, do = ref.get_input_details()[0], ref.get_output_details()[0]
        x = random_inputs(np, rng, di, n)
        want = np.empty((n, *do["shape"][1:]), dtype=do["dtype"])
        fast = np.empty_like(want)
        started = time.monotonic()
        for i in range(n):
            ref.set_tensor(di["index"], x[i:i + 1])
            ref.invoke()
            want[i] = ref.get_tensor(do["index"])[0]
        t_ref = time.monotonic() - started
        for i in range(n):
            opt.set_tensor(di["index"], x[i:i + 1])
            opt.invoke()
            fast[i] = opt.get_tensor(do["index"])[0]
        xin, yout = os.path.join(work, f"{stem}.in"), os.path.join(work, f"{stem}.out")
        x.tofile(xin)
        started = time.monotonic()
        run([args.qat, "run", path, "--batch", str(n), "--input", xin, "--output", yout])
        t_qat = time.monotonic() - started
        got = np.fromfile(yout, dtype=do["dtype"]).reshape(want.shape)
        same = np.all((got == want).reshape(n, -1), axis=1) if want.dtype != np.float32 else \
            np.all((got.view(np.uint32) == want.view(np.uint32)).reshape(n, -1), axis=1)
        diff_fast = np.abs(fast.astype(np.float64) - want.astype(np.float64)).reshape(n, -1)
        fast_differs = int(np.sum(np.any(diff_fast > 0, axis=1)))
        ok = bool(np.all(same))
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {label}: {os.path.getsize(path):,} B, `qat run --batch {n}` output "
              f"bytes equal BUILTIN_REF on {int(np.sum(same))}/{n} inputs "
              f"(reference kernels {t_ref:.1f} s, qat {t_qat:.1f} s)")
        rows.append((label, mode, n, int(np.sum(same)), fast_differs, float(diff_fast.max()),
                     float(np.mean(diff_fast > 0))))
        if parity:
            if "cifar" not in label and not fashion:
                continue
            rep = json.loads(run([args.qat, "eval", "--compare", ckpt, path, "--limit", "500", "--json"]))
            o = rep["output"]
            ok = rep["target_met"] and o["identical"] >= 0.99 and o["max_lsb"] <= 1
            failures += not ok
            worst = min(rep["layers"], key=lambda L: L["identical"])
            print(f"{'ok  ' if ok else 'FAIL'} {label}: parity on {rep['samples']} test images: final output "
                  f"{100 * o['identical']:.2f} % bit-identical to the fake-quant model, max {o['max_lsb']} LSB; "
                  f"top-1 agreement {100 * rep['top1_agreement']:.2f} %; least identical layer "
                  f"'{worst['name']}' {100 * worst['identical']:.2f} %")
    print()
    print(f"{'model':36s} {'mode':14s} {'inputs':>6s} {'= REF':>6s} {'XNNPACK differs':>16s} "
          f"{'max diff':>10s} {'values differ':>14s}")
    for label, mode, runs, same, fd, fmax, share in rows:
        print(f"{label:36s} {mode:14s} {runs:6d} {same:6d} {fd:16d} {fmax:10.3g} {100 * share:13.2f}%")
    print("all bit-exact with BUILTIN_REF" if failures == 0 else f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
