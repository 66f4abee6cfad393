"""One epoch against real Keras 3, from the same initial weights and batch order.

Runs where `keras` imports (the test extra brings it, on JAX's CPU backend: tests/conftest.py).
"""

import numpy as np
import pytest

from support import import_keras

keras = import_keras()
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

import densenn  # noqa: E402
from densenn import Input, Sequential, layers  # noqa: E402

rng = np.random.default_rng(11)


def build_pair(sizes, hidden, output, loss, optimizer, metrics=("accuracy",), **opt_kwargs):
    ours = Sequential([Input(shape=(sizes[0],))] + [layers.Dense(n, activation=hidden) for n in sizes[1:-1]]
                      + [layers.Dense(sizes[-1], activation=output)])
    ours.compile(optimizer=densenn.optimizers.get(optimizer).__class__(**opt_kwargs), loss=loss,
                 metrics=list(metrics))
    theirs = keras.Sequential([keras.Input(shape=(sizes[0],))]
                              + [keras.layers.Dense(n, activation=hidden) for n in sizes[1:-1]]
                              + [keras.layers.Dense(sizes[-1], activation=output)])
    theirs.compile(optimizer=keras.optimizers.get({"class_name": optimizer, "config": opt_kwargs}), loss=loss,
                   metrics=list(metrics))
    theirs.set_weights(ours.get_weights())
    return ours, theirs


CASES = [
    ("mnist-like sigmoid SGD", [20, 16, 8, 5], "sigmoid", "softmax", "categorical_crossentropy", "sgd",
     {"learning_rate": 0.05}),
    ("relu Adam", [20, 16, 5], "relu", "softmax", "categorical_crossentropy", "adam", {"learning_rate": 0.01}),
    ("tanh SGD momentum", [20, 12, 5], "tanh", "softmax", "sparse_categorical_crossentropy", "sgd",
     {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("binary Adam", [20, 10, 1], "relu", "sigmoid", "binary_crossentropy", "adam", {}),
    ("regression mse", [20, 10, 3], "elu", "linear", "mse", "sgd", {"learning_rate": 0.01}),
]


@pytest.mark.parametrize("name, sizes, hidden, output, loss, optimizer, kwargs", CASES, ids=[c[0] for c in CASES])
def test_one_epoch_matches_keras(name, sizes, hidden, output, loss, optimizer, kwargs):
    n = 200
    x = rng.normal(size=(n, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[-1], size=n)
    if loss == "categorical_crossentropy":
        y = np.eye(sizes[-1], dtype=np.float32)[labels]
    elif loss == "sparse_categorical_crossentropy":
        y = labels
    elif loss == "binary_crossentropy":
        y = (x[:, 0] > 0).astype(np.float32)[:, None]
    else:
        y = rng.normal(size=(n, sizes[-1])).astype(np.float32)
    metrics = () if loss == "mse" else ("accuracy",)
    ours, theirs = build_pair(sizes, hidden, output, loss, optimizer, metrics, **kwargs)
    h_ours = ours.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    h_theirs = theirs.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    # float32 on both sides, different summation orders: agreement to a few ulps per step
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    for key in h_theirs.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)),
                               rtol=1e-4, atol=1e-6)
    ours_eval = ours.evaluate(x, y, verbose=0, return_dict=True)
    theirs_eval = theirs.evaluate(x, y, verbose=0, return_dict=True)
    for key in theirs_eval:
        np.testing.assert_allclose(ours_eval[key], theirs_eval[key], rtol=1e-4, atol=1e-6, err_msg=key)
