"""Helpers the tests share (fixtures are in conftest.py): real Keras or a skip, a floatx context, central
differences, and a child interpreter with a memory cap. A module of its own: pytest imports every folder's
conftest.py under the one name "conftest", so ``from conftest import ...`` could find tests/notebooks' one."""
import contextlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import densenn


_keras_cannot_run = None  # why keras' first import failed on this CPU: a second one fails otherwise


def import_keras():
    """Real Keras 3 for the comparisons, or a skip: not installed, or its backend cannot run on this CPU (jaxlib
    needs AVX and raises RuntimeError at import on older CPUs; importing it again then raises AttributeError
    from the half-initialised module, so the first reason is kept)."""
    global _keras_cannot_run
    if _keras_cannot_run:
        pytest.skip(_keras_cannot_run, allow_module_level=True)
    try:
        return pytest.importorskip("keras")
    except RuntimeError as e:
        _keras_cannot_run = f"keras' backend does not run on this CPU: {e}"
        pytest.skip(_keras_cannot_run, allow_module_level=True)


@contextlib.contextmanager
def using_floatx(name):
    """Models built inside the block use dtype `name`; the previous floatx comes back afterwards."""
    previous = densenn.config.floatx()
    densenn.config.set_floatx(name)
    try:
        yield
    finally:
        densenn.config.set_floatx(previous)


def central_differences(loss, arrays, h=1e-5):
    """d loss() / d a for every element of each array in `arrays`, by central differences: each element is moved
    by +-h in place (a live view of a model's parameters works) and put back."""
    grads = []
    for a in arrays:
        g = np.empty(a.shape)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + h
            up = loss()
            a[idx] = old - h
            down = loss()
            a[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads.append(g)
    return grads


def core_finite_differences(core, x, y, sample_weight=None, h=1e-5):
    """Central differences of the core's training-mode batch loss w.r.t. every trainable parameter (the order of
    its flat gradient)."""
    return central_differences(lambda: core.compute_gradients(x, y, sample_weight)[0], [core.params], h)[0]


def run_child(code, *args, timeout=60, memory_mb=3072, input=None):
    """Runs Python `code` in a fresh interpreter with its address space capped at memory_mb and a time limit:
    a case that hangs or allocates without bound fails its test instead of the machine. Returns the
    CompletedProcess (text)."""
    # The child caps itself, first thing. A preexec_fn runs between fork and exec in a copy of this process:
    # unsafe with threads, and under QEMU's emulator (scripts/test_under_qemu.sh) it caps the emulator, which dies.
    cap = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({memory_mb << 20}, {memory_mb << 20}))\n"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", cap + textwrap.dedent(code), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, input=input)
