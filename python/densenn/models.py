"""The Sequential model, as in ``keras.Sequential``: a stack of layers whose
training, evaluation and prediction run in the C++ core."""
import functools
import json
import math
import threading

import numpy as np

from . import config, losses as losses_module, metrics as metrics_module, optimizers as optimizers_module, utils
from ._core import core as _core_module, module_for
from ._summary import default_line_length, format_count, format_shape, format_summary
from .callbacks import CallbackList, History, ProgbarLogger
from .layers import InputLayer, Layer, sample_shape, unique_name

__all__ = ["Sequential", "model_from_json", "load_model"]

# How long the C++ loop runs between returns to Python: long enough that
# Python's share is negligible, short enough for a live bar. (Ctrl-C does not
# wait for the slice: the C++ loop polls Python's signal handlers itself.)
_SLICE_SECONDS = 0.1


def _one_thread_at_a_time(method):
    """fit, evaluate, train_on_batch and test_on_batch share the model's training workspace and move its
    weights: a second one from another thread while one runs is a RuntimeError. The same thread may nest them
    (an evaluate() in a callback). predict and get_weights may run in any thread at any time (docs/reliability.md)."""
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        if not self._training_lock.acquire(blocking=False):
            raise RuntimeError(f"{method.__name__}: this model is already training or evaluating in another "
                               "thread; fit, evaluate, train_on_batch and test_on_batch run on a model one thread at "
                               "a time (predict may run from any thread).")
        try:
            return method(self, *args, **kwargs)
        finally:
            self._training_lock.release()
    return guarded


def _positive_int(value, argument, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        raise ValueError(f"{argument}: expected an integer {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return int(value)


def _numeric_array(value, argument):
    """Any array-like of numbers as an ndarray (no copy where it already is one); strings, objects, ragged
    lists and masked arrays with masked values are refused."""
    if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):
        raise ValueError(f"{argument}: expected an array of numbers, got a masked array with masked values "
                         f"(fill them first, e.g. {argument}.filled(0))")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, RuntimeError) as e:  # ragged nested lists, tensors that refuse NumPy
        raise ValueError(f"{argument}: expected a rectangular array of numbers ({e})") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{argument}: expected numbers, got an array of dtype {array.dtype}")
    return array


def _converted(array, dtype, argument, copy=False):
    """`array` as a C-contiguous array of `dtype` (no copy when it already is one, unless `copy`), checked to
    be finite: NaN/Inf in the data, and values beyond the range of `dtype`, are refused."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow in the cast is reported below
            converted = np.array(array, dtype=dtype, order="C", copy=True) if copy \
                else np.ascontiguousarray(array, dtype=dtype)
    except MemoryError as e:  # e.g. a huge view with zero strides that cannot be made contiguous
        raise MemoryError(f"{argument}: {e}") from None
    if not _all_finite(converted):
        raise _nonfinite_error(converted, argument, original=array)
    return converted


def _nonfinite_error(array, argument, original=None):
    """The ValueError for an array holding NaN or Inf, with the first one's value (in `original`, the data
    before a cast, where a finite value may have become Inf) and place."""
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
    where = f"row {index[0]}" + (f", column {index[1]}" if len(index) == 2 else "") if len(index) <= 2 \
        else f"index {index}"
    value = (array if original is None else original)[index].item()
    if np.isfinite(value):
        return ValueError(f"{argument} has values too large for {array.dtype}: expected magnitudes up to "
                          f"{np.finfo(array.dtype).max:.4g}, got {value!r} at {where}")
    return ValueError(f"{argument} contains NaN or Inf values: expected finite numbers, got {value!r} at {where}")


def _all_finite(array, chunk_elements=1 << 20):
    """np.isfinite(array).all(): in the core for contiguous float arrays (one pass, no temporary), else over
    slices of rows, so checking a large x costs no copy of it."""
    if array.dtype.kind in "biu":
        return True
    if array.ndim == 0 or array.size == 0:
        return bool(np.isfinite(array).all())
    finite = _core_module.all_finite(array)
    if finite is not None:
        return finite
    rows = max(1, chunk_elements * len(array) // array.size)
    return all(np.isfinite(array[i:i + rows]).all() for i in range(0, len(array), rows))


# Batches up to this size skip the Python-side checks when they need no conversion (the core checks them).
_LEAN_PREDICT_ROWS = 256

# The most features per sample and weights a model may have: beyond any machine's memory, and far below where
# the C++ core's 64-bit size arithmetic could overflow.
_MAX_SIZE = 2**40


def _check_model_size(input_shape, layers, specs):
    """Refuses, before the C++ core allocates anything, a model too large to exist."""
    width = math.prod(input_shape)
    if width > _MAX_SIZE:
        raise ValueError(f"input shape {(None, *input_shape)}: {width} features per sample is more than densenn's "
                         f"limit of 2**40")
    total = 0
    for layer, spec in zip(layers, specs):
        out = spec.get("units") or width
        columns = spec.get("units", 0) * int(spec.get("options", {}).get("pieces", 1))  # Dense, Maxout
        total += (width + 1) * columns + 4 * width  # an upper bound on the layer's weights and statistics
        if total > _MAX_SIZE:
            raise ValueError(f"{type(layer).__name__} {layer.name!r}: {width} inputs and {out} outputs make the "
                             f"model larger than densenn's limit of 2**40 weights")
        width = out


class Sequential:
    """``Sequential([Input(shape=(784,)), Dense(100, activation='sigmoid'), Dense(10, activation='softmax')])``."""

    _defer_build = False  # from_config adds every layer, then builds once

    def __init__(self, layers=None, trainable=True, name=None):
        self.name = name or unique_name("sequential")
        self.trainable = trainable
        self._layers = []
        self._input_shape = None  # per-sample shape, e.g. (784,) or (28, 28), once known
        self._core = None
        self._core_layers = []  # the layers the current core was built for
        self._compile_args = None  # (optimizer, loss, metrics) as resolved by compile()
        self._optimizer_built = False  # Keras builds the optimizer's variables on the first training step
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None
        self._training_lock = threading.RLock()  # see _one_thread_at_a_time
        if layers is not None and not isinstance(layers, (list, tuple)):
            raise ValueError(f"Sequential: expected a list of layers, got {layers!r}")
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        return list(self._layers)

    @property
    def built(self):
        return self._core is not None

    @property
    def input_shape(self):
        return None if self._input_shape is None else (None, *self._input_shape)

    @property
    def output_shape(self):
        shapes = self._layer_output_shapes()
        return None if shapes is None else (None, *(shapes[-1] if shapes else self._input_shape))

    def add(self, layer):
        """Appends a layer (or sets the input with an ``Input``/``InputLayer``)."""
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("Sequential.add: an InputLayer can only be the first layer of the model.")
            self._input_shape = layer.shape
            if not self._defer_build:
                self._build()
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Sequential.add: expected a densenn layer, got {layer!r}")
        if layer._model is not None and layer._model is not self:
            raise ValueError(f"Sequential.add: layer {layer.name!r} already belongs to another model.")
        if layer._model is self:
            raise ValueError(f"Sequential.add: layer {layer.name!r} is already in this model.")
        if not self._defer_build and any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Sequential.add: all layers must have unique names; {layer.name!r} is taken.")
        previous_shape = self._input_shape
        first_shape = getattr(layer, "_input_shape", None)
        if first_shape is not None and not self._layers and self._input_shape is None:
            self._input_shape = first_shape
        self._layers.append(layer)
        layer._model = self
        if self._input_shape is not None and not self._defer_build:
            try:
                self._build()
            except ValueError:  # the layer does not fit: the model stays as it was
                self._layers.pop()
                layer._model = None
                self._input_shape = previous_shape
                raise

    def pop(self):
        if not self._layers:
            raise ValueError("Sequential.pop: there are no layers to remove.")
        layer = self._layers.pop()
        layer._model = None
        if self._input_shape is not None:
            self._build()
        return layer

    def build(self, input_shape=None):
        """Builds the model for inputs of shape (None, *sample_shape)."""
        if input_shape is not None:
            if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 2:
                raise ValueError(f"build: expected input_shape=(None, features), got {input_shape!r}")
            self._build_for(sample_shape(tuple(input_shape)[1:], "build input_shape"))
        elif self._input_shape is None:
            raise ValueError("build: the model has no input shape; pass input_shape=(None, features).")
        else:
            self._build()

    def _build_for(self, input_shape):
        """Builds for this per-sample input shape, or leaves the model as it was when the layers refuse it."""
        previous = self._input_shape
        self._input_shape = input_shape
        try:
            self._build()
        except ValueError:
            self._input_shape = previous
            raise

    def _layer_output_shapes(self):
        """Each layer's per-sample output shape (None until the input shape is known)."""
        if self._input_shape is None:
            return None
        shapes, shape = [], self._input_shape
        for layer in self._layers:
            shape = layer._output_shape(shape)
            shapes.append(shape)
        return shapes

    def _build(self):
        """(Re)creates the C++ model for the current layers, keeping the weights of layers it already had."""
        kept = {}
        if self._core is not None:  # the slices computed once: per layer, rebuilding a deep model was cubic
            kept = {id(layer): self._read_weights(slices)
                    for layer, slices in zip(self._core_layers, self._weight_slices())}
        specs, shape = [], self._input_shape
        for layer in self._layers:
            specs.append(layer._core_config(shape))
            shape = layer._output_shape(shape)
        _check_model_size(self._input_shape, self._layers, specs)
        module = module_for(max((spec.get("units", 0) for spec in specs), default=0))
        model_class = module.SequentialF64 if config.floatx() == "float64" else module.SequentialF32
        self._core = model_class(int(np.prod(self._input_shape)), specs, utils.next_seed())
        self._core_layers = list(self._layers)
        self._dtype = np.float64 if config.floatx() == "float64" else np.float32
        for layer, slices in zip(self._layers, self._weight_slices()):
            if kept.get(id(layer)):
                try:
                    self._write_weights(slices, kept[id(layer)], f"Layer {layer.name!r}")
                except ValueError:  # its input width changed: it keeps the fresh weights
                    pass
        if self._compile_args is not None:
            self._compile_core()

    def _ensure_built(self, x):
        if self._core is None:
            if not self._layers:
                raise ValueError("The model has no layers: add layers before training or predicting.")
            self._build_for(tuple(x.shape[1:]))

    # ------------------------------------------------------------------ weights
    def _weight_slices(self):
        """For each layer, its weights as (buffer, offset, shape): the trainable ones in the core's
        parameter buffer, then the non-trainable ones (moving statistics) in its state buffer."""
        offsets, slices = {"params": 0, "state": 0}, []
        for trainable, state in zip(self._core.weight_shapes(), self._core.state_shapes()):
            layer = []
            for buffer, shapes in (("params", trainable), ("state", state)):
                for shape in shapes:
                    layer.append((buffer, offsets[buffer], tuple(shape)))
                    offsets[buffer] += int(np.prod(shape))
            slices.append(layer)
        return slices

    def _read_weights(self, slices):
        """Copies, taken together under the core's lock: never half of one training step and half of another."""
        copies = self._core.read([(b, o, int(np.prod(s))) for b, o, s in slices])
        return [c.reshape(s) for c, (_, _, s) in zip(copies, slices)]

    def _write_weights(self, slices, weights, owner):
        arrays = self._checked_weights(weights, [s for _, _, s in slices], owner)  # all checked before any write
        # Written together under the core's lock: a fit in another thread waits, then goes on from them.
        self._core.write([(b, o, a.ravel()) for (b, o, _), a in zip(slices, arrays)])

    def _layer_weights(self, layer):
        return self._read_weights(self._weight_slices()[self._layers.index(layer)])

    def _set_layer_weights(self, layer, weights):
        self._write_weights(self._weight_slices()[self._layers.index(layer)], weights, f"Layer {layer.name!r}")

    def _checked_weights(self, weights, shapes, owner):
        """Validates a list of weight arrays against the expected shapes before anything is written."""
        if isinstance(weights, np.ndarray) or not hasattr(weights, "__len__"):
            raise ValueError(f"{owner}: set_weights expects a list of arrays, got {type(weights).__name__}")
        if len(weights) != len(shapes):
            raise ValueError(f"{owner}: expected {len(shapes)} weight arrays, got {len(weights)}.")
        arrays = []
        for i, (w, shape) in enumerate(zip(weights, shapes)):
            w = _numeric_array(w, f"{owner} weight {i}")
            if w.shape != shape:
                raise ValueError(f"{owner}: weight {i} has shape {w.shape}, expected shape {shape}.")
            arrays.append(_converted(w, self._dtype, f"{owner}: weight {i}"))
        return arrays

    def get_weights(self):
        """All weights, layer by layer (Dense: kernel (in, units), then bias (units,))."""
        if self._core is None:
            return []
        return self._read_weights([s for layer in self._weight_slices() for s in layer])

    def _weights_by_layer(self):
        """Each layer's weights, all read under one lock (one consistent set while another thread trains)."""
        slices = self._weight_slices()
        flat = iter(self._read_weights([s for layer in slices for s in layer]))
        return [[next(flat) for _ in layer] for layer in slices]

    def set_weights(self, weights):
        if self._core is None:
            raise ValueError("set_weights: the model is not built yet (give it an input shape first).")
        self._write_weights([s for layer in self._weight_slices() for s in layer], weights, "Sequential")

    def count_params(self):
        """All weights, trainable or not (as Keras counts them)."""
        if self._core is None:
            raise ValueError("count_params: the model is not built yet (give it an input shape first).")
        return int(self._core.params.size + self._core.state.size)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, weighted_metrics=None, **kwargs):
        """Configures training: ``compile(optimizer='sgd', loss='categorical_crossentropy', metrics=['accuracy'])``."""
        if kwargs:
            raise TypeError(f"compile: unsupported arguments {sorted(kwargs)}")
        if loss is None:
            raise ValueError("compile: pass a loss, e.g. loss='mse'.")
        optimizer = optimizers_module.get(optimizer)
        loss = losses_module.get(loss)
        loss.core_config()  # rejects now what the core cannot train (e.g. reduction='sum')
        metrics = metrics_module.compile_metrics(metrics, weighted_metrics)  # named as Keras logs them
        previous = self._compile_args
        self._compile_args = (optimizer, loss, metrics)
        if self._core is not None:
            try:
                self._compile_core()
            except ValueError:
                self._compile_args = previous
                raise
        self.optimizer, self.loss = optimizer, loss
        self.stop_training = False

    def _compile_core(self):
        optimizer, loss, metrics = self._compile_args
        if len(self.output_shape) != 2:
            raise ValueError(f"compile: densenn trains models whose output is (batch, outputs), this one's is "
                             f"{self.output_shape}: add a Flatten layer.")
        out = self._core.output_dim
        self._core.compile(loss.core_config(), optimizer.core_config(),
                           [m.core_config(out, loss.core_name) for m in metrics])
        optimizer._attach(self._core)
        self._optimizer_built = False

    @property
    def compiled(self):
        return self._compile_args is not None

    @property
    def metrics_names(self):
        if not self.compiled:
            return []
        return ["loss"] + [m.name for m in self._compile_args[2]]

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must call compile() before {what}.")

    # ------------------------------------------------------------------ data
    def _prepare_x(self, x, argument="x", need_rows=False):
        """x as a C-contiguous (n, features) array of the model's dtype (samples of a multi-dimensional
        input shape are flattened, as they lie in memory); builds an unbuilt model from its shape."""
        if x is None:
            raise ValueError(f"{argument}: expected an array of shape (n, features), got None")
        x = _numeric_array(x, argument)
        if self._input_shape is not None:
            expected = "(n, " + ", ".join(map(str, self._input_shape)) + ")"
            if x.ndim != len(self._input_shape) + 1:
                raise ValueError(f"{argument}: expected a {len(self._input_shape) + 1}-D array of shape {expected}, "
                                 f"got shape {x.shape}")
            if x.shape[1:] != self._input_shape:
                what = f"{self._input_shape[0]} features per sample" if len(self._input_shape) == 1 \
                    else f"samples of shape {self._input_shape}"
                raise ValueError(f"{argument}: the model expects {what} (input shape {self.input_shape}), "
                                 f"got an array of shape {x.shape}")
        elif x.ndim < 2:
            raise ValueError(f"{argument}: expected a 2-D array of shape (n, features), got shape {x.shape}")
        if x.ndim >= 2 and 0 in x.shape[1:]:
            raise ValueError(f"{argument}: expected at least one feature per sample, got shape {x.shape}")
        if need_rows and x.shape[0] == 0:
            raise ValueError(f"{argument}: expected at least one sample, got an empty array of shape {x.shape}")
        return _converted(x, self._dtype if self.built else config.floatx(), argument)

    def _flat(self, x):
        """The (n, features) view the core reads (no copy: x is C-contiguous)."""
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def _prepare_data(self, x, y, sample_weight, prefix="", class_weight=None):
        """Validated (x, y, sample_weight) for fit/evaluate; builds the model only once x and y agree on rows.
        A class_weight dict becomes per-sample weights (labels argmaxed when one-hot), as in Keras."""
        x = self._prepare_x(x, prefix + "x", need_rows=True)
        if y is None:
            raise ValueError(f"{prefix}y: targets are required for training and evaluation.")
        y = _numeric_array(y, prefix + "y")
        if y.ndim == 0 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{prefix}y: expected {x.shape[0]} rows (one per sample of {prefix}x), "
                             f"got shape {y.shape}")
        self._ensure_built(x)
        y = self._prepare_y(y, prefix + "y")
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
            sample_weight = self._class_sample_weights(y, class_weight, prefix + "y")
        return self._flat(x), y, self._prepare_weights(sample_weight, x.shape[0], prefix + "sample_weight")

    def _class_sample_weights(self, y, class_weight, y_argument):
        """class_weight {class: weight} as per-sample weights, as Keras does: a row's class is the argmax of its
        one-hot (or probability) target, or its integer label; classes missing from the dict weigh 1."""
        if not isinstance(class_weight, dict):
            raise ValueError(f"class_weight: expected a dict mapping class indices to weights, got {class_weight!r}")
        out = self._core.output_dim
        classes = max(out, 2)  # a one-output model tells two classes apart
        for cls, weight in class_weight.items():
            if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)) or not 0 <= cls < classes:
                raise ValueError(f"class_weight: expected class indices in [0, {classes}) as keys (the model has "
                                 f"{out} output{'s' if out > 1 else ''}), got the key {cls!r}")
            if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(weight) or weight < 0:
                raise ValueError(f"class_weight: the weight of class {cls} must be a finite number >= 0, "
                                 f"got {weight!r}")
        if y.shape[1] > 1:
            labels = np.argmax(y, axis=1)
        else:
            labels = y[:, 0]
            fractional = np.mod(labels, 1) != 0
            if fractional.any():
                i = int(np.argmax(fractional))
                raise ValueError(f"class_weight: expected class labels (integers) or one-hot rows in {y_argument}, "
                                 f"got {labels[i].item()!r} at row {i}")
        weights = np.ones(len(y))
        for cls, weight in class_weight.items():
            weights[labels == cls] = weight
        return weights

    @staticmethod
    def _validation_schedule(validation_freq):
        """Which epochs (0-based) validate: every validation_freq-th, or those listed (1-based), as Keras."""
        if isinstance(validation_freq, (int, np.integer)) and not isinstance(validation_freq, bool) \
                and validation_freq >= 1:
            return lambda epoch: (epoch + 1) % int(validation_freq) == 0
        if isinstance(validation_freq, (list, tuple)) and all(
                isinstance(e, (int, np.integer)) and not isinstance(e, bool) and e >= 1 for e in validation_freq):
            listed = {int(e) for e in validation_freq}
            return lambda epoch: epoch + 1 in listed
        raise ValueError(f"validation_freq: expected a positive integer or a list of epochs (counted from 1), "
                         f"got {validation_freq!r}")

    def _prepare_y(self, y, argument):
        rows, out = y.shape[0], self._core.output_dim
        loss = self._compile_args[1].core_name
        if not _all_finite(y):
            raise _nonfinite_error(y, argument)
        if loss == "sparse_categorical_crossentropy":
            if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
                raise ValueError(
                    f"{argument}: sparse_categorical_crossentropy expects integer labels of shape (n,) or (n, 1), "
                    f"got shape {y.shape}"
                )
            y = y.reshape(rows, 1)
            bad = ~((y >= 0) & (y < out) & (np.mod(y, 1) == 0))
            if bad.any():
                i = int(np.argmax(bad.ravel()))
                raise ValueError(
                    f"{argument}: labels must be integers in [0, {out}) for a model with {out} outputs; "
                    f"got {y.ravel()[i].item()!r} at row {i}"
                )
        else:
            if y.ndim == 1 and out == 1:
                y = y.reshape(rows, 1)
            if y.ndim != 2 or y.shape[1] != out:
                hint = " (integer labels? use sparse_categorical_crossentropy or utils.to_categorical)" \
                    if y.ndim == 1 else ""
                raise ValueError(
                    f"{argument}: expected shape ({rows}, {out}) to match the model's output {self.output_shape}, "
                    f"got {y.shape}{hint}"
                )
        return _converted(y, self._dtype, argument, copy=True)  # a copy: the caller may change theirs during fit

    def _prepare_weights(self, sample_weight, rows, argument="sample_weight"):
        if sample_weight is None:
            return None
        w = _numeric_array(sample_weight, argument)
        if w.shape != (rows,):
            raise ValueError(f"{argument}: expected shape ({rows},), got {w.shape}")
        with np.errstate(over="ignore"):
            converted = np.array(w, dtype=self._dtype, order="C", copy=True)  # the caller may change theirs
        bad = ~np.isfinite(converted) | (converted < 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{argument}: expected finite weights >= 0, got {w[i].item()!r} at row {i}")
        return converted

    # ------------------------------------------------------------------ loops
    def _logs(self, data_pass, prefix=""):
        logs = {prefix + "loss": float(data_pass.loss)}
        for metric, value in zip(self._compile_args[2], data_pass.metrics):
            logs[prefix + metric.name] = float(value)
        return dict(sorted(logs.items()))  # Keras orders the logs by name

    def _run_pass(self, data_pass, progress, callbacks, mode):
        """Runs a pass to its end, returning to Python between C++ slices
        (or after every batch when a callback asks for batch hooks)."""
        per_batch = callbacks.wants_batches(mode)
        begin, end = f"on_{mode}_batch_begin", f"on_{mode}_batch_end"
        progress.start(data_pass.steps)
        while not data_pass.done:
            if per_batch:
                step = data_pass.steps_done
                getattr(callbacks, begin)(step, {})
                data_pass.run(1)
                getattr(callbacks, end)(step, self._logs(data_pass))
            else:
                data_pass.run(data_pass.steps, _SLICE_SECONDS)
            progress.update(data_pass.steps_done, self._logs(data_pass), finalize=data_pass.done)
            if per_batch and self.stop_training and mode == "train":
                break
        return self._logs(data_pass)

    @_one_thread_at_a_time
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            validation_batch_size=None, validation_freq=1):
        """Trains the model; returns a History whose ``history`` maps 'loss', metrics and 'val_*' to lists."""
        self._require_compiled("fit()")
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        validation_batch_size = batch_size if validation_batch_size is None \
            else _positive_int(validation_batch_size, "validation_batch_size")
        epochs = _positive_int(epochs, "epochs", allow_zero=True)
        initial_epoch = _positive_int(initial_epoch, "initial_epoch", allow_zero=True)
        verbose = self._verbose(verbose)
        if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.floating)) \
                or not 0 <= validation_split < 1:
            raise ValueError(f"validation_split: expected a number in [0, 1), got {validation_split!r}")
        validates = self._validation_schedule(validation_freq)
        callbacks = self._callback_list(callbacks)
        x, y, w = self._prepare_data(x, y, sample_weight, class_weight=class_weight)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data: expected (x_val, y_val) or (x_val, y_val, sample_weight_val)")
            val = self._prepare_data(validation_data[0], validation_data[1],
                                     validation_data[2] if len(validation_data) == 3 else None, "validation_data ")
        elif validation_split > 0:
            # Keras takes the last fraction of the data, before any shuffling.
            split = int(x.shape[0] * (1 - validation_split))
            if split == 0 or split == x.shape[0]:
                raise ValueError(
                    f"validation_split={validation_split} leaves no training or no validation samples "
                    f"out of {x.shape[0]}"
                )
            val = (x[split:], y[split:], None if w is None else w[split:])
            x, y, w = x[:split], y[:split], None if w is None else w[:split]
        if not isinstance(shuffle, (bool, np.bool_)):
            raise ValueError(f"shuffle: expected True or False, got {shuffle!r}")

        batch_size = min(batch_size, x.shape[0])  # also keeps huge values within C++'s range
        history = History()
        steps = -(-x.shape[0] // batch_size)
        params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        cbs = CallbackList([*callbacks, history], self, params)  # History last, as Keras: it sees what others add
        progress = ProgbarLogger(verbose, epochs)
        self.stop_training = False
        cbs.on_train_begin({})
        logs = {}
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch, {})
            progress.epoch_begin(epoch)
            data_pass = self._core.data_pass(x, y, w, batch_size, training=True, shuffle=bool(shuffle),
                                             learning_rates=self.optimizer._learning_rates(steps))
            # The bar's final update waits for validation, so it shows val_* too (as Keras does).
            bar = _DeferredFinal(progress)
            logs = self._run_pass(data_pass, bar, cbs, "train")
            self._optimizer_built = True
            if val is not None and validates(epoch):  # as Keras' fit, an evaluate() with the test hooks
                vpass = self._core.data_pass(*val, min(validation_batch_size, len(val[0])), training=False,
                                             shuffle=False)
                cbs.on_test_begin({})
                val_logs = self._run_pass(vpass, _Silent(), cbs, "test")
                cbs.on_test_end(val_logs)
                logs = dict(sorted({**logs, **{"val_" + k: v for k, v in val_logs.items()}}.items()))
            cbs.on_epoch_end(epoch, logs)  # may add to logs (learning_rate), shown by the bar as in Keras
            bar.finish(data_pass.steps, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        self.history = history
        return history

    @_one_thread_at_a_time
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, callbacks=None,
                 return_dict=False):
        """The loss (and metrics) on (x, y): a float, or [loss, *metrics], or a dict with return_dict=True."""
        self._require_compiled("evaluate()")
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        verbose = self._verbose(verbose)
        callbacks = self._callback_list(callbacks)
        x, y, w = self._prepare_data(x, y, sample_weight)
        batch_size = min(batch_size, x.shape[0])
        cbs = CallbackList(callbacks, self, {"verbose": verbose, "steps": -(-x.shape[0] // batch_size)})
        cbs.on_test_begin({})
        data_pass = self._core.data_pass(x, y, w, batch_size, training=False, shuffle=False)
        logs = self._run_pass(data_pass, ProgbarLogger(verbose), cbs, "test")
        cbs.on_test_end(logs)
        return self._result(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", callbacks=None):
        """Model outputs for x, as a float32 (or floatx) array of shape (n, outputs)."""
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        verbose = self._verbose(verbose)
        if not verbose and callbacks is None:
            out = self._predict_ready(x, batch_size)
            if out is not None:
                return out
        x = self._prepare_x(x)
        self._ensure_built(x)
        x = self._flat(x)
        batch_size = min(batch_size, max(1, x.shape[0]))
        steps = -(-x.shape[0] // batch_size)
        cbs = CallbackList(self._callback_list(callbacks), self, {"verbose": verbose, "steps": steps})
        cbs.on_predict_begin({})
        if cbs.wants_batches("predict"):  # batch by batch, so the hooks see each batch's outputs
            parts = []
            for step in range(steps):
                cbs.on_predict_batch_begin(step, {})
                parts.append(self._core.predict(x[step * batch_size:(step + 1) * batch_size]))
                cbs.on_predict_batch_end(step, {"outputs": parts[-1]})
            out = np.concatenate(parts) if parts else self._core.predict(x)
        else:
            out = self._core.predict(x)
        cbs.on_predict_end({})
        out = out.reshape(len(out), *self.output_shape[1:])
        if verbose:
            progress = ProgbarLogger(verbose)
            progress.start(max(1, steps))
            progress.update(max(1, steps), {}, finalize=True)
        return out

    @_one_thread_at_a_time
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on (x, y) as a single batch; returns that batch's loss (and metrics).
        (Keras 3 keeps accumulating metrics across calls until reset_metrics(); densenn reports the batch.)"""
        return self._one_batch(x, y, sample_weight, class_weight, return_dict, training=True)

    @_one_thread_at_a_time
    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metrics) of (x, y) as a single batch, without training."""
        return self._one_batch(x, y, sample_weight, None, return_dict, training=False)

    def _one_batch(self, x, y, sample_weight, class_weight, return_dict, training):
        self._require_compiled("train_on_batch()" if training else "test_on_batch()")
        x, y, w = self._prepare_data(x, y, sample_weight, class_weight=class_weight)
        rates = self.optimizer._learning_rates(1) if training else []  # a schedule's value at this step
        data_pass = self._core.data_pass(x, y, w, x.shape[0], training=training, shuffle=False,
                                         learning_rates=rates)
        data_pass.run(1)
        self._optimizer_built = self._optimizer_built or training
        return self._result(self._logs(data_pass), return_dict)

    def _result(self, logs, return_dict):
        """evaluate()'s return value: the logs, or the loss alone, or [loss, *metrics] in compile order."""
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[m.name] for m in self._compile_args[2]]
        return values[0] if len(values) == 1 else values

    def export(self, filepath, format=None, opset=17, **kwargs):
        """Writes the model for other runtimes: ``export('m.onnx', format='onnx')`` (ONNX opset 13-17, batch
        dimension symbolic; needs the `onnx` package). Keras' other formats (TF SavedModel, ...) do not apply."""
        if kwargs:
            raise TypeError(f"export: unsupported arguments {sorted(kwargs)}")
        if format is None and str(filepath).endswith(".onnx"):
            format = "onnx"
        if format != "onnx":
            raise ValueError(f"export: densenn exports format='onnx' only, got format={format!r}")
        from .onnx_export import export_onnx
        export_onnx(self, filepath, opset=opset)

    def __call__(self, x, training=False):
        """``model(x)``: the outputs for one batch, as a NumPy array (inference mode)."""
        return self.predict_on_batch(x)

    def predict_on_batch(self, x):
        out = self._predict_ready(x, _LEAN_PREDICT_ROWS)
        if out is not None:
            return out
        x = self._prepare_x(x)
        self._ensure_built(x)
        x = self._flat(x)
        return self._core.predict(x).reshape(len(x), *self.output_shape[1:])

    def _predict_ready(self, x, max_rows):
        """The outputs for one batch of at most max_rows rows that needs no conversion or reshaping, straight from
        the core (a few microseconds); None for anything else, which the full path converts and validates."""
        if self._core is None or len(self._input_shape) != 1:
            return None
        return self._core.predict_ready(x, min(max_rows, _LEAN_PREDICT_ROWS))

    @staticmethod
    def _callback_list(callbacks):
        from .callbacks import Callback
        if callbacks is None:
            return []
        if isinstance(callbacks, Callback):
            return [callbacks]
        if isinstance(callbacks, (list, tuple)):
            return list(callbacks)
        raise ValueError(f"callbacks: expected a list of Callback objects, got {callbacks!r}")

    @staticmethod
    def _verbose(verbose):
        if verbose == "auto":
            return 1
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(f"verbose: expected 'auto', 0, 1 or 2, got {verbose!r}")
        return int(verbose)

    # ------------------------------------------------------------------ summary
    def summary(self, line_length=None, print_fn=None):
        """Prints the model's layers, output shapes and parameter counts exactly as Keras 3 does."""
        if line_length is not None:
            _positive_int(line_length, "line_length")
        if print_fn is not None and not callable(print_fn):
            raise ValueError(f"print_fn: expected a function such as print, got {print_fn!r}")
        shapes = self._layer_output_shapes()
        counts = None
        if self._core is not None:
            counts = [sum(int(np.prod(s)) for s in trainable + state)
                      for trainable, state in zip(self._core.weight_shapes(), self._core.state_shapes())]
        rows = []
        for i, layer in enumerate(self._layers):
            shape = (None, *shapes[i]) if shapes is not None else None
            params = format_count(counts[i]) if counts is not None else "0 (unbuilt)"
            rows.append((layer.name, type(layer).__name__, format_shape(shape), params))
        trainable = int(self._core.params.size) if self._core is not None else 0
        non_trainable = int(self._core.state.size) if self._core is not None else 0
        optimizer_params = None
        if self._core is not None and self.compiled and self._optimizer_built:
            # Keras counts the optimizer's variables: its state, iterations, and learning_rate unless a schedule
            # gives it.
            scheduled = callable(self.optimizer._learning_rate)
            optimizer_params = int(self._core.optimizer_state.size) + (1 if scheduled else 2)
        text = format_summary(
            self.name, rows, trainable + non_trainable + (optimizer_params or 0), trainable, non_trainable,
            optimizer_params=optimizer_params, line_length=line_length or default_line_length(),
        )
        (print_fn or print)(text)

    def get_config(self):
        """The architecture as Keras 3 describes a Sequential model (an InputLayer first when the input
        shape is known)."""
        from .layers import serialize
        layers = [serialize(layer) for layer in self._layers]
        if self._input_shape is not None:
            layers.insert(0, serialize(InputLayer(batch_shape=(None, *self._input_shape), name="input_layer")))
        config = {"name": self.name, "trainable": self.trainable, "layers": layers}
        if self._input_shape is not None:
            config["build_input_shape"] = [None, *self._input_shape]
        return config

    @classmethod
    def from_config(cls, config):
        """A new (untrained) model with the architecture `config` describes."""
        model = cls._unbuilt_from_config(config)
        if model._input_shape is not None:
            model._build()
        return model

    @classmethod
    def _unbuilt_from_config(cls, config):
        """from_config's model with its layers and input shape, its core not built yet (so that it is built
        once, not after each layer, and so that loading can check what it describes before allocating)."""
        from .layers import deserialize
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("Sequential.from_config: expected a dict with a 'layers' list")
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        model._defer_build = True
        for layer_config in config["layers"]:
            model.add(deserialize(layer_config))
        del model._defer_build
        names = [layer.name for layer in model._layers]  # add's check of each name, once for all (linear time)
        if len(set(names)) != len(names):
            taken = next(name for name in names if names.count(name) > 1)
            raise ValueError(f"Sequential.add: all layers must have unique names; {taken!r} is taken.")
        if model._input_shape is None and config.get("build_input_shape"):
            model._input_shape = sample_shape(tuple(config["build_input_shape"])[1:], "build input_shape")
        return model

    def to_json(self, **kwargs):
        """The architecture as JSON, in Keras' layout (``models.model_from_json`` reads it back)."""
        return json.dumps({"module": "keras", "class_name": "Sequential", "config": self.get_config(),
                           "registered_name": None}, **kwargs)

    # ------------------------------------------------------------------ saving (densenn/saving.py)
    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Saves architecture, weights and (include_optimizer) the compile configuration and optimizer state
        to a '.dnn' file (densenn's native format, readable from C/C++); atomic."""
        from . import saving
        saving.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        """Saves the weights (and moving statistics) to a '.dnn' file."""
        from . import saving
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath):
        """Loads weights saved by save_weights (or save) into this model; shapes must match."""
        from . import saving
        saving.load_weights(self, filepath)

    def __repr__(self):
        return f"<Sequential name={self.name}, built={self.built}>"


class _Silent:
    def start(self, steps): pass
    def update(self, step, logs, finalize=False): pass


class _DeferredFinal:
    """Forwards live updates but holds the epoch's final line until validation is done."""

    def __init__(self, progress):
        self._progress = progress

    def start(self, steps):
        self._progress.start(steps)

    def update(self, step, logs, finalize=False):
        if not finalize:
            self._progress.update(step, logs)

    def finish(self, steps, logs):
        self._progress.update(steps, logs, finalize=True)


def load_model(filepath, compile=True, custom_objects=None, safe_mode=True):
    """A model saved by ``model.save``: from a '.dnn' file (densenn's native format), or from a Keras
    '.keras'/'.h5' file where this densenn reads them. With compile=True the model comes back compiled,
    with its optimizer's state, so that fit() continues exactly where it stopped."""
    from . import saving
    return saving.load_model(filepath, compile=compile, custom_objects=custom_objects, safe_mode=safe_mode)


def model_from_json(json_string):
    """The (untrained) model a ``to_json()`` string describes."""
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model_from_json: not valid JSON ({e})") from None
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        raise ValueError("model_from_json: densenn reads Sequential models only")
    return Sequential.from_config(config.get("config", {}))
