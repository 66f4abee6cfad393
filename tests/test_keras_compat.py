"""Keras notebooks run unchanged: 1-D inputs of one-feature models, Keras 3 '.weights.h5' files, densenn.backend,
layers called on arrays, the model's weights/get_layer/activation surface, functional chains and the Keras layer
names densenn does not train. Compared with real Keras 3 (the `keras` fixture) where it is installed, else with
NumPy."""
import re

import numpy as np
import pytest

import densenn
from densenn import Input, Model, Sequential, callbacks, layers
from densenn import backend as K

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

rng = np.random.default_rng(3)
X = rng.normal(size=(24, 4)).astype(np.float32)
Y = (X @ np.array([0.5, -1.0, 2.0, 0.3], dtype=np.float32) + 0.1)[:, None]


def assert_close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def dense_numpy(x, kernel, bias, activation=lambda v: v):
    return activation(x @ kernel + bias)


def relu(v):
    return np.maximum(v, 0)


# ----------------------------------------------------------------------------------------------- 1-D inputs
def test_one_feature_model_takes_a_1d_array_as_keras_does(keras):
    x = np.arange(5.0)
    y = 2 * x + 1
    ours = Sequential([Input(shape=(1,)), layers.Dense(1)])
    theirs = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])
    theirs.set_weights(ours.get_weights())
    assert ours.predict(x, verbose=0).shape == (5, 1)
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    assert_close(ours(x), theirs.predict(x, verbose=0))
    for model in (ours, theirs):
        model.compile(optimizer=(densenn if model is ours else keras).optimizers.SGD(learning_rate=0.01), loss="mse")
    h_ours = ours.fit(x, y, epochs=3, batch_size=5, shuffle=False, verbose=0, validation_data=(x[:3], y[:3]))
    h_theirs = theirs.fit(x, y, epochs=3, batch_size=5, shuffle=False, verbose=0, validation_data=(x[:3], y[:3]))
    for key in ("loss", "val_loss"):
        assert_close(h_ours.history[key], h_theirs.history[key])
    assert_close(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0))


def test_an_extra_last_axis_of_size_one_is_dropped_and_other_ranks_refused():
    model = Sequential([Input(shape=(4,)), layers.Dense(2)])
    assert_close(model.predict(X[:, :, None], verbose=0), model.predict(X, verbose=0))
    with pytest.raises(ValueError, match=r"^x: expected a 2-D array of shape \(n, 4\), got shape \(4,\)$"):
        model.predict(X[0], verbose=0)


# ----------------------------------------------------------------------------------------------- .weights.h5
def trained_pair(keras):
    """The same small network (Dense, BatchNormalization, Dropout, Dense) in densenn and Keras, densenn's
    weights trained so that no weight keeps its initial value."""
    ours = Sequential([Input(shape=(4,)), layers.Dense(6, activation="tanh"), layers.BatchNormalization(),
                       layers.Dropout(0.2), layers.Dense(1)])
    ours.compile(optimizer="adam", loss="mse")
    ours.fit(X, Y, epochs=3, batch_size=8, verbose=0)
    theirs = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(6, activation="tanh"),
                               keras.layers.BatchNormalization(), keras.layers.Dropout(0.2), keras.layers.Dense(1)])
    return ours, theirs


def test_weights_h5_written_by_densenn_load_in_keras(keras, tmp_path):
    ours, theirs = trained_pair(keras)
    path = str(tmp_path / "m.weights.h5")
    ours.save_weights(path)
    theirs.load_weights(path)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(a, b)
    assert_close(ours.predict(X, verbose=0), theirs.predict(X, verbose=0))


def test_weights_h5_written_by_keras_load_in_densenn(keras, tmp_path):
    ours, theirs = trained_pair(keras)
    theirs.compile(optimizer="adam", loss="mse")
    theirs.fit(X, Y, epochs=2, batch_size=8, verbose=0)  # the file then holds Adam's state too, which is skipped
    path = str(tmp_path / "k.weights.h5")
    theirs.save_weights(path)
    ours.load_weights(path)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(a, b)
    assert_close(ours.predict(X, verbose=0), theirs.predict(X, verbose=0))
    theirs.save(str(tmp_path / "k.keras"))  # Keras 3's load_weights reads .keras files too
    fresh = Sequential([Input(shape=(4,)), layers.Dense(6, activation="tanh"), layers.BatchNormalization(),
                        layers.Dropout(0.2), layers.Dense(1)])
    fresh.load_weights(str(tmp_path / "k.keras"))
    assert_close(fresh.predict(X, verbose=0), theirs.predict(X, verbose=0))


def test_model_checkpoint_writes_weights_h5(keras, tmp_path):
    ours, theirs = trained_pair(keras)
    path = str(tmp_path / "ckpt-{epoch:02d}.weights.h5")
    ours.fit(X, Y, epochs=2, batch_size=8, verbose=0,
             callbacks=[callbacks.ModelCheckpoint(path, monitor="loss", save_weights_only=True)])
    theirs.load_weights(str(tmp_path / "ckpt-02.weights.h5"))
    assert_close(ours.predict(X, verbose=0), theirs.predict(X, verbose=0))


def test_weights_h5_round_trip_and_suffixes(tmp_path):
    model = Sequential([Input(shape=(4,)), layers.Dense(3, activation="relu"), layers.Dense(1)])
    model.save_weights(tmp_path / "w.weights.h5")
    other = Sequential([Input(shape=(4,)), layers.Dense(3, activation="relu"), layers.Dense(1)])
    other.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"must end in '\.dnn' .* or '\.weights\.h5' .*got '.*w\.h5'"):
        model.save_weights(tmp_path / "w.h5")
    with pytest.raises(ValueError, match=r"must end in '\.dnn' or '\.weights\.h5'"):
        callbacks.ModelCheckpoint(str(tmp_path / "w.keras"), save_weights_only=True)
    wider = Sequential([Input(shape=(4,)), layers.Dense(5, activation="relu"), layers.Dense(1)])
    with pytest.raises(ValueError, match=r"layers/dense/vars/0 has shape \(4, 3\), .* expects shape \(4, 5\)"):
        wider.load_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="Maxout.*cannot be saved in Keras format"):
        Sequential([Input(shape=(4,)), layers.Maxout(2)]).save_weights(tmp_path / "maxout.weights.h5")


# ----------------------------------------------------------------------------------------------- backend
def test_backend_settings_are_densenn_config():
    assert K.backend() == "densenn" == densenn.config.backend()
    assert K.floatx() == "float32"
    K.set_floatx("float64")
    try:
        assert densenn.config.floatx() == "float64"
        assert Sequential([Input(shape=(2,)), layers.Dense(1)]).predict(np.ones((1, 2)), verbose=0).dtype \
            == np.float64
    finally:
        K.set_floatx("float32")
    with pytest.raises(ValueError, match="set_floatx: expected 'float32' or 'float64', got 'float16'"):
        K.set_floatx("float16")
    assert K.epsilon() == 1e-7
    with pytest.warns(UserWarning, match="keep clipping with 1e-7"):
        K.set_epsilon(1e-4)
    try:
        assert K.epsilon() == densenn.config.epsilon() == 1e-4
    finally:
        K.set_epsilon(1e-7)
    with pytest.raises(ValueError, match=r"set_epsilon: expected a finite number > 0, got -1"):
        K.set_epsilon(-1)
    assert K.image_data_format() == "channels_last"
    K.set_image_data_format("channels_first")
    try:
        assert densenn.config.image_data_format() == "channels_first"
    finally:
        K.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="must be one of .*Received: data_format=nchw"):
        K.set_image_data_format("NCHW")
    assert K.is_keras_tensor(Input(shape=(3,))) and not K.is_keras_tensor(np.ones(3))


def test_clear_session_restarts_names_as_keras(keras):
    def names(lib):
        lib.backend.clear_session()
        first = [lib.layers.Dense(1).name, lib.layers.Dense(1).name, lib.layers.BatchNormalization().name]
        lib.backend.clear_session()
        return first + [lib.layers.Dense(1).name, lib.Sequential().name]

    assert names(densenn) == names(keras) == ["dense", "dense_1", "batch_normalization", "dense", "sequential"]


# ----------------------------------------------------------------------------------------------- layer calls
def test_dense_called_on_an_array_builds_its_weights_and_keeps_them_in_a_model():
    dense = layers.Dense(2, activation="relu")
    out = dense(X[:3])
    assert isinstance(out, np.ndarray) and out.shape == (3, 2) and out.dtype == np.float32
    kernel, bias = dense.get_weights()
    assert kernel.shape == (4, 2) and dense.built
    assert_close(out, dense_numpy(X[:3], kernel, bias, relu))
    model = Sequential([Input(shape=(4,)), dense, layers.Dense(1)])
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], kernel)
    assert_close(model.predict(X[:3], verbose=0), dense_numpy(out, *model.layers[1].get_weights()))
    with pytest.raises(ValueError, match=r"Input of layer .* built for inputs of shape \(None, 4\), got \(None, 3\)"):
        dense(np.ones((1, 3)))
    called = layers.Dense(2)
    called(np.ones((1, 4)))
    other = Sequential([Input(shape=(3,))])
    with pytest.raises(ValueError, match=r"its weights have shapes \[\(4, 2\), \(2,\)\].*needs \[\(3, 2\), \(2,\)\]"):
        other.add(called)
    assert other.layers == [] and called.get_weights()[0].shape == (4, 2)  # both as they were
    x = Input(shape=(4,))
    assert_close(Model(x, called(x)).predict(X, verbose=0), dense_numpy(X, *called.get_weights()))


def test_layer_calls_match_keras(keras):
    x = rng.normal(size=(5, 3)).astype(np.float32)
    ours, theirs = layers.Dense(4, activation="tanh"), keras.layers.Dense(4, activation="tanh")
    ours(x)
    theirs(x)
    theirs.set_weights(ours.get_weights())
    assert_close(ours(x), theirs(x))
    for make in (lambda lib: lib.layers.Activation("softmax"), lambda lib: lib.layers.Dropout(0.5),
                 lambda lib: lib.layers.BatchNormalization(), lambda lib: lib.layers.LeakyReLU(),
                 lambda lib: lib.layers.Flatten()):
        assert_close(make(densenn)(x), make(keras)(x))
    assert_close(layers.Flatten()(np.ones((2, 3, 4))), np.ones((2, 12)))


def test_a_layer_of_a_trained_model_called_on_an_array_uses_its_weights():
    model = Sequential([Input(shape=(4,)), layers.Dense(5, activation="relu"), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, Y, epochs=2, verbose=0)
    assert_close(model.layers[0](X), dense_numpy(X, *model.layers[0].get_weights(), relu))
    assert_close(model.layers[1](model.layers[0](X)), model.predict(X, verbose=0))
    with pytest.raises(ValueError, match=r"expected a batch of shape \(batch, features\), got an array of shape \(4,\)"):
        model.layers[0](X[0])
    with pytest.raises(ValueError, match="inference mode, got training=True"):
        layers.Dropout(0.5)(X, training=True)


# ----------------------------------------------------------------------------------------------- model surface
def test_weights_lists_match_keras(keras):
    ours = Sequential([Input(shape=(4,)), layers.Dense(3), layers.BatchNormalization(), layers.Dense(1)])
    theirs = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3), keras.layers.BatchNormalization(),
                               keras.layers.Dense(1)])
    for attribute in ("weights", "trainable_weights", "non_trainable_weights"):
        mine, keras_list = getattr(ours, attribute), getattr(theirs, attribute)
        assert [(w.name, w.shape) for w in mine] == [(w.name, tuple(w.shape)) for w in keras_list], attribute
    assert [w.path for w in ours.weights][:2] == [ours.layers[0].name + "/kernel", ours.layers[0].name + "/bias"]
    ours.compile(optimizer="adam", loss="mse")
    ours.fit(X, Y, epochs=1, verbose=0)
    for variable, array in zip(ours.weights, ours.get_weights()):
        np.testing.assert_array_equal(variable.numpy(), array)
        np.testing.assert_array_equal(np.asarray(variable), array)
        assert variable.dtype == "float32"
    ours.weights[0].assign(np.zeros((4, 3)))
    np.testing.assert_array_equal(ours.get_weights()[0], np.zeros((4, 3)))
    assert len(ours.layers[1].trainable_weights) == 2 and len(ours.layers[1].non_trainable_weights) == 2


def test_get_layer_as_keras(keras):
    ours = Sequential([Input(shape=(4,)), layers.Dense(3, name="hidden"), layers.Dense(1, name="out")])
    theirs = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3, name="hidden"),
                               keras.layers.Dense(1, name="out")])
    assert ours.get_layer("out") is ours.layers[1] and ours.get_layer(index=0) is ours.layers[0]
    for call in (lambda m: m.get_layer("nope"), lambda m: m.get_layer(), lambda m: m.get_layer(index=5),
                 lambda m: m.get_layer("out", 1)):
        with pytest.raises(ValueError) as expected:
            call(theirs)
        with pytest.raises(ValueError, match="^" + re.escape(str(expected.value)) + "$"):
            call(ours)


def test_activation_is_a_function_with_keras_name(keras):
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    for name in densenn._core.activation_names():
        layer = layers.Dense(2, activation=name)
        assert layer.activation == name and layer.get_config()["activation"] == name
        assert type(layer.get_config()["activation"]) is str
        if name == "binary_step":  # densenn's own
            np.testing.assert_array_equal(layer.activation(x), (x >= 0).astype(np.float32))
            continue
        assert layer.activation.__name__ == keras.layers.Dense(2, activation=name).activation.__name__
        np.testing.assert_allclose(layer.activation(x), keras.activations.get(name)(x), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    assert layers.Dense(1).activation.__name__ == "linear"
    assert_close(layers.Activation("softmax").activation(np.array([1.0, 2.0, 3.0])),
                 np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum())


# ----------------------------------------------------------------------------------------------- functional chains
def functional_pair(keras):
    """The same chain in densenn and Keras, with the same names and initial weights."""
    def build(lib):
        x = lib.Input(shape=(4,), name="features")
        h = lib.layers.Dense(8, activation="relu", name="hidden")(x)
        out = lib.layers.Dense(1, name="out")(h)
        return lib.Model(inputs=x, outputs=out, name="chain")

    ours, theirs = build(densenn), build(keras)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def test_functional_chain_trains_as_keras(keras):
    ours, theirs = functional_pair(keras)
    for model, lib in ((ours, densenn), (theirs, keras)):
        model.compile(optimizer=lib.optimizers.SGD(learning_rate=0.05), loss="mse", metrics=["mae"])
    h_ours = ours.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0, validation_split=0.25)
    h_theirs = theirs.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0, validation_split=0.25)
    for key in h_theirs.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4, atol=1e-6, err_msg=key)
    assert_close(ours.predict(X, verbose=0), theirs.predict(X, verbose=0))
    np.testing.assert_allclose(ours.evaluate(X, Y, verbose=0), theirs.evaluate(X, Y, verbose=0), rtol=1e-5)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert type(ours.layers[0]).__name__ == "InputLayer" and ours.input_shape == (None, 4)
    assert ours.output_shape == theirs.output_shape == (None, 1)


def test_functional_summary_is_keras(keras):
    ours, theirs = functional_pair(keras)
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="mse")
        model.fit(X, Y, epochs=1, verbose=0)
    for width in (60, 76):  # (Keras crops wider tables to the terminal, 80 columns when piped)
        texts = []
        for model in (ours, theirs):
            lines = []
            model.summary(line_length=width, print_fn=lambda text, **kwargs: lines.append(text))
            texts.append("\n".join(lines).rstrip("\n"))
        assert texts[0] == texts[1]


def test_outputs_at_every_layer_match_keras(keras):
    ours, theirs = functional_pair(keras)
    features = Model(inputs=ours.inputs, outputs=[layer.output for layer in ours.layers[1:]])
    keras_features = keras.Model(inputs=theirs.inputs, outputs=[layer.output for layer in theirs.layers[1:]])
    got, expected = features.predict(X, verbose=0), keras_features.predict(X, verbose=0)
    assert isinstance(got, list) and [g.shape for g in got] == [(24, 8), (24, 1)]
    for a, b in zip(got, expected):
        assert_close(a, b)
    assert features.output_shape == keras_features.output_shape == [(None, 8), (None, 1)]
    first, second = features(X[:2])
    assert_close(second, ours.predict(X[:2], verbose=0))
    with pytest.raises(ValueError, match="densenn trains models with one output, this one has 2"):
        features.compile(optimizer="adam", loss="mse")


def test_outputs_of_a_sequential_follow_its_training():
    model = Sequential([Input(shape=(4,)), layers.Dense(6, activation="relu"), layers.Dropout(0.3),
                        layers.Dense(1)])
    features = densenn.models.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, Y, epochs=3, batch_size=8, verbose=0)
    hidden, dropped, out = features.predict(X, verbose=0)
    kernel, bias = model.layers[0].get_weights()
    assert_close(hidden, dense_numpy(X, kernel, bias, relu))
    np.testing.assert_array_equal(dropped, hidden)  # dropout does nothing in inference
    assert_close(out, model.predict(X, verbose=0))
    extractor = Model(model.input, model.layers[0].output)
    assert_close(extractor.predict(X, verbose=0), hidden)
    for got, array in zip(extractor.get_weights(), model.get_weights()[:2]):
        np.testing.assert_array_equal(got, array)
    assert model.layers[0].input is model.inputs[0] and model.layers[-1].output is model.outputs[0]
    with pytest.raises(ValueError, match=r"hold their weights in model\(s\) \['sequential.*'\]"):
        extractor.compile(optimizer="adam", loss="mse")
    extractor.set_weights([np.ones((4, 6)), np.zeros(6)])  # written where the weights live
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], np.ones((4, 6)))


def test_decoder_from_a_trained_autoencoders_last_layer():
    x = Input(shape=(4,))
    code = layers.Dense(2, activation="relu")(x)
    autoencoder = Model(x, layers.Dense(4)(code))
    autoencoder.compile(optimizer="adam", loss="mse")
    encoder = Model(x, code)
    code_input = Input(shape=(2,))
    decoder = Model(code_input, autoencoder.layers[-1](code_input))
    autoencoder.fit(X, X, epochs=3, batch_size=8, verbose=0)
    assert_close(decoder.predict(encoder.predict(X, verbose=0), verbose=0), autoencoder.predict(X, verbose=0))


def test_a_chain_saves_as_the_sequential_of_its_layers(keras, tmp_path):
    ours, _ = functional_pair(keras)
    ours.save(str(tmp_path / "chain.keras"))
    restored = keras.models.load_model(str(tmp_path / "chain.keras"))
    assert_close(restored.predict(X, verbose=0), ours.predict(X, verbose=0))
    ours.save_weights(str(tmp_path / "chain.weights.h5"))
    _, theirs = functional_pair(keras)
    theirs.load_weights(str(tmp_path / "chain.weights.h5"))
    assert_close(theirs.predict(X, verbose=0), ours.predict(X, verbose=0))


def test_graphs_that_are_not_chains_are_refused():
    x, other = Input(shape=(4,)), Input(shape=(4,))
    h = layers.Dense(3)(x)
    with pytest.raises(ValueError, match="output 1 branches off at layer 'b'.*densenn runs chains of layers"):
        Model(x, [layers.Dense(2, name="a")(h), layers.Dense(2, name="b")(h)])
    with pytest.raises(ValueError, match="got 2 inputs; densenn runs chains of layers: one Input()"):
        Model([x, other], h)
    with pytest.raises(ValueError, match="output 0 .* comes from input .*, not from the model's input"):
        Model(other, h)
    with pytest.raises(ValueError, match="expected one input tensor, got 2.*no merge layers"):
        layers.Dense(2)([x, other])
    with pytest.raises(NotImplementedError, match="Concatenate is a merging layer"):
        layers.Concatenate()
    with pytest.raises(ValueError, match="pass inputs= and outputs="):
        Model()
    with pytest.raises(ValueError, match=r"add a Flatten layer before it"):
        layers.Dense(2)(Input(shape=(2, 3)))
    with pytest.raises(ValueError, match="nests it in another model"):
        Sequential([Input(shape=(4,)), layers.Dense(1)])(x)
    with pytest.raises(AttributeError, match="has never been called and thus has no defined output"):
        layers.Dense(2).output
    assert densenn.Model is densenn.models.Model


# ----------------------------------------------------------------------------------------------- other Keras layers
def test_keras_layer_names_import_and_say_what_densenn_trains():
    from densenn.layers import LSTM, Conv2D, Convolution2D, Embedding, MaxPooling2D  # noqa: F401
    for cls, kind in ((Conv2D, "convolution"), (MaxPooling2D, "pooling"), (LSTM, "recurrent"),
                      (Embedding, "embedding")):
        with pytest.raises(NotImplementedError, match=rf"^{cls.__name__} is a {kind} layer: densenn trains dense "
                                                      r"networks, whose layers are Dense, Activation, .*Maxout"):
            cls(32)
    assert issubclass(Convolution2D, layers.Layer)


@pytest.mark.parametrize("name, y_true, y_pred", [
    ("binary_accuracy", [[1], [0], [1], [0]], [[0.9], [0.8], [0.2], [0.1]]),
    ("categorical_accuracy", np.eye(3), [[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.1, 0.2, 0.7]]),
    ("sparse_categorical_accuracy", [[0], [2], [1]], [[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.1, 0.7, 0.2]]),
    ("top_k_categorical_accuracy", np.eye(3)[[2, 0, 1]], [[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]]),
    ("mean_squared_error", [[1.0, 2.0], [0.5, -1.0]], [[0.0, 0.0], [0.5, 1.0]]),
    ("mean_absolute_error", [[1.0, 2.0], [0.5, -1.0]], [[0.0, 0.0], [0.5, 1.0]]),
])
def test_metric_functions_give_keras_per_sample_values(keras, name, y_true, y_pred):
    y_true, y_pred = np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)
    ours = getattr(densenn.metrics, name)(y_true, y_pred)
    theirs = np.asarray(getattr(keras.metrics, name)(y_true, y_pred))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_metric_functions_in_compile_log_as_keras(keras):
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    ours = densenn.Sequential([densenn.Input(shape=(3,)), densenn.layers.Dense(1, activation="sigmoid")])
    theirs = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1, activation="sigmoid")])
    theirs.set_weights(ours.get_weights())
    for model, m in ((ours, densenn.metrics), (theirs, keras.metrics)):
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[m.binary_accuracy, m.mean_squared_error])
    a = ours.evaluate(x, y, verbose=0, return_dict=True)
    b = theirs.evaluate(x, y, verbose=0, return_dict=True)
    assert set(a) == set(b) == {"loss", "binary_accuracy", "mean_squared_error"}
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-5), key


def test_legacy_optimizers_explain_as_keras_3():
    for name in ("Adam", "SGD", "RMSprop", "Adagrad"):
        with pytest.raises(ImportError, match=rf"not supported in Keras 3.*densenn\.optimizers\.{name}"):
            getattr(densenn.optimizers.legacy, name)(learning_rate=0.1)
    from densenn.optimizers.legacy import Adam  # noqa: F401  (the import itself works, as in Keras 3)
