"""Weight and activity regularizers, as in ``keras.regularizers``: the penalty
``l1 * sum(|x|) + l2 * sum(x^2)`` is added to the trained and reported loss
(an activity penalty averaged over the batch's rows, as Keras 3 does)."""
import numpy as np

__all__ = ["serialize", "Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get"]


def _factor(value, argument):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value < 0:
        raise ValueError(f"{argument}: expected a finite number >= 0, got {value!r}")
    return float(value)


class Regularizer:
    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, f"{type(self).__name__} l1")
        self.l2 = _factor(l2, f"{type(self).__name__} l2")

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        return self.l1 * np.abs(x).sum() + self.l2 * np.square(x).sum()

    def core_options(self, key):
        return {f"{key}.l1": self.l1, f"{key}.l2": self.l2}

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self):
        return f"{type(self).__name__}(l1={self.l1}, l2={self.l2})"


class L1(Regularizer):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    pass


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(l1=0.01, l2=0.01),  # Keras' documented l1_l2 defaults
            "L1": L1, "L2": L2, "L1L2": L1L2}


# Keras' lower-case names of the same classes (``regularizers.l2(0.001)``).
l1, l2, l1_l2 = L1, L2, L1L2


def serialize(regularizer):
    if regularizer is None:
        return None
    return {"module": "keras.regularizers", "class_name": type(regularizer).__name__,
            "config": regularizer.get_config(), "registered_name": None}


def get(identifier):
    """A Regularizer from None, a name ('l1', 'l2', 'l1_l2'), a Keras-style {"class_name", "config"} dict,
    or a Regularizer."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_NAME:
        return _BY_NAME[identifier["class_name"]](**identifier.get("config", {}))
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(f"Unknown regularizer {identifier!r}. Valid regularizers: l1, l2, l1_l2, "
                     "or regularizers.L1(...), L2(...), L1L2(...).")
