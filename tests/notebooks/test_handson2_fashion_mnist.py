"""Aurélien Géron, Hands-On Machine Learning (2nd edition), chapter 10 "Introduction to artificial neural
networks with Keras": the image classifier with the Sequential API (Flatten 28x28 -> 300 -> 100 -> 10): layers,
summary, ``get_layer``, a layer's weights, compile with SGD, fit with validation data, ``history.params`` /
``epoch`` / ``history``, the learning curves, evaluate, predict, class names of the predictions.

Source: github.com/ageron/handson-ml2, 10_neural_nets_with_keras.ipynb, the setup cell and the cells of "Building
an Image Classifier Using the Sequential API".
Changed:
- imports: ``from tensorflow import keras`` -> ``import densenn as keras``; TensorFlow-only lines left out
  (the Colab ``%tensorflow_version`` magic, ``import tensorflow as tf`` with its version asserts,
  ``tf.__version__``, ``tf.random.set_seed(42)``), and the ``keras.utils.plot_model`` cell (needs pydot and
  Graphviz);
- data: ``keras.datasets.fashion_mnist`` -> ``notebook_data.fashion_mnist``: densenn's bundled MNIST digits
  (same 28x28 uint8 layout and 10 classes; 8,000 training images, so 5,000 validation + 3,000 training);
- training shortened: 30 epochs -> 5.
"""
import numpy as np
import pytest

SOURCE = '''
# Python ≥3.5 is required
import sys
assert sys.version_info >= (3, 5)

# Scikit-Learn ≥0.20 is required
import sklearn
assert sklearn.__version__ >= "0.20"

# Common imports
import numpy as np
import os

# to make this notebook's output stable across runs
np.random.seed(42)

# To plot pretty figures
import matplotlib as mpl
import matplotlib.pyplot as plt
mpl.rc('axes', labelsize=14)
mpl.rc('xtick', labelsize=12)
mpl.rc('ytick', labelsize=12)

# Where to save the figures
PROJECT_ROOT_DIR = "."
CHAPTER_ID = "ann"
IMAGES_PATH = os.path.join(PROJECT_ROOT_DIR, "images", CHAPTER_ID)
os.makedirs(IMAGES_PATH, exist_ok=True)

def save_fig(fig_id, tight_layout=True, fig_extension="png", resolution=300):
    path = os.path.join(IMAGES_PATH, fig_id + "." + fig_extension)
    print("Saving figure", fig_id)
    if tight_layout:
        plt.tight_layout()
    plt.savefig(path, format=fig_extension, dpi=resolution)

import densenn as keras
keras.__version__
import notebook_data
fashion_mnist = notebook_data.fashion_mnist
(X_train_full, y_train_full), (X_test, y_test) = fashion_mnist.load_data()
X_train_full.shape
X_train_full.dtype
X_valid, X_train = X_train_full[:5000] / 255., X_train_full[5000:] / 255.
y_valid, y_train = y_train_full[:5000], y_train_full[5000:]
X_test = X_test / 255.
plt.imshow(X_train[0], cmap="binary")
plt.axis('off')
plt.show()
y_train
class_names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
class_names[y_train[0]]
X_valid.shape
X_test.shape
model = keras.models.Sequential()
model.add(keras.layers.Flatten(input_shape=[28, 28]))
model.add(keras.layers.Dense(300, activation="relu"))
model.add(keras.layers.Dense(100, activation="relu"))
model.add(keras.layers.Dense(10, activation="softmax"))
keras.backend.clear_session()
np.random.seed(42)
model = keras.models.Sequential([
    keras.layers.Flatten(input_shape=[28, 28]),
    keras.layers.Dense(300, activation="relu"),
    keras.layers.Dense(100, activation="relu"),
    keras.layers.Dense(10, activation="softmax")
])
# %% layers
model.layers
# %% summary
model.summary()
# %% hidden1
hidden1 = model.layers[1]
hidden1.name
# %% get_layer
model.get_layer(hidden1.name) is hidden1
# %%
weights, biases = hidden1.get_weights()
weights
weights.shape
biases
biases.shape
model.compile(loss="sparse_categorical_crossentropy",
              optimizer="sgd",
              metrics=["accuracy"])
history = model.fit(X_train, y_train, epochs=5,
                    validation_data=(X_valid, y_valid))
# %% params
history.params
# %%
print(history.epoch)
# %% keys
history.history.keys()
# %%
import pandas as pd

pd.DataFrame(history.history).plot(figsize=(8, 5))
plt.grid(True)
plt.gca().set_ylim(0, 1)
save_fig("keras_learning_curves_plot")
plt.show()
# %% evaluate
model.evaluate(X_test, y_test)
# %% proba
X_new = X_test[:3]
y_proba = model.predict(X_new)
y_proba.round(2)
# %% classes
#y_pred = model.predict_classes(X_new) # deprecated
y_pred = np.argmax(model.predict(X_new), axis=-1)
y_pred
# %% names
np.array(class_names)[y_pred]
# %%
y_new = y_test[:3]
y_new
plt.figure(figsize=(7.2, 2.4))
for index, image in enumerate(X_new):
    plt.subplot(1, 3, index + 1)
    plt.imshow(image, cmap="binary", interpolation="nearest")
    plt.axis('off')
    plt.title(class_names[y_test[index]], fontsize=12)
plt.subplots_adjust(wspace=0.2, hspace=0.5)
save_fig('fashion_mnist_images_plot', tight_layout=False)
plt.show()
'''


def check(nb):
    assert len(nb.out["layers"]) == 4 and nb.out["hidden1"] == "dense"
    assert nb.out["get_layer"] is True
    assert nb["weights"].shape == (784, 300) and nb["biases"].shape == (300,) and not nb["biases"].any()
    assert nb.out["params"] == {"verbose": "auto", "epochs": 5, "steps": 94}  # Keras 3's; the book: 1
    assert list(nb.out["keys"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert "[0, 1, 2, 3, 4]" in nb.output
    loss, accuracy = nb.out["evaluate"]
    assert accuracy > 0.85                                 # digits; the book's Fashion-MNIST: 88% after 30
    assert nb.out["proba"].shape == (3, 10) and len(nb.out["names"]) == 3


def test_keras(run):
    check(run("keras"))



def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    assert d.printed["summary"] == k.printed["summary"]
    assert d.out["params"] == k.out["params"]
    assert list(d.out["keys"]) == list(k.out["keys"])
    assert d.out["evaluate"][1] == pytest.approx(k.out["evaluate"][1], abs=0.03)
    assert d.out["evaluate"][0] == pytest.approx(k.out["evaluate"][0], rel=0.35)
