"""Keras' own example ``mnist_mlp.py`` (Keras 2): a 512-512-10 MLP with dropout trained with RMSprop on MNIST,
its summary, and the test loss and accuracy.

Source: github.com/keras-team/keras, examples/mnist_mlp.py (commit 10bfb1c565582803982e2205d41b095bc929d4a4).
Changed:
- imports: ``from keras.datasets import mnist``, ``from keras.models import Sequential``, ``from keras.layers
  import Dense, Dropout, Activation``, ``from keras.optimizers import RMSprop`` -> ``densenn``; ``from keras.utils
  import np_utils`` (Keras 2's module) -> ``from densenn import utils as np_utils`` (the Keras run: ``from keras
  import utils as np_utils``);
- data: densenn's bundled MNIST (8,000 / 2,000 images): ``reshape(60000, 784)`` / ``reshape(10000, 784)`` ->
  ``reshape(8000, 784)`` / ``reshape(2000, 784)``;
- training shortened: 20 epochs -> 1.
"""
import pytest

SOURCE = '''
from __future__ import print_function
import numpy as np
np.random.seed(1337)  # for reproducibility

from densenn.datasets import mnist
from densenn.models import Sequential
from densenn.layers import Dense, Dropout, Activation
from densenn.optimizers import RMSprop
from densenn import utils as np_utils


batch_size = 128
num_classes = 10
epochs = 1

# the data, shuffled and split between train and test sets
(x_train, y_train), (x_test, y_test) = mnist.load_data()

x_train = x_train.reshape(8000, 784)
x_test = x_test.reshape(2000, 784)
x_train = x_train.astype('float32')
x_test = x_test.astype('float32')
x_train /= 255
x_test /= 255
print(x_train.shape[0], 'train samples')
print(x_test.shape[0], 'test samples')

# convert class vectors to binary class matrices
y_train = np_utils.to_categorical(y_train, num_classes)
y_test = np_utils.to_categorical(y_test, num_classes)

model = Sequential()
model.add(Dense(512, activation='relu', input_shape=(784,)))
model.add(Dropout(0.2))
model.add(Dense(512, activation='relu'))
model.add(Dropout(0.2))
model.add(Dense(10, activation='softmax'))

# %% summary
model.summary()
# %%
model.compile(loss='categorical_crossentropy',
              optimizer=RMSprop(),
              metrics=['accuracy'])

history = model.fit(x_train, y_train,
                    batch_size=batch_size, epochs=epochs,
                    verbose=1, validation_data=(x_test, y_test))
score = model.evaluate(x_test, y_test, verbose=0)
print('Test loss:', score[0])
print('Test accuracy:', score[1])
'''


def check(nb):
    assert "8000 train samples" in nb.output and "2000 test samples" in nb.output
    assert "Total params: 669,706" in nb.printed["summary"]
    assert list(nb["history"].history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert nb["score"][1] > 0.88                           # the example: 98.40% after 20 epochs on 60,000
    assert "Test accuracy:" in nb.output


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    assert d.printed["summary"] == k.printed["summary"]
    assert d["score"][1] == pytest.approx(k["score"][1], abs=0.03)
    assert d["score"][0] == pytest.approx(k["score"][0], rel=0.4)
