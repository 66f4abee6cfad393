"""Shared fixtures of the test suite (helpers: support.py), and CI's rule that no test skips for a missing dependency.

With CI=true, a test skipped because a module of the `test` extra does not import, or with a reason that says
"missing dependency:" (qemu-x86_64, which .ci/run installs), fails instead: the comparisons with real Keras and
onnxruntime and the emulated CPUs must run where CI runs. `-ra` (pyproject.toml) ends every run with
the list of what was skipped and why.
"""
import importlib.metadata
import os
import re
import signal

import pytest

# Keras 3 runs the comparisons on JAX's CPU backend, the light one the test extra installs.
os.environ.setdefault("KERAS_BACKEND", "jax")

# Tests send Ctrl-C (SIGINT) to child interpreters. A suite started in the background by a shell without job
# control (`nohup pytest &`) has SIGINT ignored, which exec passes on to every child, whose Python then never
# raises KeyboardInterrupt: take Python's own handler, which exec resets to the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import densenn  # noqa: E402
from support import import_keras, using_floatx  # noqa: E402


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


@pytest.fixture(scope="session")
def keras():
    return import_keras()


@pytest.fixture
def float64():
    """Models built inside the test run in float64 in C++, from repeatable initial weights."""
    with using_floatx("float64"):
        densenn.utils.set_random_seed(1234)
        yield
