"""Metrics, as in ``keras.metrics``, accumulated over each epoch in the C++ core."""

__all__ = ["Metric", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "get"]


class Metric:
    core_name = None  # None: resolved from the model's output and loss (plain 'accuracy')

    def __init__(self, name=None):
        self.name = name or self.core_name

    def resolve(self, output_dim, loss_core_name):
        """The core's metric name for a model with this output width and loss."""
        return self.core_name

    def core_config(self, output_dim, loss_core_name):
        """The C++ core's description of this metric for a model with this output width and loss."""
        return {"name": self.resolve(output_dim, loss_core_name)}

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class Accuracy(Metric):
    """'accuracy' / 'acc': binary, sparse or categorical by shape, as Keras resolves it."""

    def resolve(self, output_dim, loss_core_name):
        if output_dim == 1:
            return "binary_accuracy"
        if loss_core_name == "sparse_categorical_crossentropy":  # labels (n,) against (n, K)
            return "sparse_categorical_accuracy"
        return "categorical_accuracy"


class BinaryAccuracy(Metric):
    core_name = "binary_accuracy"


class CategoricalAccuracy(Metric):
    core_name = "categorical_accuracy"


class SparseCategoricalAccuracy(Metric):
    core_name = "sparse_categorical_accuracy"


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
}


def get(identifier):
    """A Metric from a name ('accuracy', 'acc', 'binary_accuracy', ...) or a Metric object."""
    if isinstance(identifier, Metric):
        return identifier
    if identifier in ("accuracy", "acc"):
        return Accuracy(name=identifier)  # a string metric logs under its own string
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    valid = ["accuracy", "acc", *_BY_NAME]
    raise ValueError(f"Unknown metric {identifier!r}. Valid metrics: {', '.join(valid)}.")
