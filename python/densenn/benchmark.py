"""C++ (densenn) against the NumPy reference on the course networks.

Each runner times its work in a child process of its own, with its thread
pool set through the environment before NumPy/OpenMP start: two thread pools
in one process distort each other, and a BLAS's thread count cannot change
after it starts. Both sides get the same data, the same initial weights, the
same batch order policy (a new shuffle each epoch) and the same optimizer;
the figure reported is the median of several epochs after a warm-up epoch.

    python -m densenn.benchmark            # all workloads, a markdown table on stdout
    python bench/run.py                     # the same, written to bench/results/
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

# name: (description, layer sizes, hidden activations, output activation, loss, optimizer, kwargs, batch, data)
WORKLOADS = {
    "W1": ("MNIST 784-100-50-10 sigmoid, SGD(0.01), batch 128",
           [784, 100, 50, 10], ["sigmoid", "sigmoid"], "softmax", "categorical_crossentropy", "sgd",
           {"learning_rate": 0.01}, 128, "mnist"),
    "W2": ("MNIST 784-64(relu)-64(tanh)-10, Adam, batch 32",
           [784, 64, 64, 10], ["relu", "tanh"], "softmax", "categorical_crossentropy", "adam", {}, 32, "mnist"),
    "W3": ("713-20-10-1 relu, sigmoid + binary cross-entropy, Adam, batch 16",
           [713, 20, 10, 1], ["relu", "relu"], "sigmoid", "binary_crossentropy", "adam", {}, 16, "synthetic"),
}
DEMO = "DEMO"
WORKLOADS[DEMO] = ("MNIST 784-100-50-10 sigmoid, Adam, batch 32 (the demo)",
                   [784, 100, 50, 10], ["sigmoid", "sigmoid"], "softmax", "categorical_crossentropy", "adam", {},
                   32, "mnist")


def workload_data(name):
    """(x, one-hot or binary y) float32 for a workload: bundled MNIST, or a seeded synthetic set."""
    sizes, data = WORKLOADS[name][1], WORKLOADS[name][8]
    if data == "mnist":
        from .datasets import mnist
        (x, labels), _ = mnist.load_data()
        x = x.reshape(len(x), -1).astype(np.float32) / 255
        y = np.eye(sizes[-1], dtype=np.float32)[labels]
    else:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((8000, sizes[0]), dtype=np.float32)
        y = (x @ rng.standard_normal(sizes[0]).astype(np.float32) > 0).astype(np.float32)[:, None]
    return x, y


def initial_weights(name, seed=0):
    """Glorot-uniform kernels and zero biases, shared by both runners."""
    from .reference import glorot_uniform
    rng = np.random.default_rng(seed)
    sizes = WORKLOADS[name][1]
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        weights += [glorot_uniform(fan_in, fan_out, rng, np.float32), np.zeros(fan_out, np.float32)]
    return weights


def _densenn_model(name):
    from . import Input, Sequential, layers, optimizers
    _, sizes, hidden, out_act, loss, opt, kwargs, _, _ = WORKLOADS[name]
    model = Sequential([Input(shape=(sizes[0],))]
                       + [layers.Dense(n, activation=a) for n, a in zip(sizes[1:-1], hidden)]
                       + [layers.Dense(sizes[-1], activation=out_act)])
    model.compile(optimizer=optimizers.get(opt).__class__(**kwargs), loss=loss)
    model.set_weights(initial_weights(name))
    return model


def _reference_model(name):
    from .reference import ReferenceModel
    _, sizes, hidden, out_act, loss, opt, kwargs, _, _ = WORKLOADS[name]
    spec = [("dense", a, True) for a in hidden] + [("dense", out_act, True)]
    return ReferenceModel(spec, initial_weights(name), loss, opt, dtype=np.float32, **kwargs)


def time_epochs(runner, name, epochs):
    """Seconds per epoch for `epochs` epochs after one warm-up epoch."""
    x, y = workload_data(name)
    batch = WORKLOADS[name][7]
    if runner == "densenn":
        model = _densenn_model(name)

        def epoch():
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True)
    elif runner == "numpy":
        model = _reference_model(name)
        rng = np.random.default_rng(1)

        def epoch():
            model.train_epoch(x, y, batch_size=batch, order=rng.permutation(len(x)))
    else:
        raise ValueError(f"unknown runner {runner!r}")
    epoch()  # warm-up: first-touch allocations, thread pool start
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    return times, len(x)


def time_predict_one_row(runner, repeats=20000):
    """Median microseconds to predict one row of a 784-64-64-10 network."""
    name = "W2"
    x = workload_data(name)[0][:1].copy()
    if runner == "densenn":
        model = _densenn_model(name)
        call = lambda: model.predict(x, verbose=0)  # noqa: E731
    else:
        model = _reference_model(name)
        call = lambda: model.predict(x)  # noqa: E731
    for _ in range(100):
        call()
    samples = []
    for _ in range(20):
        start = time.perf_counter()
        for _ in range(repeats // 20):
            call()
        samples.append((time.perf_counter() - start) / (repeats // 20) * 1e6)
    return statistics.median(samples)


def _child(args):
    if args.task == "train":
        times, rows = time_epochs(args.runner, args.workload, args.epochs)
        result = {"epoch_s": statistics.median(times), "samples_per_s": rows / statistics.median(times)}
    else:
        result = {"predict_us": time_predict_one_row(args.runner)}
    print(json.dumps(result))


def run_child(runner, task, workload="W1", epochs=5, threads=None):
    """Runs one measurement in a fresh process with `threads` BLAS/OpenMP threads (None: the default)."""
    env = dict(os.environ)
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    cmd = [sys.executable, "-m", "densenn.benchmark", "--child", "--runner", runner, "--task", task,
           "--workload", workload, "--epochs", str(epochs)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_numpy(task, workload="W1", epochs=5):
    """NumPy's best of 1 thread and all cores (small products often run slower threaded)."""
    results = []
    for threads in sorted({1, os.cpu_count() or 1}):
        r = run_child("numpy", task, workload, epochs, threads)
        r["threads"] = threads
        results.append(r)
    key = "samples_per_s" if task == "train" else "predict_us"
    return max(results, key=lambda r: r[key]) if task == "train" else min(results, key=lambda r: r[key])


def run_all(workloads=("W1", "W2", "W3"), epochs=5):
    """Measures every workload with both runners; returns rows for the table."""
    rows = []
    for name in workloads:
        ours = run_child("densenn", "train", name, epochs)
        ref = best_numpy("train", name, epochs)
        rows.append({"workload": name, "description": WORKLOADS[name][0], "densenn": ours["samples_per_s"],
                     "numpy": ref["samples_per_s"], "numpy_threads": ref["threads"],
                     "ratio": ours["samples_per_s"] / ref["samples_per_s"]})
    ours = run_child("densenn", "predict")
    ref = best_numpy("predict")
    rows.append({"workload": "predict 1 row", "description": "784-64-64-10, one row, from Python (µs, lower is better)",
                 "densenn": ours["predict_us"], "numpy": ref["predict_us"], "numpy_threads": ref["threads"],
                 "ratio": ref["predict_us"] / ours["predict_us"]})
    return rows


def markdown_table(rows):
    from . import build_info
    info = build_info()
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"densenn core {info['isa']} ({info['simd']}), {info['openmp_threads']} OpenMP threads; "
        f"NumPy {np.__version__}.",
        "",
        "| workload | what | densenn | NumPy (threads) | densenn / NumPy |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        unit = " µs" if r["workload"].startswith("predict") else " samples/s"
        lines.append(f"| {r['workload']} | {r['description']} | {r['densenn']:,.1f}{unit} | "
                     f"{r['numpy']:,.1f}{unit} ({r['numpy_threads']}) | {r['ratio']:.1f}x |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="densenn bench", description="C++ vs NumPy benchmark")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runner", choices=["densenn", "numpy"], help=argparse.SUPPRESS)
    parser.add_argument("--task", choices=["train", "predict"], default="train", help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="W1")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per runner (median reported)")
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    print(markdown_table(run_all(epochs=args.epochs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
