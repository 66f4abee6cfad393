"""Global settings, as in ``keras.config``."""

_FLOATX = "float32"


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
    """The fuzz factor Keras uses to clip probabilities (1e-7)."""
    return 1e-7
