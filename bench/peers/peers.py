"""The peers' side of bench/peers/peers.sh: each framework in a child process (so that its
peak RSS is its own), taking turns over several rounds; the min over rounds of each one's
median ms/step is reported (the machine is shared and noisy: the min is the least disturbed).

Every side trains the same network on the same random batches with Adam, on the same number
of threads, and times whole steps (forward, backward, update) after a warm-up:
  mnist      the seed MNIST CNN (examples/fashion_mnist_cnn.yaml): conv 32 3x3 relu, max-pool,
             dropout, conv 64 3x3 relu, max-pool, dropout, dense 256 relu, dense 10; 28x28x1,
             batch 32
  cifar      the seed CIFAR-10 CNN (examples/cifar10_cnn.yaml): conv 32, pool, conv 64, pool,
             conv 64 (3x3 relu), dense 64 relu, dense 10; 32x32x3, batch 64
  mobilenet  mobilenet_tiny (examples/mobilenet_tiny.yaml): a MobileNetV2-style stem and three
             inverted-residual blocks with batch norm, ReLU6, depthwise convolutions and two
             residual adds, global average pooling, dense 10; 28x28x1, batch 64
Quantization-aware: PyTorch's eager-mode QAT (fbgemm/x86 qconfig, conv+bn(+relu) fused where
PyTorch can fuse them), tensorflow-model-optimization's quantize_model."""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

STEPS_DEFAULT = 60


MODELS = {  # name: (input HWC, batch, example config)
    "mnist": ((28, 28, 1), 32, "fashion_mnist_cnn.yaml"),
    "cifar": ((32, 32, 3), 64, "cifar10_cnn.yaml"),
    "mobilenet": ((28, 28, 1), 64, "mobilenet_tiny.yaml"),
}


def torch_net(model, qat):
    import torch
    import torch.nn as nn
    Q = torch.ao.quantization

    def cbr(cin, cout, k, stride=1, groups=1, relu6=True):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        return nn.Sequential(*layers, nn.ReLU6()) if relu6 else nn.Sequential(*layers)

    class Mnist(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.dequant = Q.QuantStub(), Q.DeQuantStub()
            self.conv1, self.relu1 = nn.Conv2d(1, 32, 3), nn.ReLU()
            self.conv2, self.relu2 = nn.Conv2d(32, 64, 3), nn.ReLU()
            self.pool, self.drop = nn.MaxPool2d(2), nn.Dropout(0.25)
            self.fc1, self.relu3, self.fc2 = nn.Linear(1600, 256), nn.ReLU(), nn.Linear(256, 10)
            self.fuse = [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]]

        def forward(self, x):
            x = self.quant(x)
            x = self.drop(self.pool(self.relu1(self.conv1(x))))
            x = self.drop(self.pool(self.relu2(self.conv2(x))))
            x = self.relu3(self.fc1(torch.flatten(x, 1)))
            return self.dequant(self.fc2(x))

    class Cifar(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.dequant = Q.QuantStub(), Q.DeQuantStub()
            self.conv1, self.relu1 = nn.Conv2d(3, 32, 3), nn.ReLU()
            self.conv2, self.relu2 = nn.Conv2d(32, 64, 3), nn.ReLU()
            self.conv3, self.relu3 = nn.Conv2d(64, 64, 3), nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.fc1, self.relu4, self.fc2 = nn.Linear(1024, 64), nn.ReLU(), nn.Linear(64, 10)
            self.fuse = [["conv1", "relu1"], ["conv2", "relu2"], ["conv3", "relu3"], ["fc1", "relu4"]]

        def forward(self, x):
            x = self.quant(x)
            x = self.pool(self.relu1(self.conv1(x)))
            x = self.pool(self.relu2(self.conv2(x)))
            x = self.relu3(self.conv3(x))
            x = self.relu4(self.fc1(torch.flatten(x, 1)))
            return self.dequant(self.fc2(x))

    class Mobilenet(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.dequant = Q.QuantStub(), Q.DeQuantStub()
            self.stem = cbr(1, 16, 3, 2)
            self.b1 = nn.Sequential(cbr(16, 16, 3, groups=16), cbr(16, 16, 1, relu6=False))
            self.b2 = nn.Sequential(cbr(16, 48, 1), cbr(48, 48, 3, 2, groups=48), cbr(48, 32, 1, relu6=False))
            self.b3 = nn.Sequential(cbr(32, 96, 1), cbr(96, 96, 3, groups=96), cbr(96, 32, 1, relu6=False))
            self.add1, self.add3 = nn.quantized.FloatFunctional(), nn.quantized.FloatFunctional()
            self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(32, 10)
            self.fuse = [[f"{p}.0", f"{p}.1"] for p in
                         ["stem", "b1.0", "b1.1", "b2.0", "b2.1", "b2.2", "b3.0", "b3.1", "b3.2"]]

        def forward(self, x):
            x = self.stem(self.quant(x))
            x = self.add1.add(x, self.b1(x))
            x = self.b2(x)
            x = self.add3.add(x, self.b3(x))
            return self.dequant(self.fc(torch.flatten(self.pool(x), 1)))

    m = {"mnist": Mnist, "cifar": Cifar, "mobilenet": Mobilenet}[model]()
    if qat:
        m.train()
        m.qconfig = Q.get_default_qat_qconfig("x86")
        m = Q.fuse_modules_qat(m, m.fuse)
        m = Q.prepare_qat(m)
    return m


def child_torch(model, qat, steps, threads):
    import numpy as np
    import torch
    import torch.nn as nn
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    (h, w, c), batch, _ = MODELS[model]
    m = torch_net(model, qat)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.random((batch, c, h, w), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, batch))
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


def keras_net(model, keras):
    L = keras.layers
    if model == "mnist":
        return keras.Sequential([
            keras.Input((28, 28, 1)),
            L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2), L.Dropout(0.25),
            L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Dropout(0.25),
            L.Flatten(), L.Dense(256, activation="relu"), L.Dense(10)])
    if model == "cifar":
        return keras.Sequential([
            keras.Input((32, 32, 3)),
            L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
            L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2),
            L.Conv2D(64, 3, activation="relu"),
            L.Flatten(), L.Dense(64, activation="relu"), L.Dense(10)])

    def cbr(x, filters, k, stride=1, depthwise=False, relu6=True):
        if depthwise:
            x = L.DepthwiseConv2D(k, stride, padding="same", use_bias=False)(x)
        else:
            x = L.Conv2D(filters, k, stride, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        return L.ReLU(6.0)(x) if relu6 else x

    inp = keras.Input((28, 28, 1))
    stem = cbr(inp, 16, 3, 2)
    b1 = L.Add()([stem, cbr(cbr(stem, 16, 3, depthwise=True), 16, 1, relu6=False)])
    b2 = cbr(cbr(cbr(b1, 48, 1), 48, 3, 2, depthwise=True), 32, 1, relu6=False)
    b3 = L.Add()([b2, cbr(cbr(cbr(b2, 96, 1), 96, 3, depthwise=True), 32, 1, relu6=False)])
    out = L.Dense(10)(L.GlobalAveragePooling2D()(b3))
    return keras.Model(inp, out)


def child_tf(model, qat, steps, threads):
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tfmot needs Keras 2 (tf_keras)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import tf_keras as keras
    keras.utils.set_random_seed(0)
    (h, w, c), batch, _ = MODELS[model]
    m = keras_net(model, keras)
    if qat:
        import tensorflow_model_optimization as tfmot
        m = tfmot.quantization.keras.quantize_model(m)
    m.compile(optimizer=keras.optimizers.Adam(1e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(3)
    x = rng.random((batch * (steps + 5), h, w, c), dtype=np.float32)
    y = rng.integers(0, 10, batch * (steps + 5))
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch >= 5:
                times.append(time.perf_counter() - self.t0)

    m.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[Timer()])
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


def compare(a, model):
    """One model: every side in turns over a.rounds rounds; prints its table."""
    _, batch, config = MODELS[model]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    me = [sys.executable, os.path.abspath(__file__), "--steps", str(a.steps), "--threads", str(a.threads),
          "--model", model]
    sides = {
        ("PyTorch", 0): me + ["--child", "torch"],
        ("PyTorch", 1): me + ["--child", "torch", "--qat"],
        ("TF-Keras", 0): me + ["--child", "tf"],
        ("TF-Keras", 1): me + ["--child", "tf", "--qat"],
    }
    best, rss, blas = {}, {}, ""
    for rnd in range(a.rounds):
        # train_step times float and QAT in one process
        out, peak = measure([a.train_step, "--config", os.path.join(a.examples, config), "--batch", str(batch),
                             "--steps", str(a.steps), "--threads", str(a.threads), "--json"], env)
        j = json.loads(out)[0]
        blas = j.get("blas", "")
        for k, v in ((("qat", 0), j["ms_per_step"]), (("qat", 1), j["qat_ms_per_step"])):
            best[k] = min(best.get(k, 1e30), v)
            rss[k] = max(rss.get(k, 0), peak)
        for k, argv in sides.items():
            out, peak = measure(argv, env)
            ms = 1e3 * median(json.loads(out.strip().splitlines()[-1]))
            best[k] = min(best.get(k, 1e30), ms)
            rss[k] = max(rss.get(k, 0), peak)
        print(f"peers: {model} round {rnd + 1}/{a.rounds} done", file=sys.stderr, flush=True)
    print(f"\n{config}, batch {batch}, {a.threads} threads, min over {a.rounds} rounds of each side's median "
          f"ms/step ({a.steps} steps); qat: {blas}")
    print(f"{'':10} {'float ms':>9} {'QAT ms':>8} {'QAT/fl':>7} {'peak MB':>8} "
          f"{'float/qat':>10} {'QAT/qat':>8} {'RSS/qat':>8}")
    for name in ("qat", "PyTorch", "TF-Keras"):
        f, q = best[(name, 0)], best[(name, 1)]
        r = max(rss[(name, 0)], rss[(name, 1)])
        print(f"{name:10} {f:9.2f} {q:8.2f} {q / f:7.2f} {r:8.0f} {f / best[('qat', 0)]:10.2f} "
              f"{q / best[('qat', 1)]:8.2f} {r / max(rss[('qat', 0)], 1e-9):8.2f}")
    qf, qq = best[("qat", 0)], best[("qat", 1)]
    print(f"targets: float <= 0.6x PyTorch ({qf / best[('PyTorch', 0)]:.2f}x) and TF ({qf / best[('TF-Keras', 0)]:.2f}x); "
          f"QAT <= 0.5x tfmot ({qq / best[('TF-Keras', 1)]:.2f}x) and <= 0.35x PyTorch QAT "
          f"({qq / best[('PyTorch', 1)]:.2f}x); QAT/float <= 1.10 ({qq / qf:.2f}); "
          f"RSS <= 0.15x PyTorch ({rss[('qat', 0)] / max(rss[('PyTorch', 0)], rss[('PyTorch', 1)]):.2f}x)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-step")
    ap.add_argument("--examples", help="qat's examples/ folder")
    ap.add_argument("--models", default="mnist,cifar,mobilenet")
    ap.add_argument("--model", choices=sorted(MODELS), default="mnist")
    ap.add_argument("--steps", type=int, default=STEPS_DEFAULT)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", choices=["torch", "tf"])
    ap.add_argument("--qat", action="store_true")
    a = ap.parse_args()
    if a.child:
        fn = child_torch if a.child == "torch" else child_tf
        print(json.dumps(fn(a.model, a.qat, a.steps, a.threads)))
        return
    models = [m for m in a.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            raise SystemExit(f"peers: --models: unknown model '{m}' (expected some of {', '.join(MODELS)})")
    for m in models:
        compare(a, m)
    # only now: the children are forked from this process, and a peak RSS carries over exec
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import torch
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    print(f"\ntorch {torch.__version__}, tensorflow {tf.__version__}, tfmot {tfmot.__version__}")


if __name__ == "__main__":
    main()
