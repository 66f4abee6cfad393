"""Layers, initializers and regularizers against Keras 3's formulas, computed here in NumPy.

Covered: Dropout (identity outside training; the training mask recovered exactly from the
gradient of a linear read-out; seeds), BatchNormalization (training output, moving statistics,
inference output, center/scale, parameter counts, finite-difference gradients), Maxout (forward
with the documented column layout, parameter count, gradients), the activation layers LeakyReLU,
ELU, ReLU and Softmax, Flatten, every initializer (moments and bounds of large kernels, seeds,
names) and the weight and activity regularizers (reported loss and gradients).

Tolerances.  float64 models: forward values and reported losses are compared at rtol 1e-10 (a
few roundings of values of order 1).  Central differences use h = 1e-5 on losses of order 1,
good to ~1e-10 absolute; we accept |fd - g| <= 1e-8 + 1e-6 |g|.  Any real bug (a factor 2 or
1/n, a missing term, a wrong derivative) changes gradients by >= 1e-3 of their size.  Kinked
functions (relu, L1's |w|, maxout's max) are kept >= 1e-2 away from their kinks, far beyond h.
float32 models: rtol 1e-5.  Statistics of random draws are checked at several standard errors
of the estimate, with fixed seeds so the outcome is deterministic.
"""
import itertools

import numpy as np
import pytest

from densenn import Input, Sequential, callbacks, initializers, layers, optimizers, regularizers, utils
from support import core_finite_differences

H = 1e-5
RTOL, ATOL = 1e-6, 1e-8  # finite differences (float64)
TIGHT = 1e-10  # float64 forward values and losses
MARGIN = 1e-2  # distance kept from kinks


def sgd0():
    """An optimizer that leaves the trainable weights where they are."""
    return optimizers.SGD(learning_rate=0.0)


def finite_differences(model, x, y):
    """Central differences of the training-mode batch loss w.r.t. every trainable parameter."""
    return core_finite_differences(model._core, x, y, h=H)


def check_gradients(model, x, y):
    before = model._core.params.copy()
    loss, grads = model._core.compute_gradients(x, y)
    np.testing.assert_array_equal(model._core.params, before)  # no update
    fd = finite_differences(model, x, y)
    np.testing.assert_array_equal(model._core.params, before)
    np.testing.assert_allclose(grads, fd, rtol=RTOL, atol=ATOL)
    assert np.abs(grads).max() > 1e-3  # not vacuous
    return loss


def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def mse(p, y):
    return np.mean(np.mean((p - y) ** 2, axis=-1))


def cce(p, y):
    q = np.clip(p / p.sum(axis=-1, keepdims=True), 1e-7, 1 - 1e-7)
    return np.mean(-np.sum(y * np.log(q), axis=-1))


def away_from_zero(rng, shape, low=0.1, high=0.9):
    """Uniform magnitudes in [low, high] with random signs (L1 and kinks stay differentiable)."""
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


# ============================================================================ Dropout

def dropout_model(rate, seed=None, n_in=1000):
    model = Sequential([Input(shape=(n_in,)), layers.Dropout(rate, seed=seed),
                        layers.Dense(1, kernel_initializer="ones", use_bias=False)])
    model.compile(optimizer=sgd0(), loss="mse")
    return model


def block_inputs(rng, rows, n_in):
    """Row r is non-zero only in its own block of features, so each row's mask can be read off
    the kernel gradient separately."""
    block = n_in // rows
    x = np.zeros((rows, n_in))
    for r in range(rows):
        x[r, r * block:(r + 1) * block] = rng.uniform(0.5, 1.5, block)
    return x, block


def recover_masks(model, x, y, block, rate):
    """The dropout mask of every row, recovered from d(mse)/d(kernel) = (2/n) sum_r res_r m_r x_r for
    the model x -> dropout -> x @ ones; checks each value is 0 or 1/(1-rate) and that the batch loss
    and residuals agree with the recovered masks (the 1/n batch average included)."""
    n = x.shape[0]
    loss, grads = model._core.compute_gradients(x, y)
    scale = 1.0 / (1.0 - rate)
    masks, residuals = [], []
    for r in range(n):
        cols = slice(r * block, (r + 1) * block)
        v = grads[cols] * n / (2 * x[r, cols])  # = m_ri * residual_r
        kept = np.abs(v) > 1e-9
        assert kept.any()
        residual = v[kept][0] / scale
        np.testing.assert_allclose(v[kept], scale * residual, rtol=1e-10)  # all kept values scaled alike
        mask = np.where(kept, scale, 0.0)
        np.testing.assert_allclose(residual, (mask * x[r, cols]).sum() - y[r, 0], rtol=1e-10)
        masks.append(mask)
        residuals.append(residual)
    np.testing.assert_allclose(loss, np.mean(np.square(residuals)), rtol=1e-10)
    return np.concatenate(masks)


def test_dropout_is_identity_in_predict_and_evaluate(float64):
    model = dropout_model(0.3)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, (6, 1000))
    y = rng.normal(size=(6, 1))
    expected = x.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=TIGHT)
    np.testing.assert_allclose(model(x), expected, rtol=TIGHT)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), mse(expected, y), rtol=TIGHT)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=4, verbose=0), mse(expected, y), rtol=TIGHT)


@pytest.mark.parametrize("rate", [0.3, 0.5])
def test_dropout_training_masks_zero_rate_and_scale_the_rest(float64, rate):
    model = dropout_model(rate)
    rng = np.random.default_rng(1)
    x, block = block_inputs(rng, 4, 1000)
    y = np.full((4, 1), -50.0)  # residuals stay positive
    before = model.get_weights()
    masks = [recover_masks(model, x, y, block, rate) for _ in range(3)]
    draws = np.concatenate(masks)  # 3000 independent keep/drop draws
    zeroed = np.mean(draws == 0)
    assert abs(zeroed - rate) < 0.04, zeroed  # 4.3 standard errors at rate 0.3
    assert not np.array_equal(masks[0], masks[1])  # a fresh mask per batch
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)


def test_dropout_rate_zero_is_the_identity_in_training(float64):
    model = dropout_model(0.0)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 1000))
    y = rng.normal(size=(5, 1))
    loss, grads = model._core.compute_gradients(x, y)
    residual = x.sum(axis=1) - y[:, 0]
    np.testing.assert_allclose(loss, np.mean(residual ** 2), rtol=TIGHT)
    np.testing.assert_allclose(grads, 2.0 / 5 * (residual @ x), rtol=1e-9, atol=1e-12)


def test_dropout_in_fit_with_zero_learning_rate(float64):
    """One row of ones, target 0: each training batch's loss is (K / (1 - rate))^2 with K the number
    of kept inputs, an integer near (1 - rate) * 1000; the weights do not move."""
    rate = 0.3
    model = dropout_model(rate)
    losses = []

    class Collect(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(logs["loss"])

    x, y = np.ones((1, 1000)), np.zeros((1, 1))
    model.fit(x, y, epochs=4, batch_size=1, verbose=0, callbacks=[Collect()])
    assert len(losses) == 4
    kept = np.sqrt(losses) * (1 - rate)
    np.testing.assert_allclose(kept, np.round(kept), atol=1e-6)
    assert np.all(np.abs(kept - 700) < 60), kept
    assert len(set(np.round(kept))) > 1  # fresh masks
    np.testing.assert_array_equal(model.get_weights()[0], np.ones((1000, 1)))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), 1000.0 ** 2, rtol=TIGHT)  # no dropout


def test_dropout_is_repeatable_with_set_random_seed(float64):
    rng = np.random.default_rng(3)
    x, _ = block_inputs(rng, 4, 1000)
    y = np.full((4, 1), -50.0)

    def gradients(seed):
        utils.set_random_seed(seed)
        model = dropout_model(0.4)
        return [model._core.compute_gradients(x, y)[1] for _ in range(2)]

    first, again, other = gradients(11), gradients(11), gradients(12)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])

    def training(seed):
        utils.set_random_seed(seed)
        model = Sequential([Input(shape=(8,)), layers.Dense(16, activation="relu"), layers.Dropout(0.5),
                            layers.Dense(1)])
        model.compile(optimizer=optimizers.SGD(learning_rate=0.05), loss="mse")
        data = np.random.default_rng(4)
        xs, ys = data.normal(size=(40, 8)), data.normal(size=(40, 1))
        history = model.fit(xs, ys, epochs=3, batch_size=8, verbose=0)
        return history.history["loss"], model.get_weights()

    (loss_a, w_a), (loss_b, w_b), (loss_c, _) = training(5), training(5), training(6)
    assert loss_a == loss_b
    for a, b in zip(w_a, w_b):
        np.testing.assert_array_equal(a, b)
    assert loss_a != loss_c


def test_dropout_seed_argument_fixes_the_masks(float64):
    rng = np.random.default_rng(5)
    x, _ = block_inputs(rng, 4, 1000)
    y = np.full((4, 1), -50.0)

    def gradients(global_seed, dropout_seed):
        utils.set_random_seed(global_seed)
        model = dropout_model(0.3, seed=dropout_seed)
        return [model._core.compute_gradients(x, y)[1] for _ in range(2)]

    a, b = gradients(1, 7), gradients(2, 7)  # different model seeds, same layer seed
    for ga, gb in zip(a, b):
        np.testing.assert_array_equal(ga, gb)
    assert not np.array_equal(a[0], a[1])  # still a new mask per batch
    assert not np.array_equal(a[0], gradients(1, 8)[0])
    assert not np.array_equal(gradients(1, None)[0], gradients(2, None)[0])


@pytest.mark.parametrize("seed", [7, 2**53 + 1, 2**63, 2**64 - 1])  # seeds reach the core exactly, as text
def test_dropout_seed_of_any_accepted_size_fixes_the_masks(float64, seed):
    x, y = np.ones((1, 200)), np.zeros((1, 1))

    def gradient(global_seed):
        utils.set_random_seed(global_seed)
        return dropout_model(0.5, seed=seed, n_in=200)._core.compute_gradients(x, y)[1]

    np.testing.assert_array_equal(gradient(1), gradient(2))


@pytest.mark.parametrize("seed", [2**64, -1, 1.5, True])
def test_dropout_and_initializers_reject_bad_seeds(seed):
    with pytest.raises(ValueError, match=r"seed must be None or an integer in \[0, 2\*\*64\)"):
        layers.Dropout(0.5, seed=seed)
    with pytest.raises(ValueError, match=r"seed must be None or an integer in \[0, 2\*\*64\)"):
        initializers.GlorotUniform(seed=seed)


def test_seeds_beyond_double_precision_stay_distinct(float64):
    x, y = np.ones((1, 200)), np.zeros((1, 1))
    a = dropout_model(0.5, seed=2**53, n_in=200)._core.compute_gradients(x, y)[1]
    b = dropout_model(0.5, seed=2**53 + 1, n_in=200)._core.compute_gradients(x, y)[1]
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, float("nan")])
def test_dropout_rejects_bad_rates(rate):
    with pytest.raises(ValueError):
        layers.Dropout(rate)


# ============================================================================ BatchNormalization

def bn_model(d, **kwargs):
    model = Sequential([Input(shape=(d,)), layers.BatchNormalization(**kwargs)])
    model.compile(optimizer=sgd0(), loss="mse")
    return model


@pytest.mark.parametrize("momentum,epsilon", [(None, None), (0.9, 1e-2)])
def test_batchnorm_training_output_and_moving_statistics(float64, momentum, epsilon):
    kwargs = {} if momentum is None else {"momentum": momentum, "epsilon": epsilon}
    momentum = 0.99 if momentum is None else momentum
    epsilon = 1e-3 if epsilon is None else epsilon
    d, n = 3, 16
    model = bn_model(d, **kwargs)
    rng = np.random.default_rng(6)
    gamma, beta = np.array([1.5, 0.5, 2.0]), np.array([0.1, -0.2, 0.3])
    mm0, mv0 = np.array([0.2, -0.1, 0.4]), np.array([1.5, 0.5, 2.0])
    model.set_weights([gamma, beta, mm0, mv0])
    x = rng.normal(loc=[1.0, -2.0, 3.0], scale=[0.5, 2.0, 1.0], size=(n, d))
    y = rng.normal(size=(n, d))

    def train_out(xb):
        return gamma * (xb - xb.mean(axis=0)) / np.sqrt(xb.var(axis=0) + epsilon) + beta  # biased variance

    # Two steps of n/2 rows (no shuffling): the moving statistics follow the documented recurrence.
    history = model.fit(x, y, batch_size=n // 2, epochs=1, shuffle=False, verbose=0)
    mm, mv = mm0, mv0
    losses = []
    for xb, yb in ((x[:n // 2], y[:n // 2]), (x[n // 2:], y[n // 2:])):
        mm = momentum * mm + (1 - momentum) * xb.mean(axis=0)
        mv = momentum * mv + (1 - momentum) * xb.var(axis=0)
        losses.append(mse(train_out(xb), yb))
    g, b, got_mm, got_mv = model.get_weights()
    np.testing.assert_array_equal(g, gamma)  # lr = 0
    np.testing.assert_array_equal(b, beta)
    np.testing.assert_allclose(got_mm, mm, rtol=TIGHT)
    np.testing.assert_allclose(got_mv, mv, rtol=TIGHT)
    np.testing.assert_allclose(history.history["loss"][0], np.mean(losses), rtol=TIGHT)

    # One batch through compute_gradients: the training output, through the loss and the
    # gradients of beta and gamma (dL/d beta_j = 2/(n d) sum_r (out - y), times x_hat for gamma).
    model.set_weights([gamma, beta, mm0, mv0])
    loss, grads = model._core.compute_gradients(x, y)
    out = train_out(x)
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + epsilon)
    np.testing.assert_allclose(loss, mse(out, y), rtol=TIGHT)
    np.testing.assert_allclose(grads[:d], 2 / (n * d) * ((out - y) * x_hat).sum(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads[d:], 2 / (n * d) * (out - y).sum(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.get_weights()[2], momentum * mm0 + (1 - momentum) * x.mean(axis=0),
                               rtol=TIGHT)


def test_batchnorm_inference_uses_the_moving_statistics(float64):
    d = 4
    model = bn_model(d, epsilon=0.01)
    rng = np.random.default_rng(7)
    gamma, beta = rng.uniform(0.5, 2, d), rng.normal(size=d)
    mm, mv = rng.normal(size=d), rng.uniform(0.2, 3, d)
    model.set_weights([gamma, beta, mm, mv])
    x, y = rng.normal(size=(9, d)), rng.normal(size=(9, d))
    expected = gamma * (x - mm) / np.sqrt(mv + 0.01) + beta
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=TIGHT)
    np.testing.assert_allclose(model.predict(x[:1], verbose=0), expected[:1], rtol=TIGHT)  # no batch stats
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), mse(expected, y), rtol=TIGHT)
    for w, w0 in zip(model.get_weights(), [gamma, beta, mm, mv]):  # inference changes nothing
        np.testing.assert_array_equal(w, w0)


def test_batchnorm_inference_float32():
    d = 3
    model = bn_model(d)
    gamma, beta = np.array([2.0, 0.5, 1.0]), np.array([0.0, 1.0, -1.0])
    mm, mv = np.array([1.0, -1.0, 0.5]), np.array([4.0, 0.25, 1.0])
    model.set_weights([gamma, beta, mm, mv])
    x = np.random.default_rng(8).normal(size=(5, d))
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, gamma * (x - mm) / np.sqrt(mv + 1e-3) + beta, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
def test_batchnorm_center_and_scale_change_the_weights(float64, center, scale):
    d = 3
    model = bn_model(d, center=center, scale=scale)
    weights = model.get_weights()
    expected_initial = ([np.ones(d)] if scale else []) + ([np.zeros(d)] if center else []) + \
        [np.zeros(d), np.ones(d)]
    assert len(weights) == len(expected_initial)
    for w, e in zip(weights, expected_initial):
        np.testing.assert_array_equal(w, e)
    assert model._core.params.size == d * (center + scale)
    assert model._core.state.size == 2 * d
    assert model.count_params() == d * (2 + center + scale)
    rng = np.random.default_rng(9)
    gamma, beta = rng.uniform(0.5, 2, d), rng.normal(size=d)
    mm, mv = rng.normal(size=d), rng.uniform(0.5, 2, d)
    model.set_weights(([gamma] if scale else []) + ([beta] if center else []) + [mm, mv])
    x = rng.normal(size=(4, d))
    expected = (x - mm) / np.sqrt(mv + 1e-3) * (gamma if scale else 1.0) + (beta if center else 0.0)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=TIGHT)


def test_batchnorm_summary_counts_non_trainable_parameters():
    d = 5
    model = bn_model(d)
    layer = model.layers[0]
    assert model.count_params() == 4 * d
    assert layer.count_params() == 4 * d
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert f"Total params: {4 * d} ({4 * d * 4:.2f} B)" in text
    assert f"Trainable params: {2 * d} ({2 * d * 4:.2f} B)" in text
    assert f"Non-trainable params: {2 * d} ({2 * d * 4:.2f} B)" in text
    assert [w.shape for w in model.get_weights()] == [(d,)] * 4


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("loss", ["mse", "categorical_crossentropy"])
def test_batchnorm_gradients_in_training_mode(float64, center, scale, loss):
    """Dense -> BatchNormalization -> Dense: the backward pass through the batch statistics."""
    n_in, hidden, n_out, n = 4, 5, 3, 7
    out_act = "softmax" if loss == "categorical_crossentropy" else "tanh"
    model = Sequential([Input(shape=(n_in,)), layers.Dense(hidden, activation="tanh"),
                        layers.BatchNormalization(center=center, scale=scale, epsilon=0.01),
                        layers.Dense(n_out, activation=out_act)])
    model.compile(optimizer=sgd0(), loss=loss)
    rng = np.random.default_rng(10)
    weights = [rng.uniform(-1, 1, w.shape) for w in model.get_weights()]
    weights[-2:] = model.get_weights()[-2:]  # keep the moving statistics valid (unused in training)
    bn = model.layers[1].get_weights()
    bn_trainable = len(bn) - 2
    dense0 = [rng.uniform(-1, 1, (n_in, hidden)), rng.uniform(-0.5, 0.5, hidden)]
    bn_new = [rng.uniform(0.5, 1.5, hidden) if i == 0 and scale else rng.uniform(-0.5, 0.5, hidden)
              for i in range(bn_trainable)] + bn[-2:]
    dense1 = [rng.uniform(-1, 1, (hidden, n_out)), rng.uniform(-0.5, 0.5, n_out)]
    model.set_weights(dense0 + bn_new + dense1)
    x = rng.normal(size=(n, n_in))
    y = np.eye(n_out)[rng.integers(0, n_out, n)] if loss != "mse" else rng.normal(size=(n, n_out))
    check_gradients(model, x, y)


# ============================================================================ Maxout

@pytest.mark.parametrize("units,pieces", [(3, 2), (2, 4), (3, 1)])
def test_maxout_forward_and_parameter_count(float64, units, pieces):
    n_in = 4
    model = Sequential([Input(shape=(n_in,)), layers.Maxout(units, pieces=pieces)])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(n_in, units * pieces), (units * pieces,)]
    assert model.count_params() == pieces * (n_in * units + units)
    assert model.output_shape == (None, units)
    kernel0 = model.get_weights()[0]
    assert np.unique(kernel0).size == kernel0.size  # initialized randomly (no ties)
    rng = np.random.default_rng(11)
    kernel, bias = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    model.set_weights([kernel, bias])
    x = rng.normal(size=(6, n_in))
    z = x @ kernel + bias
    expected = np.stack([z[:, u * pieces:(u + 1) * pieces].max(axis=1) for u in range(units)], axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=TIGHT)
    if pieces > 1:  # the other layout (piece-major) would give different values
        other = z.reshape(6, pieces, units).max(axis=1)
        assert not np.allclose(other, expected)


def test_maxout_summary_parameter_count():
    model = Sequential([Input(shape=(10,)), layers.Maxout(4, pieces=3)])
    lines = []
    model.summary(print_fn=lines.append)
    count = 3 * (10 * 4 + 4)
    assert f"Total params: {count} (" in "\n".join(lines)


@pytest.mark.parametrize("pieces", [2, 3])
def test_maxout_gradients(float64, pieces):
    n_in, units, n_out, n = 4, 3, 2, 6
    model = Sequential([Input(shape=(n_in,)), layers.Maxout(units, pieces=pieces), layers.Dense(n_out)])
    model.compile(optimizer=sgd0(), loss="mse")
    shapes = [w.shape for w in model.get_weights()]
    for s in itertools.count():
        rng = np.random.default_rng(100 + s)
        weights = [rng.uniform(-1, 1, shape) for shape in shapes]
        x = rng.normal(size=(n, n_in))
        z = (x @ weights[0] + weights[1]).reshape(n, units, pieces)
        top2 = np.sort(z, axis=2)[:, :, -2:]
        if (top2[:, :, 1] - top2[:, :, 0]).min() > MARGIN:  # away from ties
            break
        assert s < 500
    model.set_weights(weights)
    y = rng.normal(size=(n, n_out))
    check_gradients(model, x, y)


# ============================================================================ activation layers

X_ACT = np.array([[-3.0, -1.2, -0.4, -0.05, 0.05, 0.4, 1.2, 3.0],
                  [-7.0, -2.5, -0.7, 0.3, 0.8, 1.7, 5.0, 8.0]])


def predict_layer(layer, x=X_ACT):
    model = Sequential([Input(shape=(x.shape[1],)), layer])
    return model.predict(x, verbose=0)


def keras_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """keras.activations.relu for thresholds >= 0 (and points away from the threshold)."""
    y = np.where(x > threshold, x, negative_slope * (x - threshold))
    if max_value is not None:
        y = np.minimum(y, max_value)
    return y


def test_leaky_relu_layer_default_slope(float64):
    np.testing.assert_allclose(predict_layer(layers.LeakyReLU()), np.where(X_ACT > 0, X_ACT, 0.3 * X_ACT),
                               rtol=TIGHT)
    np.testing.assert_allclose(predict_layer(layers.LeakyReLU(negative_slope=0.05)),
                               np.where(X_ACT > 0, X_ACT, 0.05 * X_ACT), rtol=TIGHT)


def test_leaky_relu_alpha_is_deprecated(float64):
    with pytest.warns(DeprecationWarning, match="negative_slope"):
        layer = layers.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1
    np.testing.assert_allclose(predict_layer(layer), np.where(X_ACT > 0, X_ACT, 0.1 * X_ACT), rtol=TIGHT)


@pytest.mark.parametrize("alpha", [None, 0.5, 2.0])
def test_elu_layer(float64, alpha):
    layer = layers.ELU() if alpha is None else layers.ELU(alpha=alpha)
    a = 1.0 if alpha is None else alpha
    np.testing.assert_allclose(predict_layer(layer), np.where(X_ACT > 0, X_ACT, a * np.expm1(X_ACT)), rtol=TIGHT)


def test_relu_layer_defaults(float64):
    np.testing.assert_allclose(predict_layer(layers.ReLU()), np.maximum(X_ACT, 0), rtol=TIGHT)


@pytest.mark.parametrize("kwargs", [
    pytest.param({"max_value": 1.5}, id="max_value"),
    pytest.param({"max_value": 6.0}, id="max_value6"),
    pytest.param({"negative_slope": 0.1}, id="negative_slope"),
    pytest.param({"threshold": 0.5}, id="threshold"),
    pytest.param({"max_value": 2.0, "negative_slope": 0.2, "threshold": 0.5}, id="all"),
])
def test_relu_layer_parametrised(float64, kwargs):
    np.testing.assert_allclose(predict_layer(layers.ReLU(**kwargs)), keras_relu(X_ACT, **kwargs), rtol=TIGHT)


def test_softmax_layer(float64):
    np.testing.assert_allclose(predict_layer(layers.Softmax()), np_softmax(X_ACT), rtol=TIGHT)
    np.testing.assert_allclose(predict_layer(layers.Softmax(axis=1)), np_softmax(X_ACT), rtol=TIGHT)
    big = X_ACT + 1000.0  # no overflow
    np.testing.assert_allclose(predict_layer(layers.Softmax(), big), np_softmax(big), rtol=1e-9)
    with pytest.raises(ValueError):
        layers.Softmax(axis=0)


@pytest.mark.parametrize("make", [lambda: layers.LeakyReLU(), lambda: layers.LeakyReLU(negative_slope=0.05),
                                  lambda: layers.ELU(), lambda: layers.ELU(alpha=0.7), lambda: layers.ReLU(),
                                  lambda: layers.Softmax()],
                         ids=["leaky", "leaky0.05", "elu", "elu0.7", "relu", "softmax"])
def test_activation_layer_gradients(float64, make):
    n_in, hidden, n_out, n = 4, 5, 3, 6
    model = Sequential([Input(shape=(n_in,)), layers.Dense(hidden), make(), layers.Dense(n_out)])
    model.compile(optimizer=sgd0(), loss="mse")
    shapes = [w.shape for w in model.get_weights()]
    for s in itertools.count():
        rng = np.random.default_rng(200 + s)
        weights = [rng.uniform(-1, 1, shape) for shape in shapes]
        x = rng.normal(size=(n, n_in))
        if np.abs(x @ weights[0] + weights[1]).min() > MARGIN:
            break
    model.set_weights(weights)
    check_gradients(model, x, rng.normal(size=(n, n_out)))


def test_elu_negative_alpha_is_refused():
    """densenn takes ELU's derivative from its output, so alpha must keep the negative branch <= 0
    (Keras accepts any alpha; documented difference)."""
    with pytest.raises(ValueError, match=r"ELU alpha: expected a value in \[0.0, inf\), got -0.5"):
        layers.ELU(alpha=-0.5)


# ============================================================================ Flatten

def test_flatten_then_dense_trains_on_images():
    utils.set_random_seed(12)
    rng = np.random.default_rng(12)
    x = rng.uniform(0, 1, (96, 28, 28)).astype(np.float32)
    labels = (x[:, :14].mean(axis=(1, 2)) > x[:, 14:].mean(axis=(1, 2))).astype(int)
    y = np.eye(10, dtype=np.float32)[labels]
    model = Sequential([Input(shape=(28, 28)), layers.Flatten(), layers.Dense(10, activation="softmax")])
    assert model.layers[0].output_shape == (None, 784)
    assert model.output_shape == (None, 10)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    kernel, bias = model.get_weights()
    assert kernel.shape == (784, 10)
    expected = np_softmax(x.reshape(96, 784).astype(np.float64) @ kernel + bias)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-6)


def test_dense_on_multidimensional_input_needs_flatten():
    with pytest.raises(ValueError, match="Flatten"):
        Sequential([Input(shape=(28, 28)), layers.Dense(10)])
    model = Sequential([Input(shape=(28, 28))])
    with pytest.raises(ValueError, match="Flatten"):
        model.add(layers.Dense(10))
    assert model.layers == []  # the refused layer is not kept
    for layer in (layers.Maxout(3), layers.BatchNormalization(), layers.Softmax()):
        with pytest.raises(ValueError, match="Flatten"):
            Sequential([Input(shape=(2, 3)), layer])


def test_model_without_flatten_keeps_the_sample_shape(float64):
    rng = np.random.default_rng(13)
    x = rng.normal(size=(4, 2, 3))
    model = Sequential([Input(shape=(2, 3)), layers.LeakyReLU(), layers.Dropout(0.5)])
    out = model.predict(x, verbose=0)
    assert out.shape == (4, 2, 3)
    assert model.output_shape == (None, 2, 3)
    np.testing.assert_allclose(out, np.where(x > 0, x, 0.3 * x), rtol=TIGHT)


# ============================================================================ initializers

FAN_IN, FAN_OUT = 400, 300
N_DRAWS = FAN_IN * FAN_OUT

# name: (class, uniform?, variance scale, fan)
VARIANCE_SCALING = {
    "glorot_uniform": (initializers.GlorotUniform, True, 1.0, (FAN_IN + FAN_OUT) / 2),
    "glorot_normal": (initializers.GlorotNormal, False, 1.0, (FAN_IN + FAN_OUT) / 2),
    "he_uniform": (initializers.HeUniform, True, 2.0, FAN_IN),
    "he_normal": (initializers.HeNormal, False, 2.0, FAN_IN),
    "lecun_uniform": (initializers.LecunUniform, True, 1.0, FAN_IN),
    "lecun_normal": (initializers.LecunNormal, False, 1.0, FAN_IN),
}


def kernel_of(kernel_initializer="glorot_uniform", bias_initializer="zeros", shape=(FAN_IN, FAN_OUT)):
    model = Sequential([Input(shape=(shape[0],)), layers.Dense(shape[1], kernel_initializer=kernel_initializer,
                                                              bias_initializer=bias_initializer)])
    kernel, bias = model.get_weights()
    return kernel.astype(np.float64), bias.astype(np.float64)


def check_moments(w, mean, std, rel_std=0.02):
    assert abs(w.mean() - mean) < 4 * max(std, 1e-12) / np.sqrt(w.size), (w.mean(), mean)
    np.testing.assert_allclose(w.std(), std, rtol=rel_std)


@pytest.mark.parametrize("form", ["name", "class_name", "instance"])
@pytest.mark.parametrize("name", sorted(VARIANCE_SCALING))
def test_variance_scaling_initializers(name, form):
    utils.set_random_seed(14)
    cls, uniform, scale, fan = VARIANCE_SCALING[name]
    identifier = {"name": name, "class_name": cls.__name__, "instance": cls()}[form]
    w, bias = kernel_of(identifier)
    np.testing.assert_array_equal(bias, 0.0)
    target_std = np.sqrt(scale / fan)
    if uniform:
        limit = np.sqrt(3 * scale / fan)  # glorot_uniform: sqrt(6 / (in + out))
        assert np.abs(w).max() <= limit * (1 + 1e-6)
        assert np.abs(w).max() > 0.999 * limit
        check_moments(w, 0.0, limit / np.sqrt(3))
        np.testing.assert_allclose(w.var(), limit ** 2 / 3, rtol=0.03)
    else:  # truncated normal whose stddev is target / 0.8796, cut at 2 of those stddevs
        bound = 2 * target_std / 0.87962566103423978
        assert np.abs(w).max() <= bound * (1 + 1e-6)
        assert np.abs(w).max() > 0.99 * bound
        check_moments(w, 0.0, target_std)
    if name == "glorot_uniform":
        np.testing.assert_allclose(np.sqrt(3 * scale / fan), np.sqrt(6 / (FAN_IN + FAN_OUT)))


def test_default_kernel_initializer_is_glorot_uniform():
    utils.set_random_seed(15)
    model = Sequential([Input(shape=(FAN_IN,)), layers.Dense(FAN_OUT)])
    w, b = model.get_weights()
    limit = np.sqrt(6 / (FAN_IN + FAN_OUT))
    assert np.abs(w).max() <= limit * (1 + 1e-6) and np.abs(w).max() > 0.999 * limit
    check_moments(w.astype(np.float64), 0.0, limit / np.sqrt(3))
    np.testing.assert_array_equal(b, 0.0)


@pytest.mark.parametrize("kernel_init,bias_init,kernel_value,bias_value", [
    ("zeros", "ones", 0.0, 1.0),
    ("ones", "zeros", 1.0, 0.0),
    (initializers.Zeros(), initializers.Ones(), 0.0, 1.0),
    (initializers.Constant(0.25), initializers.Constant(value=-1.5), 0.25, -1.5),
    ("Ones", "Zeros", 1.0, 0.0),
])
def test_constant_initializers(kernel_init, bias_init, kernel_value, bias_value):
    w, b = kernel_of(kernel_init, bias_init, shape=(7, 5))
    np.testing.assert_array_equal(w, np.full((7, 5), kernel_value))
    np.testing.assert_array_equal(b, np.full(5, bias_value))


@pytest.mark.parametrize("init,mean,std", [
    (initializers.RandomNormal(), 0.0, 0.05),
    (initializers.RandomNormal(mean=0.5, stddev=0.2), 0.5, 0.2),
    ("random_normal", 0.0, 0.05),
])
def test_random_normal(init, mean, std):
    utils.set_random_seed(16)
    w, _ = kernel_of(init)
    check_moments(w, mean, std)
    # untruncated: values beyond 3 stddev occur (0.27% of the draws)
    assert np.mean(np.abs(w - mean) > 3 * std) > 0.001


def test_truncated_normal():
    utils.set_random_seed(17)
    w, _ = kernel_of(initializers.TruncatedNormal(mean=1.0, stddev=0.1))
    assert np.abs(w - 1.0).max() <= 0.2 * (1 + 1e-6)
    check_moments(w, 1.0, 0.1 * 0.87962566103423978)


@pytest.mark.parametrize("init,low,high", [
    (initializers.RandomUniform(), -0.05, 0.05),
    (initializers.RandomUniform(minval=-0.3, maxval=0.7), -0.3, 0.7),
    ("random_uniform", -0.05, 0.05),
])
def test_random_uniform(init, low, high):
    utils.set_random_seed(18)
    w, _ = kernel_of(init)
    assert w.min() >= low - 1e-7 and w.max() <= high + 1e-7
    assert w.min() < low + 1e-3 * (high - low) and w.max() > high - 1e-3 * (high - low)
    check_moments(w, (low + high) / 2, (high - low) / np.sqrt(12))


@pytest.mark.parametrize("make", [lambda s: initializers.GlorotUniform(seed=s), lambda s: initializers.HeNormal(seed=s),
                                  lambda s: initializers.RandomNormal(seed=s),
                                  lambda s: initializers.RandomUniform(seed=s)],
                         ids=["glorot_uniform", "he_normal", "random_normal", "random_uniform"])
def test_initializer_seed_gives_identical_kernels(make):
    utils.set_random_seed(1)
    a, _ = kernel_of(make(3), shape=(20, 10))
    utils.set_random_seed(2)  # a different model seed: the initializer's own seed decides
    b, _ = kernel_of(make(3), shape=(20, 10))
    c, _ = kernel_of(make(4), shape=(20, 10))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("seed", [0, 2**63, 2**64 - 1])
def test_initializer_seed_of_any_accepted_size_fixes_the_kernel(seed):
    utils.set_random_seed(1)
    a, _ = kernel_of(initializers.GlorotUniform(seed=seed), shape=(20, 10))
    utils.set_random_seed(2)
    b, _ = kernel_of(initializers.GlorotUniform(seed=seed), shape=(20, 10))
    np.testing.assert_array_equal(a, b)


def test_set_random_seed_fixes_the_initial_weights():
    def weights(seed):
        utils.set_random_seed(seed)
        model = Sequential([Input(shape=(6,)), layers.Dense(5, kernel_initializer="he_normal",
                                                             bias_initializer="random_uniform"),
                            layers.Maxout(2), layers.Dense(1)])
        return model.get_weights()

    a, b, c = weights(9), weights(9), weights(10)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a[0], c[0])


def test_unknown_initializer_names_are_rejected():
    with pytest.raises(ValueError, match="glorot_uniform") as info:
        layers.Dense(3, kernel_initializer="glorot")
    for valid in ("he_normal", "lecun_uniform", "zeros", "random_normal"):
        assert valid in str(info.value)
    with pytest.raises(ValueError, match="Valid initializers"):
        layers.Dense(3, bias_initializer="unknown")
    with pytest.raises(ValueError):
        initializers.get(42)
    with pytest.raises(ValueError):
        initializers.RandomNormal(stddev=-1.0)
    with pytest.raises(ValueError):
        initializers.RandomUniform(minval=1.0, maxval=0.0)
    with pytest.raises(ValueError):
        initializers.GlorotUniform(seed=-1)


# ============================================================================ regularizers

def np_dense_stack(weights, x, activations):
    a, outputs = x, []
    for (kernel, bias), act in zip(zip(weights[::2], weights[1::2]), activations):
        z = a @ kernel + bias
        a = {"linear": z, "tanh": np.tanh(z), "softmax": np_softmax(z) if z.ndim == 2 else None}[act]
        outputs.append(a)
    return outputs


def penalty(reg, v):
    return reg[0] * np.abs(v).sum() + reg[1] * np.square(v).sum()


def regularized_model(kernel_regs, bias_regs, activity_regs, out_act="linear", loss="mse"):
    """Input(4) -> Dense(5, tanh) -> Dense(3, out_act), with (l1, l2) pairs (or None) per layer."""
    def reg(pair):
        return None if pair is None else regularizers.L1L2(l1=pair[0], l2=pair[1])

    model = Sequential([
        Input(shape=(4,)),
        layers.Dense(5, activation="tanh", kernel_regularizer=reg(kernel_regs[0]), bias_regularizer=reg(bias_regs[0]),
                     activity_regularizer=reg(activity_regs[0])),
        layers.Dense(3, activation=out_act, kernel_regularizer=reg(kernel_regs[1]),
                     bias_regularizer=reg(bias_regs[1]), activity_regularizer=reg(activity_regs[1])),
    ])
    model.compile(optimizer=sgd0(), loss=loss)
    return model


def regularization_problem(model, seed, n=10, out_act="linear"):
    """Weights and data with every weight and every hidden/output activation away from 0."""
    shapes = [w.shape for w in model.get_weights()]
    for s in itertools.count(seed):
        rng = np.random.default_rng(s)
        weights = [away_from_zero(rng, shape) for shape in shapes]
        x = rng.normal(size=(n, 4))
        outputs = np_dense_stack(weights, x, ["tanh", out_act])
        if all(np.abs(o).min() > MARGIN for o in outputs):
            break
        assert s < seed + 500
    model.set_weights(weights)
    return weights, x, rng


def expected_loss(weights, x, y, kernel_regs, bias_regs, activity_regs, batch_size, out_act="linear", loss="mse"):
    """Keras 3: per batch, data loss + weight penalties + activity penalties / batch rows; the epoch
    value is the batch-size-weighted mean of the batch values."""
    n, total = len(x), 0.0
    weight_penalty = sum(penalty(r, w) for r, w in zip(kernel_regs, weights[::2]) if r is not None) + \
        sum(penalty(r, b) for r, b in zip(bias_regs, weights[1::2]) if r is not None)
    for start in range(0, n, batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        outputs = np_dense_stack(weights, xb, ["tanh", out_act])
        data = mse(outputs[-1], yb) if loss == "mse" else cce(outputs[-1], yb)
        activity = sum(penalty(r, o) for r, o in zip(activity_regs, outputs) if r is not None) / len(xb)
        total += len(xb) * (data + weight_penalty + activity)
    return total / n


def test_weight_regularizers_add_to_the_reported_loss(float64):
    kernel_regs, bias_regs, activity_regs = [(0.01, 0.02), (0.03, 0.0)], [(0.0, 0.05), (0.01, 0.01)], [None, None]
    model = regularized_model(kernel_regs, bias_regs, activity_regs)
    weights, x, rng = regularization_problem(model, 0)
    y = rng.normal(size=(10, 3))
    outputs = np_dense_stack(weights, x, ["tanh", "linear"])
    by_hand = mse(outputs[-1], y) + 0.01 * np.abs(weights[0]).sum() + 0.02 * np.square(weights[0]).sum() + \
        0.05 * np.square(weights[1]).sum() + 0.03 * np.abs(weights[2]).sum() + \
        0.01 * np.abs(weights[3]).sum() + 0.01 * np.square(weights[3]).sum()
    for batch_size in (10, 3):
        np.testing.assert_allclose(model.evaluate(x, y, batch_size=batch_size, verbose=0), by_hand, rtol=TIGHT)
    # The penalty is part of the trained loss too.
    np.testing.assert_allclose(model._core.compute_gradients(x, y)[0], by_hand, rtol=TIGHT)
    assert by_hand - mse(outputs[-1], y) > 0.05  # the penalty is not negligible


def test_activity_regularizers_are_divided_by_the_batch_rows(float64):
    kernel_regs, bias_regs, activity_regs = [None, None], [None, None], [(0.01, 0.02), (0.0, 0.05)]
    model = regularized_model(kernel_regs, bias_regs, activity_regs)
    weights, x, rng = regularization_problem(model, 1000)
    y = rng.normal(size=(10, 3))
    outputs = np_dense_stack(weights, x, ["tanh", "linear"])
    full = mse(outputs[-1], y) + (penalty((0.01, 0.02), outputs[0]) + penalty((0.0, 0.05), outputs[1])) / 10
    np.testing.assert_allclose(expected_loss(weights, x, y, kernel_regs, bias_regs, activity_regs, 10), full,
                               rtol=TIGHT)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=10, verbose=0), full, rtol=TIGHT)
    np.testing.assert_allclose(model._core.compute_gradients(x, y)[0], full, rtol=TIGHT)
    for batch_size in (3, 4, 1):
        np.testing.assert_allclose(model.evaluate(x, y, batch_size=batch_size, verbose=0),
                                   expected_loss(weights, x, y, kernel_regs, bias_regs, activity_regs, batch_size),
                                   rtol=TIGHT)
    # On one batch of 4 rows, the activity penalty is averaged over those 4 rows.
    out4 = np_dense_stack(weights, x[:4], ["tanh", "linear"])
    np.testing.assert_allclose(
        model._core.compute_gradients(x[:4], y[:4])[0],
        mse(out4[-1], y[:4]) + (penalty((0.01, 0.02), out4[0]) + penalty((0.0, 0.05), out4[1])) / 4, rtol=TIGHT)


def test_regularizer_gradients(float64):
    kernel_regs, bias_regs, activity_regs = [(0.02, 0.03), (0.01, 0.05)], [(0.03, 0.0), (0.0, 0.04)], \
        [(0.05, 0.02), (0.01, 0.03)]
    model = regularized_model(kernel_regs, bias_regs, activity_regs)
    weights, x, rng = regularization_problem(model, 2000, n=6)
    y = rng.normal(size=(6, 3))
    loss = check_gradients(model, x, y)
    np.testing.assert_allclose(loss, expected_loss(weights, x, y, kernel_regs, bias_regs, activity_regs, 6),
                               rtol=TIGHT)


def test_activity_regularizer_on_softmax_output_with_crossentropy(float64):
    """The fused softmax + cross-entropy gradient cannot carry an output penalty: the core must
    take the exact path."""
    kernel_regs, bias_regs, activity_regs = [None, (0.01, 0.0)], [None, None], [None, (0.05, 0.1)]
    model = regularized_model(kernel_regs, bias_regs, activity_regs, out_act="softmax",
                              loss="categorical_crossentropy")
    weights, x, rng = regularization_problem(model, 3000, n=6, out_act="softmax")
    y = np.eye(3)[rng.integers(0, 3, 6)]
    loss = check_gradients(model, x, y)
    np.testing.assert_allclose(loss, expected_loss(weights, x, y, kernel_regs, bias_regs, activity_regs, 6,
                                                   out_act="softmax", loss="categorical_crossentropy"), rtol=TIGHT)
    # Without the penalty the same network's gradient differs (the check above is not vacuous).
    plain = regularized_model([None, (0.01, 0.0)], [None, None], [None, None], out_act="softmax",
                              loss="categorical_crossentropy")
    plain.set_weights(weights)
    assert not np.allclose(plain._core.compute_gradients(x, y)[1], model._core.compute_gradients(x, y)[1])


@pytest.mark.parametrize("identifier,cls,l1,l2", [
    ("l1", regularizers.L1, 0.01, 0.0),
    ("l2", regularizers.L2, 0.0, 0.01),
    (regularizers.L1(0.01), regularizers.L1, 0.01, 0.0),
    (regularizers.L2(0.01), regularizers.L2, 0.0, 0.01),
    (regularizers.L1(), regularizers.L1, 0.01, 0.0),
    (regularizers.L2(l2=0.3), regularizers.L2, 0.0, 0.3),
    (regularizers.L1L2(l1=0.02, l2=0.03), regularizers.L1L2, 0.02, 0.03),
    (regularizers.L1L2(), regularizers.L1L2, 0.0, 0.0),
    ("L1L2", regularizers.L1L2, 0.0, 0.0),  # Keras 3: the class name gives L1L2() (no penalty)
    pytest.param("l1_l2", regularizers.L1L2, 0.01, 0.01, id="l1_l2-string"),  # Keras' documented defaults
])
def test_regularizer_identifiers(float64, identifier, cls, l1, l2):
    reg = regularizers.get(identifier)
    assert isinstance(reg, cls)
    assert (reg.l1, reg.l2) == (l1, l2)
    model = Sequential([Input(shape=(3,)), layers.Dense(2, kernel_regularizer=identifier,
                                                        bias_initializer="ones")])
    model.compile(optimizer=sgd0(), loss="mse")
    rng = np.random.default_rng(19)
    kernel = away_from_zero(rng, (3, 2))
    model.set_weights([kernel, np.ones(2)])
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    expected = mse(x @ kernel + 1.0, y) + l1 * np.abs(kernel).sum() + l2 * np.square(kernel).sum()
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=TIGHT)


@pytest.mark.parametrize("make", [
    lambda: regularizers.L1(-0.01), lambda: regularizers.L2(float("nan")), lambda: regularizers.L2(float("inf")),
    lambda: regularizers.L1L2(l1=0.01, l2=-1), lambda: regularizers.L1L2(l1="0.01"), lambda: regularizers.L1(True),
    lambda: regularizers.get("l3"), lambda: layers.Dense(2, kernel_regularizer="l1l2x"),
    lambda: layers.Dense(2, activity_regularizer=0.01),
])
def test_bad_regularizers_are_rejected(make):
    with pytest.raises(ValueError):
        make()
