"""The compiled timing programs the build installs in densenn/benchmark/bin/ (sources in cpp/bench/): the FP32
FMA peak, and the one-row predict latency through libdensenn's C ABI. Each exists once per instruction set it
measures; a build is started only where the CPU runs it."""
import os
import platform
import subprocess
import tempfile

from .measure import usable_cpus
from .workloads import PREDICT_NET, WORKLOADS


def _program(what, name, isa, log):
    """The path of program `name` built for isa, or None (logged as the measurement `what` skipped) where this
    CPU cannot run it or the installed package lacks it."""
    from .. import _installed
    from .._core import _baseline
    if platform.machine() not in ("x86_64", "AMD64"):
        log(f"{what}: not x86-64; skipped")
        return None
    if not _baseline.cpu_supports(isa):
        log(f"{what}: this CPU cannot run {name}_{isa}; skipped")
        return None
    try:
        return _installed("benchmark", "bin", f"{name}_{isa}")
    except FileNotFoundError:
        log(f"{what}: densenn/benchmark/bin/{name}_{isa} is not installed with this densenn; skipped")
        return None


def measure_peak(quick=False, log=print):
    """Measured FP32 FMA peak (GFLOP/s) for AVX2 (x86-64-v3) and, if the CPU has it, AVX-512, 1 and 2 threads."""
    from .._core import _baseline
    isas = {"AVX2": "x86-64-v3"} | ({"AVX-512": "x86-64-v4"} if _baseline.cpu_supports("x86-64-v4") and not quick
                                    else {})
    peak = {}
    for isa, march in isas.items():
        exe = _program("peak", "peak_flops", march, log)
        if exe is None:
            continue
        for threads in sorted({1, len(usable_cpus())}):
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            out = subprocess.run([exe, str(5_000_000 if quick else 150_000_000)], env=env,
                                 capture_output=True, text=True)
            if out.returncode == 0:
                peak[f"{isa} {threads}t"] = float(out.stdout.split()[0])
    return peak


def measure_embedded(quick=False, log=print, workload=PREDICT_NET):
    """One-row predict latency through libdensenn's C ABI (the workload's network, random weights), with the
    fastest runtime this CPU runs (or the one DENSENN_ISA forces, as for the Python module) and with the portable
    one, and the memory floor: the time to read as many floats as the model has weights from a cache-resident
    buffer, with that runtime's instruction set ({} where the program cannot run here)."""
    from .. import Input, Sequential, layers
    from .._core import core
    fastest = core.isa  # the build the Python module runs: the best this CPU has, or the one DENSENN_ISA forces
    runtime = "baseline" if fastest == "x86-64" else fastest
    march = "x86-64-v4" if fastest == "x86-64-v4" else "x86-64-v3"  # the floor's loads (programs: v3 and v4)
    exe = _program("embedded", "predict_latency", march, log)
    if exe is None:
        return {}
    sizes, hidden, out_act = WORKLOADS[workload][1], WORKLOADS[workload][2], WORKLOADS[workload][3]
    model = Sequential([Input(shape=(sizes[0],))] + [layers.Dense(n, activation=a) for n, a in
                                                      zip(sizes[1:-1], hidden)] + [layers.Dense(sizes[-1], activation=out_act)])
    result = {"weights": model.count_params(), "floor_isa": march}
    with tempfile.TemporaryDirectory() as tmp:
        model.save(os.path.join(tmp, "m.dnn"))
        for label, isa in (("fastest", runtime), ("portable", "baseline")):
            calls = max(20, round((1e8 if quick else 1.1e9) / result["weights"]))  # ~1e9 weights read in all
            run = subprocess.run([exe, os.path.join(tmp, "m.dnn"), str(calls),
                                  str(result["weights"])], env=dict(os.environ, DENSENN_ISA=isa, OMP_NUM_THREADS="1"),
                                 capture_output=True, text=True)
            if run.returncode != 0:
                log(f"embedded: {run.stderr[-500:]}")
                return {}
            predict_us, floor_us, _ = run.stdout.split()
            result[f"{label}_us"] = float(predict_us)
            result["floor_us"] = min(float(floor_us), result.get("floor_us", float("inf")))
    result["fastest_isa"] = fastest
    return result
