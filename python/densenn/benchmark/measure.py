"""The measurements (jobs) a runner's child process makes, and the parent's side: starting that process with
its thread count, and waiting for the machine to be quiet (the package docstring says why)."""
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from .runners import RUNNER_CLASSES
from .workloads import PREDICT_NET, WORKLOADS, keras_loss, synthetic, workload_data

# ----------------------------------------------------------------------------- jobs (in the child)


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# Every runner trains this long before its timed epochs (and its own warm-up epoch): on a virtual machine a
# core that was idle ran a two-thread step 2x slower for its first ~0.1 s, longer than one epoch of W3.
WARM_UP_S = 0.5


def _job_train(runner, job):
    name = job["workload"]
    r = RUNNER_CLASSES[runner](name)
    x, y = workload_data(name, job.get("rows"))
    data = r.prepare(x, y)
    start = time.perf_counter()
    while time.perf_counter() - start < WARM_UP_S:
        r.epoch(data)
    times = r.epoch_times(data, job["epochs"])
    epoch_s = statistics.median(times)
    return {"epoch_s": epoch_s, "samples_per_s": len(x) / epoch_s, "epoch_times": times, "rows": len(x),
            "approx": r.approx}


def _job_check(runner, job):
    """Loss before and after one unshuffled epoch from the shared initial weights, one formula for all."""
    name = job["workload"]
    r = RUNNER_CLASSES[runner](name)
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
    r = RUNNER_CLASSES[runner](PREDICT_NET)
    from ..datasets import mnist
    (x_train, _), (x_test, _) = mnist.load_data()  # all 10k bundled images
    x = np.concatenate([x_train, x_test]).reshape(-1, WORKLOADS[PREDICT_NET][1][0]).astype(np.float32) / 255
    one = x[:1].copy()
    calls = r.predict_calls()
    samples = job.get("samples", 7)
    latency = {label: _median_us(call, one, job["sample_s"], samples) for label, call in calls.items()}
    batch_us = _median_us(next(iter(calls.values())), x, job["sample_s"] * 3, samples)
    best = min(latency, key=latency.get)
    nets = {}
    for name, row_counts in job.get("nets", {}).items():  # other workloads' networks: few rows, best call
        other = RUNNER_CLASSES[runner](name)
        rows = synthetic(max(row_counts), WORKLOADS[name][1][0], WORKLOADS[name][1][-1], seed=3)[0]
        nets[name] = {str(n): min(_median_us(call, rows[:n].copy(), job["sample_s"], samples)
                                  for call in other.predict_calls().values()) for n in row_counts}
    return {"latency_us": latency, "predict_us": latency[best], "best_call": best, "nets": nets,
            "batch_rows": len(x), "batch_rows_per_s": len(x) / (batch_us * 1e-6), "approx": r.approx}


def _job_scaling(runner, job):
    """W2-shaped training on `rows` synthetic rows: samples/s and peak RSS against the input arrays."""
    rows = job["rows"]
    r = RUNNER_CLASSES[runner]("W2")
    sizes = WORKLOADS["W2"][1]
    x, y = synthetic(rows, sizes[0], sizes[-1], seed=2)  # not timed
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


def child(runner, jobs):
    """The child process's work: runs the jobs and prints their results as one line of JSON."""
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads and (runner == "torch" or runner == "keras" and os.environ.get("KERAS_BACKEND") == "torch"):
        import torch
        torch.set_num_threads(int(threads))
    out = {"versions": RUNNER_CLASSES[runner].versions(), "results": []}
    for job in jobs:
        try:
            out["results"].append(_JOBS[job["task"]](runner, job))
        except Exception as exc:  # one failing measurement should not lose the others
            out["results"].append({"error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps(out))


# ----------------------------------------------------------------------------- the parent

def usable_cpus():
    """The CPUs this process may run on: a taskset, cgroup cpuset or batch job's share, which os.cpu_count()
    ignores. The benchmark's "all cores" and its quiet check mean these."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this OS
        return list(range(os.cpu_count() or 1))


def _cpu_busy_s():
    """Seconds of CPU time the usable CPUs have been busy (all processes on them), from /proc/stat."""
    names = {f"cpu{c}" for c in usable_cpus()}
    try:
        with open("/proc/stat") as f:
            lines = [line.split() for line in f if line.startswith("cpu")]
    except OSError:
        return None
    ticks = [sum(int(v) for v in line[1:9]) - int(line[4]) - int(line[5]) for line in lines if line[0] in names]
    return sum(ticks) / os.sysconf("SC_CLK_TCK") if ticks else None


def wait_until_quiet(max_wait_s, log=print, busy_limit=0.1):
    """Waits (up to max_wait_s) until other processes use under busy_limit of the machine: a benchmark on a
    shared machine measures the neighbours too. Returns the last busy fraction seen."""
    deadline, told = time.monotonic() + max_wait_s, False
    while max_wait_s > 0:
        start = _cpu_busy_s()
        if start is None:
            return None
        time.sleep(0.5)
        busy = (_cpu_busy_s() - start) / (0.5 * len(usable_cpus()))
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
    if runner == "keras" and "KERAS_BACKEND" not in env:  # an installed backend, not whatever keras.json names
        backend = next((b for b in ("jax", "torch", "tensorflow") if importlib.util.find_spec(b)), None)
        if backend:
            env["KERAS_BACKEND"] = backend
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
        wall = (time.perf_counter() - t0) * len(usable_cpus())
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
    """NumPy's best of 1 thread and all usable cores (small products often run slower threaded)."""
    results = []
    for threads in sorted({1, len(usable_cpus())}):
        r = run_child("numpy", task, workload, epochs, threads)
        r["threads"] = threads
        results.append(r)
    if task == "train":
        return max(results, key=lambda r: r["samples_per_s"])
    return min(results, key=lambda r: r["predict_us"])
