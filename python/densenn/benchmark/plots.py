"""The run's plots (matplotlib): training.png (grouped bars) and scaling.png."""
import os

from .runners import LABELS, RUNNERS
from .workloads import TRAIN


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
