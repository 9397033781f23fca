"""The reference for bench/data: Pillow + NumPy decode and resize the same image files into a
uint8 cache, as a Python input pipeline would. Prints one JSON line:
{"images_per_s": {"1": X, "2": Y}}, the best of --rounds passes for 1 and 2 threads (a thread
pool: Pillow releases the GIL while it decodes and resizes)."""
import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, nargs=3, required=True, metavar=("H", "W", "C"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("dirs", nargs="+")
    a = ap.parse_args()
    h, w, c = a.size
    files = []
    for d in a.dirs:
        for root, subdirs, names in os.walk(d):
            subdirs.sort()
            files += [os.path.join(root, n) for n in sorted(names) if n.lower().endswith((".png", ".jpg", ".jpeg"))]
    cache = np.empty((len(files), h, w, c), np.uint8)
    mode = {1: "L", 3: "RGB"}[c]

    def load(i):
        with Image.open(files[i]) as im:
            im = im.convert(mode).resize((w, h), Image.BILINEAR)
            cache[i] = np.asarray(im).reshape(h, w, c)

    out = {}
    for threads in (1, 2):
        best = 0.0
        with ThreadPoolExecutor(threads) as pool:
            for _ in range(a.rounds):
                t0 = time.perf_counter()
                list(pool.map(load, range(len(files)), chunksize=16))
                best = max(best, len(files) / (time.perf_counter() - t0))
        out[str(threads)] = best
    print(json.dumps({"images_per_s": out, "files": len(files)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
