"""The peers' side of bench/peers/peers.sh: each framework in a child process (so that its
peak RSS is its own), taking turns over several rounds; the min over rounds of each one's
median ms/step is reported (the machine is shared and noisy: the min is the least disturbed).

Every side trains the same network (the seed MNIST CNN: conv 32 3x3 relu, max-pool, dropout,
conv 64 3x3 relu, max-pool, dropout, dense 256 relu, dense 10) on the same random 28x28x1
batches of 32 with Adam, on the same number of threads, and times whole steps (forward,
backward, update) after a warm-up."""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

STEPS_DEFAULT = 60


def child_torch(qat, steps, threads):
    import numpy as np
    import torch
    import torch.nn as nn
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = torch.ao.quantization.QuantStub()
            self.conv1, self.relu1 = nn.Conv2d(1, 32, 3), nn.ReLU()
            self.conv2, self.relu2 = nn.Conv2d(32, 64, 3), nn.ReLU()
            self.pool, self.drop = nn.MaxPool2d(2), nn.Dropout(0.25)
            self.fc1, self.relu3, self.fc2 = nn.Linear(1600, 256), nn.ReLU(), nn.Linear(256, 10)
            self.dequant = torch.ao.quantization.DeQuantStub()

        def forward(self, x):
            x = self.quant(x)
            x = self.drop(self.pool(self.relu1(self.conv1(x))))
            x = self.drop(self.pool(self.relu2(self.conv2(x))))
            x = self.relu3(self.fc1(torch.flatten(x, 1)))
            return self.dequant(self.fc2(x))

    m = Net()
    if qat:
        m.train()
        m.qconfig = torch.ao.quantization.get_default_qat_qconfig("x86")
        m = torch.ao.quantization.fuse_modules_qat(m, [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]])
        m = torch.ao.quantization.prepare_qat(m)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.random((32, 1, 28, 28), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, 32))
    times = []
    for s in range(steps + 5):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(m(x), y)
        loss.backward()
        opt.step()
        if s >= 5:
            times.append(time.perf_counter() - t0)
    return times


def child_tf(qat, steps, threads):
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tfmot needs Keras 2 (tf_keras)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import tf_keras as keras
    L = keras.layers
    keras.utils.set_random_seed(0)
    m = keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2), L.Dropout(0.25),
        L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Dropout(0.25),
        L.Flatten(), L.Dense(256, activation="relu"), L.Dense(10)])
    if qat:
        import tensorflow_model_optimization as tfmot
        m = tfmot.quantization.keras.quantize_model(m)
    m.compile(optimizer=keras.optimizers.Adam(1e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(3)
    x = rng.random((32 * (steps + 5), 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 32 * (steps + 5))
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch >= 5:
                times.append(time.perf_counter() - self.t0)

    m.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0, callbacks=[Timer()])
    return times


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def measure(argv, env=None):
    """Runs argv, returns (stdout, its own peak RSS in MB) through wait4."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            os.execvpe(argv[0], argv, env or os.environ)
        finally:
            os._exit(127)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status, ru = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"peers: {' '.join(argv[:4])} failed (exit {os.waitstatus_to_exitcode(status)})")
    return b"".join(chunks).decode(), ru.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-step", required=False)
    ap.add_argument("--config")
    ap.add_argument("--steps", type=int, default=STEPS_DEFAULT)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", choices=["torch", "tf"])
    ap.add_argument("--qat", action="store_true")
    a = ap.parse_args()
    if a.child:
        fn = child_torch if a.child == "torch" else child_tf
        print(json.dumps(fn(a.qat, a.steps, a.threads)))
        return
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    me = [sys.executable, os.path.abspath(__file__), "--steps", str(a.steps), "--threads", str(a.threads)]
    sides = {
        ("qat", 0): None,  # train_step times float and QAT in one process
        ("PyTorch", 0): me + ["--child", "torch"],
        ("PyTorch", 1): me + ["--child", "torch", "--qat"],
        ("TF-Keras", 0): me + ["--child", "tf"],
        ("TF-Keras", 1): me + ["--child", "tf", "--qat"],
    }
    best = {}
    rss = {}
    blas = ""
    for rnd in range(a.rounds):
        out, peak = measure([a.train_step, "--config", a.config, "--batch", "32", "--steps", str(a.steps),
                             "--threads", str(a.threads), "--json"], env)
        j = json.loads(out)[0]
        blas = j.get("blas", "")
        for k, v in ((("qat", 0), j["ms_per_step"]), (("qat", 1), j["qat_ms_per_step"])):
            best[k] = min(best.get(k, 1e30), v)
            rss[k] = max(rss.get(k, 0), peak)
        for k, argv in sides.items():
            if argv is None:
                continue
            out, peak = measure(argv, env)
            ms = 1e3 * median(json.loads(out.strip().splitlines()[-1]))
            best[k] = min(best.get(k, 1e30), ms)
            rss[k] = max(rss.get(k, 0), peak)
        print(f"peers: round {rnd + 1}/{a.rounds} done", file=sys.stderr, flush=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import torch
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    print(f"seed MNIST CNN, batch 32, {a.threads} threads, min over {a.rounds} rounds of each side's median "
          f"ms/step ({a.steps} steps); qat: {blas}; torch {torch.__version__}, tensorflow {tf.__version__}, "
          f"tfmot {tfmot.__version__}")
    print(f"{'':10} {'float ms':>9} {'QAT ms':>8} {'QAT/fl':>7} {'peak MB':>8} "
          f"{'float/qat':>10} {'QAT/qat':>8} {'RSS/qat':>8}")
    for name in ("qat", "PyTorch", "TF-Keras"):
        f, q = best[(name, 0)], best[(name, 1)]
        r = max(rss[(name, 0)], rss[(name, 1)])
        print(f"{name:10} {f:9.2f} {q:8.2f} {q / f:7.2f} {r:8.0f} {f / best[('qat', 0)]:10.2f} "
              f"{q / best[('qat', 1)]:8.2f} {r / max(rss[('qat', 0)], 1e-9):8.2f}")
    qf, qq = best[("qat", 0)], best[("qat", 1)]
    print(f"targets: float <= 0.6x PyTorch ({qf / best[('PyTorch', 0)]:.2f}x) and TF ({qf / best[('TF-Keras', 0)]:.2f}x); "
          f"QAT <= 0.5x tfmot ({qq / best[('TF-Keras', 1)]:.2f}x); QAT/float <= 1.10 ({qq / qf:.2f}); "
          f"RSS <= 0.15x PyTorch ({rss[('qat', 0)] / max(rss[('PyTorch', 0)], rss[('PyTorch', 1)]):.2f}x)")


if __name__ == "__main__":
    main()
