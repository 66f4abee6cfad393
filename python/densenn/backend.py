"""``densenn.backend``, as ``keras.backend`` (``from densenn import backend as K``): the global settings of
``densenn.config`` and ``clear_session``. Keras' tensor functions have no place here: densenn computes in its
C++ core, on NumPy arrays."""
import gc

from . import layers
from .config import (backend, epsilon, floatx, image_data_format, set_epsilon, set_floatx,
                     set_image_data_format)

__all__ = ["backend", "clear_session", "epsilon", "set_epsilon", "floatx", "set_floatx", "image_data_format",
           "set_image_data_format", "is_keras_tensor"]


def clear_session(free_memory=True):
    """Starts default names again (``dense``, ``sequential``, ...), as Keras does; ``free_memory`` also runs
    Python's garbage collector. Models made before keep their names and weights."""
    layers.reset_names()
    if free_memory:
        gc.collect()


def is_keras_tensor(x):
    """Whether x is a symbolic tensor, from ``Input()`` or a layer called on one."""
    return isinstance(x, layers.KerasTensor)
