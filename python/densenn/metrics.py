"""Metrics, as in ``keras.metrics``, accumulated over each epoch in the C++ core.

Strings and objects for ``compile(metrics=[...], weighted_metrics=[...])``, with Keras 3's names, arguments
and formulas (``keras/src/metrics/*.py``):

- ``'accuracy'`` / ``'acc'`` is resolved from the shapes as Keras does: one output -> binary accuracy; integer
  labels against wider predictions (``sparse_categorical_crossentropy``) -> sparse categorical accuracy;
  otherwise categorical accuracy. ``metrics.Accuracy()`` is different: exact equality of prediction and target.
- A string logs under its own string (``'acc'`` logs ``acc``, ``'mae'`` logs ``mae``); an object logs under
  its ``name`` (Keras' defaults: ``auc``, ``precision``, ``recall``, ``top_k_categorical_accuracy``, ...).
- As in Keras 3, metrics given as ``metrics=`` ignore ``sample_weight`` and ``class_weight``; those given as
  ``weighted_metrics=`` are weighted by them.
- Two metrics with the same name in one compile log as ``name``, ``name_1``, ...; a weighted metric whose
  name is taken logs as ``weighted_name``.

Unlike Keras, a metric's default name is not made unique across the whole process (Keras names the second
``AUC()`` ever created ``auc_1``); densenn's is always ``auc``.
"""
import math
import numbers

import numpy as np

from ._naming import to_snake_case
from .data_adapter import positive_count

__all__ = ["binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy",
           "sparse_top_k_categorical_accuracy", "mean_squared_error", "mean_absolute_error", "Metric", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
           "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "MeanAbsoluteError", "MeanSquaredError",
           "RootMeanSquaredError", "Precision", "Recall", "AUC", "get"]

_NEG_INF = -1e10  # keras metrics_utils.NEG_INF: Precision/Recall's threshold when top_k is set
_SPARSE_LOSSES = {"sparse_categorical_crossentropy"}  # losses whose targets are integer labels (n,) / (n, 1)


class Metric:
    """Base class. ``core_name`` is the C++ core's formula; ``None`` means resolved from the shapes."""

    core_name = None

    def __init__(self, name=None, dtype=None):
        if name is not None and not isinstance(name, str):
            raise ValueError(f"{type(self).__name__}: name must be a string, got {name!r}")
        if dtype not in (None, "float32", "float64", np.float32, np.float64):
            raise ValueError(f"{type(self).__name__}: dtype must be None, 'float32' or 'float64', got {dtype!r}")
        self.name = name or self.core_name  # Keras' default names equal the core's formula names
        self.dtype = dtype  # accepted for Keras compatibility; densenn accumulates in float64

    def resolve(self, output_dim, loss_core_name):
        """The core's metric name for a model with this output width and loss."""
        return self.core_name

    def _core_args(self):
        return {}

    def core_config(self, output_dim, loss_core_name):
        """The C++ core's description of this metric for a model with this output width and loss."""
        return {"name": self.resolve(output_dim, loss_core_name), **self._core_args()}

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class _AutoAccuracy(Metric):
    """'accuracy' / 'acc' (any case): binary, sparse or categorical by shape, as Keras' compile resolves it
    (keras/src/trainers/compile_utils.py, is_binary_or_sparse_categorical)."""

    def resolve(self, output_dim, loss_core_name):
        if output_dim == 1:  # y_pred.shape[-1] == 1
            return "binary_accuracy"
        if loss_core_name in _SPARSE_LOSSES:  # labels (n,) or (n, 1) against (n, K)
            return "sparse_categorical_accuracy"
        return "categorical_accuracy"

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return repr(self.name)


class Accuracy(Metric):
    """How often predictions equal the targets exactly (``keras.metrics.Accuracy``; not the shape-resolved
    ``'accuracy'`` string)."""

    core_name = "accuracy"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name, dtype)


class BinaryAccuracy(Metric):
    """How often ``(y_pred > threshold)`` equals the 0/1 target; a mean over the outputs per sample."""

    core_name = "binary_accuracy"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(name, dtype)
        if not _is_number(threshold) or not 0 < threshold < 1:
            raise ValueError("Invalid value for argument `threshold`. Expected a value in interval (0, 1). "
                             f"Received: threshold={threshold}")
        self.threshold = float(threshold)

    def _core_args(self):
        return {"threshold": self.threshold}

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """How often the argmax of the prediction equals the argmax of the one-hot target."""

    core_name = "categorical_accuracy"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name, dtype)


class SparseCategoricalAccuracy(Metric):
    """How often the argmax of the prediction equals the integer label (labels (n,) or (n, 1))."""

    core_name = "sparse_categorical_accuracy"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)


class TopKCategoricalAccuracy(Metric):
    """How often the one-hot target's class is among the ``k`` highest predictions (ties at the boundary count
    as in, as ``ops.in_top_k``)."""

    core_name = "top_k_categorical_accuracy"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)
        self.k = positive_count(k, "k", type(self).__name__)

    def _core_args(self):
        return {"k": self.k}

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """How often the integer label is among the ``k`` highest predictions."""

    core_name = "sparse_top_k_categorical_accuracy"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(k, name, dtype)


class MeanAbsoluteError(Metric):
    """mean(|y_true - y_pred|) over the outputs, averaged over the samples."""

    core_name = "mean_absolute_error"

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(name, dtype)


class MeanSquaredError(Metric):
    """mean((y_true - y_pred)**2) over the outputs, averaged over the samples."""

    core_name = "mean_squared_error"

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(name, dtype)


class RootMeanSquaredError(Metric):
    """sqrt of the epoch's mean squared error."""

    core_name = "root_mean_squared_error"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)


class _PrecisionRecall(Metric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name, dtype)
        cls = type(self).__name__
        self.init_thresholds = thresholds
        self.top_k = None if top_k is None else positive_count(top_k, "top_k", cls)
        if class_id is not None and (not isinstance(class_id, numbers.Integral) or isinstance(class_id, bool)
                                     or class_id < 0):
            raise ValueError(f"{cls}: class_id must be an integer >= 0, got {class_id!r}")
        self.class_id = None if class_id is None else int(class_id)
        if thresholds is None:
            self.thresholds = [0.5 if top_k is None else _NEG_INF]
        else:
            values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
            invalid = [t for t in values if t is None or not _is_number(t) or not 0 <= t <= 1]
            if invalid:
                raise ValueError(f"Threshold values must be in [0, 1]. Received: {invalid}")
            if len(values) != 1:
                raise ValueError(f"{cls}: densenn computes one threshold per metric (its logs hold one number); "
                                 f"got thresholds={thresholds!r}. Use one {cls} per threshold, with its own name.")
            self.thresholds = [float(values[0])]

    def _core_args(self):
        args = {"threshold": self.thresholds[0]}
        if self.top_k is not None:
            args["top_k"] = self.top_k
        if self.class_id is not None:
            args["class_id"] = self.class_id
        return args

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """tp / (tp + fp), predictions above ``thresholds`` (default 0.5) counting as positive; targets are
    positive where non-zero. ``top_k`` keeps only each row's k highest predictions; ``class_id`` one column."""

    core_name = "precision"


class Recall(_PrecisionRecall):
    """tp / (tp + fn), predictions above ``thresholds`` (default 0.5) counting as positive."""

    core_name = "recall"


class AUC(Metric):
    """Area under the ROC (default) or PR curve, from confusion counts at ``num_thresholds`` thresholds
    (``-eps``, ``i / (num_thresholds - 1)``, ``1 + eps``) accumulated over the epoch, as Keras computes it."""

    core_name = "auc"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        super().__init__(name, dtype)
        if curve not in ("ROC", "roc", "PR", "pr"):
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC"]')
        if summation_method not in ("interpolation", "Interpolation", "majoring", "Majoring", "minoring",
                                    "Minoring"):
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". '
                             'Expected values are ["interpolation", "majoring", "minoring"]')
        self.curve = curve.upper()
        self.summation_method = summation_method.lower()
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            values = sorted(list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds])
            if not all(_is_number(t) and math.isfinite(t) for t in values):
                raise ValueError(f"AUC: thresholds must be finite numbers, got {thresholds!r}")
            self._thresholds_arg = [float(t) for t in values]
            self.num_thresholds = len(values) + 2
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, numbers.Integral) \
                    or num_thresholds <= 1:
                raise ValueError("Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self._thresholds_arg = None
            self.num_thresholds = int(num_thresholds)
        self.multi_label = bool(multi_label)
        if num_labels is not None and not self.multi_label:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        self.num_labels = num_labels
        if label_weights is not None:
            lw = np.asarray(label_weights, dtype=np.float64).ravel()
            if not np.all(np.isfinite(lw)) or (lw < 0).any():
                raise ValueError(f"AUC: label_weights must be finite and non-negative, got {label_weights!r}")
            self.label_weights = [float(v) for v in lw]
        else:
            self.label_weights = None
        self._from_logits = bool(from_logits)

    @property
    def thresholds(self):
        """The thresholds used, with the end points -epsilon and 1 + epsilon (as Keras' ``AUC.thresholds``)."""
        inner = self._thresholds_arg if self._thresholds_arg is not None else \
            [(i + 1) * 1.0 / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
        return [0.0 - 1e-7] + inner + [1.0 + 1e-7]

    def core_config(self, output_dim, loss_core_name):
        if self.multi_label and self.num_labels is not None and self.num_labels != output_dim:
            raise ValueError(f"AUC: num_labels={self.num_labels} does not match the model's {output_dim} outputs.")
        return super().core_config(output_dim, loss_core_name)

    def _core_args(self):
        args = {"num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "multi_label": self.multi_label,
                "from_logits": self._from_logits}
        if self._thresholds_arg is not None:
            args["thresholds"] = self._thresholds_arg
        if self.label_weights is not None:
            args["label_weights"] = self.label_weights
        return args

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "label_weights": self.label_weights,
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self._thresholds_arg
        return config


_CLASSES = [Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
            SparseTopKCategoricalAccuracy, MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError, Precision,
            Recall, AUC]
# Keras' metrics.get: class names, their snake-case forms and a few aliases.
_BY_NAME = {}
for _cls in _CLASSES:
    _BY_NAME[_cls.__name__] = _cls
    _BY_NAME[to_snake_case(_cls.__name__)] = _cls
_BY_NAME.update({"mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError,
                 "MAE": MeanAbsoluteError})
del _cls


_VALID_NAMES = ["accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
                "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "mae", "mse",
                "mean_absolute_error", "mean_squared_error", "root_mean_squared_error", "auc", "precision", "recall"]


def get(identifier):
    """A Metric from a string ('accuracy', 'acc', 'mae', 'auc', 'AUC', ...) or a Metric object.

    As in Keras' compile, a string metric is named after its string: 'acc' logs as ``acc``, 'mae' as ``mae``,
    and 'accuracy'/'acc' (in any case) is resolved from the shapes when the model compiles."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return _AutoAccuracy(name=identifier)
        if identifier in _BY_NAME:
            metric = _BY_NAME[identifier]()
            metric.name = identifier
            return metric
    if isinstance(identifier, type) and issubclass(identifier, Metric) and identifier in _CLASSES:
        return identifier()  # keras.metrics.get instantiates a class
    if getattr(identifier, "_metric_class", None) is not None:  # keras.metrics.binary_accuracy and friends
        return identifier._metric_class(name=identifier.__name__)
    valid = ", ".join(_VALID_NAMES) + " (or their class names, e.g. 'AUC')"
    if callable(identifier) and not isinstance(identifier, type):
        raise ValueError(f"Unknown metric {identifier!r}: densenn computes metrics in its C++ core, so custom "
                         f"metric functions are not supported. Valid metrics: {valid}.")
    raise ValueError(f"Unknown metric {identifier!r}. Valid metrics: {valid}.")


class CompiledMetric:
    """A metric as compile() keeps it: the metric, the name it logs under and whether sample weights apply."""

    def __init__(self, metric, name, weighted):
        self.metric = metric
        self.name = name
        self.weighted = weighted

    def core_config(self, output_dim, loss_core_name):
        return {**self.metric.core_config(output_dim, loss_core_name), "weighted": self.weighted}

    def __repr__(self):
        return f"CompiledMetric({self.metric!r}, name={self.name!r}, weighted={self.weighted})"


def _per_sample(metric, y_true, y_pred):
    """A metric's value for each sample (row), computed by the C++ core: a model without layers, so that its
    input is the prediction, evaluated row by row."""
    from ._core import core
    from .data_adapter import converted, numeric_array
    y_pred = converted(numeric_array(y_pred, "y_pred"), np.float64, "y_pred")
    y_true = converted(numeric_array(y_true, "y_true"), np.float64, "y_true")
    if y_pred.ndim == 1:
        y_pred = y_pred.reshape(-1, 1)
    if y_pred.ndim != 2 or len(y_true) != len(y_pred) or len(y_pred) == 0:
        raise ValueError(f"{metric.name}: expected y_true and y_pred with the same number of rows, y_pred of shape "
                         f"(n, outputs), got shapes {y_true.shape} and {y_pred.shape}")
    outputs = y_pred.shape[1]
    sparse = isinstance(metric, (SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy))
    loss = "sparse_categorical_crossentropy" if sparse else "mse"
    y_true = y_true.reshape(len(y_true), 1 if sparse else outputs)
    model = core.SequentialF64(outputs, [], 0)
    model.compile({"name": loss}, {"name": "sgd", "learning_rate": 0.0},
                  [{**metric.core_config(outputs, loss), "weighted": False}])
    values = np.empty(len(y_pred))
    for i in range(len(y_pred)):
        data_pass = model.data_pass(y_pred[i:i + 1], y_true[i:i + 1], None, 1, training=False, shuffle=False)
        data_pass.run(1)
        values[i] = data_pass.metrics[0]
    return values


def _metric_function(cls, name):
    """Keras' function form of a metric (``keras.metrics.binary_accuracy``): called on arrays it gives each
    sample's value; in ``compile(metrics=[...])`` it is the metric ``cls`` logged under the function's name."""
    def function(y_true, y_pred, **kwargs):
        metric = cls(name=name, **kwargs)
        if cls is BinaryAccuracy:  # Keras gives it per element, the other accuracies per sample
            shape = np.shape(y_pred)
            return _per_sample(metric, np.reshape(y_true, (-1, 1)), np.reshape(y_pred, (-1, 1))).reshape(shape)
        return _per_sample(metric, y_true, y_pred)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"Per-sample {name}, as keras.metrics.{name}; in compile() the metric {cls.__name__}."
    function._metric_class = cls
    return function


binary_accuracy = _metric_function(BinaryAccuracy, "binary_accuracy")
categorical_accuracy = _metric_function(CategoricalAccuracy, "categorical_accuracy")
sparse_categorical_accuracy = _metric_function(SparseCategoricalAccuracy, "sparse_categorical_accuracy")
top_k_categorical_accuracy = _metric_function(TopKCategoricalAccuracy, "top_k_categorical_accuracy")
sparse_top_k_categorical_accuracy = _metric_function(SparseTopKCategoricalAccuracy,
                                                     "sparse_top_k_categorical_accuracy")
mean_squared_error = _metric_function(MeanSquaredError, "mean_squared_error")
mean_absolute_error = _metric_function(MeanAbsoluteError, "mean_absolute_error")


def compile_metrics(metrics=None, weighted_metrics=None):
    """compile()'s ``metrics`` and ``weighted_metrics`` as a list of CompiledMetric, named as Keras 3 names
    them in the logs (keras/src/trainers/compile_utils.py, CompileMetrics.result)."""
    lists = []
    for argument, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
        if value is None:
            value = []
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"compile: {argument} must be a list, e.g. {argument}=['accuracy'], got {value!r}")
        lists.append([get(m) for m in value if m is not None])
    counters = {}
    compiled = []
    for metric in lists[0]:
        name = metric.name
        if name not in counters:
            counters[name] = 1
        else:
            index = counters[name]
            counters[name] += 1
            name = f"{name}_{index}"
        compiled.append(CompiledMetric(metric, name, weighted=False))
    for metric in lists[1]:
        name = metric.name
        if name not in counters:
            counters[name] = 1
        else:
            name = f"weighted_{metric.name}"
            if name not in counters:
                counters[name] = 1
            else:
                index = counters[name]
                counters[name] += 1
                name = f"{name}_{index}"
        compiled.append(CompiledMetric(metric, name, weighted=True))
    return compiled


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
