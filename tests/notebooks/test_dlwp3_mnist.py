"""Deep Learning with Python, 3rd edition, chapter 2: the MNIST example (512-relu-softmax, integer labels, Adam),
predictions on the first test digits and the test accuracy.

Source: github.com/fchollet/deep-learning-with-python-notebooks, chapter02_mathematical-building-blocks.ipynb,
the first example's cells (loading, the model, compile, reshaping, fit, predict, evaluate).
Changed:
- imports: ``import keras`` / ``from keras import layers`` / ``from keras.datasets import mnist`` -> ``densenn``;
- data: densenn's bundled MNIST (8,000 train / 2,000 test images, same layout): the literal reshapes
  ``(60000, 28 * 28)`` / ``(10000, 28 * 28)`` -> ``(8000, ...)`` / ``(2000, ...)``;
- training shortened: 5 epochs -> 2.
"""
import numpy as np
import pytest

SOURCE = '''
from densenn.datasets import mnist

(train_images, train_labels), (test_images, test_labels) = mnist.load_data()
train_images.shape
len(train_labels)
train_labels
test_images.shape
len(test_labels)
test_labels
import densenn as keras
from densenn import layers

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
train_images = train_images.reshape((8000, 28 * 28))
train_images = train_images.astype("float32") / 255
test_images = test_images.reshape((2000, 28 * 28))
test_images = test_images.astype("float32") / 255
model.fit(train_images, train_labels, epochs=2, batch_size=128)
test_digits = test_images[0:10]
predictions = model.predict(test_digits)
predictions[0]
predictions[0].argmax()
predictions[0][7]
test_labels[0]
test_loss, test_acc = model.evaluate(test_images, test_labels)
print(f"test_acc: {test_acc}")
'''


def check(nb):
    p = nb["predictions"]
    assert p.shape == (10, 10) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert (p.argmax(axis=1) == nb["test_labels"][:10]).mean() >= 0.8
    assert nb["test_acc"] > 0.9
    assert "test_acc: " in nb.output


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    assert d["predictions"].shape == k["predictions"].shape
    assert d["test_acc"] == pytest.approx(k["test_acc"], abs=0.02)
    assert d["test_loss"] == pytest.approx(k["test_loss"], rel=0.35)
    # the same digits get the same answers, but for one or two
    assert (d["predictions"].argmax(axis=1) == k["predictions"].argmax(axis=1)).sum() >= 8
