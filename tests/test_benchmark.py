"""The benchmark suite runs end to end (quick mode, densenn and NumPy), and its "same optimizer, same data"
claim holds: from the same initial weights, one unshuffled epoch gives the same loss in every runner.
No timing assertions: speed is what the suite reports, not what the tests check."""
import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

from densenn import benchmark


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    res = benchmark.run_suite(["W1", "W2", "W3", "predict", "scaling"], ["densenn", "numpy"], quick=True,
                              scaling_rows=[500], log=lambda msg: None)
    out = tmp_path_factory.mktemp("bench")
    written = benchmark.write_results(res, str(out), "pytest", log=lambda msg: None)
    return res, out, written


def test_quick_suite_writes_the_table(quick):
    res, out, written = quick
    assert res["errors"] == []
    table = (out / "benchmark.md").read_text()
    for text in ("| W1:", "| W2:", "| W3:", "densenn / best other", "predict 1 row", "Scaling"):
        assert text in table
    assert {"benchmark.md", "summary.md", "results.json"} <= set(written)
    assert json.loads((out / "results.json").read_text())["train"]["W1"]["densenn"]["samples_per_s"] > 0
    assert "densenn trains" in (out / "summary.md").read_text()
    if res.get("embedded"):  # (where a C compiler is found)
        e = res["embedded"]
        assert "From C (libdensenn's `dn_model_predict`" in table
        assert e["weights"] == 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
        assert 0 < e["floor_us"] and 0 < e["fastest_us"] and 0 < e["portable_us"]
    nets = res["predict"]["densenn"]["nets"]  # the other networks' few-row predicts, in both runners
    assert set(nets) == set(benchmark.PREDICT_NETS) == set(res["predict"]["numpy"]["nets"])
    assert all(v["us"] > 0 for by_rows in nets.values() for v in by_rows.values())
    assert "Few-row predicts of the other workloads' networks" in table and "| W4's 1024-2048-2048-10, 32 |" in table
    for name, e in res.get("embedded_nets", {}).items():
        if e:
            assert e["weights"] == sum(a * b + b for a, b in zip(benchmark.WORKLOADS[name][1][:-1],
                                                                   benchmark.WORKLOADS[name][1][1:]))
            assert f"The same for {name}'s network" in table
    scaled = res["scaling"]["densenn"][0]
    assert scaled["rows"] == 500 and scaled["peak_mb"] > 0 and scaled["input_mb"] > 0


def test_densenn_and_numpy_agree_on_the_loss(quick):
    res = quick[0]
    assert set(res["check"]) == {"W1", "W2", "W3"}
    for name, row in res["check"].items():
        ours, ref = row["densenn"], row["numpy"]
        assert ours["before"] == pytest.approx(ref["before"], rel=1e-5), name  # same weights, same forward
        assert ours["after"] == pytest.approx(ref["after"], rel=1e-4), name  # same optimizer step, same data
        assert ours["after"] != pytest.approx(ours["before"], rel=1e-4), name  # training did something


@pytest.mark.parametrize("runner", ["torch", "keras", "sklearn"])
def test_optional_runners_agree_with_numpy(runner):
    if not benchmark.runner_available(runner):
        pytest.skip(f"{runner} is not installed")
    jobs = [{"task": "check", "workload": w, "rows": 256} for w in ("W1", "W3")]  # SGD + softmax, Adam + sigmoid
    results = benchmark.spawn(runner, jobs)["results"]
    for job, result in zip(jobs, results):
        assert "error" not in result, result
        ref = benchmark._job_check("numpy", job)
        assert result["before"] == pytest.approx(ref["before"], rel=1e-5), job["workload"]
        assert result["after"] == pytest.approx(ref["after"], rel=1e-4), job["workload"]


def test_cli_options_are_checked():
    with pytest.raises(SystemExit):
        benchmark.main(["--runners", "densenn,tensorflow"])
    with pytest.raises(SystemExit):
        benchmark.main(["--rounds", "0"])
    assert importlib.util.find_spec("densenn.cli") is not None


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_run_held_to_some_cpus_counts_and_watches_only_those():
    """Under taskset or a cpuset the benchmark's "all cores" are the CPUs it may use, and a neighbour busy on
    another CPU does not make it wait."""
    first, second = sorted(os.sched_getaffinity(0))[:2]
    probe = ("import json, os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); "
             "from densenn.benchmark.measure import usable_cpus, wait_until_quiet; "
             "print(json.dumps([usable_cpus(), wait_until_quiet(0.01, busy_limit=0)]))")
    spinner = subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{second}}})\nwhile True: pass"])
    try:
        time.sleep(0.5)
        seen = {cpu: json.loads(subprocess.run([sys.executable, "-c", probe, str(cpu)], capture_output=True,
                                               text=True, timeout=120, check=True).stdout) for cpu in (first, second)}
    finally:
        spinner.kill()
        spinner.wait()
    assert seen[first][0] == [first] and seen[second][0] == [second]
    assert seen[second][1] > 0.8  # the spinner's CPU is busy
    assert seen[first][1] < seen[second][1] - 0.3  # and it does not count on the other


def test_rounds_keep_each_runners_best_measurement():
    res = {"train": {}, "check": {}, "predict": {}}
    job = {"task": "train", "workload": "W1"}
    for samples_per_s in (100.0, 300.0, 200.0):  # three rounds: a slow, a quiet and a middling one
        benchmark._merge(res, "densenn", job, {"samples_per_s": samples_per_s, "threads": 2})
    assert res["train"]["W1"]["densenn"]["samples_per_s"] == 300.0
    predict = {"task": "predict"}
    benchmark._merge(res, "numpy", predict, {"predict_us": 5.0, "latency_us": {"a": 5.0}, "best_call": "a",
                                             "batch_rows_per_s": 10.0, "threads": 1})
    benchmark._merge(res, "numpy", predict, {"predict_us": 7.0, "latency_us": {"a": 7.0}, "best_call": "a",
                                             "batch_rows_per_s": 30.0, "threads": 2})
    p = res["predict"]["numpy"]  # the lower latency and the higher throughput, each with its own thread count
    assert (p["predict_us"], p["latency_threads"], p["batch_rows_per_s"], p["threads"]) == (5.0, 1, 30.0, 2)
    benchmark._merge(res, "densenn", predict, {"predict_us": 2.0, "latency_us": {"a": 2.0}, "best_call": "a",
                                               "batch_rows_per_s": 10.0, "threads": 1,
                                               "nets": {"W4": {"1": 900.0, "32": 4000.0}}})
    benchmark._merge(res, "densenn", predict, {"predict_us": 2.0, "latency_us": {"a": 2.0}, "best_call": "a",
                                               "batch_rows_per_s": 10.0, "threads": 2,
                                               "nets": {"W4": {"1": 600.0, "32": 5000.0}}})
    assert res["predict"]["densenn"]["nets"] == {"W4": {"1": {"us": 600.0, "threads": 2},
                                                        "32": {"us": 4000.0, "threads": 1}}}


def test_targets_are_judged_against_the_measured_peak_and_floor():
    """The targets table computes each verdict from the run's own figures, and names the roofline (the measured
    peak, the memory floor) where a target is out of reach."""
    w1, w4 = benchmark.flops_per_sample("W1"), benchmark.flops_per_sample("W4")
    assert (w1, w4) == (6 * (784 * 100 + 100 * 50 + 50 * 10), 6 * (1024 * 2048 + 2048 * 2048 + 2048 * 10))
    res = {"versions": {"densenn": "0.1.0 (x86-64-v4, 2 OpenMP threads)"},
           "peak": {"AVX2 2t": 150.0, "AVX-512 1t": 100.0, "AVX-512 2t": 200.0}, "machine": {"cores": 2},
           "train": {"W1": {"densenn": {"samples_per_s": 150e9 / w1, "threads": 2},  # 150 GFLOP/s: 75%
                            "numpy": {"samples_per_s": 101e9 / w1, "threads": 1}},  # 2x would be 202 > 200
                     "W2": {"densenn": {"samples_per_s": 90e9 / benchmark.flops_per_sample("W2"), "threads": 1}},
                     "W4": {"densenn": {"samples_per_s": 160e9 / w4, "threads": 2},  # 80%
                            "keras": {"samples_per_s": 120e9 / w4, "threads": 2}}},
           "predict": {"densenn": {"predict_us": 2.5, "batch_rows": 10_000, "batch_rows_per_s": 1.0e6,
                                   "nets": {"W1": {"1": {"us": 5.0, "threads": 1}},
                                            "W4": {"1": {"us": 300.0, "threads": 2}, "8": {"us": 3000.0, "threads": 2}}}},
                       "numpy": {"predict_us": 20.0, "batch_rows": 10_000, "batch_rows_per_s": 0.7e6,
                                 "nets": {"W4": {"1": {"us": 400.0, "threads": 2}, "8": {"us": 2000.0, "threads": 2}}}}},
           "embedded": {"floor_us": 2.2, "fastest_us": 2.4},
           "embedded_nets": {"W1": {"floor_us": 3.0, "fastest_us": 3.5}, "W4": {"floor_us": 800.0, "fastest_us": 900.0}}}
    verdicts = {t: (m, v) for t, m, v in benchmark.target_verdicts(res)}
    assert verdicts["W1 training ≥ 2.0x the best other"] == (
        "1.49x vs NumPy", "not met: 2.0x NumPy is 202 GFLOP/s, above the AVX-512 peak (200)")
    assert verdicts["W1 ≥ 70% of the AVX-512 peak"] == ("75% (2t)", "met (best other: NumPy 50%)")
    assert verdicts["W2 ≥ 50% of the AVX-512 peak"] == ("45% (1t)", "not met")  # a share of both cores' peak
    assert verdicts["W4 training ≥ 1.1x the best other"] == ("1.33x vs Keras", "met")
    res["train"]["W4"]["keras"]["samples_per_s"] = 150e9 / w4  # 1.1x Keras would be 165 GFLOP/s
    assert dict((t, v) for t, _, v in benchmark.target_verdicts(res))["W4 training ≥ 1.1x the best other"] == \
        "not met: 1.1x Keras is 165 GFLOP/s, 82% of the AVX-512 peak"
    res["train"]["W4"]["keras"]["samples_per_s"] = 120e9 / w4
    assert verdicts["W4 ≥ 85% of the AVX-512 peak"] == ("80% (2t)", "not met (best other: Keras 60%)")
    assert verdicts["one W2 row from Python ≤ 2 µs"] == (
        "2.50 µs", "not met: reading the weights alone takes 2.20 µs here, and the call from Python adds 0.10 µs to C's")
    assert verdicts["one W2 row from Python ≤ 1.3x the memory floor (2.20 µs)"] == ("1.14x", "met")
    assert verdicts["one W2 row from C ≤ 1.3x the memory floor (2.20 µs)"] == ("1.09x", "met")
    assert verdicts["one W1 row from Python ≤ 1.3x the memory floor (3.00 µs)"] == (
        "1.67x", "not met: the call from Python adds 1.50 µs to C's")
    res["embedded_nets"]["W1"]["fastest_us"] = 5.5  # C's figure of a noisy run slower than Python's: no share told
    assert dict((t, v) for t, _, v in benchmark.target_verdicts(res))[
        "one W1 row from Python ≤ 1.3x the memory floor (3.00 µs)"] == "not met"
    res["embedded_nets"]["W1"]["fastest_us"] = 3.5
    assert verdicts["W4's 1-row predict at least as fast as NumPy"] == ("1.33x", "met")
    assert verdicts["W4's 8-row predict at least as fast as NumPy"] == ("0.67x", "not met")
    assert verdicts["10,000 rows in one predict ≥ 1.2x the best other"] == ("1.43x vs NumPy", "met")
    assert not any("W4 row from" in t for t in verdicts)  # a 25 MB network's floor is memory's, not a target
    table = benchmark.markdown_report({**res, "predict": {}, "embedded": None, "embedded_nets": {}, "check": {},
                                       "machine": {"cpu": "x", "cores": 2, "memory_gb": 1, "python": "3"},
                                       "scaling": {}, "skipped": [], "errors": [], "epochs": 1})
    assert "| W1 training ≥ 2.0x the best other | 1.49x vs NumPy | not met: 2.0x NumPy is 202 GFLOP/s" in table
    assert "| W1 | 150.0 (75%) | 101.0 (50%) | – |" in table
