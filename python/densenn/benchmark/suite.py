"""The whole run: every runner's measurements in rounds, the peak and C-latency programs, the scaling runs;
one JSON-able dict of results."""
import os
import platform
import subprocess
import time

from .measure import spawn, usable_cpus, wait_until_quiet
from .programs import measure_embedded, measure_peak
from .runners import RUNNERS, runner_available
from .workloads import PREDICT_NETS, SCALING_ROWS, TRAIN


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
        result["nets"] = {name: {rows: {"us": us, "threads": result["threads"]} for rows, us in by_rows.items()}
                          for name, by_rows in result.get("nets", {}).items()}
        if old:
            for name, by_rows in old.get("nets", {}).items():  # each network and row count: the faster setting
                for rows, was in by_rows.items():
                    now = result["nets"].setdefault(name, {}).get(rows)
                    if now is None or was["us"] < now["us"]:
                        result["nets"][name][rows] = was
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
    cores = len(usable_cpus())
    thread_options = [None] if quick else sorted({1, cores})
    res = {"machine": {"cpu": _cpu_name(), "cores": cores, "machine_cores": os.cpu_count(),
                       "python": platform.python_version(),
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
            result["threads"] = threads or int(os.environ.get("OMP_NUM_THREADS", cores))
            result["background"] = out.get("background")
        return out["results"]

    for round_ in range(rounds):  # the runners take turns; _merge keeps each one's best round
        for runner in available:
            for threads in thread_options:
                jobs = [{"task": "train", "workload": w, "epochs": epochs, "rows": cap and (512 if w == "W4" else cap)}
                        for w in train]
                if "predict" in workloads:
                    jobs.append({"task": "predict", "sample_s": 0.01 if quick else 0.2, "samples": 3 if quick else 7,
                                 "nets": PREDICT_NETS})
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
        res["embedded_nets"] = {name: measure_embedded(quick, log, name) for name in PREDICT_NETS}

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
