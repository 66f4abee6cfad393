"""Untrusted model files and paths stay harmless (docs/reliability.md, "Untrusted files"): every probe runs in a
child interpreter with a memory cap and a time limit, so a file that made densenn hang, read outside itself or
allocate without bound fails its test instead of the machine.
"""
import ctypes
import io
import json
import os
import stat
import sys
import time
import zipfile

import numpy as np
import pytest

import densenn
from support import run_child
from densenn import Input, Sequential, layers

h5py = pytest.importorskip("h5py")

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="POSIX files, FIFOs and rlimits")

# Loads sys.argv[1] and prints the outcome: "loaded", or the exception's class and message.
LOAD = """
    import sys
    from densenn.models import load_model
    try:
        model = load_model(sys.argv[1])
    except Exception as e:
        print(f"{type(e).__name__}: {e}")
    else:
        print("loaded", model.get_weights()[0].tobytes().hex() if model.get_weights() else "")
"""


def _outcome(path, timeout=60, memory_mb=1536, code=LOAD):
    run = run_child(code, path, timeout=timeout, memory_mb=memory_mb)
    assert run.returncode == 0, f"the child died ({run.returncode}):\n{run.stderr[-2000:]}"
    return run.stdout.strip().splitlines()[-1]


def _small_model():
    densenn.utils.set_random_seed(3)
    return Sequential([Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dense(2)])


def _keras_parts(path):
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _write_zip(path, parts, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def _edit_weights(parts, change):
    """parts with model.weights.h5 rewritten by change(h5file)."""
    buffer = io.BytesIO(parts["model.weights.h5"])
    with h5py.File(buffer, "r+") as f:
        change(f)
    return {**parts, "model.weights.h5": buffer.getvalue()}


@pytest.fixture
def keras_file(tmp_path):
    path = tmp_path / "m.keras"
    _small_model().save(path)
    return path


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_bytes(b"root:x:0:0:SECRET-LINE-OF-A-LOCAL-FILE:/root:/bin/sh\n")
    return path


# ------------------------------------------------------------------------- reading outside the file
def test_external_storage_is_refused(tmp_path, keras_file, secret):
    def external_kernel(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=(4, 8), dtype="<f4", external=[(str(secret), 0, 128)])
    bad = tmp_path / "external.keras"
    _write_zip(bad, _edit_weights(_keras_parts(keras_file), external_kernel))
    outcome = _outcome(bad)
    assert outcome.startswith("ValueError") and "external files" in outcome, outcome
    assert "SECRET" not in outcome and secret.read_bytes().hex() not in outcome


def test_external_link_and_soft_link_are_refused(tmp_path, keras_file, secret):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["kernel"] = np.ones((4, 8), np.float32)
    for name, link in (("external", h5py.ExternalLink(str(other), "/kernel")), ("soft", h5py.SoftLink("/x"))):
        def linked(f, link=link):
            del f["layers/dense/vars/0"]
            f["layers/dense/vars/0"] = link
        bad = tmp_path / f"{name}.keras"
        _write_zip(bad, _edit_weights(_keras_parts(keras_file), linked))
        outcome = _outcome(bad)
        assert outcome.startswith("ValueError") and f"{'link to another file' if name == 'external' else 'soft link'}" \
            in outcome, outcome


def test_external_storage_on_a_fifo_does_not_hang(tmp_path, keras_file):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def external_kernel(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=(4, 8), dtype="<f4", external=[(str(fifo), 0, 128)])
    bad = tmp_path / "fifo.keras"
    _write_zip(bad, _edit_weights(_keras_parts(keras_file), external_kernel))
    assert _outcome(bad, timeout=30).startswith("ValueError")


def test_legacy_h5_with_external_storage_is_refused(tmp_path, secret):
    path = tmp_path / "legacy.h5"
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "in"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 8, "activation": "linear"}}]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.13.1"
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = [b"dense"]
        group = weights.create_group("dense")
        group.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        group.create_dataset("dense/kernel:0", shape=(4, 8), dtype="<f4", external=[(str(secret), 0, 128)])
        group["dense/bias:0"] = np.zeros(8, np.float32)
    outcome = _outcome(path)
    assert outcome.startswith("ValueError") and "external files" in outcome, outcome


# ------------------------------------------------------------------------- memory bounded by what is there
def _config_with_dense(parts, units):
    config = json.loads(parts["config.json"])
    config["config"]["layers"][1]["config"]["units"] = units
    return {**parts, "config.json": json.dumps(config).encode()}


def test_a_huge_layer_in_a_tiny_keras_file_is_refused_before_allocating(tmp_path, keras_file):
    bad = tmp_path / "huge.keras"
    _write_zip(bad, _config_with_dense(_keras_parts(keras_file), 2**26))  # 268M weights, none in the file
    assert os.path.getsize(bad) < 20_000
    start = time.monotonic()
    outcome = _outcome(bad, memory_mb=1024)  # building it would take 2.6 GB
    # the memory its description needs, checked first (within the child's 1 GB cap), names the file
    assert outcome.startswith(f"MemoryError: {bad}: the model it describes needs 14 GiB, more than"), outcome
    assert time.monotonic() - start < 30


def test_a_weights_member_that_inflates_past_the_model_is_refused(tmp_path, keras_file):
    parts = _keras_parts(keras_file)
    parts["model.weights.h5"] = parts["model.weights.h5"] + bytes(256 << 20)  # 256 MiB of zeros, deflated small
    bad = tmp_path / "bomb.keras"
    _write_zip(bad, parts, zipfile.ZIP_DEFLATED)
    assert os.path.getsize(bad) < 2 << 20
    outcome = _outcome(bad, memory_mb=1024)
    assert outcome.startswith("ValueError") and "model.weights.h5 declares" in outcome, outcome


def test_a_config_json_bomb_is_refused(tmp_path, keras_file):
    parts = _keras_parts(keras_file)
    parts["config.json"] = parts["config.json"][:-1] + b" " * (100 << 20) + b"}"
    bad = tmp_path / "config-bomb.keras"
    _write_zip(bad, parts, zipfile.ZIP_DEFLATED)
    outcome = _outcome(bad, memory_mb=1024)
    assert outcome.startswith("ValueError") and "config.json declares" in outcome, outcome


def test_a_sparse_file_is_refused_from_its_metadata(tmp_path):
    _small_model().save(tmp_path / "m.dnn")
    sparse = tmp_path / "sparse.dnn"
    with open(sparse, "wb") as f:
        f.write((tmp_path / "m.dnn").read_bytes()[:64])
        f.truncate(6 << 30)  # 6 GiB of holes
    start = time.monotonic()
    outcome = _outcome(sparse, memory_mb=1024)
    assert outcome.startswith("ValueError") and "sparse" in outcome, outcome
    assert time.monotonic() - start < 30
    c_outcome = _outcome(sparse, memory_mb=1024, code=C_LOAD)
    assert "sparse" in c_outcome, c_outcome


def test_a_model_too_large_for_memory_is_refused_up_front():
    outcome = run_child("""
        from densenn import Input, Sequential, layers
        try:
            Sequential([Input(shape=(4,)), layers.Dense(2**30)])  # 5.4G weights: 20 GB, 40 with gradients
        except MemoryError as e:
            print("MemoryError:", e)
    """, memory_mb=2048, timeout=60)
    assert "MemoryError: A model of 5368709120 weights needs 40 GiB" in outcome.stdout, outcome.stderr[-2000:]


def test_loading_is_linear_in_the_number_of_layers(tmp_path, keras_file):
    parts = _keras_parts(keras_file)
    config = json.loads(parts["config.json"])
    layer_list = config["config"]["layers"]
    activations = [{"module": "keras.layers", "class_name": "Activation", "registered_name": None,
                    "config": {"name": f"act_{i}", "activation": "relu", "trainable": True}} for i in range(3000)]
    config["config"]["layers"] = layer_list[:2] + activations + layer_list[2:]
    bad = tmp_path / "deep.keras"
    _write_zip(bad, {**parts, "config.json": json.dumps(config).encode()})
    start = time.monotonic()
    outcome = _outcome(bad, timeout=120)
    assert outcome.startswith("loaded"), outcome
    assert time.monotonic() - start < 30  # 33 s when each layer rebuilt the model


# ------------------------------------------------------------------------- paths
C_LOAD = f"""
    import ctypes, sys
    lib = ctypes.CDLL({densenn.get_library()!r})
    lib.dn_model_load.restype = ctypes.c_void_p
    lib.dn_last_error.restype = ctypes.c_char_p
    model = lib.dn_model_load(sys.argv[1].encode())
    print("loaded" if model else "error: " + lib.dn_last_error().decode())
"""


def test_a_fifo_at_the_path_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "m.dnn"
    os.mkfifo(fifo)
    for suffix in ("m.dnn", "m.keras"):
        if suffix != "m.dnn":
            os.mkfifo(tmp_path / suffix)
        outcome = _outcome(tmp_path / suffix, timeout=30)
        assert outcome.startswith("ValueError") and "FIFO" in outcome, outcome
    weights = run_child("""
        import sys
        from densenn import Input, Sequential, layers
        model = Sequential([Input(shape=(4,)), layers.Dense(2)])
        try:
            model.load_weights(sys.argv[1])
        except ValueError as e:
            print("ValueError:", e)
    """, fifo, timeout=30)
    assert "FIFO" in weights.stdout, weights.stderr[-2000:]
    c_outcome = _outcome(fifo, timeout=30, code=C_LOAD)
    assert c_outcome.startswith("error:") and "not a regular file" in c_outcome, c_outcome


def test_a_nul_in_a_path_is_refused(tmp_path):
    model = _small_model()
    (tmp_path / "dir").mkdir()
    for call in (lambda p: model.save(p), lambda p: model.save_weights(p), lambda p: densenn.models.load_model(p)):
        with pytest.raises(ValueError, match="NUL"):
            call(str(tmp_path / "dir" / "important.txt") + "\0.dnn")
    assert os.listdir(tmp_path / "dir") == []


def test_invalid_paths_get_clear_errors(tmp_path):
    model = _small_model()
    with pytest.raises(ValueError, match="UTF-8"):
        densenn.models.load_model(b"/tmp/\xff\xfe.dnn")
    loop = tmp_path / "loop.dnn"
    os.symlink(loop, loop)
    with pytest.raises(OSError, match="symbolic links"):
        densenn.models.load_model(loop)
    with pytest.raises(Exception, match="does not exist") as missing:
        model.save(tmp_path / "no-such-folder" / "m.dnn")
    assert ".tmp" not in str(missing.value)
    long_name = tmp_path / ("m" * 250 + ".dnn")  # a valid name: 254 bytes
    model.save(long_name)
    densenn.models.load_model(long_name)


@pytest.mark.parametrize("suffix", [".dnn", ".keras"])
def test_saving_keeps_permissions_and_follows_symlinks(tmp_path, suffix):
    model = _small_model()
    target = tmp_path / f"secret{suffix}"
    model.save(target)
    os.chmod(target, 0o600)
    model.save(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    link = tmp_path / f"link{suffix}"
    os.symlink(target, link)
    model.save(link)
    assert os.path.islink(link) and stat.S_IMODE(os.stat(target).st_mode) == 0o600
    np.testing.assert_array_equal(densenn.models.load_model(link).get_weights()[0], model.get_weights()[0])


# ------------------------------------------------------------------------- damaged structure
def test_bad_json_gets_a_valueerror_naming_the_file(tmp_path, keras_file):
    parts = _keras_parts(keras_file)
    for name, config in (("deep", b"[" * 100000 + b"]" * 100000), ("latin1", b'{"class_name": "\xe9"}')):
        bad = tmp_path / f"{name}.keras"
        _write_zip(bad, {**parts, "config.json": config})
        outcome = _outcome(bad)
        assert outcome.startswith("ValueError") and str(bad) in outcome and "not valid" in outcome, outcome


def test_bit_flipped_weights_in_a_keras_file_load_or_fail_cleanly(tmp_path, keras_file):
    """Bits flipped inside model.weights.h5, the zip rewritten with valid checksums (so that HDF5 parses the
    damage): each file loads (the flip hit weight values) or is a ValueError naming it, never another error."""
    parts = _keras_parts(keras_file)
    rng = np.random.default_rng(11)
    paths = []
    for i in range(120):
        weights = bytearray(parts["model.weights.h5"])
        for _ in range(int(rng.integers(1, 4))):
            weights[int(rng.integers(len(weights)))] ^= 1 << int(rng.integers(8))
        path = tmp_path / f"flipped_{i}.keras"
        _write_zip(path, {**parts, "model.weights.h5": bytes(weights)})
        paths.append(str(path))
    run = run_child("""
        import sys
        from densenn.models import load_model
        for path in sys.argv[1:]:
            try:
                load_model(path)
            except (ValueError, OSError) as e:
                print("refused" if path in str(e) else f"UNNAMED {path}: {e}")
            except Exception as e:
                print(f"BAD {path}: {type(e).__name__}: {e}")
            else:
                print("loaded")
    """, *paths, timeout=300, memory_mb=1536)
    outcomes = run.stdout.splitlines()
    assert run.returncode == 0 and len(outcomes) == len(paths), run.stderr[-2000:]
    assert set(outcomes) == {"loaded", "refused"}, [o for o in outcomes if o not in ("loaded", "refused")][:5]


# ------------------------------------------------------------------------- callbacks
def test_changing_the_model_from_a_callback_is_refused_at_once():
    model = _small_model()
    model.compile(optimizer="sgd", loss="mse")
    kernel = model.get_weights()[0].copy()

    class Grow(densenn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.add(layers.Dense(3))

    x, y = np.random.default_rng(0).normal(size=(64, 4)), np.zeros((64, 2))
    with pytest.raises(RuntimeError, match="Sequential.add: the model is training"):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[Grow()])
    assert len(model.layers) == 2 and int(model.optimizer.iterations) == 2  # the two steps taken
    assert not np.array_equal(model.get_weights()[0], kernel)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # still usable
    model.add(layers.Dense(3))  # and changeable once fit has returned
