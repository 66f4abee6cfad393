"""Keras interchange: .keras zips and legacy .h5 files (Keras 2 and Keras 3 layouts) written here by hand with
h5py, read with densenn.saving.keras_files.load_keras and compared with a NumPy forward pass of the weights written;
save_keras round trips; and, where `keras` imports, round trips through real Keras in both directions."""
import io
import json
import os
import warnings
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

import densenn  # noqa: E402
from densenn import Input, Sequential, layers  # noqa: E402
from densenn.saving.keras_files import compile_from_keras_config, load_keras, read_keras_config, save_keras  # noqa: E402

rng = np.random.default_rng(2024)
N_IN = 6


# ------------------------------------------------------------------------------------------ NumPy reference
def _act(name, z):
    from math import erf
    if name in (None, "linear"):
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if name == "selu":
        return 1.05070098 * np.where(z > 0, z, 1.67326324 * np.expm1(np.minimum(z, 0)))
    if name == "gelu":
        return z * 0.5 * (1 + np.vectorize(erf)(z / np.sqrt(2)))
    if name == "hard_sigmoid":
        return np.clip(z / 6 + 0.5, 0, 1)
    raise AssertionError(name)


def _forward(spec, x):
    """spec: list of (class_name, config, weights) in layer order."""
    h = x.reshape(len(x), -1).astype(np.float64)
    for cls, cfg, w in spec:
        if cls == "Dense":
            h = h @ w[0] + (w[1] if len(w) > 1 else 0)
            h = _act(cfg.get("activation"), h)
        elif cls == "Activation":
            h = _act(cfg["activation"], h)
        elif cls == "BatchNormalization":
            gamma, beta, mean, var = w
            h = (h - mean) / np.sqrt(var + cfg.get("epsilon", 1e-3)) * gamma + beta
        elif cls == "LeakyReLU":
            slope = cfg.get("negative_slope", cfg.get("alpha"))
            h = np.where(h > 0, h, slope * h)
        elif cls == "ELU":
            h = np.where(h > 0, h, cfg["alpha"] * np.expm1(np.minimum(h, 0)))
        elif cls == "ReLU":
            mx, slope, thr = cfg["max_value"], cfg["negative_slope"], cfg["threshold"]
            h = np.where(h > thr, h, slope * (h - thr))
            if mx is not None:
                h = np.where(h >= mx, mx, h)
        elif cls == "Softmax":
            h = _act("softmax", h)
        elif cls in ("Dropout", "Flatten", "InputLayer"):
            pass
        else:
            raise AssertionError(cls)
    return h


def _spec(n_in=N_IN):
    """A model using every readable layer, with random weights (BatchNormalization with non-trivial stats)."""
    def dense(units, n, activation):
        return ("Dense", {"units": units, "activation": activation, "use_bias": True},
                [rng.normal(size=(n, units)).astype(np.float32), rng.normal(size=units).astype(np.float32)])
    spec = [
        dense(8, n_in, "relu"),
        ("BatchNormalization", {"axis": -1, "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True},
         [rng.uniform(0.5, 2, 8), rng.normal(size=8), rng.normal(size=8), rng.uniform(0.5, 2, 8)]),
        ("LeakyReLU", {"negative_slope": 0.1}, []),
        dense(7, 8, "linear"),
        ("ELU", {"alpha": 0.5}, []),
        ("Dropout", {"rate": 0.3, "seed": None, "noise_shape": None}, []),
        dense(6, 7, "tanh"),
        ("ReLU", {"max_value": 0.8, "negative_slope": 0.1, "threshold": 0.1}, []),
        ("Activation", {"activation": "selu"}, []),
        dense(3, 6, "linear"),
        ("Softmax", {"axis": -1}, []),
    ]
    return [(c, cfg, [np.asarray(a, np.float32) for a in w]) for c, cfg, w in spec]


def _snake(name):
    import re
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _names(spec):
    counts, names = {}, []
    for cls, _, _ in spec:
        base = _snake(cls)
        k = counts.get(base, 0)
        counts[base] = k + 1
        names.append(base if k == 0 else f"{base}_{k}")
    return names


# ------------------------------------------------------------------------------------------ file writers
_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def keras3_config(spec, input_shape=(N_IN,), dtype_policy=True, compile_config=None):
    entries = [{"module": "keras.layers", "class_name": "InputLayer",
                "config": {"batch_shape": [None, *input_shape], "dtype": "float32", "sparse": False,
                           "ragged": False, "name": "input_layer", "optional": False}, "registered_name": None}]
    for (cls, cfg, _), name in zip(spec, _names(spec)):
        config = {"name": name, "trainable": True, "dtype": _POLICY if dtype_policy else "float32", **cfg}
        if cls == "Dense":
            config.update({"kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                                  "config": {"seed": None}, "registered_name": None},
                           "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                                                "config": {}, "registered_name": None},
                           "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
                           "bias_constraint": None, "quantization_config": None})
        entries.append({"module": "keras.layers", "class_name": cls, "config": config, "registered_name": None})
    config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "sequential", "trainable": True, "dtype": _POLICY, "layers": entries,
                         "build_input_shape": [None, *input_shape]},
              "registered_name": None, "build_config": {"input_shape": [None, *input_shape]}}
    if compile_config is not None:
        config["compile_config"] = compile_config
    return config


def write_keras_zip(path, spec, config=None, metadata=True, weights_override=None):
    config = config or keras3_config(spec)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("vars")
        root = f.create_group("layers")
        for (cls, _, weights), name in zip(spec, _names(spec)):
            g = root.create_group(name).create_group("vars")
            for i, w in enumerate(weights):
                g.create_dataset(str(i), data=w)
        if weights_override:
            weights_override(f)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        if metadata:
            z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1", "date_saved": "2025-01-01@00:00:00"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", buffer.getvalue())


def keras2_config(spec, input_shape=(N_IN,), style="input_layer", layer_names=None):
    """Keras 2 (tf.keras) model_config: no 'module', Keras 2 spellings (LeakyReLU alpha, BN axis [1],
    batch_input_shape)."""
    names = layer_names or [f"{n}_k2" for n in _names(spec)]
    entries = []
    for i, ((cls, cfg, _), name) in enumerate(zip(spec, names)):
        config = {"name": name, "trainable": True, "dtype": "float32", **cfg}
        if cls == "LeakyReLU":
            config = {"name": name, "trainable": True, "dtype": "float32", "alpha": cfg["negative_slope"]}
        if cls == "BatchNormalization":
            config["axis"] = [1]
            config.update({"beta_initializer": {"class_name": "Zeros", "config": {}},
                           "gamma_initializer": {"class_name": "Ones", "config": {}},
                           "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
                           "gamma_constraint": None})
        if cls == "Dense":
            config.update({"kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                           "bias_initializer": {"class_name": "Zeros", "config": {}},
                           "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
                           "kernel_constraint": None, "bias_constraint": None})
        if i == 0 and style == "batch_input_shape":
            config["batch_input_shape"] = [None, *input_shape]
        entries.append({"class_name": cls, "config": config})
    if style == "input_layer":
        entries.insert(0, {"class_name": "InputLayer",
                           "config": {"batch_input_shape": [None, *input_shape], "dtype": "float32",
                                      "sparse": False, "ragged": False, "name": "input_1"}})
    if style == "old_list":  # Keras 2.0-2.2: config is the list of layers
        entries[0]["config"]["batch_input_shape"] = [None, *input_shape]
        return {"class_name": "Sequential", "config": entries}
    return {"class_name": "Sequential", "config": {"name": "sequential_k2", "layers": entries}}


def write_legacy_h5(path, spec, keras_version="2.13.1", model_config=None, as_bytes=False, training_config=None):
    """Keras 2 layout (weights at model_weights/<layer>/<layer>/kernel:0) or Keras 3 layout
    (model_weights/<layer>/sequential/<layer>/kernel)."""
    keras2 = keras_version.startswith("2.")
    if model_config is None:
        model_config = keras2_config(spec) if keras2 else keras3_config(spec)
    names = [e["config"]["name"] for e in (model_config["config"] if isinstance(model_config["config"], list)
                                          else model_config["config"]["layers"])
             if e["class_name"] != "InputLayer"]
    with h5py.File(path, "w") as f:
        text = json.dumps(model_config)
        f.attrs["model_config"] = np.bytes_(text) if as_bytes else text
        f.attrs["keras_version"] = keras_version
        f.attrs["backend"] = "tensorflow"
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config)
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([n.encode() for n in names])
        for (cls, cfg, weights), name in zip(spec, names):
            g = mw.create_group(name)
            if cls == "Dense":
                wn = ["kernel", "bias"][:len(weights)]
            elif cls == "BatchNormalization":
                wn = ["gamma", "beta", "moving_mean", "moving_variance"]
            else:
                wn = []
            paths = [f"{name}/{w}:0" if keras2 else f"sequential/{name}/{w}" for w in wn]
            g.attrs["weight_names"] = np.array([p.encode() for p in paths])
            for p, w in zip(paths, weights):
                g.create_dataset(p, data=w)


def x_for(n=9, shape=(N_IN,)):
    return rng.normal(size=(n, *shape)).astype(np.float32)


def check_predictions(model, spec, shape=(N_IN,)):
    x = x_for(shape=shape)
    np.testing.assert_allclose(model.predict(x, verbose=0), _forward(spec, x), rtol=2e-5, atol=2e-6)


# ------------------------------------------------------------------------------------------ reading
@pytest.mark.parametrize("dtype_policy", [True, False])
@pytest.mark.parametrize("metadata", [True, False])
def test_keras3_zip(tmp_path, dtype_policy, metadata):
    spec = _spec()
    path = tmp_path / "m.keras"
    write_keras_zip(path, spec, keras3_config(spec, dtype_policy=dtype_policy), metadata=metadata)
    model = load_keras(path)
    assert [type(layer).__name__ for layer in model.layers] == [c for c, _, _ in spec]
    assert model.input_shape == (None, N_IN)
    assert model.layers[0].name == "dense" and model.layers[3].name == "dense_1"
    assert not model.compiled
    check_predictions(model, spec)


def test_keras3_zip_names_are_per_class_not_per_layer_name(tmp_path):
    """Weights live under the class's snake-case name, whatever the user named the layer."""
    spec = _spec()
    config = keras3_config(spec)
    for i, entry in enumerate(config["config"]["layers"][1:]):
        entry["config"]["name"] = f"custom_{i}"
    path = tmp_path / "m.keras"
    write_keras_zip(path, spec, config)
    model = load_keras(path)
    assert model.layers[0].name == "custom_0"
    check_predictions(model, spec)


@pytest.mark.parametrize("style", ["input_layer", "batch_input_shape", "old_list"])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_keras2_h5(tmp_path, style, as_bytes):
    spec = _spec()
    path = tmp_path / "m.h5"
    write_legacy_h5(path, spec, model_config=keras2_config(spec, style=style), as_bytes=as_bytes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean Keras 2 file reads without warnings
        model = load_keras(path)
    assert model.layers[0].name == "dense_k2"
    assert model.layers[2].negative_slope == pytest.approx(0.1)  # Keras 2's alpha
    check_predictions(model, spec)


def test_keras3_zip_without_input_layer(tmp_path):
    """An InputLayer-less Sequential: the input shape comes from build_input_shape / build_config."""
    spec = _spec()
    config = keras3_config(spec)
    del config["config"]["layers"][0]
    path = tmp_path / "m.keras"
    write_keras_zip(path, spec, config)
    check_predictions(load_keras(path), spec)
    del config["config"]["build_input_shape"], config["build_config"]
    write_keras_zip(path, spec, config)
    with pytest.raises(ValueError, match="input shape"):
        load_keras(path)


def test_keras3_legacy_h5(tmp_path):
    spec = _spec()
    path = tmp_path / "m.h5"
    write_legacy_h5(path, spec, keras_version="3.15.1")
    check_predictions(load_keras(path), spec)


def test_flatten_model_and_no_bias(tmp_path):
    spec = [("Flatten", {"data_format": None}, []),
            ("Dense", {"units": 5, "activation": "gelu", "use_bias": False},
             [rng.normal(size=(12, 5)).astype(np.float32)]),
            ("Dense", {"units": 2, "activation": "sigmoid", "use_bias": True},
             [rng.normal(size=(5, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)])]
    path = tmp_path / "f.keras"
    write_keras_zip(path, spec, keras3_config(spec, input_shape=(3, 4)))
    model = load_keras(path)
    assert model.input_shape == (None, 3, 4) and model.output_shape == (None, 2)
    check_predictions(model, spec, shape=(3, 4))
    h5 = tmp_path / "f.h5"
    write_legacy_h5(h5, spec, model_config=keras2_config(spec, input_shape=(3, 4), style="batch_input_shape"))
    check_predictions(load_keras(h5), spec, shape=(3, 4))


def test_keras2_hard_sigmoid_warns(tmp_path):
    spec = [("Dense", {"units": 2, "activation": "hard_sigmoid", "use_bias": True},
             [rng.normal(size=(N_IN, 2)).astype(np.float32), np.zeros(2, np.float32)])]
    path = tmp_path / "m.h5"
    write_legacy_h5(path, spec)
    with pytest.warns(UserWarning, match="hard_sigmoid"):
        model = load_keras(path)
    check_predictions(model, spec)  # Keras 3's formula, as Keras 3 reads the file


# ------------------------------------------------------------------------------------------ compile configs
KERAS3_COMPILE = {
    "optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                  "config": {"name": "adam", "learning_rate": 0.01, "weight_decay": None, "clipnorm": None,
                             "global_clipnorm": None, "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
                             "ema_overwrite_frequency": None, "loss_scale_factor": None,
                             "gradient_accumulation_steps": None, "beta_1": 0.9, "beta_2": 0.999,
                             "epsilon": 1e-07, "amsgrad": False},
                  "registered_name": "Adam"},
    "loss": "categorical_crossentropy", "loss_weights": None,
    "metrics": ["accuracy", {"module": "keras.metrics", "class_name": "AUC",
                             "config": {"name": "auc", "dtype": "float32", "num_thresholds": 200, "curve": "ROC",
                                        "summation_method": "interpolation", "multi_label": False,
                                        "num_labels": None, "label_weights": None, "from_logits": False},
                             "registered_name": None}],
    "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False,
}
KERAS2_TRAINING = {
    "loss": "categorical_crossentropy", "metrics": [["accuracy"]], "weighted_metrics": None, "loss_weights": None,
    "optimizer_config": {"class_name": "SGD", "config": {"name": "SGD", "learning_rate": 0.05, "decay": 0.0,
                                                         "momentum": 0.9, "nesterov": True, "jit_compile": False,
                                                         "is_legacy_optimizer": False}},
}


def test_keras3_compile_config(tmp_path):
    spec = _spec()
    path = tmp_path / "m.keras"
    write_keras_zip(path, spec, keras3_config(spec, compile_config=KERAS3_COMPILE))
    model = load_keras(path)
    assert model.compiled
    assert type(model.optimizer).__name__ == "Adam" and model.optimizer.learning_rate == pytest.approx(0.01)
    assert type(model.loss).__name__ == "CategoricalCrossentropy"
    assert model.metrics_names == ["loss", "accuracy", "auc"]
    x = x_for(16)
    y = np.eye(3)[rng.integers(0, 3, 16)]
    model.fit(x, y, epochs=1, verbose=0)  # trainable as loaded
    assert not load_keras(path, compile=False).compiled
    config, compile_config, keras2 = read_keras_config(path)
    assert config["class_name"] == "Sequential" and compile_config == KERAS3_COMPILE and not keras2


def test_keras2_training_config(tmp_path):
    spec = _spec()
    path = tmp_path / "m.h5"
    write_legacy_h5(path, spec, training_config=KERAS2_TRAINING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = load_keras(path)
    assert type(model.optimizer).__name__ == "SGD"
    assert model.optimizer.momentum == pytest.approx(0.9) and model.optimizer.nesterov
    assert model.metrics_names == ["loss", "accuracy"]
    config, training_config, keras2 = read_keras_config(path)
    assert training_config == KERAS2_TRAINING and keras2


def test_compile_config_skips_what_densenn_lacks():
    model = Sequential([Input(shape=(4,)), layers.Dense(2, activation="softmax")])
    config = dict(KERAS3_COMPILE, metrics=["accuracy", {"class_name": "F1Score", "config": {}}])
    with pytest.warns(UserWarning, match="F1Score"):
        assert compile_from_keras_config(model, config)
    assert model.metrics_names == ["loss", "accuracy"]

    model = Sequential([Input(shape=(4,)), layers.Dense(2)])
    with pytest.warns(UserWarning, match="uncompiled"):
        assert not compile_from_keras_config(model, dict(KERAS3_COMPILE, optimizer={"class_name": "Ftrl",
                                                                                    "config": {}}))
    assert not model.compiled
    with pytest.warns(UserWarning, match="uncompiled"):
        assert not compile_from_keras_config(model, dict(KERAS3_COMPILE, loss={"class_name": "MyLoss",
                                                                               "config": {}}))
    with pytest.warns(UserWarning, match="decay"):
        training = {**KERAS2_TRAINING, "optimizer_config": {"class_name": "SGD",
                                                            "config": {"learning_rate": 0.1, "decay": 1e-4}}}
        assert compile_from_keras_config(model, training)
    # a Keras 3 built-in loss function serialized as a "function"
    assert compile_from_keras_config(model, dict(KERAS3_COMPILE, metrics=None, loss={
        "module": "keras.losses", "class_name": "function", "config": "mean_squared_error",
        "registered_name": "function"}))
    assert type(model.loss).__name__ == "MeanSquaredError"


# ------------------------------------------------------------------------------------------ errors
def _config_with(extra_entry):
    spec = _spec()[:1]
    config = keras3_config(spec)
    config["config"]["layers"].append(extra_entry)
    return spec, config


@pytest.mark.parametrize("entry, match", [
    ({"module": "keras.layers", "class_name": "Conv2D", "config": {"name": "conv2d", "filters": 3}}, "Conv2D"),
    ({"module": "keras.layers", "class_name": "Lambda", "config": {"name": "lam", "function": "..."}}, "Lambda"),
    ({"module": "my_pkg", "class_name": "Dense", "config": {"name": "mine", "units": 2},
      "registered_name": "Custom>Dense"}, "mine"),
    ({"module": "keras.layers", "class_name": "Activation",
      "config": {"name": "act", "activation": {"module": "my_pkg", "class_name": "MyAct", "config": {}}}},
     "custom"),
    ({"module": "keras.layers", "class_name": "Activation", "config": {"name": "act", "activation": "crelu"}},
     "crelu"),
    ({"module": "keras.layers", "class_name": "Dense",
      "config": {"name": "q", "units": 2, "quantization_config": {"mode": "int8"}}}, "quantization"),
])
def test_unsupported_layers_are_named(tmp_path, entry, match):
    spec, config = _config_with(entry)
    path = tmp_path / "m.keras"
    write_keras_zip(path, spec, config)
    with pytest.raises(ValueError, match=match):
        load_keras(path)


def test_functional_model_is_refused(tmp_path):
    spec = _spec()
    config = keras3_config(spec)
    config["class_name"] = "Functional"
    path = tmp_path / "m.keras"
    write_keras_zip(path, spec, config)
    with pytest.raises(ValueError, match="Functional"):
        load_keras(path)
    h5 = tmp_path / "m.h5"
    write_legacy_h5(h5, spec, model_config={"class_name": "Model", "config": {"layers": []}})
    with pytest.raises(ValueError, match="Sequential"):
        load_keras(h5)


def test_corrupt_and_foreign_files(tmp_path):
    spec = _spec()
    good = tmp_path / "good.keras"
    write_keras_zip(good, spec)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"\x00not a keras file" * 50)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    for path in (truncated, garbage, text):
        with pytest.raises(ValueError):
            load_keras(path)
    with pytest.raises(FileNotFoundError):
        load_keras(tmp_path / "missing.keras")

    no_config = tmp_path / "noconfig.keras"
    with zipfile.ZipFile(no_config, "w") as z:
        z.writestr("model.weights.h5", b"")
    with pytest.raises(ValueError, match="config.json"):
        load_keras(no_config)

    bad_json = tmp_path / "badjson.keras"
    with zipfile.ZipFile(bad_json, "w") as z:
        z.writestr("config.json", "{not json")
    with pytest.raises(ValueError, match="JSON"):
        load_keras(bad_json)

    bad_weights = tmp_path / "badweights.keras"
    with zipfile.ZipFile(bad_weights, "w") as z:
        z.writestr("config.json", json.dumps(keras3_config(spec)))
        z.writestr("model.weights.h5", b"garbage")
    with pytest.raises(ValueError, match="HDF5"):
        load_keras(bad_weights)

    weights_only = tmp_path / "weights.h5"
    with h5py.File(weights_only, "w") as f:
        f.create_group("layers")
    with pytest.raises(ValueError, match="model_config"):
        load_keras(weights_only)


def test_missing_or_misshapen_weights(tmp_path):
    spec = _spec()

    def drop_bias(f):
        del f["layers/dense_1/vars/1"]
    path = tmp_path / "m.keras"
    write_keras_zip(path, spec, weights_override=drop_bias)
    with pytest.raises(ValueError, match="dense_1"):
        load_keras(path)

    def wrong_shape(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", data=np.zeros((N_IN + 1, 8), np.float32))
    write_keras_zip(path, spec, weights_override=wrong_shape)
    with pytest.raises(ValueError, match="shape"):
        load_keras(path)

    h5 = tmp_path / "m.h5"
    write_legacy_h5(h5, spec)
    with h5py.File(h5, "a") as f:
        names = list(f["model_weights"].attrs["layer_names"])
        f["model_weights"].attrs["layer_names"] = np.array(names[:-3])  # loses a Dense layer's weights
    with pytest.raises(ValueError, match="weights for"):
        load_keras(h5)


# ------------------------------------------------------------------------------------------ writing
def _densenn_model(compiled=True):
    model = Sequential([Input(shape=(N_IN,)), layers.Dense(8, activation="relu"), layers.BatchNormalization(),
                        layers.LeakyReLU(0.2), layers.Dense(7, activation="gelu"), layers.ELU(0.7),
                        layers.Dropout(0.25), layers.Dense(5, activation="swish"),
                        layers.ReLU(max_value=3.0, negative_slope=0.05, threshold=0.2),
                        layers.Activation("softplus"), layers.Dense(3), layers.Softmax()])
    bn = model.layers[1]
    bn.set_weights([rng.uniform(0.5, 2, 8), rng.normal(size=8), rng.normal(size=8), rng.uniform(0.5, 2, 8)])
    if compiled:
        model.compile(optimizer=densenn.optimizers.Adam(learning_rate=0.003), loss="categorical_crossentropy",
                      metrics=["accuracy", densenn.metrics.AUC()])
    return model


def test_save_keras_layout_and_round_trip(tmp_path):
    model = _densenn_model()
    path = tmp_path / "m.keras"
    save_keras(model, path)
    with zipfile.ZipFile(path) as z:
        assert set(z.namelist()) == {"metadata.json", "config.json", "model.weights.h5"}
        assert all(info.compress_type == zipfile.ZIP_STORED for info in z.infolist())
        config = json.loads(z.read("config.json"))
        metadata = json.loads(z.read("metadata.json"))
        with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
            assert f["layers/dense/vars/0"].shape == (N_IN, 8)
            assert f["layers/dense_3/vars/1"].shape == (3,)
            assert len(f["layers/batch_normalization/vars"]) == 4
            assert len(f["layers/softmax/vars"]) == 0
    assert metadata["keras_version"].startswith("3.") and "date_saved" in metadata
    assert config["class_name"] == "Sequential" and config["registered_name"] is None
    assert config["build_config"] == {"input_shape": [None, N_IN]}
    assert config["config"]["layers"][0]["class_name"] == "InputLayer"
    assert config["compile_config"]["loss"]["class_name"] == "CategoricalCrossentropy"
    assert not [p for p in os.listdir(tmp_path) if p != "m.keras"]  # no temporary file left behind

    loaded = load_keras(path)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = x_for(20)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.metrics_names == model.metrics_names
    assert type(loaded.optimizer).__name__ == "Adam"
    assert loaded.optimizer.learning_rate == pytest.approx(0.003)

    flat = Sequential([Input(shape=(2, 3)), layers.Flatten(), layers.Dense(2, use_bias=False)])
    save_keras(flat, tmp_path / "flat.keras")
    x = rng.normal(size=(4, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(load_keras(tmp_path / "flat.keras").predict(x, verbose=0),
                                  flat.predict(x, verbose=0))


def test_save_keras_refuses_what_keras_lacks_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.keras"
    save_keras(_densenn_model(compiled=False), path)
    before = path.read_bytes()
    maxout = Sequential([Input(shape=(4,)), layers.Maxout(3, pieces=2), layers.Dense(1)])
    with pytest.raises(ValueError, match="Maxout"):
        save_keras(maxout, path)
    step = Sequential([Input(shape=(4,)), layers.Dense(2, activation="binary_step")])
    with pytest.raises(ValueError, match="binary_step"):
        save_keras(step, path)
    with pytest.raises(ValueError, match="not built"):
        save_keras(Sequential([layers.Dense(2)]), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.keras"]


# ------------------------------------------------------------------------------------------ real Keras
def _keras_model(keras):
    k = keras.Sequential([
        keras.Input(shape=(N_IN,)), keras.layers.Dense(8, activation="relu"), keras.layers.BatchNormalization(),
        keras.layers.LeakyReLU(negative_slope=0.2), keras.layers.Dense(7, activation="tanh"),
        keras.layers.ELU(alpha=0.6), keras.layers.Dropout(0.3), keras.layers.Dense(6),
        keras.layers.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.1), keras.layers.Activation("selu"),
        keras.layers.Dense(3), keras.layers.Softmax()])
    bn = k.layers[1]
    bn.set_weights([rng.uniform(0.5, 2, 8), rng.normal(size=8), rng.normal(size=8), rng.uniform(0.5, 2, 8)])
    k.compile(optimizer=keras.optimizers.Adam(0.02), loss="categorical_crossentropy", metrics=["accuracy"])
    return k


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_keras_saves_densenn_reads(tmp_path, keras):
    k = _keras_model(keras)
    x = x_for(32)
    k.fit(x, np.eye(3)[rng.integers(0, 3, 32)], epochs=1, verbose=0)  # non-trivial moving statistics
    k.save(tmp_path / "k.keras")
    k.save(tmp_path / "k.h5")
    expected = np.asarray(k.predict(x, verbose=0))
    for name in ("k.keras", "k.h5"):
        model = load_keras(tmp_path / name)
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
        assert model.compiled and type(model.optimizer).__name__ == "Adam"
        assert model.metrics_names == ["loss", "accuracy"]

    flat = keras.Sequential([keras.Input(shape=(3, 4)), keras.layers.Flatten(), keras.layers.Dense(2)])
    flat.save(tmp_path / "f.keras")
    x = rng.normal(size=(5, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(load_keras(tmp_path / "f.keras").predict(x, verbose=0),
                               np.asarray(flat.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_densenn_saves_keras_reads(tmp_path, keras):
    model = _densenn_model()
    path = tmp_path / "m.keras"
    save_keras(model, path)
    k = keras.models.load_model(path)
    x = x_for(32)
    np.testing.assert_allclose(np.asarray(k.predict(x, verbose=0)), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in k.layers] == [layer.name for layer in model.layers]
    assert type(k.optimizer).__name__ == "Adam"
    assert float(k.optimizer.learning_rate) == pytest.approx(0.003)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_keras_activation_round_trips_through_keras(tmp_path, keras):
    names = [a for a in densenn._core.activation_names() if a != "binary_step"]
    model = Sequential([Input(shape=(N_IN,))] + [layers.Dense(6, activation=a) for a in names])
    path = tmp_path / "acts.keras"
    save_keras(model, path)
    k = keras.models.load_model(path)
    x = x_for(16)
    for i, name in enumerate(names):  # layer by layer: compare each activation alone
        sub = keras.Sequential([keras.Input(shape=(N_IN,)), k.layers[i]])
        ours = Sequential([Input(shape=(N_IN,)), layers.Dense(6, activation=name)])
        ours.set_weights(model.layers[i].get_weights())
        np.testing.assert_allclose(np.asarray(sub.predict(x, verbose=0)), ours.predict(x, verbose=0),
                                   rtol=1e-5, atol=1e-6, err_msg=name)
