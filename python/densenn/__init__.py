"""densenn: dense neural networks with a Keras-shaped API and a fast C++ core.

    from densenn import Sequential, Input, layers
    model = Sequential([Input(shape=(784,)), layers.Dense(100, activation="sigmoid"),
                        layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=5, batch_size=32)
"""
from . import callbacks, config, datasets, initializers, layers, losses, metrics, optimizers, regularizers, utils
from ._core import core as _core
from .layers import Input
from .models import Sequential

__version__ = "0.1.0"
__all__ = ["Sequential", "Input", "layers", "losses", "optimizers", "metrics", "callbacks", "initializers",
           "regularizers", "utils", "config", "datasets", "build_info"]


def build_info():
    """Which build of the C++ core is running: instruction set, Eigen's SIMD, OpenMP threads."""
    return {
        "isa": _core.isa,
        "simd": _core.simd_instruction_sets(),
        "openmp_threads": _core.max_threads(),
    }
