"""The frameworks the benchmark compares, one module each, and which of them are installed."""
import importlib.util

from .densenn import DensennRunner
from .keras import KerasRunner
from .numpy import NumpyRunner
from .sklearn import SklearnRunner
from .torch import TorchRunner

RUNNERS = ("densenn", "numpy", "torch", "keras", "sklearn")
LABELS = {"densenn": "densenn", "numpy": "NumPy", "torch": "PyTorch", "keras": "Keras", "sklearn": "sklearn"}
RUNNER_CLASSES = {"densenn": DensennRunner, "numpy": NumpyRunner, "torch": TorchRunner, "keras": KerasRunner,
                  "sklearn": SklearnRunner}


def runner_available(runner):
    """Installed? Keras 3 also needs one of its backends."""
    if runner == "keras":
        return bool(importlib.util.find_spec("keras")) and any(
            importlib.util.find_spec(m) for m in ("torch", "jax", "tensorflow"))
    return importlib.util.find_spec(runner) is not None
