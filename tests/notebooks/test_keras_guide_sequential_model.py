"""Keras guide "The Sequential model" (keras.io/guides/sequential_model): a stack of Dense layers called on
data, built from a list or with add()/pop(), layers' weights created on first call, summaries with and without a
known input shape.

Source: github.com/keras-team/keras-io, guides/sequential_model.py (Keras 3 version: ``import keras``,
``from keras import layers``; ``tf`` only for ``tf.ones``).
Changed: imports only: ``import keras`` / ``from keras import layers`` -> ``densenn``; ``import tensorflow as
tf`` -> ``import numpy as tf`` (the guide uses TensorFlow only to make ``tf.ones`` inputs).
Left out (out of scope): the Conv2D/MaxPooling2D debugging workflow, feature extraction from Conv2D layers,
and the transfer-learning sketches (pseudo-code with ``...`` arguments).
"""
import pytest

SETUP = '''
import numpy as tf
import densenn as keras
from densenn import layers
'''

BUILDING = SETUP + '''
# %% called
# Define Sequential model with 3 layers
model = keras.Sequential(
    [
        layers.Dense(2, activation="relu", name="layer1"),
        layers.Dense(3, activation="relu", name="layer2"),
        layers.Dense(4, name="layer3"),
    ]
)
# Call model on a test input
x = tf.ones((3, 3))
y = model(x)
# %% list
model = keras.Sequential(
    [
        layers.Dense(2, activation="relu"),
        layers.Dense(3, activation="relu"),
        layers.Dense(4),
    ]
)
model.layers
# %% popped
model = keras.Sequential()
model.add(layers.Dense(2, activation="relu"))
model.add(layers.Dense(3, activation="relu"))
model.add(layers.Dense(4))
model.pop()
print(len(model.layers))  # 2
# %% named
model = keras.Sequential(name="my_sequential")
model.add(layers.Dense(2, activation="relu", name="layer1"))
model.add(layers.Dense(3, activation="relu", name="layer2"))
model.add(layers.Dense(4, name="layer3"))
# %% input
model = keras.Sequential()
model.add(keras.Input(shape=(4,)))
model.add(layers.Dense(2, activation="relu"))

model.summary()
# %% input_layers
model.layers
# %% input_shape
model = keras.Sequential()
model.add(layers.Dense(2, activation="relu", input_shape=(4,)))

model.summary()
'''
SOURCE = BUILDING

LAYER_CALLS = SETUP + '''
# Create 3 layers
layer1 = layers.Dense(2, activation="relu", name="layer1")
layer2 = layers.Dense(3, activation="relu", name="layer2")
layer3 = layers.Dense(4, name="layer3")

# Call layers on a test input
x = tf.ones((3, 3))
y = layer3(layer2(layer1(x)))
# %% empty
layer = layers.Dense(3)
layer.weights  # Empty
# %% created
# Call layer on a test input
x = tf.ones((1, 4))
y = layer(x)
layer.weights  # Now it has weights, of shape (4, 3) and (3,)
'''

WEIGHTS_ON_CALL = SETUP + '''
model = keras.Sequential(
    [
        layers.Dense(2, activation="relu"),
        layers.Dense(3, activation="relu"),
        layers.Dense(4),
    ]
)  # No weights at this stage!

# At this point, you can't do this:
# model.weights

# You also can't do this:
# model.summary()

# Call the model on a test input
x = tf.ones((1, 4))
y = model(x)
print("Number of weights after calling the model:", len(model.weights))  # 6
model.summary()
'''


def check_building(nb):
    assert tuple(nb.cells["called"]["y"].shape) == (3, 4)
    assert len(nb.out["list"]) == 3 and len(nb.out["input_layers"]) == 1
    assert len(nb.cells["popped"]["model"].layers) == 2
    assert nb.cells["named"]["model"].name == "my_sequential"
    assert [layer.name for layer in nb.cells["named"]["model"].layers] == ["layer1", "layer2", "layer3"]


def test_building_keras(run):
    check_building(run("keras"))


def test_building_densenn(run):
    check_building(run("densenn"))


def test_building_matches_keras(run):
    d, k = run("densenn"), run("keras")
    assert d.output == k.output                    # print(len(model.layers)) and both summaries, exactly
    assert [w.shape for w in d.cells["called"]["model"].get_weights()] == \
        [tuple(w.shape) for w in k.cells["called"]["model"].get_weights()]


def check_layer_calls(nb):
    assert tuple(nb["y"].shape) == (1, 3)
    assert len(nb.out["empty"]) == 0
    assert [tuple(w.shape) for w in nb.out["created"]] == [(4, 3), (3,)]


def test_layer_calls_keras(run):
    check_layer_calls(run("keras", LAYER_CALLS))


def test_layer_calls_densenn(run):
    check_layer_calls(run("densenn", LAYER_CALLS))


def test_weights_on_call_keras(run):
    assert "Number of weights after calling the model: 6" in run("keras", WEIGHTS_ON_CALL).output


def test_weights_on_call_densenn(run):
    d = run("densenn", WEIGHTS_ON_CALL)
    assert "Number of weights after calling the model: 6" in d.output
    assert d.output == run("keras", WEIGHTS_ON_CALL).output
