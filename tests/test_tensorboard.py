"""The TensorBoard callback: Keras 3's directories, tags and steps, read back with TensorBoard's own reader and
through a real `tensorboard` server's HTTP API, against History and values recorded independently."""
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest

import densenn
from densenn import Input, Sequential, callbacks, layers, optimizers, utils

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

RNG = np.random.default_rng(3)
X = RNG.normal(size=(90, 4)).astype(np.float32)
Y = (X[:, 0] - 0.5 * X[:, 2] > 0).astype(np.float32)
XV = RNG.normal(size=(40, 4)).astype(np.float32)
YV = (XV[:, 0] - 0.5 * XV[:, 2] > 0).astype(np.float32)
BATCH = 16
STEPS = 6  # batches per epoch of X: not a multiple of the update_freq used below
RATES = [0.2, 0.1, 0.05, 0.025]


def model_4_8_1(name=None):
    utils.set_random_seed(5)
    model = Sequential([Input(shape=(4,)), layers.Dense(8, activation="relu", name="hidden"),
                        layers.Dense(1, activation="sigmoid", name="out")], name=name)
    model.compile(optimizer=optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def load(run_dir):
    accumulator = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def scalars(accumulator, tag):
    return {event.step: event.value for event in accumulator.Scalars(tag)}


def assert_series(written, expected):
    """`written` ({step: float32 value}) holds exactly `expected`'s steps, with its values in float32."""
    assert sorted(written) == sorted(expected)
    np.testing.assert_allclose([written[s] for s in sorted(expected)], [expected[s] for s in sorted(expected)],
                               rtol=1e-6, atol=1e-7)


class Recorder(callbacks.Callback):
    """What TensorBoard should write, recorded independently: each batch's logs by the fit's batch number (from
    1), each epoch's weights, and the optimizer's iterations after each evaluation."""

    def __init__(self):
        super().__init__()
        self.batches, self.weights, self.evaluations, self.step = {}, {}, [], 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self.batches[self.step] = dict(logs)

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = [layer.get_weights() for layer in self.model.layers]

    def on_test_end(self, logs=None):
        self.evaluations.append((self.model.optimizer.iterations, dict(logs)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 4-epoch fit with validation, batch summaries every 4 batches, histograms and pictures every 2 epochs
    and a learning rate that changes each epoch; then an evaluate() with the same callback."""
    log_dir = tmp_path_factory.mktemp("tb") / "logs"
    model = model_4_8_1()
    board = callbacks.TensorBoard(log_dir=log_dir, histogram_freq=2, write_images=True, update_freq=4)
    recorder = Recorder()
    schedule = callbacks.LearningRateScheduler(lambda epoch: RATES[epoch])
    history = model.fit(X, Y, batch_size=BATCH, epochs=4, validation_data=(XV, YV), shuffle=False, verbose=0,
                        callbacks=[schedule, board, recorder])
    evaluation = model.evaluate(XV, YV, verbose=0, return_dict=True, callbacks=[board])
    return model, log_dir, history.history, recorder, evaluation


def test_layout_and_epoch_scalars_equal_history(trained):
    model, log_dir, history, _, _ = trained
    assert sorted(os.listdir(log_dir)) == ["train", "validation"]
    for run in ("train", "validation"):
        assert any(name.startswith("events.out.tfevents.") for name in os.listdir(log_dir / run))
    train, validation = load(log_dir / "train"), load(log_dir / "validation")
    epochs = range(4)
    for name in ("loss", "accuracy"):
        assert_series(scalars(train, f"epoch_{name}"), dict(zip(epochs, history[name])))
        assert_series(scalars(validation, f"epoch_{name}"), dict(zip(epochs, history[f"val_{name}"])))
    assert_series(scalars(train, "epoch_learning_rate"), dict(zip(epochs, RATES)))
    assert not any(tag.startswith("val_") or tag.startswith("epoch_val") for run in (train, validation)
                   for tag in run.Tags()["scalars"])


def test_batch_scalars_every_update_freq_batches(trained):
    _, log_dir, history, recorder, _ = trained
    train = load(log_dir / "train")
    steps = range(4, 4 * STEPS + 1, 4)  # the fit's batches 4, 8, ... 24, counted from 1 over the epochs
    for name in ("loss", "accuracy"):
        written = scalars(train, f"batch_{name}")
        assert_series(written, {s: recorder.batches[s][name] for s in steps})
        # Batch 12 and 24 end epochs 2 and 4: the running means there are the epochs' values
        np.testing.assert_allclose([written[12], written[24]], [history[name][1], history[name][3]], rtol=1e-6)
    assert "batch_learning_rate" not in train.Tags()["scalars"]  # as Keras: the rate is an epoch summary


def test_evaluation_scalars_at_the_optimizer_iterations(trained):
    _, log_dir, history, recorder, evaluation = trained
    validation = load(log_dir / "validation")
    assert [it for it, _ in recorder.evaluations] == [STEPS, 2 * STEPS, 3 * STEPS, 4 * STEPS]
    for name in ("loss", "accuracy"):
        events = validation.Scalars(f"evaluation_{name}_vs_iterations")
        # fit's four validations, then the evaluate() after training, at the same iterations as the last one
        assert [e.step for e in events] == [6, 12, 18, 24, 24]
        np.testing.assert_allclose([e.value for e in events], history[f"val_{name}"] + [evaluation[name]],
                                   rtol=1e-6)


def test_weight_histograms_with_keras_paths(trained, keras):
    model, log_dir, _, recorder, _ = trained
    theirs = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(8, name="hidden"),
                               keras.layers.Dense(1, name="out")], name=model.name)
    train = load(log_dir / "train")
    assert train.Tags()["histograms"] == [f"{w.path}/histogram" for w in theirs.weights]
    arrays = [w for layer_weights in recorder.weights[0] for w in layer_weights]
    for tag, _ in zip(train.Tags()["histograms"], arrays):
        events = train.Histograms(tag)
        assert [e.step for e in events] == [0, 2]  # histogram_freq=2
    for epoch in (0, 2):
        arrays = [w for layer_weights in recorder.weights[epoch] for w in layer_weights]
        for tag, array in zip(train.Tags()["histograms"], arrays):
            histogram = next(e.histogram_value for e in train.Histograms(tag) if e.step == epoch)
            assert histogram.num == array.size and sum(histogram.bucket) == array.size
            np.testing.assert_allclose([histogram.min, histogram.max, histogram.sum, histogram.sum_squares],
                                       [array.min(), array.max(), array.sum(), (array.astype(float) ** 2).sum()],
                                       rtol=1e-5, atol=1e-6)


def test_weight_pictures_as_keras_draws_them(trained):
    from PIL import Image

    model, log_dir, _, recorder, _ = trained
    train = load(log_dir / "train")
    prefix = f"{model.name}/"
    tags = [prefix + path + "/image" for path in ("hidden/kernel", "hidden/bias", "out/kernel")]
    assert train.Tags()["images"] == tags  # none for the output's bias: a single value
    for epoch in (0, 2):
        kernel, bias = recorder.weights[epoch][0]
        out_kernel, _ = recorder.weights[epoch][1]
        # Keras' rule: squeezed; a matrix with its longer side across, a vector as a column
        for tag, picture in zip(tags, (kernel, bias[:, None], out_kernel)):
            event = next(e for e in train.Images(tag) if e.step == epoch)
            pixels = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))[..., 0]
            assert (event.height, event.width) == picture.shape
            np.testing.assert_array_equal(pixels, np.clip(picture * 255.5, 0, 255).astype(np.uint8))


def test_graph_is_the_model_json_for_the_graphs_tab(trained):
    model, log_dir, _, _, _ = trained
    train = load(log_dir / "train")
    assert train.Tags()["tensors"] == ["keras"]
    event, = train.Tensors("keras")
    assert event.step == 0
    assert json.loads(event.tensor_proto.string_val[0].decode()) == json.loads(model.to_json())
    assert train.SummaryMetadata("keras").plugin_data.plugin_name == "graph_keras_model"


def test_epoch_only_keeps_whole_epochs_in_cpp_and_writes_no_batches(tmp_path):
    model = model_4_8_1()
    board = callbacks.TensorBoard(tmp_path, write_graph=False)
    assert not callbacks.CallbackList([board], model, {}).wants_batches("train")
    history = model.fit(X, Y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[board])
    train = load(tmp_path / "train")
    assert sorted(train.Tags()["scalars"]) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    assert train.Tags()["tensors"] == [] and train.Tags()["histograms"] == []
    assert_series(scalars(train, "epoch_loss"), dict(enumerate(history.history["loss"])))
    assert not (tmp_path / "validation").exists()  # no validation, no validation run


def test_update_freq_batch_and_steps_per_second(tmp_path):
    model = model_4_8_1()
    board = callbacks.TensorBoard(str(tmp_path), update_freq="batch", write_steps_per_second=True,
                                  write_graph=False)
    assert board.update_freq == 1
    assert callbacks.CallbackList([board], model, {}).wants_batches("train")
    recorder = Recorder()
    model.fit(X, Y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[board, recorder])
    train = load(tmp_path / "train")
    assert_series(scalars(train, "batch_loss"), {s: logs["loss"] for s, logs in recorder.batches.items()})
    assert sorted(scalars(train, "batch_steps_per_second")) == list(range(1, 2 * STEPS + 1))
    assert sorted(scalars(train, "epoch_steps_per_second")) == [0, 1]
    assert all(v > 0 for v in scalars(train, "epoch_steps_per_second").values())


def test_functional_model_weights_have_keras_functional_paths(tmp_path, keras):
    utils.set_random_seed(1)
    inputs = Input(shape=(4,))
    outputs = layers.Dense(1, name="head")(layers.Dense(3, name="body")(inputs))
    model = densenn.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, Y, epochs=1, verbose=0,
              callbacks=[callbacks.TensorBoard(tmp_path, histogram_freq=1, write_images=True)])
    k_in = keras.Input(shape=(4,))
    theirs = keras.Model(k_in, keras.layers.Dense(1, name="head")(keras.layers.Dense(3, name="body")(k_in)))
    train = load(tmp_path / "train")
    assert train.Tags()["histograms"] == [f"{w.path}/histogram" for w in theirs.weights]
    # a (4, 3) kernel has more rows than columns: Keras draws it transposed
    from PIL import Image

    event, = train.Images("body/kernel/image")
    pixels = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))[..., 0]
    kernel = model.get_layer("body").get_weights()[0]
    np.testing.assert_array_equal(pixels, np.clip(kernel.T * 255.5, 0, 255).astype(np.uint8))


def test_initial_epoch_and_a_second_fit_continue_the_epoch_steps(tmp_path):
    model = model_4_8_1()
    board = callbacks.TensorBoard(tmp_path)
    first = model.fit(X, Y, epochs=2, verbose=0, callbacks=[board])
    second = model.fit(X, Y, epochs=4, initial_epoch=2, verbose=0, callbacks=[board])
    written = scalars(load(tmp_path / "train"), "epoch_loss")
    assert_series(written, dict(enumerate(first.history["loss"] + second.history["loss"])))


@pytest.mark.parametrize("arguments, message", [
    (dict(profile_batch=5), r"Profiling is not available.*profile_batch=5 \(must be 0\)"),
    (dict(profile_batch=(2, 4)), r"profile_batch=\(2, 4\) \(must be 0\)"),
    (dict(embeddings_freq=1), r"Embedding layers.*embeddings_freq=1 \(must be 0\)"),
    (dict(update_freq="sometimes"), r"update_freq must be 'epoch', 'batch' or an integer >= 1.*'sometimes'"),
    (dict(update_freq=0), r"update_freq must be .* got 0"),
    (dict(update_freq=True), r"update_freq must be .* got True"),
    (dict(histogram_freq=-1), r"histogram_freq must be an integer >= 0.* got -1"),
    (dict(histogram_freq=0.5), r"histogram_freq must be an integer >= 0.* got 0.5"),
    (dict(write_graph="yes"), r"write_graph: expected True or False, got 'yes'"),
    (dict(log_dir=3), r"log_dir must be a path .* got 3"),
])
def test_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        callbacks.TensorBoard(**arguments)


def test_without_tensorboardx_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"pip install tensorboardX"):
        callbacks.TensorBoard()


def test_a_model_without_json_trains_with_a_warning(tmp_path):
    inputs = Input(shape=(4,))
    hidden = layers.Dense(3)(inputs)
    model = densenn.Model(inputs, [hidden, layers.Dense(1)(hidden)])  # two outputs: no JSON in densenn
    board = callbacks.TensorBoard(tmp_path)
    board.set_model(model)
    with pytest.warns(UserWarning, match="Model failed to serialize as JSON. Ignoring"):
        board.on_train_begin({})
    board.on_train_end({})


# ----------------------------------------------------------------------------------------- a real TensorBoard
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode())


def test_a_real_tensorboard_server_serves_the_history(trained, tmp_path):
    pytest.importorskip("tensorboard.main")
    _, log_dir, history, _, _ = trained
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "tensorboard.log", "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(log_dir),
                                   "--host", "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
                                  stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline, tags = time.monotonic() + 120, {}
        while time.monotonic() < deadline:  # until it listens and has read both runs' scalars
            assert server.poll() is None, (tmp_path / "tensorboard.log").read_text()
            try:
                tags = _get_json(f"{base}/data/plugin/scalars/tags")
            except OSError:
                tags = {}
            if "epoch_loss" in tags.get("train", {}) and "epoch_loss" in tags.get("validation", {}):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"tensorboard did not serve the runs within 120 s; it answered {tags}; its log: "
                        f"{(tmp_path / 'tensorboard.log').read_text()}")
        for run, prefix in (("train", ""), ("validation", "val_")):
            for name in ("loss", "accuracy"):
                query = urllib.parse.urlencode({"run": run, "tag": f"epoch_{name}"})
                points = _get_json(f"{base}/data/plugin/scalars/scalars?{query}")  # [[wall time, step, value]]
                assert [step for _, step, _ in points] == [0, 1, 2, 3]
                np.testing.assert_allclose([value for _, _, value in points], history[prefix + name], rtol=1e-6)
        graphs = _get_json(f"{base}/data/plugin/graphs/info")
        assert graphs["train"]["tags"]["keras"]["conceptual_graph"] is True
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)
