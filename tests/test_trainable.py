"""Freezing layers (Keras' ``trainable = False``): against real Keras 3, and the rules Keras documents.

Keras 3: a frozen layer's weights are left out of the optimizer (and out of clipping norms and weight decay),
its weight regularizers out of the loss; a frozen BatchNormalization normalizes with its moving statistics also
in fit(); the trainable flags in force are those of the last compile().
"""
import warnings

import numpy as np
import pytest

import densenn
from densenn import Input, Sequential, layers

rng = np.random.default_rng(5)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def data(n=96, features=6, outputs=2):
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = rng.normal(size=(n, outputs)).astype(np.float32)
    return x, y


def pair(keras, make_layers, frozen, optimizer, loss="mse", model_trainable=True):
    """The same network in densenn and Keras, same initial weights, layers[i] frozen for i in frozen."""
    ours = Sequential([Input(shape=(6,))] + make_layers(layers))
    theirs = keras.Sequential([keras.Input(shape=(6,))] + make_layers(keras.layers))
    theirs.set_weights(ours.get_weights())
    for model in (ours, theirs):
        for i in frozen:
            model.layers[i].trainable = False
        if not model_trainable:
            model.trainable = False
    ours.compile(optimizer=densenn.optimizers.deserialize(optimizer), loss=loss)
    theirs.compile(optimizer=keras.optimizers.deserialize(optimizer), loss=loss)
    return ours, theirs


def assert_same_weights(ours, theirs):
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def dense_stack(ns):
    return [ns.Dense(8, activation="tanh"), ns.Dense(5, activation="relu"), ns.Dense(2)]


OPTIMIZERS = [
    {"class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9}},
    {"class_name": "Adam", "config": {"learning_rate": 0.01}},
    # weight decay and the global norm must see the trainable weights only
    {"class_name": "AdamW", "config": {"learning_rate": 0.01, "weight_decay": 0.1, "global_clipnorm": 0.5}},
    {"class_name": "RMSprop", "config": {"learning_rate": 0.01, "clipnorm": 0.1}},
]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=[o["class_name"] for o in OPTIMIZERS])
@pytest.mark.parametrize("frozen", [(0,), (1,), (0, 2)], ids=["first", "middle", "first-and-last"])
def test_frozen_layers_train_as_in_keras(keras, optimizer, frozen):
    x, y = data()
    ours, theirs = pair(keras, dense_stack, frozen, optimizer)
    before = ours.get_weights()
    h_ours = ours.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    h_theirs = theirs.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(ours, theirs)
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-4)
    after = ours.get_weights()
    for i, layer in enumerate(ours.layers):  # frozen: bit for bit; trainable: moved
        for k in (2 * i, 2 * i + 1):
            assert np.array_equal(before[k], after[k]) == (i in frozen), (layer.name, k)
    assert int(ours.optimizer.iterations) == 12


def test_frozen_regularized_layer_leaves_its_penalty_out_of_the_loss(keras):
    def with_regularizers(ns):
        return [ns.Dense(8, activation="tanh", kernel_regularizer="l2", bias_regularizer="l2"),  # (L1 at 0: JAX differentiates |b| as 1, densenn as TF and PyTorch, 0)
                ns.Dense(2, kernel_regularizer="l1", activity_regularizer="l2")]

    x, y = data()
    for frozen in [(0,), (1,)]:
        ours, theirs = pair(keras, with_regularizers, frozen, {"class_name": "SGD", "config": {"learning_rate": 0.02}})
        np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5)
        h_ours = ours.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
        h_theirs = theirs.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
        np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-4)
        assert_same_weights(ours, theirs)


def test_frozen_batch_normalization_runs_in_inference_mode(keras):
    def make(ns):
        return [ns.Dense(8, activation="relu"), ns.BatchNormalization(), ns.Dense(2)]

    x, y = data()
    ours, theirs = pair(keras, make, [], {"class_name": "SGD", "config": {"learning_rate": 0.05}})
    # moving statistics away from their initial (0, 1), so that inference mode differs from batch mode
    ours.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    assert_same_weights(ours, theirs)
    statistics = ours.layers[1].get_weights()[2:]
    for model in (ours, theirs):
        model.layers[1].trainable = False
    ours.compile(optimizer=densenn.optimizers.SGD(0.05), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    ours.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(ours, theirs)  # the gradient reaches the first Dense through the fixed statistics
    for a, b in zip(statistics, ours.layers[1].get_weights()[2:]):
        assert np.array_equal(a, b)  # moving statistics untouched


def test_whole_model_frozen(keras):
    x, y = data()
    ours, theirs = pair(keras, dense_stack, [], {"class_name": "Adam", "config": {}}, model_trainable=False)
    before = ours.get_weights()
    h = ours.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, ours.get_weights()))
    np.testing.assert_allclose(h.history["loss"], [ours.evaluate(x, y, verbose=0)], rtol=1e-6)
    assert ours.trainable_weights == [] and len(ours.non_trainable_weights) == 6
    assert all(not layer.trainable for layer in ours.layers)  # setting the model's flag sets its layers'


def test_change_takes_effect_at_the_next_compile():
    x, y = data()
    model = Sequential([Input(shape=(6,)), layers.Dense(4), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.layers[0].trainable = False
    kernel = model.layers[0].get_weights()[0]
    with pytest.warns(UserWarning, match=r"trainable.*recompile.*\['dense"):
        model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(kernel, model.layers[0].get_weights()[0])  # still trains: compiled trainable
    model.compile(optimizer="sgd", loss="mse")
    kernel = model.layers[0].get_weights()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, epochs=1, verbose=0)
    assert np.array_equal(kernel, model.layers[0].get_weights()[0])


def test_summary_splits_trainable_and_frozen_as_keras(keras):
    def make(ns):
        return [ns.Dense(8), ns.BatchNormalization(), ns.Dense(2)]

    ours, theirs = pair(keras, make, [0], {"class_name": "Adam", "config": {}})
    x, y = data()
    ours.fit(x, y, epochs=1, verbose=0)
    theirs.fit(x, y, epochs=1, verbose=0)

    def counts(model):
        lines = []
        model.summary(print_fn=lambda text, **kwargs: lines.append(text))
        text = "\n".join(lines)
        return [line.strip() for line in text.splitlines() if "params:" in line]

    assert counts(ours) == counts(theirs)
    assert counts(ours)[1].startswith("Trainable params: 34 ")  # BatchNormalization's 16 and the last Dense's 18


def test_trainable_argument_and_config():
    layer = layers.Dense(3, trainable=False)
    assert layer.trainable is False and layer.get_config()["trainable"] is False
    assert layers.Dense.from_config(layer.get_config()).trainable is False
    with pytest.raises(ValueError, match="Dense 'dense.*': trainable: expected True or False, got 'no'"):
        layers.Dense(3, trainable="no")
    model = Sequential([Input(shape=(6,)), layer, layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    restored = densenn.models.model_from_json(model.to_json())
    assert [lay.trainable for lay in restored.layers] == [False, True]


def test_frozen_model_round_trips_through_a_file(tmp_path):
    x, y = data()
    model = Sequential([Input(shape=(6,)), layers.Dense(4, trainable=False), layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.dnn")
    loaded = densenn.models.load_model(tmp_path / "m.dnn")
    assert [lay.trainable for lay in loaded.layers] == [False, True]
    kernel = loaded.layers[0].get_weights()[0]
    loaded.fit(x, y, epochs=1, verbose=0)
    assert np.array_equal(kernel, loaded.layers[0].get_weights()[0])


def test_gradients_of_frozen_layers_are_zero():
    x, y = data()
    model = Sequential([Input(shape=(6,)), layers.Dense(4, activation="tanh"), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    _, trained = model._core.compute_gradients(x, y)
    model.layers[0].trainable = False
    model.compile(optimizer="sgd", loss="mse")
    _, grads = model._core.compute_gradients(x, y)
    assert not grads[:28].any()  # the first layer's kernel (6 x 4) and bias (4)
    np.testing.assert_array_equal(grads[28:], trained[28:])
