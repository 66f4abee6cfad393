"""Runs the benchmark suite (densenn.benchmark) and writes its results to bench/results/.

    python bench/run.py [--workloads W1,W2,W3,W4,predict,scaling] [--runners densenn,numpy,torch,keras,sklearn]
                        [--epochs 5] [--rounds 3] [--quick] [--out DIR]

Writes benchmark.md (the tables), summary.md (a paragraph for the README), results.json (raw numbers) and,
with matplotlib installed, training.png and scaling.png. --quick prints only, unless --out is given, so a
smoke run never overwrites the real results.
"""
import pathlib
import sys

from densenn import benchmark

if __name__ == "__main__":
    argv = sys.argv[1:]
    results = pathlib.Path(__file__).resolve().parent / "results"
    sys.exit(benchmark.main(argv, default_out=None if "--quick" in argv else str(results),
                            prog="python bench/run.py"))
