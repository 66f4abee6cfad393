"""Layers, as in ``keras.layers``. A layer describes itself; its weights live
in the C++ core of the model it belongs to (one flat buffer per model). Calling a layer on an array computes
its output in the C++ core; calling it on a symbolic tensor (``Input()``'s) links a functional chain."""
import itertools
import warnings

import numpy as np

from . import config, initializers, regularizers
from ._core import core
from ._naming import to_snake_case
from .data_adapter import flag, number, positive_count

__all__ = ["Layer", "InputLayer", "Input", "Dense", "Activation", "LeakyReLU", "ELU", "ReLU", "Softmax", "Flatten",
           "Dropout", "BatchNormalization", "Maxout", "KerasTensor", "Variable"]

_name_counters = {}


def unique_name(base):
    """Keras' default names: dense, dense_1, dense_2, ... per base name and session."""
    counter = _name_counters.setdefault(base, itertools.count())
    k = next(counter)
    return base if k == 0 else f"{base}_{k}"


def reset_names():
    """Starts every default name from its base again (``backend.clear_session``)."""
    _name_counters.clear()


class ActivationFunction(str):
    """A layer's ``activation``: the name the user gave (it compares, hashes and serialises as that string) and
    a function of arrays, computed in the C++ core, whose ``__name__`` is Keras' (``swish`` is ``silu``)."""

    _KERAS_NAMES = {"swish": "silu", "hard_swish": "hard_silu"}

    def __new__(cls, name):
        function = super().__new__(cls, name)
        function.__name__ = cls._KERAS_NAMES.get(name, name)
        return function

    def __call__(self, x):
        """The activation of every value of x (softmax and log_softmax over the last axis), as floatx."""
        x = np.asarray(x)
        rows = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
        from .sequential import call_on_array  # the sequential module imports this one
        return call_on_array(Activation(str(self), name=self.__name__), rows).reshape(x.shape)


def check_activation(activation, where):
    """Validates an activation name (None means linear) and returns it as an ActivationFunction."""
    if activation is None:
        return ActivationFunction("linear")
    valid = core.activation_names()
    if not isinstance(activation, str) or activation not in valid:
        raise ValueError(f"{where}: unknown activation {activation!r}. Valid activations: {', '.join(valid)}.")
    return ActivationFunction(str(activation))


def sample_shape(shape, argument):
    """Validates a per-sample input shape such as (784,) or (28, 28) and returns it as a tuple."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"{argument}: expected a shape tuple such as (784,), got {shape!r}") from None
    if not shape or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0 for d in shape):
        raise ValueError(
            f"{argument}: expected a shape of positive sizes such as (features,) or (28, 28), got {shape!r}"
        )
    return tuple(int(d) for d in shape)


def _flat_features(shape, layer):
    """The width of a layer's input, which must be (features,): densenn's layers see 2-D batches."""
    if len(shape) != 1:
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r} expects inputs of shape (batch, features), got "
            f"(None, {', '.join(map(str, shape))}): add a Flatten layer before it. (Keras would apply the layer "
            "to the last axis; densenn models are dense, on 2-D batches.)"
        )
    return shape[0]


class KerasTensor:
    """A symbolic tensor, as ``Input()`` and layers called on one return it: a shape ``(None, *features)`` and
    the layer call that made it, no values. A functional ``Model`` runs the chain of calls between two of them."""

    def __init__(self, shape, layer, inbound):
        self.shape = tuple(shape)
        self.dtype = config.floatx()
        self.name = unique_name("keras_tensor")
        self._history = (layer, inbound)  # the layer that made it, and that layer's input (None for an Input)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"KerasTensor {self.name!r} is symbolic: it holds no values. Make a "
                        "Model(inputs=..., outputs=...) and call its predict() to compute them.")

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, ragged=False, name={self.name}>"


class Variable:
    """One weight of a layer, as Keras' ``model.weights`` lists them; ``numpy()`` reads its current value from
    the C++ core that holds it (so it follows training)."""

    def __init__(self, layer, index, name, shape, trainable):
        self._layer, self._index = layer, index
        self.name, self.shape, self.trainable = name, tuple(shape), trainable
        self.path = f"{layer.name}/{name}"

    def numpy(self):
        return self._layer.get_weights()[self._index]

    @property
    def value(self):
        return self.numpy()

    @property
    def dtype(self):
        return self._layer._model._dtype.__name__

    def assign(self, value):
        weights = self._layer.get_weights()
        weights[self._index] = value
        self._layer.set_weights(weights)

    def __array__(self, dtype=None, copy=None):
        return self.numpy() if dtype is None else self.numpy().astype(dtype)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, value={self.numpy()}>"


class Layer:
    """Base class: a name, access to the weights once the layer is in a built model, and calls on arrays or on
    symbolic tensors."""

    def __init__(self, name=None, trainable=True, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._model = None  # the model whose C++ core holds this layer's weights
        self._input_tensor = self._output_tensor = None  # of its first call on a symbolic tensor
        self.trainable = trainable

    @property
    def trainable(self):
        """Whether fit() updates the layer's weights (False: frozen, and a BatchNormalization runs in inference
        mode). As in Keras 3, a change takes effect when the model is next compiled."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = flag(value, f"{type(self).__name__} {self.name!r}: trainable")

    def _core_config(self, input_shape):
        """The C++ core's description of this layer for inputs of this per-sample shape."""
        raise NotImplementedError(f"{type(self).__name__} has no C++ counterpart")

    def _output_shape(self, input_shape):
        """Per-sample output shape for a per-sample input shape (elementwise layers keep it)."""
        return input_shape

    def _weight_names(self):
        """(name, trainable) of each of the layer's weights, in get_weights' order (Keras' variable names)."""
        return []

    # ------------------------------------------------------------------ calls
    def __call__(self, inputs, training=None):
        """On an array: the layer's output for it, computed in the C++ core (the first call builds the weights,
        as Keras does). On a symbolic tensor: the tensor of the layer's output, for a functional Model."""
        if training:
            raise ValueError(f"Layer {self.name!r}: densenn computes a layer called directly in inference mode, "
                             f"got training={training!r} (fit() trains with dropout and batch statistics).")
        if isinstance(inputs, KerasTensor):
            return self._call_symbolic(inputs)
        if isinstance(inputs, (list, tuple)) and any(isinstance(t, KerasTensor) for t in inputs):
            raise ValueError(f"Layer {self.name!r}: expected one input tensor, got {len(inputs)}. densenn runs "
                             "chains of layers, one input each (it has no merge layers such as Concatenate).")
        from .sequential import call_on_array  # the sequential module imports this one
        return call_on_array(self, inputs)

    def _call_symbolic(self, tensor):
        shape = tensor.shape[1:]
        self._check_input_shape(shape)
        self._core_config(shape)  # refuses what the layer cannot take, e.g. Dense on (None, 28, 28)
        output = KerasTensor((None, *self._output_shape(shape)), self, tensor)
        if self._output_tensor is None:  # Keras' layer.input/layer.output are those of the first call
            self._input_tensor, self._output_tensor = tensor, output
        return output

    def _check_input_shape(self, shape):
        """Refuses inputs of another shape than the one the layer's weights were built for (as Keras)."""
        built_for = self._model._layer_input_shape(self) if self.built and self._weight_names() else None
        if built_for is not None and tuple(shape) != built_for:
            raise ValueError(f"Input of layer {self.name!r} is incompatible with the layer: its weights were built "
                             f"for inputs of shape {(None, *built_for)}, got {(None, *shape)}.")

    def _first_call(self, index, what):
        model = self._model
        if self._output_tensor is None and model is not None and model.built and not model._holds_called_layer:
            model._symbolic_tensors()  # a Sequential calls its layers on its input tensor when asked
        if self._output_tensor is None:
            raise AttributeError(f"The layer {self.name} has never been called and thus has no defined {what}.")
        return (self._input_tensor, self._output_tensor)[index]

    @property
    def input(self):
        return self._first_call(0, "input")

    @property
    def output(self):
        return self._first_call(1, "output")

    # ------------------------------------------------------------------ weights
    @property
    def built(self):
        return self._model is not None and self._model.built

    @property
    def output_shape(self):
        if self.built:
            return (None, *self._model._layer_output_shapes()[self._model._layers.index(self)])
        if self._output_tensor is not None:
            return self._output_tensor.shape
        raise AttributeError(f"Layer {self.name!r} has no defined output shape yet (the model is not built).")

    def get_weights(self):
        return self._model._layer_weights(self) if self.built else []

    def set_weights(self, weights):
        if not self.built:
            raise ValueError(f"Layer {self.name!r} is not built yet: it has no weights to set.")
        self._model._set_layer_weights(self, weights)

    @property
    def weights(self):
        """The layer's weights as Variables (``.numpy()``, ``.shape``, ``.name``), in get_weights' order."""
        if not self.built:
            return []
        shapes = self._model._layer_weight_shapes(self)
        return [Variable(self, i, name, shape, trainable)
                for i, ((name, trainable), shape) in enumerate(zip(self._weight_names(), shapes))]

    @property
    def trainable_weights(self):
        return [w for w in self.weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self):
        return [w for w in self.weights if not w.trainable] if self.trainable else self.weights

    def count_params(self):
        return sum(int(w.size) for w in self.get_weights())

    def get_config(self):
        """The layer's arguments, as Keras writes them (nested objects as Keras serializes them)."""
        return {"name": self.name, "trainable": self.trainable, "dtype": "float32"}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("dtype", None)  # densenn's precision is a model-wide setting (config.set_floatx)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class InputLayer(Layer):
    """The model's input: ``InputLayer(shape=(784,))``, or ``batch_shape=(None, 784)``."""

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, **kwargs):
        if "input_shape" in kwargs:  # Keras 2 spelling
            shape = kwargs.pop("input_shape")
        super().__init__(name=name or unique_name("input_layer"), **kwargs)
        if batch_shape is not None:
            batch_shape = tuple(batch_shape)
            if len(batch_shape) < 2:
                raise ValueError(f"InputLayer: batch_shape must be (batch, *features), got {batch_shape!r}")
            shape = batch_shape[1:]
        if shape is None:
            raise ValueError("InputLayer: pass shape=(features,) (or batch_shape=(None, features)).")
        self.shape = sample_shape(shape, "InputLayer shape")
        self.batch_size = batch_size
        self._output_tensor = KerasTensor((batch_size, *self.shape), self, None)  # what Input() returns

    def __call__(self, inputs, training=None):
        raise TypeError(f"InputLayer {self.name!r} is not called: Input(shape=...) gives a model's input tensor.")

    def get_config(self):
        return {"batch_shape": [self.batch_size, *self.shape], "dtype": "float32", "sparse": False,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("sparse", "ragged", "trainable"):
            if config.pop(key, False) and key != "trainable":
                raise ValueError(f"InputLayer: {key} inputs are not supported.")
        return cls(**config)


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None):
    """``Input(shape=(4,))``: the symbolic input tensor of a functional model, or the first item of a Sequential
    one, as in Keras."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name).output


def _input_shape_argument(layer, input_shape, input_dim, batch_input_shape):
    """Keras 2 ways of giving the model's input shape on its first layer, still found in course code."""
    shape = None
    if batch_input_shape is not None:
        shape = sample_shape(tuple(batch_input_shape)[1:], f"{type(layer).__name__} batch_input_shape")
    elif input_shape is not None:
        shape = sample_shape(input_shape, f"{type(layer).__name__} input_shape")
    elif input_dim is not None:
        shape = sample_shape((input_dim,), f"{type(layer).__name__} input_dim")
    if input_shape is not None or input_dim is not None:
        warnings.warn(
            "Do not pass an `input_shape`/`input_dim` argument to a layer. When using Sequential models, "
            "prefer using an `Input(shape)` object as the first layer in the model instead.",
            UserWarning,
            stacklevel=3,
        )
    return shape


class Dense(Layer):
    """``activation(x @ kernel + bias)``, kernel (in, units)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, input_shape=None, input_dim=None,
                 batch_input_shape=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.units = positive_count(units, "units", "Dense")
        self.activation = check_activation(activation, "Dense")
        self.use_bias = flag(use_bias, "Dense: use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        if kernel_constraint is not None or bias_constraint is not None:
            raise ValueError("Dense: weight constraints (kernel_constraint, bias_constraint) are not supported.")
        self._input_shape = _input_shape_argument(self, input_shape, input_dim, batch_input_shape)

    def _core_config(self, input_shape):
        _flat_features(input_shape, self)
        options, choices = {}, {}
        for key in ("kernel_initializer", "bias_initializer"):
            named, numeric = getattr(self, key).core_options(key)
            choices.update(named)
            options.update(numeric)
        for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
            if getattr(self, key) is not None:
                options.update(getattr(self, key).core_options(key))
        return {"type": "dense", "units": self.units, "activation": str(self.activation), "use_bias": self.use_bias,
                "options": options, "choices": choices}

    def _output_shape(self, input_shape):
        return (self.units,)

    def _weight_names(self):
        return [("kernel", True), ("bias", True)][:1 + self.use_bias]

    @property
    def kernel(self):
        return self.get_weights()[0] if self.built else None

    @property
    def bias(self):
        return self.get_weights()[1] if self.built and self.use_bias else None

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": str(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": None, "bias_constraint": None}


class Activation(Layer):
    """Applies an activation function: ``Activation('softmax')``."""

    def __init__(self, activation, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.activation = check_activation(activation, "Activation")

    def _core_config(self, input_shape):
        return {"type": "activation", "activation": str(self.activation)}

    def get_config(self):
        return {**super().get_config(), "activation": str(self.activation)}


class LeakyReLU(Layer):
    """``x`` for x > 0, ``negative_slope * x`` otherwise (the layer's default slope is 0.3)."""

    def __init__(self, negative_slope=0.3, name=None, **kwargs):
        if "alpha" in kwargs:  # Keras 2 spelling
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.", DeprecationWarning,
                          stacklevel=2)
            negative_slope = kwargs.pop("alpha")
        super().__init__(name=name, **kwargs)
        self.negative_slope = number(negative_slope, "LeakyReLU negative_slope", low=0.0)

    def _core_config(self, input_shape):
        return {"type": "activation", "activation": "leaky_relu", "options": {"alpha": self.negative_slope}}

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha=1.0, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        # >= 0: densenn takes the derivative from the output, whose sign must tell the branches apart.
        self.alpha = number(alpha, "ELU alpha", low=0.0)

    def _core_config(self, input_shape):
        return {"type": "activation", "activation": "elu", "options": {"alpha": self.alpha}}

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class ReLU(Layer):
    """``max_value`` above it, ``x`` from ``threshold`` up, ``negative_slope * (x - threshold)`` below."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.max_value = None if max_value is None else number(max_value, "ReLU max_value", low=0.0)
        self.negative_slope = number(negative_slope, "ReLU negative_slope", low=0.0)
        self.threshold = number(threshold, "ReLU threshold", low=0.0)  # Keras refuses negative thresholds too

    def _core_config(self, input_shape):
        options = {"alpha": self.negative_slope, "threshold": self.threshold}
        if self.max_value is not None:
            options["max_value"] = self.max_value
        return {"type": "activation", "activation": "relu", "options": options}

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class Softmax(Layer):
    """Softmax over the features (``axis=-1``)."""

    def __init__(self, axis=-1, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if axis not in (-1, 1):
            raise ValueError(f"Softmax: densenn applies softmax over the features (axis=-1 or 1), got axis={axis!r}")
        self.axis = axis

    def _core_config(self, input_shape):
        _flat_features(input_shape, self)
        return {"type": "activation", "activation": "softmax"}

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Flatten(Layer):
    """Flattens each sample: (None, 28, 28) -> (None, 784)."""

    def __init__(self, data_format=None, input_shape=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._input_shape = _input_shape_argument(self, input_shape, None, None)

    def _core_config(self, input_shape):  # row-major samples are already flat in memory
        return {"type": "activation", "activation": "linear"}

    def get_config(self):
        return {**super().get_config(), "data_format": None}

    def _output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)


class Dropout(Layer):
    """Inverted dropout: in training, zeroes each input with probability ``rate`` and scales the rest by
    ``1 / (1 - rate)``; does nothing in evaluation and prediction."""

    def __init__(self, rate, noise_shape=None, seed=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.rate = number(rate, "Dropout rate", low=0.0, high=1.0, high_open=True)
        if noise_shape is not None:
            raise ValueError("Dropout: noise_shape is not supported (densenn drops each value independently).")
        self.seed = initializers.check_seed(seed, "Dropout")

    def _core_config(self, input_shape):
        seed = {} if self.seed is None else {"seed": str(self.seed)}  # text: exact to 64 bits
        return {"type": "dropout", "options": {"rate": self.rate}, "choices": seed}

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class BatchNormalization(Layer):
    """Normalizes each feature with the batch's mean and (biased) variance in training, and with moving
    averages of them (``moving = moving * momentum + batch * (1 - momentum)``) in inference; then
    ``gamma * x_hat + beta``. Weights: gamma, beta, moving_mean, moving_variance (the last two not trained)."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if axis not in (-1, 1):
            raise ValueError(f"BatchNormalization: densenn normalizes the features (axis=-1 or 1), got {axis!r}")
        self.axis = axis
        self.momentum = number(momentum, "BatchNormalization momentum", low=0.0, high=1.0)
        self.epsilon = number(epsilon, "BatchNormalization epsilon", low=0.0, low_open=True)
        self.center, self.scale = bool(center), bool(scale)

    def _core_config(self, input_shape):
        _flat_features(input_shape, self)
        return {"type": "batch_normalization",
                "options": {"momentum": self.momentum, "epsilon": self.epsilon, "center": float(self.center),
                            "scale": float(self.scale)}}

    def _weight_names(self):
        return [("gamma", True)] * self.scale + [("beta", True)] * self.center + \
            [("moving_mean", False), ("moving_variance", False)]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}


class Maxout(Layer):
    """Maxout (Goodfellow et al., 2013): each of ``units`` outputs is the maximum of ``pieces`` affine maps
    of the input. Weights: kernel (in, units * pieces), bias (units * pieces); unit u's pieces are columns
    u * pieces ... u * pieces + pieces - 1. Not a Keras layer (Goodfellow et al., 2013)."""

    def __init__(self, units, pieces=2, input_shape=None, input_dim=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.units = positive_count(units, "units", "Maxout")
        if isinstance(pieces, bool) or not isinstance(pieces, (int, np.integer)) or pieces < 1:
            raise ValueError(f"Maxout: pieces must be an integer >= 1, got {pieces!r}")
        self.pieces = int(pieces)
        self._input_shape = _input_shape_argument(self, input_shape, input_dim, None)

    def _core_config(self, input_shape):
        _flat_features(input_shape, self)
        return {"type": "maxout", "units": self.units, "options": {"pieces": float(self.pieces)}}

    def _output_shape(self, input_shape):
        return (self.units,)

    def _weight_names(self):
        return [("kernel", True), ("bias", True)]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "pieces": self.pieces}


_CLASSES = [InputLayer, Dense, Activation, LeakyReLU, ELU, ReLU, Softmax, Flatten, Dropout, BatchNormalization, Maxout]


def serialize(layer):
    """A layer as Keras serializes it: {"module", "class_name", "config", "registered_name"}."""
    return {"module": "keras.layers", "class_name": type(layer).__name__, "config": layer.get_config(),
            "registered_name": None}


def deserialize(config):
    """The layer a Keras-style {"class_name", "config"} dict describes."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"layers.deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    by_name = {cls.__name__: cls for cls in _CLASSES}
    cls = by_name.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown layer class {config['class_name']!r}. densenn has: {', '.join(by_name)}.")
    return cls.from_config(config.get("config", {}))


# ---------------------------------------------------------------------------------------------- other Keras layers
class _NotDenseLayer(Layer):
    """A Keras layer densenn does not have: it imports, so that course code's imports run, and making one says
    what densenn trains instead."""

    _kind = ""

    def __init__(self, *args, **kwargs):
        have = ", ".join(cls.__name__ for cls in _CLASSES if cls is not InputLayer)
        raise NotImplementedError(f"{type(self).__name__} is a {self._kind} layer: densenn trains dense networks, "
                                  f"whose layers are {have} (and Input).")


_NOT_DENSE = {
    "convolution": "Conv1D Conv2D Conv3D Convolution1D Convolution2D Convolution3D Conv1DTranspose Conv2DTranspose "
                   "Conv3DTranspose Convolution2DTranspose Convolution3DTranspose SeparableConv1D SeparableConv2D "
                   "SeparableConvolution1D SeparableConvolution2D DepthwiseConv1D DepthwiseConv2D",
    "pooling": "MaxPooling1D MaxPooling2D MaxPooling3D MaxPool1D MaxPool2D MaxPool3D AveragePooling1D AveragePooling2D "
               "AveragePooling3D AvgPool1D AvgPool2D AvgPool3D GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D "
               "GlobalMaxPool1D GlobalMaxPool2D GlobalMaxPool3D GlobalAveragePooling1D GlobalAveragePooling2D "
               "GlobalAveragePooling3D GlobalAvgPool1D GlobalAvgPool2D GlobalAvgPool3D",
    "recurrent": "RNN SimpleRNN GRU LSTM SimpleRNNCell GRUCell LSTMCell StackedRNNCells Bidirectional "
                 "TimeDistributed ConvLSTM1D ConvLSTM2D ConvLSTM3D",
    "embedding": "Embedding",
    "reshaping": "Reshape Permute RepeatVector Cropping1D Cropping2D Cropping3D UpSampling1D UpSampling2D "
                 "UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D",
    "merging": "Concatenate Add Subtract Multiply Average Maximum Minimum Dot "
               "concatenate add subtract multiply average maximum minimum dot",
    "normalization": "LayerNormalization GroupNormalization UnitNormalization SpectralNormalization",
    "noise": "SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianNoise GaussianDropout AlphaDropout "
             "ActivityRegularization",
    "attention": "Attention AdditiveAttention MultiHeadAttention GroupQueryAttention",
    "preprocessing": "Normalization Rescaling Resizing CenterCrop TextVectorization StringLookup IntegerLookup "
                     "CategoryEncoding Hashing Discretization RandomFlip RandomRotation RandomZoom RandomCrop "
                     "RandomTranslation RandomContrast RandomBrightness",
    "Python-function": "Lambda",
    "sequence-masking": "Masking",
    "parametric-activation": "PReLU",
    "einsum": "EinsumDense",
}
for _kind, _names in _NOT_DENSE.items():
    for _name in _names.split():
        globals()[_name] = type(_name, (_NotDenseLayer,), {"_kind": _kind, "__module__": __name__})
        __all__.append(_name)
