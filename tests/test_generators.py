"""fit/evaluate/predict from data that is not one array: a PyDataset, a generator, an iterator or another iterable
of batches. The reference is the array path over the same batches in the same order (shuffle=False): the same
weights bit for bit, the same logs up to rounding (a streamed pass sums its batches' logs in Python)."""
import io
import os
import random
import signal
import threading
import traceback
import warnings

import numpy as np
import pytest

import densenn
from densenn import callbacks as cb_module, layers
from densenn.utils import PyDataset

# Keras warns that fit's default shuffle=True does not apply to a generator: expected here, tested once below.
pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")

ROWS, FEATURES, CLASSES, BATCH = 50, 4, 3, 8
RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
           "generate at least `steps_per_epoch * epochs` batches. You may need to use the `.repeat()` function when "
           "building your dataset.")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(ROWS, FEATURES)).astype("float32")
    y = densenn.utils.to_categorical(rng.integers(0, CLASSES, ROWS), CLASSES)
    w = rng.uniform(0.1, 2.0, ROWS).astype("float32")
    return x, y, w


def make_model(seed=3, metrics=("accuracy",), weighted_metrics=None, learning_rate=0.01, build=True):
    densenn.utils.set_random_seed(seed)
    stack = [layers.Dense(16, activation="relu"), layers.Dropout(0.2), layers.Dense(CLASSES, activation="softmax")]
    model = densenn.models.Sequential(([layers.Input((FEATURES,))] if build else []) + stack)
    model.compile(densenn.optimizers.Adam(learning_rate), "categorical_crossentropy", metrics=list(metrics),
                  weighted_metrics=weighted_metrics)
    return model


def batches(*arrays, size=BATCH):
    """The array path's batches (shuffle=False): rows [i, i + size), the last one smaller."""
    rows = len(arrays[0])
    return [tuple(a[i:i + size] for a in arrays) for i in range(0, rows, size)]


def forever(items):
    while True:
        yield from items


class ListDataset(PyDataset):
    """A PyDataset over a list of batches, recording the indices asked for and the epoch hooks."""

    def __init__(self, items, **kwargs):
        super().__init__(**kwargs)
        self.items, self.asked, self.events = items, [], []

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        self.asked.append(index)
        return self.items[index]

    def on_epoch_begin(self):
        self.events.append("begin")

    def on_epoch_end(self):
        self.events.append("end")


def same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def assert_same_history(h1, h2):
    assert h1.history.keys() == h2.history.keys()
    for key in h1.history:
        assert h2.history[key] == h1.history[key], key  # the core carries the pass's sums from batch to batch


def data_threads():
    return [t for t in threading.enumerate() if t.name.startswith("densenn-data")]


# --------------------------------------------------------------------------- the same numbers as arrays

def test_generator_fit_gives_the_array_fits_weights(data):
    """An endless generator of the array path's batches, steps_per_epoch of them per epoch: the same weights bit
    for bit (the dropout masks and a schedule's rates included), the same history."""
    x, y, _ = data
    schedule = densenn.optimizers.schedules.ExponentialDecay(0.02, decay_steps=3, decay_rate=0.8)
    a, b = make_model(learning_rate=schedule), make_model(learning_rate=schedule)
    ha = a.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)
    hb = b.fit(forever(batches(x, y)), steps_per_epoch=7, epochs=3, shuffle=False, verbose=0)
    assert same_weights(a, b)
    assert_same_history(ha, hb)
    assert b.optimizer.iterations == a.optimizer.iterations == 21


def test_pydataset_fit_with_sample_weights_gives_the_array_fits_weights(data):
    """(x, y, sample_weight) batches from a PyDataset (several worker threads, results kept in order), weighted and
    plain metrics: the same weights, history and evaluation as the arrays."""
    x, y, w = data
    kwargs = dict(metrics=["accuracy", "mse", "root_mean_squared_error"], weighted_metrics=["accuracy", "mae"])
    a, b = make_model(**kwargs), make_model(**kwargs)
    ha = a.fit(x, y, sample_weight=w, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    dataset = ListDataset(batches(x, y, w), workers=3, max_queue_size=4)
    hb = b.fit(dataset, epochs=2, shuffle=False, verbose=0)
    assert same_weights(a, b)
    assert_same_history(ha, hb)
    assert dataset.asked == list(range(7)) * 2 and dataset.events == ["begin", "end"] * 2
    expected = a.evaluate(x, y, sample_weight=w, batch_size=BATCH, verbose=0, return_dict=True)
    got = b.evaluate(ListDataset(batches(x, y, w)), verbose=0, return_dict=True)
    assert got == expected


def test_ragged_batches_train_as_train_on_batch(data):
    """Batches of different sizes: each is one optimizer step on its rows, as train_on_batch."""
    x, y, _ = data
    sizes = [5, 13, 1, 20, 11]
    edges = np.cumsum([0] + sizes)
    parts = [(x[i:j], y[i:j]) for i, j in zip(edges[:-1], edges[1:])]
    a, b = make_model(), make_model()
    for part in parts:
        a.train_on_batch(*part)
    b.fit(iter(parts), verbose=0)
    assert same_weights(a, b)


def test_evaluate_and_predict_from_a_generator_equal_the_arrays(data):
    x, y, _ = data
    model = make_model()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    expected = model.evaluate(x, y, batch_size=BATCH, verbose=0)
    got = model.evaluate((b for b in batches(x, y)), verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    by_batch = np.concatenate([model.predict_on_batch(b[0]) for b in batches(x)])
    for stream in ((b[0] for b in batches(x)),  # bare arrays
                   iter(batches(x)),  # (x,) tuples
                   iter(batches(x, y)),  # (x, y): y is not used
                   ListDataset(batches(x))):
        out = model.predict(stream, verbose=0)
        assert out.shape == (ROWS, CLASSES) and out.dtype == np.float32
        assert np.array_equal(out, by_batch)
        np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)


def test_steps_limit_evaluate_and_predict(data):
    x, y, _ = data
    model = make_model()
    assert model.predict(forever(batches(x)), steps=2, verbose=0).shape == (2 * BATCH, CLASSES)
    np.testing.assert_allclose(model.evaluate(forever(batches(x, y)), steps=2, verbose=0),
                               model.evaluate(x[:2 * BATCH], y[:2 * BATCH], batch_size=BATCH, verbose=0), rtol=1e-12)


def test_class_weight_with_a_generator_is_per_sample_weights(data):
    x, y, _ = data
    class_weight = {0: 0.5, 1: 2.0, 2: 1.0}
    w = np.array([class_weight[c] for c in y.argmax(1)], dtype="float32")
    a, b = make_model(), make_model()
    a.fit(iter(batches(x, y, w)), verbose=0)
    b.fit(iter(batches(x, y)), class_weight=class_weight, verbose=0)
    assert same_weights(a, b)


def test_an_unbuilt_model_is_built_from_the_first_batch(data):
    x, y, _ = data
    a = make_model(build=False)  # each built (drawing its seed) before the next one's set_random_seed
    a.fit(x, y, batch_size=BATCH, shuffle=False, verbose=0)
    b = make_model(build=False)
    b.fit(iter(batches(x, y)), verbose=0)
    assert b.built and same_weights(a, b)
    c = make_model(build=False)
    assert c.predict(iter(batches(x)), verbose=0).shape == (ROWS, CLASSES)


# --------------------------------------------------------------------------- steps, epochs and the end of data

class Recorder(cb_module.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(("begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("end", batch, dict(logs)))

    def on_test_batch_end(self, batch, logs=None):
        self.calls.append(("test_end", batch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch))


def test_callbacks_see_the_batches_and_the_array_paths_running_logs(data):
    x, y, _ = data
    ra, rb = Recorder(), Recorder()
    make_model().fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[ra])
    model = make_model()
    model.fit(forever(batches(x, y)), steps_per_epoch=7, epochs=2, verbose=0, callbacks=[rb], shuffle=False)
    assert [c[:2] for c in rb.calls] == [c[:2] for c in ra.calls]
    for ca, cb in zip(ra.calls, rb.calls):
        if ca[0] == "end":
            assert cb[2].keys() == ca[2].keys() == {"accuracy", "loss"}
            assert cb[2] == ca[2]
    assert rb.params["steps"] == 7


def test_a_finite_generator_ends_the_epoch_early_and_stops_training(data):
    """steps_per_epoch=3 over 5 batches: epoch 1 has 3, epoch 2 the last 2 and Keras' warning; a generator cannot
    start again, so training stops there (Keras 3 would replay the batches it peeked at)."""
    x, y, _ = data
    parts = batches(x, y)[:5]
    recorder = Recorder()
    model = make_model()
    with pytest.warns(UserWarning) as record:
        history = model.fit((b for b in parts), steps_per_epoch=3, epochs=4, verbose=0, callbacks=[recorder],
                            shuffle=False)
    assert [str(r.message) for r in record] == [RAN_OUT]
    assert record[0].filename == __file__  # shown at the fit call
    assert history.epoch == [0, 1] and model.stop_training
    assert [c[1] for c in recorder.calls if c[0] == "begin"] == [0, 1, 2, 0, 1]
    reference = make_model()
    for part in parts:
        reference.train_on_batch(*part)
    assert same_weights(model, reference)


def test_a_generator_without_steps_is_one_epoch(data):
    x, y, _ = data
    model = make_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.fit(iter(batches(x, y)), epochs=1, shuffle=False, verbose=0).epoch == [0]
    with pytest.warns(UserWarning, match="Your input ran out of data"):
        history = make_model().fit(iter(batches(x, y)), epochs=3, shuffle=False, verbose=0)
    assert history.epoch == [0]  # the second epoch had no batch: it is not reported


def test_pydataset_steps_per_epoch_goes_on_where_the_last_epoch_stopped(data):
    """As Keras' EpochIterator: 3 steps of 5 batches per epoch read 0-2, then 3-4 (the data ends: warning), then
    0-2 again; on_epoch_begin/end around every epoch."""
    x, y, _ = data
    dataset = ListDataset(batches(x, y)[:5])
    with pytest.warns(UserWarning) as record:
        history = make_model().fit(dataset, steps_per_epoch=3, epochs=3, shuffle=False, verbose=0)
    assert [str(r.message) for r in record] == [RAN_OUT]
    assert dataset.asked == [0, 1, 2, 3, 4, 0, 1, 2]
    assert dataset.events == ["begin", "end"] * 3 and history.epoch == [0, 1, 2]


def test_pydataset_epochs_and_validation_steps_read_what_keras_reads(data, keras):
    """Real Keras 3 on the same PyDataset schedule: the same indices read per epoch (Keras also reads index 0 once
    more, first, to learn the batches' shapes) and the same number of 'ran out of data' warnings."""
    x, y, _ = data

    def keras_dataset(items):
        class Recording(keras.utils.PyDataset):
            def __init__(self):
                super().__init__()
                self.asked = []

            def __len__(self):
                return len(items)

            def __getitem__(self, index):
                self.asked.append(index)
                return items[index]
        return Recording()

    train, val = batches(x, y)[:5], batches(x, y, size=5)
    reference = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(CLASSES, activation="softmax")])
    reference.compile("sgd", "categorical_crossentropy")
    keras_train, keras_val = keras_dataset(train), keras_dataset(val)
    ours_train, ours_val = ListDataset(train), ListDataset(val)
    with pytest.warns(UserWarning) as keras_warnings:
        reference.fit(keras_train, steps_per_epoch=3, epochs=3, shuffle=False, verbose=0, validation_data=keras_val,
                      validation_steps=2)
    with pytest.warns(UserWarning) as our_warnings:
        make_model().fit(ours_train, steps_per_epoch=3, epochs=3, shuffle=False, verbose=0, validation_data=ours_val,
                         validation_steps=2)
    assert keras_train.asked[1:] == ours_train.asked == [0, 1, 2, 3, 4, 0, 1, 2]
    assert keras_val.asked[-6:] == ours_val.asked == [0, 1] * 3
    assert [str(w.message) for w in keras_warnings if "ran out" in str(w.message)] == \
        [str(w.message) for w in our_warnings] == [RAN_OUT]


def test_a_keras_pydataset_trains_as_ours(data, keras):
    """A keras.utils.PyDataset subclass (a data set kept from a Keras project) is read by index, as densenn's."""
    x, y, _ = data
    parts = batches(x, y)

    class KerasData(keras.utils.PyDataset):
        def __len__(self):
            return len(parts)

        def __getitem__(self, index):
            return parts[index]

    a, b = make_model(), make_model()
    a.fit(ListDataset(parts), epochs=2, shuffle=False, verbose=0)
    b.fit(KerasData(workers=2), epochs=2, shuffle=False, verbose=0)
    assert same_weights(a, b)
    with pytest.raises(ValueError, match="use_multiprocessing=True is not supported"):
        b.fit(KerasData(use_multiprocessing=True))


def test_pydataset_shuffle_draws_keras_order(data, keras):
    """shuffle=True shuffles the order of the batches each epoch with Python's random, as Keras' adapter does."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    x, y, _ = data
    dataset, model = ListDataset(batches(x, y)), make_model()
    random.seed(11)  # (after make_model: set_random_seed seeds Python's random too)
    model.fit(dataset, epochs=2, verbose=0)  # shuffle=True by default
    dataset.asked, order = dataset.asked[-14:], dataset.asked

    class Indexes(keras.utils.PyDataset):
        def __len__(self):
            return 7

        def __getitem__(self, index):
            return np.array([index]), np.array([index])

    random.seed(11)
    adapter = PyDatasetAdapter(Indexes(), shuffle=True)
    keras_order = [int(b[0][0]) for _ in range(2) for b in adapter.get_numpy_iterator()]
    assert order == keras_order and sorted(order[:7]) == list(range(7)) and order[:7] != order[7:]


def test_shuffle_is_ignored_with_keras_warning_for_a_generator(data):
    x, y, _ = data
    with pytest.warns(UserWarning, match=r"^`shuffle=True` was passed, but will be ignored since the data `x` was "
                                         r"provided as a generator\. The generator is expected to yield "
                                         r"already-shuffled data\.$"):
        make_model().fit((b for b in batches(x, y)), verbose=0)

    class Endless(PyDataset):
        num_batches = None

        def __getitem__(self, index):
            return x[:4], y[:4]

    with pytest.warns(UserWarning, match="provided as an infinite PyDataset"):
        make_model().fit(Endless(), steps_per_epoch=2, verbose=0)


def test_an_iterable_starts_again_each_epoch(data):
    x, y, _ = data
    parts = batches(x, y)

    class Loader:  # iterable, not an iterator and not a sequence (like a torch DataLoader)
        def __iter__(self):
            return iter(parts)

    a, b = make_model(), make_model()
    ha = a.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)
    hb = b.fit(Loader(), epochs=3, shuffle=False, verbose=0)
    assert same_weights(a, b)
    assert_same_history(ha, hb)


def test_validation_data_from_a_generator_and_a_pydataset(data):
    x, y, _ = data
    xv, yv = x[:20], y[:20]
    a, b, c = make_model(), make_model(), make_model()
    ha = a.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, validation_data=(xv, yv),
               validation_batch_size=5)
    hb = b.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
               validation_data=forever(batches(xv, yv, size=5)), validation_steps=4)
    val = ListDataset(batches(x, y, size=5))  # 10 batches: validation_steps=4 reads 0-3 at every validation
    hc = c.fit(forever(batches(x, y)), steps_per_epoch=7, epochs=2, shuffle=False, verbose=0,
               validation_data=val, validation_steps=4)
    assert_same_history(ha, hb)
    assert_same_history(ha, hc)
    assert val.asked == [0, 1, 2, 3] * 2


def test_a_progress_bar_of_unknown_length(data, capsys):
    """Without steps the number of batches is unknown (params['steps'] is None, as Keras'): a live bar shows Keras'
    'n/Unknown', and the final line the count once the pass is done."""
    x, y, _ = data
    recorder = Recorder()
    make_model().fit(iter(batches(x, y)), verbose=1, callbacks=[recorder])
    assert recorder.params["steps"] is None
    out = capsys.readouterr().out  # not a terminal: the final line only
    assert out.startswith("7/7 ━━━━━━━━━━━━━━━━━━━━ ") and " - accuracy: " in out and out.count("\n") == 1

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    progress = cb_module.ProgbarLogger(1, file=terminal)
    progress.start(None)
    progress.update(3, {"loss": 0.5})
    assert "      3/Unknown" in terminal.getvalue()
    progress.update(5, {"loss": 0.25}, finalize=True)
    assert "5/5" in terminal.getvalue().rsplit("\r", 1)[-1]


# --------------------------------------------------------------------------- refused arguments and bad batches

def test_arguments_refused_as_keras_refuses_them(data):
    x, y, w = data
    model = make_model()
    gen = iter(batches(x, y))
    for kwargs, message in [
        ({"y": y}, "When providing `x` as an iterator, `y` should not be passed. Instead, the targets should be "
                   "included as part of the iterator."),
        ({"sample_weight": w}, "When providing `x` as an iterator, `sample_weights` should not be passed. Instead, "
                               "the sample weights should be included as part of the iterator."),
        ({"batch_size": 8}, f"The `batch_size` argument must not be specified for the given input type. Received "
                            f"input: {gen!r}, batch_size: 8"),
        ({"validation_split": 0.2}, "Argument `validation_split` is only supported for tensors or NumPy arrays. "
                                    "Found incompatible type in the input: [<class 'list_iterator'>]"),
        ({"steps_per_epoch": 0}, "steps_per_epoch: expected an integer > 0, got 0"),
    ]:
        with pytest.raises(ValueError) as e:
            model.fit(gen, shuffle=False, **kwargs)
        assert str(e.value) == message
    generator = (b for b in batches(x, y))
    with pytest.raises(ValueError, match=r"^When providing `x` as a generator, `y` should not be passed"):
        model.evaluate(generator, y)
    with pytest.raises(ValueError, match=r"^The `validation_batch_size` argument must not be specified"):
        model.fit(x, y, validation_data=iter(batches(x, y)), validation_batch_size=4)
    with pytest.raises(ValueError) as e:
        model.fit(x, y, steps_per_epoch=3)
    assert str(e.value) == ("steps_per_epoch: densenn takes it when x is a PyDataset, a generator or an iterable; "
                            "with arrays, a pass covers every sample once (got steps_per_epoch=3).")
    for call in (lambda: model.predict(x, steps=3), lambda: model.evaluate(x, y, steps=3)):
        with pytest.raises(ValueError, match=r"^steps: densenn takes it when x is a PyDataset"):
            call()
    with pytest.raises(ValueError, match=r"^validation_steps: densenn takes it when validation_data is a PyDataset"):
        model.fit(x, y, validation_data=(x, y), validation_steps=2)
    assert next(gen)[0].shape == (BATCH, FEATURES)  # nothing was read from the refused generator


def test_counted_metrics_over_a_generator_equal_the_arrays(data):
    """Precision, recall and AUC keep counts over the whole pass (not means): the streamed batches' passes carry
    them from one to the next, so the epoch's values are the array pass's."""
    x, y, _ = data
    metrics = [densenn.metrics.AUC(), densenn.metrics.Precision(), densenn.metrics.Recall(), "accuracy"]
    a, b = make_model(metrics=metrics), make_model(metrics=metrics)
    ha = a.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, validation_data=(x, y))
    hb = b.fit(forever(batches(x, y)), steps_per_epoch=7, epochs=2, shuffle=False, verbose=0,
               validation_data=ListDataset(batches(x, y)))
    assert same_weights(a, b)
    assert_same_history(ha, hb)
    assert b.evaluate(iter(batches(x, y)), verbose=0) == a.evaluate(x, y, batch_size=BATCH, verbose=0)


def test_pydataset_arguments(data):
    x, y, _ = data
    model = make_model()
    with pytest.raises(ValueError, match=r"^x: densenn runs a PyDataset's workers as threads, "
                                         r"use_multiprocessing=True is not supported"):
        model.fit(ListDataset(batches(x, y), use_multiprocessing=True))
    with pytest.raises(ValueError, match=r"^x.workers: expected an integer >= 0, got -1$"):
        model.fit(ListDataset(batches(x, y), workers=-1))
    with pytest.raises(ValueError, match=r"^x's number of batches \(len\): expected an integer > 0, got 0$"):
        model.fit(ListDataset([]))

    class EmptyLoader:
        def __iter__(self):
            return iter(())

        def __len__(self):
            return 0

    with pytest.raises(ValueError, match=r"^x's number of batches \(len\): expected an integer > 0, got 0$"):
        model.fit(EmptyLoader())

    class NoSuper(PyDataset):
        def __init__(self):  # forgets super().__init__(): Keras' warning, the defaults
            pass

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return x, y

    with pytest.warns(UserWarning, match=r"should call `super\(\).__init__\(\*\*kwargs\)`"):
        model.fit(NoSuper(), verbose=0)
    with pytest.raises(NotImplementedError, match="must implement __getitem__"):
        PyDataset()[0]


@pytest.mark.parametrize("bad, message", [
    ((np.zeros((4, 5)), np.zeros((4, 3))), "x, batch 2: x: the model expects 4 features per sample (input shape "
                                           "(None, 4)), got an array of shape (4, 5)"),
    ((np.zeros((4, 4)), np.zeros((3, 3))), "x, batch 2: y: expected 4 rows (one per sample of x, batch 2: x), got "
                                           "shape (3, 3)"),
    ((np.array([["a"] * 4]), np.zeros((1, 3))), "x, batch 2: x: expected numbers, got an array of dtype <U1"),
    ((np.full((2, 4), np.nan), np.zeros((2, 3))), "x, batch 2: x contains NaN or Inf values: expected finite "
                                                  "numbers, got nan at row 0, column 0"),
    ((np.zeros((2, 4)), np.zeros((2, 3)), np.array([1.0, -1.0])),
     "x, batch 2: sample_weight: expected finite weights >= 0, got -1.0 at row 1"),
    ((np.zeros((2, 4)), np.zeros((2, 3)), np.ones(3)), "x, batch 2: sample_weight: expected shape (2,), got (3,)"),
    ((np.zeros((2, 4)),), "x, batch 2: y: targets are required for training and evaluation."),
    ({"x": 1}, "x, batch 2: the generator must give each batch as a tuple (inputs,), (inputs, targets) or "
               "(inputs, targets, sample_weights), got {'x': 1} of type dict"),
    ((1, 2, 3, 4), "x, batch 2: the generator must give each batch as a tuple (inputs,), (inputs, targets) or "
                   "(inputs, targets, sample_weights), got (1, 2, 3, 4) of type tuple"),
])
def test_a_bad_batch_is_refused_as_arrays_are_and_the_model_keeps_its_steps(data, bad, message):
    x, y, _ = data
    good = batches(x, y)[:2]
    model, reference = make_model(), make_model()
    for part in good:
        reference.train_on_batch(*part)
    with pytest.raises(ValueError) as e:
        model.fit((b for b in [*good, bad, *good]), verbose=0)
    assert str(e.value) == message
    assert same_weights(model, reference)  # the two good batches trained, nothing else
    assert not data_threads()


def test_an_exception_in_the_generator_reaches_the_caller_with_its_traceback(data):
    x, y, _ = data

    def failing():
        yield x[:8], y[:8]
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone") as e:
        make_model().fit(failing(), verbose=0)
    assert "failing" in [frame.name for frame in traceback.extract_tb(e.value.__traceback__)]
    assert not data_threads()

    class Failing(ListDataset):
        def __getitem__(self, index):
            if index == 3:
                raise KeyError(index)
            return super().__getitem__(index)

    with pytest.raises(KeyError):
        make_model().fit(Failing(batches(x, y), workers=2), verbose=0)
    assert not data_threads()
    with pytest.raises(ValueError, match=r"^x: the generator gave no batch; it must yield at least one batch\.$"):
        make_model().evaluate((b for b in []), verbose=0)


def test_keyboard_interrupt_from_a_callback_stops_the_reader(data):
    """Ctrl-C (here raised by a callback after batch 3) reaches the caller; the model holds the weights of the 4
    batches that ran, no reading thread is left and the generator is not running: at most one batch was read
    ahead."""
    x, y, _ = data
    parts = batches(x, y)
    before = set(threading.enumerate())
    generator = (b for b in forever(parts))

    class Interrupt(cb_module.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                raise KeyboardInterrupt

    model, reference = make_model(), make_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(generator, steps_per_epoch=7, epochs=2, verbose=0, callbacks=[Interrupt()])
    assert set(threading.enumerate()) == before
    assert not generator.gi_running
    for part in parts[:4]:
        reference.train_on_batch(*part)
    assert same_weights(model, reference)
    following = next(generator)[0]  # batch 4 may have been read ahead (it trains nowhere), no other
    assert np.array_equal(following, parts[4][0]) or np.array_equal(following, parts[5][0])


def test_ctrl_c_while_streaming_leaves_whole_steps_and_no_reader(data):
    """A real SIGINT (sent while the reader thread reads batch 17, mid-epoch): KeyboardInterrupt reaches the
    caller, the model holds whole optimizer steps only (the weights of its `iterations` batches) and no reading
    thread is left."""
    x, y, _ = data
    parts = batches(x, y)

    def source():
        for k, part in enumerate(forever(parts)):
            if k == 17:
                os.kill(os.getpid(), signal.SIGINT)
            yield part

    model = make_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(source(), steps_per_epoch=7, epochs=5, verbose=0)
    assert not data_threads()
    steps = int(model.optimizer.iterations)
    assert 16 <= steps <= 18  # batch 17 is read while batch 16 trains
    reference = make_model()
    for k in range(steps):
        reference.train_on_batch(*parts[k % len(parts)])
    assert same_weights(model, reference)


def test_the_next_batch_is_read_on_another_thread_one_ahead(data):
    x, y, _ = data
    parts = batches(x, y)
    readers, read = [], []

    def source():
        for part in parts:
            readers.append(threading.current_thread())
            read.append(len(read))
            yield part

    class Check(cb_module.Callback):
        def on_train_batch_end(self, batch, logs=None):
            assert len(read) <= batch + 2  # batch + 1 read, at most one more ahead

    make_model().fit(source(), verbose=0, callbacks=[Check()])
    assert len(read) == len(parts)
    assert all(t is not threading.main_thread() for t in readers)
    assert not data_threads()


def test_the_next_batch_is_read_while_the_current_one_trains(data):
    """Batch k + 1 is read between batch k's begin and end hooks: the generator waits for batch k to begin, and
    the end hook waits (at most 60 s) for batch k + 1 to have been read. Read on the main thread, it would fail."""
    x, y, _ = data
    parts = batches(x, y)
    begun = [threading.Event() for _ in parts]
    read = [threading.Event() for _ in parts]

    def source():
        for k, part in enumerate(parts):
            if k:
                begun[k - 1].wait(60)
            read[k].set()
            yield part

    class Overlap(cb_module.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            begun[batch].set()

        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 < len(parts):
                assert read[batch + 1].wait(60), f"batch {batch + 1} was not read while batch {batch} trained"

    make_model().fit(source(), verbose=0, callbacks=[Overlap()])
    assert all(event.is_set() for event in read)


def test_early_stopping_with_a_generator(data):
    x, y, _ = data
    model = make_model(learning_rate=0.0)
    stop = cb_module.EarlyStopping(monitor="loss", patience=0, min_delta=1.0)
    history = model.fit(forever(batches(x, y)), steps_per_epoch=7, epochs=10, verbose=0, callbacks=[stop])
    assert history.epoch == [0, 1]
    assert not data_threads()
