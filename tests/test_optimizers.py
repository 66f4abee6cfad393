"""Optimizers, gradient clipping, weight decay and learning-rate schedules.

Each optimizer takes three steps on a small float64 model (Dense(1) on 3 features, mse) and is
compared with Keras 3's update equations written out here once more, independently, as scalar
Python loops over the parameters; the gradients are mse's, computed here by hand too.
"""
import math
from collections import defaultdict

import numpy as np
import pytest

import densenn
from densenn import Input, Sequential, callbacks, layers, optimizers
from densenn.optimizers import schedules
from densenn.benchmark.reference import ReferenceModel

from support import using_floatx


# ----------------------------------------------------------------------------- the small problem

X = [[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-0.4, 2.2, 0.9], [1.0, 1.0, 1.0]]
Y = [3.0, -2.0, 1.5, 0.25]
W0, B0 = [0.5, -0.3, 0.8], 0.1
D = len(W0)
VARIABLES = [list(range(D)), [D]]  # the kernel, the bias


def mse_gradients(p, rows, targets):
    """d/dp of (1/n) sum_i (x_i . w + b - y_i)^2 (Keras' mse, 'sum_over_batch_size')."""
    n = len(rows)
    g = [0.0] * (D + 1)
    for x, y in zip(rows, targets):
        r = sum(x[j] * p[j] for j in range(D)) + p[D] - y
        for j in range(D):
            g[j] += 2 * r * x[j] / n
        g[D] += 2 * r / n
    return g


def small_model(optimizer):
    model = Sequential([Input(shape=(D,)), layers.Dense(1, use_bias=True)])
    model.set_weights([np.array(W0).reshape(D, 1), np.array([B0])])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def flat(model):
    kernel, bias = model.get_weights()
    return list(kernel[:, 0]) + list(bias)


# ----------------------------------------------------------------------------- Keras 3's equations

DEFAULTS = {  # Keras 3's defaults, by class
    "SGD": dict(learning_rate=0.01, momentum=0.0, nesterov=False),
    "Adam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
    "AdamW": dict(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
    "RMSprop": dict(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False),
    "Adagrad": dict(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7),
    "Adadelta": dict(learning_rate=0.001, rho=0.95, epsilon=1e-7),
    "Adamax": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    "Nadam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    "Lion": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.99),
}
SHARED = dict(weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None)


def sign(x):
    return (x > 0) - (x < 0)


class Equations:
    """One optimizer's state and step, element by element, as Keras 3 writes them."""

    def __init__(self, cls, size=D + 1, **kwargs):
        self.cls = cls
        self.c = {**SHARED, **DEFAULTS[cls], **kwargs}
        self.state = defaultdict(lambda: [0.0] * size)
        if cls == "Adagrad":
            self.state["acc"] = [self.c["initial_accumulator_value"]] * size
        self.u_product = 1.0
        self.iterations = 0

    def clip(self, g):
        c = self.c
        if c["clipnorm"]:
            out = list(g)
            for var in VARIABLES:
                norm = math.sqrt(sum(g[j] ** 2 for j in var))
                for j in var:
                    out[j] = g[j] * c["clipnorm"] / max(norm, c["clipnorm"])
            return out
        if c["global_clipnorm"]:
            norm = math.sqrt(sum(x * x for x in g))
            return [x * c["global_clipnorm"] / max(norm, c["global_clipnorm"]) for x in g]
        if c["clipvalue"]:
            return [min(max(x, -c["clipvalue"]), c["clipvalue"]) for x in g]
        return g

    def step(self, p, g, lr=None):
        c, s, t = self.c, self.state, self.iterations + 1
        lr = c["learning_rate"] if lr is None else lr
        g = self.clip(g)
        if c["weight_decay"] is not None:
            p = [v - v * c["weight_decay"] * lr for v in p]
        p = list(p)
        if self.cls == "Nadam":
            u_t = c["beta_1"] * (1 - 0.5 * 0.96 ** t)
            u_t1 = c["beta_1"] * (1 - 0.5 * 0.96 ** (t + 1))
            self.u_product *= u_t
        for j in range(len(p)):
            gj = g[j]
            if self.cls == "SGD":
                mu = c["momentum"]
                if mu == 0:
                    p[j] -= lr * gj
                else:
                    s["m"][j] = mu * s["m"][j] - lr * gj
                    p[j] += mu * s["m"][j] - lr * gj if c["nesterov"] else s["m"][j]
            elif self.cls in ("Adam", "AdamW"):
                b1, b2 = c["beta_1"], c["beta_2"]
                s["m"][j] += (gj - s["m"][j]) * (1 - b1)
                s["v"][j] += (gj * gj - s["v"][j]) * (1 - b2)
                v = s["v"][j]
                if c["amsgrad"]:
                    s["vhat"][j] = max(s["vhat"][j], v)
                    v = s["vhat"][j]
                alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                p[j] -= s["m"][j] * alpha / (math.sqrt(v) + c["epsilon"])
            elif self.cls == "RMSprop":
                rho = c["rho"]
                s["vel"][j] = rho * s["vel"][j] + (1 - rho) * gj * gj
                if c["centered"]:
                    s["avg"][j] = rho * s["avg"][j] + (1 - rho) * gj
                    denominator = s["vel"][j] - s["avg"][j] ** 2 + c["epsilon"]
                else:
                    denominator = s["vel"][j] + c["epsilon"]
                increment = lr * gj / math.sqrt(denominator)
                if c["momentum"] > 0:
                    s["mom"][j] = c["momentum"] * s["mom"][j] + increment
                    p[j] -= s["mom"][j]
                else:
                    p[j] -= increment
            elif self.cls == "Adagrad":
                s["acc"][j] += gj * gj
                p[j] -= lr * gj / math.sqrt(s["acc"][j] + c["epsilon"])
            elif self.cls == "Adadelta":
                rho, eps = c["rho"], c["epsilon"]
                s["G"][j] = rho * s["G"][j] + (1 - rho) * gj * gj
                delta = -math.sqrt(s["D"][j] + eps) * gj / math.sqrt(s["G"][j] + eps)
                s["D"][j] = rho * s["D"][j] + (1 - rho) * delta * delta
                p[j] += lr * delta
            elif self.cls == "Adamax":
                b1 = c["beta_1"]
                s["m"][j] += (gj - s["m"][j]) * (1 - b1)
                s["u"][j] = max(c["beta_2"] * s["u"][j], abs(gj))
                p[j] -= lr * s["m"][j] / ((1 - b1 ** t) * (s["u"][j] + c["epsilon"]))
            elif self.cls == "Nadam":
                b1, b2 = c["beta_1"], c["beta_2"]
                s["m"][j] += (gj - s["m"][j]) * (1 - b1)
                s["v"][j] += (gj * gj - s["v"][j]) * (1 - b2)
                m_hat = u_t1 * s["m"][j] / (1 - self.u_product * u_t1) + (1 - u_t) * gj / (1 - self.u_product)
                v_hat = s["v"][j] / (1 - b2 ** t)
                p[j] -= m_hat * lr / (math.sqrt(v_hat) + c["epsilon"])
            elif self.cls == "Lion":
                b1, b2 = c["beta_1"], c["beta_2"]
                p[j] -= lr * sign(s["m"][j] * b1 + gj * (1 - b1))
                s["m"][j] = s["m"][j] * b2 + gj * (1 - b2)
            else:
                raise AssertionError(self.cls)
        self.iterations += 1
        return p


CASES = [
    ("SGD", {}),
    ("SGD", dict(learning_rate=0.05, momentum=0.9)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9, nesterov=True)),
    ("Adam", {}),
    ("Adam", dict(learning_rate=0.2, beta_1=0.5, beta_2=0.6, epsilon=1e-3)),
    ("Adam", dict(learning_rate=0.2, beta_1=0.5, beta_2=0.6, epsilon=1e-3, amsgrad=True)),
    ("AdamW", {}),
    ("AdamW", dict(learning_rate=0.1, weight_decay=0.5)),
    ("RMSprop", {}),
    ("RMSprop", dict(learning_rate=0.01, rho=0.8, momentum=0.5)),
    ("RMSprop", dict(learning_rate=0.01, centered=True)),
    ("RMSprop", dict(learning_rate=0.01, rho=0.7, momentum=0.3, centered=True, epsilon=1e-4)),
    ("Adagrad", {}),
    ("Adagrad", dict(learning_rate=0.3, initial_accumulator_value=0.5, epsilon=1e-3)),
    ("Adadelta", {}),
    ("Adadelta", dict(learning_rate=1.0, rho=0.5, epsilon=1e-3)),
    ("Adamax", {}),
    ("Adamax", dict(learning_rate=0.1, beta_1=0.7, beta_2=0.8)),
    ("Nadam", {}),
    ("Nadam", dict(learning_rate=0.1, beta_1=0.7, beta_2=0.8, epsilon=1e-4)),
    ("Lion", {}),
    ("Lion", dict(learning_rate=0.05, beta_1=0.5, beta_2=0.7)),
    # the shared arguments
    ("SGD", dict(learning_rate=0.05, clipnorm=1.0)),
    ("SGD", dict(learning_rate=0.05, clipvalue=0.5)),
    ("SGD", dict(learning_rate=0.05, global_clipnorm=1.5)),
    ("SGD", dict(learning_rate=0.05, momentum=0.5, weight_decay=0.3)),
    ("Adam", dict(learning_rate=0.1, weight_decay=0.2, clipnorm=0.7)),
    ("RMSprop", dict(learning_rate=0.01, clipvalue=0.3, weight_decay=0.1)),
    ("Adagrad", dict(learning_rate=0.1, global_clipnorm=0.5)),
    ("Adadelta", dict(learning_rate=1.0, clipnorm=0.2)),
    ("Adamax", dict(learning_rate=0.1, weight_decay=0.05, global_clipnorm=2.0)),
    ("Nadam", dict(learning_rate=0.1, clipvalue=0.1)),
    ("Lion", dict(learning_rate=0.05, weight_decay=1.0, clipnorm=0.5)),
]


def case_id(case):
    cls, kw = case
    return cls + ("-" + "-".join(f"{k}={v}" for k, v in kw.items()) if kw else "")


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_three_steps_follow_keras_equations(case, float64):
    cls, kwargs = case
    model = small_model(getattr(optimizers, cls)(**kwargs))
    x, y = np.array(X), np.array(Y).reshape(-1, 1)
    eq = Equations(cls, **kwargs)
    p = [*W0, B0]
    for step in range(3):
        g = mse_gradients(p, X, Y)
        # The harness's gradients are the core's.
        _, core_grads = model._core.compute_gradients(x, y)
        np.testing.assert_allclose(core_grads, g, rtol=1e-12, atol=1e-15)
        p = eq.step(p, g)
        model.fit(x, y, batch_size=len(X), epochs=1, shuffle=False, verbose=0)
        assert model.optimizer.iterations == step + 1
        np.testing.assert_allclose(flat(model), p, rtol=1e-12, atol=1e-14, err_msg=f"step {step + 1}")
    assert max(abs(a - b) for a, b in zip(p, [*W0, B0])) > 1e-6  # the comparison is not vacuous


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("inputs, blocks", [(40, 0), (2100, 2)])
def test_adam_in_whole_packets_follows_keras_equations(dtype, amsgrad, inputs, blocks):
    """41 parameters: whole SIMD packets and a tail (the cases above are all tail). With the batch in two blocks
    of rows the two threads share the update (2101 parameters: 2048 for the first, the rest for the second),
    which then writes the variables in a pass of their own."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(8, inputs)).astype(dtype)
    y = rng.normal(size=(8, 1)).astype(dtype)
    with using_floatx(dtype):
        model = Sequential([Input(shape=(inputs,)), layers.Dense(1)])
    # A small beta_2 lets the second moment fall between steps, so that amsgrad's maximum differs from it.
    kwargs = dict(learning_rate=0.1, beta_1=0.5, beta_2=0.3, epsilon=1e-3, amsgrad=amsgrad)
    model.compile(optimizer=optimizers.Adam(**kwargs), loss="mse")
    model._core.set_training_blocks(blocks)
    eq = Equations("Adam", size=inputs + 1, **kwargs)
    p = [float(v) for v in np.concatenate([w.ravel() for w in model.get_weights()])]
    for step in range(3):
        if blocks:  # the split batch's gradient, as its blocks sum it: each a mean over half the rows, halved
            first, second = (model._core.compute_gradients(x[r:r + 4], y[r:r + 4])[1] for r in (0, 4))
            g = first * 0.5 + second * 0.5
        else:
            _, g = model._core.compute_gradients(x, y)
        p = eq.step(p, [float(v) for v in g])
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        got = np.concatenate([w.ravel() for w in model.get_weights()])
        tolerance = dict(rtol=1e-12, atol=1e-14) if dtype == "float64" else dict(rtol=2e-6, atol=2e-6)
        np.testing.assert_allclose(got, p, **tolerance, err_msg=f"step {step + 1}")
    if amsgrad:
        moments, maxima = np.split(model._core.optimizer_state, 3)[1:]
        assert np.any(maxima > moments)  # the maximum was taken


def test_clipping_cases_really_clip(float64):
    """The gradients of the shared-argument cases exceed their thresholds (so the tests above clip)."""
    g = mse_gradients([*W0, B0], X, Y)
    kernel_norm = math.sqrt(sum(x * x for x in g[:D]))
    assert kernel_norm > 1.0 and abs(g[D]) < 1.0  # clipnorm=1.0 clips the kernel but not the bias
    assert math.sqrt(sum(x * x for x in g)) > 2.0
    assert max(abs(x) for x in g) > 0.5 and min(abs(x) for x in g) < 0.5


def test_amsgrad_case_differs_from_adam():
    kw = dict(learning_rate=0.2, beta_1=0.5, beta_2=0.6, epsilon=1e-3)
    plain, ams = Equations("Adam", **kw), Equations("Adam", amsgrad=True, **kw)
    p, q = [*W0, B0], [*W0, B0]
    for _ in range(3):
        p, q = plain.step(p, mse_gradients(p, X, Y)), ams.step(q, mse_gradients(q, X, Y))
    assert max(abs(a - b) for a, b in zip(p, q)) > 1e-6


def test_optimizer_state_layout(float64):
    n = D + 1
    sizes = {"SGD": 0, "Adam": 2 * n, "AdamW": 2 * n, "RMSprop": n, "Adagrad": n, "Adadelta": 2 * n,
             "Adamax": 2 * n, "Nadam": 2 * n + 1, "Lion": n}
    for cls, size in sizes.items():
        assert small_model(cls.lower())._core.optimizer_state.size == size, cls
    assert small_model(optimizers.SGD(momentum=0.5))._core.optimizer_state.size == n
    assert small_model(optimizers.Adam(amsgrad=True))._core.optimizer_state.size == 3 * n
    assert small_model(optimizers.RMSprop(momentum=0.5, centered=True))._core.optimizer_state.size == 3 * n
    # Adagrad's accumulators start at initial_accumulator_value, Nadam's u_product at 1.
    np.testing.assert_array_equal(small_model(optimizers.Adagrad(initial_accumulator_value=0.25))
                                  ._core.optimizer_state, [0.25] * n)
    nadam = small_model(optimizers.Nadam(beta_1=0.8))
    assert nadam._core.optimizer_state[-1] == 1.0
    nadam.fit(np.array(X), np.array(Y), batch_size=2, epochs=1, shuffle=False, verbose=0)
    expected = (0.8 * (1 - 0.5 * 0.96)) * (0.8 * (1 - 0.5 * 0.96 ** 2))
    assert nadam._core.optimizer_state[-1] == pytest.approx(expected, rel=1e-14)


# ----------------------------------------------------------------------------- the Python API

def test_defaults_and_get_config_follow_keras():
    for cls, defaults in DEFAULTS.items():
        config = getattr(optimizers, cls)().get_config()
        for key, value in {**SHARED, **defaults}.items():
            assert config[key] == value, (cls, key)
        assert config["use_ema"] is False and config["gradient_accumulation_steps"] is None
    names = {"SGD": "SGD", "Adam": "adam", "AdamW": "adamw", "RMSprop": "rmsprop", "Adagrad": "adagrad",
             "Adadelta": "adadelta", "Adamax": "adamax", "Nadam": "nadam", "Lion": "lion"}
    for cls, name in names.items():
        assert getattr(optimizers, cls)().name == name


@pytest.mark.parametrize("name,cls", [
    ("sgd", "SGD"), ("SGD", "SGD"), ("Sgd", "SGD"), ("adam", "Adam"), ("ADAM", "Adam"), ("Adam", "Adam"),
    ("adamw", "AdamW"), ("AdamW", "AdamW"), ("rmsprop", "RMSprop"), ("RMSprop", "RMSprop"), ("RMSPROP", "RMSprop"),
    ("adagrad", "Adagrad"), ("Adagrad", "Adagrad"), ("adadelta", "Adadelta"), ("Adadelta", "Adadelta"),
    ("adamax", "Adamax"), ("Adamax", "Adamax"), ("nadam", "Nadam"), ("Nadam", "Nadam"), ("lion", "Lion"),
    ("LION", "Lion"),
])
def test_string_names_any_case(name, cls):
    opt = optimizers.get(name)
    assert type(opt) is getattr(optimizers, cls)
    model = Sequential([Input(shape=(D,)), layers.Dense(1)])
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer) is getattr(optimizers, cls)
    before = model.get_weights()
    model.fit(np.array(X), np.array(Y), epochs=2, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"^Unknown optimizer 'adamm'\. Valid optimizers: adadelta, adagrad, adam, "
                                         r"adamax, adamw, lion, nadam, rmsprop, sgd\.$"):
        optimizers.get("adamm")


@pytest.mark.parametrize("cls", ["SGD", "Adam", "AdamW", "RMSprop", "Nadam"])
def test_lr_keyword_warns_and_is_used(cls):
    with pytest.warns(DeprecationWarning, match=r"The `lr` argument is deprecated, use `learning_rate` instead\.") \
            as record:
        opt = getattr(optimizers, cls)(lr=0.25)
    assert record[0].filename == __file__  # points at the caller's line
    assert opt.learning_rate == 0.25 and opt.get_config()["learning_rate"] == 0.25
    assert opt.lr == 0.25


def test_lr_keyword_trains_like_learning_rate(float64):
    with pytest.warns(DeprecationWarning):
        old = small_model(optimizers.SGD(lr=0.05, momentum=0.9))
    new = small_model(optimizers.SGD(learning_rate=0.05, momentum=0.9))
    for m in (old, new):
        m.fit(np.array(X), np.array(Y), batch_size=2, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_array_equal(flat(old), flat(new))


def test_decay_keyword_is_ignored_with_a_warning_like_keras_3():
    with pytest.warns(UserWarning, match=r"Argument `decay` is no longer supported and will be ignored\."):
        opt = optimizers.SGD(learning_rate=0.1, decay=1e-6)
    assert opt.learning_rate == 0.1


@pytest.mark.parametrize("make,error,message", [
    (lambda: optimizers.Adam(learning_rat=0.1), ValueError, r"^Argument\(s\) not recognized: \{'learning_rat': 0\.1\}$"),
    (lambda: optimizers.SGD(clipnorm=1.0, clipvalue=1.0), ValueError,
     r"^Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set\. Received: clipnorm=1\.0, "
     r"clipvalue=1\.0, global_clipnorm=None$"),
    (lambda: optimizers.Adam(clipnorm=-1), ValueError, r"^Adam clipnorm: expected a value in \[0\.0, inf\)"),
    (lambda: optimizers.AdamW(weight_decay=None), ValueError,
     r"^Argument `weight_decay` must be a float\. Received: weight_decay=None$"),
    (lambda: optimizers.Lion(beta_1=0.0), ValueError, r"^Argument `beta_1` must be in the \[0, 1\] range\."),
    (lambda: optimizers.Adam(beta_1=1.0), ValueError, r"^Adam beta_1: expected a value in \[0\.0, 1\.0\)"),
    (lambda: optimizers.RMSprop(rho=1.5), ValueError, r"^RMSprop rho: expected a value in \[0\.0, 1\.0\]"),
    (lambda: optimizers.Adagrad(initial_accumulator_value=-0.1), ValueError, r"initial_accumulator_value"),
    (lambda: optimizers.Nadam(epsilon=0.0), ValueError, r"^Nadam epsilon: expected a value in \(0\.0, inf\)"),
    (lambda: optimizers.Adam(use_ema=True), ValueError, r"^Adam: use_ema=True is not supported by densenn"),
    (lambda: optimizers.SGD(learning_rate="fast"), ValueError, r"^SGD learning_rate: expected a finite number"),
])
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_get_config_round_trip_with_a_schedule():
    schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    opt = optimizers.Nadam(learning_rate=schedule, beta_1=0.8, clipnorm=2.0)
    config = opt.get_config()
    assert config["learning_rate"] == {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
                                       "config": schedule.get_config(), "registered_name": None}
    again = optimizers.Nadam.from_config(config)
    assert isinstance(again._learning_rate, schedules.ExponentialDecay)
    assert again.get_config() == config
    assert optimizers.deserialize(optimizers.serialize(opt)).get_config() == config


def test_learning_rate_setter_with_a_float_and_a_schedule(float64):
    model = small_model(optimizers.SGD(learning_rate=0.1))
    model.optimizer.learning_rate = 0.05
    assert model.optimizer.learning_rate == 0.05 and model._core.learning_rate == 0.05
    model = small_model(optimizers.SGD(learning_rate=schedules.InverseTimeDecay(0.1, 1, 1.0)))
    with pytest.raises(TypeError, match="not settable"):
        model.optimizer.learning_rate = 0.05


# ----------------------------------------------------------------------------- schedules

def test_exponential_decay_values():
    s = schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5)
    stairs = schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=True)
    for step in [0, 1, 3, 4, 7, 10, 100]:
        assert s(step) == pytest.approx(0.1 * 0.5 ** (step / 4), rel=1e-14)
        assert stairs(step) == pytest.approx(0.1 * 0.5 ** (step // 4), rel=1e-14)


def test_inverse_time_decay_values():
    s = schedules.InverseTimeDecay(0.2, decay_steps=3, decay_rate=0.5)
    stairs = schedules.InverseTimeDecay(0.2, decay_steps=3, decay_rate=0.5, staircase=True)
    for step in [0, 1, 2, 3, 5, 9, 50]:
        assert s(step) == pytest.approx(0.2 / (1 + 0.5 * step / 3), rel=1e-14)
        assert stairs(step) == pytest.approx(0.2 / (1 + 0.5 * (step // 3)), rel=1e-14)


def test_polynomial_decay_values():
    s = schedules.PolynomialDecay(0.1, decay_steps=10)  # end_learning_rate=0.0001, power=1
    assert s.end_learning_rate == 0.0001 and s.power == 1.0 and s.cycle is False
    for step in [0, 1, 5, 10, 11, 40]:
        k = min(step, 10)
        assert s(step) == pytest.approx((0.1 - 0.0001) * (1 - k / 10) + 0.0001, rel=1e-14)
    p = schedules.PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.01, power=0.5, cycle=True)
    for step in [0, 1, 5, 10, 11, 19, 20, 21, 35]:
        steps = 10 * (1 if step == 0 else math.ceil(step / 10))
        assert p(step) == pytest.approx((0.1 - 0.01) * (1 - step / steps) ** 0.5 + 0.01, rel=1e-14)


def test_piecewise_constant_decay_values():
    s = schedules.PiecewiseConstantDecay([3, 6, 10], [1.0, 0.5, 0.1, 0.01])
    expected = {0: 1.0, 3: 1.0, 4: 0.5, 6: 0.5, 7: 0.1, 10: 0.1, 11: 0.01, 1000: 0.01}  # boundary: the lower value
    for step, value in expected.items():
        assert s(step) == value
    with pytest.raises(ValueError, match="The length of boundaries should be 1 less than the length of values"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.5])


def test_cosine_decay_values():
    s = schedules.CosineDecay(0.1, decay_steps=8, alpha=0.2)
    for step in [0, 1, 4, 7, 8, 9, 30]:
        k = min(step, 8)
        assert s(step) == pytest.approx(0.1 * ((1 - 0.2) * 0.5 * (1 + math.cos(math.pi * k / 8)) + 0.2),
                                        rel=1e-13, abs=1e-17)
    w = schedules.CosineDecay(0.0, decay_steps=10, warmup_target=0.2, warmup_steps=4)
    for step in [0, 1, 3, 4, 5, 9, 14, 15, 50]:
        if step < 4:
            want = (0.2 - 0.0) * (step / 4) + 0.0
        else:
            k = min(step, 14) - 4
            want = 0.2 * 0.5 * (1 + math.cos(math.pi * k / 10))
        assert w(step) == pytest.approx(want, rel=1e-13, abs=1e-17)


def test_schedules_vectorise_and_validate():
    s = schedules.CosineDecay(0.1, 20)
    np.testing.assert_allclose(s(np.arange(25)), [s(i) for i in range(25)], rtol=0, atol=0)
    assert isinstance(s(3), float)
    for make in (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), lambda: schedules.CosineDecay(0.1, -1)):
        with pytest.raises(ValueError, match=r"Argument `decay_steps` must be > 0"):
            make()
    assert schedules.deserialize(schedules.serialize(s)).get_config() == s.get_config()


class WeightsPerBatch(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights, self.rates = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(self.model.optimizer.learning_rate)

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(flat(self.model))


@pytest.mark.parametrize("make_schedule", [
    lambda: schedules.ExponentialDecay(0.2, decay_steps=2, decay_rate=0.5),
    lambda: schedules.InverseTimeDecay(0.2, decay_steps=1, decay_rate=1.0, staircase=True),
    lambda: schedules.PolynomialDecay(0.2, decay_steps=5, end_learning_rate=0.01, power=2.0),
    lambda: schedules.PiecewiseConstantDecay([2, 4], [0.1, 0.0, 0.05]),
    lambda: schedules.CosineDecay(0.05, decay_steps=4, warmup_target=0.2, warmup_steps=2),
], ids=["exponential", "inverse_time", "polynomial", "piecewise", "cosine"])
@pytest.mark.parametrize("cls", ["SGD", "Adam"])
def test_fit_follows_the_schedule_per_batch(make_schedule, cls, float64):
    schedule = make_schedule()
    model = small_model(getattr(optimizers, cls)(learning_rate=schedule))
    eq = Equations(cls)
    record = WeightsPerBatch()
    x, y = np.array(X), np.array(Y).reshape(-1, 1)
    model.fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0, callbacks=[record])  # 6 steps
    p, expected, rates = [*W0, B0], [], []
    for step in range(6):
        rows = slice(2 * (step % 2), 2 * (step % 2) + 2)
        rates.append(float(schedule(step)))
        p = eq.step(p, mse_gradients(p, X[rows], Y[rows]), lr=rates[-1])
        expected.append(p)
    np.testing.assert_allclose(record.rates, rates, rtol=1e-15)  # optimizer.learning_rate follows the schedule
    np.testing.assert_allclose(record.weights, expected, rtol=1e-12, atol=1e-14)
    assert model.optimizer.iterations == 6
    assert model.optimizer.learning_rate == pytest.approx(float(schedule(6)), rel=1e-15)


def test_piecewise_zero_segment_freezes_the_weights_exactly(float64):
    schedule = schedules.PiecewiseConstantDecay([2, 4], [0.1, 0.0, 0.05])  # steps 3 and 4 at rate 0
    model = small_model(optimizers.SGD(learning_rate=schedule))
    record = WeightsPerBatch()
    model.fit(np.array(X), np.array(Y), batch_size=1, epochs=2, shuffle=False, verbose=0, callbacks=[record])
    w = record.weights
    assert w[2] != w[1] and w[3] == w[2] and w[4] == w[2] and w[5] != w[4]
    assert record.rates == [0.1, 0.1, 0.1, 0.0, 0.0, 0.05, 0.05, 0.05]


def test_schedule_continues_across_fit_calls(float64):
    schedule = schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    once = small_model(optimizers.SGD(learning_rate=schedule))
    twice = small_model(optimizers.SGD(learning_rate=schedule))
    once.fit(np.array(X), np.array(Y), batch_size=2, epochs=2, shuffle=False, verbose=0)
    for _ in range(2):
        twice.fit(np.array(X), np.array(Y), batch_size=2, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_array_equal(flat(once), flat(twice))


def test_bad_schedule_values_are_reported(float64):
    model = small_model(optimizers.SGD(learning_rate=lambda: -0.1))
    with pytest.raises(ValueError, match=r"learning rate at step 0 is -0\.1"):
        model.fit(np.array(X), np.array(Y), verbose=0)

    class Custom(schedules.LearningRateSchedule):  # not vectorised: called step by step
        def __call__(self, step):
            return 0.1 if step < 3 else float("nan")

    model = small_model(optimizers.SGD(learning_rate=Custom()))
    with pytest.raises(ValueError, match=r"learning rate at step 3 is nan"):
        model.fit(np.array(X), np.array(Y), batch_size=1, verbose=0)


def test_custom_schedule_and_callable_rates(float64):
    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.1 / 2 ** step

    model = small_model(optimizers.SGD(learning_rate=Halving()))
    record = WeightsPerBatch()
    model.fit(np.array(X), np.array(Y), batch_size=2, epochs=2, shuffle=False, verbose=0, callbacks=[record])
    assert record.rates == [0.1, 0.05, 0.025, 0.0125]
    rate = [0.1]
    model = small_model(optimizers.SGD(learning_rate=lambda: rate[0]))
    model.fit(np.array(X), np.array(Y), batch_size=4, verbose=0)
    rate[0] = 0.0
    before = flat(model)
    model.fit(np.array(X), np.array(Y), batch_size=4, verbose=0)
    assert flat(model) == before and model.optimizer.learning_rate == 0.0


# ----------------------------------------------------------------------------- the NumPy reference

REFERENCE_CASES = CASES + [
    ("SGD", dict(learning_rate=schedules.PiecewiseConstantDecay([3], [0.1, 0.02]))),
    ("Adam", dict(learning_rate=schedules.CosineDecay(0.01, 5, alpha=0.1))),
]


def two_layer_problem():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 4))
    y = np.stack([np.sin(x[:, 0]) + x[:, 1], x[:, 2] * x[:, 3]], axis=1)
    return x, y


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=[case_id(c) for c in REFERENCE_CASES])
def test_reference_matches_the_core(case, float64):
    cls, kwargs = case
    x, y = two_layer_problem()
    densenn.utils.set_random_seed(7)
    model = Sequential([Input(shape=(4,)), layers.Dense(5, activation="tanh"), layers.Dense(2)])
    model.compile(optimizer=getattr(optimizers, cls)(**kwargs), loss="mse")
    ref = ReferenceModel([("dense", "tanh", True), ("dense", "linear", True)], model.get_weights(), "mse",
                         cls.lower(), **kwargs)
    model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    for _ in range(3):
        ref.train_epoch(x, y, batch_size=4)
    assert ref.iterations == model.optimizer.iterations == 9
    for got, want in zip(model.get_weights(), ref.weights):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("cls", list(DEFAULTS))
def test_float32_training_matches_the_reference(cls):
    x, y = two_layer_problem()
    x, y = x.astype(np.float32), y.astype(np.float32)
    densenn.utils.set_random_seed(11)
    model = Sequential([Input(shape=(4,)), layers.Dense(5, activation="tanh"), layers.Dense(2)])
    kwargs = dict(learning_rate=1.0 if cls == "Adadelta" else 0.01, clipnorm=1.0)
    model.compile(optimizer=getattr(optimizers, cls)(**kwargs), loss="mse")
    initial = model.get_weights()
    ref = ReferenceModel([("dense", "tanh", True), ("dense", "linear", True)], initial, "mse", cls.lower(),
                         dtype=np.float32, **kwargs)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for _ in range(2):
        ref.train_epoch(x, y, batch_size=4)
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert max(float(np.abs(a - b).max()) for a, b in zip(initial, model.get_weights())) > 1e-4
    for got, want in zip(model.get_weights(), ref.weights):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
