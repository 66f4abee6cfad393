"""Finite-difference checks of the C++ gradients (float64 models built through the public API).

Every hidden activation x every loss, with the output activation chosen to suit the loss:
sigmoid for binary cross-entropy, softmax for (sparse) categorical cross-entropy (both as a
Dense activation and as a separate Activation layer, i.e. the fused p - t path), plus the
exact (non-fused) loss-gradient code with "unusual" output activations, sample weights, a
deeper mixed network, and the reported loss value against the Keras formulas written out
here in NumPy.

Tolerances (float64).  Central differences with h = 1e-5 on a loss of order 1 have a
truncation error of about h^2/6 * |L'''| ~ 1e-11 and a rounding error of about
eps * |L| / h ~ 1e-11, so the numerical derivative is good to ~1e-10 absolute.  We accept
|fd - g| <= 1e-8 + 1e-6 * |g|: 100x above the expected FD noise, yet any real bug (a missing
factor 1/k or 2, a wrong activation derivative, a dropped sample weight) changes gradients by
a fraction of their own size (>= 1e-3 here), orders of magnitude above the tolerance.
"""
import itertools

import numpy as np
import pytest

from densenn import Input, Sequential, layers
from support import core_finite_differences

H = 1e-5
RTOL, ATOL = 1e-6, 1e-8
EPS = 1e-7  # keras.config.epsilon()
KINKED = {"relu", "leaky_relu", "elu"}  # derivative (or its derivative) jumps at 0
MARGIN = 1e-2  # pre-activations of kinked units stay this far from 0 (>> H * |x| * |W|)

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "elu", "leaky_relu"]
LOSSES = ["mse", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"]
N_IN, N_HIDDEN, N_OUT, N_ROWS = 5, 4, 3, 8


# ----------------------------------------------------------------------------- independent NumPy maths

def np_activation(name, z):
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.2 * z)
    raise AssertionError(name)


def np_forward(spec, weights, x):
    """Forward pass of `spec` (list of ('dense', units, act, use_bias) / ('activation', act)).
    Returns the output and the inputs of every kinked activation (to check the margins)."""
    a, kinks, k = x, [], 0
    for layer in spec:
        if layer[0] == "dense":
            z = a @ weights[k]
            k += 1
            if layer[3]:
                z = z + weights[k]
                k += 1
            act = layer[2]
        else:
            z, act = a, layer[1]
        if act in KINKED:
            kinks.append(z)
        a = np_activation(act, z)
    return a, kinks


def keras_loss(loss, p, y, sample_weight=None):
    """Keras 3 formulas with reduction 'sum_over_batch_size' (divide by n, not by sum(w))."""
    if loss == "mse":
        per_sample = np.mean((y - p) ** 2, axis=-1)
    elif loss == "binary_crossentropy":
        q = np.clip(p, EPS, 1 - EPS)
        per_sample = -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q), axis=-1)
    else:
        t = np.eye(p.shape[1])[y[:, 0].astype(int)] if loss == "sparse_categorical_crossentropy" else y
        q = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
        per_sample = -np.sum(t * np.log(q), axis=-1)
    if sample_weight is not None:
        per_sample = per_sample * sample_weight
    return per_sample.sum() / p.shape[0]


# ----------------------------------------------------------------------------- problem set-up

def build(spec, loss):
    """A float64 model through the public API (call inside the float64 fixture)."""
    model_layers = [Input(shape=(N_IN,))]
    for layer in spec:
        if layer[0] == "dense":
            model_layers.append(layers.Dense(layer[1], activation=layer[2], use_bias=layer[3]))
        else:
            model_layers.append(layers.Activation(layer[1]))
    model = Sequential(model_layers)
    model.compile(optimizer="sgd", loss=loss)
    assert model._core.params.dtype == np.float64
    return model


def make_targets(loss, rng, n, k):
    if loss == "mse":
        return rng.normal(size=(n, k))
    if loss == "binary_crossentropy":
        return rng.uniform(size=(n, k))  # soft labels exercise both log terms
    labels = rng.integers(0, k, n)
    if loss == "categorical_crossentropy":
        return np.eye(k)[labels]
    return labels.astype(np.float64)[:, None]  # sparse: (n, 1) float class indices for the core


def setup_problem(model, spec, loss, seed=0):
    """Random weights (non-zero biases) and data, re-drawn until every kinked pre-activation
    is at least MARGIN away from 0 and no probability is near the eps clip (where the fused
    gradient stops being the true derivative)."""
    shapes = [w.shape for w in model.get_weights()]
    for s in itertools.count(seed * 1000):
        rng = np.random.default_rng(s)
        weights = [rng.uniform(-0.9, 0.9, size=shape) for shape in shapes]
        x = rng.normal(size=(N_ROWS, N_IN))
        y = make_targets(loss, rng, N_ROWS, model._core.output_dim)
        p, kinks = np_forward(spec, weights, x)
        if all(np.abs(z).min() > MARGIN for z in kinks) and (loss == "mse" or (p.min() > 1e-4 and p.max() < 1 - 1e-4)):
            break
        assert s < seed * 1000 + 200, "no draw keeps the pre-activations away from the kinks"
    model.set_weights(weights)
    np.testing.assert_array_equal(model._core.params, np.concatenate([w.ravel() for w in weights]))
    return np.ascontiguousarray(x), np.ascontiguousarray(y), weights


def finite_differences(model, x, y, sample_weight=None):
    return core_finite_differences(model._core, x, y, sample_weight, h=H)


def check_gradients(model, x, y, sample_weight=None):
    before = model._core.params.copy()
    loss, grads = model._core.compute_gradients(x, y, sample_weight)
    assert grads.dtype == np.float64 and grads.shape == before.shape
    np.testing.assert_array_equal(model._core.params, before)  # no update
    assert model._core.iterations == 0
    fd = finite_differences(model, x, y, sample_weight)
    np.testing.assert_array_equal(model._core.params, before)  # FD restored every parameter
    np.testing.assert_allclose(grads, fd, rtol=RTOL, atol=ATOL)
    # Sanity: the check is not vacuous.
    assert np.abs(grads).max() > 1e-3
    return loss


def output_specs(hidden, loss):
    """The output heads that make sense for `loss`: (id, list of layers after the hidden one)."""
    if loss == "mse":
        return [("linear-out", [("dense", N_OUT, "linear", True)]),
                (f"{hidden}-out", [("dense", N_OUT, hidden, True)])]
    tail = "sigmoid" if loss == "binary_crossentropy" else "softmax"
    return [(f"dense-{tail}", [("dense", N_OUT, tail, True)]),
            (f"activation-{tail}", [("dense", N_OUT, "linear", True), ("activation", tail)])]


CASES = [
    pytest.param(hidden, loss, head, id=f"{hidden}-{loss}-{head_id}")
    for hidden in ACTIVATIONS
    for loss in LOSSES
    for head_id, head in output_specs(hidden, loss)
]


# ----------------------------------------------------------------------------- tests

@pytest.mark.parametrize("hidden,loss,head", CASES)
def test_gradients_match_finite_differences(float64, hidden, loss, head):
    spec = [("dense", N_HIDDEN, hidden, True), *head]
    model = build(spec, loss)
    x, y, _ = setup_problem(model, spec, loss)
    loss_value = check_gradients(model, x, y)
    # The loss the FD differentiated is the one evaluate() reports.
    assert model.evaluate(x, y if loss != "sparse_categorical_crossentropy" else y[:, 0], batch_size=N_ROWS,
                          verbose=0) == pytest.approx(loss_value, rel=1e-13)


# Output activations that do not fuse with the loss: the exact loss_gradient branches
# (clip-aware BCE, CCE through p / sum(p)) and the activation Jacobians of the output layer.
UNFUSED = [
    ("binary_crossentropy", [("dense", N_OUT, "softmax", True)]),
    ("binary_crossentropy", [("dense", N_OUT, "linear", True), ("activation", "softmax")]),
    ("categorical_crossentropy", [("dense", N_OUT, "sigmoid", True)]),
    ("sparse_categorical_crossentropy", [("dense", N_OUT, "sigmoid", True)]),
    # softmax then a no-op activation layer: the last layer is 'linear', so nothing fuses
    ("categorical_crossentropy", [("dense", N_OUT, "softmax", True), ("activation", "linear")]),
    ("mse", [("dense", N_OUT, "linear", True), ("activation", "sigmoid")]),
]


@pytest.mark.parametrize("loss,head", UNFUSED, ids=[
    f"{loss}-" + "+".join(layer[2] if layer[0] == "dense" else layer[1] for layer in head) for loss, head in UNFUSED])
def test_unfused_output_gradients(float64, loss, head):
    spec = [("dense", N_HIDDEN, "tanh", True), *head]
    model = build(spec, loss)
    x, y, _ = setup_problem(model, spec, loss, seed=1)
    check_gradients(model, x, y)


@pytest.mark.parametrize("targets", ["soft", "unnormalised"])
def test_fused_categorical_crossentropy_with_non_one_hot_targets(float64, targets):
    """The fused softmax + CCE path computes p * sum(t) - t, the true derivative of the reported
    loss, also for soft labels and for target rows that do not sum to 1."""
    spec = [("dense", N_HIDDEN, "tanh", True), ("dense", N_OUT, "softmax", True)]
    model = build(spec, "categorical_crossentropy")
    x, _, _ = setup_problem(model, spec, "categorical_crossentropy", seed=4)
    rng = np.random.default_rng(4)
    y = rng.uniform(0.0, 1.0, size=(N_ROWS, N_OUT))
    if targets == "soft":
        y /= y.sum(axis=1, keepdims=True)
    else:
        y[0] = 0.0  # a row without any target
    check_gradients(model, x, np.ascontiguousarray(y))


@pytest.mark.parametrize("loss", LOSSES)
def test_gradients_with_sample_weights(float64, loss):
    tail = {"mse": "linear", "binary_crossentropy": "sigmoid"}.get(loss, "softmax")
    spec = [("dense", N_HIDDEN, "elu", True), ("dense", N_OUT, tail, True)]
    model = build(spec, loss)
    x, y, _ = setup_problem(model, spec, loss, seed=2)
    sw = np.random.default_rng(7).uniform(0.2, 3.0, N_ROWS)
    sw[3] = 0.0  # a zero weight removes the sample entirely
    loss_w = check_gradients(model, x, y, sw)
    loss_1 = check_gradients(model, x, y)
    assert loss_w != pytest.approx(loss_1, rel=1e-3)  # the weights really are used
    # Weight w on a sample == that sample's contribution scaled by w (sum_over_batch_size: / n).
    _, g_w = model._core.compute_gradients(x, y, sw)
    per_row = [model._core.compute_gradients(x[i:i + 1], y[i:i + 1])[1] for i in range(N_ROWS)]
    np.testing.assert_allclose(g_w, sum(w * g for w, g in zip(sw, per_row)) / N_ROWS, rtol=1e-12, atol=1e-15)
    # An all-ones weight vector is the same as no weights.
    l_ones, g_ones = model._core.compute_gradients(x, y, np.ones(N_ROWS))
    l_none, g_none = model._core.compute_gradients(x, y)
    assert l_ones == l_none
    np.testing.assert_array_equal(g_ones, g_none)


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "mse"])
def test_deeper_mixed_network(float64, loss):
    """Activation layers in the middle (dx passes through them), a bias-free Dense layer."""
    spec = [("dense", 6, "tanh", True), ("dense", 4, "linear", False), ("activation", "elu"),
            ("dense", 5, "leaky_relu", True), ("activation", "sigmoid"), ("dense", N_OUT, "linear", True),
            ("activation", "softmax")]
    model = build(spec, loss)
    assert [w.shape for w in model.get_weights()] == [(5, 6), (6,), (6, 4), (4, 5), (5,), (5, 3), (3,)]
    x, y, _ = setup_problem(model, spec, loss, seed=3)
    check_gradients(model, x, y)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("saturated", [False, True], ids=["moderate", "saturated"])
@pytest.mark.parametrize("loss,tail", [("mse", "tanh"), ("binary_crossentropy", "sigmoid"),
                                       ("categorical_crossentropy", "softmax"),
                                       ("sparse_categorical_crossentropy", "softmax"),
                                       ("categorical_crossentropy", "sigmoid")])
def test_loss_value_is_keras_formula(float64, loss, tail, saturated, weighted):
    """The reported batch loss against the Keras formula computed here; 'saturated' scales the
    weights up so that some probabilities are exactly 0 or 1 and the eps clip matters."""
    spec = [("dense", N_HIDDEN, "relu", True), ("dense", N_OUT, tail, True)]
    model = build(spec, loss)
    rng = np.random.default_rng(11)
    weights = [rng.uniform(-1, 1, size=w.shape) for w in model.get_weights()]
    if saturated:  # huge output logits (|z| up to a few hundred): p underflows towards 0 or rounds to 1
        weights[2:] = [60.0 * w for w in weights[2:]]
    model.set_weights(weights)
    x = rng.normal(size=(N_ROWS, N_IN))
    y = make_targets(loss, rng, N_ROWS, N_OUT)
    sw = rng.uniform(0.0, 2.0, N_ROWS) if weighted else None
    p, _ = np_forward(spec, weights, x)
    if saturated and loss != "mse":
        assert ((p < EPS) | (p > 1 - EPS)).any()  # the clip is exercised
    expected = keras_loss(loss, p, y, sw)
    got, _ = model._core.compute_gradients(x, y, sw)
    assert np.isfinite(got)
    assert got == pytest.approx(expected, rel=1e-12)
    # evaluate() reports the same number (one batch; and batched, the size-weighted mean).
    y_api = y[:, 0] if loss == "sparse_categorical_crossentropy" else y
    assert model.evaluate(x, y_api, sample_weight=sw, batch_size=N_ROWS, verbose=0) == pytest.approx(expected, rel=1e-12)
    assert model.evaluate(x, y_api, sample_weight=sw, batch_size=3, verbose=0) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(model.predict(x, verbose=0), p, rtol=1e-12, atol=1e-15)
