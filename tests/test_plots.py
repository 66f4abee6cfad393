"""utils.plot_model (graphviz through pydot as Keras, or matplotlib), utils.model_to_dot against real Keras', and
utils.plot_history: the files written (format, size), the boxes' texts, and the curves' data against History."""
import shutil
import warnings
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

import densenn
from densenn import Input, Sequential, callbacks, layers, utils, visualization

matplotlib = pytest.importorskip("matplotlib")
pytest.importorskip("pydot")
from matplotlib import image as mpimg  # noqa: E402

RNG = np.random.default_rng(11)
X = RNG.normal(size=(80, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.float32)
PNG, PDF = b"\x89PNG\r\n\x1a\n", b"%PDF"
EVERYTHING = dict(show_shapes=True, show_dtype=True, show_layer_names=True, show_layer_activations=True,
                  show_trainable=True)


def network():
    utils.set_random_seed(2)
    return Sequential([Input(shape=(4,)), layers.Dense(16, activation="relu", name="hidden"),
                       layers.Dropout(0.2, name="drop"), layers.Dense(1, activation="sigmoid", name="output")])


def trained(**fit_arguments):
    model = network()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model, model.fit(X, Y, batch_size=16, verbose=0, **fit_arguments)


@pytest.fixture
def matplotlib_route(monkeypatch):
    """plot_model as on a machine without graphviz."""
    monkeypatch.setattr(visualization, "_graphviz_available", lambda: False)


def svg_texts(path):
    """The text of every <text> element of an SVG file, in order."""
    return ["".join(element.itertext()) for element in ElementTree.parse(path).iter()
            if element.tag.endswith("}text")]


# ----------------------------------------------------------------------------------------- plot_model, matplotlib
def test_matplotlib_png_is_written_at_the_asked_resolution(matplotlib_route, tmp_path):
    model = network()
    result = utils.plot_model(model, tmp_path / "a.png", show_shapes=True, dpi=100)
    double = utils.plot_model(model, str(tmp_path / "b.png"), show_shapes=True, dpi=200)
    small, large = mpimg.imread(tmp_path / "a.png"), mpimg.imread(tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes().startswith(PNG)
    assert small.ndim == 3 and small.shape[2] in (3, 4)
    assert abs(large.shape[0] - 2 * small.shape[0]) <= 2 and abs(large.shape[1] - 2 * small.shape[1]) <= 2
    assert small.min() < 0.1 and small.max() > 0.9  # black boxes and arrows on white
    try:
        import IPython  # noqa: F401
    except ImportError:
        assert result is None and double is None
    else:  # as Keras: an Image a notebook shows
        assert result.data == (tmp_path / "a.png").read_bytes()


def test_matplotlib_boxes_say_what_was_asked(matplotlib_route, tmp_path):
    model = network()
    utils.plot_model(model, tmp_path / "all.svg", **EVERYTHING)
    texts = svg_texts(tmp_path / "all.svg")
    # each box's pieces, in order: name, class, activation, shapes, dtype, trainable (Dropout has no weights)
    assert texts == [
        "hidden", "(Dense)", "Activation:", "relu", "Input shape:", "(None, 4)", "Output shape:", "(None, 16)",
        "Output dtype:", "float32", "Trainable",
        "drop", "(Dropout)", "Input shape:", "(None, 16)", "Output shape:", "(None, 16)", "Output dtype:", "float32",
        "output", "(Dense)", "Activation:", "sigmoid", "Input shape:", "(None, 16)", "Output shape:", "(None, 1)",
        "Output dtype:", "float32", "Trainable"]
    utils.plot_model(model, tmp_path / "plain.svg")  # Keras' defaults: the classes only
    assert svg_texts(tmp_path / "plain.svg") == ["Dense", "Dropout", "Dense"]
    model.layers[0].trainable = False
    utils.plot_model(model, tmp_path / "frozen.svg", show_trainable=True)
    assert svg_texts(tmp_path / "frozen.svg") == ["Dense", "Non-trainable", "Dropout", "Dense", "Trainable"]


def test_matplotlib_formats_from_the_suffix_and_directions(matplotlib_route, tmp_path):
    model = network()
    utils.plot_model(model, tmp_path / "m.pdf", show_shapes=True)
    assert (tmp_path / "m.pdf").read_bytes().startswith(PDF)
    utils.plot_model(model, tmp_path / "no_suffix", show_shapes=True)
    assert (tmp_path / "no_suffix").read_bytes().startswith(PNG)  # as Keras: PNG
    sizes = {}
    for rankdir in ("TB", "LR", "BT", "RL"):
        utils.plot_model(model, tmp_path / f"{rankdir}.png", show_shapes=True, rankdir=rankdir, dpi=72)
        sizes[rankdir] = mpimg.imread(tmp_path / f"{rankdir}.png").shape[:2]
    assert sizes["TB"] == sizes["BT"] and sizes["LR"] == sizes["RL"]
    (tb_height, tb_width), (lr_height, lr_width) = sizes["TB"], sizes["LR"]
    assert tb_height > 2.5 * lr_height and lr_width > 2.5 * tb_width  # three boxes stacked, or side by side


def test_a_model_without_layers_is_a_blank_picture(matplotlib_route, tmp_path):
    utils.plot_model(Sequential([Input(shape=(4,))]), tmp_path / "empty.png", dpi=72)
    picture = mpimg.imread(tmp_path / "empty.png")
    assert picture.shape[:2] == (16, 16) and picture.min() == 1.0  # the margins, white


def test_matplotlib_functional_model_shows_its_input_layer(matplotlib_route, tmp_path):
    inputs = Input(shape=(3,), name="features")
    model = densenn.Model(inputs, layers.Dense(2, name="scores")(inputs))
    utils.plot_model(model, tmp_path / "f.svg", show_shapes=True, show_layer_names=True)
    assert svg_texts(tmp_path / "f.svg") == ["features", "(InputLayer)", "Output shape:", "(None, 3)",
                                             "scores", "(Dense)", "Input shape:", "(None, 3)", "Output shape:",
                                             "(None, 2)"]


# ----------------------------------------------------------------------------------------- graphviz, as Keras
def test_model_to_dot_labels_equal_keras(keras):
    ours = network()
    theirs = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(16, activation="relu", name="hidden"),
                               keras.layers.Dropout(0.2, name="drop"),
                               keras.layers.Dense(1, activation="sigmoid", name="output")])
    for options in (EVERYTHING, {}, dict(show_shapes=True, show_layer_names=False), dict(show_trainable=True)):
        mine, reference = utils.model_to_dot(ours, **options), keras.utils.model_to_dot(theirs, **options)
        assert [n.get("label") for n in mine.get_nodes()] == [n.get("label") for n in reference.get_nodes()]
        assert mine.get_attributes() == reference.get_attributes()
        assert len(mine.get_edges()) == len(reference.get_edges()) == 2
    source = utils.model_to_dot(ours, rankdir="LR", dpi=96, show_shapes=True).to_string()
    assert "rankdir=LR" in source and "dpi=96" in source and "<b>(None, 16)</b>" in source
    cluster = utils.model_to_dot(ours, subgraph=True)
    assert cluster.get_name() == f"cluster_{ours.name}" and cluster.get("label") == ours.name


def test_names_are_text_for_either_route(matplotlib_route, tmp_path):
    model = Sequential([Input(shape=(2,)), layers.Dense(1, name="a<b>&c $x")])
    assert "a&lt;b&gt;&amp;c $x" in utils.model_to_dot(model, show_layer_names=True).to_string()
    utils.plot_model(model, tmp_path / "m.svg", show_layer_names=True)  # not HTML, not mathtext
    assert svg_texts(tmp_path / "m.svg") == ["a<b>&c $x", "(Dense)"]


@pytest.mark.skipif(not visualization._graphviz_available(), reason="graphviz's dot program is not installed "
                    "(a system package, not a Python one): plot_model draws with matplotlib there")
def test_graphviz_route_writes_what_dot_draws(tmp_path):
    model = network()
    utils.plot_model(model, tmp_path / "g.svg", **EVERYTHING)
    source = (tmp_path / "g.svg").read_text()
    assert "Generated by graphviz" in source
    texts = " ".join(svg_texts(tmp_path / "g.svg"))
    for text in ("hidden", "(Dense)", "Activation:", "relu", "(None, 4)", "(None, 16)", "float32", "Trainable"):
        assert text in texts
    utils.plot_model(model, tmp_path / "g.png", show_shapes=True, dpi=100)
    assert (tmp_path / "g.png").read_bytes().startswith(PNG) and mpimg.imread(tmp_path / "g.png").shape[0] > 100


def test_graphviz_check_is_keras_check():
    assert visualization._graphviz_available() == (shutil.which("dot") is not None)


@pytest.mark.parametrize("call, message", [
    (lambda m, p: utils.plot_model(Sequential([layers.Dense(2)]), p), "This model has not yet been built"),
    (lambda m, p: utils.plot_model("model", p), "expected a densenn model"),
    (lambda m, p: utils.plot_model(m, p, rankdir="UP"), "rankdir must be one of 'TB', 'LR', 'BT', 'RL'.*'UP'"),
    (lambda m, p: utils.plot_model(m, p, dpi=0), "dpi must be a positive number, got 0"),
    (lambda m, p: utils.plot_model(m, p, layer_range=("a", "b")), "Argument `layer_range` is no longer supported"),
    (lambda m, p: utils.plot_model(m, p, colour="red"), r"Unrecognized keyword arguments: \{'colour': 'red'\}"),
    (lambda m, p: utils.plot_model(m, 3), "to_file must be a path"),
    (lambda m, p: utils.model_to_dot(m, rankdir="tb"), "rankdir must be one of"),
])
def test_plot_model_bad_arguments(call, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        call(network(), tmp_path / "x.png")


def test_matplotlib_unknown_format_is_a_clear_error(matplotlib_route, tmp_path):
    with pytest.raises(ValueError, match="Format 'xyz' is not supported"):
        utils.plot_model(network(), tmp_path / "m.xyz")


# ----------------------------------------------------------------------------------------- plot_history
def lines_of(axis):
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axis.lines}


def test_history_curves_equal_history_values():
    _, history = trained(epochs=5, validation_split=0.25)
    figure = utils.plot_history(history)
    try:
        assert isinstance(figure, matplotlib.figure.Figure)
        assert [axis.get_title() for axis in figure.axes] == ["loss", "accuracy"]
        for axis in figure.axes:
            name = axis.get_title()
            assert lines_of(axis) == {"training": ([1, 2, 3, 4, 5], history.history[name]),
                                      "validation": ([1, 2, 3, 4, 5], history.history["val_" + name])}
            assert axis.get_xlabel() == "epoch" and axis.get_ylabel() == name
            assert [t.get_text() for t in axis.get_legend().get_texts()] == ["training", "validation"]
        same = utils.plot_history(history.history)  # the dict draws the same curves
        assert [lines_of(a) for a in same.axes] == [lines_of(a) for a in figure.axes]
        matplotlib.pyplot.close(same)
    finally:
        matplotlib.pyplot.close(figure)


def test_history_choice_of_metrics_size_and_file(tmp_path):
    _, history = trained(epochs=3)
    figure = utils.plot_history(history, metrics="accuracy", figsize=(4, 3))
    try:
        axis, = figure.axes
        assert lines_of(axis) == {"training": ([1, 2, 3], history.history["accuracy"])}
        assert axis.get_legend() is None  # one curve, no legend
        figure.savefig(tmp_path / "h.png", dpi=50)
        assert mpimg.imread(tmp_path / "h.png").shape[:2] == (150, 200)
    finally:
        matplotlib.pyplot.close(figure)


def test_history_epochs_follow_initial_epoch_and_learning_rate_gets_an_axis():
    model, _ = trained(epochs=2)
    history = model.fit(X, Y, epochs=5, initial_epoch=2, verbose=0,
                        callbacks=[callbacks.LearningRateScheduler(lambda epoch: 0.01 / (epoch + 1))])
    figure = utils.plot_history(history)
    try:
        assert [axis.get_title() for axis in figure.axes] == ["loss", "accuracy", "learning_rate"]
        x, y = lines_of(figure.axes[2])["training"]
        assert x == [3, 4, 5]
        np.testing.assert_allclose(y, [0.01 / 3, 0.01 / 4, 0.01 / 5], rtol=1e-6)
    finally:
        matplotlib.pyplot.close(figure)


def test_history_grid_for_many_quantities():
    history = {name: [1.0, 0.5] for name in ("loss", "a", "b", "c")}
    figure = utils.plot_history(history)
    try:
        assert len(figure.axes) == 4  # a 2 x 3 grid, the two empty places removed
        assert figure.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 3)
    finally:
        matplotlib.pyplot.close(figure)


def test_history_validation_every_few_epochs_is_left_out_with_a_warning():
    _, history = trained(epochs=4, validation_split=0.25, validation_freq=2)
    with pytest.warns(UserWarning, match=r"'val_loss' has 2 values for 4 epochs"):
        figure = utils.plot_history(history, metrics="loss")
    try:
        assert list(lines_of(figure.axes[0])) == ["training"]
    finally:
        matplotlib.pyplot.close(figure)


@pytest.mark.parametrize("history, arguments, message", [
    (42, {}, "expected a History"),
    ({}, {}, "no epochs to plot"),
    ({"loss": []}, {}, "no epochs to plot"),
    ({"loss": ["high"]}, {}, r"history\['loss'\] must be a list of numbers"),
    ({"loss": [1.0, 2.0], "accuracy": [0.5]}, {}, "different numbers of epochs"),
    ({"loss": [1.0]}, {"metrics": ["auc"]}, r"'auc' is not in the history; it has 'loss'"),
    ({"loss": [1.0], "val_loss": [1.0]}, {"metrics": "val_loss"}, "validation values are drawn with 'loss'"),
    ({"loss": [1.0]}, {"metrics": 3}, "metrics must be a name or a list of names"),
    ({"loss": [1.0]}, {"figsize": (4,)}, r"figsize must be \(width, height\)"),
])
def test_history_bad_arguments(history, arguments, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=message):
            utils.plot_history(history, **arguments)
