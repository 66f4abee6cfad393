"""Checks of the pure-NumPy reference (densenn.benchmark.reference) against finite differences and hand-written Keras 3
formulas."""
import math

import numpy as np
import pytest

import densenn.benchmark.reference as ref
from support import central_differences

ReferenceModel = ref.ReferenceModel
EPS = 1e-7

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "elu", "leaky_relu"]
LOSSES = ["mse", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"]
KINKED = {"relu", "leaky_relu", "elu"}  # derivative (or its derivative) jumps at 0


# ----------------------------------------------------------------------------- helpers

def identity_model(k, loss, **kw):
    """A model whose predictions equal its input, so loss formulas can be fed p directly."""
    return ReferenceModel([("dense", "linear", False)], [np.eye(k)], loss, **kw)


def numeric_gradients(model, x, y, sample_weight=None, h=1e-6):
    return central_differences(lambda: model.loss_value(x, y, sample_weight), model.weights, h)


def pre_activations(model, x):
    """Inputs of every activation op, to keep finite differences away from kinks."""
    _, inputs = model._forward(np.asarray(x, dtype=model.dtype))
    return [a for op, a in zip(model._ops, inputs) if op[0] == "act" and op[1] in KINKED]


def make_problem(activation, loss, seed, fused, final_as_dense=False):
    """A 5-4-3 float64 network whose output suits the loss, with random data and targets."""
    rng = np.random.default_rng(seed)
    n, sizes = 6, [5, 4, 3]
    if loss in ("binary_crossentropy",) and activation != "sigmoid":
        tail = "sigmoid"
    elif loss.endswith("categorical_crossentropy") and activation not in ("softmax", "sigmoid"):
        tail = "softmax"
    else:
        tail = None
    if tail is not None and final_as_dense:
        layers = [("dense", activation, True), ("dense", tail, True)]
    else:
        layers = [("dense", activation, True), ("dense", activation, False)]
        if tail is not None:
            layers.append(("activation", tail))
    weights = [ref.glorot_uniform(5, 4, rng), rng.normal(0, 0.1, 4), ref.glorot_uniform(4, 3, rng)]
    if final_as_dense and tail is not None:
        weights.append(rng.normal(0, 0.1, 3))
    x = rng.normal(size=(n, sizes[0]))
    if loss == "mse":
        y = rng.normal(size=(n, 3))
    elif loss == "binary_crossentropy":
        y = rng.uniform(size=(n, 3))  # soft labels exercise both log terms
    elif loss == "categorical_crossentropy":
        y = np.eye(3)[rng.integers(0, 3, n)]
    else:
        y = rng.integers(0, 3, n)
    model = ReferenceModel(layers, weights, loss, fused=fused)
    return model, x, y, rng.uniform(0.5, 2.0, n)


def assert_grads_close(got, want, rtol=1e-6, atol=1e-8):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_finite_differences(activation, loss, fused):
    for seed in range(50):
        model, x, y, sw = make_problem(activation, loss, seed, fused)
        if all(np.abs(z).min() > 1e-3 for z in pre_activations(model, x)):
            break
    else:
        pytest.fail("no seed keeps the pre-activations away from the kinks")
    p = model.predict(x)
    # The fused path equals the exact derivative only while nothing is clipped.
    assert p.min() > EPS and p.max() < 1 - EPS or loss == "mse"
    for weights in (None, sw):
        loss_value, grads = model.gradients(x, y, weights)
        assert loss_value == pytest.approx(model.loss_value(x, y, weights), rel=1e-12)
        assert_grads_close(grads, numeric_gradients(model, x, y, weights))


@pytest.mark.parametrize("tail,loss", [("softmax", "categorical_crossentropy"),
                                       ("softmax", "sparse_categorical_crossentropy"),
                                       ("sigmoid", "binary_crossentropy")])
def test_fused_path_same_for_dense_activation_and_activation_layer(tail, loss):
    model, x, y, sw = make_problem("tanh", loss, 3, True, final_as_dense=True)
    as_layer = ReferenceModel([("dense", "tanh", True), ("dense", "linear", True), ("activation", tail)],
                              model.weights, loss)
    assert model._fused_active and as_layer._fused_active
    l1, g1 = model.gradients(x, y, sw)
    l2, g2 = as_layer.gradients(x, y, sw)
    assert l1 == pytest.approx(l2, rel=1e-14)
    assert_grads_close(g1, g2, rtol=1e-14, atol=0)


def test_fused_gradient_is_p_minus_t_even_when_clipped():
    # Huge logits saturate softmax/sigmoid beyond the eps clip: the exact gradient is 0 there,
    # the fused one stays p - t (scaled by the reduction), as in Keras.
    x = np.array([[40.0, -40.0], [0.3, -0.2]])
    y = np.array([1, 0])
    w = [np.eye(2)]
    for loss, tail, t, k in [("sparse_categorical_crossentropy", "softmax", np.eye(2)[y], 1),
                             ("binary_crossentropy", "sigmoid", np.array([[0.0, 1.0], [1.0, 0.0]]), 2)]:
        target = y if loss.startswith("sparse") else t
        fused = ReferenceModel([("dense", "linear", False), ("activation", tail)], w, loss)
        exact = ReferenceModel([("dense", "linear", False), ("activation", tail)], w, loss, fused=False)
        p = fused.predict(x)
        _, (g_fused,) = fused.gradients(x, target)
        np.testing.assert_allclose(g_fused, x.T @ ((p - t) / (2 * k)), rtol=1e-12)
        _, (g_exact,) = exact.gradients(x, target)
        assert_grads_close([g_exact], numeric_gradients(exact, x, target))
        # The saturated first sample contributes nothing to the exact gradient.
        only_second = exact.gradients(x[1:], target[1:])[1][0] / 2  # n=1 vs n=2 reduction
        np.testing.assert_allclose(g_exact, only_second, rtol=1e-12)


def test_float32_keeps_dtype_and_matches_float64():
    model64, x, y, sw = make_problem("tanh", "categorical_crossentropy", 1, True)
    layers = [("dense", "tanh", True), ("dense", "tanh", False), ("activation", "softmax")]
    model32 = ReferenceModel(layers, model64.weights, "categorical_crossentropy", "adam", dtype=np.float32)
    assert all(w.dtype == np.float32 for w in model32.weights)
    assert model32.predict(x).dtype == np.float32
    l32, g32 = model32.gradients(x, y, sw)
    l64, g64 = model64.gradients(x, y, sw)
    assert all(g.dtype == np.float32 for g in g32)
    assert l32 == pytest.approx(l64, rel=1e-5)
    assert_grads_close(g32, g64, rtol=1e-4, atol=1e-6)
    for _ in range(3):
        model32.train_step(x, y, sw)
    assert all(w.dtype == np.float32 for w in model32.weights)
    assert all(m.dtype == np.float32 for m in model32._m + model32._s)


def test_weights_are_copied():
    w = [np.ones((2, 1)), np.zeros(1)]
    model = ReferenceModel([("dense", "linear", True)], w, "mse", learning_rate=0.1)
    model.train_step(np.ones((1, 2)), np.zeros((1, 1)))
    assert np.all(w[0] == 1) and np.all(w[1] == 0)
    assert not np.shares_memory(model.weights[0], w[0])


# ----------------------------------------------------------------------------- loss values

def test_mse_values():
    p = np.array([[0.5, 1.0], [2.0, 0.0]])
    t = np.array([[1.0, 1.0], [0.0, 0.0]])
    model = identity_model(2, "mse")
    # per sample: (0.25 + 0)/2 = 0.125 and (4 + 0)/2 = 2
    assert model.loss_value(p, t) == pytest.approx((0.125 + 2.0) / 2, rel=1e-15)
    # weighted: divide by n = 2, not by the weight sum
    assert model.loss_value(p, t, [2.0, 0.5]) == pytest.approx((0.25 + 1.0) / 2, rel=1e-15)
    # y of shape (n,) against predictions (n, 1)
    assert identity_model(1, "mse").loss_value([[1.0], [3.0]], [0.0, 1.0]) == pytest.approx(2.5)


def test_binary_crossentropy_values_and_clipping():
    model = identity_model(1, "binary_crossentropy")
    p = np.array([[1.0], [0.8], [0.0]])  # 1.0 and 0.0 are clipped to 1 - eps and eps
    t = np.array([0.0, 1.0, 0.0])
    per_sample = [-math.log(1 - (1 - EPS)), -math.log(0.8), -math.log(1 - EPS)]
    assert model.loss_value(p, t) == pytest.approx(sum(per_sample) / 3, rel=1e-9)
    assert model.loss_value(p, t, [0.0, 3.0, 1.0]) == pytest.approx(
        (3 * per_sample[1] + per_sample[2]) / 3, rel=1e-9)
    # Mean over the last axis, with soft labels.
    two = identity_model(2, "binary_crossentropy")
    want = -(0.25 * math.log(0.6) + 0.75 * math.log(0.4) + math.log(0.9)) / 2
    assert two.loss_value([[0.6, 0.1]], [[0.25, 0.0]]) == pytest.approx(want, rel=1e-12)


def test_categorical_crossentropy_values():
    model = identity_model(3, "categorical_crossentropy")
    # Unnormalised p is divided by its sum first: [2, 1, 1] -> q0 = 0.5.
    assert model.loss_value([[2.0, 1.0, 1.0]], [[1.0, 0.0, 0.0]]) == pytest.approx(math.log(2), rel=1e-12)
    # A zero probability is clipped at eps.
    assert model.loss_value([[0.0, 1.0, 1.0]], [[1.0, 0.0, 0.0]]) == pytest.approx(-math.log(EPS), rel=1e-12)
    # Soft targets sum over classes.
    want = -(0.5 * math.log(0.2) + 0.5 * math.log(0.3))
    assert model.loss_value([[0.2, 0.3, 0.5]], [[0.5, 0.5, 0.0]]) == pytest.approx(want, rel=1e-12)


def test_sparse_categorical_crossentropy_values():
    model = identity_model(3, "sparse_categorical_crossentropy")
    p = np.array([[0.2, 0.3, 0.5], [0.7, 0.1, 0.2]])
    want = -(math.log(0.5) + math.log(0.7)) / 2
    assert model.loss_value(p, np.array([2, 0])) == pytest.approx(want, rel=1e-12)
    assert model.loss_value(p, np.array([[2], [0]])) == pytest.approx(want, rel=1e-12)
    assert model.loss_value(p, [2, 0], [1.0, 3.0]) == pytest.approx(
        -(math.log(0.5) + 3 * math.log(0.7)) / 2, rel=1e-12)
    dense = identity_model(3, "categorical_crossentropy")
    assert model.loss_value(p, [2, 0]) == dense.loss_value(p, np.eye(3)[[2, 0]])
    with pytest.raises(ValueError, match="integers"):
        model.loss_value(p, [3, 0])


def test_activations_values():
    z = np.array([[-2.0, 0.0, 1.5]])
    expect = {
        "linear": z,
        "relu": [[0.0, 0.0, 1.5]],
        "sigmoid": 1 / (1 + np.exp(-z)),
        "tanh": np.tanh(z),
        "softmax": np.exp(z) / np.exp(z).sum(),
        "elu": [[math.exp(-2) - 1, 0.0, 1.5]],
        "leaky_relu": [[-0.4, 0.0, 1.5]],
    }
    for name, want in expect.items():
        model = ReferenceModel([("dense", name, False)], [np.eye(3)], "mse")
        np.testing.assert_allclose(model.predict(z), want, rtol=1e-14)
    # Softmax stays finite for large logits thanks to the max subtraction.
    big = ReferenceModel([("dense", "softmax", False)], [np.eye(2)], "mse").predict([[1000.0, 1000.0]])
    np.testing.assert_allclose(big, [[0.5, 0.5]])


# ----------------------------------------------------------------------------- optimizers

X_OPT = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.7]])
Y_OPT = np.array([[1.0], [0.0], [2.0]])
W0 = [0.1, -0.2]  # kernel (2, 1)
B0 = 0.05


def hand_gradients(w, b):
    """Linear model with MSE on one output: dL/dw_j = 2/n sum_i (p_i - t_i) x_ij."""
    n = len(X_OPT)
    gw, gb = [0.0, 0.0], 0.0
    for i in range(n):
        err = w[0] * X_OPT[i, 0] + w[1] * X_OPT[i, 1] + b - Y_OPT[i, 0]
        for j in range(2):
            gw[j] += 2 * err * X_OPT[i, j] / n
        gb += 2 * err / n
    return gw + [gb]


def run_reference(optimizer, steps=3, **kw):
    model = ReferenceModel([("dense", "linear", True)], [np.array(W0)[:, None], np.array([B0])],
                           "mse", optimizer, **kw)
    for _ in range(steps):
        model.train_step(X_OPT, Y_OPT)
    assert model.iterations == steps
    return list(model.weights[0][:, 0]) + [model.weights[1][0]]


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True), (0.0, True)])
def test_sgd_three_steps(momentum, nesterov):
    lr = 0.05
    v, m = W0 + [B0], [0.0, 0.0, 0.0]
    for _ in range(3):
        g = hand_gradients(v[:2], v[2])
        for j in range(3):
            if momentum == 0:
                v[j] -= lr * g[j]
            else:
                m[j] = momentum * m[j] - lr * g[j]
                v[j] += momentum * m[j] - lr * g[j] if nesterov else m[j]
    got = run_reference("sgd", learning_rate=lr, momentum=momentum, nesterov=nesterov)
    np.testing.assert_allclose(got, v, rtol=1e-13)


def test_sgd_defaults():
    v = W0 + [B0]
    g = hand_gradients(v[:2], v[2])
    np.testing.assert_allclose(run_reference("sgd", steps=1), [a - 0.01 * b for a, b in zip(v, g)], rtol=1e-13)


@pytest.mark.parametrize("kw", [{}, {"learning_rate": 0.1, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3}])
def test_adam_three_steps(kw):
    lr, b1, b2, eps = (kw.get("learning_rate", 0.001), kw.get("beta_1", 0.9),
                       kw.get("beta_2", 0.999), kw.get("epsilon", 1e-7))
    v, m, s = W0 + [B0], [0.0] * 3, [0.0] * 3
    for it in range(3):
        t = it + 1
        g = hand_gradients(v[:2], v[2])
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for j in range(3):
            m[j] += (g[j] - m[j]) * (1 - b1)
            s[j] += (g[j] ** 2 - s[j]) * (1 - b2)
            v[j] -= alpha * m[j] / (math.sqrt(s[j]) + eps)
    np.testing.assert_allclose(run_reference("Adam", **kw), v, rtol=1e-13)


def test_train_step_returns_loss_before_update():
    model = ReferenceModel([("dense", "linear", True)], [np.array(W0)[:, None], np.array([B0])], "mse",
                           learning_rate=0.1)
    before = model.loss_value(X_OPT, Y_OPT)
    assert model.train_step(X_OPT, Y_OPT) == before
    assert model.loss_value(X_OPT, Y_OPT) < before


# ----------------------------------------------------------------------------- train_epoch

@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_train_epoch_weighted_mean_with_partial_batch(optimizer):
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(10, 3)), rng.integers(0, 2, size=(10, 1)).astype(float)
    layers = [("dense", "relu", True), ("dense", "sigmoid", True)]
    weights = [ref.glorot_uniform(3, 4, rng), np.zeros(4), ref.glorot_uniform(4, 1, rng), np.zeros(1)]
    order = rng.permutation(10)

    epoch_model = ReferenceModel(layers, weights, "binary_crossentropy", optimizer, learning_rate=0.1)
    step_model = ReferenceModel(layers, weights, "binary_crossentropy", optimizer, learning_rate=0.1)
    epoch_loss = epoch_model.train_epoch(x, y, batch_size=4, order=order)

    # Batches of 4, 4 and 2 rows, each loss weighted by its size.
    losses = [step_model.train_step(x[order[i:i + 4]], y[order[i:i + 4]]) for i in (0, 4, 8)]
    assert epoch_loss == pytest.approx((4 * losses[0] + 4 * losses[1] + 2 * losses[2]) / 10, rel=1e-14)
    assert epoch_model.iterations == step_model.iterations == 3
    for a, b in zip(epoch_model.weights, step_model.weights):
        np.testing.assert_array_equal(a, b)


def test_train_epoch_default_order_and_default_batch_size():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 1))
    a = ReferenceModel([("dense", "linear", True)], [np.ones((2, 1)), np.zeros(1)], "mse")
    b = ReferenceModel([("dense", "linear", True)], [np.ones((2, 1)), np.zeros(1)], "mse")
    loss = a.train_epoch(x, y)
    want = (32 * b.train_step(x[:32], y[:32]) + 8 * b.train_step(x[32:], y[32:])) / 40
    assert loss == pytest.approx(want, rel=1e-14)


# ----------------------------------------------------------------------------- validation

def test_validation_errors():
    w = [np.ones((3, 2)), np.zeros(2)]
    with pytest.raises(ValueError, match="Unknown activation 'gelu_tanh'.*relu"):
        ReferenceModel([("dense", "gelu_tanh", True)], w, "mse")
    with pytest.raises(ValueError, match="Unknown loss 'binary_focal_crossentropy'.*binary_crossentropy"):
        ReferenceModel([("dense", "relu", True)], w, "binary_focal_crossentropy")
    with pytest.raises(ValueError, match="Unknown optimizer 'ftrl'.*sgd.*adam"):
        ReferenceModel([("dense", "relu", True)], w, "mse", "ftrl")
    with pytest.raises(ValueError, match="momentum"):
        ReferenceModel([("dense", "relu", True)], w, "mse", "adam", momentum=0.9)
    with pytest.raises(ValueError, match="Expected 2 weight arrays"):
        ReferenceModel([("dense", "relu", True)], w[:1], "mse")
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        ReferenceModel([("dense", "relu", True)], [np.ones((3, 2)), np.zeros(3)], "mse")
    with pytest.raises(ValueError, match=r"\(5, 1\).*\(2, 1\)"):
        ReferenceModel([("dense", "relu", True), ("dense", "linear", False)], w + [np.ones((5, 1))], "mse")
    with pytest.raises(ValueError, match="layer"):
        ReferenceModel([("conv", "relu")], w, "mse")
    model = ReferenceModel([("dense", "relu", True)], w, "mse")
    with pytest.raises(ValueError, match=r"\(4, 5\)"):
        model.predict(np.ones((4, 5)))
    with pytest.raises(ValueError, match="predictions have shape"):
        model.loss_value(np.ones((4, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="sample_weight"):
        model.loss_value(np.ones((4, 3)), np.ones((4, 2)), [1.0, 2.0])


def test_glorot_uniform():
    w = ref.glorot_uniform(300, 200, np.random.default_rng(0))
    limit = math.sqrt(6 / 500)
    assert w.shape == (300, 200)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
