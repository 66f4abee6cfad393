"""Keras-API behaviour of densenn's Sequential model, as Keras 3 documents and implements it."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from densenn._core import build_runs_here
from densenn import Input, Sequential, callbacks, layers, losses, metrics, models, optimizers, utils
from densenn.layers import Activation, Dense, InputLayer
from support import using_floatx

RNG = np.random.default_rng(1234)
X = RNG.normal(size=(60, 4)).astype(np.float32)
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.float32)  # binary labels (60,)


def binary_model(compile=True, seed=0, **compile_kwargs):
    utils.set_random_seed(seed)
    model = Sequential([Input(shape=(4,)), Dense(10, activation="relu"), Dense(1, activation="sigmoid")])
    if compile:
        kwargs = dict(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        kwargs.update(compile_kwargs)
        model.compile(**kwargs)
    return model


def same_weights(a, b):
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


def assert_history_close(h1, h2, rel=1e-5):
    """Same keys, same lengths, values equal up to float32 rounding.

    Training is repeatable, but not always bit for bit within one process on the AVX2 build (Eigen's
    reductions depend on where the heap puts the work buffers), so tests compare with a tolerance.
    """
    h1 = getattr(h1, "history", h1)
    h2 = getattr(h2, "history", h2)
    assert set(h1) == set(h2)
    for key in h1:
        assert h1[key] == pytest.approx(h2[key], rel=rel, abs=1e-7), key


def close_weights(a, b, rtol=1e-5, atol=1e-6):
    return len(a) == len(b) and all(x.shape == y.shape and np.allclose(x, y, rtol=rtol, atol=atol)
                                    for x, y in zip(a, b))


# ----------------------------------------------------------------------------- structure

def test_list_constructor_and_add_build_the_same_model():
    utils.set_random_seed(5)
    listed = Sequential([Input(shape=(4,)), Dense(10, activation="relu"), Dense(1, activation="sigmoid")])
    utils.set_random_seed(5)
    added = Sequential()
    added.add(Input(shape=(4,)))
    added.add(Dense(10, activation="relu"))
    added.add(Dense(1, activation="sigmoid"))
    for model in (listed, added):
        assert model.built
        assert model.input_shape == (None, 4) and model.output_shape == (None, 1)
        assert [type(layer) for layer in model.layers] == [Dense, Dense]
        assert [layer.units for layer in model.layers] == [10, 1]
        assert [layer.activation for layer in model.layers] == ["relu", "sigmoid"]
    assert same_weights(listed.get_weights(), added.get_weights())
    np.testing.assert_array_equal(listed.predict(X, verbose=0), added.predict(X, verbose=0))


def test_layers_leave_out_the_input_layer():
    model = Sequential([Input(shape=(4,)), Dense(3), Activation("relu"), Dense(2)])
    assert len(model.layers) == 3
    assert not any(isinstance(layer, InputLayer) for layer in model.layers)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Activation", "Dense"]
    # .layers is a copy: changing it leaves the model alone
    model.layers.pop()
    assert len(model.layers) == 3


def test_default_names_follow_keras_pattern():
    a, b = Dense(2), Dense(2)
    act = Activation("relu")
    s1, s2 = Sequential(), Sequential()
    pattern = lambda base: re.compile(rf"^{base}(_\d+)?$")  # noqa: E731
    assert pattern("dense").match(a.name) and pattern("dense").match(b.name)
    assert pattern("activation").match(act.name)
    assert pattern("sequential").match(s1.name) and pattern("sequential").match(s2.name)
    assert a.name != b.name and s1.name != s2.name

    def number(name):
        suffix = re.search(r"_(\d+)$", name)
        return int(suffix.group(1)) if suffix else 0

    assert number(b.name) == number(a.name) + 1
    assert Dense(2, name="my_dense").name == "my_dense"
    assert Sequential(name="net").name == "net"


def test_default_names_in_a_fresh_session():
    script = (
        "from densenn import Sequential, Input\n"
        "from densenn.layers import Dense, Activation\n"
        "m = Sequential([Input(shape=(4,)), Dense(3), Activation('relu'), Dense(2)])\n"
        "m2 = Sequential([Dense(1)])\n"
        "print(m.name, *[l.name for l in m.layers], m2.name, *[l.name for l in m2.layers])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["sequential", "dense", "activation", "dense_1", "sequential_1", "dense_2"]


@pytest.mark.parametrize("kwargs", [{"input_shape": (4,)}, {"input_dim": 4}], ids=["input_shape", "input_dim"])
def test_keras2_input_shape_arguments_work_with_a_warning(kwargs):
    with pytest.warns(UserWarning, match="input_shape"):
        first = Dense(10, activation="relu", **kwargs)
    model = Sequential([first, Dense(1, activation="sigmoid")])
    assert model.built and model.input_shape == (None, 4) and model.output_shape == (None, 1)
    assert [w.shape for w in model.get_weights()] == [(4, 10), (10,), (10, 1), (1,)]
    assert model.count_params() == 61


def test_batch_input_shape_is_accepted():
    model = Sequential()
    model.add(Dense(100, batch_input_shape=(None, 784)))
    model.add(Activation("sigmoid"))
    model.add(Dense(10))
    assert model.built and model.input_shape == (None, 784) and model.output_shape == (None, 10)
    assert model.count_params() == 784 * 100 + 100 + 100 * 10 + 10


def test_unbuilt_model_builds_on_build():
    model = Sequential([Dense(3, activation="relu"), Dense(2)])
    assert not model.built and model.input_shape is None and model.get_weights() == []
    model.build((None, 5))
    assert model.built and model.input_shape == (None, 5) and model.output_shape == (None, 2)
    assert [w.shape for w in model.get_weights()] == [(5, 3), (3,), (3, 2), (2,)]
    assert model.count_params() == 5 * 3 + 3 + 3 * 2 + 2


def test_unbuilt_model_builds_on_first_predict():
    model = Sequential([Dense(3, activation="relu"), Dense(2)])
    out = model.predict(np.ones((7, 6), np.float32), verbose=0)
    assert out.shape == (7, 2) and model.built and model.input_shape == (None, 6)
    assert [w.shape for w in model.get_weights()] == [(6, 3), (3,), (3, 2), (2,)]


def test_unbuilt_model_builds_on_first_fit():
    model = Sequential([Dense(3, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    assert not model.built
    history = model.fit(X, Y, epochs=2, verbose=0)
    assert model.built and model.input_shape == (None, 4)
    assert len(history.history["loss"]) == 2
    assert [w.shape for w in model.get_weights()] == [(4, 3), (3,), (3, 1), (1,)]


def test_unbuilt_summary_shows_question_marks():
    model = Sequential([Dense(3), Dense(2)])
    lines = []
    model.summary(line_length=76, print_fn=lines.append)
    text = "\n".join(lines)
    assert "│ ?  " in text and "0 (unbuilt)" in text and " Total params: 0 (0.00 B)" in text


def test_pop_removes_the_last_layer_and_keeps_the_others():
    model = binary_model()
    first = model.get_weights()[:2]
    popped = model.pop()
    assert isinstance(popped, Dense) and popped.units == 1
    assert len(model.layers) == 1 and model.output_shape == (None, 10)
    assert same_weights(model.get_weights(), first)
    assert model.count_params() == 50
    assert model.predict(X, verbose=0).shape == (60, 10)
    # a new head; the model is still compiled and trains
    model.add(Dense(1, activation="sigmoid"))
    assert model.output_shape == (None, 1) and model.count_params() == 61
    assert same_weights(model.get_weights()[:2], first)
    history = model.fit(X, Y, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    model.pop()
    model.pop()
    assert model.layers == []
    with pytest.raises(ValueError, match="no layers to remove"):
        model.pop()


# ----------------------------------------------------------------------------- weights

def test_get_set_weights_round_trip_and_forward_pass():
    model = binary_model(compile=False)
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(4, 10), (10,), (10, 1), (1,)]
    assert all(w.dtype == np.float32 for w in weights)
    assert np.all(weights[1] == 0) and np.all(weights[3] == 0)  # zero bias, as Keras
    limit = np.sqrt(6 / (4 + 10))  # glorot uniform
    assert np.all(np.abs(weights[0]) <= limit) and weights[0].std() > 0

    rng = np.random.default_rng(7)
    new = [rng.normal(size=w.shape) for w in weights]  # float64 in, stored as float32
    model.set_weights(new)
    back = model.get_weights()
    assert all(b.dtype == np.float32 for b in back)
    assert same_weights(back, [n.astype(np.float32) for n in new])
    # get_weights returns copies
    back[0][:] = 0
    assert not np.all(model.get_weights()[0] == 0)

    kernel1, bias1, kernel2, bias2 = (n.astype(np.float64) for n in new)
    hidden = np.maximum(X @ kernel1 + bias1, 0)
    expected = 1 / (1 + np.exp(-(hidden @ kernel2 + bias2)))
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-4, atol=1e-6)

    # per-layer weights
    layer = model.layers[0]
    assert [w.shape for w in layer.get_weights()] == [(4, 10), (10,)]
    layer.set_weights([np.ones((4, 10)), np.full(10, 0.5)])
    np.testing.assert_array_equal(model.get_weights()[0], np.ones((4, 10), np.float32))
    np.testing.assert_array_equal(model.get_weights()[1], np.full(10, 0.5, np.float32))
    np.testing.assert_array_equal(layer.kernel, np.ones((4, 10), np.float32))


def test_count_params():
    assert binary_model(compile=False).count_params() == 61
    model = Sequential([Input(shape=(784,)), Dense(100), Activation("sigmoid"), Dense(50), Activation("sigmoid"),
                        Dense(10), Activation("softmax")])
    assert model.count_params() == 84060
    assert [layer.count_params() for layer in model.layers] == [78500, 0, 5050, 0, 510, 0]
    assert Sequential([Input(shape=(3,)), Dense(2, use_bias=False)]).count_params() == 6


# ----------------------------------------------------------------------------- compile

@pytest.mark.parametrize("name,cls", [("adam", optimizers.Adam), ("Adam", optimizers.Adam), ("ADAM", optimizers.Adam),
                                      ("sgd", optimizers.SGD), ("SGD", optimizers.SGD), ("Sgd", optimizers.SGD)])
def test_compile_with_optimizer_strings_in_any_case(name, cls):
    model = binary_model(optimizer=name)
    assert type(model.optimizer) is cls
    assert model.optimizer.learning_rate == pytest.approx(0.001 if cls is optimizers.Adam else 0.01)
    model.fit(X, Y, epochs=1, verbose=0)
    assert model.optimizer.iterations == 2  # ceil(60 / 32) steps


def test_compile_with_objects():
    model = binary_model(compile=False)
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    model.compile(optimizer=opt, loss=losses.BinaryCrossentropy(), metrics=[metrics.BinaryAccuracy()])
    assert model.optimizer is opt and isinstance(model.loss, losses.BinaryCrossentropy)
    assert model.metrics_names == ["loss", "binary_accuracy"]
    history = model.fit(X, Y, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "binary_accuracy"}
    assert opt.iterations == 4
    # the same model, compiled with strings, reports the same numbers
    by_string = binary_model(compile=False)
    by_string.set_weights(model.get_weights())
    by_string.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["binary_accuracy"])
    assert by_string.evaluate(X, Y, verbose=0) == pytest.approx(model.evaluate(X, Y, verbose=0))


def test_compile_default_optimizer_is_rmsprop():
    # As Keras: compile() without an optimizer uses RMSprop with its defaults.
    model = binary_model(compile=False)
    model.compile(loss="binary_crossentropy")
    assert isinstance(model.optimizer, optimizers.RMSprop)
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(0.001)
    before = model.get_weights()
    model.fit(X, Y, verbose=0)
    assert model.optimizer.iterations > 0
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_acc_alias_logs_under_its_own_name():
    model = binary_model(metrics=["acc"])
    assert model.metrics_names == ["loss", "acc"]
    assert set(model.fit(X, Y, epochs=1, verbose=0).history) == {"loss", "acc"}


# ----------------------------------------------------------------------------- evaluate / predict

def test_evaluate_returns_float_without_metrics_and_list_with():
    plain = binary_model(metrics=None)
    loss = plain.evaluate(X, Y, verbose=0)
    assert isinstance(loss, float)

    with_acc = binary_model()
    result = with_acc.evaluate(X, Y, verbose=0)
    assert isinstance(result, list) and len(result) == 2 and all(isinstance(v, float) for v in result)
    assert result[0] == pytest.approx(loss)  # same seed, same weights
    assert 0 <= result[1] <= 1

    as_dict = with_acc.evaluate(X, Y, verbose=0, return_dict=True)
    assert as_dict == pytest.approx({"loss": result[0], "accuracy": result[1]})
    assert plain.evaluate(X, Y, verbose=0, return_dict=True) == pytest.approx({"loss": loss})


def test_evaluate_matches_numpy_formulas():
    model = binary_model()
    p = model.predict(X, verbose=0)[:, 0].astype(np.float64)
    p = np.clip(p, 1e-7, 1 - 1e-7)
    bce = -np.mean(Y * np.log(p) + (1 - Y) * np.log(1 - p))
    acc = np.mean((p > 0.5) == (Y > 0.5))
    loss, accuracy = model.evaluate(X, Y, verbose=0)
    assert loss == pytest.approx(bce, rel=1e-4)
    assert accuracy == pytest.approx(acc)
    # batch size does not change the result
    assert model.evaluate(X, Y, batch_size=7, verbose=0) == pytest.approx([loss, accuracy], rel=1e-5)


def test_predict_returns_float32_of_shape_n_out():
    model = binary_model()
    out = model.predict(X, verbose=0)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (60, 1)
    assert np.all((out > 0) & (out < 1))
    # the batch size changes the summation blocking, not the numbers beyond float32 rounding
    np.testing.assert_allclose(model.predict(X, batch_size=7, verbose=0), out, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict(X[:1], verbose=0), out[:1], rtol=1e-6, atol=1e-7)
    wide = Sequential([Input(shape=(4,)), Dense(3, activation="softmax")])
    probs = wide.predict(X, verbose=0)
    assert probs.dtype == np.float32 and probs.shape == (60, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("floatx", ["float32", "float64"])
def test_lean_predict_path_gives_the_full_paths_numbers(floatx):
    # Small batches that need no conversion go straight to the core (models.Sequential._predict_ready); every
    # other input takes the converting, validating path. Both must give the same numbers, batch for batch.
    with using_floatx(floatx):
        model = Sequential([Input(shape=(4,)), Dense(8, activation="tanh"), Dense(3, activation="softmax")])
    x = X[:40].astype(floatx)
    full = model._core.predict(x)  # what the full path asks of the core
    assert model._predict_ready(x[:32], 32) is not None  # (the lean path is really taken)
    for got in (model.predict(x, verbose=0), model.predict(np.asfortranarray(x), verbose=0),
                model.predict(x.tolist(), verbose=0)):
        assert got.dtype == np.dtype(floatx) and got.shape == (40, 3)
        np.testing.assert_array_equal(got, full)
    for rows in (1, 7, 32):
        np.testing.assert_array_equal(model(x[:rows]), model._core.predict(x[:rows]))
        np.testing.assert_array_equal(model.predict_on_batch(x[:rows]), model._core.predict(x[:rows]))
        np.testing.assert_array_equal(model.predict(x[:rows], batch_size=5, verbose=0),
                                      model._core.predict(x[:rows]))
    # rows of the other float precision (NumPy's float64 for a float32 model) are cast as the full path casts
    other_precision = (x[:3] + 1e-9).astype(np.float64 if floatx == "float32" else np.float32)
    assert model._predict_ready(other_precision, 256) is not None
    for got in (model(other_precision), model.predict_on_batch(other_precision),
                model.predict(other_precision, verbose=0)):
        assert got.dtype == np.dtype(floatx)
        np.testing.assert_array_equal(got, model._core.predict(other_precision.astype(floatx)))
    # what the lean path does not take: other dtypes, strides, ranks, widths, too many rows, non-finite values,
    # values beyond float32's range
    too_large = np.full((1, 4), 1e39 if floatx == "float32" else 1.0)
    for other in (x[:2].astype(np.float16), x[:2].astype(np.int64), x[:4:2], x[:2, None], x[:2, :3],
                  np.tile(x, (8, 1)), np.full((1, 4), np.nan, floatx), too_large.astype(np.float64)[:, :3]):
        assert model._predict_ready(other, 256) is None
    if floatx == "float32":
        assert model._predict_ready(too_large, 256) is None
        with pytest.raises(ValueError, match=r"^x has values too large for float32: .* got 1e\+39 at row 0"):
            model(too_large)
    with pytest.raises(ValueError, match=r"^x contains NaN or Inf values: .* got inf at row 0, column 0$"):
        model(np.full((1, 4), np.inf, floatx))
    with pytest.raises(ValueError, match=r"^x: the model expects 4 features"):
        model.predict_on_batch(x[:2, :3])


def test_lean_predict_path_follows_the_model_it_belongs_to():
    model = Sequential([Input(shape=(4,)), Dense(8, activation="tanh"), Dense(3)])
    x = X[:2].astype(np.float32)
    assert model(x).shape == (2, 3)
    model.add(Dense(5, activation="softmax"))  # a rebuilt core: the lean path must not answer for the old one
    for out in (model(x), model.predict_on_batch(x)):
        assert out.shape == (2, 5)
        np.testing.assert_array_equal(out, model._core.predict(x))
    model.pop()
    np.testing.assert_array_equal(model(x), model._core.predict(x))
    assert model(x).shape == (2, 3)
    inputs = Input(shape=(4,))  # a functional model of two outputs answers with both, as Keras does
    hidden = Dense(8, activation="relu")(inputs)
    two = models.Model(inputs, [hidden, Dense(3)(hidden)])
    outs = two(x)
    assert isinstance(outs, list) and [o.shape for o in outs] == [(2, 8), (2, 3)]
    np.testing.assert_array_equal(outs[1], two.predict_on_batch(x)[1])


def test_lean_predict_path_respects_multi_dimensional_inputs():
    model = Sequential([Input(shape=(2, 3)), layers.Flatten(), Dense(2)])
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    assert model._predict_ready(x.reshape(2, 6), 256) is None  # (n, 6) is not a batch of (2, 3) samples
    np.testing.assert_array_equal(model(x), model._core.predict(x.reshape(2, 6)))
    with pytest.raises(ValueError, match=r"^x: expected a 3-D array"):
        model.predict(x.reshape(2, 6), verbose=0)


# ----------------------------------------------------------------------------- fit / History

def test_fit_returns_history():
    model = binary_model()
    history = model.fit(X, Y, epochs=3, batch_size=16, verbose=0, validation_split=0.25)
    assert isinstance(history, callbacks.History)
    assert model.history is history
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 and all(isinstance(x, float) for x in v) for v in history.history.values())
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 3}  # 45 training rows, batches of 16


def test_fit_with_validation_data_tuple_and_list():
    # (fresh models with one seed: a second fit of the same model would continue Adam's state)
    h1 = binary_model(seed=8).fit(X, Y, epochs=2, verbose=0, validation_data=(X[:10], Y[:10]))
    h2 = binary_model(seed=8).fit(X, Y, epochs=2, verbose=0, validation_data=[X[:10], Y[:10]])
    assert set(h1.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert_history_close(h1, h2)


def test_validation_data_wins_over_validation_split():
    both = binary_model(seed=8).fit(X, Y, epochs=1, verbose=0, validation_split=0.5, validation_data=(X, Y))
    only_data = binary_model(seed=8).fit(X, Y, epochs=1, verbose=0, validation_data=(X, Y))
    split_only = binary_model(seed=8).fit(X, Y, epochs=1, verbose=0, validation_split=0.5)
    assert_history_close(both, only_data)
    assert both.history["loss"] != pytest.approx(split_only.history["loss"], rel=1e-3)  # all 60 rows trained


def test_training_reduces_the_loss_and_is_reproducible():
    def run():
        model = binary_model(seed=11)
        return model, model.fit(X, Y, epochs=20, batch_size=8, verbose=0)

    m1, h1 = run()
    m2, h2 = run()
    assert h1.history["loss"][-1] < 0.7 * h1.history["loss"][0]
    assert h1.history == h2.history  # same seed, same thread count: bit-identical
    assert all(np.array_equal(a, b) for a, b in zip(m1.get_weights(), m2.get_weights()))


def test_fit_epochs_zero_and_initial_epoch():
    model = binary_model()
    start = model.get_weights()
    history = model.fit(X, Y, epochs=0, verbose=0)
    assert history.epoch == [] and history.history == {}
    assert same_weights(model.get_weights(), start)
    history = model.fit(X, Y, epochs=3, initial_epoch=1, verbose=0)
    assert history.epoch == [1, 2]


# ----------------------------------------------------------------------------- verbose

@pytest.fixture(autouse=True)
def _plain_console(monkeypatch):
    # Under PyCharm the progress bar would (rightly) draw with \r and colours even into captured output.
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)


def test_verbose_0_prints_nothing(capsys):
    model = binary_model()
    model.fit(X, Y, epochs=2, verbose=0, validation_split=0.2)
    model.evaluate(X, Y, verbose=0)
    model.predict(X, verbose=0)
    assert capsys.readouterr() == ("", "")


def test_verbose_2_prints_one_line_per_epoch(capsys):
    model = binary_model()
    model.fit(X, Y, epochs=3, batch_size=16, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0::2] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    line = re.compile(r"^4/4 - \d+s - \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}$")
    assert len(lines) == 6 and all(line.match(text) for text in lines[1::2]), lines


def test_verbose_2_with_validation(capsys):
    model = binary_model()
    model.fit(X, Y, epochs=2, batch_size=16, verbose=2, validation_split=0.25)
    lines = capsys.readouterr().out.splitlines()
    line = re.compile(r"^3/3 - \d+s - \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}"
                      r" - val_accuracy: \d\.\d{4} - val_loss: \d\.\d{4}$")
    assert len(lines) == 4 and all(line.match(text) for text in lines[1::2]), lines


@pytest.mark.parametrize("verbose", [1, "auto"])
def test_verbose_1_prints_epoch_lines_and_a_bar(capsys, verbose):
    model = binary_model()
    model.fit(X, Y, epochs=2, batch_size=16, verbose=verbose)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [text for text in lines if text.startswith("Epoch")] == ["Epoch 1/2", "Epoch 2/2"]
    bar = re.compile(r"^4/4 ━{20} \d+s \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}$")
    assert len(lines) == 4 and all(bar.match(text) for text in lines[1::2]), lines
    assert "\x1b" not in out and "\r" not in out  # captured output is not a terminal


def test_verbose_1_single_epoch_has_no_epoch_line(capsys):
    model = binary_model()
    model.fit(X, Y, epochs=1, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("2/2 ━")


def test_evaluate_and_predict_verbose(capsys):
    model = binary_model()
    model.evaluate(X, Y, verbose=1)
    model.evaluate(X, Y, verbose=2)
    model.predict(X, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert re.match(r"^2/2 ━{20} \d+s \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}$", lines[0])
    assert re.match(r"^2/2 - \d+s - \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}$", lines[1])
    assert re.match(r"^2/2 ━{20} \d+s \d+(us|ms|s)/step$", lines[2])


# ----------------------------------------------------------------------------- validation_split

def test_validation_split_takes_the_last_fraction():
    # The last 20% of the rows have inverted labels, so the two ends of the data give very different
    # losses. With learning_rate=0 the weights never move: the training loss must be the loss on the
    # first 80% and val_loss the loss on the last 20% (whatever the shuffling).
    x = X[:50]
    y = Y[:50].copy()
    y[40:] = 1 - y[40:]
    model = binary_model(optimizer=optimizers.SGD(learning_rate=0.0))
    head = model.evaluate(x[:40], y[:40], verbose=0, return_dict=True)
    tail = model.evaluate(x[40:], y[40:], verbose=0, return_dict=True)
    first = model.evaluate(x[:10], y[:10], verbose=0, return_dict=True)
    assert abs(tail["loss"] - first["loss"]) > 1e-3  # the check below can tell the two ends apart

    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0, validation_split=0.2)
    h = {k: v[0] for k, v in history.history.items()}
    assert h["val_loss"] == pytest.approx(tail["loss"], rel=1e-5)
    assert h["val_accuracy"] == pytest.approx(tail["accuracy"])
    assert h["loss"] == pytest.approx(head["loss"], rel=1e-5)
    assert h["accuracy"] == pytest.approx(head["accuracy"])


def test_validation_split_trains_on_the_first_rows_only():
    # Training with validation_split=0.2 is training on the first 80% of the rows.
    split = binary_model(seed=3)
    start = split.get_weights()
    split.fit(X, Y, epochs=2, batch_size=8, verbose=0, shuffle=False, validation_split=0.2)
    head = binary_model(seed=3)
    head.set_weights(start)
    head.fit(X[:48], Y[:48], epochs=2, batch_size=8, verbose=0, shuffle=False)
    assert close_weights(split.get_weights(), head.get_weights())
    # and after training, val metrics are those of the final model on the last 20%
    val = split.fit(X, Y, epochs=1, batch_size=8, verbose=0, shuffle=False, validation_split=0.2)
    assert val.history["val_loss"][0] == pytest.approx(split.evaluate(X[48:], Y[48:], verbose=0)[0], rel=1e-5)


# ----------------------------------------------------------------------------- accepted input forms

def _input_variants(x):
    """The same numbers as x (float32, C-contiguous) in other array forms."""
    wide = np.zeros((x.shape[0], 2 * x.shape[1]), np.float32)
    wide[:, ::2] = x
    read_only = x.copy()
    read_only.flags.writeable = False
    return {
        "float64": x.astype(np.float64),
        "list": x.tolist(),
        "fortran": np.asfortranarray(x),
        "strided_columns": wide[:, ::2],
        "strided_rows": np.repeat(x, 2, axis=0)[::2],
        "read_only": read_only,
        "big_endian": x.astype(">f4"),
    }


@pytest.mark.parametrize("form", ["float64", "list", "fortran", "strided_columns", "strided_rows", "read_only",
                                  "big_endian", "int", "int_list", "uint8"])
def test_input_forms_give_the_same_results(form):
    if form in ("int", "int_list", "uint8"):
        base = np.clip(np.round(X * 3), 0, None).astype(np.float32)  # small non-negative integers
        given = {"int": base.astype(np.int64), "int_list": base.astype(int).tolist(),
                 "uint8": base.astype(np.uint8)}[form]
    else:
        base = X
        given = _input_variants(X)[form]
    y_forms = {"float64": Y.astype(np.float64), "list": Y.tolist(), "int": Y.astype(np.int64),
               "read_only": np.array(Y, copy=True)}
    y_given = y_forms.get(form, Y)
    if form == "read_only":
        y_given.flags.writeable = False

    reference = binary_model(seed=21)
    other = binary_model(seed=21)
    np.testing.assert_allclose(other.predict(given, verbose=0), reference.predict(base, verbose=0),
                               rtol=1e-6, atol=1e-7)
    assert other.evaluate(given, y_given, verbose=0) == pytest.approx(reference.evaluate(base, Y, verbose=0),
                                                                      rel=1e-6)
    h_ref = reference.fit(base, Y, epochs=2, batch_size=8, verbose=0)
    h_other = other.fit(given, y_given, epochs=2, batch_size=8, verbose=0)
    assert_history_close(h_other, h_ref)
    assert close_weights(other.get_weights(), reference.get_weights())
    if form == "read_only":
        assert not given.flags.writeable  # densenn did not touch the caller's array


def test_inputs_are_not_modified():
    x, y = X.copy(), Y.copy()
    model = binary_model()
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.2)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(y, Y)


def test_y_as_column_vector_is_accepted():
    model = binary_model()
    assert model.evaluate(X, Y[:, None], verbose=0) == pytest.approx(model.evaluate(X, Y, verbose=0))


def test_sparse_labels_match_one_hot():
    utils.set_random_seed(2)
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    sparse = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(3, activation="softmax")])
    sparse.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    onehot = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(3, activation="softmax")])
    onehot.set_weights(sparse.get_weights())
    onehot.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    s = sparse.evaluate(X, labels, verbose=0)
    assert s == pytest.approx(onehot.evaluate(X, utils.to_categorical(labels, 3), verbose=0), rel=1e-6)
    assert sparse.evaluate(X, labels.reshape(-1, 1), verbose=0) == pytest.approx(s)
    assert sparse.evaluate(X, labels.astype(np.float32), verbose=0) == pytest.approx(s)


# ----------------------------------------------------------------------------- utils

def test_to_categorical():
    out = utils.to_categorical([0, 2, 1, 2])
    assert out.dtype == np.float32 and out.shape == (4, 3)
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[0, 2, 1, 2]])
    np.testing.assert_array_equal(utils.to_categorical(np.array([[1], [0]]), num_classes=4),
                                  [[0, 1, 0, 0], [1, 0, 0, 0]])
    assert utils.to_categorical(np.array([1, 0], np.uint8), 10).shape == (2, 10)
    assert utils.to_categorical([1.0, 0.0]).tolist() == [[0, 1], [1, 0]]
    assert utils.to_categorical([1, 0], dtype="float64").dtype == np.float64


def test_set_random_seed_makes_weights_and_training_repeatable():
    def build_two():
        utils.set_random_seed(123)
        a = Sequential([Input(shape=(4,)), Dense(10, activation="relu"), Dense(1, activation="sigmoid")])
        b = Sequential([Dense(5), Dense(2)])
        b.build((None, 3))
        return a.get_weights(), b.get_weights()

    a1, b1 = build_two()
    a2, b2 = build_two()
    assert same_weights(a1, a2) and same_weights(b1, b2)
    utils.set_random_seed(124)
    other = Sequential([Input(shape=(4,)), Dense(10, activation="relu"), Dense(1, activation="sigmoid")])
    assert not np.array_equal(other.get_weights()[0], a1[0])
    # shuffling is seeded too
    first = binary_model(seed=9)
    h1 = first.fit(X, Y, epochs=3, batch_size=8, verbose=0)
    second = binary_model(seed=9)
    h2 = second.fit(X, Y, epochs=3, batch_size=8, verbose=0)
    assert_history_close(h1, h2)
    assert close_weights(first.get_weights(), second.get_weights())


_SEEDED_SCRIPT = """
import hashlib, sys
import numpy as np
from densenn import Sequential, Input, utils
from densenn.layers import Dense
utils.set_random_seed(int(sys.argv[1]))
a = Sequential([Input(shape=(4,)), Dense(10, activation='relu'), Dense(1, activation='sigmoid')])
b = Sequential([Input(shape=(784,)), Dense(100, activation='relu'), Dense(10, activation='softmax')])
digest = hashlib.sha256()
for w in a.get_weights() + b.get_weights():
    digest.update(np.ascontiguousarray(w).tobytes())
print(digest.hexdigest())
"""


def test_set_random_seed_repeatable_across_processes():
    def run(seed):
        out = subprocess.run([sys.executable, "-c", _SEEDED_SCRIPT, str(seed)], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    first, second, other = run(2024), run(2024), run(2025)
    assert len(first) == 64
    assert first == second
    assert first != other


_REPEATED_PREDICT = """
import numpy as np
from densenn import Sequential, Input, utils
from densenn.layers import Dense
utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
model = Sequential([Input(shape=(4,)), Dense(10, activation='softmax')])
outputs = [model.predict(x, verbose=0) for _ in range(50)]  # all kept alive: each call's buffers move
print(len({o.tobytes() for o in outputs}))
"""


_LARGE_PREDICT = """
import hashlib
import numpy as np
from densenn import Sequential, Input, utils
from densenn.layers import Dense
utils.set_random_seed(5)
model = Sequential([Input(shape=(16,)), Dense(1500, activation='relu'), Dense(1000, activation='tanh'), Dense(4)])
x = np.random.default_rng(1).normal(size=(2800, 16)).astype(np.float32)
out = model.predict(x, verbose=0)
np.save('out.npy', out)
print(hashlib.sha256(out.tobytes()).hexdigest())
"""


def test_large_predict_runs_passes_in_parallel_with_the_same_numbers(tmp_path):
    # 2,800 rows of a ~1M-weight net: 11 passes of 256 rows or fewer (~256K activation values), on both threads
    # when there are two; each row's numbers do not depend on the thread count or on which thread computed it
    # (an odd number of passes: evening them out between two threads changed the last bits of some rows).
    digests = []
    for threads in ("1", "2"):
        run = subprocess.run([sys.executable, "-c", _LARGE_PREDICT], capture_output=True, text=True, timeout=300,
                             cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": threads})
        assert run.returncode == 0, run.stderr
        digests.append(run.stdout.strip())
    assert digests[0] == digests[1]
    out = np.load(tmp_path / "out.npy")
    # against single-row predicts of the same model (same seed) and the weights in NumPy
    utils.set_random_seed(5)
    model = Sequential([Input(shape=(16,)), Dense(1500, activation="relu"), Dense(1000, activation="tanh"),
                        Dense(4)])
    x = np.random.default_rng(1).normal(size=(2800, 16)).astype(np.float32)
    for row in (0, 255, 256, 1234, 2799):
        np.testing.assert_allclose(out[row:row + 1], model(x[row:row + 1]), rtol=1e-5, atol=1e-5)
    w = [a.astype(np.float64) for a in model.get_weights()]
    h = np.tanh(np.maximum(x @ w[0] + w[1], 0) @ w[2] + w[3])
    np.testing.assert_allclose(out, h @ w[4] + w[5], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("isa", ["baseline"] + [
    pytest.param(isa, marks=pytest.mark.skipif(not build_runs_here(isa), reason=f"no {isa} build or CPU here"))
    for isa in ("x86-64-v3", "x86-64-v4")])
def test_repeated_predict_is_bit_identical(isa):
    env = {**os.environ, "DENSENN_ISA": isa}
    out = subprocess.run([sys.executable, "-c", _REPEATED_PREDICT], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"  # distinct outputs among 50 identical calls


# ----------------------------------------------------------------------------- callbacks

class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs, self.batches, self.events = [], [], []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch}")
        self.epochs.append((epoch, dict(logs)))

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append((batch, dict(logs)))

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_custom_callback_receives_epoch_logs_and_batches():
    model = binary_model()
    recorder = Recorder()
    history = model.fit(X, Y, epochs=3, batch_size=16, verbose=0, validation_split=0.25, callbacks=[recorder])
    steps = 3  # 45 training rows in batches of 16
    assert recorder.model is model
    assert recorder.params == {"verbose": 0, "epochs": 3, "steps": steps}
    assert recorder.events == ["train_begin", "epoch_begin 0", "epoch_end 0", "epoch_begin 1", "epoch_end 1",
                               "epoch_begin 2", "epoch_end 2", "train_end"]
    assert [e for e, _ in recorder.epochs] == [0, 1, 2]
    for epoch, logs in recorder.epochs:
        assert set(logs) == {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert logs == pytest.approx({k: v[epoch] for k, v in history.history.items()})
    assert len(recorder.batches) == steps * 3
    assert [b for b, _ in recorder.batches] == [0, 1, 2] * 3
    assert all(set(logs) == {"loss", "accuracy"} for _, logs in recorder.batches)
    # the last batch's running logs are the epoch's training logs
    for epoch in range(3):
        last = recorder.batches[steps * epoch + steps - 1][1]
        assert last == pytest.approx({k: recorder.epochs[epoch][1][k] for k in ("loss", "accuracy")})


def test_batch_callbacks_do_not_change_training():
    plain = binary_model(seed=4)
    h_plain = plain.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    hooked = binary_model(seed=4)
    h_hooked = hooked.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[Recorder()])
    assert_history_close(h_plain, h_hooked)
    assert close_weights(plain.get_weights(), hooked.get_weights())


def test_stop_training_from_on_epoch_end():
    class StopAfterSecond(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    model = binary_model()
    history = model.fit(X, Y, epochs=10, verbose=0, callbacks=[StopAfterSecond()])
    assert history.epoch == [0, 1] and len(history.history["loss"]) == 2
    # the flag does not stick: the next fit runs in full
    assert model.fit(X, Y, epochs=3, verbose=0).epoch == [0, 1, 2]


def test_stop_training_from_a_batch_hook():
    class StopAtThirdBatch(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def on_train_batch_end(self, batch, logs=None):
            self.calls += 1
            if self.calls == 3:
                self.model.stop_training = True

    model = binary_model()
    stopper = StopAtThirdBatch()
    history = model.fit(X, Y, epochs=10, batch_size=8, verbose=0, callbacks=[stopper])
    assert stopper.calls == 3
    assert history.epoch == [0]
    assert model.optimizer.iterations == 3


def test_evaluate_callbacks_get_test_hooks():
    class TestRecorder(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches, self.ends = 0, []

        def on_test_batch_end(self, batch, logs=None):
            self.batches += 1

        def on_test_end(self, logs=None):
            self.ends.append(dict(logs))

    model = binary_model()
    recorder = TestRecorder()
    result = model.evaluate(X, Y, batch_size=16, verbose=0, callbacks=[recorder], return_dict=True)
    assert recorder.batches == 4
    assert recorder.ends == [pytest.approx(result)]


def test_training_flushes_denormals_only_inside_the_core():
    """The core trains with subnormals flushed to zero (they are 10-100x slower on x86) and gives the
    caller's floating-point mode back: NumPy still sees subnormals after fit and predict."""
    tiny = np.float32(1e-40)  # a float32 subnormal
    assert tiny * np.float32(1) != 0
    model = Sequential([Input(shape=(4,)), Dense(3, activation="relu"), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    model.fit(x, x[:, :1], epochs=2, verbose=0)
    model.predict(x, verbose=0)
    assert np.array([tiny], np.float32)[0] * np.float32(1) != 0
    assert np.float32(1e-38) / np.float32(1000) != 0


def test_nan_check_of_large_inputs_finds_every_block():
    # The core checks contiguous float inputs of 4M values or more in blocks of 2**20 on all threads.
    from densenn._core import core
    model = Sequential([Input(shape=(64,)), Dense(2)])
    x = np.zeros((70_000, 64), np.float32)  # 4,480,000 values: five blocks, the last one partial
    for row, col, value in [(0, 0, np.nan), (35_000, 17, np.inf), (69_999, 63, -np.inf)]:
        x[row, col] = value
        assert core.all_finite(x) is False and core.all_finite(x.astype(np.float64)) is False
        with pytest.raises(ValueError, match=rf"got {value!r} at row {row}, column {col}$"):
            model.predict(x, verbose=0)
        x[row, col] = 0
    assert core.all_finite(x) is True
    assert model.predict(x, verbose=0).shape == (70_000, 2)
    # other layouts and dtypes are left to NumPy
    assert core.all_finite(x[:, ::2]) is None and core.all_finite(x.astype(np.int32)) is None
