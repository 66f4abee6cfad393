"""Deep Learning with Python, 1st edition, 2.1: a first look at a neural network (MNIST, 512-relu-softmax),
written for Keras 2 (``input_shape=`` on the first Dense, ``keras.utils.to_categorical``).

Source: github.com/fchollet/deep-learning-with-python-notebooks, first_edition/
2.1-a-first-look-at-a-neural-network.ipynb, every code cell.
Changed:
- imports: ``from keras import models, layers``, ``from keras.utils import to_categorical``, ``from
  keras.datasets import mnist`` -> ``densenn``; ``import keras; keras.__version__`` -> ``import densenn as keras``;
- data: MNIST is densenn's bundled copy (8,000 train / 2,000 test images, the same 28x28 uint8 layout), so the
  cells' literal reshapes ``(60000, 28 * 28)`` / ``(10000, 28 * 28)`` -> ``(8000, ...)`` / ``(2000, ...)``;
- training shortened: 5 epochs -> 2.
"""
import pytest

SOURCE = '''
import densenn as keras
keras.__version__
from densenn.datasets import mnist

(train_images, train_labels), (test_images, test_labels) = mnist.load_data()
train_images.shape
len(train_labels)
train_labels
test_images.shape
len(test_labels)
test_labels
from densenn import models
from densenn import layers

network = models.Sequential()
network.add(layers.Dense(512, activation='relu', input_shape=(28 * 28,)))
network.add(layers.Dense(10, activation='softmax'))
network.compile(optimizer='rmsprop',
                loss='categorical_crossentropy',
                metrics=['accuracy'])
train_images = train_images.reshape((8000, 28 * 28))
train_images = train_images.astype('float32') / 255

test_images = test_images.reshape((2000, 28 * 28))
test_images = test_images.astype('float32') / 255
from densenn.utils import to_categorical

train_labels = to_categorical(train_labels)
test_labels = to_categorical(test_labels)
history = network.fit(train_images, train_labels, epochs=2, batch_size=128)
test_loss, test_acc = network.evaluate(test_images, test_labels)
print('test_acc:', test_acc)
'''


def check(nb):
    assert nb["train_labels"].shape == (8000, 10)
    assert nb["network"].count_params() == 784 * 512 + 512 + 512 * 10 + 10
    h = nb["history"].history
    assert list(h) == ["accuracy", "loss"] and len(h["loss"]) == 2
    assert nb["test_acc"] > 0.9                         # the book: 97.8% after 5 epochs on 60,000 images
    assert "test_acc:" in nb.output


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    assert d["network"].count_params() == k["network"].count_params()
    assert d["test_acc"] == pytest.approx(k["test_acc"], abs=0.02)
    assert d["test_loss"] == pytest.approx(k["test_loss"], rel=0.35)
    assert d["history"].history["loss"][-1] == pytest.approx(k["history"].history["loss"][-1], rel=0.35)
