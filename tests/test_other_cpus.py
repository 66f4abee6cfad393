"""densenn on CPUs this machine is not, under QEMU's user-mode emulator (Debian's qemu-user).

`qemu-x86_64 -cpu MODEL` runs this Python with the CPUID of an older CPU: Haswell has AVX2 and FMA and no
AVX-512, Nehalem only SSE4.2. On each, densenn must pick the build that CPU runs (a build it cannot run would
die of an illegal instruction), train a small network to the NumPy implementation's numbers, save and load it,
and the C example must run against the embedded runtime; the test suite's collection must not load a build
the CPU lacks either.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import densenn

QEMU = shutil.which("qemu-x86_64")
CC = shutil.which("cc") or shutil.which("gcc")
TESTS = os.path.dirname(os.path.abspath(__file__))

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64", reason="x86-64 Linux only"),
    pytest.mark.skipif(QEMU is None, reason="missing dependency: qemu-x86_64 (Debian: apt-get install qemu-user)"),
]

# The AVX2 build where this package has it (a DENSENN_BASELINE_ONLY development build has the baseline alone);
# found without importing it.
_HAS_V3 = importlib.util.find_spec("densenn._core_x86_64_v3") is not None
# (QEMU CPU model, the build densenn must choose there, the libdensenn runtime plugin loaded there or None)
CPUS = [("Haswell", *(("x86-64-v3", "libdensenn_x86_64_v3.so") if _HAS_V3 else ("x86-64", None))),
        ("Nehalem", "x86-64", None)]

_TRAIN = textwrap.dedent("""
    import json, sys
    import numpy as np
    import densenn
    from densenn import Input, Sequential, layers, models, optimizers, utils
    from densenn.benchmark.reference import ReferenceModel

    utils.set_random_seed(4)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]
    model = Sequential([Input(shape=(6,)), layers.Dense(8, activation="tanh"), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy")
    reference = ReferenceModel([("dense", "tanh", True), ("dense", "softmax", True)], model.get_weights(),
                               "categorical_crossentropy", "sgd", learning_rate=0.1)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    reference.train_epoch(x, y, batch_size=16)
    error = max(float(np.max(np.abs(a - b))) for a, b in zip(model.get_weights(), reference.weights))
    model.save(sys.argv[1])
    loaded = models.load_model(sys.argv[1])
    same = bool(np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0)))
    np.savetxt(sys.argv[2], x[:5], delimiter=",")
    np.save(sys.argv[3], model.predict(x[:5], verbose=0))
    print(json.dumps({"isa": densenn.build_info()["isa"], "error": error, "reloaded_same": same}))
""")


def _emulated(cpu, *args, timeout=600, cwd=None, env=None):
    run = subprocess.run([QEMU, "-cpu", cpu, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                         env=env)
    assert run.returncode == 0, f"{args[0]} under -cpu {cpu} ended with {run.returncode}:\n{run.stderr[-3000:]}"
    return run.stdout


@pytest.mark.parametrize("cpu, isa, runtime", CPUS, ids=[c[0] for c in CPUS])
def test_trains_saves_and_loads_on_an_older_cpu(tmp_path, cpu, isa, runtime):
    env = {k: v for k, v in os.environ.items() if k != "DENSENN_ISA"}
    out = _emulated(cpu, sys.executable, "-c", _TRAIN, str(tmp_path / "m.dnn"), str(tmp_path / "x.csv"),
                    str(tmp_path / "y.npy"), env=env)
    import json
    result = json.loads(out.strip().splitlines()[-1])
    assert result["isa"] == isa
    assert result["error"] < 1e-5  # float32 training against the float64 NumPy implementation, one epoch
    assert result["reloaded_same"]


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize("cpu, isa, runtime", CPUS, ids=[c[0] for c in CPUS])
def test_c_example_runs_the_embedded_runtime_on_an_older_cpu(tmp_path, cpu, isa, runtime):
    from densenn import Input, Sequential, layers, utils
    utils.set_random_seed(6)
    model = Sequential([Input(shape=(6,)), layers.Dense(8, activation="relu"), layers.Dense(3)])
    model.save(tmp_path / "m.dnn")
    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    libdir = os.path.dirname(densenn.get_library())
    exe = tmp_path / "predict"  # built for the baseline x86-64 (the compiler's default), like a user's program
    subprocess.run([CC, "-std=c99", "-O2", os.path.join(TESTS, "..", "cpp", "examples", "predict.c"),
                    f"-I{densenn.get_include()}", f"-L{libdir}", f"-Wl,-rpath,{libdir}", "-ldensenn", "-o", str(exe)],
                   check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k != "DENSENN_ISA"}
    printed = np.array([[float(v) for v in line.replace(",", " ").split()]
                        for line in _emulated(cpu, str(exe), str(tmp_path / "m.dnn"), str(tmp_path / "x.csv"),
                                              env=env).splitlines() if line.strip()])
    np.testing.assert_allclose(printed, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    # which runtime libdensenn handed the model to, read from the process's own map of loaded libraries
    maps = _emulated(cpu, sys.executable, "-c", textwrap.dedent(f"""
        import ctypes
        lib = ctypes.CDLL({densenn.get_library()!r})
        lib.dn_model_load.restype = ctypes.c_void_p
        assert lib.dn_model_load({str(tmp_path / 'm.dnn').encode()!r})
        print(open('/proc/self/maps').read())
    """), env=env)
    loaded = {os.path.basename(line.split()[-1]) for line in maps.splitlines() if "libdensenn_" in line}
    assert loaded == ({runtime} if runtime else set())


@pytest.mark.parametrize("cpu", [c[0] for c in CPUS])
def test_collecting_the_test_suite_loads_no_build_the_cpu_lacks(cpu):
    # pytest imports every test module at collection; one that imported the AVX-512 build before asking the
    # CPU died here of an illegal instruction
    env = {k: v for k, v in os.environ.items() if k not in ("DENSENN_ISA", "CI")}
    out = _emulated(cpu, sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", TESTS,
                    timeout=900, env=env)
    assert "tests collected" in out or "test collected" in out
