"""Optimizers, as in ``keras.optimizers``, with Keras 3's defaults. The update
equations run in the C++ core over the model's flat parameter buffer."""
import numpy as np

__all__ = ["Optimizer", "SGD", "Adam", "get"]


def _number(value, argument, low=0.0, high=None, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
        raise ValueError(f"{argument}: expected a finite number, got {value!r}")
    value = float(value)
    if value < low or (low_open and value == low) or (high is not None and (value > high or (high_open and value == high))):
        lo, hi = ("(" if low_open else "["), ("" if high is None else (")" if high_open else "]"))
        raise ValueError(f"{argument}: expected a value in {lo}{low}, {high if high is not None else 'inf'}{hi or ')'}, got {value}")
    return value


class Optimizer:
    """Holds the hyperparameters; once a model is compiled with it, learning_rate
    and iterations read and write the model's core."""

    core_name = None

    def __init__(self, learning_rate, name=None):
        self._learning_rate = _number(learning_rate, f"{type(self).__name__} learning_rate")
        self.name = name or type(self).__name__.lower()
        self._core = None  # the compiled model's core, once attached

    def _attach(self, model_core):
        self._core = model_core

    @property
    def learning_rate(self):
        return self._core.learning_rate if self._core is not None else self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = _number(value, "learning_rate")
        if self._core is not None:
            self._core.learning_rate = self._learning_rate

    @property
    def iterations(self):
        return self._core.iterations if self._core is not None else 0

    def core_config(self):
        """The C++ core's description of this optimizer: its name and arguments."""
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum: ``m = momentum*m - lr*g; w += m``."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD"):
        super().__init__(learning_rate, name)
        self.momentum = _number(momentum, "SGD momentum", 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def core_config(self):
        return dict(name="sgd", learning_rate=self._learning_rate, momentum=self.momentum, nesterov=self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam with Keras' equations (epsilon added to the uncorrected sqrt of the second moment)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="adam"):
        super().__init__(learning_rate, name)
        self.beta_1 = _number(beta_1, "Adam beta_1", 0.0, 1.0, high_open=True)
        self.beta_2 = _number(beta_2, "Adam beta_2", 0.0, 1.0, high_open=True)
        self.epsilon = _number(epsilon, "Adam epsilon", 0.0, low_open=True)

    def core_config(self):
        return dict(name="adam", learning_rate=self._learning_rate, beta_1=self.beta_1, beta_2=self.beta_2,
                    epsilon=self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


_BY_NAME = {"sgd": SGD, "adam": Adam}


def get(identifier):
    """An Optimizer from a name (any case: 'sgd', 'Adam', ...) or an Optimizer object."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Unknown optimizer {identifier!r}. Valid optimizers: {', '.join(sorted(_BY_NAME))}.")
