"""Deep Learning with Python, 3rd edition, chapter 7 (a deep dive on Keras): the Sequential model: building it
from a list or with ``add()``, weights created on ``build()``, ``summary()`` of a named model and of a model
that starts with an ``Input``, grown layer by layer.

Source: github.com/fchollet/deep-learning-with-python-notebooks, chapter07_deep-dive-keras.ipynb, the
Sequential cells (from "import keras" to the summary after adding the last layer).
Changed: imports only (``import keras`` / ``from keras import layers`` -> ``densenn``).
The summaries are compared with Keras' character for character.
"""
import pytest

WEIGHTS = '''
import densenn as keras
from densenn import layers

model = keras.Sequential(
    [
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ]
)
model = keras.Sequential()
model.add(layers.Dense(64, activation="relu"))
model.add(layers.Dense(10, activation="softmax"))
# %% unbuilt
model.weights
# %% built
model.build(input_shape=(None, 3))
model.weights
# %%
model.summary(line_length=80)
'''

SUMMARIES = '''
import densenn as keras
from densenn import layers

# %% named
model = keras.Sequential(name="my_example_model")
model.add(layers.Dense(64, activation="relu", name="my_first_layer"))
model.add(layers.Dense(10, activation="softmax", name="my_last_layer"))
model.build((None, 3))
model.summary(line_length=80)
# %% with_input
model = keras.Sequential()
model.add(keras.Input(shape=(3,)))
model.add(layers.Dense(64, activation="relu"))
model.summary(line_length=80)
# %% grown
model.add(layers.Dense(10, activation="softmax"))
model.summary(line_length=80)
'''
SOURCE = SUMMARIES


def test_summaries_keras(run):
    nb = run("keras")
    assert "my_example_model" in nb.output and "Total params: 906" in nb.output


def test_summaries_densenn(run):
    nb = run("densenn")
    assert nb["model"].count_params() == 3 * 64 + 64 + 64 * 10 + 10
    assert "my_example_model" in nb.output and "Total params: 906" in nb.output


def test_summaries_match_keras(run):
    d, k = run("densenn"), run("keras")
    assert d.output == k.output
    assert [w.shape for w in d["model"].get_weights()] == [tuple(w.shape) for w in k["model"].get_weights()]


def check_weights(nb):
    assert len(nb.out["unbuilt"]) == 0
    assert [tuple(w.shape) for w in nb.out["built"]] == [(3, 64), (64,), (64, 10), (10,)]


def test_weights_keras(run):
    check_weights(run("keras", WEIGHTS))


def test_weights_densenn(run):
    check_weights(run("densenn", WEIGHTS))


def test_weights_match_keras(run):
    d, k = run("densenn", WEIGHTS), run("keras", WEIGHTS)
    assert d.output == k.output
    assert [tuple(w.shape) for w in d.out["built"]] == [tuple(w.shape) for w in k.out["built"]]
