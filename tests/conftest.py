"""Shared fixtures and helpers of the test suite, and CI's rule that no test skips for a missing dependency.

With CI=true, a test skipped because a module of the `test` extra does not import, or with a reason that says
"missing dependency:" (qemu-x86_64, which .ci/run installs), fails instead: the comparisons with real Keras and
onnxruntime and the emulated CPUs must run where CI runs. `-ra` (pyproject.toml) ends every run with
the list of what was skipped and why.
"""
import contextlib
import importlib.metadata
import os
import re
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest

# Keras 3 runs the comparisons on JAX's CPU backend, the light one the test extra installs.
os.environ.setdefault("KERAS_BACKEND", "jax")

import densenn  # noqa: E402


def _test_extra_modules():
    """Import names of the test extra's packages (pyproject.toml), as pytest.importorskip reports them."""
    names = set()
    for requirement in importlib.metadata.requires("densenn") or ():
        if re.search(r"extra\s*==\s*['\"]test['\"]", requirement):
            names.add(re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower().replace("-", "_"))
    return names | {{"scikit_learn": "sklearn"}.get(n, n) for n in names}


def _skipped_for_missing_dependency(report):
    if not (report.skipped and os.environ.get("CI", "").lower() == "true"):
        return None
    reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
    missing = re.search(r"could not import '([\w.]+)'", reason)
    if (missing and missing.group(1).split(".")[0].lower() in _test_extra_modules()) or "missing dependency:" in reason:
        return reason
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    reason = _skipped_for_missing_dependency(report)
    if reason:
        report.outcome, report.longrepr = "failed", f"CI=true: skipped for a dependency of the test extra: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    reason = _skipped_for_missing_dependency(report)
    if reason:
        report.outcome, report.longrepr = "failed", f"CI=true: skipped for a dependency of the test extra: {reason}"


def import_keras():
    """Real Keras 3 for the comparisons, or a skip: not installed, or its backend cannot run on this CPU (jaxlib
    needs AVX and raises RuntimeError at import on older CPUs)."""
    try:
        return pytest.importorskip("keras")
    except RuntimeError as e:
        pytest.skip(f"keras' backend does not run on this CPU: {e}", allow_module_level=True)


@pytest.fixture(scope="session")
def keras():
    return import_keras()


@contextlib.contextmanager
def using_floatx(name):
    """Models built inside the block use dtype `name`; the previous floatx comes back afterwards."""
    previous = densenn.config.floatx()
    densenn.config.set_floatx(name)
    try:
        yield
    finally:
        densenn.config.set_floatx(previous)


@pytest.fixture
def float64():
    """Models built inside the test run in float64 in C++, from repeatable initial weights."""
    with using_floatx("float64"):
        densenn.utils.set_random_seed(1234)
        yield


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
    def cap():
        limit = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=cap, env=env, input=input)
