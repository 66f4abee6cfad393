"""Deep Learning with Python, 3rd edition, chapter 4: classifying movie reviews (IMDB), binary classification.

Source: github.com/fchollet/deep-learning-with-python-notebooks, chapter04_classification-and-regression.ipynb,
the IMDB cells (loading, decoding, multi-hot encoding, the 16-16-1 network, validation, retraining, predict).
Changed:
- imports: ``import keras`` / ``from keras import layers`` -> ``import densenn as keras`` /
  ``from densenn import layers``;
- data: ``from keras.datasets import imdb`` -> ``from notebook_data import imdb``: synthetic reviews in IMDB's
  layout at a tenth of its size (2,500 train / 2,500 test, a 1,000-word vocabulary); the cells' literal sizes
  scale with it: ``num_words``/``num_classes`` 10000 -> 1000, the validation split ``[:10000]`` -> ``[:1000]``;
- trainings as in the book (20, 20 and 4 epochs); plots drawn to Matplotlib's Agg backend.
"""
import numpy as np
import pytest

SOURCE = '''
from notebook_data import imdb

(train_data, train_labels), (test_data, test_labels) = imdb.load_data(
    num_words=1000
)
train_data[0]
train_labels[0]
max([max(sequence) for sequence in train_data])
word_index = imdb.get_word_index()
reverse_word_index = dict([(value, key) for (key, value) in word_index.items()])
decoded_review = " ".join(
    [reverse_word_index.get(i - 3, "?") for i in train_data[0]]
)
decoded_review[:100]

import numpy as np

def multi_hot_encode(sequences, num_classes):
    results = np.zeros((len(sequences), num_classes))
    for i, sequence in enumerate(sequences):
        results[i][sequence] = 1.0
    return results

x_train = multi_hot_encode(train_data, num_classes=1000)
x_test = multi_hot_encode(test_data, num_classes=1000)
x_train[0]
y_train = train_labels.astype("float32")
y_test = test_labels.astype("float32")

import densenn as keras
from densenn import layers

model = keras.Sequential(
    [
        layers.Dense(16, activation="relu"),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(
    optimizer="adam",
    loss="binary_crossentropy",
    metrics=["accuracy"],
)
# %% validation
x_val = x_train[:1000]
partial_x_train = x_train[1000:]
y_val = y_train[:1000]
partial_y_train = y_train[1000:]
history = model.fit(
    partial_x_train,
    partial_y_train,
    epochs=20,
    batch_size=512,
    validation_data=(x_val, y_val),
)
# %%
history = model.fit(
    x_train,
    y_train,
    epochs=20,
    batch_size=512,
    validation_split=0.2,
)
history_dict = history.history
history_dict.keys()

import matplotlib.pyplot as plt

history_dict = history.history
loss_values = history_dict["loss"]
val_loss_values = history_dict["val_loss"]
epochs = range(1, len(loss_values) + 1)
plt.plot(epochs, loss_values, "r--", label="Training loss")
plt.plot(epochs, val_loss_values, "b", label="Validation loss")
plt.title("[IMDB] Training and validation loss")
plt.xlabel("Epochs")
plt.xticks(epochs)
plt.ylabel("Loss")
plt.legend()
plt.show()

plt.clf()
acc = history_dict["accuracy"]
val_acc = history_dict["val_accuracy"]
plt.plot(epochs, acc, "r--", label="Training acc")
plt.plot(epochs, val_acc, "b", label="Validation acc")
plt.title("[IMDB] Training and validation accuracy")
plt.xlabel("Epochs")
plt.xticks(epochs)
plt.ylabel("Accuracy")
plt.legend()
plt.show()

# %%
model = keras.Sequential(
    [
        layers.Dense(16, activation="relu"),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(
    optimizer="adam",
    loss="binary_crossentropy",
    metrics=["accuracy"],
)
model.fit(x_train, y_train, epochs=4, batch_size=512)
results = model.evaluate(x_test, y_test)
results
predictions = model.predict(x_test)
'''


def check(nb):
    """What the chapter shows: the network learns the training set ever better (~88% on test reviews in the book),
    validation stops improving while training goes on, and it predicts probabilities."""
    h = nb.cells["validation"]["history"].history
    assert list(h) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 20 for v in h.values())
    assert h["loss"][-1] < 0.6 * h["loss"][0] and h["accuracy"][-1] > 0.9 and h["val_accuracy"][-1] > 0.85
    again = nb["history"].history  # 20 more epochs on 80% of the data: overfits
    assert len(again["val_loss"]) == 20 and int(np.argmin(again["val_loss"])) < 19
    loss, accuracy = nb["results"]
    assert accuracy > 0.85 and loss < 0.6
    p = nb["predictions"]
    assert p.shape == (2500, 1) and p.min() >= 0 and p.max() <= 1


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    assert list(d["history_dict"].keys()) == list(k["history_dict"].keys())
    assert d["predictions"].shape == k["predictions"].shape
    # from different initial weights (run-to-run spread of either: validation loss +-0.01, first epochs' pace
    # varies): validation and test accuracy within 5 points, losses within a factor 1.5
    hd, hk = d.cells["validation"]["history"].history, k.cells["validation"]["history"].history
    assert hd["val_accuracy"][-1] == pytest.approx(hk["val_accuracy"][-1], abs=0.05)
    assert hd["val_loss"][-1] == pytest.approx(hk["val_loss"][-1], rel=0.5)
    assert d["results"][1] == pytest.approx(k["results"][1], abs=0.05)
    assert d["results"][0] == pytest.approx(k["results"][0], rel=0.5)
