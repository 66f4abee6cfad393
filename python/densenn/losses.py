"""Losses, as in ``keras.losses``: strings, classes or functions for ``compile(loss=...)``.

Every Keras 3 loss for dense outputs, with Keras' names, constructor arguments and
'sum_over_batch_size' reduction.  The C++ core computes every value: in training (in
``densenn.config.floatx()``), and when a loss object (``loss(y_true, y_pred)``) or one of the
loss functions (``losses.mean_squared_error(y_true, y_pred)``, per-sample values) is called
directly (in float64).
"""
import numpy as np

from ._core import core as _core
from ._naming import to_snake_case

__all__ = [
    "Loss", "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "Hinge", "SquaredHinge", "CategoricalHinge", "KLDivergence", "Poisson",
    "Huber", "LogCosh", "CosineSimilarity",
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence", "poisson",
    "huber", "log_cosh", "cosine_similarity", "get", "serialize", "deserialize",
]

# keras/src/losses/loss.py standardize_reduction.
_REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")
_TRAINABLE_REDUCTIONS = ("sum_over_batch_size", "mean")  # the same reduction: sum(w * l) / n


def _check_axis(axis, what):
    if isinstance(axis, bool) or axis not in (-1, 1):
        raise ValueError(f"{what}: densenn's outputs are (batch, features), so axis must be -1 (the features "
                         f"axis), got axis={axis!r}.")
    return axis


class Loss:
    """Base class.  ``core_name`` is the C++ core's name for the formula; ``_options`` lists
    the constructor arguments the core reads (``from_logits``, ``label_smoothing``, ``delta``)."""

    core_name = None
    _options = ()

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError("Invalid value for argument `reduction`. Expected one of "
                             f"{set(_REDUCTIONS)}. Received: reduction={reduction!r}")
        self.name = name or to_snake_case(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype  # accepted like Keras; densenn computes as the module docstring says

    # -- standalone use: the core's formulas on the given arrays

    def _per_sample(self, y_true, y_pred):
        """Per-sample losses (n,), with Keras' shape rules; a 1-D y_pred is one sample."""
        y_pred = np.asarray(y_pred, dtype=np.float64)
        if y_pred.ndim == 1:  # Keras reduces over the last axis: a 1-D y_pred is one sample
            y_pred = y_pred[None, :]
            y_true = np.reshape(np.asarray(y_true), (1, -1))
        y_true = np.asarray(y_true, dtype=np.float64)
        if y_pred.ndim != 2 or y_pred.size == 0:
            raise ValueError(f"y_pred: expected a non-empty array of shape (n, k), got shape {y_pred.shape}")
        n, k = y_pred.shape
        sparse = self.core_name == "sparse_categorical_crossentropy"
        if y_true.shape == (n,) and (sparse or k == 1):  # integer labels, or one output: (n,) stands for (n, 1)
            y_true = y_true[:, None]
        expected = (n, 1) if sparse else (n, k)
        if y_true.shape != expected:
            raise ValueError(f"y_true has shape {y_true.shape}, expected {expected} for predictions of shape "
                             f"{y_pred.shape}")
        return _core.loss_per_sample(self._config_for_core(), y_pred, y_true)

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = self._per_sample(y_true, y_pred)
        n = values.shape[0]
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if w.size == 1:
                w = np.full(n, w[0])
            if w.shape != (n,):
                raise ValueError(f"sample_weight has shape {np.shape(sample_weight)}, expected ({n},)")
            values = values * w
        if self.reduction in (None, "none"):
            return values
        total = float(values.sum())
        if self.reduction == "sum":
            return total
        if self.reduction == "mean_with_sample_weight" and w is not None:
            return total / float(w.sum()) if w.sum() != 0 else 0.0
        return total / n

    # -- the core's description

    def _config_for_core(self):
        config = {"name": self.core_name}
        for key in self._options:
            config[key] = getattr(self, key)
        return config

    def core_config(self):
        """The C++ core's description of this loss: its formula and arguments."""
        if self.reduction not in _TRAINABLE_REDUCTIONS:
            raise ValueError(f"{type(self).__name__}(reduction={self.reduction!r}): densenn trains with Keras' "
                             "default reduction 'sum_over_batch_size' only.")
        return self._config_for_core()

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._options)
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """``mean((y_true - y_pred)**2)`` over the last axis."""
    core_name = "mse"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name, reduction, dtype)


class MeanAbsoluteError(Loss):
    """``mean(|y_true - y_pred|)``."""
    core_name = "mae"

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name, reduction, dtype)


class MeanAbsolutePercentageError(Loss):
    """``100 * mean(|(y_true - y_pred) / max(|y_true|, eps)|)``."""
    core_name = "mape"

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(name, reduction, dtype)


class MeanSquaredLogarithmicError(Loss):
    """``mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))**2)``."""
    core_name = "msle"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(name, reduction, dtype)


class _Crossentropy(Loss):
    _options = ("from_logits", "label_smoothing")

    def __init__(self, from_logits, label_smoothing, axis, reduction, name, dtype):
        super().__init__(name, reduction, dtype)
        label_smoothing = float(label_smoothing)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{type(self).__name__}: label_smoothing must be in [0, 1], got {label_smoothing!r}.")
        self.from_logits = bool(from_logits)
        self.label_smoothing = label_smoothing
        self.axis = _check_axis(axis, type(self).__name__)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


class BinaryCrossentropy(_Crossentropy):
    """``-mean(t log p + (1 - t) log(1 - p))``, p clipped to [eps, 1 - eps]; ``from_logits=True``
    takes logits (log-sigmoid form); label smoothing uses ``t (1 - s) + 0.5 s``."""
    core_name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(from_logits, label_smoothing, axis, reduction, name, dtype)


class CategoricalCrossentropy(_Crossentropy):
    """``-sum(t log(p / sum(p)))``, clipped to [eps, 1 - eps]; ``from_logits=True`` takes logits
    (log-softmax); label smoothing uses ``t (1 - s) + s / K``."""
    core_name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(from_logits, label_smoothing, axis, reduction, name, dtype)


class SparseCategoricalCrossentropy(Loss):
    """Categorical cross-entropy with integer labels of shape (n,) or (n, 1)."""
    core_name = "sparse_categorical_crossentropy"
    _options = ("from_logits",)

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name, reduction, dtype)
        if ignore_class is not None:
            raise ValueError("SparseCategoricalCrossentropy: ignore_class is not supported by densenn "
                             f"(got ignore_class={ignore_class!r}); leave it None.")
        self.from_logits = bool(from_logits)
        self.ignore_class = None

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": self.ignore_class}


class Hinge(Loss):
    """``mean(max(1 - t p, 0))``; when every label of the batch is 0 or 1 they become ``2t - 1``."""
    core_name = "hinge"

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(name, reduction, dtype)


class SquaredHinge(Loss):
    """``mean(max(1 - t p, 0)**2)``; {0, 1} labels become ``2t - 1`` as for Hinge."""
    core_name = "squared_hinge"

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(name, reduction, dtype)


class CategoricalHinge(Loss):
    """``max(max((1 - t) p) - sum(t p) + 1, 0)``."""
    core_name = "categorical_hinge"

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(name, reduction, dtype)


class KLDivergence(Loss):
    """``sum(t log(t / p))`` with t and p clipped to [eps, 1]."""
    core_name = "kl_divergence"

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(name, reduction, dtype)


class Poisson(Loss):
    """``mean(p - t log(p + eps))``."""
    core_name = "poisson"

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(name, reduction, dtype)


class Huber(Loss):
    """``mean(0.5 e**2 if |e| <= delta else delta |e| - 0.5 delta**2)``, e = p - t."""
    core_name = "huber"
    _options = ("delta",)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(name, reduction, dtype)
        delta = float(delta)
        if not delta > 0:
            raise ValueError(f"Huber: delta must be > 0, got {delta!r}.")
        self.delta = delta

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class LogCosh(Loss):
    """``mean(log(cosh(p - t)))``, computed as ``x + softplus(-2x) - log 2``."""
    core_name = "log_cosh"

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(name, reduction, dtype)


class CosineSimilarity(Loss):
    """``-sum(l2_normalize(t) * l2_normalize(p))``; a zero vector gives 0."""
    core_name = "cosine_similarity"

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(name, reduction, dtype)
        self.axis = _check_axis(axis, "CosineSimilarity")

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


# ----------------------------------------------------------------------------- functions
# Keras' loss functions: per-sample values (no reduction).  Passing one to compile() trains
# with the matching class.

def _function(cls, doc):
    def fn(y_true, y_pred):
        return cls()._per_sample(y_true, y_pred)
    fn.__doc__ = doc
    fn._loss_class = cls
    return fn


mean_squared_error = _function(MeanSquaredError, "Per-sample mean squared error.")
mean_absolute_error = _function(MeanAbsoluteError, "Per-sample mean absolute error.")
mean_absolute_percentage_error = _function(MeanAbsolutePercentageError,
                                           "Per-sample mean absolute percentage error.")
mean_squared_logarithmic_error = _function(MeanSquaredLogarithmicError,
                                           "Per-sample mean squared logarithmic error.")
hinge = _function(Hinge, "Per-sample hinge loss.")
squared_hinge = _function(SquaredHinge, "Per-sample squared hinge loss.")
categorical_hinge = _function(CategoricalHinge, "Per-sample categorical hinge loss.")
kl_divergence = _function(KLDivergence, "Per-sample Kullback-Leibler divergence.")
poisson = _function(Poisson, "Per-sample Poisson loss.")
log_cosh = _function(LogCosh, "Per-sample log-cosh loss.")


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample binary cross-entropy."""
    return BinaryCrossentropy(from_logits, label_smoothing, axis)._per_sample(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample categorical cross-entropy."""
    return CategoricalCrossentropy(from_logits, label_smoothing, axis)._per_sample(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Per-sample sparse categorical cross-entropy."""
    _check_axis(axis, "sparse_categorical_crossentropy")
    return SparseCategoricalCrossentropy(from_logits, ignore_class)._per_sample(y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    """Per-sample Huber loss."""
    return Huber(delta)._per_sample(y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Per-sample (negative) cosine similarity."""
    return CosineSimilarity(axis)._per_sample(y_true, y_pred)


binary_crossentropy._loss_class = BinaryCrossentropy
categorical_crossentropy._loss_class = CategoricalCrossentropy
sparse_categorical_crossentropy._loss_class = SparseCategoricalCrossentropy
huber._loss_class = Huber
cosine_similarity._loss_class = CosineSimilarity

_CLASSES = (MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
            BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, Hinge, SquaredHinge,
            CategoricalHinge, KLDivergence, Poisson, Huber, LogCosh, CosineSimilarity)
_FUNCTIONS = {
    "mean_squared_error": mean_squared_error, "mean_absolute_error": mean_absolute_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error,
    "binary_crossentropy": binary_crossentropy, "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy, "hinge": hinge,
    "squared_hinge": squared_hinge, "categorical_hinge": categorical_hinge, "kl_divergence": kl_divergence,
    "poisson": poisson, "huber": huber, "log_cosh": log_cosh, "cosine_similarity": cosine_similarity,
}
for _name, _fn in _FUNCTIONS.items():
    _fn.__name__ = _fn.__qualname__ = _name

# Exactly the strings keras.losses.get() accepts (keras/src/losses/__init__.py ALL_OBJECTS_DICT):
# class names, function names, and the aliases below; lookups are case-sensitive.
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({name: fn._loss_class for name, fn in _FUNCTIONS.items()})
_BY_NAME.update({
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "kld": KLDivergence, "KLD": KLDivergence,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
})


def serialize(loss):
    """``{'class_name': ..., 'config': ...}`` for a Loss object."""
    loss = get(loss)
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config):
    """A Loss from ``serialize()``'s description."""
    return get(config)


def get(identifier):
    """A Loss from a Keras identifier: a name ('mse', 'binary_crossentropy', 'MeanSquaredError', ...),
    a ``{'class_name': ..., 'config': ...}`` dict, a Loss class or object, or a loss function."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]()
        raise ValueError(f"Unknown loss {identifier!r}. Valid losses: {', '.join(sorted(_BY_NAME))}.")
    if isinstance(identifier, dict):
        cls = _BY_NAME.get(identifier.get("class_name"))
        if cls is None or cls.__name__ != identifier.get("class_name"):
            raise ValueError(f"Unknown loss class {identifier.get('class_name')!r} in {identifier!r}. "
                             f"Valid classes: {', '.join(c.__name__ for c in _CLASSES)}.")
        return cls.from_config(identifier.get("config") or {})
    if isinstance(identifier, type) and issubclass(identifier, Loss) and identifier.core_name:
        return identifier()
    if callable(identifier) and getattr(identifier, "_loss_class", None) is not None:
        return identifier._loss_class()
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}. densenn computes losses in C++, "
                     f"so a loss must be one of: {', '.join(sorted(_BY_NAME))}.")
