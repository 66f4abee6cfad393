"""Deep Learning with Python, 2nd edition, chapter 4: predicting house prices (Boston housing), regression with
K-fold validation, as the TensorFlow 2 edition writes it (``from tensorflow import keras``).

Source: github.com/fchollet/deep-learning-with-python-notebooks, second_edition/
chapter04_getting-started-with-neural-networks.ipynb, the Boston housing cells (in-place normalisation,
``build_model``, two 4-fold validation loops, the final model and a prediction).
Changed:
- imports: ``from tensorflow import keras`` / ``from tensorflow.keras import layers`` -> ``import densenn as
  keras`` / ``from densenn import layers`` (the Keras run imports ``keras`` 3);
- data: ``from tensorflow.keras.datasets import boston_housing`` -> ``from notebook_data import boston_housing``:
  synthetic houses in Boston's layout (404 / 102 rows, 13 columns on its scales, prices in $1,000s);
- trainings shortened: the K-fold loops' 100 and 500 epochs -> 10 and 20, the final model's 130 -> 20.
"""
import numpy as np
import pytest

SOURCE = '''
import numpy as np
import matplotlib.pyplot as plt
import densenn as keras
from densenn import layers

from notebook_data import boston_housing
(train_data, train_targets), (test_data, test_targets) = boston_housing.load_data()
train_data.shape
test_data.shape
train_targets
mean = train_data.mean(axis=0)
train_data -= mean
std = train_data.std(axis=0)
train_data /= std
test_data -= mean
test_data /= std

def build_model():
    model = keras.Sequential([
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(1)
    ])
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    return model

k = 4
num_val_samples = len(train_data) // k
num_epochs = 10
all_scores = []
for i in range(k):
    print(f"Processing fold #{i}")
    val_data = train_data[i * num_val_samples: (i + 1) * num_val_samples]
    val_targets = train_targets[i * num_val_samples: (i + 1) * num_val_samples]
    partial_train_data = np.concatenate(
        [train_data[:i * num_val_samples],
         train_data[(i + 1) * num_val_samples:]],
        axis=0)
    partial_train_targets = np.concatenate(
        [train_targets[:i * num_val_samples],
         train_targets[(i + 1) * num_val_samples:]],
        axis=0)
    model = build_model()
    model.fit(partial_train_data, partial_train_targets,
              epochs=num_epochs, batch_size=16, verbose=0)
    val_mse, val_mae = model.evaluate(val_data, val_targets, verbose=0)
    all_scores.append(val_mae)
all_scores
np.mean(all_scores)
num_epochs = 20
all_mae_histories = []
for i in range(k):
    print(f"Processing fold #{i}")
    val_data = train_data[i * num_val_samples: (i + 1) * num_val_samples]
    val_targets = train_targets[i * num_val_samples: (i + 1) * num_val_samples]
    partial_train_data = np.concatenate(
        [train_data[:i * num_val_samples],
         train_data[(i + 1) * num_val_samples:]],
        axis=0)
    partial_train_targets = np.concatenate(
        [train_targets[:i * num_val_samples],
         train_targets[(i + 1) * num_val_samples:]],
        axis=0)
    model = build_model()
    history = model.fit(partial_train_data, partial_train_targets,
                        validation_data=(val_data, val_targets),
                        epochs=num_epochs, batch_size=16, verbose=0)
    mae_history = history.history["val_mae"]
    all_mae_histories.append(mae_history)
average_mae_history = [
    np.mean([x[i] for x in all_mae_histories]) for i in range(num_epochs)]
plt.plot(range(1, len(average_mae_history) + 1), average_mae_history)
plt.xlabel("Epochs")
plt.ylabel("Validation MAE")
plt.show()
truncated_mae_history = average_mae_history[10:]
plt.plot(range(1, len(truncated_mae_history) + 1), truncated_mae_history)
plt.xlabel("Epochs")
plt.ylabel("Validation MAE")
plt.show()
model = build_model()
model.fit(train_data, train_targets,
          epochs=20, batch_size=16, verbose=0)
test_mse_score, test_mae_score = model.evaluate(test_data, test_targets)
test_mae_score
predictions = model.predict(test_data)
predictions[0]
'''


def check(nb):
    assert nb["train_data"].shape == (404, 13) and nb["test_data"].shape == (102, 13)
    assert np.allclose(nb["train_data"].mean(axis=0), 0, atol=1e-9)   # normalised in place
    assert len(nb["all_scores"]) == 4 and all(0 < s < 6 for s in nb["all_scores"])
    curve = nb["average_mae_history"]
    assert len(curve) == 20 and curve[-1] < 0.5 * curve[0]
    assert nb["test_mae_score"] < 5                       # $5,000 (the book: ~$2,500 after 130 epochs)
    assert nb["predictions"].shape == (102, 1)


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    # each fold from other initial weights: mean validation MAE and test MAE within 30%
    assert np.mean(d["all_scores"]) == pytest.approx(np.mean(k["all_scores"]), rel=0.3)
    assert d["average_mae_history"][-1] == pytest.approx(k["average_mae_history"][-1], rel=0.3)
    assert d["test_mae_score"] == pytest.approx(k["test_mae_score"], rel=0.3)
