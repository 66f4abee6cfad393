"""fit's Keras options (class_weight, validation_freq, validation_batch_size), the single-batch methods,
and the architecture round trip (get_config / from_config / to_json), each against an independent
computation or Keras' documented behaviour."""
import json

import numpy as np
import pytest

import densenn
from densenn import Input, Sequential, initializers, layers, models, optimizers, regularizers

rng = np.random.default_rng(5)
X = rng.normal(size=(48, 4)).astype(np.float32)
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.float32)


def binary_model(seed=3):
    densenn.utils.set_random_seed(seed)
    model = Sequential([Input(shape=(4,)), layers.Dense(6, activation="tanh"), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_class_weight_equals_the_matching_sample_weights():
    weights = {0: 0.5, 1: 3.0}
    a, b = binary_model(), binary_model()
    a.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0, class_weight=weights)
    b.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0, sample_weight=np.where(Y == 1, 3.0, 0.5))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_class_weight_with_one_hot_labels_uses_the_argmax():
    densenn.utils.set_random_seed(1)
    model = Sequential([Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    labels = rng.integers(0, 3, size=len(X))
    onehot = densenn.utils.to_categorical(labels, 3)
    weights = {0: 1.0, 1: 0.0, 2: 2.0}
    loss = model.evaluate(X, onehot, verbose=0, sample_weight=np.array([weights[c] for c in labels]))
    start = model.get_weights()
    model.train_on_batch(X, onehot, class_weight=weights)
    moved = model.get_weights()
    model.set_weights(start)
    model.train_on_batch(X, onehot, sample_weight=np.array([weights[c] for c in labels]))
    for a, b in zip(moved, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loss > 0


def test_class_weight_and_sample_weight_together_are_refused():
    with pytest.raises(ValueError, match="class_weight.*sample_weight"):
        binary_model().fit(X, Y, verbose=0, class_weight={0: 1.0}, sample_weight=np.ones(len(X)))


@pytest.mark.parametrize("bad", [[0.5, 1.0], {"a": 1.0}, {0: -1.0}, {0: float("nan")}])
def test_bad_class_weight(bad):
    model = binary_model()
    before = model.get_weights()
    with pytest.raises(ValueError, match="class_weight"):
        model.fit(X, Y, verbose=0, class_weight=bad)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("freq, validated", [(1, [1, 2, 3, 4, 5]), (2, [2, 4]), ([1, 5], [1, 5]), (3, [3])])
def test_validation_freq_chooses_the_validated_epochs(freq, validated):
    seen = []

    class Record(densenn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if "val_loss" in logs:
                seen.append(epoch + 1)

    history = binary_model().fit(X, Y, epochs=5, verbose=0, validation_data=(X[:8], Y[:8]),
                                 validation_freq=freq, callbacks=[Record()])
    assert seen == validated
    assert len(history.history["val_loss"]) == len(validated)
    assert len(history.history["loss"]) == 5


@pytest.mark.parametrize("bad", [0, -1, 2.5, "2", [1.5]])
def test_bad_validation_freq(bad):
    with pytest.raises(ValueError, match="validation_freq"):
        binary_model().fit(X, Y, verbose=0, validation_data=(X, Y), validation_freq=bad)


def test_validation_batch_size_changes_only_how_validation_is_batched():
    a, b = binary_model(), binary_model()
    ha = a.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0, validation_data=(X, Y))
    hb = b.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0, validation_data=(X, Y),
               validation_batch_size=5)
    assert ha.history["loss"] == hb.history["loss"]
    np.testing.assert_allclose(ha.history["val_loss"], hb.history["val_loss"], rtol=1e-6)
    # the validation loss is the batch-size-weighted mean, i.e. the loss over all rows
    np.testing.assert_allclose(hb.history["val_loss"][-1], b.evaluate(X, Y, batch_size=len(X), verbose=0)[0],
                               rtol=1e-6)


def test_train_on_batch_is_one_step_on_the_whole_batch():
    a, b = binary_model(), binary_model()
    result = a.train_on_batch(X, Y)
    history = b.fit(X, Y, batch_size=len(X), epochs=1, shuffle=False, verbose=0)
    assert result == [history.history["loss"][0], history.history["accuracy"][0]]
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert a.optimizer.iterations == 1


def test_test_on_batch_does_not_train_and_matches_evaluate():
    model = binary_model()
    before = model.get_weights()
    logs = model.test_on_batch(X, Y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert logs["loss"] == pytest.approx(model.evaluate(X, Y, batch_size=len(X), verbose=0)[0], rel=1e-7)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


def test_single_batch_methods_need_compile():
    model = Sequential([Input(shape=(4,)), layers.Dense(1)])
    with pytest.raises(RuntimeError, match="compile"):
        model.train_on_batch(X, Y)
    with pytest.raises(RuntimeError, match="compile"):
        model.test_on_batch(X, Y)


def full_model():
    return Sequential([
        Input(shape=(4,)),
        layers.Dense(8, activation="relu", kernel_initializer=initializers.HeNormal(seed=4),
                     bias_initializer="ones", kernel_regularizer=regularizers.L2(0.02),
                     activity_regularizer="l1"),
        layers.BatchNormalization(momentum=0.9, epsilon=0.01, center=False),
        layers.Dropout(0.25, seed=7),
        layers.LeakyReLU(negative_slope=0.1),
        layers.ELU(alpha=0.5),
        layers.ReLU(max_value=4.0),
        layers.Maxout(3, pieces=2),
        layers.Dense(2, use_bias=False),
        layers.Softmax(),
    ], name="everything")


def test_config_round_trip_rebuilds_the_same_architecture():
    model = full_model()
    config = model.get_config()
    assert config["layers"][0]["class_name"] == "InputLayer"
    assert config["layers"][0]["config"]["batch_shape"] == [None, 4]
    dense = config["layers"][1]
    assert dense["module"] == "keras.layers" and dense["class_name"] == "Dense"
    assert dense["config"]["kernel_initializer"] == {
        "module": "keras.initializers", "class_name": "HeNormal", "config": {"seed": 4}, "registered_name": None}
    assert dense["config"]["kernel_regularizer"]["config"] == {"l2": 0.02}
    assert dense["config"]["activity_regularizer"]["config"] == {"l1": 0.01}
    clone = Sequential.from_config(config)
    assert clone.get_config() == config
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    assert clone.count_params() == model.count_params()
    # the seeded initializer gives the same kernel in both
    np.testing.assert_array_equal(clone.layers[0].get_weights()[0], model.layers[0].get_weights()[0])
    np.testing.assert_array_equal(clone.layers[0].get_weights()[1], np.ones(8, np.float32))


def test_to_json_and_model_from_json():
    model = full_model()
    text = model.to_json()
    parsed = json.loads(text)
    assert parsed["class_name"] == "Sequential" and parsed["module"] == "keras"
    clone = models.model_from_json(text)
    assert clone.to_json() == text
    assert clone.output_shape == (None, 2)


def test_config_of_an_unbuilt_model_round_trips():
    model = Sequential([layers.Dense(3), layers.Dense(1)])
    config = model.get_config()
    assert "build_input_shape" not in config and len(config["layers"]) == 2
    clone = Sequential.from_config(config)
    assert not clone.built
    clone.build((None, 5))
    assert clone.count_params() == 5 * 3 + 3 + 3 + 1


@pytest.mark.parametrize("bad", ["{not json", json.dumps({"class_name": "Functional", "config": {}}),
                                 json.dumps({"class_name": "Sequential", "config": {"layers": [
                                     {"class_name": "Conv2D", "config": {}}]}})])
def test_model_from_json_refuses_what_it_cannot_build(bad):
    with pytest.raises(ValueError):
        models.model_from_json(bad)
