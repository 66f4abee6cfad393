"""Ported public notebooks, run as the material has them against densenn and, where Keras 3 imports, against Keras.

Each test file in this folder holds one public notebook, guide or textbook script as a string of Python source,
written against densenn: only its import lines differ from the material (``keras`` -> ``densenn``), as a user
would change them. ``run_notebook(source, "keras")`` turns those import lines back into ``keras`` ones (the
only rewrite: the word ``densenn`` in ``import``/``from`` lines) and runs the same cells against real Keras 3.

Data: nothing here downloads. ``keras.datasets.mnist.load_data`` is replaced, for the Keras run, by densenn's
bundled MNIST (the 10k test images split 8,000/2,000), which the densenn run imports as
``densenn.datasets.mnist``; other data sets come from ``notebook_data`` (this folder): seeded synthetic stand-ins
with the shapes, dtypes and value ranges of the originals, with a learnable signal.

Each run gets a fresh namespace, a fresh working directory (notebooks write checkpoints and plots), the same
seed for both frameworks (``utils.set_random_seed``), and Matplotlib's non-interactive backend.
"""
import ast
import contextlib
import functools
import io
import os
import re
import subprocess
import sys
import time

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from support import import_keras  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))  # notebook_data, for the ported cells and the tests

FRAMEWORKS = ("densenn", "keras")

_IMPORT_LINE = re.compile(r"^(\s*)(from|import)\s")


def to_framework(source, framework):
    """The cells' source with the import lines written for `framework`: densenn's port as it is, or Keras'
    (the word ``densenn`` replaced by ``keras`` in ``import`` and ``from ... import`` lines only)."""
    if framework == "densenn":
        return source
    if framework != "keras":
        raise ValueError(f"framework: expected one of {FRAMEWORKS}, got {framework!r}")
    lines = []
    for line in source.splitlines(keepends=True):
        if _IMPORT_LINE.match(line):
            line = re.sub(r"\bdensenn\b", "keras", line)
        lines.append(line)
    return "".join(lines)


_compilation_cache = None  # set by the `run` fixture: a folder for JAX's compiled programs


def _import_keras():
    keras = import_keras()
    if keras.backend.backend() == "jax" and _compilation_cache:
        # Each new Keras model compiles its train/test/predict steps (seconds on 2 busy cores); JAX's persistent
        # cache serves the same network's programs again (k-fold loops, "build the model again" cells, reruns).
        import jax
        if not jax.config.jax_compilation_cache_dir:
            jax.config.update("jax_compilation_cache_dir", _compilation_cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return keras


@contextlib.contextmanager
def _keras_data(keras):
    """Keras' MNIST loader answers with densenn's bundled MNIST while the Keras run lasts (no download)."""
    import densenn
    import keras.datasets.mnist as keras_mnist
    original = keras_mnist.load_data
    keras_mnist.load_data = lambda path="mnist.npz": densenn.datasets.mnist.load_data()
    try:
        yield
    finally:
        keras_mnist.load_data = original


@functools.lru_cache(maxsize=None)
def _freshly_imported_densenn():
    """The densenn modules a fresh ``import densenn`` loads (asked of a new interpreter, once)."""
    code = "import densenn, sys; print(*sorted(m for m in sys.modules if m.split('.')[0] == 'densenn'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return frozenset(out.stdout.split())


@contextlib.contextmanager
def _as_if_freshly_imported():
    """densenn's submodules that other tests imported (``densenn.models`` ...) are hidden while a notebook runs, as
    in a new kernel: ``import densenn as keras; keras.models.Sequential`` must work on its own, not because an
    earlier test imported ``densenn.models``. The originals are put back afterwards."""
    fresh = _freshly_imported_densenn()
    hidden = {n: m for n, m in sys.modules.items() if n.split(".")[0] == "densenn" and n not in fresh}
    attributes = []
    for name, module in hidden.items():
        parent, _, child = name.rpartition(".")
        owner = sys.modules.get(parent)
        if owner is not None and getattr(owner, child, None) is module:
            attributes.append((owner, child, module))
    for name in hidden:
        del sys.modules[name]
    for owner, child, _ in attributes:
        delattr(owner, child)
    try:
        yield
    finally:
        sys.modules.update(hidden)
        for owner, child, module in attributes:
            setattr(owner, child, module)


class NotebookRun(dict):
    """The namespace a run left behind (its variables), with ``.framework``, ``.workdir`` (where it ran, with the
    files it wrote), ``.output`` (what it printed),
    ``.seconds``, and for each titled cell (``# %% title``): ``.cells[title]``, the variables as that cell left
    them (a later cell may rebind ``history`` or ``model``), and ``.out[title]``, the value of its last line when
    that is an expression (what Jupyter shows as the cell's output), and ``.printed[title]``, what it printed."""


def split_cells(source):
    """``(title, first line, source)`` of each cell of `source`, split at ``# %%`` lines (Jupytext's percent
    format; the text after ``# %%`` is the cell's title)."""
    cells, title, line, start = [], "", 0, 0
    lines = source.splitlines(keepends=True)
    for i, text in enumerate(lines):
        if text.startswith("# %%"):
            cells.append((title, line, "".join(lines[start:i])))
            title, line, start = text[4:].strip(), i + 1, i + 1
    cells.append((title, line, "".join(lines[start:])))
    return [c for c in cells if c[2].strip()]


def _run_cell(cell, line, filename, namespace):
    """Runs one cell as Jupyter does: returns the value of its last line when that is an expression (its Out[])."""
    tree = ast.parse("\n" * line + cell, filename)  # blank lines ahead: tracebacks give the SOURCE's line numbers
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, filename, "exec"), namespace)
    if last is not None:
        return eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
    return None


def run_notebook(source, framework, workdir, seed=1234, name="notebook"):
    """Runs the cells of `source` (written against densenn) with `framework`'s imports in a fresh namespace,
    inside `workdir`; returns the namespace. Skips where the framework is Keras and Keras does not import."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if framework == "keras":
        keras = _import_keras()
        data = _keras_data(keras)
        keras.utils.set_random_seed(seed)
        if hasattr(keras.backend, "clear_session"):
            keras.backend.clear_session()  # layer names numbered from dense, dense_1 ... as in a fresh kernel
    else:
        import densenn
        data = _as_if_freshly_imported()
        densenn.utils.set_random_seed(seed)
        _reset_densenn_names()
    namespace = NotebookRun(__name__="__notebook__")
    namespace.cells, namespace.out, namespace.printed = {}, {}, {}
    printed = []
    cwd = os.getcwd()
    start = time.perf_counter()
    os.chdir(workdir)
    try:
        with data:
            for title, line, cell in split_cells(to_framework(source, framework)):
                out = io.StringIO()
                try:
                    with contextlib.redirect_stdout(out):
                        value = _run_cell(cell, line, f"<{name} [{framework}]>", namespace)
                finally:
                    printed.append(out.getvalue())
                if title:
                    namespace.cells[title] = dict(namespace)
                    namespace.out[title] = value
                    namespace.printed[title] = out.getvalue()
    finally:
        os.chdir(cwd)
        plt.close("all")
        sys.stdout.write("".join(printed))  # shown by pytest when the test fails
    namespace.framework = framework
    namespace.workdir = str(workdir)
    namespace.output = "".join(printed)
    namespace.seconds = time.perf_counter() - start
    return namespace


def _reset_densenn_names():
    """Layer and model names restart at dense, dense_1, ... as in a fresh kernel (Keras' clear_session)."""
    import densenn.layers
    counters = getattr(densenn.layers, "_name_counters", None)
    if isinstance(counters, dict):
        counters.clear()


@pytest.fixture(scope="module")
def _notebook_runs():
    return {}  # per test module: a module's runs (and their data) are dropped when its tests are done


@pytest.fixture(scope="session")
def _jax_cache(request, tmp_path_factory):
    """pytest's cache folder (kept between runs) or, without the cache plugin, a temporary one."""
    global _compilation_cache
    cache = getattr(request.config, "cache", None)
    _compilation_cache = str(cache.mkdir("jax-compilation-cache") if cache else tmp_path_factory.mktemp("jax"))
    return _compilation_cache


@pytest.fixture
def run(request, _notebook_runs, _jax_cache, tmp_path_factory):
    """``run(framework, source=None)``: the namespace of the test module's ``SOURCE`` (or `source`) run with
    `framework` ("densenn" or "keras"); each source runs at most once per framework in the module, so the
    densenn test, the Keras test and their comparison share the runs (a failed run fails each test that asks)."""
    module = request.module
    name = module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    seed = getattr(module, "SEED", 1234)

    def run(framework, source=None):
        source = module.SOURCE if source is None else source
        key = (module.__name__, source, framework)
        if key not in _notebook_runs:
            workdir = tmp_path_factory.mktemp(f"{name}-{framework}")
            try:
                _notebook_runs[key] = run_notebook(source, framework, workdir, seed, name)
            except (Exception, pytest.skip.Exception) as e:  # a skip is remembered too
                _notebook_runs[key] = e
        result = _notebook_runs[key]
        if isinstance(result, BaseException):
            raise result
        return result

    return run
