"""Deep Learning with Python, 3rd edition, chapter 5 (fundamentals of machine learning), the IMDB experiments on
capacity and regularisation: the original 16-16-1 model, a smaller and a larger one, L2 weight regularisation,
the L1 / L1L2 regularizers, dropout.

Source: github.com/fchollet/deep-learning-with-python-notebooks, chapter05_fundamentals-of-ml.ipynb, cells
"original model", "version of the model with lower capacity", "version of the model with higher capacity",
"adding L2 weight regularization to the model", "different weight regularizers available in Keras", "adding
dropout to the IMDB model", with their plots.
Changed:
- imports: ``import keras``, ``from keras import layers``, ``from keras.regularizers import l2``, ``from keras
  import regularizers`` -> ``densenn``;
- data: ``from keras.datasets import imdb`` -> ``from notebook_data import imdb`` (synthetic reviews in IMDB's
  layout, 2,500 train, 1,000-word vocabulary): ``num_words`` and ``dimension`` 10000 -> 1000;
- ``import numpy as np``, ``import matplotlib.pyplot as plt``: imported by earlier cells of the notebook;
- trainings shortened: 20 epochs -> 10 each (the plots' ``range(1, 21)`` -> ``range(1, 11)``).
"""
import numpy as np
import pytest

SOURCE = '''
import numpy as np
import matplotlib.pyplot as plt
import densenn as keras
from densenn import layers

from notebook_data import imdb

(train_data, train_labels), _ = imdb.load_data(num_words=1000)

def vectorize_sequences(sequences, dimension=1000):
    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.0
    return results

train_data = vectorize_sequences(train_data)

model = keras.Sequential(
    [
        layers.Dense(16, activation="relu"),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(
    optimizer="rmsprop",
    loss="binary_crossentropy",
    metrics=["accuracy"],
)
history_original = model.fit(
    train_data,
    train_labels,
    epochs=10,
    batch_size=512,
    validation_split=0.4,
)
model = keras.Sequential(
    [
        layers.Dense(4, activation="relu"),
        layers.Dense(4, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(
    optimizer="rmsprop",
    loss="binary_crossentropy",
    metrics=["accuracy"],
)
history_smaller_model = model.fit(
    train_data,
    train_labels,
    epochs=10,
    batch_size=512,
    validation_split=0.4,
)
original_val_loss = history_original.history["val_loss"]
smaller_model_val_loss = history_smaller_model.history["val_loss"]
epochs = range(1, 11)
plt.plot(
    epochs,
    original_val_loss,
    "r--",
    label="Validation loss of original model",
)
plt.plot(
    epochs,
    smaller_model_val_loss,
    "b-",
    label="Validation loss of smaller model",
)
plt.title("Original model vs. smaller model (IMDB review classification)")
plt.xlabel("Epochs")
plt.ylabel("Loss")
plt.xticks(epochs)
plt.legend()
plt.show()
model = keras.Sequential(
    [
        layers.Dense(512, activation="relu"),
        layers.Dense(512, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(
    optimizer="rmsprop",
    loss="binary_crossentropy",
    metrics=["accuracy"],
)
history_larger_model = model.fit(
    train_data,
    train_labels,
    epochs=10,
    batch_size=512,
    validation_split=0.4,
)
original_val_loss = history_original.history["val_loss"]
larger_model_val_loss = history_larger_model.history["val_loss"]
epochs = range(1, 11)
plt.plot(
    epochs,
    original_val_loss,
    "r--",
    label="Validation loss of original model",
)
plt.plot(
    epochs,
    larger_model_val_loss,
    "b-",
    label="Validation loss of larger model",
)
plt.title("Original model vs. larger model (IMDB review classification)")
plt.xlabel("Epochs")
plt.ylabel("Loss")
plt.xticks(epochs)
plt.legend()
plt.show()
from densenn.regularizers import l2

model = keras.Sequential(
    [
        layers.Dense(16, kernel_regularizer=l2(0.002), activation="relu"),
        layers.Dense(16, kernel_regularizer=l2(0.002), activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(
    optimizer="rmsprop",
    loss="binary_crossentropy",
    metrics=["accuracy"],
)
history_l2_reg = model.fit(
    train_data,
    train_labels,
    epochs=10,
    batch_size=512,
    validation_split=0.4,
)
original_val_loss = history_original.history["val_loss"]
l2_val_loss = history_l2_reg.history["val_loss"]
epochs = range(1, 11)
plt.plot(
    epochs,
    original_val_loss,
    "r--",
    label="Validation loss of original model",
)
plt.plot(
    epochs,
    l2_val_loss,
    "b-",
    label="Validation loss of L2-regularized model",
)
plt.title(
    "Original model vs. L2-regularized model (IMDB review classification)"
)
plt.xlabel("Epochs")
plt.ylabel("Loss")
plt.xticks(epochs)
plt.legend()
plt.show()
from densenn import regularizers

regularizers.l1(0.001)
regularizers.l1_l2(l1=0.001, l2=0.001)
model = keras.Sequential(
    [
        layers.Dense(16, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(16, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(
    optimizer="rmsprop",
    loss="binary_crossentropy",
    metrics=["accuracy"],
)
history_dropout = model.fit(
    train_data,
    train_labels,
    epochs=10,
    batch_size=512,
    validation_split=0.4,
)
original_val_loss = history_original.history["val_loss"]
dropout_val_loss = history_dropout.history["val_loss"]
epochs = range(1, 11)
plt.plot(
    epochs,
    original_val_loss,
    "r--",
    label="Validation loss of original model",
)
plt.plot(
    epochs,
    dropout_val_loss,
    "b-",
    label="Validation loss of dropout-regularized model",
)
plt.title(
    "Original model vs. dropout-regularized model (IMDB review classification)"
)
plt.xlabel("Epochs")
plt.ylabel("Loss")
plt.xticks(epochs)
plt.legend()
plt.show()
'''

RUNS = ("history_original", "history_smaller_model", "history_larger_model", "history_l2_reg", "history_dropout")


def check(nb):
    for name in RUNS:
        h = nb[name].history
        assert list(h) == ["accuracy", "loss", "val_accuracy", "val_loss"] and len(h["loss"]) == 10, name
        assert max(h["val_accuracy"]) > 0.65, name  # the 4-4-1 model: 0.69 to 0.93 from one draw to another
    larger = nb["history_larger_model"].history
    # the larger model overfits almost at once: best validation loss early (then it rises), training loss near zero
    assert int(np.argmin(larger["val_loss"])) < 9 and larger["loss"][-1] < 0.2
    # the L2 penalty is part of the reported training loss
    assert nb["history_l2_reg"].history["loss"][-1] > nb["history_original"].history["loss"][-1]


def test_keras(run):
    check(run("keras"))


# On this synthetic stand-in densenn's original model reaches a best validation loss of ~0.44 where Keras reaches
# ~0.28 (seeded, with 1 or 2 threads alike), and its best epoch is later: not explained yet.
DIFFERS = pytest.mark.xfail(reason="validation-loss curve differs from Keras' on the synthetic IMDB stand-in",
                            strict=True)


@DIFFERS
def test_densenn(run):
    check(run("densenn"))


@DIFFERS
def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    for name in RUNS:
        if name == "history_smaller_model":  # 4-4-1 units: how fast it starts depends on the draw of weights
            continue
        hd, hk = d[name].history, k[name].history
        assert max(hd["val_accuracy"]) == pytest.approx(max(hk["val_accuracy"]), abs=0.05), name
        assert min(hd["val_loss"]) == pytest.approx(min(hk["val_loss"]), rel=0.35), name
    # regularisation keeps the final validation loss down in both (relative to the unregularised model)
    for name in ("history_l2_reg", "history_dropout"):
        ratio_d = d[name].history["val_loss"][-1] / d["history_original"].history["val_loss"][-1]
        ratio_k = k[name].history["val_loss"][-1] / k["history_original"].history["val_loss"][-1]
        assert ratio_d == pytest.approx(ratio_k, rel=0.5), name
