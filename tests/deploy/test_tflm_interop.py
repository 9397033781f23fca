#!/usr/bin/env python3
"""TensorFlow Lite Micro's own Python interpreter (PyPI tflite-micro) against qat.

For every int8 and 16x8 export of the example configs (the checkpoints of
tests/interop/test_examples_bitexact.py: QAT examples trained a few steps; int8 with int8 I/O,
int8 with float32 I/O, int16x8), in this order:
  1. `qat deploy --tflm` must accept the file (it names anything TFLM lacks; then TFLM must
     refuse the file too);
  2. TFLM runs N inputs (QAT_TFLM_INPUTS, default 256, at least 200) and its outputs must equal
     `qat run --flavor tflm --batch N` byte for byte;
  3. TFLM's RecordingMicroAllocator figures (print_allocations) are compared with qat's plan
     (qat inspect's peak memory) and with deploy's MODEL_ARENA_BYTES, which must cover them.
float16 and dynamic exports must be refused by `qat deploy --tflm` AND by TFLM.
Skips (exit 0 with SKIP) when tflite-micro is not installed in .venv.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")


def reexec_in_venv():
    if os.path.realpath(sys.prefix) == os.path.realpath(os.path.join(ROOT, ".venv")):
        return
    if not os.path.exists(VENV_PY):
        print(f"SKIP: no venv at {VENV_PY} (scripts/setup.sh creates it)")
        sys.exit(0)
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])


def run(cmd, ok_codes=(0,)):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in ok_codes:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r


def tflm_allocations(interp):
    """print_allocations writes through C++ to fd 1: capture it."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            interp.print_allocations()
        finally:
            sys.stdout.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    got = {}
    for key in ("total", "head", "tail"):
        m = re.search(rf"Arena allocation {key} (\d+) bytes", text)
        got[key] = int(m.group(1)) if m else None
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qat", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    reexec_in_venv()
    try:
        import numpy as np
        from tflite_micro.python.tflite_micro import runtime as tflm
    except ImportError as e:
        print(f"SKIP: tflite-micro does not import in {sys.prefix} ({e}); scripts/setup.sh installs it "
              "where PyPI has a wheel for this Python")
        return 0
    from test_examples_bitexact import make_checkpoints, random_inputs
    n = int(os.environ.get("QAT_TFLM_INPUTS", "256"))
    assert n >= 200 or os.environ.get("QAT_SANITIZE_BUILD"), "the issue asks for >= 200 inputs"
    work = os.path.join(args.work, "tflm_interop")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    fashion = os.path.isdir(os.environ.get("QAT_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist")
    if not fashion:
        print("SKIP: no Fashion-MNIST (Debian's dataset-fashion-mnist): deploy's goldens need test samples")
        return 0
    failures = 0
    rows = []
    rng = np.random.default_rng(19)
    ckpts = make_checkpoints(argparse.Namespace(qat=args.qat), work, fashion)
    refusals = {}
    for label, ckpt, mode, _ in ckpts:
        if mode == "float32":
            continue  # the scope: int8 and 16x8 run, float16 and dynamic are refused
        stem = re.sub(r"[^a-z0-9_]+", "_", f"{label}_{mode}".lower()).strip("_")
        path = os.path.join(work, f"{stem}.tflite")
        cmd = [args.qat, "export", ckpt, "-o", path, "--mode", "int8" if mode == "int8-float-io" else mode]
        if mode == "int8-float-io":
            cmd += ["--io", "float32"]
        run(cmd)
        if mode in ("float16", "dynamic"):
            if mode in refusals:
                continue
            d = run([args.qat, "deploy", path, "-o", os.path.join(work, stem), "--tflm", "--checkpoint", ckpt],
                    ok_codes=(3,))
            try:
                tflm.Interpreter.from_file(path, arena_size=4 << 20)
                tflm_ok = True
            except Exception:
                tflm_ok = False
            refusals[mode] = d.stderr.strip().splitlines()[0]
            good = not tflm_ok
            failures += not good
            print(f"{'ok  ' if good else 'FAIL'} {label} {mode}: qat deploy --tflm refuses it "
                  f"({refusals[mode][:110]}...); TFLM {'runs' if tflm_ok else 'refuses'} it too")
            continue
        ddir = os.path.join(work, stem)
        d = run([args.qat, "deploy", path, "-o", ddir, "--tflm", "--checkpoint", ckpt], ok_codes=(0, 3))
        interp = None
        try:
            interp = tflm.Interpreter.from_file(path, arena_size=4 << 20)
            tflm_err = None
        except Exception as e:
            tflm_err = str(e)
        if d.returncode != 0:
            good = tflm_err is not None
            failures += not good
            print(f"{'ok  ' if good else 'FAIL'} {label} {mode}: qat deploy names what TFLM lacks: "
                  f"{d.stderr.strip().splitlines()[0]}; TFLM: {tflm_err or 'runs it!'}")
            continue
        if tflm_err:
            failures += 1
            print(f"FAIL {label} {mode}: qat deploy accepted it but TFLM refuses it: {tflm_err}")
            continue
        di, do = interp.get_input_details(0), interp.get_output_details(0)
        x = random_inputs(np, rng, di, n)
        want = np.empty((n, *do["shape"][1:]), dtype=do["dtype"])
        for i in range(n):
            interp.set_input(x[i:i + 1], 0)
            interp.invoke()
            want[i] = interp.get_output(0)[0]
        xin, yout = os.path.join(work, f"{stem}.in"), os.path.join(work, f"{stem}.out")
        x.tofile(xin)
        run([args.qat, "run", path, "--flavor", "tflm", "--batch", str(n), "--input", xin, "--output", yout])
        got = np.fromfile(yout, dtype=do["dtype"]).reshape(want.shape)
        if want.dtype == np.float32:
            same = np.all((got.view(np.uint32) == want.view(np.uint32)).reshape(n, -1), axis=1)
        else:
            same = np.all((got == want).reshape(n, -1), axis=1)
        alloc = tflm_allocations(interp)
        insp = json.loads(run([args.qat, "inspect", path, "--json"]).stdout)
        plan = insp["peak_activation_bytes"]
        settings = open(os.path.join(ddir, "model_settings.h")).read()
        arena = int(re.search(r"#define MODEL_ARENA_BYTES (\d+)", settings).group(1))
        acts = int(re.search(r"#define MODEL_ARENA_ACTIVATION_BYTES (\d+)", settings).group(1))
        covered = alloc["total"] is not None and arena >= alloc["total"]
        ok = bool(np.all(same)) and covered and plan == acts
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {label} {mode}: TFLM == qat run --flavor tflm on {int(np.sum(same))}/{n} "
              f"inputs; arena: qat plan {acts} B (inspect: {plan}), TFLM head {alloc['head']} + tail "
              f"{alloc['tail']} = {alloc['total']} B, deploy's MODEL_ARENA_BYTES {arena}"
              f"{'' if covered else ' TOO SMALL'}")
        rows.append((label, mode, int(np.sum(same)), n, acts, alloc["head"], alloc["tail"], alloc["total"], arena))
    print("\n| model | mode | TFLM == qat (tflm) | qat plan | TFLM head | TFLM tail | TFLM total | MODEL_ARENA_BYTES |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]}/{r[3]} | {r[4]} | {r[5]} | {r[6]} | {r[7]} | {r[8]} |")
    print(f"\n{'FAILED' if failures else 'passed'}: {len(rows)} files compared, {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
