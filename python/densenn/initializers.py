"""Weight initializers, as in ``keras.initializers``. The values are drawn in
the C++ core from the model's seeded generator (or the initializer's own
``seed``), so ``utils.set_random_seed`` fixes them on every platform."""
import numpy as np

__all__ = ["serialize", "Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
           "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "get"]


def _finite(value, argument):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value):
        raise ValueError(f"{argument}: expected a finite number, got {value!r}")
    return float(value)


def check_seed(seed, owner):
    """A seed as the core takes it: None, or an integer in [0, 2**64)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise ValueError(f"{owner}: seed must be None or an integer in [0, 2**64), got {seed!r}")
    return int(seed)


class Initializer:
    core_name = None  # the C++ core's name

    def __init__(self, seed=None):
        self.seed = check_seed(seed, type(self).__name__)

    def _arguments(self):
        """Numeric arguments besides the seed, as the core names them."""
        return {}

    def core_options(self, key):
        """(choices, options) for a layer config, prefixed with `key` (e.g. 'kernel_initializer'): the name
        and seed (as text, exact to 64 bits) and the numeric arguments."""
        choices = {key: self.core_name}
        if self.seed is not None:
            choices[f"{key}.seed"] = str(self.seed)
        return choices, {f"{key}.{k}": v for k, v in self._arguments().items()}

    def get_config(self):
        config = dict(self._arguments())
        if "seed" in type(self).__init__.__code__.co_varnames[:type(self).__init__.__code__.co_argcount]:
            config["seed"] = self.seed
        return config

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class Zeros(Initializer):
    core_name = "zeros"

    def __init__(self):
        super().__init__()


class Ones(Initializer):
    core_name = "ones"

    def __init__(self):
        super().__init__()


class Constant(Initializer):
    core_name = "constant"

    def __init__(self, value=0.0):
        super().__init__()
        self.value = _finite(value, "Constant value")

    def _arguments(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    core_name = "random_normal"

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean = _finite(mean, "RandomNormal mean")
        self.stddev = _finite(stddev, "RandomNormal stddev")
        if self.stddev < 0:
            raise ValueError(f"RandomNormal stddev: expected a value >= 0, got {stddev!r}")

    def _arguments(self):
        return {"mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    """Normal values beyond two standard deviations from the mean are redrawn."""
    core_name = "truncated_normal"


class RandomUniform(Initializer):
    core_name = "random_uniform"

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval = _finite(minval, "RandomUniform minval")
        self.maxval = _finite(maxval, "RandomUniform maxval")
        if self.minval > self.maxval:
            raise ValueError(f"RandomUniform: minval ({minval}) must not exceed maxval ({maxval})")

    def _arguments(self):
        return {"minval": self.minval, "maxval": self.maxval}


class GlorotUniform(Initializer):
    """U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))."""
    core_name = "glorot_uniform"


class GlorotNormal(Initializer):
    """Truncated normal with stddev sqrt(2 / (fan_in + fan_out)) (corrected for the truncation)."""
    core_name = "glorot_normal"


class HeUniform(Initializer):
    core_name = "he_uniform"


class HeNormal(Initializer):
    core_name = "he_normal"


class LecunUniform(Initializer):
    core_name = "lecun_uniform"


class LecunNormal(Initializer):
    core_name = "lecun_normal"


_CLASSES = [Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, GlorotUniform, GlorotNormal,
            HeUniform, HeNormal, LecunUniform, LecunNormal]
_BY_NAME = {**{c.core_name: c for c in _CLASSES}, **{c.__name__: c for c in _CLASSES}, "zero": Zeros, "one": Ones}


def serialize(initializer):
    return {"module": "keras.initializers", "class_name": type(initializer).__name__,
            "config": initializer.get_config(), "registered_name": None}


def get(identifier):
    """An Initializer from a name ('glorot_uniform', 'he_normal', 'GlorotUniform', ...), a Keras-style
    {"class_name", "config"} dict, or an Initializer."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_NAME:
        return _BY_NAME[identifier["class_name"]](**identifier.get("config", {}))
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    valid = sorted(c.core_name for c in _CLASSES)
    raise ValueError(f"Unknown initializer {identifier!r}. Valid initializers: {', '.join(valid)}.")
