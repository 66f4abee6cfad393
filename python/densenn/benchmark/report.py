"""The results as text: the markdown tables (benchmark.md), the paragraph for the README (summary.md), and the
files a run writes."""
import json
import os
import time

from .measure import WARM_UP_S
from .plots import plots
from .runners import LABELS, RUNNERS
from .workloads import PEAK_TARGETS, PREDICT_NET, PREDICT_NETS, TARGETS, TRAIN, WORKLOADS, flops_per_sample


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


def _machine_peak(res, isa):
    """The measured FP32 peak of `isa` on all the machine's cores, which the rate targets are shares of."""
    return res["peak"].get(f"{isa} {res['machine']['cores']}t")


def _densenn_isa(res):
    """The instruction set whose measured peak densenn's rates are held against: its loaded module's (AVX2's,
    the lower, for the portable build)."""
    return "AVX-512" if "x86-64-v4" in res["versions"].get("densenn", "") else "AVX2"


def _gflops(name, x):
    return x["samples_per_s"] * flops_per_sample(name) / 1e9


def target_verdicts(res):
    """Each performance target the run measured: (target, measured, verdict). A target that the measured peak or
    memory floor puts out of reach says so, with the figure that shows it."""
    isa = _densenn_isa(res)
    peak = _machine_peak(res, isa)
    rows = []
    for name in TRAIN:
        row = res["train"].get(name, {})
        d = row.get("densenn")
        if not d:
            continue
        best, value = _best_other(row, "samples_per_s")
        if best:
            ratio = d["samples_per_s"] / value
            verdict = "met" if ratio >= TARGETS[name] else "not met"
            need = _gflops(name, {"samples_per_s": TARGETS[name] * value})
            if ratio < TARGETS[name] and peak:
                verdict += (f": {TARGETS[name]}x {LABELS[best]} is {need:,.0f} GFLOP/s, "
                            + (f"above the {isa} peak ({peak:,.0f})" if need > peak else
                               f"{100 * need / peak:.0f}% of the {isa} peak"))
            rows.append((f"{name} training ≥ {TARGETS[name]}x the best other", f"{ratio:.2f}x vs {LABELS[best]}",
                         verdict))
        if peak:
            share = _gflops(name, d) / peak
            others = {r: _gflops(name, x) / peak for r, x in row.items() if r != "densenn" and not x.get("approx")}
            best_share = max(others, key=others.get, default=None)
            rows.append((f"{name} ≥ {100 * PEAK_TARGETS[name]:.0f}% of the {isa} peak",
                         f"{100 * share:.0f}% ({d['threads']}t)",
                         ("met" if share >= PEAK_TARGETS[name] else "not met")
                         + (f" (best other: {LABELS[best_share]} {100 * others[best_share]:.0f}%)" if best_share
                            else "")))
    p = res["predict"].get("densenn")
    e, nets_c = res.get("embedded"), res.get("embedded_nets", {})
    if p:
        rows.append((f"one {PREDICT_NET} row from Python ≤ 2 µs", f"{p['predict_us']:.2f} µs",
                     "met" if p["predict_us"] <= 2 else "not met" + (
                         f": reading the weights alone takes {e['floor_us']:.2f} µs here"
                         + _python_share(p["predict_us"], e, ", and ") if e else "")))
        py = {PREDICT_NET: p["predict_us"], **{n: v["1"]["us"] for n, v in p.get("nets", {}).items() if "1" in v}}
        for name, c in ((PREDICT_NET, e), *nets_c.items()):
            if not c or name not in py or name == "W4":
                continue
            for where, us in (("Python", py[name]), ("C", c["fastest_us"])):
                met = us <= 1.3 * c["floor_us"]
                rows.append((f"one {name} row from {where} ≤ 1.3x the memory floor ({c['floor_us']:.2f} µs)",
                             f"{us / c['floor_us']:.2f}x", "met" if met else "not met" + (
                                 _python_share(us, c, ": ") if where == "Python" else "")))
        numpy_nets = res["predict"].get("numpy", {}).get("nets", {})
        for name, by_rows in p.get("nets", {}).items():
            for n, v in by_rows.items():
                if name == "W4" and n in numpy_nets.get(name, {}):
                    ratio = numpy_nets[name][n]["us"] / v["us"]
                    rows.append((f"{name}'s {n}-row predict at least as fast as NumPy", f"{ratio:.2f}x",
                                 "met" if ratio >= 1 else "not met"))
        best, value = _best_other(res["predict"], "batch_rows_per_s")
        if best:
            ratio = p["batch_rows_per_s"] / value
            rows.append((f"{p['batch_rows']:,} rows in one predict ≥ 1.2x the best other",
                         f"{ratio:.2f}x vs {LABELS[best]}", "met" if ratio >= 1.2 else "not met"))
    return rows


def _python_share(python_us, c, lead):
    """What the call from Python adds to C's one-row time, led by `lead`; nothing where C's figure of the run
    was the slower (noise: then it explains nothing)."""
    extra = python_us - c["fastest_us"]
    return f"{lead}the call from Python adds {extra:.2f} µs to C's" if extra > 0 else ""


def _cells(row, runners, text):
    """A table row's cells: text(measurement) for each runner, marked, or – where it has none."""
    return ["–" if row.get(r) is None else f"{_mark(row[r])}{text(row[r])}" for r in runners]


def _targets_table(res):
    verdicts = target_verdicts(res)
    if not verdicts:
        return []
    return ["", "Targets (each measured in this run):", "", "| target | measured | |", "|---|---:|---|",
            *(f"| {t} | {m} | {v} |" for t, m, v in verdicts)]


def _cores(machine):
    """The cores a run used: '2 cores', or '2 of its 16 cores' when it was held to some (taskset, a cpuset)."""
    total = machine.get("machine_cores") or machine["cores"]
    return f"{machine['cores']} cores" if total == machine["cores"] else f"{machine['cores']} of its {total} cores"


def markdown_report(res, title="densenn benchmark"):
    runners = [r for r in RUNNERS if any(r in v for v in res["train"].values()) or r in res["predict"]]
    v = res["versions"]
    m = res["machine"]
    peak = res["peak"]
    lines = [f"# {title}", "",
             f"Machine: {m['cpu']}, {_cores(m)}, {m['memory_gb']} GiB; Python {m['python']}. "
             f"Versions: {'; '.join(f'{k} {x}' for k, x in v.items())}"
             + (f"; densenn source {res['commit']}." if res.get("commit") else "."),
             "FP32 peak measured with an FMA loop (12 independent chains, best of start and end of the run): "
             + (", ".join(f"{k} {g:,.0f} GFLOP/s" for k, g in peak.items()) or "not measured") + ".",
             *_targets_table(res),
             "", f"Training samples/s, median of {res['epochs']} epoch(s) after a warm-up ({WARM_UP_S:g} s, then one "
             f"epoch), each runner in its own process with its faster thread setting (1 or {m['cores']} threads; "
             f"`(Nt)`), the best of {res.get('rounds', 1)} round(s) in which the runners take turns. "
             "Ratio: densenn / the best other runner (≈ = not the same network, left out of the ratio).", ""]
    head = "| workload | " + " | ".join(LABELS[r] for r in runners) + " | densenn / best other | target |"
    lines += [head, "|---|" + "---:|" * (len(runners) + 2)]
    for name in TRAIN:
        row = res["train"].get(name)
        if not row:
            continue
        cells = _cells(row, runners, lambda x: f"{_fmt(x['samples_per_s'])} ({x['threads']}t)")
        best, value = _best_other(row, "samples_per_s")
        ratio = f"{row['densenn']['samples_per_s'] / value:.2f}x vs {LABELS[best]}" if best and "densenn" in row \
            else "–"
        lines.append(f"| {name}: {WORKLOADS[name][0]} | " + " | ".join(cells) + f" | {ratio} | ≥ {TARGETS[name]}x |")
    isa, peak = _densenn_isa(res), _machine_peak(res, _densenn_isa(res))
    if any("densenn" in row for row in res["train"].values()):
        lines += ["", "Arithmetic rate: 6 x batch x sum(in x out) FLOPs per step / step time, GFLOP/s, and in brackets "
                  f"its share of the measured FP32 {isa} peak (the instruction set of densenn's build) on all "
                  f"{m['cores']} cores:", "",
                  "| workload | " + " | ".join(LABELS[r] for r in runners) + " | densenn's target |",
                  "|---|" + "---:|" * (len(runners) + 1)]
        for name in TRAIN:
            row = res["train"].get(name)
            if not row:
                continue
            cells = _cells(row, runners, lambda x: f"{_gflops(name, x):,.1f}"
                           + (f" ({100 * _gflops(name, x) / peak:.0f}%)" if peak else ""))
            lines.append(f"| {name} | " + " | ".join(cells) + f" | ≥ {100 * PEAK_TARGETS[name]:.0f}% |")
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
    nets = {r: x["nets"] for r, x in res["predict"].items() if x.get("nets")}
    if nets:
        lines += ["", "Few-row predicts of the other workloads' networks from Python (µs, best call and thread "
                  "setting; lower is better; target: densenn at least as fast as NumPy):", "",
                  "| network, rows | " + " | ".join(LABELS[r] for r in nets) + " | densenn's speed / best other's |",
                  "|---|" + "---:|" * (len(nets) + 1)]
        for name in PREDICT_NETS:
            for rows in map(str, PREDICT_NETS[name]):
                row = {r: by_net[name][rows] for r, by_net in nets.items() if rows in by_net.get(name, {})}
                if not row:
                    continue
                others = {r: v["us"] for r, v in row.items() if r != "densenn" and not res["predict"][r].get("approx")}
                best = min(others, key=others.get) if others else None
                ratio = (f"{others[best] / row['densenn']['us']:.2f}x vs {LABELS[best]}"
                         if best and "densenn" in row else "–")
                lines.append(f"| {name}'s {'-'.join(map(str, WORKLOADS[name][1]))}, {rows} | " + " | ".join(
                    f"{_mark(res['predict'][r])}{_fmt(v['us'])} ({v['threads']}t)" for r, v in row.items())
                    + f" | {ratio} |")
    e = res.get("embedded")
    if e:
        lines += ["", f"From C (libdensenn's `dn_model_predict`, one row, one thread, median): {e['fastest_us']:.2f} µs "
                  f"with the runtime for this CPU ({e['fastest_isa']}), {e['portable_us']:.2f} µs with the portable "
                  f"one (target: within 1.3x of the memory floor). Memory floor: reading the model's "
                  f"{e['weights']:,} float32 weights ({e['weights'] * 4 / 1024:.0f} KB, more than a core's L1 cache) "
                  f"from a cache-resident buffer alone takes {e['floor_us']:.2f} µs here ({e['floor_isa']} loads, 8 "
                  f"independent sums), so no one-row predict of this network can take less "
                  f"({e['fastest_us'] / e['floor_us']:.2f}x the floor)."]
        for name, en in res.get("embedded_nets", {}).items():
            if en:
                lines.append(f"The same for {name}'s network ({en['weights']:,} weights, "
                             f"{en['weights'] * 4 / 2**20:.1f} MB): {en['fastest_us']:,.2f} µs ({en['fastest_isa']}), "
                             f"{en['portable_us']:,.2f} µs (portable); reading its weights alone "
                             f"{en['floor_us']:,.2f} µs ({en['fastest_us'] / en['floor_us']:.2f}x the floor).")
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
    isa = _densenn_isa(res)
    peak = _machine_peak(res, isa)
    parts = [f"On {res['machine']['cpu']}, {_cores(res['machine'])}"
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
        g = _gflops("W4", w4)
        parts.append(f"On the compute-bound W4 it reaches {g:,.0f} GFLOP/s, "
                     f"{100 * g / peak:.0f}% of the {isa} peak.")
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
