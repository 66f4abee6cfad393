"""The embedded runtime: the installed headers, libdensenn and its CMake package; the C++ and C examples of
cpp/examples built against the installed package (CMake for one, a plain compiler call for the other) print
what Python's predict computes; the C ABI validates its arguments and serves many threads at once."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import densenn
from densenn._core import build_runs_here
from densenn import Input, Sequential, layers, utils
from densenn.models import load_model
from support import using_floatx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "cpp" / "examples"
_PATH = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])


def _tool(*names):
    for name in names:
        found = shutil.which(name, path=_PATH)
        if found:
            return found
    return None


CC = _tool(os.environ.get("CC", "cc"), "cc", "gcc", "clang")
CXX = _tool(os.environ.get("CXX", "c++"), "c++", "g++", "clang++")
CMAKE = _tool("cmake")
NINJA = _tool("ninja")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler (cc/gcc/clang) on this machine")
needs_cmake = pytest.mark.skipif(CMAKE is None or CXX is None,
                                 reason="no cmake or no C++ compiler on this machine")


def _model(float64=False):
    with using_floatx("float64" if float64 else "float32"):
        utils.set_random_seed(21)
        model = Sequential([
            Input(shape=(5,)),
            layers.Dense(32, activation="relu"),
            layers.BatchNormalization(),
            layers.Dropout(0.2),
            layers.Maxout(6, pieces=3),
            layers.Dense(16, activation="tanh"),
            layers.LeakyReLU(0.1),
            layers.Dense(3, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        rng = np.random.RandomState(1)
        x = rng.randn(200, 5).astype(model._dtype)
        y = utils.to_categorical(rng.randint(0, 3, 200), 3)
        model.fit(x, y, epochs=3, batch_size=32, verbose=0)  # moving statistics move away from 0/1
    return model


def _inputs(rows=37, seed=2):
    return np.random.RandomState(seed).randn(rows, 5).astype(np.float32)


def _write_rows(path, x, separator=" "):
    path.write_text("\n".join(separator.join(repr(float(v)) for v in row) for row in x) + "\n")


def _parse(output):
    return np.array([[float(v) for v in line.split()] for line in output.strip().splitlines()], dtype=np.float64)


def _run(cmd, **kwargs):
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert run.returncode == 0, f"{cmd} failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run.stdout


def test_install_locations():
    include, library, cmake_dir = Path(densenn.get_include()), Path(densenn.get_library()), \
        Path(densenn.get_cmake_dir())
    assert (include / "densenn" / "c_api.h").is_file() and (include / "densenn" / "model.hpp").is_file()
    assert library.is_file() and library.name == "libdensenn.so"
    assert (cmake_dir / "densennConfig.cmake").is_file() and (cmake_dir / "densennTargets.cmake").is_file()
    for flag, expected in (("--includedir", include), ("--libdir", library.parent), ("--cmakedir", cmake_dir)):
        out = _run([sys.executable, "-m", "densenn", "config", flag]).strip()
        assert Path(out) == expected


def test_public_headers_need_no_eigen():
    """Consumers compile against the installed headers alone: none includes Eigen (a private dependency)."""
    headers = list((Path(densenn.get_include()) / "densenn").iterdir())
    assert headers
    for header in headers:
        text = header.read_text()
        assert not re.search(r"#\s*include\s*[<\"](Eigen|unsupported/Eigen)", text), header
        for included in re.findall(r"#\s*include\s*\"([^\"]+)\"", text):  # only other installed headers
            assert (Path(densenn.get_include()) / included).is_file(), (header, included)


def test_library_exports_the_c_abi():
    import ctypes
    lib = ctypes.CDLL(densenn.get_library())
    for name in ("dn_model_load", "dn_last_error", "dn_model_input_size", "dn_model_output_size",
                 "dn_model_predict", "dn_model_free"):
        assert hasattr(lib, name)


def test_c_abi_through_ctypes(tmp_path):
    """The C ABI from this process (ctypes), against Python's predict."""
    import ctypes
    lib = ctypes.CDLL(densenn.get_library())
    lib.dn_model_load.restype = ctypes.c_void_p
    lib.dn_model_load.argtypes = [ctypes.c_char_p]
    lib.dn_last_error.restype = ctypes.c_char_p
    lib.dn_model_input_size.argtypes = lib.dn_model_output_size.argtypes = [ctypes.c_void_p]
    lib.dn_model_predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.dn_model_free.argtypes = [ctypes.c_void_p]
    model = _model()
    model.save(tmp_path / "m.dnn")
    handle = lib.dn_model_load(str(tmp_path / "m.dnn").encode())
    assert handle
    try:
        assert (lib.dn_model_input_size(handle), lib.dn_model_output_size(handle)) == (5, 3)
        x = _inputs()
        y = np.zeros((len(x), 3), np.float32)
        assert lib.dn_model_predict(handle, x.ctypes.data, len(x), y.ctypes.data) == 0
        np.testing.assert_allclose(y, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
        assert lib.dn_model_predict(handle, x.ctypes.data, -3, y.ctypes.data) != 0
        assert b"rows" in lib.dn_last_error()
    finally:
        lib.dn_model_free(handle)
    assert not lib.dn_model_load(str(tmp_path / "missing.dnn").encode())
    assert b"cannot open" in lib.dn_last_error()


@needs_cmake
def test_cpp_example_with_cmake(tmp_path):
    model = _model()
    model.save(tmp_path / "m.dnn")
    x = _inputs()
    _write_rows(tmp_path / "x.txt", x)
    build = tmp_path / "build"
    cmd = [CMAKE, "-S", str(EXAMPLES), "-B", str(build), f"-DCMAKE_PREFIX_PATH={densenn.get_cmake_dir()}",
           f"-DCMAKE_CXX_COMPILER={CXX}"]
    if NINJA:
        cmd += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={NINJA}"]
    _run(cmd, env={**os.environ, "PATH": _PATH})
    _run([CMAKE, "--build", str(build)], env={**os.environ, "PATH": _PATH})
    exe = build / "predict"
    from_file = _parse(_run([str(exe), str(tmp_path / "m.dnn"), str(tmp_path / "x.txt")]))
    from_stdin = _parse(_run([str(exe), str(tmp_path / "m.dnn")], input=(tmp_path / "x.txt").read_text()))
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(from_file, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(from_file, from_stdin)
    bad = subprocess.run([str(exe), str(tmp_path / "missing.dnn")], capture_output=True, text=True, input="")
    assert bad.returncode == 1 and "cannot open" in bad.stderr


def _build_c(tmp_path, source, name, extra=()):
    exe = tmp_path / name
    libdir = os.path.dirname(densenn.get_library())
    _run([CC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", str(source), f"-I{densenn.get_include()}",
          f"-L{libdir}", f"-Wl,-rpath,{libdir}", "-ldensenn", *extra, "-o", str(exe)])
    return exe


@needs_cc
@pytest.mark.parametrize("float64", [False, True])
def test_c_example_with_cc(tmp_path, float64):
    model = _model(float64)
    model.save(tmp_path / "m.dnn")
    x = _inputs()
    _write_rows(tmp_path / "x.csv", x, separator=",")
    exe = _build_c(tmp_path, EXAMPLES / "predict.c", "predict")
    printed = _parse(_run([str(exe), str(tmp_path / "m.dnn"), str(tmp_path / "x.csv")]))
    expected = model.predict(x.astype(model._dtype), verbose=0)
    np.testing.assert_allclose(printed, expected, rtol=1e-5, atol=1e-6)
    # a model loaded back in Python predicts the same as the one that was saved
    np.testing.assert_array_equal(load_model(tmp_path / "m.dnn").predict(x, verbose=0), model.predict(x, verbose=0))
    bad = subprocess.run([str(exe), str(tmp_path / "x.csv")], capture_output=True, text=True, input="")
    assert bad.returncode == 1 and "signature" in bad.stderr


@needs_cc
def test_c_abi_checks_and_concurrent_predicts(tmp_path):
    """Argument validation, and 16 threads predicting one row at a time on one model, each result equal to
    the single-threaded one bit for bit."""
    model = _model()
    model.save(tmp_path / "m.dnn")
    damaged = bytearray((tmp_path / "m.dnn").read_bytes())
    damaged[len(damaged) // 2] ^= 0x10
    (tmp_path / "bad.dnn").write_bytes(bytes(damaged))
    exe = _build_c(tmp_path, ROOT / "tests" / "embed" / "c_api_checks.c", "checks", extra=("-pthread",))
    x = _inputs(rows=50, seed=3)
    out = _run([str(exe), str(tmp_path / "m.dnn"), str(tmp_path / "bad.dnn"), "16", "2000"],
               input="\n".join(" ".join(repr(float(v)) for v in row) for row in x))
    assert out.strip() == "OK"


@needs_cc
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts allocations through glibc's __libc_malloc")
def test_one_row_predict_allocates_nothing(tmp_path):
    """After a warm-up call, one-row predicts through the C ABI make no heap allocation at all."""
    import platform
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("counts allocations through glibc's __libc_malloc")
    model = _model()
    model.save(tmp_path / "m.dnn")
    exe = _build_c(tmp_path, ROOT / "tests" / "embed" / "alloc_count.c", "alloc_count")
    assert _run([str(exe), str(tmp_path / "m.dnn"), "1000"]).strip() == "0"


_RUNTIME_CHILD = """
import ctypes, sys
import numpy as np
import densenn
lib = ctypes.CDLL(densenn.get_library())
lib.dn_model_load.restype = ctypes.c_void_p
lib.dn_model_load.argtypes = [ctypes.c_char_p]
lib.dn_model_predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
lib.dn_model_free.argtypes = [ctypes.c_void_p]
handle = lib.dn_model_load(sys.argv[1].encode())
assert handle
x = np.load(sys.argv[2])
y = np.zeros((len(x), 3), np.float32)
assert lib.dn_model_predict(handle, x.ctypes.data, len(x), y.ctypes.data) == 0
lib.dn_model_free(handle)
np.save(sys.argv[3], y)
print(sorted({line.split()[-1].rsplit("/", 1)[-1] for line in open("/proc/self/maps") if "libdensenn_" in line}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
@pytest.mark.parametrize("isa", ["baseline", "x86-64-v3", "x86-64-v4"])
def test_libdensenn_forwards_to_the_fastest_runtime_the_cpu_runs(tmp_path, isa):
    """libdensenn (portable) loads libdensenn_<isa>.so where the CPU runs it (DENSENN_ISA forces one) and gives
    the numbers Python's predict gives."""
    if isa != "baseline":
        runtime = Path(densenn.get_library()).parent / f"libdensenn_{isa.replace('-', '_')}.so"
        if not runtime.exists() or not build_runs_here(isa):
            pytest.skip(f"no {isa} runtime built, or this CPU cannot run it")
    model = _model()
    model.save(tmp_path / "m.dnn")
    x = _inputs(rows=300)
    np.save(tmp_path / "x.npy", x)
    out = _run([sys.executable, "-c", _RUNTIME_CHILD, str(tmp_path / "m.dnn"), str(tmp_path / "x.npy"),
                str(tmp_path / "y.npy")], env={**os.environ, "DENSENN_ISA": isa})
    expected = [] if isa == "baseline" else [f"libdensenn_{isa.replace('-', '_')}.so"]
    assert out.strip() == repr(expected)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
