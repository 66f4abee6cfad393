"""Layers, as in ``keras.layers``. A layer describes itself; its weights live
in the C++ core of the model it belongs to (one flat buffer per model)."""
import itertools
import warnings

import numpy as np

from ._core import core

__all__ = ["Layer", "InputLayer", "Input", "Dense", "Activation"]

_name_counters = {}


def unique_name(base):
    """Keras' default names: dense, dense_1, dense_2, ... per base name and session."""
    counter = _name_counters.setdefault(base, itertools.count())
    k = next(counter)
    return base if k == 0 else f"{base}_{k}"


def _snake_case(name):
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


def check_activation(activation, where):
    """Validates an activation name (None means linear) and returns it."""
    if activation is None:
        return "linear"
    valid = core.activation_names()
    if not isinstance(activation, str) or activation not in valid:
        raise ValueError(f"{where}: unknown activation {activation!r}. Valid activations: {', '.join(valid)}.")
    return activation


def feature_shape(shape, argument):
    """Validates a per-sample input shape such as (784,) and returns it as a tuple."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"{argument}: expected a shape tuple such as (784,), got {shape!r}") from None
    if len(shape) != 1 or isinstance(shape[0], bool) or not isinstance(shape[0], (int, np.integer)) or shape[0] <= 0:
        raise ValueError(
            f"{argument}: densenn's dense models take samples of shape (features,) with features > 0, got {shape!r}"
        )
    return (int(shape[0]),)


class Layer:
    """Base class: a name, and access to the weights once the layer is in a built model."""

    def __init__(self, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        self.name = name or unique_name(_snake_case(type(self).__name__))
        self._model = None  # the Sequential that built this layer
        self.trainable = True

    def _core_config(self, input_dim):
        """The C++ core's description of this layer: a dict of its type and arguments."""
        raise NotImplementedError(f"{type(self).__name__} has no C++ counterpart")

    def _output_dim(self, input_dim):
        return input_dim

    @property
    def built(self):
        return self._model is not None and self._model.built

    @property
    def output_shape(self):
        if not self.built:
            raise AttributeError(f"Layer {self.name!r} has no defined output shape yet (the model is not built).")
        return (None, self._model._layer_output_dims()[self._model.layers.index(self)])

    def get_weights(self):
        return self._model._layer_weights(self) if self.built else []

    def set_weights(self, weights):
        if not self.built:
            raise ValueError(f"Layer {self.name!r} is not built yet: it has no weights to set.")
        self._model._set_layer_weights(self, weights)

    @property
    def weights(self):
        return self.get_weights()

    def count_params(self):
        return sum(int(w.size) for w in self.get_weights())

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable}

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
            if len(batch_shape) < 1:
                raise ValueError(f"InputLayer: batch_shape must include the batch dimension, got {batch_shape!r}")
            shape = batch_shape[1:]
        if shape is None:
            raise ValueError("InputLayer: pass shape=(features,) (or batch_shape=(None, features)).")
        self.shape = feature_shape(shape, "InputLayer shape")
        self.batch_size = batch_size

    def get_config(self):
        return {**super().get_config(), "batch_shape": [self.batch_size, *self.shape]}


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None):
    """``Input(shape=(4,))``: the first item of a Sequential model, as in Keras."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name)


class Dense(Layer):
    """``activation(x @ kernel + bias)`` with kernel (in, units), glorot-uniform initialised, and a zero bias."""

    def __init__(self, units, activation=None, use_bias=True, input_shape=None, input_dim=None,
                 batch_input_shape=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        if not isinstance(use_bias, (bool, np.bool_)):
            raise ValueError(f"Dense: use_bias must be True or False, got {use_bias!r}")
        self.units = int(units)
        self.activation = check_activation(activation, "Dense")
        self.use_bias = bool(use_bias)
        # Keras 2 idioms for the model's input shape, still found in course code.
        self._input_shape = None
        if batch_input_shape is not None:
            self._input_shape = feature_shape(tuple(batch_input_shape)[1:], "Dense batch_input_shape")
        elif input_shape is not None:
            self._input_shape = feature_shape(input_shape, "Dense input_shape")
        elif input_dim is not None:
            self._input_shape = feature_shape((input_dim,), "Dense input_dim")
        if input_shape is not None or input_dim is not None:
            warnings.warn(
                "Do not pass an `input_shape`/`input_dim` argument to a layer. When using Sequential models, "
                "prefer using an `Input(shape)` object as the first layer in the model instead.",
                UserWarning,
                stacklevel=2,
            )

    def _core_config(self, input_dim):
        return {"type": "dense", "units": self.units, "activation": self.activation, "use_bias": self.use_bias}

    def _output_dim(self, input_dim):
        return self.units

    @property
    def kernel(self):
        return self.get_weights()[0] if self.built else None

    @property
    def bias(self):
        return self.get_weights()[1] if self.built and self.use_bias else None

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation, "use_bias": self.use_bias}


class Activation(Layer):
    """Applies an activation function: ``Activation('softmax')``."""

    def __init__(self, activation, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.activation = check_activation(activation, "Activation")

    def _core_config(self, input_dim):
        return {"type": "activation", "activation": self.activation}

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}
