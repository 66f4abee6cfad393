"""Global settings, as in ``keras.config`` (also found in ``densenn.backend``)."""
import math
import numbers
import warnings

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"


def backend():
    """The name of the engine that computes: 'densenn' (course code compares it with 'tensorflow', 'jax' or
    'torch' before using those libraries, which densenn does not run on)."""
    return "densenn"


def floatx():
    """The float type of new models' parameters and computations: 'float32' (default) or 'float64'."""
    return _FLOATX


def set_floatx(value):
    """Sets the float type of models built from now on ('float32' or 'float64')."""
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"set_floatx: expected 'float32' or 'float64', got {value!r}")
    _FLOATX = value


def epsilon():
    """The fuzz factor Keras uses in numeric expressions (1e-7 unless set_epsilon changed it)."""
    return _EPSILON


def set_epsilon(value):
    """Sets the value epsilon() returns. densenn's losses and metrics clip probabilities with 1e-7 in C++,
    whatever it is: another value warns."""
    global _EPSILON
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"set_epsilon: expected a finite number > 0, got {value!r}")
    if value != 1e-7:
        warnings.warn(f"set_epsilon({value}): densenn's losses and metrics keep clipping with 1e-7 (computed in "
                      "its C++ core); only epsilon() returns the new value.", UserWarning, stacklevel=2)
    _EPSILON = float(value)


def image_data_format():
    """'channels_last' (default) or 'channels_first': the layout course code reshapes images to (densenn's
    models take flat features, so only that code reads it)."""
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    global _IMAGE_DATA_FORMAT
    data_format = str(data_format).lower()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                         f"Received: data_format={data_format}")
    _IMAGE_DATA_FORMAT = data_format
