#!/usr/bin/env python3
"""Issue 14's promise on every example (ctest: examples_parity; tests/parity.cmake): the
fake-quant model computes the int8 file's numbers from the first step, whatever the start.

For each example network (fashion_mnist_cnn, mobilenet_tiny, cifar10_cnn's on generated
CIFAR-10 batches) a float checkpoint is trained briefly, then quantization-aware training runs

    - 1 step from the float checkpoint,
    - 1 epoch from the float checkpoint (of 8,192 training samples),
    - from scratch (no float checkpoint, fake quant from the first step),

and each result is exported int8 and compared with `qat eval --compare`: >= 99 % of the final
outputs bit-identical to the fake-quant model, max 1 LSB, top-1 agreement >= 99.9 %, and
< 1 % of the int8 logits saturated (at a rail: clipped by the deployed model's range; the
float model's values outside the range are printed beside it). "1 step" is
`train.steps_per_epoch: 1` on the whole training set, as a user stops a fine-tune early (so
the ranges are calibrated on 8 batches, not on the one batch a one-batch training set has).
Fashion-MNIST comes from Debian's dataset-fashion-mnist (its examples skip with a message
where it is absent).

    python3 tests/acceptance/test_examples_parity.py --qat build/qat --work build
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
FASHION = "/usr/share/datasets/fashion-mnist"
# "1 epoch" is one pass over this many training samples (256 steps of batch 32): the whole of
# Fashion-MNIST would cost CI minutes per network and test nothing a shorter epoch does not
EPOCH = 8192


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout


def example(name):
    with open(os.path.join(ROOT, "examples", name)) as f:
        return f.read()


def sub(text, pattern, repl, what):
    """One regex substitution that must apply: an example that changed shape fails loudly
    instead of being tested as something else."""
    out, n = re.subn(pattern, repl, text, count=1, flags=re.M)
    if n == 0:
        sys.exit(f"FAIL: {what}: no match for {pattern!r} (the example changed shape)")
    return out


def with_init(text, ckpt, what):
    text = re.sub(r"^  init: .*\n", "", text, flags=re.M)
    return sub(text, r"^model:\n", f"model:\n  init: {ckpt}\n", what) if ckpt else text


def fashion_data(limit_train):
    lt = f", limit_train: {limit_train}" if limit_train else ""
    return f"data: {{dataset: fashion-mnist{lt}, limit_test: 256}}"


def networks(work):
    """name -> (float config text, QAT config text, batch size, data(limit) -> data line)."""
    nets = {}
    if os.path.isdir(FASHION):
        fm = example("fashion_mnist_cnn.yaml")
        fq = example("fashion_mnist_cnn_qat.yaml")
        nets["fashion_mnist_cnn"] = (fm, fq, 32, fashion_data)
        mt = example("mobilenet_tiny.yaml")
        mq = sub(example("mobilenet_tiny_qat.yaml"), r"delay: \d+", "delay: 0", "mobilenet_tiny_qat.yaml")
        nets["mobilenet_tiny"] = (mt, mq, 64, fashion_data)
    else:
        print(f"examples_parity: no Fashion-MNIST at {FASHION}: its two examples are skipped")
    from test_int8_export import cifar_config, write_cifar
    d = os.path.join(work, "cifar")
    os.makedirs(d, exist_ok=True)
    train, test = os.path.join(d, "data_batch_1.bin"), os.path.join(d, "test_batch.bin")
    write_cifar(train, 640, 41)
    write_cifar(test, 256, 42)
    cq = sub(cifar_config([train], test), r"delay: \d+", "delay: 0", "cifar10_cnn")
    cf = sub(cq, r"^quantize: .*\n", "", "cifar10_cnn")
    # the generated set is small: "limit_train" is applied by rewriting the data line
    def cifar_data(limit):
        lt = f", limit_train: {limit}" if limit else ""
        return f"data: {{dataset: cifar10, train_files: [{train}], test_file: {test}{lt}}}"
    nets["cifar10_cnn"] = (cf, cq, 32, cifar_data)
    return nets


def one_step(text, what):
    """train.steps_per_epoch: 1, in the train section's flow or block style."""
    if re.search(r"^train: *\{", text, flags=re.M):
        return sub(text, r"^train: *\{", "train: {steps_per_epoch: 1, ", what)
    return sub(text, r"^train:\n", "train:\n  steps_per_epoch: 1\n", what)


def set_data(text, line, what):
    return sub(text, r"^data:.*\n(?:  .*\n)*", line + "\n", what)


def reexec_in_venv():
    """numpy (for the generated CIFAR-10 batches) lives in the project's venv."""
    venv = os.path.join(ROOT, ".venv")
    if os.path.realpath(sys.prefix) != os.path.realpath(venv) and os.path.exists(os.path.join(venv, "bin", "python")):
        py = os.path.join(venv, "bin", "python")
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


def main():
    reexec_in_venv()
    ap = argparse.ArgumentParser()
    ap.add_argument("--qat", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    work = os.path.join(os.path.abspath(a.work), "examples_parity")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    failed = []
    for name, (float_text, qat_text, batch, data) in networks(work).items():
        d = os.path.join(work, name)
        os.makedirs(d)
        cfg = os.path.join(d, "float.yaml")
        with open(cfg, "w") as f:
            f.write(set_data(float_text, data(2048), name))
        run([a.qat, "train", cfg, "--out", os.path.join(d, "float"), "--epochs", "1", "--threads", "2"])
        float_ckpt = os.path.join(d, "float", "checkpoint.h5")
        variants = {"1 step from float": (float_ckpt, 2048), "1 epoch from float": (float_ckpt, EPOCH),
                    "from scratch": (None, 4096)}
        for label, (init, limit) in variants.items():
            tag = label.replace(" ", "_")
            text = set_data(with_init(qat_text, init, name), data(limit), name)
            if label.startswith("1 step"):
                text = one_step(text, name)
            cfg = os.path.join(d, tag + ".yaml")
            with open(cfg, "w") as f:
                f.write(text)
            out = os.path.join(d, tag)
            run([a.qat, "train", cfg, "--out", out, "--epochs", "1", "--threads", "2"])
            ckpt = os.path.join(out, "checkpoint.h5")
            model = os.path.join(out, "m.tflite")
            run([a.qat, "export", ckpt, "--mode", "int8", "-o", model])
            r = json.loads(run([a.qat, "eval", "--compare", ckpt, model, "--limit", "256", "--json"]))
            o = r["output"]
            ok = (o["identical"] >= 0.99 and o["max_lsb"] <= 1 and r["top1_agreement"] >= 0.999
                  and r["logits_saturated"] < 0.01)
            print(f"{name}, {label}: {r['samples']} samples, {100 * o['identical']:.2f} % bit-identical, "
                  f"max {o['max_lsb']} LSB, top-1 agreement {100 * r['top1_agreement']:.2f} %, "
                  f"logits saturated {100 * r['logits_saturated']:.2f} % (float model outside the range "
                  f"{100 * r['logits_clipped']:.2f} %), accuracy fake-quant {r['fakequant_accuracy']:.3f} "
                  f"int8 {r['int8_accuracy']:.3f}: {'target met' if ok else 'target NOT met'}")
            if not ok:
                failed.append(f"{name} ({label})")
    if failed:
        sys.exit("FAIL: " + ", ".join(failed))
    print("OK")


if __name__ == "__main__":
    main()
