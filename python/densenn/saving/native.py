"""Saving and loading models in densenn's native format (``.dnn``), and the choice of format by the path's
suffix (``.keras``/``.h5`` go to keras_files.py).

One binary file holds the architecture (the C++ core's layer table, which a C or C++ program reads without
Python, and Keras' JSON description for Python), the weights, and optionally the compile configuration and
the optimizer's state, so that training resumes exactly. The C++ core reads and writes the file (one
implementation, also used by the embedded runtime); docs/model-format.md describes the layout.

- ``model.save('m.dnn', include_optimizer=True)`` / ``densenn.models.load_model('m.dnn', compile=True)``
- ``model.save_weights('w.dnn')`` / ``model.load_weights('w.dnn')``: the weights alone (``'.weights.h5'``
  paths go to Keras 3's weights format, and load_weights also reads Keras' ``.keras`` and legacy ``.h5`` files).

Loading never executes code from the file, checks every size before allocating, and refuses unknown format
versions, unknown layers and corrupted files with a :class:`ModelFileError` (a ``ValueError``). Saving is
atomic: a temporary file in the same directory, fsync, rename; a failure leaves any old file intact.
"""
import json
import os
import tempfile

import numpy as np

from .. import config as config_module
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from .._core import core
from . import keras_files, policy

__all__ = ["ModelFileError", "save_model", "load_model", "save_weights", "load_weights", "model_to_bytes",
           "model_from_bytes", "fresh_copy", "NATIVE_SUFFIX"]

NATIVE_SUFFIX = ".dnn"
KERAS_WEIGHTS_SUFFIX = ".weights.h5"
_FORMAT = "densenn"


class ModelFileError(ValueError):
    """A model file that cannot be read: not densenn's, truncated, corrupted, or from a newer densenn."""


def _is_keras_path(path):
    return path.endswith((".keras", ".h5", ".hdf5"))


def _no_keras(path, what):
    return ValueError(f"{what}: {path!r} names a Keras file (.keras/.h5), which this densenn build does not "
                      f"read or write; use the native format, a path ending in '{NATIVE_SUFFIX}'.")


def _require_native(path, what):
    if not path.endswith(NATIVE_SUFFIX):
        raise ValueError(f"{what}: the file name must end in '{NATIVE_SUFFIX}' (densenn's native format) "
                         f"or '.keras'/'.h5' (Keras), got {path!r}.")


def _core_layers(model):
    """The core's layer configurations, exactly as the model's core was built from them."""
    from ..sequential import core_specs
    return core_specs(model._input_shape, model._layers)


def _normalized(spec):
    """A layer configuration with every field present, to compare the Python and file descriptions."""
    return {"type": spec.get("type", ""), "units": int(spec.get("units", 0) or 0),
            "activation": spec.get("activation", "linear") or "linear", "use_bias": bool(spec.get("use_bias", True)),
            "options": {k: float(v) for k, v in (spec.get("options") or {}).items()},
            "choices": dict(spec.get("choices") or {})}


def _require_built(model, what):
    if model._core is None:
        raise ValueError(f"{what}: the model is not built yet (give it an input shape, or fit/predict once).")


def _write(path, spec, **faults):
    try:
        core.write_model_file(path, spec, **faults)
    except ValueError as e:
        raise ModelFileError(str(e)) from None


def _read(path, what):
    policy.regular_file_size(path, what)
    try:
        data = core.read_model_file(path)
    except ValueError as e:
        raise ModelFileError(str(e)) from None
    try:
        meta = policy.parse_json(data["json"], "its JSON description", f"'{path}'")
    except ValueError as e:
        raise ModelFileError(str(e)) from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ModelFileError(f"'{path}': its JSON description is not densenn's.")
    return data, meta


def _compile_config(model):
    """What compile() was given, as JSON-ready dicts (None when the model is not compiled)."""
    if model._compile_args is None:
        return None
    optimizer, loss, metrics = model._compile_args

    def metric_entry(compiled):
        m = compiled.metric
        if isinstance(m, metrics_module._AutoAccuracy):
            return m.name  # 'accuracy' / 'acc': resolved from the shapes at compile time
        return {"class_name": type(m).__name__, "config": m.get_config()}

    return {"optimizer": optimizers_module.serialize(optimizer), "loss": losses_module.serialize(loss),
            "metrics": [metric_entry(c) for c in metrics if not c.weighted],
            "weighted_metrics": [metric_entry(c) for c in metrics if c.weighted]}


def _metric(entry, where):
    if isinstance(entry, str):
        return metrics_module.get(entry)
    classes = {cls.__name__: cls for cls in metrics_module._CLASSES}
    if not isinstance(entry, dict) or entry.get("class_name") not in classes:
        raise ModelFileError(f"{where}: unknown metric {entry!r}.")
    return classes[entry["class_name"]].from_config(dict(entry.get("config") or {}))


def _json_dumps(value, what):
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what}: the model's configuration cannot be stored as JSON ({e}); a callable "
                         "learning rate cannot be saved (use a LearningRateSchedule, or include_optimizer=False).") \
            from None


def _tensor(array, dtype):
    return np.ascontiguousarray(array, dtype=dtype).ravel()


# ---------------------------------------------------------------------- models
def save_model(model, filepath, overwrite=True, include_optimizer=True, **faults):
    """``model.save``: the native format for a path ending in '.dnn' (Keras' formats for '.keras'/'.h5'
    where this densenn has them). ``faults`` are test hooks of the C++ writer (see model_file.hpp)."""
    path = policy.checked_path(filepath, "save")
    if path.endswith((".h5", ".hdf5")):  # densenn reads Keras' legacy HDF5 files but writes '.keras'
        raise ValueError(f"save: densenn writes Keras files in the '.keras' format (which Keras 3 reads), not the "
                         f"legacy HDF5 format; use a path ending in '.keras' (or '.dnn'), got {path!r}.")
    if _is_keras_path(path):
        if faults:
            raise _no_keras(path, "save")
        if not overwrite and os.path.exists(path):
            raise FileExistsError(f"save: {path!r} exists and overwrite=False.")
        return keras_files.save_keras(model, path)
    _require_native(path, "save")
    _require_built(model, "save")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save: {path!r} exists and overwrite=False.")
    _write(path, _model_spec(model, include_optimizer, "save"), **faults)


def _description(model):
    """The model's JSON description, as a model file holds it: the architecture (Keras' config of the
    Sequential model of its layers) and the compile configuration."""
    return {"format": _FORMAT, "kind": "model", "densenn_version": _version(),
            "model": {"module": "keras", "class_name": "Sequential", "config": model.get_config(),
                      "registered_name": None},
            "compile": _compile_config(model),
            "optimizer": None}


def _model_spec(model, include_optimizer, what):
    """What the C++ writer takes for a whole-model file of a built model."""
    c = model._core
    snap = c.snapshot()  # one consistent state, also while another thread trains the model
    meta = _description(model)
    tensors = [("params", _tensor(snap["params"], model._dtype)), ("state", _tensor(snap["state"], model._dtype))]
    if include_optimizer and meta["compile"] is not None:
        meta["optimizer"] = {"built": bool(model._optimizer_built)}
        tensors.append(("optimizer_state", _tensor(snap["optimizer_state"], model._dtype)))
    iterations = int(snap["iterations"]) if meta["compile"] is not None else 0
    return {"kind": "model", "input_dim": int(c.input_dim), "layers": _core_layers(model),
            "json": _json_dumps(meta, what), "tensors": tensors,
            "training": (iterations, [int(w) for w in snap["rng_state"]])}


def load_model(filepath, compile=True, custom_objects=None, safe_mode=True):
    """A model saved by ``model.save``: architecture, weights and, with compile=True, the compile
    configuration and the optimizer's state (so that ``fit`` continues exactly where it stopped)."""
    path = policy.checked_path(filepath, "load_model")
    if _is_keras_path(path):
        return keras_files.load_keras(path, compile=compile)
    data, meta = _read(path, "load_model")
    return _model_from_file(data, meta, f"'{path}'", compile)


def _model_from_file(data, meta, source, compile, functional=False):
    """The model a whole-model file describes, with its weights and training state; with compile=True also
    its compile configuration and optimizer state. `functional`: a functional Model of the chain of layers
    rather than a Sequential one."""
    if data["kind"] != "model" or meta.get("kind") != "model":
        raise ValueError(f"load_model: {source} holds weights only (written by save_weights); build the model and "
                         "call model.load_weights on it.")
    from ..sequential import Sequential
    model_entry = meta.get("model")
    if not isinstance(model_entry, dict) or model_entry.get("class_name") != "Sequential":
        raise ModelFileError(f"{source}: the file does not describe a Sequential model.")
    previous = config_module.floatx()
    config_module.set_floatx(data["dtype"])  # the file's float type, whatever the current default
    try:
        try:
            model = Sequential._unbuilt_from_config(model_entry.get("config", {}))
            if model._input_shape is None:
                model._input_shape = (int(data["input_dim"]),)
            described = _core_layers(model)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
            raise ModelFileError(f"{source}: the model it describes cannot be built ({e}).") from None
        # Before building: the JSON must describe the layer table, whose sizes the reader checked against the
        # file's tensors (a JSON that lies must not make Python allocate what the file does not hold).
        if [_normalized(s) for s in described] != [_normalized(s) for s in data["layers"]] or \
                int(np.prod(model._input_shape)) != int(data["input_dim"]):
            raise ModelFileError(f"{source}: the file's layer table and its JSON description disagree.")
        try:
            if functional:
                from ..functional import Functional
                model = Functional._of_layers(model)
            else:
                model._build()
        except ValueError as e:
            raise ModelFileError(f"{source}: the model it describes cannot be built ({e}).") from None
    finally:
        config_module.set_floatx(previous)
    _check_same_layers(model, data, source)
    c = model._core
    c.write([("params", 0, data["tensors"]["params"]), ("state", 0, data["tensors"]["state"])])
    training = data["training"]
    if training is not None:
        try:
            c.rng_state = training[1]
        except ValueError as e:
            raise ModelFileError(f"{source}: {e}") from None
    if compile and meta.get("compile") is not None:
        _compile_from(model, meta["compile"], source)
        saved = data["tensors"].get("optimizer_state")
        if not isinstance(meta.get("optimizer"), (dict, type(None))):
            raise ModelFileError(f"{source}: its optimizer entry is not valid ({meta['optimizer']!r}).")
        if meta.get("optimizer") is not None and saved is not None and training is not None:
            if saved.size != c.optimizer_state.size:
                raise ModelFileError(f"{source}: the optimizer state has {saved.size} values, the optimizer "
                                     f"needs {c.optimizer_state.size}.")
            c.write([("optimizer_state", 0, saved)])
            c.iterations = int(training[0])
            model._optimizer_built = bool(meta["optimizer"].get("built", False))
    return model


def _compile_from(model, entry, source):
    """Compiles the model as a file's compile configuration says."""
    try:
        model.compile(optimizer=optimizers_module.deserialize(entry["optimizer"]),
                      loss=losses_module.get(entry["loss"]),
                      metrics=[_metric(m, source) for m in entry.get("metrics", [])],
                      weighted_metrics=[_metric(m, source) for m in entry.get("weighted_metrics", [])])
    except (KeyError, TypeError, AttributeError, ValueError) as e:  # what compile() says of a bad argument
        raise ModelFileError(f"{source}: its compile configuration is not valid ({e}).") from None
    except MemoryError as e:  # e.g. a metric whose buffers need more memory than there is
        raise MemoryError(f"{source}: its compile configuration cannot be used here: {e}") from None


def _check_same_layers(model, data, source):
    ours = [_normalized(s) for s in _core_layers(model)]
    theirs = [_normalized(s) for s in data["layers"]]
    if ours != theirs or int(model._core.input_dim) != int(data["input_dim"]):
        raise ModelFileError(f"{source}: the file's layer table and its JSON description disagree.")
    for name, size in (("params", model._core.params.size), ("state", model._core.state.size)):
        if data["tensors"][name].size != size:
            raise ModelFileError(f"{source}: {name} has {data['tensors'][name].size} values, the model "
                                 f"needs {size}.")


# ---------------------------------------------------------------------- bytes (pickle, copy.deepcopy)
_PICKLED = "the pickled densenn model"


def model_to_bytes(model):
    """The model as bytes, as pickle stores it: a built model's whole-model file (weights, compile
    configuration, optimizer and generator state, as ``save`` writes), or an unbuilt model's JSON description
    (architecture and compile configuration; it has no weights yet). Neither holds code or Python objects."""
    if model._core is None:
        return _json_dumps(_description(model), "pickle").encode("utf-8")
    # The C++ core writes model files to paths only: this one lives in a private temporary folder.
    with tempfile.TemporaryDirectory(prefix="densenn-") as folder:
        path = os.path.join(folder, "model" + NATIVE_SUFFIX)
        _write(path, _model_spec(model, True, "pickle"))
        with open(path, "rb") as f:
            return f.read()


def fresh_copy(model):
    """A model of the same architecture and compile configuration, with new weights (Keras' clone_model, then
    compiled as the original)."""
    return model_from_bytes(_json_dumps(_description(model), "fresh_copy").encode("utf-8"))


def model_from_bytes(data, functional=False):
    """The model that ``model_to_bytes`` gave these bytes for, built as ``load_model`` builds a model from its
    file (every size checked, no code run); `functional`: a functional Model of the chain of layers."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"model_from_bytes: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if data[:1] == b"{":  # an unbuilt model's description
        meta = policy.parse_json(data, "its JSON description", _PICKLED)
        entry = meta.get("model") if isinstance(meta, dict) and meta.get("format") == _FORMAT else None
        if not isinstance(entry, dict) or entry.get("class_name") != "Sequential":
            raise ModelFileError(f"{_PICKLED}: its JSON description is not densenn's.")
        from ..sequential import Sequential
        try:
            model = Sequential.from_config(entry.get("config", {}))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
            raise ModelFileError(f"{_PICKLED}: the model it describes cannot be built ({e}).") from None
        if meta.get("compile") is not None:
            _compile_from(model, meta["compile"], _PICKLED)
        return model
    with tempfile.TemporaryDirectory(prefix="densenn-") as folder:
        path = os.path.join(folder, "model" + NATIVE_SUFFIX)
        with open(path, "wb") as f:
            f.write(data)
        try:
            file_data, meta = _read(path, "unpickle")
        except ModelFileError as e:
            raise ModelFileError(str(e).replace(f"'{path}'", _PICKLED)) from None
    return _model_from_file(file_data, meta, _PICKLED, compile=True, functional=functional)


# ---------------------------------------------------------------------- weights
def _weights_layout(model):
    """Each layer's name, class and weight shapes (trainable, then non-trainable), as save_weights stores it."""
    layout = []
    for layer, trainable, state in zip(model._layers, model._core.weight_shapes(), model._core.state_shapes()):
        layout.append({"name": layer.name, "class_name": type(layer).__name__,
                       "shapes": [list(map(int, s)) for s in list(trainable) + list(state)]})
    return layout


def save_weights(model, filepath, overwrite=True, **faults):
    """``model.save_weights``: every layer's weights (and moving statistics) in the native format, or in Keras 3's
    for a path ending in '.weights.h5'."""
    path = policy.checked_path(filepath, "save_weights")
    if not path.endswith((NATIVE_SUFFIX, KERAS_WEIGHTS_SUFFIX)):
        raise ValueError(f"save_weights: the file name must end in '{NATIVE_SUFFIX}' (densenn's native format) or "
                         f"'{KERAS_WEIGHTS_SUFFIX}' (Keras 3's weights format), got {path!r}.")
    _require_built(model, "save_weights")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save_weights: {path!r} exists and overwrite=False.")
    if path.endswith(KERAS_WEIGHTS_SUFFIX):
        if faults:
            raise TypeError(f"save_weights: {sorted(faults)} test the '{NATIVE_SUFFIX}' writer only.")
        return keras_files.save_keras_weights(model, path)
    c = model._core
    params, state = c.read([("params", 0, c.params.size), ("state", 0, c.state.size)])  # one consistent state
    meta = {"format": _FORMAT, "kind": "weights", "densenn_version": _version(), "layers": _weights_layout(model)}
    spec = {"kind": "weights", "input_dim": int(c.input_dim), "layers": _core_layers(model),
            "json": _json_dumps(meta, "save_weights"),
            "tensors": [("params", _tensor(params, model._dtype)), ("state", _tensor(state, model._dtype))],
            "training": None}
    _write(path, spec, **faults)


def load_weights(model, filepath):
    """``model.load_weights``: weights saved by save_weights (or save) into a model of the same architecture,
    or from a Keras '.weights.h5', '.keras' or legacy '.h5' file; every shape is checked before anything is
    written."""
    path = policy.checked_path(filepath, "load_weights")
    if _is_keras_path(path):
        return keras_files.load_keras_weights(model, path)
    _require_built(model, "load_weights")
    data, meta = _read(path, "load_weights")
    ours = _weights_layout(model)
    if meta.get("kind") == "weights":
        theirs = meta.get("layers")
    else:  # a whole-model file: compare the layer tables
        theirs = None
        brief = [(s.get("type"), int(s.get("units", 0) or 0)) for s in data["layers"]]
        if brief != [(s.get("type"), int(s.get("units", 0) or 0)) for s in _core_layers(model)] or \
                int(data["input_dim"]) != int(model._core.input_dim):
            raise ValueError(f"load_weights: '{path}' holds a model of a different architecture.")
    if theirs is not None:
        if not isinstance(theirs, list) or not all(isinstance(saved, dict) and isinstance(saved.get("shapes"), list)
                                                   for saved in theirs):
            raise ModelFileError(f"'{path}': its JSON description of the layers' weights is not valid.")
        if len(theirs) != len(ours):
            raise ValueError(f"load_weights: '{path}' holds weights for {len(theirs)} layers, the model has "
                             f"{len(ours)}.")
        for mine, saved in zip(ours, theirs):
            if saved["shapes"] != mine["shapes"]:
                got = [tuple(s) if isinstance(s, list) else s for s in saved["shapes"]]
                raise ValueError(f"load_weights: layer {mine['name']!r} has weights of shapes "
                                 f"{[tuple(s) for s in mine['shapes']]}, the file's layer {saved.get('name')!r} has "
                                 f"{got}.")
    c = model._core
    for name, size in (("params", c.params.size), ("state", c.state.size)):
        if data["tensors"][name].size != size:
            raise ValueError(f"load_weights: the file has {data['tensors'][name].size} {name} values, the model "
                             f"needs {size}.")
    c.write([("params", 0, data["tensors"]["params"]), ("state", 0, data["tensors"]["state"])])  # both at once


def _version():
    from .. import __version__
    return __version__
