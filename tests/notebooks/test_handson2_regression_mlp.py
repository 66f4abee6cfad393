"""Aurélien Géron, Hands-On Machine Learning (2nd edition), chapter 10: regression MLPs on California housing with
the Sequential API (8 -> 30 -> 1, then 8 -> 30 -> 30 -> 1, SGD at 1e-3), and the custom callback printing the
validation/training loss ratio.

Source: github.com/ageron/handson-ml2, 10_neural_nets_with_keras.ipynb, "Building a Regression MLP Using the
Sequential API" and, from "Saving and Restoring", the model definition/fit/evaluate cells and the
``PrintValTrainRatioCallback`` cells.
Changed:
- imports: ``from tensorflow import keras`` -> ``import densenn as keras``; ``from sklearn.datasets import
  fetch_california_housing`` -> ``from notebook_data import fetch_california_housing`` (synthetic districts in
  scikit-learn's layout, 2,000 instead of 20,640); ``tf.random.set_seed(42)`` lines left out (TensorFlow);
- left out: the .h5 save/load and ``.ckpt`` weights cells (Keras 3 refuses ``save_weights("*.ckpt")`` and fails
  to load the .h5 it writes for a model compiled with ``loss="mse"``), the ModelCheckpoint and TensorBoard
  cells, and the scikit-learn wrapper (``keras.wrappers.scikit_learn``, gone from Keras 3);
- trainings as written (20 and 10 epochs, then 1).
"""
import numpy as np
import pytest

SOURCE = '''
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import densenn as keras
from notebook_data import fetch_california_housing
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

housing = fetch_california_housing()

X_train_full, X_test, y_train_full, y_test = train_test_split(housing.data, housing.target, random_state=42)
X_train, X_valid, y_train, y_valid = train_test_split(X_train_full, y_train_full, random_state=42)

scaler = StandardScaler()
X_train = scaler.fit_transform(X_train)
X_valid = scaler.transform(X_valid)
X_test = scaler.transform(X_test)
np.random.seed(42)
# %% first
model = keras.models.Sequential([
    keras.layers.Dense(30, activation="relu", input_shape=X_train.shape[1:]),
    keras.layers.Dense(1)
])
model.compile(loss="mean_squared_error", optimizer=keras.optimizers.SGD(learning_rate=1e-3))
history = model.fit(X_train, y_train, epochs=20, validation_data=(X_valid, y_valid))
mse_test = model.evaluate(X_test, y_test)
X_new = X_test[:3]
y_pred = model.predict(X_new)
plt.plot(pd.DataFrame(history.history))
plt.grid(True)
plt.gca().set_ylim(0, 1)
plt.show()
y_pred
# %% second
np.random.seed(42)
model = keras.models.Sequential([
    keras.layers.Dense(30, activation="relu", input_shape=[8]),
    keras.layers.Dense(30, activation="relu"),
    keras.layers.Dense(1)
])
model.compile(loss="mse", optimizer=keras.optimizers.SGD(learning_rate=1e-3))
history = model.fit(X_train, y_train, epochs=10, validation_data=(X_valid, y_valid))
mse_test = model.evaluate(X_test, y_test)
# %% ratio
class PrintValTrainRatioCallback(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs):
        print("\\nval/train: {:.2f}".format(logs["val_loss"] / logs["loss"]))
val_train_ratio_cb = PrintValTrainRatioCallback()
history = model.fit(X_train, y_train, epochs=1,
                    validation_data=(X_valid, y_valid),
                    callbacks=[val_train_ratio_cb])
'''


def check(nb):
    first = nb.cells["first"]
    h = first["history"].history
    assert list(h) == ["loss", "val_loss"] and len(h["loss"]) == 20
    assert h["val_loss"][-1] < 0.5 * h["val_loss"][0]
    assert first["mse_test"] < 0.5 * np.var(nb["y_test"]) + 0.3    # well below predicting the mean
    assert first["y_pred"].shape == (3, 1)
    assert nb.cells["second"]["mse_test"] < np.var(nb["y_test"])
    ratio = float(nb.printed["ratio"].split("val/train: ")[1].split()[0])
    h = nb["history"].history
    assert ratio == pytest.approx(h["val_loss"][0] / h["loss"][0], abs=0.006)


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    # SGD at 1e-3 for 20 epochs from other initial weights: test MSE within 40%
    assert d.cells["first"]["mse_test"] == pytest.approx(k.cells["first"]["mse_test"], rel=0.4)
    assert d.cells["second"]["mse_test"] == pytest.approx(k.cells["second"]["mse_test"], rel=0.4)
    assert list(d["history"].history) == list(k["history"].history)
