"""Loads the C++ core built for the best instruction set this CPU supports.

Three builds of the same sources ship in the package (x86-64): ``_core_x86_64_v4``
(AVX-512), ``_core_x86_64_v3`` (AVX2 + FMA, about 3x faster matrix products than
SSE2) and ``_core_baseline`` (any x86-64 CPU). The baseline module asks the CPU
what it can run. Set ``DENSENN_ISA`` to ``baseline``, ``x86-64-v3`` or
``x86-64-v4`` to force one (the tests do, to keep each correct). Where the
AVX-512 build is chosen, narrow networks still run on the AVX2 one (see
``module_for``).
"""
import importlib
import os

_baseline = importlib.import_module("densenn._core_baseline")
# fastest first: (instruction set level, module)
_BUILDS = (("x86-64-v4", "densenn._core_x86_64_v4"), ("x86-64-v3", "densenn._core_x86_64_v3"))
CHOICES = ("auto", "baseline") + tuple(isa for isa, _ in _BUILDS)


_WANTED = os.environ.get("DENSENN_ISA", "auto").strip().lower()


def _load(wanted=_WANTED):
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


def build_runs_here(isa):
    """Whether the package has the build for isa ("baseline", "x86-64-v3", "x86-64-v4") and this CPU runs it.
    Asks the CPU first: importing a build the CPU cannot run may kill the process (illegal instruction)."""
    if isa in ("baseline", "x86-64"):
        return True
    if isa not in dict(_BUILDS) or not _baseline.cpu_supports(isa):
        return False
    try:
        importlib.import_module(dict(_BUILDS)[isa])
    except ImportError:  # a non-x86 or DENSENN_BASELINE_ONLY build ships only the baseline module
        return False
    return True


# Measured in one run on an Ice Lake core (bench/results/benchmark.md, closing note of the performance issue):
# AVX-512 trains W4 (2048 wide) 1.25x and W1 (100 wide) 1.09x faster than AVX2, W2 (64 wide) the same, and
# W3 (713-20-10-1, batch 16) 0.84x: its 16-lane vectors are mostly remainder on 20-, 10- and 1-wide layers.
_AVX512_MIN_UNITS = 64


def module_for(widest_layer):
    """The module a model whose widest layer has this many units is built with: the loaded one, except that
    narrow networks take the AVX2 build over the AVX-512 one (unless DENSENN_ISA forces a build)."""
    if core.isa != "x86-64-v4" or widest_layer >= _AVX512_MIN_UNITS or _WANTED != "auto":
        return core
    try:
        return importlib.import_module(dict(_BUILDS)["x86-64-v3"])
    except ImportError:
        return core
