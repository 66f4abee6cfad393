"""Deep Learning with Python, 3rd edition, chapter 4: classifying newswires (Reuters), multiclass classification.

Source: github.com/fchollet/deep-learning-with-python-notebooks, chapter04_classification-and-regression.ipynb,
the Reuters cells (multi-hot inputs, one-hot and integer labels, a top-3 accuracy metric, validation, retraining,
predictions, the random baseline, sparse labels, the 4-unit information bottleneck).
Changed:
- imports: ``import keras`` / ``from keras import layers`` / ``from keras.utils import to_categorical`` ->
  ``densenn``;
- data: ``from keras.datasets import reuters`` -> ``from notebook_data import reuters``: synthetic newswires in
  Reuters' layout (46 unbalanced topics) with 2,000 train / 500 test (Reuters: 8,982 / 2,246) and a 1,000-word
  vocabulary: ``num_words`` and the encoding's ``num_classes`` 10000 -> 1000;
- the ``multi_hot_encode`` helper is the one the notebook defines in its IMDB part; trainings as in the book.
"""
import numpy as np
import pytest

SOURCE = '''
import numpy as np
import matplotlib.pyplot as plt
import densenn as keras
from densenn import layers

def multi_hot_encode(sequences, num_classes):
    results = np.zeros((len(sequences), num_classes))
    for i, sequence in enumerate(sequences):
        results[i][sequence] = 1.0
    return results

from notebook_data import reuters

(train_data, train_labels), (test_data, test_labels) = reuters.load_data(
    num_words=1000
)
len(train_data)
len(test_data)
train_data[10]
word_index = reuters.get_word_index()
reverse_word_index = dict([(value, key) for (key, value) in word_index.items()])
decoded_newswire = " ".join(
    [reverse_word_index.get(i - 3, "?") for i in train_data[10]]
)
train_labels[10]
x_train = multi_hot_encode(train_data, num_classes=1000)
x_test = multi_hot_encode(test_data, num_classes=1000)
# %% one_hot
def one_hot_encode(labels, num_classes=46):
    results = np.zeros((len(labels), num_classes))
    for i, label in enumerate(labels):
        results[i, label] = 1.0
    return results

y_train = one_hot_encode(train_labels)
y_test = one_hot_encode(test_labels)
# %%
from densenn.utils import to_categorical

y_train = to_categorical(train_labels)
y_test = to_categorical(test_labels)
model = keras.Sequential(
    [
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(46, activation="softmax"),
    ]
)
top_3_accuracy = keras.metrics.TopKCategoricalAccuracy(
    k=3, name="top_3_accuracy"
)
model.compile(
    optimizer="adam",
    loss="categorical_crossentropy",
    metrics=["accuracy", top_3_accuracy],
)
x_val = x_train[:1000]
partial_x_train = x_train[1000:]
y_val = y_train[:1000]
partial_y_train = y_train[1000:]
# %% validation
history = model.fit(
    partial_x_train,
    partial_y_train,
    epochs=20,
    batch_size=512,
    validation_data=(x_val, y_val),
)
# %%
loss = history.history["loss"]
val_loss = history.history["val_loss"]
epochs = range(1, len(loss) + 1)
plt.plot(epochs, loss, "r--", label="Training loss")
plt.plot(epochs, val_loss, "b", label="Validation loss")
plt.title("Training and validation loss")
plt.xlabel("Epochs")
plt.xticks(epochs)
plt.ylabel("Loss")
plt.legend()
plt.show()
plt.clf()
acc = history.history["accuracy"]
val_acc = history.history["val_accuracy"]
plt.plot(epochs, acc, "r--", label="Training accuracy")
plt.plot(epochs, val_acc, "b", label="Validation accuracy")
plt.title("Training and validation accuracy")
plt.xlabel("Epochs")
plt.xticks(epochs)
plt.ylabel("Accuracy")
plt.legend()
plt.show()
plt.clf()
acc = history.history["top_3_accuracy"]
val_acc = history.history["val_top_3_accuracy"]
plt.plot(epochs, acc, "r--", label="Training top-3 accuracy")
plt.plot(epochs, val_acc, "b", label="Validation top-3 accuracy")
plt.title("Training and validation top-3 accuracy")
plt.xlabel("Epochs")
plt.xticks(epochs)
plt.ylabel("Top-3 accuracy")
plt.legend()
plt.show()
model = keras.Sequential(
    [
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(46, activation="softmax"),
    ]
)
model.compile(
    optimizer="adam",
    loss="categorical_crossentropy",
    metrics=["accuracy"],
)
model.fit(
    x_train,
    y_train,
    epochs=9,
    batch_size=512,
)
results = model.evaluate(x_test, y_test)
results
import copy
test_labels_copy = copy.copy(test_labels)
np.random.shuffle(test_labels_copy)
hits_array = np.array(test_labels == test_labels_copy)
hits_array.mean()
predictions = model.predict(x_test)
predictions[0].shape
np.sum(predictions[0])
np.argmax(predictions[0])
y_train = train_labels
y_test = test_labels
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
# %% bottleneck
model = keras.Sequential(
    [
        layers.Dense(64, activation="relu"),
        layers.Dense(4, activation="relu"),
        layers.Dense(46, activation="softmax"),
    ]
)
model.compile(
    optimizer="adam",
    loss="categorical_crossentropy",
    metrics=["accuracy"],
)
bottleneck_history = model.fit(
    partial_x_train,
    partial_y_train,
    epochs=20,
    batch_size=128,
    validation_data=(x_val, y_val),
)
'''


def check(nb):
    assert np.array_equal(nb.cells["one_hot"]["y_train"], nb["to_categorical"](nb["train_labels"]))
    h = nb.cells["validation"]["history"].history
    assert list(h) == ["accuracy", "loss", "top_3_accuracy", "val_accuracy", "val_loss", "val_top_3_accuracy"]
    assert all(len(v) == 20 for v in h.values())
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["val_accuracy"][-1] > 0.7 and h["val_top_3_accuracy"][-1] > h["val_accuracy"][-1]
    loss, accuracy = nb["results"]
    assert accuracy > 0.65 and nb["hits_array"].mean() < 0.3       # far above the random baseline
    p = nb["predictions"]
    assert p.shape == (500, 46) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    hb = nb["bottleneck_history"].history
    assert len(hb["val_accuracy"]) == 20


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    hd, hk = d.cells["validation"]["history"].history, k.cells["validation"]["history"].history
    assert list(hd) == list(hk)
    for key in ("val_accuracy", "val_top_3_accuracy"):
        assert hd[key][-1] == pytest.approx(hk[key][-1], abs=0.08)
    assert hd["val_loss"][-1] == pytest.approx(hk["val_loss"][-1], rel=0.5)
    assert d["results"][1] == pytest.approx(k["results"][1], abs=0.08)
    assert d["results"][0] == pytest.approx(k["results"][0], rel=0.5)
    # the 4-unit bottleneck costs accuracy in both
    assert d["bottleneck_history"].history["val_accuracy"][-1] == pytest.approx(
        k["bottleneck_history"].history["val_accuracy"][-1], abs=0.15)
