"""densenn's native model file (.dnn): round trips, exact resumption of training, atomic saving, and
refusal of damaged or foreign files (docs/model-format.md)."""
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

import densenn
from densenn import Input, Sequential, initializers, layers, optimizers, regularizers, utils
from densenn._core import core
from densenn.models import load_model
from densenn.saving import ModelFileError
from support import using_floatx


def _data(n=96, features=6, outputs=1, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.rand(n, features).astype("float32")
    if outputs == 1:
        y = (x.sum(1) > features / 2).astype("float32")
    else:
        y = utils.to_categorical(rng.randint(0, outputs, n), outputs)
    return x, y


def _bn_dropout(seeded_dropout=False):
    return Sequential([
        Input(shape=(6,)),
        layers.Dense(16, activation="relu"),
        layers.BatchNormalization(momentum=0.9),
        layers.Dropout(0.25, seed=5 if seeded_dropout else None),
        layers.Dense(8, activation="tanh"),
        layers.Dropout(0.1),
        layers.Dense(1, activation="sigmoid"),
    ], name="bn_dropout")


def _maxout_regularized():
    return Sequential([
        Input(shape=(6,)),
        layers.Dense(12, activation="elu", kernel_initializer=initializers.HeNormal(seed=3),
                     bias_initializer=initializers.Constant(0.1), kernel_regularizer=regularizers.L1L2(1e-4, 1e-3),
                     bias_regularizer=regularizers.L2(1e-3), activity_regularizer=regularizers.L1(1e-5)),
        layers.Maxout(5, pieces=3),
        layers.LeakyReLU(0.2),
        layers.Dense(3, use_bias=False, kernel_initializer="lecun_uniform"),
        layers.Softmax(),
    ])


def _flatten_relu():
    return Sequential([
        Input(shape=(2, 3)),
        layers.Flatten(),
        layers.Dense(7),
        layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.05),
        layers.Activation("gelu"),
        layers.Dense(3, activation="softmax"),
    ])


# (builder, compile kwargs, outputs, input shape)
CASES = {
    "adam_bn_dropout": (_bn_dropout, dict(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"]), 1,
                        (6,)),
    "sgd_maxout_regularizers": (_maxout_regularized, dict(
        optimizer=optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipnorm=1.0),
        loss="categorical_crossentropy", metrics=["acc", densenn.metrics.AUC(num_thresholds=50)],
        weighted_metrics=["mae"]), 3, (6,)),
    "rmsprop_schedule_flatten": (_flatten_relu, dict(
        optimizer=optimizers.RMSprop(optimizers.schedules.ExponentialDecay(0.01, 10, 0.9), centered=True),
        loss=densenn.losses.CategoricalCrossentropy(label_smoothing=0.1),
        metrics=[densenn.metrics.TopKCategoricalAccuracy(k=2)]), 3, (2, 3)),
}


def _fit_data(outputs, shape):
    x, y = _data(features=int(np.prod(shape)), outputs=outputs)
    return x.reshape(-1, *shape), y


def _assert_same_model(a, b):
    assert a.get_config() == b.get_config()
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip(tmp_path, case):
    build, compile_args, outputs, shape = CASES[case]
    utils.set_random_seed(11)
    model = build()
    model.compile(**compile_args)
    x, y = _fit_data(outputs, shape)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.dnn"
    model.save(path)
    loaded = load_model(path)
    _assert_same_model(model, loaded)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    # compile configuration and optimizer state
    assert loaded.compiled
    assert loaded.metrics_names == model.metrics_names
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert densenn.losses.serialize(loaded.loss) == densenn.losses.serialize(model.loss)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) > 0
    np.testing.assert_array_equal(loaded._core.optimizer_state, model._core.optimizer_state)
    assert loaded._core.rng_state == model._core.rng_state
    assert model.evaluate(x, y, verbose=0) == loaded.evaluate(x, y, verbose=0)
    # without compile: the same network, not compiled
    bare = load_model(path, compile=False)
    assert not bare.compiled
    _assert_same_model(model, bare)


def test_uncompiled_and_no_optimizer(tmp_path):
    utils.set_random_seed(2)
    model = _flatten_relu()
    model.save(tmp_path / "plain.dnn")
    loaded = load_model(tmp_path / "plain.dnn")
    assert not loaded.compiled
    _assert_same_model(model, loaded)
    model.compile(optimizer="adam", loss="mse")
    x, y = _fit_data(3, (2, 3))
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "noopt.dnn", include_optimizer=False)
    loaded = load_model(tmp_path / "noopt.dnn")
    assert loaded.compiled and int(loaded.optimizer.iterations) == 0  # a fresh optimizer
    assert os.path.getsize(tmp_path / "noopt.dnn") < os.path.getsize(tmp_path / "plain.dnn") + 4096


def test_float64_model(tmp_path):
    with using_floatx("float64"):
        utils.set_random_seed(4)
        model = _bn_dropout()
        model.compile(optimizer="adamw", loss="binary_crossentropy")
        x, y = _data()
        model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "f64.dnn")
    loaded = load_model(tmp_path / "f64.dnn")  # float64, whatever floatx is now
    assert loaded.get_weights()[0].dtype == np.float64
    _assert_same_model(model, loaded)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("builder,optimizer", [
    (lambda: _bn_dropout(), "adam"),
    (lambda: _bn_dropout(seeded_dropout=True), "adam"),
    (_maxout_regularized, "nadam"),
])
def test_fit_2_save_load_fit_2_equals_fit_4(tmp_path, builder, optimizer, shuffle):
    """Training resumes exactly: weights, moving statistics, optimizer state, iteration count and the
    random generators (dropout masks, shuffling) all come back."""
    probe = builder()
    outputs = probe.output_shape[-1]
    x, y = _data(outputs=outputs)
    loss = "binary_crossentropy" if outputs == 1 else "categorical_crossentropy"

    def fresh():
        utils.set_random_seed(123)
        model = builder()
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
        return model

    straight = fresh()
    straight_history = straight.fit(x, y, epochs=4, batch_size=16, shuffle=shuffle, verbose=0).history
    first = fresh()
    first.fit(x, y, epochs=2, batch_size=16, shuffle=shuffle, verbose=0)
    first.save(tmp_path / "half.dnn")
    del first
    utils.set_random_seed(999)  # whatever happens to the global seed in between
    resumed = load_model(tmp_path / "half.dnn")
    history = resumed.fit(x, y, epochs=2, batch_size=16, shuffle=shuffle, verbose=0).history
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history["loss"] == straight_history["loss"][2:]
    np.testing.assert_array_equal(straight.predict(x, verbose=0), resumed.predict(x, verbose=0))


# ---------------------------------------------------------------------- weights only
def test_save_and_load_weights(tmp_path):
    utils.set_random_seed(5)
    model = _maxout_regularized()
    model.save_weights(tmp_path / "w.dnn")
    utils.set_random_seed(6)
    other = _maxout_regularized()
    assert not np.array_equal(other.get_weights()[2], model.get_weights()[2])  # [0] is seeded
    other.load_weights(tmp_path / "w.dnn")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    # a whole-model file works too
    model.save(tmp_path / "m.dnn")
    utils.set_random_seed(7)
    third = _maxout_regularized()
    third.load_weights(tmp_path / "m.dnn")
    for a, b in zip(model.get_weights(), third.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="weights only"):
        load_model(tmp_path / "w.dnn")


def test_load_weights_checks_shapes(tmp_path):
    model = Sequential([Input(shape=(6,)), layers.Dense(4), layers.Dense(2)])
    model.save_weights(tmp_path / "w.dnn")
    wider = Sequential([Input(shape=(6,)), layers.Dense(5), layers.Dense(2)])
    before = wider.get_weights()
    with pytest.raises(ValueError, match=r"shapes"):
        wider.load_weights(tmp_path / "w.dnn")
    for a, b in zip(before, wider.get_weights()):  # nothing written
        np.testing.assert_array_equal(a, b)
    deeper = Sequential([Input(shape=(6,)), layers.Dense(4), layers.Dense(2), layers.Dense(2)])
    with pytest.raises(ValueError, match="layers"):
        deeper.load_weights(tmp_path / "w.dnn")
    with pytest.raises(ValueError, match="different architecture"):
        model.save(tmp_path / "m.dnn")
        wider.load_weights(tmp_path / "m.dnn")


def test_paths_and_suffixes(tmp_path):
    model = Sequential([Input(shape=(3,)), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"\.dnn"):
        model.save(tmp_path / "model.bin")
    with pytest.raises(ValueError, match=r"\.dnn"):
        model.save_weights(tmp_path / "weights")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.dnn")
    with pytest.raises(ValueError, match="not built"):
        Sequential([layers.Dense(2)]).save(tmp_path / "unbuilt.dnn")
    model.save(str(tmp_path / "model.dnn"))
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "model.dnn", overwrite=False)
    try:
        from densenn.saving import keras_files  # noqa: F401  (Keras interchange, where this densenn has it)
    except ImportError:
        with pytest.raises(ValueError, match="Keras"):
            model.save(tmp_path / "model.keras")
        with pytest.raises(ValueError, match="Keras"):
            load_model(tmp_path / "model.h5")


def test_file_layout_is_as_documented(tmp_path):
    """Header fields, 64-byte aligned tensors and the CRC-32 trailer (zlib's crc32) of docs/model-format.md."""
    utils.set_random_seed(1)
    model = _bn_dropout()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    path = tmp_path / "m.dnn"
    model.save(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89DNN\r\n\x1a\n"
    version, kind, dtype, flags, size, input_dim, n_layers, n_tensors, json_size = \
        struct.unpack_from("<IIIIQQIIQ", data, 8)
    assert (version, kind, dtype, flags, size, input_dim, n_layers, n_tensors) == (1, 1, 1, 1, len(data), 6, 6, 3)
    crc, end = struct.unpack_from("<II", data, len(data) - 8)
    assert crc == zlib.crc32(data[:-8]) and end == 0x454E4E44
    info = core.read_model_file(str(path))
    meta = json.loads(info["json"])
    assert meta["model"]["config"] == model.get_config() and json_size == len(info["json"])
    assert [layer["type"] for layer in info["layers"]] == ["dense", "batch_normalization", "dropout", "dense",
                                                           "dropout", "dense"]
    params = model._core.params
    start = data.find(params.tobytes())
    assert start > 0 and start % 64 == 0


# ---------------------------------------------------------------------- atomic saving
def _tmp_leftovers(directory):
    return [p for p in os.listdir(directory) if ".tmp-" in p]


def test_failed_save_leaves_old_file_intact(tmp_path):
    from densenn import saving
    utils.set_random_seed(1)
    old = _bn_dropout()
    path = tmp_path / "m.dnn"
    old.save(path)
    before = path.read_bytes()
    utils.set_random_seed(2)
    new = _maxout_regularized()
    for fail_after in (0, 10, 100, 1000):
        with pytest.raises(ModelFileError, match="simulated failure"):
            saving.save_model(new, path, fail_after_bytes=fail_after)
        assert path.read_bytes() == before
        assert _tmp_leftovers(tmp_path) == []
    with pytest.raises(ModelFileError, match="simulated failure"):
        saving.save_weights(new, tmp_path / "w.dnn", fail_after_bytes=50)
    assert not (tmp_path / "w.dnn").exists() and _tmp_leftovers(tmp_path) == []
    _assert_same_model(old, load_model(path))
    new.save(path)  # and a save that works replaces it
    _assert_same_model(new, load_model(path))


def test_crash_mid_save_leaves_old_file_intact(tmp_path):
    path = tmp_path / "m.dnn"
    script = textwrap.dedent(f"""
        import sys
        from densenn import Input, Sequential, layers, saving
        model = Sequential([Input(shape=(4,)), layers.Dense(300), layers.Dense(2)])
        if sys.argv[1] == "first":
            model.save({str(path)!r})
        else:
            saving.save_model(model, {str(path)!r}, fail_after_bytes=2000, crash=True)
    """)
    subprocess.run([sys.executable, "-c", script, "first"], check=True)
    before = path.read_bytes()
    crashed = subprocess.run([sys.executable, "-c", script, "crash"], capture_output=True)
    assert crashed.returncode != 0  # aborted in the middle of writing
    assert path.read_bytes() == before
    leftovers = _tmp_leftovers(tmp_path)
    assert len(leftovers) == 1 and os.path.getsize(tmp_path / leftovers[0]) == 2000  # the partial temporary
    load_model(path)


# ---------------------------------------------------------------------- damaged and foreign files
def _rewrite(data, offset, fmt, *values):
    """The file with header fields replaced and the checksum recomputed (a well-formed but lying file)."""
    data = bytearray(data)
    struct.pack_into(fmt, data, offset, *values)
    struct.pack_into("<I", data, len(data) - 8, zlib.crc32(bytes(data[:-8])))
    return bytes(data)


_LOADER = textwrap.dedent("""
    import sys
    from densenn.models import load_model
    from densenn.saving import ModelFileError
    for path in sys.argv[1:]:
        print("LOAD", path, flush=True)
        try:
            load_model(path)
        except (ModelFileError, ValueError) as e:
            print("ERROR", type(e).__name__, str(e).replace("\\n", " "), flush=True)
        else:
            print("LOADED", flush=True)
""")


def _load_in_subprocess(paths):
    """Loads each file in a child process, so that a crash fails the test (naming the file) instead of killing
    the test run; returns {path: 'LOADED' or the error line}."""
    run = subprocess.run([sys.executable, "-c", _LOADER, *map(str, paths)], capture_output=True, text=True,
                         timeout=300)
    results, current = {}, None
    for line in run.stdout.splitlines():
        if line.startswith("LOAD "):
            current = line[5:]
        elif current is not None:
            results[current] = line
    assert run.returncode == 0, f"the loader crashed (code {run.returncode}) on {current}: {run.stderr[-2000:]}"
    assert len(results) == len(paths)
    return results


def test_damaged_files_are_refused_with_clear_errors(tmp_path):
    utils.set_random_seed(3)
    model = _bn_dropout()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    good = tmp_path / "good.dnn"
    model.save(good)
    data = good.read_bytes()
    rng = np.random.RandomState(0)
    cases = {}
    # truncations, at every interesting length
    for n in sorted({0, 1, 7, 8, 63, 64, 65, 100, len(data) // 2, len(data) - 9, len(data) - 8, len(data) - 1}):
        cases[f"truncated_{n}"] = (data[:n], "truncated|not a densenn|signature")
    cases["appended"] = (data + b"\0" * 16, "corrupted")
    # single bit flips everywhere (header, layer table, JSON, tensors, trailer)
    for i, pos in enumerate(sorted(set(rng.randint(0, len(data), 60).tolist()) | {0, 9, 13, 24, 40, len(data) - 3})):
        flipped = bytearray(data)
        flipped[pos] ^= 1 << (i % 8)
        cases[f"flip_{pos}"] = (bytes(flipped), "")
    # well-formed files (valid checksum) that lie
    cases["version_2"] = (_rewrite(data, 8, "<I", 2), "format version 2")
    cases["version_0"] = (_rewrite(data, 8, "<I", 0), "format version 0")
    cases["kind_7"] = (_rewrite(data, 12, "<I", 7), "kind")
    cases["dtype_9"] = (_rewrite(data, 16, "<I", 9), "element type")
    cases["flags"] = (_rewrite(data, 20, "<I", 6), "flags")
    cases["input_width_huge"] = (_rewrite(data, 32, "<Q", 2**62), "input width")
    cases["input_width_wrong"] = (_rewrite(data, 32, "<Q", 7), "need|values")
    cases["layers_huge"] = (_rewrite(data, 40, "<I", 2**32 - 1), "too many layers")
    cases["layers_fewer"] = (_rewrite(data, 40, "<I", 2), "")
    cases["tensors_huge"] = (_rewrite(data, 44, "<I", 10**6), "too many tensors")
    cases["json_huge"] = (_rewrite(data, 48, "<Q", 2**63), "past the end")
    cases["first_string_huge"] = (_rewrite(data, 64, "<I", 2**31), "bytes")
    cases["empty"] = (b"", "signature")
    cases["text"] = (b"hello, this is not a model file at all" * 4, "signature")
    cases["pickle"] = (b"\x80\x04\x95" + bytes(200), "signature")
    paths = []
    for name, (content, _) in cases.items():
        p = tmp_path / f"{name}.dnn"
        p.write_bytes(content)
        paths.append(p)
    results = _load_in_subprocess(paths)
    for name, (_, pattern) in cases.items():
        outcome = results[str(tmp_path / f"{name}.dnn")]
        assert outcome.startswith("ERROR ModelFileError"), (name, outcome)
        if pattern:
            import re
            assert re.search(pattern, outcome), (name, outcome)
    # each bit flip in the covered bytes is caught by the checksum at the latest
    assert all("checksum" in results[str(tmp_path / f"{n}.dnn")] or "version" in results[str(tmp_path / f"{n}.dnn")]
               or "signature" in results[str(tmp_path / f"{n}.dnn")] or "bytes" in results[str(tmp_path / f"{n}.dnn")]
               or "end marker" in results[str(tmp_path / f"{n}.dnn")]
               for n in cases if n.startswith("flip_"))


def _spec(layers_, tensors, input_dim=4, kind="model", meta=None):
    meta = meta or {"format": "densenn", "kind": kind, "model": {"class_name": "Sequential", "config": {}}}
    return {"kind": kind, "input_dim": input_dim, "layers": layers_, "json": json.dumps(meta), "tensors": tensors,
            "training": None}


def test_unknown_layers_and_lying_layer_tables(tmp_path):
    f32 = np.zeros
    cases = {
        "unknown_layer": (_spec([{"type": "conv2d", "units": 3}], [("params", f32(0, "float32")),
                                                                  ("state", f32(0, "float32"))]),
                          "Unknown layer type 'conv2d'"),
        "unknown_activation": (_spec([{"type": "activation", "activation": "frobnicate"}],
                                     [("params", f32(0, "float32")), ("state", f32(0, "float32"))]), "frobnicate"),
        "too_few_params": (_spec([{"type": "dense", "units": 3}], [("params", f32(14, "float32")),
                                                                   ("state", f32(0, "float32"))]), "15 params"),
        "huge_dense": (_spec([{"type": "dense", "units": 2**31 - 1}], [("params", f32(4, "float32")),
                                                                   ("state", f32(0, "float32"))],
                             input_dim=2**31 - 1), "params values"),
        "huge_maxout": (_spec([{"type": "maxout", "units": 2**31, "options": {"pieces": 2.0**20}}],
                              [("params", f32(4, "float32")), ("state", f32(0, "float32"))], input_dim=2**31),
                        "out of range"),
        "bad_pieces": (_spec([{"type": "maxout", "units": 2, "options": {"pieces": 1e300}}],
                             [("params", f32(4, "float32")), ("state", f32(0, "float32"))]), "pieces"),
        "no_params": (_spec([{"type": "dense", "units": 2}], [("state", f32(0, "float32"))]), "none"),
        "not_densenn_json": (_spec([], [("params", f32(0, "float32")), ("state", f32(0, "float32"))],
                                   meta={"format": "other"}), "not densenn"),
        "json_layers_not_a_list": (_spec([], [("params", f32(0, "float32")), ("state", f32(0, "float32"))],
                                         meta={"format": "densenn", "kind": "model",
                                               "model": {"class_name": "Sequential", "config": {"layers": 3}}}),
                                   "cannot be built"),
        "json_lambda_layer": (_spec([], [("params", f32(0, "float32")), ("state", f32(0, "float32"))],
                                    meta={"format": "densenn", "kind": "model", "model": {
                                        "class_name": "Sequential", "config": {"layers": [
                                            {"class_name": "Lambda", "config": {"function": "os.system"}}]}}}),
                              "Unknown layer class 'Lambda'"),
        "json_disagrees_with_table": (_spec([{"type": "dense", "units": 2}], [
            ("params", f32(10, "float32")), ("state", f32(0, "float32"))], meta={
                "format": "densenn", "kind": "model", "model": {"class_name": "Sequential", "config": {"layers": [
                    {"class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
                    {"class_name": "Dense", "config": {"units": 3}}]}}}), "disagree"),
    }
    paths = []
    for name, (spec, _) in cases.items():
        p = tmp_path / f"{name}.dnn"
        core.write_model_file(str(p), spec, unchecked=True)  # files that lie: saving would refuse them
        paths.append(p)
    results = _load_in_subprocess(paths)
    for name, (_, expected) in cases.items():
        outcome = results[str(tmp_path / f"{name}.dnn")]
        assert outcome.startswith("ERROR ModelFileError") and expected in outcome, (name, outcome)
