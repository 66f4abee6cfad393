"""Optimizers, as in ``keras.optimizers``, with Keras 3's signatures, defaults and update
equations. The updates run in the C++ core over the model's flat parameter buffer.

Every optimizer takes Keras' shared arguments: ``weight_decay`` (decoupled:
``v -= v * weight_decay * lr`` before each update), ``clipnorm`` (per weight tensor),
``clipvalue``, ``global_clipnorm`` (at most one of the three), and ``learning_rate`` as a float,
a ``schedules.LearningRateSchedule`` (evaluated at ``iterations`` before every batch) or a
callable taking no arguments. Keras 2's ``lr=`` is accepted with a DeprecationWarning.
"""
import sys
import warnings

import numpy as np

from . import schedules
from ..data_adapter import number
from .schedules import LearningRateSchedule

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion",
           "schedules", "get", "serialize", "deserialize"]


def _optional_number(value, argument):
    return None if value is None else number(value, argument)


def _warn(message, category):
    """Warns with the location of the user's code (the first frame outside this package)."""
    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(__name__):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class Optimizer:
    """Holds the hyperparameters; once a model is compiled with it, ``learning_rate`` and
    ``iterations`` read and write the model's core."""

    core_name = None
    _hyperparameters = ()  # the subclass's own arguments, in Keras' get_config order

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        cls = type(self).__name__
        if "lr" in kwargs:  # Keras 2 spelling (Keras 3 rejects it)
            _warn("The `lr` argument is deprecated, use `learning_rate` instead.", DeprecationWarning)
            learning_rate = kwargs.pop("lr")
        if kwargs.pop("decay", None) is not None:  # as Keras 3
            _warn("Argument `decay` is no longer supported and will be ignored.", UserWarning)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        self._learning_rate = self._check_learning_rate(learning_rate, f"{cls} learning_rate")
        self.weight_decay = _optional_number(weight_decay, f"{cls} weight_decay")
        self.clipnorm = _optional_number(clipnorm, f"{cls} clipnorm")
        self.clipvalue = _optional_number(clipvalue, f"{cls} clipvalue")
        self.global_clipnorm = _optional_number(global_clipnorm, f"{cls} global_clipnorm")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        # Accepted for Keras' signature; densenn implements only their defaults.
        for argument, value, default in (("use_ema", use_ema, False), ("loss_scale_factor", loss_scale_factor, None),
                                         ("gradient_accumulation_steps", gradient_accumulation_steps, None)):
            if value != default:
                raise ValueError(f"{cls}: {argument}={value!r} is not supported by densenn "
                                 f"(only the default, {default!r}).")
        self.use_ema = False
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = None
        self.gradient_accumulation_steps = None
        self.name = name or cls.lower()
        self._core = None  # the compiled model's core, once attached

    @staticmethod
    def _check_learning_rate(value, argument):
        if isinstance(value, LearningRateSchedule) or (callable(value) and not isinstance(value, type)):
            return value
        return number(value, argument)

    def _attach(self, model_core):
        self._core = model_core

    # ------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self):
        """This step's rate: the float, or the schedule evaluated at ``iterations``."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return float(self._learning_rate(self.iterations))
        if callable(self._learning_rate):
            return float(self._learning_rate())
        return self._core.learning_rate if self._core is not None else self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule) or (callable(value) and not isinstance(value, type)):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` "
                "constructor argument, hence its learning rate is not settable. If you need the learning rate "
                "to be settable, you should instantiate the optimizer with a float `learning_rate` argument."
            )
        self._learning_rate = number(value, "learning_rate")
        if self._core is not None:
            self._core.learning_rate = self._learning_rate

    @property
    def lr(self):
        """Keras 2's name for ``learning_rate``."""
        return self.learning_rate

    @lr.setter
    def lr(self, value):
        self.learning_rate = value

    def _rate_checked(self, value, step):
        value = float(value)
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{type(self).__name__}: the learning rate at step {step} is {value}; "
                             "expected a finite number >= 0.")
        return value

    def _learning_rates(self, steps):
        """The rates of the next `steps` optimizer steps, for the core's data_pass: [] for a
        constant rate (the core uses its own, which callbacks may change between epochs);
        a schedule's values at iterations, iterations + 1, ...; a no-argument callable's value,
        evaluated once for the pass."""
        rate = self._learning_rate
        if not callable(rate):
            return []
        start = int(self.iterations)
        if isinstance(rate, LearningRateSchedule):
            if type(rate).__module__ == schedules.__name__:  # built-in: vectorised over steps
                values = np.broadcast_to(np.asarray(rate(np.arange(start, start + steps)), dtype=np.float64),
                                         (steps,))
            else:
                values = np.array([float(rate(step)) for step in range(start, start + steps)], dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
            if bad.size:
                self._rate_checked(values[bad[0]], start + int(bad[0]))
            return values.tolist()
        return [self._rate_checked(rate(), start)] * steps

    def _initial_rate(self):
        """The core's own rate: the float, else the schedule's first value (fit passes the
        schedule's rates per step; an invalid value is reported there)."""
        rate = self._learning_rate
        if callable(rate):
            value = float(rate(0) if isinstance(rate, LearningRateSchedule) else rate())
            return value if np.isfinite(value) and value >= 0 else 0.0
        return rate

    # ------------------------------------------------------------------ iterations
    @property
    def iterations(self):
        """The number of optimizer steps taken (batches trained) since compile."""
        return self._core.iterations if self._core is not None else 0

    @iterations.setter
    def iterations(self, value):
        if self._core is None:
            raise ValueError("iterations: the optimizer is not attached to a compiled model yet.")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"iterations: expected an integer >= 0, got {value!r}")
        self._core.iterations = int(value)

    # ------------------------------------------------------------------ configs
    def _core_hyperparameters(self):
        return {k: getattr(self, k) for k in self._hyperparameters}

    def core_config(self):
        """The C++ core's description of this optimizer: its name and arguments."""
        return dict(name=self.core_name, learning_rate=self._initial_rate(), weight_decay=self.weight_decay,
                    clipnorm=self.clipnorm, clipvalue=self.clipvalue, global_clipnorm=self.global_clipnorm,
                    **self._core_hyperparameters())

    def get_config(self):
        rate = self._learning_rate
        if isinstance(rate, LearningRateSchedule):
            rate = schedules.serialize(rate)
        elif not callable(rate):
            rate = self.learning_rate
        config = {"name": self.name, "learning_rate": rate, "weight_decay": self.weight_decay,
                  "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                  "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                  "ema_overwrite_frequency": self.ema_overwrite_frequency,
                  "loss_scale_factor": self.loss_scale_factor,
                  "gradient_accumulation_steps": self.gradient_accumulation_steps}
        config.update(self._core_hyperparameters())
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        config = self.get_config()
        shown = ["learning_rate", *self._hyperparameters,
                 *(k for k in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm") if config[k] is not None)]
        rate = self._learning_rate
        args = [f"learning_rate={rate!r}" if callable(rate) else f"learning_rate={config['learning_rate']!r}"]
        args += [f"{k}={config[k]!r}" for k in shown[1:]]
        return f"{type(self).__name__}({', '.join(args)})"


def _beta(value, argument):
    return number(value, argument, 0.0, 1.0, high_open=True)


def _epsilon(value, argument):
    return number(value, argument, 0.0, low_open=True)


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum: ``m = momentum*m - lr*g; v += m``
    (Nesterov: ``v += momentum*m - lr*g``); without momentum ``v -= lr*g``."""

    core_name = "sgd"
    _hyperparameters = ("momentum", "nesterov")

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, name="SGD", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency, name=name, **kwargs)
        self.momentum = number(momentum, "SGD momentum", 0.0, 1.0)
        self.nesterov = bool(nesterov)


class Adam(Optimizer):
    """Adam: ``m += (g - m)(1 - b1); s += (g^2 - s)(1 - b2); v -= a m / (sqrt(s) + eps)`` with
    ``a = lr sqrt(1 - b2^t) / (1 - b1^t)`` (epsilon on the uncorrected sqrt); ``amsgrad`` uses the
    running maximum of ``s``."""

    core_name = "adam"
    _hyperparameters = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adam", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        cls = type(self).__name__
        self.beta_1 = _beta(beta_1, f"{cls} beta_1")
        self.beta_2 = _beta(beta_2, f"{cls} beta_2")
        self.epsilon = _epsilon(epsilon, f"{cls} epsilon")
        self.amsgrad = bool(amsgrad)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004): ``v -= v * weight_decay * lr`` before each
    Adam update."""

    core_name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adamw", **kwargs):
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")


class RMSprop(Optimizer):
    """RMSprop: ``s = rho s + (1 - rho) g^2; v -= lr g / sqrt(s + eps)`` (centered: ``s - a^2 + eps``
    with ``a = rho a + (1 - rho) g``); with momentum the increments accumulate:
    ``m = momentum m + increment; v -= m``."""

    core_name = "rmsprop"
    _hyperparameters = ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="rmsprop", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.rho = number(rho, "RMSprop rho", 0.0, 1.0)
        self.momentum = number(momentum, "RMSprop momentum", 0.0, 1.0)
        self.epsilon = _epsilon(epsilon, "RMSprop epsilon")
        self.centered = bool(centered)


class Adagrad(Optimizer):
    """Adagrad: ``acc += g^2; v -= lr g / sqrt(acc + eps)``, accumulators starting at
    ``initial_accumulator_value``."""

    core_name = "adagrad"
    _hyperparameters = ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
                 **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.initial_accumulator_value = number(initial_accumulator_value, "Adagrad initial_accumulator_value")
        self.epsilon = _epsilon(epsilon, "Adagrad epsilon")


class Adadelta(Optimizer):
    """Adadelta: ``G = rho G + (1 - rho) g^2; d = -sqrt(D + eps) g / sqrt(G + eps);
    D = rho D + (1 - rho) d^2; v += lr d``."""

    core_name = "adadelta"
    _hyperparameters = ("rho", "epsilon")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name="adadelta", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.rho = number(rho, "Adadelta rho", 0.0, 1.0)
        self.epsilon = _epsilon(epsilon, "Adadelta epsilon")


class Adamax(Optimizer):
    """Adamax: ``m += (g - m)(1 - b1); u = max(b2 u, |g|); v -= lr m / ((1 - b1^t)(u + eps))``."""

    core_name = "adamax"
    _hyperparameters = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name="adamax", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.beta_1 = _beta(beta_1, "Adamax beta_1")
        self.beta_2 = _beta(beta_2, "Adamax beta_2")
        self.epsilon = _epsilon(epsilon, "Adamax epsilon")


class Nadam(Optimizer):
    """Nadam (Adam with Nesterov momentum), with Keras' momentum schedule
    ``u_t = b1 (1 - 0.5 * 0.96^t)`` and its running product kept as optimizer state."""

    core_name = "nadam"
    _hyperparameters = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name="nadam", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.beta_1 = _beta(beta_1, "Nadam beta_1")
        self.beta_2 = _beta(beta_2, "Nadam beta_2")
        self.epsilon = _epsilon(epsilon, "Nadam epsilon")


class Lion(Optimizer):
    """Lion: ``v -= lr sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g``."""

    core_name = "lion"
    _hyperparameters = ("beta_1", "beta_2")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, name="lion", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency, name=name, **kwargs)
        if isinstance(beta_1, bool) or not isinstance(beta_1, (int, float, np.integer, np.floating)) \
                or not 0 < beta_1 <= 1:
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer degenerates "
                             f"to SignSGD. Received: beta_1={beta_1}.")
        self.beta_1 = float(beta_1)
        self.beta_2 = number(beta_2, "Lion beta_2", 0.0, 1.0)


_CLASSES = (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion)
_BY_NAME = {cls.__name__.lower(): cls for cls in _CLASSES}


def serialize(optimizer):
    """An optimizer as Keras' serialized dict: ``{'module', 'class_name', 'config', 'registered_name'}``."""
    optimizer = get(optimizer)
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """An optimizer from ``serialize``'s dict."""
    name = config.get("class_name") if isinstance(config, dict) else None
    if not isinstance(name, str) or name.lower() not in _BY_NAME:
        raise ValueError(f"Unknown optimizer {name if isinstance(name, str) else config!r}. "
                         f"Valid optimizers: {', '.join(sorted(_BY_NAME))}.")
    return _BY_NAME[name.lower()].from_config(config.get("config", {}), custom_objects)


def get(identifier):
    """An Optimizer from a name (any case: 'sgd', 'Adam', 'RMSprop', ...), a serialized dict, or an
    Optimizer object."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Unknown optimizer {identifier!r}. Valid optimizers: {', '.join(sorted(_BY_NAME))}.")

from . import legacy  # noqa: E402  (optimizers.legacy.Adam explains, as in Keras 3)
