#!/usr/bin/env python3
"""Batch-1 latency of .tflite models in the official interpreter (ai-edge-litert), for
bench/infer. Default op resolver (optimized kernels, XNNPACK delegate on), num_threads as
given. Inputs are seeded random values of each input's dtype. Per model: `rounds` rounds of
at least `runs` invokes (more where a round would last under 0.2 s) after a warm-up; the figure is the median over rounds of the mean time per
invoke (time.perf_counter around invoke() only).

usage: infer_litert.py --threads N --runs R --rounds K MODEL.tflite...
prints one JSON object per model: {"model", "threads", "ms", "ms_rounds"} (or "error").
"""
import argparse
import json
import sys
import time

import numpy as np
from ai_edge_litert import interpreter as litert


def bench(path, threads, runs, rounds):
    it = litert.Interpreter(model_path=path, num_threads=threads)
    it.allocate_tensors()
    rng = np.random.default_rng(1)
    for d in it.get_input_details():
        if d["dtype"] == np.float32:
            x = rng.random(d["shape"], dtype=np.float32)
        else:
            info = np.iinfo(d["dtype"])
            x = rng.integers(info.min, info.max + 1, size=d["shape"]).astype(d["dtype"])
        it.set_tensor(d["index"], x)
    # warm-up, and at least `runs` invokes per round, more to make a round last >= 0.2 s
    t0, warm = time.perf_counter(), 0
    while warm < 3 or (time.perf_counter() - t0 < 0.05 and warm < 100000):
        it.invoke()
        warm += 1
    one = (time.perf_counter() - t0) / warm
    runs = max(runs, min(100000, int(0.2 / one)))
    per_round = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(runs):
            it.invoke()
        per_round.append((time.perf_counter() - t0) * 1e3 / runs)
    return float(np.median(per_round)), per_round


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    for m in a.models:
        try:
            ms, rounds = bench(m, a.threads, a.runs, a.rounds)
            print(json.dumps({"model": m, "threads": a.threads, "ms": ms, "ms_rounds": rounds}))
        except Exception as e:  # a model LiteRT refuses: report it, go on
            print(json.dumps({"model": m, "threads": a.threads, "error": str(e).splitlines()[0]}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
