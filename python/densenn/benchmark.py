"""The benchmark suite: densenn (C++) against NumPy, PyTorch, Keras 3 and scikit-learn.

    densenn bench [--workloads W1,W2,W3,W4,predict,scaling] [--runners densenn,numpy,torch,keras,sklearn]
                  [--epochs 5] [--rounds 3] [--quick] [--out DIR]
    python bench/run.py [same options]      # writes bench/results/

Method, and why:
- Each runner measures in a child process of its own, its thread count set through the environment before
  NumPy/OpenMP/torch start: two frameworks' thread pools in one process distort each other, and a BLAS
  cannot change its thread count after it starts. Each runner is measured with 1 and with 2 threads and the
  faster setting is reported (it differs per workload: small products often run slower threaded).
- Same data, same glorot-uniform initial weights (copied into every framework), same batch order policy (a
  new shuffle each epoch), same optimizer with Keras' hyperparameters. Training speed is the median of
  several epochs after a warm-up epoch. A loss check (one unshuffled epoch from the same weights, the loss
  recomputed by one NumPy formula) shows the runners really do the same arithmetic.
- Runner notes: PyTorch is a plain eager loop (torch.nn.Sequential, logits + CrossEntropyLoss /
  BCEWithLogitsLoss, torch.optim.SGD/Adam; torch adds Adam's eps to sqrt(v_hat) where Keras adds 1e-7 to
  sqrt(v), so each step sets torch's eps to 1e-7 / sqrt(1 - beta_2^t), the Keras update exactly). Keras 3
  runs on whatever backend is installed (torch when present). Both Keras-shaped APIs are timed by an epoch
  callback inside one fit() call. scikit-learn's MLPClassifier runs
  one partial_fit per epoch (alpha=0, constant learning rate, epsilon=1e-7); it has one activation for all
  hidden layers, so its W2 uses relu twice (marked "≈").
- Rounds: the training and predict measurements run in several rounds, the runners taking turns within each
  round, and each runner's best round is reported. A shared machine has slow phases lasting minutes; one
  pass per runner let a slow phase fall on one runner and not another (W1's ratio ranged 1.3x-2.3x between
  single passes), while the best of rounds that alternate gives every runner its quiet window.
- On a shared machine each measurement first waits (up to --max-wait seconds) for other processes to quieten;
  a figure measured while they used over 10% of the CPUs anyway is marked "†".
"""
import argparse
import importlib.util
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

# name: (description, layer sizes, hidden activations, output activation, loss, optimizer, kwargs, batch, data)
# data: "mnist" (the bundled 10k images) or a number of synthetic rows.
WORKLOADS = {
    "W1": ("MNIST 784-100-50-10 sigmoid, SGD(0.01), batch 128",
           [784, 100, 50, 10], ["sigmoid", "sigmoid"], "softmax", "categorical_crossentropy", "sgd",
           {"learning_rate": 0.01}, 128, "mnist"),
    "W2": ("MNIST 784-64(relu)-64(tanh)-10, Adam, batch 32",
           [784, 64, 64, 10], ["relu", "tanh"], "softmax", "categorical_crossentropy", "adam", {}, 32, "mnist"),
    "W3": ("713-20-10-1 relu, sigmoid + binary cross-entropy, Adam, batch 16",
           [713, 20, 10, 1], ["relu", "relu"], "sigmoid", "binary_crossentropy", "adam", {}, 16, 8000),
    "W4": ("1024-2048-2048-10 relu, softmax, Adam, batch 256 (compute-bound)",
           [1024, 2048, 2048, 10], ["relu", "relu"], "softmax", "categorical_crossentropy", "adam", {}, 256, 4096),
}
TRAIN = ("W1", "W2", "W3", "W4")
DEMO = "DEMO"
WORKLOADS[DEMO] = ("MNIST 784-100-50-10 sigmoid, Adam, batch 32 (the demo)",
                   [784, 100, 50, 10], ["sigmoid", "sigmoid"], "softmax", "categorical_crossentropy", "adam", {},
                   32, "mnist")
RUNNERS = ("densenn", "numpy", "torch", "keras", "sklearn")
LABELS = {"densenn": "densenn", "numpy": "NumPy", "torch": "PyTorch", "keras": "Keras", "sklearn": "sklearn"}
TARGETS = {"W1": 2.0, "W2": 3.0, "W3": 4.0, "W4": 1.1}  # issue 5: densenn / best other runner
PREDICT_NET = "W2"  # 784-64-64-10 for the predict latency and throughput
SCALING_ROWS = (10_000, 100_000, 1_000_000)


def _flops_per_sample(name):
    """Forward + backward multiply-adds as FLOPs: 6 * sum(in * out) per sample."""
    sizes = WORKLOADS[name][1]
    return 6 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


# ----------------------------------------------------------------------------- data and weights

def _synthetic(rows, features, outputs, seed=0, x=None):
    """Seeded Gaussian inputs and learnable labels (a random linear teacher), filled in chunks so that
    1M x 784 needs no temporaries beyond the arrays themselves."""
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal((features, max(outputs, 1)), dtype=np.float32)
    x = np.empty((rows, features), np.float32) if x is None else x
    y = np.empty((rows, outputs), np.float32)
    for start in range(0, rows, 65536):
        part = x[start:start + 65536]
        rng.standard_normal(part.shape, dtype=np.float32, out=part)
        score = part @ teacher
        if outputs == 1:
            y[start:start + 65536] = score > 0
        else:
            y[start:start + 65536] = np.eye(outputs, dtype=np.float32)[score.argmax(1)]
    return x, y


def workload_data(name, rows=None):
    """(x, one-hot or binary y) float32 for a workload: bundled MNIST, or a seeded synthetic set."""
    sizes, data = WORKLOADS[name][1], WORKLOADS[name][8]
    if data == "mnist":
        from .datasets import mnist
        (x, labels), _ = mnist.load_data()
        x = x.reshape(len(x), -1).astype(np.float32) / 255
        y = np.eye(sizes[-1], dtype=np.float32)[labels]
        return (x, y) if rows is None else (x[:rows].copy(), y[:rows].copy())
    return _synthetic(data if rows is None else min(rows, data), sizes[0], sizes[-1])


def initial_weights(name, seed=0):
    """Glorot-uniform kernels and zero biases, shared by all runners."""
    from .reference import glorot_uniform
    rng = np.random.default_rng(seed)
    sizes = WORKLOADS[name][1]
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        weights += [glorot_uniform(fan_in, fan_out, rng, np.float32), np.zeros(fan_out, np.float32)]
    return weights


def keras_loss(p, y):
    """The Keras loss of probabilities p against targets y, one formula for every runner's outputs."""
    p, y = np.asarray(p, np.float64).reshape(y.shape), y.astype(np.float64)
    if y.shape[1] == 1:
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    q = np.clip(p / p.sum(1, keepdims=True), 1e-7, 1 - 1e-7)
    return float(-np.mean((y * np.log(q)).sum(1)))


# ----------------------------------------------------------------------------- runners (in the child)

def _epoch_times_keras_shaped(model, callback_base, x, y, batch, epochs):
    """Per-epoch seconds from an epoch callback inside one fit(): excludes fit()'s own set-up."""
    class Timer(callback_base):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    timer = Timer()
    model.fit(x, y, batch_size=batch, epochs=1 + epochs, verbose=0, shuffle=True, callbacks=[timer])
    return timer.seconds[1:]  # the first is the warm-up


class _Runner:
    """One framework's model for a workload. prepare() converts the data outside the timed region."""
    approx = False

    def __init__(self, name):
        _, self.sizes, self.hidden, self.out_act, self.loss, self.opt, self.opt_kwargs, self.batch, _ = \
            WORKLOADS[name]
        self.weights = initial_weights(name)

    def prepare(self, x, y):
        return x, y

    def epoch_times(self, data, epochs):
        self.epoch(data)  # warm-up: first-touch allocations, thread pool start
        times = []
        for _ in range(epochs):
            start = time.perf_counter()
            self.epoch(data)
            times.append(time.perf_counter() - start)
        return times

    def predict_calls(self):
        """{name: callable(x) -> probabilities as NumPy}; the first is used for batch inference."""
        raise NotImplementedError

    @staticmethod
    def versions():
        return {}


class _Densenn(_Runner):
    def __init__(self, name):
        super().__init__(name)
        from . import Input, Sequential, layers, optimizers
        self.model = Sequential([Input(shape=(self.sizes[0],))]
                                + [layers.Dense(n, activation=a) for n, a in zip(self.sizes[1:-1], self.hidden)]
                                + [layers.Dense(self.sizes[-1], activation=self.out_act)])
        self.model.compile(optimizer=optimizers.get(self.opt).__class__(**self.opt_kwargs), loss=self.loss)
        self.model.set_weights(self.weights)

    def epoch(self, data, shuffle=True):
        self.model.fit(*data, batch_size=self.batch, epochs=1, verbose=0, shuffle=shuffle)

    def epoch_times(self, data, epochs):
        from . import callbacks
        return _epoch_times_keras_shaped(self.model, callbacks.Callback, *data, self.batch, epochs)

    def predict_calls(self):
        m = self.model
        return {"predict()": lambda x: m.predict(x, batch_size=len(x), verbose=0),
                "predict_on_batch()": m.predict_on_batch}

    @staticmethod
    def versions():
        from . import __version__, build_info
        info = build_info()
        return {"densenn": f"{__version__} ({info['isa']}, {info['openmp_threads']} OpenMP threads)"}


class _Numpy(_Runner):
    def __init__(self, name):
        super().__init__(name)
        from .reference import ReferenceModel
        spec = [("dense", a, True) for a in self.hidden] + [("dense", self.out_act, True)]
        self.model = ReferenceModel(spec, self.weights, self.loss, self.opt, dtype=np.float32, **self.opt_kwargs)
        self.rng = np.random.default_rng(1)

    def epoch(self, data, shuffle=True):
        x, y = data
        self.model.train_epoch(x, y, self.batch, order=self.rng.permutation(len(x)) if shuffle else None)

    def predict_calls(self):
        return {"predict()": self.model.predict}

    @staticmethod
    def versions():
        info = {"NumPy": np.__version__}
        try:  # which BLAS kernels NumPy uses here (threadpoolctl comes with scikit-learn)
            from threadpoolctl import threadpool_info
            blas = [i for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]]
            if blas:
                info["NumPy"] += f" ({blas[0]['internal_api']} {blas[0]['version']}, {blas[0]['architecture']})"
        except ImportError:
            pass
        return info


class _Torch(_Runner):
    def __init__(self, name):
        super().__init__(name)
        import torch
        self.torch = torch
        acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}
        mods = []
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            linear = torch.nn.Linear(n_in, n_out)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(self.weights[2 * i].T))  # torch stores (out, in)
                linear.bias.copy_(torch.from_numpy(self.weights[2 * i + 1]))
            mods.append(linear)
            if i < len(self.hidden):
                mods.append(acts[self.hidden[i]]())
        self.model = torch.nn.Sequential(*mods)  # outputs logits; the loss applies softmax/sigmoid
        self.binary = self.sizes[-1] == 1
        self.loss_fn = torch.nn.BCEWithLogitsLoss() if self.binary else torch.nn.CrossEntropyLoss()
        if self.opt == "sgd":
            self.optim = torch.optim.SGD(self.model.parameters(), lr=self.opt_kwargs.get("learning_rate", 0.01))
        else:
            self.optim = torch.optim.Adam(self.model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
            self.step = 0

    def prepare(self, x, y):
        t = self.torch.from_numpy(y) if self.binary else self.torch.from_numpy(y.argmax(1))
        return self.torch.from_numpy(x), t

    def epoch(self, data, shuffle=True):
        x, t = data
        n, b = len(x), self.batch
        order = self.torch.randperm(n) if shuffle else self.torch.arange(n)
        for start in range(0, n, b):
            idx = order[start:start + b]
            self.optim.zero_grad(set_to_none=True)
            self.loss_fn(self.model(x[idx]), t[idx]).backward()
            if self.opt == "adam":  # Keras adds eps to sqrt(v), torch to sqrt(v_hat): rescale to match
                self.step += 1
                self.optim.param_groups[0]["eps"] = 1e-7 / math.sqrt(1 - 0.999 ** self.step)
            self.optim.step()

    def predict_calls(self):
        torch, model = self.torch, self.model
        out = torch.sigmoid if self.binary else (lambda z: torch.softmax(z, 1))

        def call(x):
            with torch.inference_mode():
                return out(model(torch.from_numpy(x))).numpy()
        return {"model(x) + softmax": call}

    @staticmethod
    def versions():
        import torch
        return {"PyTorch": f"{torch.__version__} ({torch.backends.cpu.get_cpu_capability()})"}


class _Keras(_Runner):
    def __init__(self, name):
        super().__init__(name)
        import keras
        self.keras = keras
        layers = [keras.Input(shape=(self.sizes[0],))]
        layers += [keras.layers.Dense(n, activation=a) for n, a in zip(self.sizes[1:-1], self.hidden)]
        layers += [keras.layers.Dense(self.sizes[-1], activation=self.out_act)]
        self.model = keras.Sequential(layers)
        opt = (keras.optimizers.SGD(**self.opt_kwargs) if self.opt == "sgd"
               else keras.optimizers.Adam(**self.opt_kwargs))
        self.model.compile(optimizer=opt, loss=self.loss)
        self.model.set_weights(self.weights)

    def epoch(self, data, shuffle=True):
        self.model.fit(*data, batch_size=self.batch, epochs=1, verbose=0, shuffle=shuffle)

    def epoch_times(self, data, epochs):
        return _epoch_times_keras_shaped(self.model, self.keras.callbacks.Callback, *data, self.batch, epochs)

    def predict_calls(self):
        m, to_numpy = self.model, self.keras.ops.convert_to_numpy
        return {"model(x)": lambda x: to_numpy(m(x, training=False)),
                "predict_on_batch()": m.predict_on_batch,
                "predict()": lambda x: m.predict(x, batch_size=len(x), verbose=0)}

    @staticmethod
    def versions():
        import keras
        return {"Keras": f"{keras.__version__} (backend {keras.backend.backend()})"}


class _Sklearn(_Runner):
    def __init__(self, name):
        super().__init__(name)
        from sklearn.neural_network import MLPClassifier
        act = {"sigmoid": "logistic"}.get(self.hidden[0], self.hidden[0])
        self.approx = len(set(self.hidden)) > 1  # one activation for all hidden layers
        self.model = MLPClassifier(
            hidden_layer_sizes=tuple(self.sizes[1:-1]), activation=act, solver=self.opt, alpha=0.0,
            batch_size=self.batch, learning_rate="constant",
            learning_rate_init=self.opt_kwargs.get("learning_rate", 0.01 if self.opt == "sgd" else 1e-3),
            momentum=0.0, nesterovs_momentum=False, epsilon=1e-7, shuffle=True, random_state=0)
        classes = np.arange(max(2, self.sizes[-1]))
        # partial_fit on one row creates the parameters; then ours go in, in place (its optimizer holds
        # references to them), and a fresh optimizer starts at step 1 on the next call.
        self.model.partial_fit(np.zeros((1, self.sizes[0]), np.float32), classes[:1], classes=classes)
        for i, layer in enumerate(self.model.coefs_):
            layer[...] = self.weights[2 * i]
            self.model.intercepts_[i][...] = self.weights[2 * i + 1]
        del self.model._optimizer

    def prepare(self, x, y):
        return x, (y[:, 0].astype(np.int64) if y.shape[1] == 1 else y.argmax(1))

    def epoch(self, data, shuffle=True):
        self.model.shuffle = shuffle
        self.model.partial_fit(*data)

    def predict_calls(self):
        proba = self.model.predict_proba
        if self.sizes[-1] == 1:
            return {"predict_proba()": lambda x: proba(x)[:, 1:]}
        return {"predict_proba()": proba}

    @staticmethod
    def versions():
        import sklearn
        return {"scikit-learn": sklearn.__version__}


_RUNNER_CLASSES = {"densenn": _Densenn, "numpy": _Numpy, "torch": _Torch, "keras": _Keras, "sklearn": _Sklearn}


def runner_available(runner):
    """Installed? Keras 3 also needs one of its backends."""
    if runner == "keras":
        return bool(importlib.util.find_spec("keras")) and any(
            importlib.util.find_spec(m) for m in ("torch", "jax", "tensorflow"))
    return importlib.util.find_spec(runner) is not None


# ----------------------------------------------------------------------------- jobs (in the child)

def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _job_train(runner, job):
    name = job["workload"]
    r = _RUNNER_CLASSES[runner](name)
    x, y = workload_data(name, job.get("rows"))
    times = r.epoch_times(r.prepare(x, y), job["epochs"])
    epoch_s = statistics.median(times)
    return {"epoch_s": epoch_s, "samples_per_s": len(x) / epoch_s, "epoch_times": times, "rows": len(x),
            "approx": r.approx}


def _job_check(runner, job):
    """Loss before and after one unshuffled epoch from the shared initial weights, one formula for all."""
    name = job["workload"]
    r = _RUNNER_CLASSES[runner](name)
    x, y = workload_data(name, job["rows"])
    predict = next(iter(r.predict_calls().values()))
    before = keras_loss(predict(x), y)
    r.epoch(r.prepare(x, y), shuffle=False)
    return {"before": before, "after": keras_loss(predict(x), y), "approx": r.approx}


def _median_us(call, x, sample_s, samples=7):
    """Median µs per call over `samples` samples of about sample_s seconds each."""
    start, n = time.perf_counter(), 0
    while n < 3 or time.perf_counter() - start < sample_s / 2:  # warm-up and calibration
        call(x)
        n += 1
    per_sample = max(1, round(n * sample_s / (time.perf_counter() - start)))
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(per_sample):
            call(x)
        times.append((time.perf_counter() - start) / per_sample * 1e6)
    return statistics.median(times)


def _job_predict(runner, job):
    """One-row latency for each predict call, and rows/s predicting 10k rows in one call."""
    r = _RUNNER_CLASSES[runner](PREDICT_NET)
    from .datasets import mnist
    (x_train, _), (x_test, _) = mnist.load_data()  # all 10k bundled images
    x = np.concatenate([x_train, x_test]).reshape(-1, WORKLOADS[PREDICT_NET][1][0]).astype(np.float32) / 255
    one = x[:1].copy()
    calls = r.predict_calls()
    samples = job.get("samples", 7)
    latency = {label: _median_us(call, one, job["sample_s"], samples) for label, call in calls.items()}
    batch_us = _median_us(next(iter(calls.values())), x, job["sample_s"] * 3, samples)
    best = min(latency, key=latency.get)
    return {"latency_us": latency, "predict_us": latency[best], "best_call": best,
            "batch_rows": len(x), "batch_rows_per_s": len(x) / (batch_us * 1e-6), "approx": r.approx}


def _job_scaling(runner, job):
    """W2-shaped training on `rows` synthetic rows: samples/s and peak RSS against the input arrays."""
    rows = job["rows"]
    r = _RUNNER_CLASSES[runner]("W2")
    sizes = WORKLOADS["W2"][1]
    x, y = _synthetic(rows, sizes[0], sizes[-1], seed=2)  # not timed
    data = r.prepare(x, y)
    warm = r.prepare(x[:10_000], y[:10_000])
    r.epoch(warm)  # warm-up on a slice (a view: no extra memory)
    rss_start, peak_before = _rss_mb(), _peak_rss_mb()
    times = []
    for _ in range(job["epochs"]):
        start = time.perf_counter()
        r.epoch(data)
        times.append(time.perf_counter() - start)
    epoch_s = statistics.median(times)
    return {"rows": rows, "samples_per_s": rows / epoch_s, "epochs": job["epochs"],
            "input_mb": (x.nbytes + y.nbytes) / 2**20, "rss_start_mb": rss_start,
            "peak_before_mb": peak_before, "peak_mb": _peak_rss_mb(), "approx": r.approx}


_JOBS = {"train": _job_train, "check": _job_check, "predict": _job_predict, "scaling": _job_scaling}


def _child(runner, jobs):
    threads = os.environ.get("OMP_NUM_THREADS")
    if runner in ("torch", "keras") and threads:
        import torch
        torch.set_num_threads(int(threads))
    out = {"versions": _RUNNER_CLASSES[runner].versions(), "results": []}
    for job in jobs:
        try:
            out["results"].append(_JOBS[job["task"]](runner, job))
        except Exception as exc:  # one failing measurement should not lose the others
            out["results"].append({"error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps(out))


# ----------------------------------------------------------------------------- the parent

def _cpu_busy_s():
    """Seconds of CPU time the whole machine has been busy (all processes), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(max_wait_s, log=print, busy_limit=0.1):
    """Waits (up to max_wait_s) until other processes use under busy_limit of the machine: a benchmark on a
    shared machine measures the neighbours too. Returns the last busy fraction seen."""
    deadline, told = time.monotonic() + max_wait_s, False
    while max_wait_s > 0:
        start = _cpu_busy_s()
        if start is None:
            return None
        time.sleep(0.5)
        busy = (_cpu_busy_s() - start) / (0.5 * (os.cpu_count() or 1))
        if busy < busy_limit or time.monotonic() > deadline:
            return busy
        if not told:
            log(f"  the machine is {100 * busy:.0f}% busy with other work; waiting up to {max_wait_s:.0f} s")
            told = True
        time.sleep(2)
    return None


def spawn(runner, jobs, threads=None, timeout=3600):
    """Runs jobs (dicts with 'task' and its arguments) for one runner in a fresh process. The result's
    'background' is the share of the machine that other processes used meanwhile."""
    env = dict(os.environ)
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    if runner == "keras" and "KERAS_BACKEND" not in env and runner_available("torch"):
        env["KERAS_BACKEND"] = "torch"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    cmd = [sys.executable, "-m", "densenn.benchmark", "--child", runner, json.dumps(jobs)]
    busy0, used0, t0 = _cpu_busy_s(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{runner} child failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if busy0 is not None:
        used1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = used1.ru_utime - used0.ru_utime + used1.ru_stime - used0.ru_stime
        wall = (time.perf_counter() - t0) * (os.cpu_count() or 1)
        out["background"] = max(0.0, (_cpu_busy_s() - busy0 - own) / wall)
    return out


def run_child(runner, task, workload="W1", epochs=5, threads=None):
    """One measurement in a fresh process: task 'train' ({'epoch_s', 'samples_per_s', ...}) or 'predict'."""
    job = {"task": task, "workload": workload, "epochs": epochs, "sample_s": 0.1}
    result = spawn(runner, [job], threads)["results"][0]
    if "error" in result:
        raise RuntimeError(f"{runner} {task}: {result['error']}")
    return result


def best_numpy(task, workload="W1", epochs=5):
    """NumPy's best of 1 thread and all cores (small products often run slower threaded)."""
    results = []
    for threads in sorted({1, os.cpu_count() or 1}):
        r = run_child("numpy", task, workload, epochs, threads)
        r["threads"] = threads
        results.append(r)
    if task == "train":
        return max(results, key=lambda r: r["samples_per_s"])
    return min(results, key=lambda r: r["predict_us"])


PEAK_SOURCE = r"""
// FP32 peak: 12 independent FMA chains per thread, so the loop is bound by FMA throughput, not latency.
#include <immintrin.h>
#include <omp.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#ifdef __AVX512F__
typedef __m512 vec; enum { W = 16 };
static inline vec fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline vec set1(float x) { return _mm512_set1_ps(x); }
static inline float first(vec a) { return _mm512_cvtss_f32(a); }
#else
typedef __m256 vec; enum { W = 8 };
static inline vec fma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline vec set1(float x) { return _mm256_set1_ps(x); }
static inline float first(vec a) { return _mm256_cvtss_f32(a); }
#endif
enum { CHAINS = 12 };
int main(int argc, char** argv) {
  long iters = argc > 1 ? atol(argv[1]) : 100000000L;
  double best = 0; float sink = 0;
  for (int rep = 0; rep < 3; ++rep) {
    int threads = 1;
    auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel reduction(+:sink)
    {
#pragma omp single
      threads = omp_get_num_threads();
      vec acc[CHAINS], b = set1(0.9999f), c = set1(1e-4f);
      for (int k = 0; k < CHAINS; ++k) acc[k] = set1(float(k + omp_get_thread_num()));
      for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
        for (int k = 0; k < CHAINS; ++k) acc[k] = fma(acc[k], b, c);
      }
      for (int k = 0; k < CHAINS; ++k) sink += first(acc[k]);
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double gflops = 2.0 * W * CHAINS * iters * threads / s / 1e9;
    if (gflops > best) best = gflops;
  }
  printf("%.2f %d %g\n", best, (int)W, sink);
  return 0;
}
"""


def measure_peak(quick=False, log=print):
    """Measured FP32 FMA peak (GFLOP/s) for AVX2 (x86-64-v3) and, if the CPU has it, AVX-512, 1 and 2 threads.
    The C++ source is kept here (not in bench/) so that an installed `densenn bench` has it too."""
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None or platform.machine() not in ("x86_64", "AMD64"):
        log("peak: no g++ or not x86-64; skipped")
        return {}
    from ._core import _baseline
    isas = {"AVX2": "x86-64-v3"} | ({"AVX-512": "x86-64-v4"} if _baseline.cpu_supports("x86-64-v4") and not quick
                                    else {})
    peak = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "peak_flops.cpp")
        with open(src, "w") as f:
            f.write(PEAK_SOURCE)
        for isa, march in isas.items():
            exe = os.path.join(tmp, f"peak_{march}")
            build = subprocess.run([cxx, "-O3", f"-march={march}", "-fopenmp", src, "-o", exe],
                                   capture_output=True, text=True)
            if build.returncode != 0:
                log(f"peak: compiling for {march} failed: {build.stderr[-500:]}")
                continue
            for threads in sorted({1, os.cpu_count() or 1}):
                env = dict(os.environ, OMP_NUM_THREADS=str(threads))
                out = subprocess.run([exe, str(5_000_000 if quick else 150_000_000)], env=env,
                                     capture_output=True, text=True)
                if out.returncode == 0:
                    peak[f"{isa} {threads}t"] = float(out.stdout.split()[0])
    return peak


EMBEDDED_SOURCE = r"""
// One-row latency of the C ABI (median of 15 timings of n calls), and the time to read `floats` values from
// a buffer of that size that stays in cache: the memory floor of a one-row predict whose weights are that big.
#include <densenn/c_api.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int by_value(const void* a, const void* b) { double d = *(const double*)a - *(const double*)b; return (d > 0) - (d < 0); }
static double median15(double* t) { qsort(t, 15, sizeof(double), by_value); return t[7]; }
int main(int argc, char** argv) {
  long n = atol(argv[2]), floats = atol(argv[3]);
  double t[15];
  dn_model* m = dn_model_load(argv[1]);
  if (!m) { fprintf(stderr, "%s\n", dn_last_error()); return 1; }
  int in = dn_model_input_size(m), out = dn_model_output_size(m);
  float* x = malloc(sizeof(float) * in);
  float* y = malloc(sizeof(float) * out);
  for (int i = 0; i < in; ++i) x[i] = (float)(i % 255) / 255.0f;
  for (long i = 0; i < n; ++i) dn_model_predict(m, x, 1, y);  /* warm-up */
  for (int r = 0; r < 15; ++r) {
    double start = now();
    for (long i = 0; i < n; ++i) dn_model_predict(m, x, 1, y);
    t[r] = (now() - start) / n;
  }
  double predict_us = median15(t) * 1e6;
  dn_model_free(m);
  /* 8 independent sums of 16-float (AVX-512) or 8-float (AVX2) loads */
#ifdef __AVX512F__
  enum { W = 16 };
  typedef __m512 vec;
#define LOAD _mm512_load_ps
#define ADD _mm512_add_ps
#define ZERO _mm512_setzero_ps
#else
  enum { W = 8 };
  typedef __m256 vec;
#define LOAD _mm256_load_ps
#define ADD _mm256_add_ps
#define ZERO _mm256_setzero_ps
#endif
  long len = (floats + 8 * W - 1) / (8 * W) * (8 * W);
  float* a = aligned_alloc(64, sizeof(float) * len);
  for (long i = 0; i < len; ++i) a[i] = 1e-3f * (float)(i % 7);
  vec s[8];
  for (int k = 0; k < 8; ++k) s[k] = ZERO();
  for (int r = 0; r < 15; ++r) {
    double start = now();
    for (long it = 0; it < n; ++it)
      for (long i = 0; i < len; i += 8 * W)
        for (int k = 0; k < 8; ++k) s[k] = ADD(s[k], LOAD(a + i + k * W));
    t[r] = (now() - start) / n;
  }
  float sink[W];
  memcpy(sink, &s[0], sizeof sink);
  for (int k = 1; k < 8; ++k) { float o[W]; memcpy(o, &s[k], sizeof o); for (int j = 0; j < W; ++j) sink[j] += o[j]; }
  printf("%.3f %.3f %g\n", predict_us, median15(t) * 1e6, (double)sink[0]);
  return 0;
}
"""


def measure_embedded(quick=False, log=print):
    """One-row predict latency through libdensenn's C ABI (PREDICT_NET's shape, random weights), with the
    fastest runtime this CPU runs and with the portable one, and the memory floor: the time to read as many
    floats as the model has weights from a cache-resident buffer. Needs a C compiler (else {})."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or platform.machine() not in ("x86_64", "AMD64"):
        log("embedded: no C compiler or not x86-64; skipped")
        return {}
    from . import Input, Sequential, get_include, get_library, layers
    from ._core import _baseline
    sizes, hidden, out_act = WORKLOADS[PREDICT_NET][1], WORKLOADS[PREDICT_NET][2], WORKLOADS[PREDICT_NET][3]
    model = Sequential([Input(shape=(sizes[0],))] + [layers.Dense(n, activation=a) for n, a in
                                                      zip(sizes[1:-1], hidden)] + [layers.Dense(sizes[-1], activation=out_act)])
    march = "x86-64-v4" if _baseline.cpu_supports("x86-64-v4") else "x86-64-v3"
    result = {"weights": model.count_params(), "floor_isa": march}
    with tempfile.TemporaryDirectory() as tmp:
        model.save(os.path.join(tmp, "m.dnn"))
        src, exe = os.path.join(tmp, "embedded.c"), os.path.join(tmp, "embedded")
        with open(src, "w") as f:
            f.write(EMBEDDED_SOURCE)
        libdir = os.path.dirname(get_library())
        build = subprocess.run([cc, "-O3", f"-march={march}", src, f"-I{get_include()}", f"-L{libdir}",
                                f"-Wl,-rpath,{libdir}", "-ldensenn", "-o", exe], capture_output=True, text=True)
        if build.returncode != 0:
            log(f"embedded: compiling failed: {build.stderr[-500:]}")
            return {}
        for label, isa in (("fastest", "auto"), ("portable", "baseline")):
            run = subprocess.run([exe, os.path.join(tmp, "m.dnn"), str(2_000 if quick else 20_000),
                                  str(result["weights"])], env=dict(os.environ, DENSENN_ISA=isa, OMP_NUM_THREADS="1"),
                                 capture_output=True, text=True)
            if run.returncode != 0:
                log(f"embedded: {run.stderr[-500:]}")
                return {}
            predict_us, floor_us, _ = run.stdout.split()
            result[f"{label}_us"] = float(predict_us)
            result["floor_us"] = min(float(floor_us), result.get("floor_us", float("inf")))
    result["fastest_isa"] = next((isa for isa in ("x86-64-v4", "x86-64-v3") if _baseline.cpu_supports(isa)), "x86-64")
    return result


def _cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit():
    """The densenn source tree's git commit: of the checkout the benchmark runs in (`python bench/run.py` from
    it) or, for an editable install, the one holding this file; None elsewhere (an installed package's
    directory may lie inside some other repository, such as a pyenv checkout)."""
    for where in (os.getcwd(), os.path.dirname(__file__)):
        try:
            top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=where, capture_output=True, text=True,
                                 timeout=10).stdout.strip()
            if not top or not os.path.isfile(os.path.join(top, "cpp", "include", "densenn", "sequential.hpp")):
                continue
            out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=top, capture_output=True,
                                 text=True, timeout=10)
            return out.stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            continue
    return None


def _merge(res, runner, job, result):
    """Keeps each runner's faster thread setting per measurement (latency and throughput separately)."""
    if job["task"] == "check":
        res["check"].setdefault(job["workload"], {})[runner] = result
    elif job["task"] == "train":
        old = res["train"].setdefault(job["workload"], {}).get(runner)
        if old is None or result["samples_per_s"] > old["samples_per_s"]:
            res["train"][job["workload"]][runner] = result
    else:
        result["latency_threads"] = result["threads"]
        old = res["predict"].get(runner)
        if old:
            if old["predict_us"] < result["predict_us"]:
                result.update({k: old[k] for k in ("latency_us", "predict_us", "best_call", "latency_threads")})
            if old["batch_rows_per_s"] > result["batch_rows_per_s"]:
                result.update({k: old[k] for k in ("batch_rows_per_s", "threads")})
        res["predict"][runner] = result


def run_suite(workloads=TRAIN + ("predict", "scaling"), runners=RUNNERS, epochs=5, quick=False,
              scaling_rows=None, log=print, max_wait_s=60, max_scaling_s=300, rounds=3):
    """Measures everything; returns a JSON-able dict for markdown_report / plots."""
    train = [w for w in workloads if w in TRAIN]
    available = [r for r in runners if runner_available(r)]
    skipped = [r for r in runners if r not in available]
    for r in skipped:
        log(f"{r}: not installed, skipped")
    cap = 1024 if quick else None  # quick: a smoke run on small slices
    epochs = 1 if quick else epochs
    rounds = 1 if quick else max(1, rounds)
    thread_options = [None] if quick else sorted({1, os.cpu_count() or 1})
    res = {"machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
                       "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
           "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": _commit(),
           "epochs": epochs, "rounds": rounds, "quick": quick, "versions": {}, "train": {}, "check": {}, "predict": {},
           "scaling": {}, "skipped": skipped, "errors": []}
    log("measuring the FP32 peak ...")
    wait_until_quiet(0 if quick else max_wait_s, log)
    res["peak"] = measure_peak(quick, log)

    def keep(runner, what, result):
        if "error" in result:
            res["errors"].append(f"{runner} {what}: {result['error']}")
            log(f"  {runner} {what}: {result['error']}")
            return False
        return True

    def measure(runner, jobs, threads):
        """The jobs' results from one child (an error result for each if the child failed)."""
        for attempt in range(1 if quick else 3):
            wait_until_quiet(0 if quick else max_wait_s, log)
            try:
                out = spawn(runner, jobs, threads)
                break
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                error = str(exc)
                log(f"  {runner} child failed: {error[-600:]}")
                if attempt < (0 if quick else 2):  # an editable install may be mid-rebuild: retry later
                    log("  retrying in 60 s")
                    time.sleep(60)
        else:
            return [{"error": error[-300:]}] * len(jobs)
        res["versions"].update(out["versions"])
        for result in out["results"]:
            result["threads"] = threads or int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
            result["background"] = out.get("background")
        return out["results"]

    for round_ in range(rounds):  # the runners take turns; _merge keeps each one's best round
        for runner in available:
            for threads in thread_options:
                jobs = [{"task": "train", "workload": w, "epochs": epochs, "rows": cap and (512 if w == "W4" else cap)}
                        for w in train]
                if "predict" in workloads:
                    jobs.append({"task": "predict", "sample_s": 0.01 if quick else 0.2, "samples": 3 if quick else 7})
                if round_ == 0 and threads == thread_options[0]:  # the loss check needs no thread search or rounds
                    jobs += [{"task": "check", "workload": w, "rows": 256 if quick else 1024} for w in train]
                log(f"round {round_ + 1}/{rounds}, {runner}, {threads or 'default'} threads: "
                    f"{', '.join(j.get('workload', j['task']) for j in jobs)}")
                for job, result in zip(jobs, measure(runner, jobs, threads)):
                    if keep(runner, job.get("workload", job["task"]), result):
                        _merge(res, runner, job, result)

    if "predict" in workloads and "densenn" in available:
        log("densenn: one-row predict through the C ABI, and the memory floor ...")
        wait_until_quiet(0 if quick else max_wait_s, log)
        res["embedded"] = measure_embedded(quick, log)

    if "scaling" in workloads:
        sizes = scaling_rows or ((1000, 4000) if quick else SCALING_ROWS)
        for runner in available:
            w2 = res["train"].get("W2", {}).get(runner)
            threads = w2["threads"] if w2 else None
            for rows in sizes:
                # at least two epochs: a single one (1M rows) caught passing slow phases of a shared machine
                n_epochs = max(min(2, epochs), min(epochs, round(300_000 / rows)))
                estimate = (rows * n_epochs + 10_000) / w2["samples_per_s"] if w2 else 0
                if not quick and estimate > max_scaling_s:
                    msg = f"skipped: about {estimate:.0f} s at W2's speed"
                    res["scaling"].setdefault(runner, []).append({"rows": rows, "skipped": msg})
                    log(f"{runner} scaling {rows:,} rows: {msg}")
                    continue
                log(f"{runner} scaling: {rows:,} rows, {n_epochs} epoch(s), {threads or 'default'} threads")
                result = measure(runner, [{"task": "scaling", "rows": rows, "epochs": n_epochs}], threads)[0]
                if keep(runner, f"scaling {rows}", result):
                    res["scaling"].setdefault(runner, []).append(result)
    # The peak again at the end, keeping the higher figure: a neighbour's burst only ever lowers it.
    wait_until_quiet(0 if quick else max_wait_s, log)
    for key, value in measure_peak(quick, log).items():
        res["peak"][key] = max(value, res["peak"].get(key, 0))
    return res


# ----------------------------------------------------------------------------- reporting

def _fmt(v, unit=""):
    if v is None:
        return "–"
    return f"{v:,.0f}{unit}" if v >= 100 else f"{v:,.2f}{unit}" if v < 10 else f"{v:,.1f}{unit}"


def _mark(x):
    """'≈' for a different network (sklearn's W2), '†' where other processes used over 10% of the machine."""
    return ("≈" if x.get("approx") else "") + ("†" if (x.get("background") or 0) > 0.1 else "")


def _best_other(results, key, lower=False):
    others = {r: v[key] for r, v in results.items() if r != "densenn" and not v.get("approx")}
    if not others:
        return None, None
    best = (min if lower else max)(others, key=others.get)
    return best, others[best]


def _peak_for(res, threads, isa="AVX2"):
    return res["peak"].get(f"{isa} {threads}t")


def markdown_report(res, title="densenn benchmark"):
    runners = [r for r in RUNNERS if any(r in v for v in res["train"].values()) or r in res["predict"]]
    v = res["versions"]
    m = res["machine"]
    peak = res["peak"]
    lines = [f"# {title}", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GiB; Python {m['python']}. "
             f"Versions: {'; '.join(f'{k} {x}' for k, x in v.items())}"
             + (f"; densenn source {res['commit']}." if res.get("commit") else "."),
             "FP32 peak measured with an FMA loop (12 independent chains, best of start and end of the run): "
             + (", ".join(f"{k} {g:,.0f} GFLOP/s" for k, g in peak.items()) or "not measured") + ".",
             "", f"Training samples/s, median of {res['epochs']} epoch(s) after a warm-up, each runner in its own "
             f"process with its faster thread setting (1 or {m['cores']} threads; `(Nt)`), the best of "
             f"{res.get('rounds', 1)} round(s) in which the runners take turns. "
             "Ratio: densenn / the best other runner (≈ = not the same network, left out of the ratio).", ""]
    head = "| workload | " + " | ".join(LABELS[r] for r in runners) + " | densenn / best other | target |"
    lines += [head, "|---|" + "---:|" * (len(runners) + 2)]
    for name in TRAIN:
        row = res["train"].get(name)
        if not row:
            continue
        cells = []
        for r in runners:
            x = row.get(r)
            cells.append("–" if x is None else f"{_mark(x)}{_fmt(x['samples_per_s'])} ({x['threads']}t)")
        best, value = _best_other(row, "samples_per_s")
        ratio = f"{row['densenn']['samples_per_s'] / value:.2f}x vs {LABELS[best]}" if best and "densenn" in row \
            else "–"
        lines.append(f"| {name}: {WORKLOADS[name][0]} | " + " | ".join(cells) + f" | {ratio} | ≥ {TARGETS[name]}x |")
    if "W4" in res["train"]:
        flops = _flops_per_sample("W4")
        lines += ["", "W4 arithmetic rate (6 x batch x sum(in x out) FLOPs per step / step time) against the "
                  "measured FP32 peak for the same thread count:", "",
                  "| runner | GFLOP/s | % of AVX2 peak | % of AVX-512 peak |", "|---|---:|---:|---:|"]
        for r, x in res["train"]["W4"].items():
            g = x["samples_per_s"] * flops / 1e9
            pct = [f"{100 * g / p:.0f}%" if p else "–" for p in
                   (_peak_for(res, x["threads"]), _peak_for(res, x["threads"], "AVX-512"))]
            lines.append(f"| {LABELS[r]} ({x['threads']}t) | {g:,.1f} | {pct[0]} | {pct[1]} |")
    if res["predict"]:
        p = res["predict"]
        lines += ["", "Inference, network 784-64(relu)-64(tanh)-10 softmax (W2's), from Python:", "",
                  "| | " + " | ".join(LABELS[r] for r in p) + " | densenn vs best other |",
                  "|---|" + "---:|" * (len(p) + 1)]
        best, value = _best_other(p, "predict_us", lower=True)
        ratio = f"{value / p['densenn']['predict_us']:.2f}x faster" if best and "densenn" in p else "–"
        lines.append("| predict 1 row, µs (lower is better; target ≤ 2 µs) | " + " | ".join(
            f"{_mark(x)}{_fmt(x['predict_us'])} ({x['latency_threads']}t)" for x in p.values()) + f" | {ratio} |")
        best, value = _best_other(p, "batch_rows_per_s")
        ratio = f"{p['densenn']['batch_rows_per_s'] / value:.2f}x" if best and "densenn" in p else "–"
        lines.append(f"| predict {next(iter(p.values()))['batch_rows']:,} rows in one call, rows/s | " + " | ".join(
            f"{_mark(x)}{_fmt(x['batch_rows_per_s'])} ({x['threads']}t)" for x in p.values()) + f" | {ratio} |")
        lines += ["", "One-row latency by call (µs): " + "; ".join(
            f"{LABELS[r]}: " + ", ".join(f"`{c}` {_fmt(us)}" for c, us in x["latency_us"].items())
            for r, x in p.items()) + "."]
    e = res.get("embedded")
    if e:
        lines += ["", f"From C (libdensenn's `dn_model_predict`, one row, one thread, median): {e['fastest_us']:.2f} µs "
                  f"with the runtime for this CPU ({e['fastest_isa']}), {e['portable_us']:.2f} µs with the portable "
                  f"one (target ≤ 1 µs). Memory floor: reading the model's {e['weights']:,} float32 weights "
                  f"({e['weights'] * 4 / 1024:.0f} KB, more than a core's L1 cache) from a cache-resident buffer "
                  f"alone takes {e['floor_us']:.2f} µs here ({e['floor_isa']} loads, 8 independent sums), so no "
                  f"one-row predict of this network can take less."]
    if res["scaling"]:
        lines += ["", "Scaling: W2-shaped training (784-64-64-10, Adam, batch 32) on synthetic rows; samples/s "
                  "(median of the timed epochs), peak RSS of the process, the input arrays' size, and what "
                  "training added to the RSS it started with:", "",
                  "| runner | rows | samples/s | peak RSS MB | input MB | fit added MB (% of input) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for r, sizes in res["scaling"].items():
            for s in sizes:
                if "skipped" in s:
                    lines.append(f"| {LABELS[r]} | {s['rows']:,} | {s['skipped']} | | | |")
                    continue
                added = max(0.0, s["peak_mb"] - s["rss_start_mb"])  # the two counters differ by a few pages
                lines.append(f"| {_mark(s)}{LABELS[r]} | {s['rows']:,} | "
                             f"{_fmt(s['samples_per_s'])} | {s['peak_mb']:,.0f} | {s['input_mb']:,.0f} | "
                             f"{added:,.0f} ({100 * added / s['input_mb']:.0f}%) |")
    if res["check"]:
        lines += ["", "Loss check: the Keras loss on the first rows before and after one unshuffled epoch from "
                  "the same initial weights (same arithmetic ⇒ same numbers up to float32 rounding):", "",
                  "| workload | " + " | ".join(LABELS[r] for r in runners) + " |", "|---|" + "---:|" * len(runners)]
        for name, row in res["check"].items():
            lines.append(f"| {name} | " + " | ".join(
                "–" if r not in row else f"{'≈' if row[r]['approx'] else ''}{row[r]['before']:.5f} → "
                                         f"{row[r]['after']:.5f}" for r in runners) + " |")
    noisy = [x.get("background") or 0 for x in _all_results(res)]
    if max(noisy, default=0) > 0.1:
        lines += ["", f"† Other processes used over 10% of the machine (up to {100 * max(noisy):.0f}%) while "
                  "this was measured: a shared machine; read those figures as lower bounds and rerun when it is quiet."]
    if res["skipped"]:
        lines += ["", f"Not installed, skipped: {', '.join(res['skipped'])}."]
    if res["errors"]:
        lines += ["", "Errors:", ""] + [f"- {e}" for e in res["errors"]]
    return "\n".join(lines) + "\n"


def _all_results(res):
    yield from (x for row in res["train"].values() for x in row.values())
    yield from res["predict"].values()
    yield from (x for v in res["scaling"].values() for x in v)


def summary(res):
    """A short paragraph for the README."""
    isa = "AVX-512" if "x86-64-v4" in res["versions"].get("densenn", "") else "AVX2"  # densenn's loaded module
    peak = res["peak"].get(f"{isa} {res['machine']['cores']}t")
    parts = [f"On a {res['machine']['cores']}-core {res['machine']['cpu']}"
             + (f" (measured {isa} FP32 peak {peak:,.0f} GFLOP/s)" if peak else "")
             + ", densenn trains (against the fastest other runner)"]
    ratios = []
    for name, row in res["train"].items():
        best, value = _best_other(row, "samples_per_s")
        if "densenn" in row and best:
            ratios.append(f"{name} at {_fmt(row['densenn']['samples_per_s'])} samples/s "
                          f"({row['densenn']['samples_per_s'] / value:.1f}x {LABELS[best]})")
    parts.append("; ".join(ratios) + "." if ratios else "nothing (no workload measured).")
    w4 = res["train"].get("W4", {}).get("densenn")
    if w4 and peak:
        g = w4["samples_per_s"] * _flops_per_sample("W4") / 1e9
        parts.append(f"On the compute-bound W4 it reaches {g:,.0f} GFLOP/s, "
                     f"{100 * g / _peak_for(res, w4['threads'], isa):.0f}% of the {isa} peak.")
    p = res["predict"].get("densenn")
    if p:
        best, value = _best_other(res["predict"], "predict_us", lower=True)
        parts.append(f"Predicting one row from Python takes {p['predict_us']:.1f} µs"
                     + (f" ({LABELS[best]}: {value:.1f} µs)" if best else "")
                     + (f", from C {res['embedded']['fastest_us']:.1f} µs (reading its weights from cache alone "
                        f"takes {res['embedded']['floor_us']:.1f} µs)" if res.get("embedded") else "") + ".")
    s = [x for x in res["scaling"].get("densenn", []) if "skipped" not in x]
    if len(s) > 1:
        change = 100 * (s[-1]["samples_per_s"] / s[0]["samples_per_s"] - 1)
        added = max(0.0, s[-1]["peak_mb"] - s[-1]["rss_start_mb"])
        parts.append(f"From {s[0]['rows']:,} to {s[-1]['rows']:,} rows its W2 speed changes by {change:+.0f}% and "
                     f"training adds {added:,.0f} MB ({100 * added / s[-1]['input_mb']:.0f}% of the "
                     f"{s[-1]['input_mb']:,.0f} MB input) to the process's memory.")
    if max((x.get("background") or 0 for x in _all_results(res)), default=0) > 0.1:
        parts.append("Some figures were measured while other processes were busy (marked † in the table).")
    parts.append("Each runner runs in its own process with its faster thread setting; same data, initial "
                 "weights and optimizer; `densenn bench` reproduces it (bench/results/benchmark.md).")
    return " ".join(parts) + "\n"


def plots(res, out_dir, log=print):
    """training.png (grouped bars) and scaling.png; skipped with a message if matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no plots (pip install 'densenn[bench]')")
        return []
    written = []
    names = [w for w in TRAIN if w in res["train"]]
    runners = [r for r in RUNNERS if any(r in res["train"][w] for w in names)]
    if names:
        fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.6), squeeze=False)
        for ax, name in zip(axes[0], names):
            vals = [res["train"][name].get(r, {}).get("samples_per_s", 0) for r in runners]
            bars = ax.bar(range(len(runners)), vals, color=[f"C{i}" for i in range(len(runners))])
            for bar, r in zip(bars, runners):
                if res["train"][name].get(r, {}).get("approx"):
                    bar.set_hatch("//")
            ax.set_xticks(range(len(runners)), [LABELS[r] for r in runners], rotation=45, ha="right")
            ax.set_title(name)
            ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 3))
        axes[0][0].set_ylabel("training samples/s (higher is better)")
        fig.suptitle("Training speed per workload (hatched: approximate network)")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "training.png"), dpi=120)
        plt.close(fig)
        written.append("training.png")
    if res["scaling"]:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
        for i, r in enumerate(RUNNERS):
            pts = [s for s in res["scaling"].get(r, []) if "skipped" not in s]
            if not pts:
                continue
            rows = [s["rows"] for s in pts]
            a1.plot(rows, [s["samples_per_s"] for s in pts], "o-", color=f"C{i}", label=LABELS[r])
            a2.plot(rows, [s["peak_mb"] for s in pts], "o-", color=f"C{i}", label=LABELS[r])
        inputs = {s["rows"]: s["input_mb"] for v in res["scaling"].values() for s in v if "input_mb" in s}
        a2.plot(sorted(inputs), [inputs[k] for k in sorted(inputs)], "k--", label="input arrays")
        for ax, label in ((a1, "training samples/s"), (a2, "peak RSS (MB)")):
            ax.set_xscale("log")
            ax.set_xlabel("rows (W2-shaped, synthetic)")
            ax.set_ylabel(label)
            ax.legend(fontsize=8)
        a2.set_yscale("log")
        fig.suptitle("Scaling with the number of rows")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "scaling.png"), dpi=120)
        plt.close(fig)
        written.append("scaling.png")
    return written


def write_results(res, out_dir, command, log=print):
    os.makedirs(out_dir, exist_ok=True)
    stamp = res.get("measured") or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report = markdown_report(res)
    report = report.replace("\n\n", f"\n\nMeasured {stamp} with `{command}`.\n\n", 1)
    files = {"benchmark.md": report, "summary.md": summary(res), "results.json": json.dumps(res, indent=1)}
    for name, text in files.items():
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(text)
    return list(files) + plots(res, out_dir, log)


def _csv(value, allowed, what):
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(bad)}; choose from {', '.join(allowed)}")
    return items


def main(argv=None, default_out=None, prog="densenn bench"):
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--child"]:
        _child(argv[1], json.loads(argv[2]))
        return 0
    parser = argparse.ArgumentParser(prog=prog, description="Benchmark densenn against NumPy, PyTorch, Keras "
                                     "and scikit-learn (those installed).")
    parser.add_argument("--workloads", default=",".join(TRAIN + ("predict", "scaling")),
                        type=lambda s: _csv(s, TRAIN + ("predict", "scaling"), "workload"),
                        help="comma-separated: W1,W2,W3,W4,predict,scaling (default: all)")
    parser.add_argument("--runners", default=",".join(RUNNERS), type=lambda s: _csv(s, RUNNERS, "runner"),
                        help="comma-separated: densenn,numpy,torch,keras,sklearn (default: all installed)")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per runner (median reported)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the training and predict measurements, runners taking turns; each runner's "
                             "best round is reported (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small data, 1 epoch, 1 round, no thread search")
    parser.add_argument("--scaling-rows", type=lambda s: [int(v) for v in s.split(",")],
                        help="rows for the scaling runs (default 10000,100000,1000000)")
    parser.add_argument("--max-wait", type=float, default=60,
                        help="seconds to wait, before each measurement, for other processes to quieten (default 60)")
    parser.add_argument("--out", default=default_out,
                        help="write benchmark.md, summary.md, results.json and plots here"
                             + (f" (default {default_out})" if default_out else " (default: print only)"))
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731  progress on stderr, table on stdout
    res = run_suite(args.workloads, args.runners, args.epochs, args.quick, args.scaling_rows, log, args.max_wait,
                    rounds=args.rounds)
    print(markdown_report(res))
    if args.out:
        written = write_results(res, args.out, " ".join([prog] + argv), log)
        log(f"written to {args.out}: {', '.join(written)}")
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
