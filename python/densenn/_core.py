"""Loads the C++ core built for the best instruction set this CPU supports.

Two builds of the same sources ship in the package: ``_core_x86_64_v3``
(AVX2 + FMA, about 3x faster matrix products) and ``_core_baseline`` (any
x86-64 CPU). The baseline module asks the CPU what it can run. Set
``DENSENN_ISA=baseline`` to force the portable build (the tests do, to keep it
correct).
"""
import importlib
import os

_baseline = importlib.import_module("densenn._core_baseline")


def _load():
    wanted = os.environ.get("DENSENN_ISA", "auto").strip().lower()
    if wanted not in ("auto", "baseline", "x86-64-v3"):
        raise ImportError(f"DENSENN_ISA must be 'auto', 'baseline' or 'x86-64-v3', got {wanted!r}")
    if wanted == "baseline":
        return _baseline
    if not _baseline.cpu_supports_avx2_fma():
        if wanted == "x86-64-v3":
            raise ImportError("DENSENN_ISA=x86-64-v3 was requested but this CPU lacks AVX2/FMA")
        return _baseline
    try:
        return importlib.import_module("densenn._core_x86_64_v3")
    except ImportError:  # a non-x86 build ships only the baseline module
        if wanted == "x86-64-v3":
            raise
        return _baseline


core = _load()
