"""densenn: dense neural networks with a Keras-shaped API and a fast C++ core.

    from densenn import Sequential, Input, layers
    model = Sequential([Input(shape=(784,)), layers.Dense(100, activation="sigmoid"),
                        layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=5, batch_size=32)
"""
from importlib.metadata import version as _version

from . import (backend, callbacks, config, datasets, distribution, initializers, layers, losses, metrics, models,
               optimizers, regularizers, utils)
from ._core import core as _core
from .layers import Input
from .models import Model
from .sequential import Sequential

__version__ = _version("densenn")  # pyproject.toml's, as installed
__all__ = ["Sequential", "Model", "Input", "layers", "models", "backend", "losses", "optimizers", "metrics",
           "callbacks", "initializers", "regularizers", "utils", "config", "datasets", "distribution", "build_info",
           "get_include", "get_library", "get_cmake_dir"]


def __getattr__(name):
    """``densenn.wrappers`` (scikit-learn estimators) is imported when first used: it imports scikit-learn, which
    takes longer than densenn itself."""
    if name == "wrappers":
        import importlib
        return importlib.import_module(".wrappers", __name__)
    raise AttributeError(f"module 'densenn' has no attribute {name!r}")


def build_info():
    """Which build of the C++ core is running: instruction set, Eigen's SIMD, OpenMP threads."""
    return {
        "isa": _core.isa,
        "simd": _core.simd_instruction_sets(),
        "openmp_threads": _core.max_threads(),
    }


# ---------------------------------------------------------------------- the embedded runtime
def _installed(*parts):
    """A file or folder the build installed in the package (looked up in every folder of the package,
    which an editable install splits between the sources and site-packages)."""
    import os
    for base in __path__:
        candidate = os.path.join(base, *parts)
        if os.path.exists(candidate):
            return os.path.abspath(candidate)
    raise FileNotFoundError(f"densenn: {'/'.join(parts)} is not installed with this densenn "
                            "(reinstall it: pip install densenn).")


def get_include():
    """The folder to add to a C/C++ compiler's include path for ``densenn/model.hpp`` and ``densenn/c_api.h``."""
    return _installed("include")


def get_library():
    """The path of the shared library (libdensenn.so) that exports the C ABI and the C++ API."""
    return _installed("lib", "libdensenn.so")


def get_cmake_dir():
    """The folder of densennConfig.cmake: ``cmake -DCMAKE_PREFIX_PATH=$(densenn config --cmakedir)``, then
    ``find_package(densenn CONFIG REQUIRED)`` and ``target_link_libraries(app PRIVATE densenn::densenn)``."""
    return _installed("lib", "cmake", "densenn")
