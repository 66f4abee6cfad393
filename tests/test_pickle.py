"""pickle and copy.deepcopy of models, through densenn's own model format (saving.native.model_to_bytes): the
copy has the same weights, compile configuration and optimizer state, and training goes on in it exactly as in
the original; the pickle holds bytes only (no pickled Python objects that loading would run)."""
import copy
import pickle
import pickletools
import tempfile

import numpy as np
import pytest

from densenn import Input, Model, Sequential, layers, optimizers, utils
from densenn.saving import ModelFileError
from densenn.saving.native import model_from_bytes, model_to_bytes
from support import using_floatx


def _data(n=80, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.rand(n, 5).astype("float32")
    return x, utils.to_categorical((x[:, 0] + x[:, 1] > 1).astype(int) + (x[:, 2] > 0.7), 3)


def _trained(epochs=2):
    """A model with every kind of state: moving statistics, dropout (the generator), Adam's moments, and metrics."""
    utils.set_random_seed(7)
    model = Sequential([Input(shape=(5,)), layers.Dense(16, activation="relu"), layers.BatchNormalization(),
                        layers.Dropout(0.3), layers.Dense(3, activation="softmax")], name="pickled")
    model.compile(optimizer=optimizers.Adam(learning_rate=3e-3, clipnorm=1.0), loss="categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["mae"])
    x, y = _data()
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    return model


def _same_state(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(a._core.optimizer_state, b._core.optimizer_state)
    assert a.optimizer.iterations == b.optimizer.iterations


def test_trained_model_round_trip_resumes_training_exactly():
    model = _trained()
    copy_ = pickle.loads(pickle.dumps(model))
    x, y = _data(seed=1)
    assert type(copy_) is Sequential and copy_.name == "pickled" and copy_ is not model
    assert copy_.get_config() == model.get_config()
    np.testing.assert_array_equal(copy_.predict(x, verbose=0), model.predict(x, verbose=0))
    _same_state(model, copy_)
    assert copy_.optimizer.iterations == 10  # 2 epochs of 5 batches
    assert copy_.optimizer.get_config() == model.optimizer.get_config()
    assert copy_.loss.get_config() == model.loss.get_config()
    assert copy_.metrics_names == model.metrics_names == ["loss", "accuracy", "mae"]
    assert copy_.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    # One more epoch on each (shuffled, with dropout): the same batches, masks and Adam steps.
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0).history
    assert copy_.fit(x, y, epochs=1, batch_size=16, verbose=0).history == history
    _same_state(model, copy_)
    assert not np.array_equal(model.get_weights()[0], _trained().get_weights()[0])  # it did train


def test_float64_model_keeps_its_float_type():
    with using_floatx("float64"):
        model = Sequential([Input(shape=(3,)), layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse")
    copy_ = pickle.loads(pickle.dumps(model))  # unpickled where floatx is float32
    assert copy_.get_weights()[0].dtype == np.float64
    np.testing.assert_array_equal(copy_.get_weights()[0], model.get_weights()[0])


def test_unbuilt_model_round_trips_its_config_and_compile_configuration():
    model = Sequential([layers.Dense(4, activation="tanh", name="hidden"), layers.Dense(1, name="out")], name="lazy")
    model.compile(optimizer=optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="huber", metrics=["mse"])
    data = model_to_bytes(model)
    assert data.startswith(b"{")  # its description alone: an unbuilt model has no weights
    copy_ = pickle.loads(pickle.dumps(model))
    assert not copy_.built and copy_.compiled and copy_.name == "lazy"
    assert copy_.get_config() == model.get_config()
    assert copy_.optimizer.get_config() == model.optimizer.get_config()
    assert type(copy_.loss).__name__ == "Huber"
    # Built from the same seed, both train to the same weights.
    x, y = np.random.RandomState(0).rand(20, 3), np.random.RandomState(1).rand(20, 1)
    for m in (model, copy_):
        utils.set_random_seed(3)
        m.fit(x, y, epochs=2, verbose=0)
    _same_state(model, copy_)
    assert copy_.metrics_names == ["loss", "mse"]


def test_uncompiled_models_round_trip():
    built = Sequential([Input(shape=(3,)), layers.Dense(2)])
    copy_ = pickle.loads(pickle.dumps(built))
    assert copy_.built and not copy_.compiled
    np.testing.assert_array_equal(copy_.get_weights()[0], built.get_weights()[0])
    empty = pickle.loads(pickle.dumps(Sequential(name="empty")))
    assert empty.layers == [] and empty.name == "empty" and not empty.built


def test_deepcopy_is_an_independent_model():
    model = _trained(epochs=1)
    before = [w.copy() for w in model.get_weights()]
    twin = copy.deepcopy(model)
    _same_state(model, twin)
    x, y = _data(seed=2)
    twin.fit(x, y, epochs=1, verbose=0)  # training the copy leaves the original alone
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)
    assert not np.array_equal(twin.get_weights()[0], before[0])
    assert copy.copy(model).get_config() == model.get_config()


def test_functional_model_stays_functional():
    utils.set_random_seed(2)
    inputs = Input(shape=(5,))
    outputs = layers.Dense(3, activation="softmax")(layers.Dense(8, activation="relu")(inputs))
    model = Model(inputs, outputs, name="chain")
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    copy_ = pickle.loads(pickle.dumps(model))
    assert type(copy_) is Model and copy_.name == "chain"
    assert [type(layer).__name__ for layer in copy_.layers] == ["InputLayer", "Dense", "Dense"]
    np.testing.assert_array_equal(copy_.predict(x, verbose=0), model.predict(x, verbose=0))
    model.fit(x, y, epochs=1, verbose=0)
    copy_.fit(x, y, epochs=1, verbose=0)
    _same_state(model, copy_)


def test_functional_model_with_two_outputs_is_refused():
    inputs = Input(shape=(4,))
    hidden = layers.Dense(3)(inputs)
    model = Model(inputs, [hidden, layers.Dense(1)(hidden)])
    with pytest.raises(ValueError, match="pickle: .* has one output; this model has 2"):
        pickle.dumps(model)


def test_pickle_holds_bytes_and_one_loader_only():
    """Unpickling calls model_from_bytes on bytes and nothing else: no pickled layer, optimizer or array."""
    for model in (_trained(epochs=1), Sequential([layers.Dense(2)])):
        globals_ = [arg for op, arg, _ in pickletools.genops(pickle.dumps(model, protocol=3))
                    if op.name in ("GLOBAL", "STACK_GLOBAL")]
        assert globals_ == ["densenn.saving.native model_from_bytes"]
        ops = {op.name for op, _, _ in pickletools.genops(pickle.dumps(model))}
        assert "STACK_GLOBAL" in ops and not ops & {"BUILD", "NEWOBJ", "NEWOBJ_EX", "OBJ", "INST"}


def test_no_temporary_file_stays_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    model = _trained(epochs=1)
    pickle.loads(pickle.dumps(model))
    assert list(tmp_path.iterdir()) == []


def test_damaged_bytes_are_refused_clearly():
    data = bytearray(model_to_bytes(_trained(epochs=1)))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ModelFileError, match="the pickled densenn model"):
        model_from_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="the pickled densenn model"):
        model_from_bytes(data[:100])
    with pytest.raises(ModelFileError, match="not densenn's"):
        model_from_bytes(b'{"format": "other"}')
    with pytest.raises(ValueError, match="the pickled densenn model: its JSON description is not valid"):
        model_from_bytes(b"{" * 1000)
    with pytest.raises(TypeError, match="expected bytes, got str"):
        model_from_bytes("{}")
