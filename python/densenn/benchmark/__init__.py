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
  several epochs after a warm-up (epochs for 0.5 s, then one more). A loss check (one unshuffled epoch from
  the same weights, the loss recomputed by one NumPy formula) shows the runners really do the same arithmetic.
- Runner notes: PyTorch is a plain eager loop (torch.nn.Sequential, logits + CrossEntropyLoss /
  BCEWithLogitsLoss, torch.optim.SGD/Adam; torch adds Adam's eps to sqrt(v_hat) where Keras adds 1e-7 to
  sqrt(v), so each step sets torch's eps to 1e-7 / sqrt(1 - beta_2^t), the Keras update exactly). Keras 3
  runs on whatever backend is installed (JAX when present: XLA compiles its whole step, while PyTorch is
  measured as a runner of its own). Both Keras-shaped APIs are timed by an epoch
  callback inside one fit() call. scikit-learn's MLPClassifier runs
  one partial_fit per epoch (alpha=0, constant learning rate, epsilon=1e-7); it has one activation for all
  hidden layers, so its W2 uses relu twice (marked "≈").
- Rounds: the training and predict measurements run in several rounds, the runners taking turns within each
  round, and each runner's best round is reported. A shared machine has slow phases lasting minutes; one
  pass per runner let a slow phase fall on one runner and not another (W1's ratio ranged 1.3x-2.3x between
  single passes), while the best of rounds that alternate gives every runner its quiet window.
- On a shared machine each measurement first waits (up to --max-wait seconds) for other processes to quieten;
  a figure measured while they used over 10% of the CPUs anyway is marked "†".
- The FP32 peak and the one-row latency from C are measured by compiled programs the build installs in
  densenn/benchmark/bin/ (cpp/bench/), each built for AVX2 and for AVX-512 and run only where the CPU can.

Where things are: workloads.py (the networks, data, initial weights, the shared loss formula), runners/ (one
module per framework), measure.py (the child processes and what they measure), programs.py (the compiled
timing programs), suite.py (the whole run), report.py (markdown with a verdict on each target, JSON, the
README paragraph), plots.py (matplotlib), reference.py (the NumPy implementation: the NumPy runner, and the
tests' independent oracle).
"""
import argparse
import json
import sys

# _job_check and _merge too: the tests call them directly.
from .measure import _job_check, best_numpy, child, run_child, spawn, wait_until_quiet
from .programs import measure_embedded, measure_peak
from .report import markdown_report, summary, target_verdicts, write_results
from .runners import LABELS, RUNNERS, runner_available
from .suite import _merge, run_suite
from .workloads import DEMO, PEAK_TARGETS, PREDICT_NET, PREDICT_NETS, SCALING_ROWS, TARGETS, TRAIN, WORKLOADS, \
    flops_per_sample, initial_weights, keras_loss, workload_data

__all__ = ["main", "run_suite", "write_results", "markdown_report", "summary", "target_verdicts", "spawn",
           "run_child", "best_numpy", "runner_available", "wait_until_quiet", "measure_peak", "measure_embedded",
           "workload_data", "initial_weights", "keras_loss", "flops_per_sample", "WORKLOADS", "TRAIN", "DEMO",
           "TARGETS", "PEAK_TARGETS", "PREDICT_NET", "PREDICT_NETS", "SCALING_ROWS", "RUNNERS", "LABELS"]


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
        child(argv[1], json.loads(argv[2]))
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
