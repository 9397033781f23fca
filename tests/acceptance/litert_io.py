"""The official interpreter and `qat run` on the same inputs, for the acceptance drivers
(test_acceptance15.py, test_acceptance16.py)."""
import os
import subprocess

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def interpret(path, x):
    """Outputs of the official reference kernels (BUILTIN_REF), one sample at a time, [N, -1];
    integer inputs are quantized here (half away from zero, as TFLite's QUANTIZE rounds).
    Also the fed inputs and the output's details. (The first output: interpret_all has each.)"""
    ys, feed, outs = interpret_all(path, x)
    return ys[0], feed, outs[0]


def qat_run(qat, model, feed, out_detail, tmp):
    """`qat run --batch` over all inputs, [N, -1]; None and the message when the runtime refuses."""
    xin, yout = os.path.join(tmp, "in.raw"), os.path.join(tmp, "out.raw")
    feed.tofile(xin)
    r = subprocess.run([qat, "run", model, "--batch", str(len(feed)), "--input", xin, "--output", yout],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return np.fromfile(yout, dtype=out_detail["dtype"]).reshape(len(feed), -1), ""


def interpret_all(path, x):
    """As interpret, for every output of the model: a list of [N, -1] arrays, the fed inputs and
    the outputs' details."""
    it = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    i, outs = it.get_input_details()[0], it.get_output_details()
    feed = x
    if i["dtype"] != np.float32:
        s, zp = i["quantization"]
        v = x / s
        info = np.iinfo(i["dtype"])
        feed = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + zp, info.min, info.max).astype(i["dtype"])
    got = [[] for _ in outs]
    for k in range(len(x)):
        it.set_tensor(i["index"], feed[k:k + 1])
        it.invoke()
        for j, o in enumerate(outs):
            got[j].append(it.get_tensor(o["index"])[0].copy())
    return [np.array(g).reshape(len(x), -1) for g in got], feed, outs


def qat_run_all(qat, model, feed, out_details, tmp):
    """`qat run --batch` writing every output: a list of [N, -1] arrays (None and the message when
    the runtime refuses)."""
    xin = os.path.join(tmp, "in.raw")
    youts = [os.path.join(tmp, f"out{j}.raw") for j in range(len(out_details))]
    feed.tofile(xin)
    cmd = [qat, "run", model, "--batch", str(len(feed)), "--input", xin]
    for y in youts:
        cmd += ["--output", y]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return [np.fromfile(y, dtype=o["dtype"]).reshape(len(feed), -1) for y, o in zip(youts, out_details)], ""
