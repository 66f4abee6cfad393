"""Runs the C++-vs-NumPy benchmark (densenn.benchmark) and writes the table to bench/results/.

    python bench/run.py [--epochs 5]
"""
import argparse
import datetime
import pathlib

from densenn import benchmark


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    rows = benchmark.run_all(epochs=args.epochs)
    table = benchmark.markdown_table(rows)
    out = pathlib.Path(__file__).parent / "results" / "cpp_vs_numpy.md"
    out.parent.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out.write_text(f"# densenn (C++) vs the NumPy reference\n\nMeasured {stamp} with `python bench/run.py "
                   f"--epochs {args.epochs}`: training samples/s (median of {args.epochs} epochs after a warm-up), "
                   f"each runner in its own process.\n\n{table}\n")
    print(table)
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
