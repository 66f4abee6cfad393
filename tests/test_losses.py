"""Every Keras 3 loss: values, gradients, names.

- Values: the C++ core (through ``model.evaluate`` on a model whose output is its input, so the
  loss sees known predictions) against Keras' formulas written out here in float64 NumPy,
  independently of densenn.benchmark.reference; edge cases: eps clipping, label smoothing, the hinge
  losses' per-batch {0,1} -> {-1,1} mapping, both Huber branches, zero vectors for cosine, huge
  logits with from_logits, sample weights.  Also Keras' own docstring examples.
- Gradients: central finite differences (float64) of the reported loss against
  ``model._core.compute_gradients`` for every loss on a small Dense network, including
  from_logits, label smoothing (also through the fused sigmoid/softmax paths), clipped regions.
- The NumPy reference (densenn.benchmark.reference, also behind ``loss(y_true, y_pred)``) against the C++.
- Names: every string keras.losses.get() accepts, classes, functions, config dicts.

Tolerances as in test_gradients.py: float64 values agree to rel 1e-12 (same formula, different
summation order); central differences with h = 1e-5 are good to ~1e-10, we accept
|fd - g| <= 1e-8 + 1e-6 |g|.  Inputs are drawn away from kinks and clip boundaries by MARGIN.
"""
import itertools
import math

import numpy as np
import pytest

import densenn
from densenn import Input, Sequential, layers, losses
from densenn.benchmark.reference import ReferenceModel
from support import core_finite_differences

EPS = 1e-7  # keras.config.epsilon()
H = 1e-5
RTOL, ATOL = 1e-6, 1e-8
MARGIN = 1e-3


# ----------------------------------------------------------------------------- Keras' formulas, float64

def _softplus(x):
    # log(1 + e^x) evaluated without overflow
    return np.where(x > 0, x + np.log1p(np.exp(-np.abs(x))), np.log1p(np.exp(np.minimum(x, 0))))


def _normalize(x):
    # keras.ops.normalize(order=2): x * min(rsqrt(sum x^2), 1/eps)
    ss = np.sum(np.square(x), axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        inv = np.where(ss > 0, 1.0 / np.sqrt(ss), np.inf)
    return x * np.minimum(inv, 1.0 / EPS)


def keras_per_sample(name, y_pred, y_true, from_logits=False, label_smoothing=0.0, delta=1.0, dtype=np.float64):
    """keras/src/losses/losses.py, function by function, for one batch.  dtype: the model's float type,
    in which Keras clips probabilities to [eps, 1 - eps] (float32: 1 - eps rounds to 0.99999988)."""
    lo, hi = float(dtype(EPS)), float(dtype(1 - EPS))
    p = np.asarray(y_pred, dtype=np.float64)
    t = np.asarray(y_true, dtype=np.float64)
    if name == "sparse_categorical_crossentropy":
        t = np.eye(p.shape[1])[t.reshape(-1).astype(int)]
        name = "categorical_crossentropy"
    if t.ndim == 1:
        t = t[:, None]
    if name == "mse":
        return np.mean(np.square(t - p), axis=-1)
    if name == "mae":
        return np.mean(np.abs(t - p), axis=-1)
    if name == "mape":
        return 100.0 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), EPS)), axis=-1)
    if name == "msle":
        return np.mean(np.square(np.log(np.maximum(p, EPS) + 1.0) - np.log(np.maximum(t, EPS) + 1.0)), axis=-1)
    if name == "binary_crossentropy":
        if label_smoothing:
            t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
        if from_logits:  # -t log(sigmoid(z)) - (1-t) log(sigmoid(-z))
            return np.mean(t * _softplus(-p) + (1 - t) * _softplus(p), axis=-1)
        q = np.clip(p, lo, hi)
        return np.mean(-(t * np.log(q) + (1 - t) * np.log(1 - q)), axis=-1)
    if name == "categorical_crossentropy":
        if label_smoothing:
            t = t * (1.0 - label_smoothing) + label_smoothing / t.shape[-1]
        if from_logits:
            z = p - p.max(axis=-1, keepdims=True)
            log_prob = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
        else:
            log_prob = np.log(np.clip(p / np.sum(p, axis=-1, keepdims=True), lo, hi))
        return -np.sum(t * log_prob, axis=-1)
    if name in ("hinge", "squared_hinge"):
        if np.all((t == 0) | (t == 1)):  # convert_binary_labels_to_hinge, over the whole batch
            t = 2.0 * t - 1.0
        m = np.maximum(1.0 - t * p, 0.0)
        return np.mean(m if name == "hinge" else m * m, axis=-1)
    if name == "categorical_hinge":
        pos = np.sum(t * p, axis=-1)
        neg = np.max((1.0 - t) * p, axis=-1)
        return np.maximum(neg - pos + 1.0, 0.0)
    if name == "kl_divergence":
        t, q = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
        return np.sum(t * np.log(t / q), axis=-1)
    if name == "poisson":
        return np.mean(p - t * np.log(p + EPS), axis=-1)
    if name == "huber":
        e = p - t
        return np.mean(np.where(np.abs(e) <= delta, 0.5 * e * e, delta * np.abs(e) - 0.5 * delta ** 2), axis=-1)
    if name == "log_cosh":
        x = p - t
        return np.mean(x + _softplus(-2.0 * x) - np.log(2.0), axis=-1)
    if name == "cosine_similarity":
        return -np.sum(_normalize(t) * _normalize(p), axis=-1)
    raise AssertionError(name)


def keras_loss(name, y_pred, y_true, sample_weight=None, batch_size=None, **kw):
    """sum_over_batch_size per batch (sum(w l) / n), then the batch-size-weighted mean over the batches
    (what evaluate() reports); the hinge mapping is decided per batch, as in Keras."""
    n = len(y_pred)
    batch_size = batch_size or n
    total = 0.0
    for s in range(0, n, batch_size):
        per = keras_per_sample(name, y_pred[s:s + batch_size], y_true[s:s + batch_size], **kw)
        if sample_weight is not None:
            per = per * np.asarray(sample_weight, dtype=np.float64)[s:s + batch_size]
        total += per.sum()  # (sum / batch) * batch
    return total / n


def identity_model(k, loss, activation="linear"):
    model = Sequential([Input(shape=(k,)), layers.Activation(activation)])
    model.compile(optimizer="sgd", loss=loss)
    return model


def evaluate(model, x, y, **kw):
    return model.evaluate(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), verbose=0, **kw)


# ----------------------------------------------------------------------------- values

rng0 = np.random.default_rng(2024)
N, K = 8, 3
P_REAL = rng0.normal(size=(N, K)) * 2
T_REAL = rng0.normal(size=(N, K)) * 2
P_PROB = rng0.uniform(0.01, 0.99, size=(N, K))
P_PROB_EDGES = P_PROB.copy()
P_PROB_EDGES[0] = [0.0, 1.0, 1e-9]  # exactly 0 / 1 and below eps: the clip matters
P_PROB_EDGES[1] = [1 - 1e-9, 0.5, 0.5]
T_SOFT = rng0.uniform(size=(N, K))
T_ONEHOT = np.eye(K)[rng0.integers(0, K, N)]
T_BINARY = rng0.integers(0, 2, size=(N, K)).astype(float)
T_DIST = rng0.dirichlet(np.ones(K), size=N)
T_DIST[0] = [1.0, 0.0, 0.0]  # zeros in t: clipped to eps for KLD
P_POS = rng0.uniform(0.05, 4.0, size=(N, K))
T_COUNTS = rng0.integers(0, 5, size=(N, K)).astype(float)
LOGITS_HUGE = rng0.normal(size=(N, K)) * 5
LOGITS_HUGE[0] = [800.0, -800.0, 0.0]  # exp overflows unless computed stably
LOGITS_HUGE[1] = [-60.0, 60.0, 30.0]

# The MAPE / MSLE edge rows: targets that are 0, tiny, negative; predictions below eps.
T_MAPE = T_REAL.copy()
T_MAPE[0] = [0.0, 1e-9, -1e-9]
T_MAPE[1] = [-3.0, 2e-7, 5.0]
P_MSLE = P_POS.copy()
P_MSLE[0] = [-2.0, 0.0, 1e-9]
T_MSLE = P_POS[::-1].copy()
T_MSLE[1] = [-1.0, 0.0, 3.0]
# Huber: both branches, and |e| exactly delta.
T_HUBER = np.zeros((N, K))
P_HUBER = np.linspace(-3, 3, N * K).reshape(N, K)
P_HUBER[0] = [1.0, -1.0, 0.5]  # |e| = delta (1.0): the quadratic branch (<=), and |e| = 0.5 (delta 0.5)
# Cosine: zero vectors, a vector shorter than eps (the rsqrt clamp), parallel / opposite rows.
P_COS = P_REAL.copy()
T_COS = T_REAL.copy()
P_COS[0] = 0.0
T_COS[1] = 0.0
P_COS[2] = [3e-8, -4e-8, 0.0]  # |p| = 5e-8 < eps: normalised with 1/eps, not 1/|p|
P_COS[3], T_COS[3] = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]
P_COS[4], T_COS[4] = [1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]
# Categorical hinge with a tied maximum.
P_CH = P_REAL.copy()
P_CH[0], T_CH0 = [0.3, 0.7, 0.7], [1.0, 0.0, 0.0]
T_CH = T_ONEHOT.copy()
T_CH[0] = T_CH0
LABELS = rng0.integers(0, K, N)

VALUE_CASES = [
    # id, loss object, predictions, targets, keras_per_sample kwargs
    ("mse", losses.MeanSquaredError(), P_REAL, T_REAL, {}),
    ("mae", losses.MeanAbsoluteError(), P_REAL, T_REAL, {}),
    ("mape", losses.MeanAbsolutePercentageError(), P_REAL, T_MAPE, {}),
    ("msle", losses.MeanSquaredLogarithmicError(), P_MSLE, T_MSLE, {}),
    ("bce", losses.BinaryCrossentropy(), P_PROB_EDGES, T_SOFT, {}),
    ("bce-binary-labels", losses.BinaryCrossentropy(), P_PROB_EDGES, T_BINARY, {}),
    ("bce-smoothing", losses.BinaryCrossentropy(label_smoothing=0.2), P_PROB_EDGES, T_BINARY,
     {"label_smoothing": 0.2}),
    ("bce-logits", losses.BinaryCrossentropy(from_logits=True), LOGITS_HUGE, T_BINARY, {"from_logits": True}),
    ("bce-logits-smoothing", losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.3), LOGITS_HUGE,
     T_SOFT, {"from_logits": True, "label_smoothing": 0.3}),
    ("cce", losses.CategoricalCrossentropy(), P_PROB_EDGES, T_ONEHOT, {}),  # rows not normalised
    ("cce-soft", losses.CategoricalCrossentropy(), P_PROB, T_DIST, {}),
    ("cce-smoothing", losses.CategoricalCrossentropy(label_smoothing=0.1), P_PROB_EDGES, T_ONEHOT,
     {"label_smoothing": 0.1}),
    ("cce-logits", losses.CategoricalCrossentropy(from_logits=True), LOGITS_HUGE, T_ONEHOT, {"from_logits": True}),
    ("cce-logits-smoothing", losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.25), LOGITS_HUGE,
     T_ONEHOT, {"from_logits": True, "label_smoothing": 0.25}),
    ("scce", losses.SparseCategoricalCrossentropy(), P_PROB_EDGES, LABELS, {}),
    ("scce-n1", losses.SparseCategoricalCrossentropy(), P_PROB_EDGES, LABELS[:, None], {}),
    ("scce-logits", losses.SparseCategoricalCrossentropy(from_logits=True), LOGITS_HUGE, LABELS,
     {"from_logits": True}),
    ("hinge-01", losses.Hinge(), P_REAL, T_BINARY, {}),
    ("hinge-pm1", losses.Hinge(), P_REAL, 2 * T_BINARY - 1, {}),
    ("hinge-real", losses.Hinge(), P_REAL, T_REAL, {}),
    ("squared_hinge-01", losses.SquaredHinge(), P_REAL, T_BINARY, {}),
    ("squared_hinge-pm1", losses.SquaredHinge(), P_REAL, 2 * T_BINARY - 1, {}),
    ("categorical_hinge", losses.CategoricalHinge(), P_CH, T_CH, {}),
    ("kld", losses.KLDivergence(), np.vstack([[0.0, 1.5, -0.2], P_PROB[1:]]), T_DIST, {}),  # p clipped to [eps, 1]
    ("poisson", losses.Poisson(), P_POS, T_COUNTS, {}),
    ("poisson-zero-pred", losses.Poisson(), np.vstack([[0.0, 1.0, 2.0], P_POS[1:]]), T_COUNTS, {}),
    ("huber", losses.Huber(), P_HUBER, T_HUBER, {}),
    ("huber-delta", losses.Huber(delta=0.5), P_HUBER, T_HUBER, {"delta": 0.5}),
    ("huber-delta-large", losses.Huber(delta=2.5), P_REAL, T_REAL, {"delta": 2.5}),
    ("log_cosh", losses.LogCosh(), np.vstack([[800.0, -800.0, 1e-9], P_REAL[1:]]), T_REAL, {}),
    ("cosine_similarity", losses.CosineSimilarity(), P_COS, T_COS, {}),
]


@pytest.mark.parametrize("case", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_value_matches_keras_formula(float64, case):
    _, loss, p, y, kw = case
    model = identity_model(p.shape[1], loss)
    expected = keras_loss(loss.core_name, p, y, **kw)
    assert np.isfinite(expected)
    np.testing.assert_array_equal(model.predict(p, verbose=0), p)  # the loss sees exactly p
    assert evaluate(model, p, y, batch_size=N) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # Sample weights (one zero): sum(w * l) / n, not / sum(w).
    sw = np.random.default_rng(5).uniform(0.0, 3.0, N)
    sw[2] = 0.0
    weighted = keras_loss(loss.core_name, p, y, sample_weight=sw, **kw)
    assert evaluate(model, p, y, sample_weight=sw, batch_size=N) == pytest.approx(weighted, rel=1e-12, abs=1e-15)
    # Batched: the batch-size-weighted mean of the per-batch values.
    batched = keras_loss(loss.core_name, p, y, batch_size=3, **kw)
    assert evaluate(model, p, y, batch_size=3) == pytest.approx(batched, rel=1e-12, abs=1e-15)
    # The loss object's own call (the NumPy reference) gives the same number.
    assert loss(y, p) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert loss(y, p, sample_weight=sw) == pytest.approx(weighted, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("case", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_value_in_float32(case):
    """The default float32 model reports the same value to float32 precision."""
    _, loss, p, y, kw = case
    model = identity_model(p.shape[1], loss)
    p32 = p.astype(np.float32).astype(np.float64)
    expected = keras_loss(loss.core_name, p32, y, dtype=np.float32, **kw)
    assert evaluate(model, p, y, batch_size=N) == pytest.approx(expected, rel=2e-5, abs=1e-5)


def test_edge_values_spelled_out(float64):
    """A few numbers worked out by hand, so the formulas above are not only checked against themselves."""
    def value(loss, p, y):
        return evaluate(identity_model(np.shape(p)[1], loss), p, y)

    # BCE: p = 0 with t = 1 is clipped to eps: -log(1e-7) = 16.118...
    assert value("binary_crossentropy", [[0.0]], [[1.0]]) == pytest.approx(-math.log(EPS), rel=1e-12)
    # label smoothing 0.2: t = 1 -> 0.9; p = 0.9 minimises it: -(0.9 log 0.9 + 0.1 log 0.1)
    assert value(losses.BinaryCrossentropy(label_smoothing=0.2), [[0.9]], [[1.0]]) == pytest.approx(
        -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)), rel=1e-12)
    # from_logits with z = 1000 and t = 0: softplus(1000) = 1000 (finite)
    assert value(losses.BinaryCrossentropy(from_logits=True), [[1000.0]], [[0.0]]) == pytest.approx(1000.0)
    # CCE smoothing 0.3 over K = 3: t = [0.8, 0.1, 0.1]
    p = [0.5, 0.3, 0.2]
    assert value(losses.CategoricalCrossentropy(label_smoothing=0.3), [p], [[1.0, 0.0, 0.0]]) == pytest.approx(
        -(0.8 * math.log(0.5) + 0.1 * math.log(0.3) + 0.1 * math.log(0.2)), rel=1e-12)
    # hinge: 0/1 labels become -1/+1: t = 0, p = 0.5 -> max(1 + 0.5, 0) = 1.5
    assert value("hinge", [[0.5]], [[0.0]]) == pytest.approx(1.5)
    # ... but a batch with a -1 among them keeps 0 as 0: max(1 - 0, 0) = 1 and max(1 + 0.5, 0) = 1.5
    assert value("hinge", [[0.5], [0.5]], [[0.0], [-1.0]]) == pytest.approx((1.0 + 1.5) / 2)
    # huber delta 1: e = 0.5 -> 0.125; e = 3 -> 3 - 0.5 = 2.5
    assert value("huber", [[0.5, 3.0]], [[0.0, 0.0]]) == pytest.approx((0.125 + 2.5) / 2)
    # cosine: a zero prediction gives 0, opposite vectors give +1
    assert value("cosine_similarity", [[0.0, 0.0]], [[1.0, 2.0]]) == 0.0
    assert value("cosine_similarity", [[1.0, 1.0]], [[-2.0, -2.0]]) == pytest.approx(1.0)
    # KLD: t = 0 is clipped to eps: eps log(eps / 0.5) + 1 log(1 / 0.5)
    assert value("kld", [[0.5, 0.5]], [[0.0, 1.0]]) == pytest.approx(EPS * math.log(EPS / 0.5) + math.log(2))
    # MAPE with t = 0: divided by eps
    assert value("mape", [[1e-8]], [[0.0]]) == pytest.approx(100 * 1e-8 / EPS)
    # log_cosh of a huge error: |x| - log 2
    assert value("log_cosh", [[1000.0]], [[0.0]]) == pytest.approx(1000.0 - math.log(2))


def test_hinge_mapping_is_decided_per_batch(float64):
    """Keras' convert_binary_labels_to_hinge looks at the whole y_true of the call: in evaluate()
    each batch decides for itself (here the first batch is all 0/1, the second is not)."""
    p = np.array([[0.4], [-0.3], [0.8], [0.2]])
    y = np.array([[0.0], [1.0], [-1.0], [1.0]])
    model = identity_model(1, "hinge")
    first = np.mean(np.maximum(1 - np.array([-1.0, 1.0]) * p[:2, 0], 0))  # mapped
    second = np.mean(np.maximum(1 - y[2:, 0] * p[2:, 0], 0))  # as given
    assert evaluate(model, p, y, batch_size=2) == pytest.approx((first + second) / 2, rel=1e-12)
    unmapped = np.mean(np.maximum(1 - y[:, 0] * p[:, 0], 0))  # one batch: contains -1, nothing mapped
    assert evaluate(model, p, y, batch_size=4) == pytest.approx(unmapped, rel=1e-12)


def test_keras_docstring_examples():
    """The numbers printed in keras/src/losses/losses.py's docstrings (float32 there: 3-4 digits)."""
    y_true, y_pred = np.array([0, 1, 0, 0]), np.array([-18.6, 0.51, 2.94, -12.8])
    assert losses.BinaryCrossentropy(from_logits=True)(y_true, y_pred) == pytest.approx(0.8654, abs=1e-4)
    y_true, y_pred = np.array([[0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    bce = losses.BinaryCrossentropy(from_logits=True)
    assert bce(y_true, y_pred) == pytest.approx(0.8654, abs=1e-4)
    assert bce(y_true, y_pred, sample_weight=[0.8, 0.2]) == pytest.approx(0.243, abs=1e-3)
    assert losses.BinaryCrossentropy(from_logits=True, reduction="sum")(y_true, y_pred) == pytest.approx(1.730,
                                                                                                        abs=1e-3)
    np.testing.assert_allclose(losses.BinaryCrossentropy(from_logits=True, reduction=None)(y_true, y_pred),
                               [0.235, 1.496], atol=1e-3)
    y_true, y_pred = np.array([[0, 1, 0], [0, 0, 1]]), np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    assert losses.CategoricalCrossentropy()(y_true, y_pred) == pytest.approx(1.177, abs=1e-3)
    assert losses.CategoricalCrossentropy()(y_true, y_pred, sample_weight=np.array([0.3, 0.7])) == pytest.approx(
        0.814, abs=1e-3)
    assert losses.SparseCategoricalCrossentropy()([1, 2], y_pred) == pytest.approx(1.177, abs=1e-3)
    np.testing.assert_allclose(losses.categorical_crossentropy(y_true, y_pred), [0.0513, 2.303], atol=1e-3)
    np.testing.assert_allclose(losses.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]),
                               [0.916, 0.714], atol=1e-3)
    assert losses.Huber()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]) == pytest.approx(0.155, abs=1e-3)
    assert losses.LogCosh()([[0., 1.], [0., 0.]], [[1., 1.], [0., 0.]]) == pytest.approx(0.108, abs=1e-3)
    np.testing.assert_allclose(
        losses.cosine_similarity([[0., 1.], [1., 1.], [1., 1.]], [[1., 0.], [1., 1.], [-1., -1.]]),
        [0.0, -1.0, 1.0], atol=1e-6)


def test_keras_docstring_examples_through_the_core(float64):
    """The same Keras numbers from the C++ core via evaluate()."""
    y_true, y_pred = np.array([[0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    model = identity_model(2, losses.BinaryCrossentropy(from_logits=True))
    assert evaluate(model, y_pred, y_true) == pytest.approx(0.8654, abs=1e-4)
    assert evaluate(model, y_pred, y_true, sample_weight=np.array([0.8, 0.2])) == pytest.approx(0.243, abs=1e-3)
    y_true, y_pred = np.array([[0, 1, 0], [0, 0, 1]]), np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    assert evaluate(identity_model(3, "categorical_crossentropy"), y_pred, y_true) == pytest.approx(1.177, abs=1e-3)
    assert evaluate(identity_model(3, "sparse_categorical_crossentropy"), y_pred, [1, 2]) == pytest.approx(
        1.177, abs=1e-3)
    assert evaluate(identity_model(2, "huber"), [[0.6, 0.4], [0.4, 0.6]], [[0, 1], [0, 0]]) == pytest.approx(
        0.155, abs=1e-3)


# ----------------------------------------------------------------------------- gradients

N_IN, N_HIDDEN, N_OUT, N_ROWS = 4, 5, 3, 7


def make_targets(kind, rng, n, k):
    if kind == "real":
        return rng.normal(size=(n, k)) * 1.5
    if kind == "positive":
        return rng.uniform(0.1, 3.0, size=(n, k))
    if kind == "counts":
        return rng.integers(0, 5, size=(n, k)).astype(float)
    if kind == "soft":
        return rng.uniform(size=(n, k))
    if kind == "binary":
        return rng.integers(0, 2, size=(n, k)).astype(float)
    if kind == "pm1":
        return 2.0 * rng.integers(0, 2, size=(n, k)) - 1.0
    if kind == "onehot":
        return np.eye(k)[rng.integers(0, k, n)]
    if kind == "dist":
        return rng.dirichlet(np.ones(k), size=n)
    if kind == "sparse":
        return rng.integers(0, k, size=(n, 1)).astype(float)
    raise AssertionError(kind)


def _hinge_t(y):
    return 2 * y - 1 if np.all((y == 0) | (y == 1)) else y


# Conditions keeping every finite-difference step on one side of each kink / clip boundary.
def _far(values, points=(0.0,)):
    return all(np.abs(np.asarray(values) - c).min() > MARGIN for c in points)


KINKS = {
    "mae": lambda p, y: _far(p - y),
    "mape": lambda p, y: _far(p - y),
    "msle": lambda p, y: _far(p, (EPS,)),
    "hinge": lambda p, y: _far(1 - _hinge_t(y) * p),
    "squared_hinge": lambda p, y: _far(1 - _hinge_t(y) * p),
    "categorical_hinge": lambda p, y: (
        _far(np.max((1 - y) * p, axis=1) - np.sum(y * p, axis=1) + 1)
        and _far(np.diff(np.sort((1 - y) * p, axis=1)[:, -2:], axis=1))),
    "kl_divergence": lambda p, y: _far(p, (EPS, 1.0)),
    "huber": lambda p, y: _far(np.abs(p - y), (1.0, 0.7)),
    "binary_crossentropy": lambda p, y: _far(p, (EPS, 1 - EPS)),
    "categorical_crossentropy": lambda p, y: _far(p / p.sum(axis=1, keepdims=True), (EPS, 1 - EPS)),
    "sparse_categorical_crossentropy": lambda p, y: _far(p / p.sum(axis=1, keepdims=True), (EPS, 1 - EPS)),
}

# id, loss, output head after the hidden tanh layer, target kind.  Heads: a Dense activation, or a
# linear Dense followed by an Activation layer ("+act").
GRADIENT_CASES = [
    ("mse", losses.MeanSquaredError(), "linear", "real"),
    ("mae", losses.MeanAbsoluteError(), "linear", "real"),
    ("mape", losses.MeanAbsolutePercentageError(), "linear", "real"),
    ("msle", losses.MeanSquaredLogarithmicError(), "sigmoid", "positive"),
    ("msle-clipped", losses.MeanSquaredLogarithmicError(), "linear", "positive"),  # some p < eps: zero gradient
    ("bce-fused", losses.BinaryCrossentropy(), "sigmoid", "soft"),
    ("bce-fused-layer", losses.BinaryCrossentropy(), "+sigmoid", "binary"),
    ("bce-fused-smoothing", losses.BinaryCrossentropy(label_smoothing=0.2), "sigmoid", "binary"),
    ("bce-unfused-smoothing", losses.BinaryCrossentropy(label_smoothing=0.2), "softmax", "binary"),
    ("bce-logits", losses.BinaryCrossentropy(from_logits=True), "linear", "soft"),
    ("bce-logits-smoothing", losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.3), "linear", "binary"),
    ("bce-logits-after-sigmoid", losses.BinaryCrossentropy(from_logits=True), "sigmoid", "binary"),
    ("cce-fused", losses.CategoricalCrossentropy(), "softmax", "onehot"),
    ("cce-fused-smoothing", losses.CategoricalCrossentropy(label_smoothing=0.1), "+softmax", "onehot"),
    ("cce-unfused-smoothing", losses.CategoricalCrossentropy(label_smoothing=0.1), "sigmoid", "onehot"),
    ("cce-logits", losses.CategoricalCrossentropy(from_logits=True), "linear", "dist"),
    ("cce-logits-smoothing", losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.25), "linear",
     "onehot"),
    ("cce-logits-after-softmax", losses.CategoricalCrossentropy(from_logits=True), "softmax", "onehot"),
    ("scce-fused", losses.SparseCategoricalCrossentropy(), "softmax", "sparse"),
    ("scce-unfused", losses.SparseCategoricalCrossentropy(), "sigmoid", "sparse"),
    ("scce-logits", losses.SparseCategoricalCrossentropy(from_logits=True), "linear", "sparse"),
    ("hinge-01", losses.Hinge(), "linear", "binary"),
    ("hinge-pm1", losses.Hinge(), "tanh", "pm1"),
    ("squared_hinge-01", losses.SquaredHinge(), "linear", "binary"),
    ("squared_hinge-real", losses.SquaredHinge(), "linear", "real"),
    ("categorical_hinge", losses.CategoricalHinge(), "linear", "onehot"),
    ("kld", losses.KLDivergence(), "softmax", "dist"),
    ("kld-clipped", losses.KLDivergence(), "linear", "dist"),  # p outside [eps, 1]: zero gradient there
    ("poisson", losses.Poisson(), "sigmoid", "counts"),
    ("huber", losses.Huber(), "linear", "real"),
    ("huber-delta", losses.Huber(delta=0.7), "linear", "real"),
    ("log_cosh", losses.LogCosh(), "linear", "real"),
    ("cosine_similarity", losses.CosineSimilarity(), "linear", "real"),
]


def build(loss, head):
    tail = [layers.Dense(N_OUT), layers.Activation(head[1:])] if head.startswith("+") else \
        [layers.Dense(N_OUT, activation=head)]
    model = Sequential([Input(shape=(N_IN,)), layers.Dense(N_HIDDEN, activation="tanh"), *tail])
    model.compile(optimizer="sgd", loss=loss)
    assert model._core.params.dtype == np.float64
    return model


def setup_problem(model, loss, kind, seed=0, scale=1.0):
    """Random weights and data, redrawn until no FD step crosses a kink or clip boundary."""
    shapes = [w.shape for w in model.get_weights()]
    check = KINKS.get(loss.core_name, lambda p, y: True)
    for s in itertools.count(seed * 1000):
        rng = np.random.default_rng(s)
        weights = [rng.uniform(-1.0, 1.0, size=shape) * scale for shape in shapes]
        x = rng.normal(size=(N_ROWS, N_IN))
        y = make_targets(kind, rng, N_ROWS, N_OUT)
        model.set_weights(weights)
        p = model.predict(x, verbose=0)
        yy = np.eye(N_OUT)[y[:, 0].astype(int)] if kind == "sparse" else y
        if check(p, yy):
            return np.ascontiguousarray(x), np.ascontiguousarray(y)
        assert s < seed * 1000 + 500, "no draw keeps the outputs away from the kinks"


def finite_differences(model, x, y, sample_weight=None):
    return core_finite_differences(model._core, x, y, sample_weight, h=H)


def check_gradients(model, x, y, sample_weight=None):
    loss, grads = model._core.compute_gradients(x, y, sample_weight)
    fd = finite_differences(model, x, y, sample_weight)
    np.testing.assert_allclose(grads, fd, rtol=RTOL, atol=ATOL)
    assert np.abs(grads).max() > 1e-4  # not vacuous
    return loss, grads


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=[c[0] for c in GRADIENT_CASES])
def test_gradients_match_finite_differences(float64, case):
    name, loss, head, kind = case
    model = build(loss, head)
    scale = 3.0 if name in ("msle-clipped", "kld-clipped") else 1.0  # push outputs across the clip
    x, y = setup_problem(model, loss, kind, scale=scale)
    p = model.predict(x, verbose=0)
    if name == "msle-clipped":
        assert (p < EPS).any() and (p > EPS).any()
    if name == "kld-clipped":
        assert ((p < EPS) | (p > 1)).any() and ((p > EPS) & (p < 1)).any()
    value, _ = check_gradients(model, x, y)
    # The differentiated value is the reported one, and the Keras formula.
    y_api = y[:, 0] if kind == "sparse" else y
    assert evaluate(model, x, y_api, batch_size=N_ROWS) == pytest.approx(value, rel=1e-13)
    kw = {k: getattr(loss, k) for k in ("from_logits", "label_smoothing", "delta") if hasattr(loss, k)}
    assert value == pytest.approx(keras_loss(loss.core_name, p, y_api, **kw), rel=1e-12)
    # With sample weights (one zero).
    sw = np.random.default_rng(3).uniform(0.2, 2.0, N_ROWS)
    sw[1] = 0.0
    check_gradients(model, x, y, sw)


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=[c[0] for c in GRADIENT_CASES])
def test_reference_matches_core(float64, case):
    """densenn.benchmark.reference (NumPy) gives the C++ loss and gradients, on the same network and weights."""
    name, loss, head, kind = case
    model = build(loss, head)
    x, y = setup_problem(model, loss, kind, seed=1, scale=3.0 if name.endswith("clipped") else 1.0)
    sw = np.random.default_rng(4).uniform(0.0, 2.0, N_ROWS)
    if head.startswith("+"):
        ref_layers = [("dense", "tanh", True), ("dense", "linear", True), ("activation", head[1:])]
    else:
        ref_layers = [("dense", "tanh", True), ("dense", head, True)]
    ref = ReferenceModel(ref_layers, model.get_weights(), loss.core_config())
    for weights in (None, sw):
        value, grads = model._core.compute_gradients(x, y, weights)
        ref_value, ref_grads = ref.gradients(x, y, weights)
        assert ref_value == pytest.approx(value, rel=1e-12, abs=1e-15)
        np.testing.assert_allclose(grads, np.concatenate([g.ravel() for g in ref_grads]), rtol=1e-10, atol=1e-14)


def test_fused_gradient_uses_smoothed_labels(float64):
    """Label smoothing changes the fused sigmoid / softmax gradient exactly as p - t_smoothed."""
    for loss, head, k_div in [(losses.BinaryCrossentropy(label_smoothing=0.4), "sigmoid", N_OUT),
                              (losses.CategoricalCrossentropy(label_smoothing=0.4), "softmax", 1)]:
        # An identity kernel: the logits are x, and dL/dW = x^T dL/dz.
        dense = Sequential([Input(shape=(N_OUT,)), layers.Dense(N_OUT, use_bias=False, activation=head)])
        dense.compile(optimizer="sgd", loss=loss)
        dense.set_weights([np.eye(N_OUT)])
        x = np.random.default_rng(0).normal(size=(4, N_OUT))
        y = np.eye(N_OUT)[[0, 1, 2, 0]]
        p = dense.predict(x, verbose=0)
        _, g = dense._core.compute_gradients(x, y)
        s = 0.4
        t = y * (1 - s) + (0.5 * s if head == "sigmoid" else s / N_OUT)
        dz = (p - t) / (k_div * len(x))
        np.testing.assert_allclose(g.reshape(N_OUT, N_OUT), x.T @ dz, rtol=1e-12, atol=1e-15)


def test_training_with_every_loss_reduces_it(float64):
    """A few SGD epochs lower each loss (the gradient has the right sign end to end)."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(64, N_IN))
    for name, loss, head, kind in GRADIENT_CASES:
        if name.endswith("clipped"):
            continue
        model = build(loss, head)
        model.compile(optimizer=densenn.optimizers.Adam(learning_rate=0.01), loss=loss)  # any gradient scale
        y = make_targets(kind, rng, 64, N_OUT)
        y_api = y[:, 0] if kind == "sparse" else y
        history = model.fit(x, y_api, epochs=5, batch_size=16, verbose=0)
        assert history.history["loss"][-1] < history.history["loss"][0], name


# ----------------------------------------------------------------------------- names

KERAS_STRINGS = {
    # keras/src/losses/__init__.py ALL_OBJECTS_DICT: class names, function names, aliases.
    "MeanSquaredError": losses.MeanSquaredError, "mean_squared_error": losses.MeanSquaredError,
    "mse": losses.MeanSquaredError, "MSE": losses.MeanSquaredError,
    "MeanAbsoluteError": losses.MeanAbsoluteError, "mean_absolute_error": losses.MeanAbsoluteError,
    "mae": losses.MeanAbsoluteError, "MAE": losses.MeanAbsoluteError,
    "MeanAbsolutePercentageError": losses.MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": losses.MeanAbsolutePercentageError,
    "mape": losses.MeanAbsolutePercentageError, "MAPE": losses.MeanAbsolutePercentageError,
    "MeanSquaredLogarithmicError": losses.MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": losses.MeanSquaredLogarithmicError,
    "msle": losses.MeanSquaredLogarithmicError, "MSLE": losses.MeanSquaredLogarithmicError,
    "BinaryCrossentropy": losses.BinaryCrossentropy, "binary_crossentropy": losses.BinaryCrossentropy,
    "bce": losses.BinaryCrossentropy, "BCE": losses.BinaryCrossentropy,
    "CategoricalCrossentropy": losses.CategoricalCrossentropy,
    "categorical_crossentropy": losses.CategoricalCrossentropy,
    "SparseCategoricalCrossentropy": losses.SparseCategoricalCrossentropy,
    "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
    "Hinge": losses.Hinge, "hinge": losses.Hinge,
    "SquaredHinge": losses.SquaredHinge, "squared_hinge": losses.SquaredHinge,
    "CategoricalHinge": losses.CategoricalHinge, "categorical_hinge": losses.CategoricalHinge,
    "KLDivergence": losses.KLDivergence, "kl_divergence": losses.KLDivergence,
    "kld": losses.KLDivergence, "KLD": losses.KLDivergence,
    "Poisson": losses.Poisson, "poisson": losses.Poisson,
    "Huber": losses.Huber, "huber": losses.Huber,
    "LogCosh": losses.LogCosh, "log_cosh": losses.LogCosh,
    "CosineSimilarity": losses.CosineSimilarity, "cosine_similarity": losses.CosineSimilarity,
}


@pytest.mark.parametrize("name", sorted(KERAS_STRINGS))
def test_every_keras_string_compiles(name):
    loss = losses.get(name)
    assert type(loss) is KERAS_STRINGS[name]
    n_out = 3
    model = Sequential([Input(shape=(2,)), layers.Dense(n_out, activation="softmax")])
    model.compile(optimizer="sgd", loss=name)
    x = np.random.default_rng(0).normal(size=(6, 2))
    y = np.array([0, 1, 2, 0, 1, 2]) if isinstance(loss, losses.SparseCategoricalCrossentropy) else \
        np.eye(n_out)[[0, 1, 2, 0, 1, 2]]
    assert np.isfinite(model.evaluate(x, y, verbose=0))


@pytest.mark.parametrize("name", ["Mse", "mean_squared_errors", "logcosh", "huber_loss", "kullback_leibler_divergence",
                                  "binary_focal_crossentropy", "Hinge ", ""])
def test_strings_keras_does_not_accept_are_rejected(name):
    with pytest.raises(ValueError, match=r"^Unknown loss .*\. Valid losses: .*\bkl_divergence\b.*\bmse\b"):
        losses.get(name)


def test_classes_functions_and_configs():
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    assert isinstance(losses.get(losses.mean_absolute_error), losses.MeanAbsoluteError)
    assert isinstance(losses.get(losses.sparse_categorical_crossentropy), losses.SparseCategoricalCrossentropy)
    h = losses.get({"class_name": "Huber", "config": {"delta": 0.3}})
    assert isinstance(h, losses.Huber) and h.delta == 0.3
    bce = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    again = losses.get(losses.serialize(bce))
    assert (again.from_logits, again.label_smoothing, again.name) == (True, 0.1, "binary_crossentropy")
    assert bce.core_config() == {"name": "binary_crossentropy", "from_logits": True, "label_smoothing": 0.1}
    assert losses.Huber(delta=2.0).core_config() == {"name": "huber", "delta": 2.0}
    assert losses.SparseCategoricalCrossentropy(from_logits=True).core_config() == {
        "name": "sparse_categorical_crossentropy", "from_logits": True}
    assert losses.MeanSquaredError().core_config() == {"name": "mse"}
    # Keras' default names.
    assert losses.Huber().name == "huber_loss" and losses.MeanSquaredError().name == "mean_squared_error"
    assert losses.KLDivergence().name == "kl_divergence" and losses.LogCosh().name == "log_cosh"
    with pytest.raises(ValueError, match="Could not interpret loss identifier"):
        losses.get(lambda t, p: 0.0)
    with pytest.raises(ValueError, match="Could not interpret loss identifier"):
        losses.get(3)


def test_argument_checks():
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        losses.BinaryCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="delta must be > 0"):
        losses.Huber(delta=0)
    with pytest.raises(ValueError, match="Invalid value for argument `reduction`"):
        losses.MeanSquaredError(reduction="average")
    with pytest.raises(ValueError, match="ignore_class"):
        losses.SparseCategoricalCrossentropy(ignore_class=0)
    with pytest.raises(ValueError, match="axis"):
        losses.CategoricalCrossentropy(axis=0)
    # A reduction the core does not train with is refused by compile (standalone calls honour it).
    model = Sequential([Input(shape=(2,)), layers.Dense(1)])
    with pytest.raises(ValueError, match="sum_over_batch_size"):
        model.compile(optimizer="sgd", loss=losses.MeanSquaredError(reduction="sum"))
    assert losses.MeanSquaredError(reduction="sum")([[1.0], [2.0]], [[0.0], [0.0]]) == 5.0
    assert losses.MeanSquaredError(reduction="mean_with_sample_weight")(
        [[1.0], [2.0]], [[0.0], [0.0]], sample_weight=[1.0, 3.0]) == pytest.approx(13.0 / 4)
    # The core refuses arguments a loss does not take (a second line behind the Python classes).
    core = Sequential([Input(shape=(2,)), layers.Dense(1)])
    core.build()
    with pytest.raises(ValueError, match="takes no from_logits"):
        core._core.compile({"name": "mse", "from_logits": True}, {"name": "sgd"}, [])
    with pytest.raises(ValueError, match="takes no label_smoothing"):
        core._core.compile({"name": "categorical_hinge", "label_smoothing": 0.1}, {"name": "sgd"}, [])


def test_targets_per_loss(float64):
    """Sparse labels (n,) or (n, 1) only for SCCE; the others need (n, outputs), or (n,) for one output."""
    x = np.random.default_rng(0).normal(size=(4, 2))
    model = Sequential([Input(shape=(2,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="kld")
    with pytest.raises(ValueError, match=r"expected shape \(4, 3\).*integer labels\?"):
        model.evaluate(x, np.array([0, 1, 2, 0]), verbose=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert np.isfinite(model.evaluate(x, np.array([[0], [1], [2], [0]]), verbose=0))
    with pytest.raises(ValueError, match="labels must be integers"):
        model.evaluate(x, np.array([0, 1, 3, 0]), verbose=0)
    one = Sequential([Input(shape=(2,)), layers.Dense(1)])
    for name in ("hinge", "huber", "squared_hinge", "log_cosh", "mae"):
        one.compile(optimizer="sgd", loss=name)
        assert one.evaluate(x, np.array([0.0, 1.0, 1.0, 0.0]), verbose=0) == pytest.approx(
            one.evaluate(x, np.array([[0.0], [1.0], [1.0], [0.0]]), verbose=0))
