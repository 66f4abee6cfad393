"""Keras interchange: read Keras 3 ``.keras`` files and legacy ``.h5`` files (Keras 2 and Keras 3's
``save_format='h5'``) into a densenn ``Sequential``, and write ``.keras`` files that ``keras.models.load_model``
reads; weights alone to and from Keras 3 ``.weights.h5`` files (``model.weights.h5``'s layout), and from
``.keras`` and legacy ``.h5`` files.

Reading never executes code: the architecture is JSON, the weights are HDF5 datasets read with h5py (no pickle,
no Lambda layers, no custom objects). Only Sequential models of densenn's layers are accepted (InputLayer, Dense,
Activation, Dropout, BatchNormalization, LeakyReLU, ELU, ReLU, Softmax, Flatten); anything else raises a
ValueError that names the layer or class.

File layouts (Keras 3.15):

* ``.keras``: a zip (stored) of ``metadata.json`` (optional), ``config.json`` and ``model.weights.h5``; the
  weights of the i-th layer of class C live at ``layers/<snake_case(C)>[_k]/vars/{0,1,...}``, ``k`` counting
  the earlier layers of the same class (weightless layers count too; the InputLayer has no entry).
* legacy ``.h5``: root attributes ``model_config`` (JSON, str or bytes) and ``training_config``; the group
  ``model_weights`` lists ``layer_names``; each layer group lists ``weight_names``, the paths of its datasets
  relative to the group (Keras 2: ``dense/kernel:0``; Keras 3: ``sequential/dense/kernel``).
"""
import datetime
import inspect
import io
import json
import math
import os
import struct
import warnings
import zipfile
import zlib

import numpy as np

from .. import layers as layers_module
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from .._core import core
from . import policy
from .atomic import atomic_write
from .._naming import to_snake_case

__all__ = ["load_keras", "save_keras", "save_keras_weights", "load_keras_weights", "compile_from_keras_config",
           "read_keras_config"]

_KERAS_VERSION_WRITTEN = "3.15.1"  # the layout save_keras writes (read back by Keras 3.x)
_SUPPORTED = ("InputLayer", "Dense", "Activation", "Dropout", "BatchNormalization", "LeakyReLU", "ELU", "ReLU",
              "Softmax", "Flatten")
# Config keys every layer may carry and densenn can ignore.
_COMMON_KEYS = {"name", "trainable", "dtype", "batch_input_shape", "batch_shape", "input_shape", "input_dim",
                "batch_size", "autocast", "input_dtype"}


def _h5py():
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        raise ImportError("Reading and writing Keras files needs h5py: pip install h5py") from None
    return h5py


# ---------------------------------------------------------------------------------------------- architecture
def _dtype_name(dtype):
    """A layer's dtype: a string ('float32'), a DTypePolicy dict (Keras 3) or a Policy dict (Keras 2)."""
    if isinstance(dtype, dict):
        config = dtype.get("config")
        if isinstance(config, dict):
            return config.get("name")
        return config if isinstance(config, str) else None
    return dtype


def _activation(value, where, keras2):
    """An activation as Keras serializes it: a name, None, or (Keras 3) a serialized built-in function."""
    if isinstance(value, dict):
        config = value.get("config")
        if value.get("class_name") == "function" and isinstance(config, str) \
                and value.get("module", "keras.activations") in ("keras.activations", "builtins"):
            value = config
        else:
            raise ValueError(f"{where}: activation {value.get('class_name')!r} is a custom or serialized object; "
                             "densenn reads built-in activations given by name only.")
    if value is None:
        return "linear"
    if not isinstance(value, str):
        raise ValueError(f"{where}: cannot read activation {value!r}.")
    if value not in core.activation_names():
        raise ValueError(f"{where}: activation {value!r} is not supported by densenn. Supported: "
                         f"{', '.join(core.activation_names())}.")
    if keras2 and value == "hard_sigmoid":
        warnings.warn(f"{where}: the file was saved by Keras 2, whose hard_sigmoid was clip(0.2*x + 0.5, 0, 1); "
                      "densenn, like Keras 3, computes clip(x/6 + 0.5, 0, 1), so predictions differ from Keras 2's.",
                      UserWarning, stacklevel=4)
    return value


def _optional(getter, value, where, what):
    """An initializer/regularizer densenn may not know: it only matters for training, so an unknown one is
    replaced by densenn's default with a warning (regularizers) or silently (initializers: weights are loaded)."""
    if value is None:
        return None
    try:
        getter(value)
        return value
    except (ValueError, TypeError) as e:
        if what.endswith("initializer"):
            return None
        warnings.warn(f"{where}: {what} {value!r} is not supported by densenn and is dropped ({e}).", UserWarning,
                      stacklevel=4)
        return None


def _check_keys(config, known, where):
    """Warns about config keys densenn does not read (when set to something other than a default)."""
    extra = {k: v for k, v in config.items() if k not in known and k not in _COMMON_KEYS
             and v not in (None, False, 0, 0.0, [], {})}
    if extra:
        warnings.warn(f"{where}: ignoring Keras options densenn does not have: {extra!r}", UserWarning, stacklevel=4)


def _no(config, keys, where, reason=""):
    for key in keys:
        value = config.get(key)
        if value not in (None, False, 0, "", [], {}):
            raise ValueError(f"{where}: {key}={value!r} is not supported by densenn{reason}.")


def _drop_constraints(config, keys, where):
    set_ = {k: config[k] for k in keys if config.get(k) is not None}
    if set_:
        warnings.warn(f"{where}: weight constraints {set_!r} are not supported by densenn and are dropped "
                      "(they only act in training).", UserWarning, stacklevel=4)


def _feature_axis(axis, where):
    """BatchNormalization/Softmax axis: an int, or a one-element list (Keras 2 writes [1])."""
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ValueError(f"{where}: axis={axis!r}: densenn normalizes one (the last) axis only.")
        axis = axis[0]
    return axis


def _layer_from_keras(entry, where_index, keras2):
    """A densenn layer for one Keras layer entry {"class_name", "config"} (InputLayer: None)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ValueError(f"Keras layer #{where_index}: expected {{'class_name': ..., 'config': ...}}, got {entry!r}")
    cls = entry["class_name"]
    config = entry.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"Keras layer #{where_index} ({cls}): its config is not a dict")
    name = config.get("name")
    where = f"Keras layer {name!r} ({cls})" if name else f"Keras layer #{where_index} ({cls})"
    if cls not in _SUPPORTED or entry.get("registered_name") not in (None, cls) \
            or entry.get("module", "keras.layers") not in ("keras.layers", "keras.src.layers", None):
        raise ValueError(f"{where}: densenn cannot read this layer. It reads Sequential models of "
                         f"{', '.join(_SUPPORTED)}.")
    dtype = _dtype_name(config.get("dtype"))
    if dtype not in (None, "float32", "float64"):
        warnings.warn(f"{where}: dtype {dtype!r}: densenn computes in {_floatx()}.", UserWarning, stacklevel=3)
    kw = {"name": name} if name else {}

    if cls == "InputLayer":
        return None
    if cls == "Dense":
        known = {"units", "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
                 "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint",
                 "quantization_config", "lora_rank", "lora_alpha"}
        _no(config, ["quantization_config", "lora_rank"], where, " (quantized or LoRA weights)")
        _check_keys(config, known, where)
        _drop_constraints(config, ["kernel_constraint", "bias_constraint"], where)
        args = {"units": config.get("units"), "activation": _activation(config.get("activation"), where, keras2),
                "use_bias": bool(config.get("use_bias", True))}
        for key in ("kernel_initializer", "bias_initializer"):
            value = _optional(layers_module.initializers.get, config.get(key), where, key)
            if value is not None:
                args[key] = value
        for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
            args[key] = _optional(layers_module.regularizers.get, config.get(key), where, key)
        layer = layers_module.Dense(**args, **kw)
    elif cls == "Activation":
        _check_keys(config, {"activation"}, where)
        layer = layers_module.Activation(_activation(config.get("activation"), where, keras2), **kw)
    elif cls == "Dropout":
        _check_keys(config, {"rate", "noise_shape", "seed"}, where)
        if config.get("noise_shape") is not None:
            warnings.warn(f"{where}: noise_shape={config['noise_shape']!r} is dropped (dropout only acts in "
                          "training; densenn drops values independently).", UserWarning, stacklevel=3)
        layer = layers_module.Dropout(config.get("rate", 0.0), seed=config.get("seed"), **kw)
    elif cls == "BatchNormalization":
        known = {"axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
                 "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                 "beta_constraint", "gamma_constraint", "synchronized", "renorm", "renorm_clipping",
                 "renorm_momentum", "fused", "virtual_batch_size", "adjustment"}
        _no(config, ["renorm", "virtual_batch_size", "adjustment"], where)
        _check_keys(config, known, where)
        _drop_constraints(config, ["beta_constraint", "gamma_constraint"], where)
        regs = {k: config[k] for k in ("beta_regularizer", "gamma_regularizer") if config.get(k) is not None}
        if regs:
            warnings.warn(f"{where}: {regs!r} are not supported by densenn and are dropped (training only).",
                          UserWarning, stacklevel=3)
        layer = layers_module.BatchNormalization(
            axis=_feature_axis(config.get("axis", -1), where), momentum=config.get("momentum", 0.99),
            epsilon=config.get("epsilon", 0.001), center=bool(config.get("center", True)),
            scale=bool(config.get("scale", True)), **kw)
    elif cls == "LeakyReLU":
        _check_keys(config, {"negative_slope", "alpha"}, where)
        slope = config.get("negative_slope", config.get("alpha", 0.3))  # Keras 2 writes alpha
        layer = layers_module.LeakyReLU(negative_slope=slope, **kw)
    elif cls == "ELU":
        _check_keys(config, {"alpha"}, where)
        layer = layers_module.ELU(alpha=config.get("alpha", 1.0), **kw)
    elif cls == "ReLU":
        _check_keys(config, {"max_value", "negative_slope", "threshold"}, where)
        layer = layers_module.ReLU(max_value=config.get("max_value"),
                                   negative_slope=config.get("negative_slope", 0.0) or 0.0,
                                   threshold=config.get("threshold", 0.0) or 0.0, **kw)
    elif cls == "Softmax":
        _check_keys(config, {"axis"}, where)
        layer = layers_module.Softmax(axis=_feature_axis(config.get("axis", -1), where), **kw)
    else:  # Flatten
        _check_keys(config, {"data_format"}, where)
        layer = layers_module.Flatten(**kw)
    layer.trainable = bool(config.get("trainable", True))
    return layer


def _floatx():
    from .. import config as config_module
    return config_module.floatx()


def _batch_shape(config):
    """The batch input shape an InputLayer or first-layer config gives (Keras 3 or Keras 2 spelling)."""
    for key in ("batch_shape", "batch_input_shape"):
        if config.get(key) is not None:
            return list(config[key])
    if config.get("input_shape") is not None:
        return [None, *config["input_shape"]]
    if config.get("shape") is not None:
        return [None, *config["shape"]]
    return None


def _sequential_layers(model_config):
    """(name, layer entries, build input shape) from a model config: Keras 3 / Keras 2 ``Sequential`` with
    ``config`` a dict, or very old Keras 2 with ``config`` the list of layers."""
    if not isinstance(model_config, dict):
        raise ValueError(f"Keras model config: expected a JSON object, got {type(model_config).__name__}")
    cls = model_config.get("class_name")
    if cls != "Sequential":
        raise ValueError(f"Keras model class {cls!r}: densenn reads Sequential models only "
                         "(not Functional or subclassed models).")
    config = model_config.get("config")
    if isinstance(config, list):
        return None, config, None
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("Keras Sequential config: expected a 'layers' list")
    build_shape = config.get("build_input_shape")
    if build_shape is None and isinstance(model_config.get("build_config"), dict):
        build_shape = model_config["build_config"].get("input_shape")
    return config.get("name"), config["layers"], build_shape


def _keras_stack(model_config, keras2=False):
    """(name, per-sample input shape, densenn layers) for a Keras Sequential model config (the JSON of
    ``config.json`` or of a legacy file's ``model_config``); nothing is allocated yet."""
    name, entries, build_shape = _sequential_layers(model_config)
    batch_shape = None
    layers = []
    for i, entry in enumerate(entries):
        layer = _layer_from_keras(entry, i, keras2)
        config = entry.get("config") or {}
        if layer is None:  # InputLayer
            if layers or batch_shape is not None:
                raise ValueError(f"Keras layer #{i} (InputLayer) is not the first layer: not a Sequential stack.")
            batch_shape = _batch_shape(config)
            if batch_shape is None:
                raise ValueError(f"Keras layer #{i} (InputLayer) has no batch_shape.")
            continue
        if not layers and batch_shape is None:
            batch_shape = _batch_shape(config)
        layers.append(layer)
    if batch_shape is None and build_shape is not None:
        batch_shape = list(build_shape)
    if not layers:
        raise ValueError("The Keras model has no layers.")
    if batch_shape is None:
        raise ValueError("The Keras model config gives no input shape (the model was saved unbuilt): densenn "
                         "needs it to place the weights.")
    if not isinstance(batch_shape, (list, tuple)) or any(d is None for d in list(batch_shape)[1:]):
        raise ValueError(f"Keras input shape {batch_shape!r}: densenn needs fixed feature sizes.")
    input_shape = layers_module.sample_shape(tuple(batch_shape)[1:], "Keras input shape")
    return (name if isinstance(name, str) and name else None), input_shape, layers


def _weight_shapes(input_shape, layers):
    """Each layer's weight shapes in Keras' order, computed from the description alone (so that a file's
    weights are checked before the model allocates anything)."""
    shapes, shape = [], input_shape
    for layer in layers:
        features = shape[-1]
        if isinstance(layer, layers_module.Dense):
            shapes.append([(features, layer.units)] + ([(layer.units,)] if layer.use_bias else []))
        else:
            shapes.append([(features,)] * _layer_weight_count(layer))
        shape = layer._output_shape(shape)
    return shapes


def _model(name, input_shape, layers, weights):
    """The densenn Sequential of these layers, built once, holding `weights` (per layer, Keras' order)."""
    from ..sequential import Sequential  # the saving package imports the model only where it makes one
    model = Sequential._unbuilt(layers, name=name, input_shape=input_shape)
    model._build()
    for layer, arrays in zip(layers, weights):
        if arrays:
            model._set_layer_weights(layer, arrays)
    return model


def model_from_keras_config(model_config, keras2=False):
    """An (untrained) densenn Sequential for a Keras Sequential model config."""
    name, input_shape, layers = _keras_stack(model_config, keras2)
    return _model(name, input_shape, layers, [[] for _ in layers])


# ---------------------------------------------------------------------------------------------- weights
def _layer_weight_count(layer):
    if isinstance(layer, layers_module.Dense):
        return 2 if layer.use_bias else 1
    if isinstance(layer, layers_module.BatchNormalization):
        return 2 + int(layer.center) + int(layer.scale)
    return 0


def _read_arrays(datasets, shapes, what, source):
    """A layer's weights from (path, h5py dataset) pairs, their number, dtype and shape checked against the
    shapes its description gives before anything is read."""
    h5py = _h5py()
    if len(datasets) != len(shapes):
        raise ValueError(f"{source}: {what} has {len(datasets)} weight arrays in the file, densenn expects "
                         f"{len(shapes)}.")
    arrays = []
    for (path, dataset), shape in zip(datasets, shapes):
        if not isinstance(dataset, h5py.Dataset):
            raise ValueError(f"{source}: {path} is not an HDF5 dataset")
        try:
            dtype = dataset.dtype
        except ValueError as e:  # a damaged type header (h5py: "Insufficient precision ... to represent")
            raise ValueError(f"{source}: cannot read the type of {path} ({e})") from None
        if dtype.kind not in "fiu":
            raise ValueError(f"{source}: {path} has dtype {dtype}, expected numbers")
        if tuple(dataset.shape) != tuple(shape):
            raise ValueError(f"{source}: {path} has shape {tuple(dataset.shape)}, {what} expects shape "
                             f"{tuple(shape)}.")
        try:
            array = np.asarray(dataset[()])
        except (OSError, RuntimeError, ValueError, KeyError) as e:  # a damaged chunk, filter or header
            raise ValueError(f"{source}: cannot read {path} ({e})") from None
        arrays.append(array)
    return arrays


def _what(layer):
    return f"layer {layer.name!r} ({type(layer).__name__})"


def _keras3_weights(layers, shapes, h5file, source):
    """Each layer's weights from ``model.weights.h5``: ``layers/<snake_case(class)>[_k]/vars/<i>``."""
    root = h5file.get("layers")
    if root is None:
        if any(shapes):
            raise ValueError(f"{source}: model.weights.h5 has no 'layers' group")
        return [[] for _ in layers]
    counters, weights = {}, []
    for layer, expected in zip(layers, shapes):
        base = to_snake_case(type(layer).__name__)
        k = counters.get(base, 0)
        counters[base] = k + 1
        group_name = base if k == 0 else f"{base}_{k}"
        group = root.get(group_name)
        variables = group.get("vars") if group is not None else None
        keys = list(variables.keys()) if variables is not None else []
        if any(not key.isdigit() for key in keys):
            raise ValueError(f"{source}: unexpected entries {keys!r} in layers/{group_name}/vars")
        keys.sort(key=int)
        if len(keys) != len(expected):
            raise ValueError(f"{source}: {_what(layer)} expects {len(expected)} weight arrays at "
                             f"layers/{group_name}/vars, the file has {len(keys)}.")
        weights.append(_read_arrays([(f"layers/{group_name}/vars/{key}", variables[key]) for key in keys],
                                    expected, _what(layer), source))
    return weights


def _decode(value):
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf8")
    return str(value)


def _legacy_weights(layers, shapes, group, source):
    """Each layer's weights from a legacy ``model_weights`` group: the layers with weights, matched in order."""
    if "layer_names" not in group.attrs:
        raise ValueError(f"{source}: the 'model_weights' group has no 'layer_names' attribute")
    file_layers = []
    for raw in group.attrs["layer_names"]:
        name = _decode(raw)
        if name not in group:
            raise ValueError(f"{source}: layer group {name!r} listed in layer_names is missing")
        g = group[name]
        weight_names = [_decode(w) for w in g.attrs.get("weight_names", [])]
        if weight_names:
            datasets = []
            for w in weight_names:
                if w not in g:
                    raise ValueError(f"{source}: dataset {name}/{w} is missing")
                datasets.append((f"model_weights/{name}/{w}", g[w]))
            file_layers.append((name, datasets))
    ours = [(layer, expected) for layer, expected in zip(layers, shapes) if expected]
    if len(file_layers) != len(ours):
        raise ValueError(f"{source}: the file has weights for {len(file_layers)} layers "
                         f"({', '.join(n for n, _ in file_layers) or 'none'}), the model has {len(ours)} layers "
                         f"with weights ({', '.join(layer.name for layer, _ in ours) or 'none'}).")
    found = iter(_read_arrays(datasets, expected, _what(layer), source)
                 for (layer, expected), (_, datasets) in zip(ours, file_layers))
    return [next(found) if expected else [] for expected in shapes]


# ---------------------------------------------------------------------------------------------- reading
# Room for HDF5's own metadata in a weights file: per dataset, and in all.
_H5_PER_DATASET = 4096
_H5_OVERHEAD = 1 << 20


def _json(text, what, source):
    return policy.parse_json(bytes(text) if isinstance(text, np.bytes_) else text, what, source)


def _weight_count(shapes):
    return sum(math.prod(shape) for layer in shapes for shape in layer)


def _weights_file_limit(shapes):
    """The most bytes a weights file for these shapes can hold: float64 data and HDF5's metadata."""
    return 8 * _weight_count(shapes) + _H5_PER_DATASET * sum(map(len, shapes)) + _H5_OVERHEAD


def _open_zip(source):
    try:
        return zipfile.ZipFile(source)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{source}: corrupt .keras zip ({e})") from None


def _open_h5(source, data=None):
    """The HDF5 file at source (or held in `data`), refused unless it is self-contained."""
    h5py = _h5py()
    try:
        f = h5py.File(io.BytesIO(data) if data is not None else source, "r")
    except OSError as e:
        what = "model.weights.h5 is not a valid HDF5 file" if data is not None \
            else "not a Keras file (neither a .keras zip nor a readable HDF5 file"
        raise ValueError(f"{source}: {what}: {e})" if data is None else f"{source}: {what} ({e})") from None
    try:
        policy.check_hdf5_self_contained(f, source)
    except BaseException:
        f.close()
        raise
    return f


def read_keras_config(path):
    """(model config, compile config or None, keras2?) of a ``.keras`` or legacy ``.h5`` file, without weights."""
    source = policy.checked_path(path, "read_keras_config")
    policy.regular_file_size(source, "read_keras_config")
    if zipfile.is_zipfile(source):
        with _open_zip(source) as archive:
            return _zip_configs(archive, source)[:3]
    with _open_h5(source) as f:
        return _h5_configs(f, source)


def _zip_configs(archive, source):
    names = archive.namelist()
    if "config.json" not in names:
        raise ValueError(f"{source}: not a Keras .keras file (no config.json in the zip)")
    config = _json(policy.read_zip_member(archive, "config.json", policy.MAX_JSON_BYTES, source), "config.json",
                   source)
    keras2 = False
    if "metadata.json" in names:
        metadata = _json(policy.read_zip_member(archive, "metadata.json", policy.MAX_JSON_BYTES, source),
                         "metadata.json", source)
        keras2 = str(metadata.get("keras_version", "3")).startswith("2.") if isinstance(metadata, dict) else False
    compile_config = config.get("compile_config") if isinstance(config, dict) else None
    return config, compile_config, keras2, names


def _h5_configs(f, source):
    if "model_config" not in f.attrs:
        raise ValueError(f"{source}: this HDF5 file has no 'model_config' attribute: not a Keras model file "
                         "(a weights-only file?)")
    config = _json(f.attrs["model_config"], "model_config", source)
    compile_config = None
    if "training_config" in f.attrs:
        compile_config = _json(f.attrs["training_config"], "training_config", source)
    version = _decode(f.attrs.get("keras_version", b"")) or _decode(f.get("model_weights", f).attrs.get(
        "keras_version", b""))
    return config, compile_config, version.startswith("2.")


def _checked_stack(config, keras2, source):
    """The layers a file describes and their weight shapes, the memory they need checked before any is read."""
    name, input_shape, layers = _keras_stack(config, keras2)
    shapes = _weight_shapes(input_shape, layers)
    # reading them (float64 at most), then the model's parameters, gradients and optimizer state
    policy.check_allocation(8 * 4 * _weight_count(shapes), f"{source}: the model it describes")
    return name, input_shape, layers, shapes


def load_keras(path, compile=True):
    """A densenn Sequential from a Keras file: a Keras 3 ``.keras`` zip, or a legacy ``.h5`` (Keras 2 or Keras 3
    ``save_format='h5'``). With ``compile=True`` the model is compiled with the saved training configuration when
    the file has one (what densenn lacks is skipped with a warning; see ``compile_from_keras_config``).

    The file is read under the loading policy (policy.py): the architecture's weights are computed from its
    description and checked against those present before the model is built, and nothing outside the file is
    read. Raises ValueError, naming the file and the cause, for files that are not Keras models, are damaged,
    or describe layers, models or options densenn does not have. Never executes code from the file."""
    source = policy.checked_path(path, "load_model")
    policy.regular_file_size(source, "load_model")
    try:
        model, compile_config = _read_keras(source)
        if compile and compile_config:
            compile_from_keras_config(model, compile_config)
    except _DAMAGED as e:
        raise ValueError(f"{source}: not a readable Keras model file ({type(e).__name__}: {e})") from None
    return model


# What a damaged or crafted file's structure raises from zipfile, h5py and the JSON it holds.
_DAMAGED = (KeyError, IndexError, TypeError, AttributeError, OverflowError, RuntimeError, OSError, EOFError,
            NotImplementedError, struct.error, zlib.error, zipfile.BadZipFile, UnicodeDecodeError, RecursionError)


def _zip_weights(archive, layers, shapes, source):
    """Each layer's weights from a ``.keras`` zip's ``model.weights.h5``, its size bounded by the shapes."""
    if "model.weights.h5" not in archive.namelist():
        raise ValueError(f"{source}: the .keras zip has no model.weights.h5")
    data = policy.read_zip_member(archive, "model.weights.h5", _weights_file_limit(shapes), source)
    with _open_h5(source, data) as weights_file:
        return _keras3_weights(layers, shapes, weights_file, source)


def _h5_weights(f, layers, shapes, source):
    """Each layer's weights from an HDF5 file: a legacy model file's ``model_weights`` group, legacy weights at the
    root (Keras 2's save_weights, very old model files), or Keras 3's ``.weights.h5`` layout."""
    if "model_weights" in f:
        return _legacy_weights(layers, shapes, f["model_weights"], source)
    if "layer_names" in f.attrs:
        return _legacy_weights(layers, shapes, f, source)
    if "layers" in f:
        return _keras3_weights(layers, shapes, f, source)
    raise ValueError(f"{source}: the file has no 'model_weights' group or 'layers' group: no Keras weights")


def _read_keras(source):
    if zipfile.is_zipfile(source):
        with _open_zip(source) as archive:
            config, compile_config, keras2, _ = _zip_configs(archive, source)
            name, input_shape, layers, shapes = _checked_stack(config, keras2, source)
            weights = _zip_weights(archive, layers, shapes, source)
    else:
        with _open_h5(source) as f:
            config, compile_config, keras2 = _h5_configs(f, source)
            name, input_shape, layers, shapes = _checked_stack(config, keras2, source)
            weights = _h5_weights(f, layers, shapes, source)
    return _model(name, input_shape, layers, weights), compile_config


# ---------------------------------------------------------------------------------------------- compile
def _filtered(cls, config, where):
    """config restricted to what cls.__init__ takes (warning about the rest when set)."""
    params = set(inspect.signature(cls.__init__).parameters)
    if "kwargs" in params:  # what the class writes in its config is what it takes back
        try:
            params |= set(cls().get_config())
        except (TypeError, ValueError):
            return dict(config)
    kept = {k: v for k, v in config.items() if k in params}
    dropped = {k: v for k, v in config.items() if k not in params and v not in (None, False)}
    ignorable = {"is_legacy_optimizer", "jit_compile", "name"}  # Keras 2 bookkeeping
    if {k for k in dropped if k not in ignorable}:
        warnings.warn(f"{where}: ignoring options densenn does not have: "
                      f"{ {k: v for k, v in dropped.items() if k not in ignorable}!r}", UserWarning, stacklevel=4)
    return kept


def _unwrap_function(value):
    """Keras 3 may write a built-in function as {"class_name": "function", "config": "mse", ...}."""
    if isinstance(value, dict) and value.get("class_name") == "function" and isinstance(value.get("config"), str):
        return value["config"]
    return value


def _optimizer(value):
    value = _unwrap_function(value)
    if isinstance(value, str):
        return optimizers_module.get(value)
    if not isinstance(value, dict):
        raise ValueError(f"optimizer {value!r}")
    name = value.get("class_name")
    classes = {cls.__name__.lower(): cls for cls in optimizers_module._CLASSES}
    if not isinstance(name, str) or name.lower() not in classes:
        raise ValueError(f"optimizer {name!r} is not one densenn has ({', '.join(sorted(classes))})")
    cls = classes[name.lower()]
    config = dict(value.get("config") or {})
    if "lr" in config and "learning_rate" not in config:  # Keras 2.0-2.2
        config["learning_rate"] = config.pop("lr")
    if "decay" in config and config["decay"] not in (None, 0, 0.0):
        warnings.warn(f"optimizer {name}: Keras 2's decay={config['decay']} is not supported and is dropped "
                      "(use a learning-rate schedule).", UserWarning, stacklevel=3)
    config.pop("decay", None)
    return cls.from_config(_filtered(cls, config, f"optimizer {name}"))


def _loss(value):
    value = _unwrap_function(value)
    if isinstance(value, dict):
        name = value.get("class_name")
        cls = losses_module._BY_NAME.get(name)
        if cls is None or cls.__name__ != name:
            raise ValueError(f"loss {name!r} is not one densenn has")
        return cls.from_config(_filtered(cls, dict(value.get("config") or {}), f"loss {name}"))
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return _loss(value[0])
    if isinstance(value, (list, tuple, dict)):
        raise ValueError("multi-output losses are not supported (densenn models have one output)")
    return losses_module.get(value)


def _metric(value):
    value = _unwrap_function(value)
    if isinstance(value, dict):
        name = value.get("class_name")
        cls = metrics_module._BY_NAME.get(name)
        if cls is None or cls.__name__ != name:
            raise ValueError(f"metric {name!r} is not one densenn has")
        return cls.from_config(_filtered(cls, dict(value.get("config") or {}), f"metric {name}"))
    return metrics_module.get(value)


def _metric_list(values, argument):
    if values is None:
        return None
    if isinstance(values, dict):  # per-output (Keras 2): one output only
        if len(values) != 1:
            raise ValueError(f"{argument} for several outputs")
        values = next(iter(values.values()))
    if isinstance(values, (str, dict)):
        values = [values]
    flat = []
    for v in values:  # Keras 2 writes [["accuracy"]] (a list per output)
        if isinstance(v, (list, tuple)):
            flat.extend(v)
        else:
            flat.append(v)
    result = []
    for v in flat:
        try:
            result.append(_metric(v))
        except (ValueError, TypeError) as e:
            warnings.warn(f"Keras {argument}: skipping {v!r}, which densenn cannot compute ({e}).", UserWarning,
                          stacklevel=3)
    return result


def compile_from_keras_config(model, compile_config):
    """Compiles ``model`` with a Keras training configuration: a Keras 3 ``compile_config`` (``.keras``) or a
    legacy ``training_config`` (``optimizer_config``, ``loss``, ``metrics``, ...). What densenn lacks is skipped
    with a warning: unknown metrics are left out; an unknown optimizer or loss leaves the model uncompiled.
    Returns True when the model was compiled."""
    if not isinstance(compile_config, dict):
        warnings.warn(f"Keras compile config {compile_config!r} is not a dict: the model is not compiled.",
                      UserWarning, stacklevel=2)
        return False
    optimizer = compile_config.get("optimizer", compile_config.get("optimizer_config"))
    loss = compile_config.get("loss")
    if loss is None:
        return False  # Keras compiled without a loss: nothing densenn can train with
    try:
        optimizer = _optimizer(optimizer if optimizer is not None else "rmsprop")
        loss = _loss(loss)
    except (ValueError, TypeError) as e:
        warnings.warn(f"The Keras training configuration cannot be used ({e}): the model is loaded uncompiled; "
                      "call compile() before training.", UserWarning, stacklevel=2)
        return False
    if compile_config.get("loss_weights") not in (None, [], {}, [1.0], [1]):
        warnings.warn(f"loss_weights={compile_config['loss_weights']!r} is ignored (one output).", UserWarning,
                      stacklevel=2)
    metrics = _metric_list(compile_config.get("metrics"), "metrics")
    weighted = _metric_list(compile_config.get("weighted_metrics"), "weighted_metrics")
    try:
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, weighted_metrics=weighted)
    except (ValueError, TypeError) as e:
        warnings.warn(f"The Keras training configuration cannot be used ({e}): the model is loaded uncompiled.",
                      UserWarning, stacklevel=2)
        return False
    return True


# ---------------------------------------------------------------------------------------------- writing
def _serialize_metric(compiled):
    metric = compiled.metric
    if isinstance(metric, metrics_module._AutoAccuracy):
        return metric.name  # 'accuracy' / 'acc'
    if metric.name in metrics_module._VALID_NAMES and metrics_module._BY_NAME.get(metric.name) is type(metric):
        return metric.name  # given as a string
    return {"module": "keras.metrics", "class_name": type(metric).__name__, "config": metric.get_config(),
            "registered_name": None}


def _compile_config(model):
    optimizer, loss, metrics = model._compile_args
    loss_config = losses_module.serialize(loss)
    loss_config = {"module": "keras.losses", **loss_config, "registered_name": None}
    plain = [_serialize_metric(m) for m in metrics if not m.weighted]
    weighted = [_serialize_metric(m) for m in metrics if m.weighted]
    return {"optimizer": optimizers_module.serialize(optimizer), "loss": loss_config, "loss_weights": None,
            "metrics": plain or None, "weighted_metrics": weighted or None, "run_eagerly": False,
            "steps_per_execution": 1, "jit_compile": False}


def _check_exportable(model):
    keras_activations = set(core.activation_names()) - {"binary_step"}
    for layer in model._layers:
        if isinstance(layer, layers_module.Maxout):
            raise ValueError(f"Layer {layer.name!r} (Maxout) cannot be saved in Keras format: Keras has no Maxout "
                             "layer. Save in densenn's native format instead.")
        if type(layer).__name__ not in _SUPPORTED:
            raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) has no Keras counterpart.")
        activation = getattr(layer, "activation", None)
        if isinstance(activation, str) and activation not in keras_activations:
            raise ValueError(f"Layer {layer.name!r}: activation {activation!r} is not a Keras activation, so the "
                             "model cannot be saved in Keras format.")


def save_keras(model, path):
    """Writes ``model`` as a Keras 3 ``.keras`` file (a stored zip of metadata.json, config.json and
    model.weights.h5) that ``keras.models.load_model`` reads. The file is written atomically (a temporary file in
    the same directory, then a rename). Raises ValueError for what Keras lacks (Maxout, binary_step)."""
    from ..sequential import Sequential
    if not isinstance(model, Sequential):
        raise ValueError(f"save_keras: expected a densenn Sequential model, got {type(model).__name__}")
    if not model.built:
        raise ValueError("save_keras: the model is not built (give it an input shape first).")
    _check_exportable(model)
    path = os.fspath(path)
    config = {"module": "keras", "class_name": "Sequential", "config": model.get_config(), "registered_name": None,
              "build_config": {"input_shape": [None, *model._input_shape]}}
    if model.compiled:
        config["compile_config"] = _compile_config(model)
    metadata = {"keras_version": _KERAS_VERSION_WRITTEN,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}

    weights = _weights_h5(model)
    with atomic_write(path, ".keras.tmp") as out:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("metadata.json", json.dumps(metadata))
            archive.writestr("config.json", json.dumps(config))
            archive.writestr("model.weights.h5", weights)


def _weights_h5(model):
    """The bytes of ``model.weights.h5``: each layer's weights at ``layers/<snake_case(class)>[_k]/vars/<i>``
    (no optimizer state)."""
    buffer = io.BytesIO()
    with _h5py().File(buffer, "w") as f:
        f.create_group("vars").attrs["name"] = model.name
        root = f.create_group("layers")
        counters = {}
        for layer, weights in zip(model._layers, model._weights_by_layer()):  # one consistent set
            base = to_snake_case(type(layer).__name__)
            k = counters.get(base, 0)
            counters[base] = k + 1
            group = root.create_group(base if k == 0 else f"{base}_{k}").create_group("vars")
            group.attrs["name"] = layer.name
            for i, w in enumerate(weights):
                group.create_dataset(str(i), data=np.asarray(w, dtype=np.float32))
    return buffer.getvalue()


def save_keras_weights(model, path):
    """``model.save_weights('m.weights.h5')``: the layers' weights in Keras 3's layout, which Keras'
    ``load_weights`` reads (written atomically). Raises ValueError for what Keras lacks (Maxout, binary_step)."""
    if not model.built:
        raise ValueError("save_weights: the model is not built (give it an input shape first).")
    _check_exportable(model)
    weights = _weights_h5(model)
    with atomic_write(path, ".weights.h5.tmp") as out:
        out.write(weights)


def load_keras_weights(model, path):
    """``model.load_weights`` from a Keras file: a ``.weights.h5`` file (Keras 3's layout; its optimizer state is
    not read), the weights of a ``.keras`` file, or a legacy ``.h5`` file (a whole model, or Keras 2's
    ``save_weights``), read under the loading policy. Every shape is checked before anything is written."""
    source = policy.checked_path(path, "load_weights")
    policy.regular_file_size(source, "load_weights")
    if not model.built:
        raise ValueError("load_weights: the model is not built yet (give it an input shape, or fit/predict once).")
    layers = model._layers
    shapes = [model._layer_weight_shapes(layer) for layer in layers]
    try:
        if zipfile.is_zipfile(source):
            with _open_zip(source) as archive:
                weights = _zip_weights(archive, layers, shapes, source)
        else:
            with _open_h5(source) as f:
                weights = _h5_weights(f, layers, shapes, source)
    except _DAMAGED as e:
        raise ValueError(f"{source}: not a readable Keras weights file ({type(e).__name__}: {e})") from None
    for layer, arrays in zip(layers, weights):
        if arrays:
            model._set_layer_weights(layer, arrays)
