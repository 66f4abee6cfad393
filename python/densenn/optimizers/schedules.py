"""Learning-rate schedules, as in ``keras.optimizers.schedules``, with Keras 3's formulas.

A schedule is a callable ``schedule(step) -> learning rate``. Passed as an optimizer's
``learning_rate``, it is evaluated at ``optimizer.iterations`` before every batch (the step
counts batches, not epochs), as Keras does. ``fit`` evaluates the whole epoch's rates at once
and hands them to the C++ core, so no Python runs between batches.

The built-in schedules compute in float64 NumPy (Keras computes in the dtype of
``initial_learning_rate``, float32 for a Python float); ``step`` may be an integer or an array of
steps, and the result is a NumPy float64 scalar or array.
"""
import math

import numpy as np

__all__ = ["LearningRateSchedule", "ExponentialDecay", "InverseTimeDecay", "PolynomialDecay",
           "PiecewiseConstantDecay", "CosineDecay", "serialize", "deserialize", "get"]


def _steps(step):
    return np.asarray(step, dtype=np.float64)


def _result(value):
    value = np.asarray(value, dtype=np.float64)
    return value[()] if value.ndim == 0 else value  # a NumPy float64 scalar for a scalar step


def _finite(value, argument, cls):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value):
        raise ValueError(f"{cls}: argument `{argument}` must be a finite number. Received: {argument}={value!r}")
    return value


def _decay_steps(value, cls, argument="decay_steps"):
    _finite(value, argument, cls)
    if value <= 0:
        raise ValueError(f"Argument `{argument}` must be > 0. Received: {argument}={value}")
    return value


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(self, step)`` (and ``get_config`` to be serializable)."""

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{self.__class__.__name__}' must override `__call__(self, step)`."
        )

    def get_config(self):
        raise NotImplementedError(
            f"Learning rate schedule '{self.__class__.__name__}' must override `get_config()` in order to be "
            "serializable."
        )

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


class _RateDecay(LearningRateSchedule):
    """The arguments ExponentialDecay and InverseTimeDecay share, and their progress step / decay_steps
    (floored with staircase=True)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        super().__init__()
        cls = type(self).__name__
        self.initial_learning_rate = _finite(initial_learning_rate, "initial_learning_rate", cls)
        self.decay_steps = _decay_steps(decay_steps, cls)
        self.decay_rate = _finite(decay_rate, "decay_rate", cls)
        self.staircase = bool(staircase)
        self.name = cls if name is None else name

    def _progress(self, step):
        p = _steps(step) / float(self.decay_steps)
        return np.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase=True`` the
    exponent is ``floor(step / decay_steps)``."""

    def __call__(self, step):
        return _result(float(self.initial_learning_rate) * np.power(float(self.decay_rate), self._progress(step)))


class InverseTimeDecay(_RateDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``; with ``staircase=True``
    ``step / decay_steps`` is floored."""

    def __call__(self, step):
        return _result(float(self.initial_learning_rate) / (1.0 + float(self.decay_rate) * self._progress(step)))


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end`` with ``step`` capped at
    ``decay_steps``; with ``cycle=True`` ``decay_steps`` is instead multiplied by
    ``ceil(step / decay_steps)`` (1 at step 0)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        super().__init__()
        cls = type(self).__name__
        self.initial_learning_rate = _finite(initial_learning_rate, "initial_learning_rate", cls)
        self.decay_steps = _decay_steps(decay_steps, cls)
        self.end_learning_rate = _finite(end_learning_rate, "end_learning_rate", cls)
        self.power = _finite(power, "power", cls)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        step = _steps(step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            multiplier = np.where(step == 0, 1.0, np.ceil(step / decay_steps))
            decay_steps = decay_steps * multiplier
        else:
            step = np.minimum(step, decay_steps)
        p = step / decay_steps
        initial, end = float(self.initial_learning_rate), float(self.end_learning_rate)
        return _result((initial - end) * np.power(1.0 - p, float(self.power)) + end)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` once ``step > boundaries[-1]``."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        super().__init__()
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and values={values} "
                f"of length {len(values)}."
            )
        for b in boundaries:
            _finite(b, "boundaries", type(self).__name__)
        for v in values:
            _finite(v, "values", type(self).__name__)
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        step = _steps(step)
        b = [float(x) for x in self.boundaries]
        v = [float(x) for x in self.values]
        if not b:
            return _result(np.full(step.shape, v[0]))
        # Keras' sum of indicator functions, one per interval.
        result = (step <= b[0]) * v[0] + (step > b[-1]) * v[-1]
        for low, high, value in zip(b[:-1], b[1:], v[1:-1]):
            result = result + ((step > low) & (step <= high)) * value
        return _result(result)

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from ``initial_learning_rate`` (or, after a linear warmup of ``warmup_steps``
    steps, from ``warmup_target``) to ``alpha`` times that over ``decay_steps`` steps:
    ``lr0 * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha)``."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        super().__init__()
        cls = type(self).__name__
        self.initial_learning_rate = _finite(initial_learning_rate, "initial_learning_rate", cls)
        self.decay_steps = _decay_steps(decay_steps, cls)
        self.alpha = _finite(alpha, "alpha", cls)
        self.name = name
        self.warmup_steps = _finite(warmup_steps, "warmup_steps", cls)
        if warmup_steps < 0:
            raise ValueError(f"Argument `warmup_steps` must be >= 0. Received: warmup_steps={warmup_steps}")
        self.warmup_target = None if warmup_target is None else _finite(warmup_target, "warmup_target", cls)

    def _decay(self, step, decay_from):
        decay_steps = float(self.decay_steps)
        cosine = 0.5 * (1.0 + np.cos(math.pi * (step / decay_steps)))
        alpha = float(self.alpha)
        return decay_from * ((1 - alpha) * cosine + alpha)

    def __call__(self, step):
        step = _steps(step)
        initial = float(self.initial_learning_rate)
        decay_steps = float(self.decay_steps)
        if self.warmup_target is None:
            return _result(self._decay(np.minimum(step, decay_steps), initial))
        target, warmup_steps = float(self.warmup_target), float(self.warmup_steps)
        step = np.minimum(step, decay_steps + warmup_steps)
        warming = step < warmup_steps
        with np.errstate(divide="ignore", invalid="ignore"):  # warmup_steps may be 0 (never warming then)
            warmup = (target - initial) * (step / warmup_steps) + initial
        return _result(np.where(warming, warmup, self._decay(step - warmup_steps, target)))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


_BY_NAME = {cls.__name__: cls for cls in (ExponentialDecay, InverseTimeDecay, PolynomialDecay,
                                          PiecewiseConstantDecay, CosineDecay)}


def serialize(schedule):
    """A schedule as Keras' serialized dict: ``{'module', 'class_name', 'config', 'registered_name'}``."""
    if not isinstance(schedule, LearningRateSchedule):
        raise ValueError(f"serialize: expected a LearningRateSchedule, got {schedule!r}")
    return {"module": "keras.optimizers.schedules", "class_name": type(schedule).__name__,
            "config": schedule.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """A schedule from ``serialize``'s dict (custom_objects maps extra class names to classes)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    classes = {**_BY_NAME, **(custom_objects or {})}
    name = config["class_name"]
    if name not in classes:
        raise ValueError(f"Unknown learning rate schedule {name!r}. Valid schedules: {', '.join(sorted(_BY_NAME))}.")
    return classes[name].from_config(dict(config.get("config", {})))


def get(identifier):
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    return deserialize(identifier)
