"""Losses, as in ``keras.losses``: strings or objects for ``compile(loss=...)``.

The training maths runs in the C++ core; calling a loss object directly
(``loss(y_true, y_pred)``) evaluates the same Keras formula in NumPy.
"""
import numpy as np

__all__ = ["Loss", "MeanSquaredError", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "get"]


class Loss:
    core_name = None  # the C++ core's name for the formula

    def __init__(self, name=None):
        self.name = name or _snake(type(self).__name__)

    def __call__(self, y_true, y_pred, sample_weight=None):
        from .reference import ReferenceModel  # the NumPy formulas, independent of the core

        y_pred = np.asarray(y_pred, dtype=np.float64)
        if y_pred.ndim == 1:
            y_pred = y_pred[:, None]
        identity = ReferenceModel([], [], self.core_name)  # no layers: the loss alone
        return identity.loss_value(y_pred, y_true, sample_weight=sample_weight)

    def core_config(self):
        """The C++ core's description of this loss: its formula and arguments."""
        return {"name": self.core_name}

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}()"


def _snake(name):
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


class MeanSquaredError(Loss):
    core_name = "mse"

    def __init__(self, name="mean_squared_error"):
        super().__init__(name)


class BinaryCrossentropy(Loss):
    core_name = "binary_crossentropy"

    def __init__(self, name="binary_crossentropy"):
        super().__init__(name)


class CategoricalCrossentropy(Loss):
    core_name = "categorical_crossentropy"

    def __init__(self, name="categorical_crossentropy"):
        super().__init__(name)


class SparseCategoricalCrossentropy(Loss):
    core_name = "sparse_categorical_crossentropy"

    def __init__(self, name="sparse_categorical_crossentropy"):
        super().__init__(name)


_BY_NAME = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError, "MeanSquaredError": MeanSquaredError,
    "bce": BinaryCrossentropy, "binary_crossentropy": BinaryCrossentropy, "BinaryCrossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy, "CategoricalCrossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "SparseCategoricalCrossentropy": SparseCategoricalCrossentropy,
}


def get(identifier):
    """A Loss from a name ('mse', 'binary_crossentropy', ...) or a Loss object."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        loss = _BY_NAME[identifier]()
        return loss
    raise ValueError(f"Unknown loss {identifier!r}. Valid losses: {', '.join(sorted(_BY_NAME))}.")
