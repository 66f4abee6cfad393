"""Deep Learning with Python, 3rd edition, chapter 4: predicting house prices (California housing), regression
with K-fold validation.

Source: github.com/fchollet/deep-learning-with-python-notebooks, chapter04_classification-and-regression.ipynb,
the California housing cells (normalisation, ``get_model``, two 4-fold validation loops, the final model).
Changed:
- imports: ``import keras`` / ``from keras import layers`` -> ``densenn``;
- data: ``from keras.datasets import california_housing`` -> ``from notebook_data import california_housing``:
  synthetic districts in the layout of Keras' ``version="small"`` set (480 train / 120 test, 8 float32 columns,
  values in dollars);
- trainings shortened: the K-fold loops' 50 and 200 epochs -> 10 and 20, the final model's 130 -> 20.
"""
import numpy as np
import pytest

SOURCE = '''
import numpy as np
import matplotlib.pyplot as plt
import densenn as keras
from densenn import layers

from notebook_data import california_housing

(train_data, train_targets), (test_data, test_targets) = (
    california_housing.load_data(version="small")
)
train_data.shape
test_data.shape
train_targets
mean = train_data.mean(axis=0)
std = train_data.std(axis=0)
x_train = (train_data - mean) / std
x_test = (test_data - mean) / std
y_train = train_targets / 100000
y_test = test_targets / 100000

def get_model():
    model = keras.Sequential(
        [
            layers.Dense(64, activation="relu"),
            layers.Dense(64, activation="relu"),
            layers.Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mean_squared_error",
        metrics=["mean_absolute_error"],
    )
    return model

k = 4
num_val_samples = len(x_train) // k
num_epochs = 10
all_scores = []
for i in range(k):
    print(f"Processing fold #{i + 1}")
    fold_x_val = x_train[i * num_val_samples : (i + 1) * num_val_samples]
    fold_y_val = y_train[i * num_val_samples : (i + 1) * num_val_samples]
    fold_x_train = np.concatenate(
        [x_train[: i * num_val_samples], x_train[(i + 1) * num_val_samples :]],
        axis=0,
    )
    fold_y_train = np.concatenate(
        [y_train[: i * num_val_samples], y_train[(i + 1) * num_val_samples :]],
        axis=0,
    )
    model = get_model()
    model.fit(
        fold_x_train,
        fold_y_train,
        epochs=num_epochs,
        batch_size=16,
        verbose=0,
    )
    scores = model.evaluate(fold_x_val, fold_y_val, verbose=0)
    val_loss, val_mae = scores
    all_scores.append(val_mae)
[round(value, 3) for value in all_scores]
round(np.mean(all_scores), 3)
k = 4
num_val_samples = len(x_train) // k
num_epochs = 20
all_mae_histories = []
for i in range(k):
    print(f"Processing fold #{i + 1}")
    fold_x_val = x_train[i * num_val_samples : (i + 1) * num_val_samples]
    fold_y_val = y_train[i * num_val_samples : (i + 1) * num_val_samples]
    fold_x_train = np.concatenate(
        [x_train[: i * num_val_samples], x_train[(i + 1) * num_val_samples :]],
        axis=0,
    )
    fold_y_train = np.concatenate(
        [y_train[: i * num_val_samples], y_train[(i + 1) * num_val_samples :]],
        axis=0,
    )
    model = get_model()
    history = model.fit(
        fold_x_train,
        fold_y_train,
        validation_data=(fold_x_val, fold_y_val),
        epochs=num_epochs,
        batch_size=16,
        verbose=0,
    )
    mae_history = history.history["val_mean_absolute_error"]
    all_mae_histories.append(mae_history)
average_mae_history = [
    np.mean([x[i] for x in all_mae_histories]) for i in range(num_epochs)
]
epochs = range(1, len(average_mae_history) + 1)
plt.plot(epochs, average_mae_history)
plt.xlabel("Epochs")
plt.ylabel("Validation MAE")
plt.show()
truncated_mae_history = average_mae_history[10:]
epochs = range(10, len(truncated_mae_history) + 10)
plt.plot(epochs, truncated_mae_history)
plt.xlabel("Epochs")
plt.ylabel("Validation MAE")
plt.show()
model = get_model()
model.fit(x_train, y_train, epochs=20, batch_size=16, verbose=0)
test_mean_squared_error, test_mean_absolute_error = model.evaluate(
    x_test, y_test
)
round(test_mean_absolute_error, 3)
predictions = model.predict(x_test)
predictions[0]
'''


def check(nb):
    assert nb["train_data"].shape == (480, 8) and nb["test_data"].shape == (120, 8)
    assert len(nb["all_scores"]) == 4 and all(0 < s < 0.6 for s in nb["all_scores"])
    curve = nb["average_mae_history"]
    assert len(curve) == 20 and curve[-1] < 0.8 * curve[0]
    assert nb["test_mean_absolute_error"] < 0.45           # prices in $100,000s; the targets' spread is ~0.8
    assert nb["predictions"].shape == (120, 1)


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    # each fold from other initial weights: the mean validation MAE and the test MAE within 25%
    assert np.mean(d["all_scores"]) == pytest.approx(np.mean(k["all_scores"]), rel=0.25)
    assert d["average_mae_history"][-1] == pytest.approx(k["average_mae_history"][-1], rel=0.25)
    assert d["test_mean_absolute_error"] == pytest.approx(k["test_mean_absolute_error"], rel=0.25)
    assert d["test_mean_squared_error"] == pytest.approx(k["test_mean_squared_error"], rel=0.5)
