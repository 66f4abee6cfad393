"""Loads the C++ core built for the best instruction set this CPU supports.

Three builds of the same sources ship in the package (x86-64): ``_core_x86_64_v4``
(AVX-512), ``_core_x86_64_v3`` (AVX2 + FMA, about 3x faster matrix products than
SSE2) and ``_core_baseline`` (any x86-64 CPU). The baseline module asks the CPU
what it can run. Set ``DENSENN_ISA`` to ``baseline``, ``x86-64-v3`` or
``x86-64-v4`` to force one (the tests do, to keep each correct).
"""
import importlib
import os

_baseline = importlib.import_module("densenn._core_baseline")
# fastest first: (instruction set level, module)
_BUILDS = (("x86-64-v4", "densenn._core_x86_64_v4"), ("x86-64-v3", "densenn._core_x86_64_v3"))
CHOICES = ("auto", "baseline") + tuple(isa for isa, _ in _BUILDS)


def _load():
    wanted = os.environ.get("DENSENN_ISA", "auto").strip().lower()
    if wanted not in CHOICES:
        raise ImportError(f"DENSENN_ISA must be one of {', '.join(map(repr, CHOICES))}, got {wanted!r}")
    if wanted == "baseline":
        return _baseline
    for isa, module in _BUILDS:
        if wanted not in ("auto", isa):
            continue
        if not _baseline.cpu_supports(isa):
            if wanted == isa:
                raise ImportError(f"DENSENN_ISA={isa} was requested but this CPU cannot run it")
            continue
        try:
            return importlib.import_module(module)
        except ImportError:  # a non-x86 or DENSENN_BASELINE_ONLY build ships only the baseline module
            if wanted == isa:
                raise
    return _baseline


core = _load()
