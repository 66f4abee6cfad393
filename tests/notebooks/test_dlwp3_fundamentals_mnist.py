"""Deep Learning with Python, 3rd edition, chapter 5 (fundamentals of machine learning), the MNIST experiments:
noise vs. zero channels, fitting random labels, a learning rate that is too high and one that works.

Source: github.com/fchollet/deep-learning-with-python-notebooks, chapter05_fundamentals-of-ml.ipynb, cells
"adding white-noise / all-zeros channels", "fitting an MNIST model with randomly shuffled labels", "training
with an incorrectly high learning rate" and "the same model with a more appropriate learning rate".
Changed:
- imports: ``import keras`` / ``from keras import layers`` / ``from keras.datasets import mnist`` -> ``densenn``;
- data: densenn's bundled MNIST (8,000 training images): the literal reshapes ``(60000, 28 * 28)`` ->
  ``(8000, 28 * 28)``;
- trainings shortened: 10 epochs -> 1 (noise/zeros, learning rates), 100 -> 1 (random labels).
"""
import numpy as np
import pytest

SOURCE = '''
from densenn.datasets import mnist
import numpy as np

(train_images, train_labels), _ = mnist.load_data()
train_images = train_images.reshape((8000, 28 * 28))
train_images = train_images.astype("float32") / 255

train_images_with_noise_channels = np.concatenate(
    [train_images, np.random.random((len(train_images), 784))], axis=1
)

train_images_with_zeros_channels = np.concatenate(
    [train_images, np.zeros((len(train_images), 784))], axis=1
)
import densenn as keras
from densenn import layers

def get_model():
    model = keras.Sequential(
        [
            layers.Dense(512, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model

model = get_model()
history_noise = model.fit(
    train_images_with_noise_channels,
    train_labels,
    epochs=1,
    batch_size=128,
    validation_split=0.2,
)

model = get_model()
history_zeros = model.fit(
    train_images_with_zeros_channels,
    train_labels,
    epochs=1,
    batch_size=128,
    validation_split=0.2,
)
import matplotlib.pyplot as plt

val_acc_noise = history_noise.history["val_accuracy"]
val_acc_zeros = history_zeros.history["val_accuracy"]
epochs = range(1, 2)
plt.plot(
    epochs,
    val_acc_noise,
    "b-",
    label="Validation accuracy with noise channels",
)
plt.plot(
    epochs,
    val_acc_zeros,
    "r--",
    label="Validation accuracy with zeros channels",
)
plt.title("Effect of noise channels on validation accuracy")
plt.xlabel("Epochs")
plt.xticks(epochs)
plt.ylabel("Accuracy")
plt.legend()
plt.show()
# %% random_labels
(train_images, train_labels), _ = mnist.load_data()
train_images = train_images.reshape((8000, 28 * 28))
train_images = train_images.astype("float32") / 255

random_train_labels = train_labels[:]
np.random.shuffle(random_train_labels)

model = keras.Sequential(
    [
        layers.Dense(512, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ]
)
model.compile(
    optimizer="rmsprop",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
history = model.fit(
    train_images,
    random_train_labels,
    epochs=1,
    batch_size=128,
    validation_split=0.2,
)
# %% high_lr
(train_images, train_labels), _ = mnist.load_data()
train_images = train_images.reshape((8000, 28 * 28))
train_images = train_images.astype("float32") / 255

model = keras.Sequential(
    [
        layers.Dense(512, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ]
)
model.compile(
    optimizer=keras.optimizers.RMSprop(learning_rate=1.0),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
history = model.fit(
    train_images, train_labels, epochs=1, batch_size=128, validation_split=0.2
)
# %% good_lr
model = keras.Sequential(
    [
        layers.Dense(512, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ]
)
model.compile(
    optimizer=keras.optimizers.RMSprop(learning_rate=1e-2),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
history = model.fit(
    train_images, train_labels, epochs=1, batch_size=128, validation_split=0.2
)
'''


def val_accuracy(nb, cell):
    return nb.cells[cell]["history"].history["val_accuracy"][-1]


def check(nb):
    assert nb["train_images_with_noise_channels"].shape == (8000, 1568)
    assert nb["val_acc_noise"][-1] > 0.75 and nb["val_acc_zeros"][-1] > 0.8
    assert val_accuracy(nb, "random_labels") < 0.2         # nothing to generalise from shuffled labels
    assert val_accuracy(nb, "good_lr") > 0.75
    assert val_accuracy(nb, "high_lr") < val_accuracy(nb, "good_lr") - 0.15


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    assert d["val_acc_noise"][-1] == pytest.approx(k["val_acc_noise"][-1], abs=0.04)
    assert d["val_acc_zeros"][-1] == pytest.approx(k["val_acc_zeros"][-1], abs=0.03)
    assert val_accuracy(d, "good_lr") == pytest.approx(val_accuracy(k, "good_lr"), abs=0.05)
    assert val_accuracy(d, "random_labels") == pytest.approx(val_accuracy(k, "random_labels"), abs=0.06)
