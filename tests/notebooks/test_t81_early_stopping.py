"""Jeff Heaton, T81-558 Applications of Deep Neural Networks (Washington University in St. Louis), module 3.4
"Early stopping in Keras to prevent overtraining": EarlyStopping(monitor="val_loss", min_delta=1e-3,
patience=5, restore_best_weights=True) on iris (classification) and on auto-mpg (regression), up to 1,000
epochs.

Source: github.com/jeffheaton/t81_558_deep_learning, t81_558_class_03_4_early_stop.ipynb, both examples.
Changed:
- imports: ``from tensorflow.keras.models import Sequential``, ``from tensorflow.keras.layers import Dense,
  Activation``, ``from tensorflow.keras.callbacks import EarlyStopping`` -> ``densenn``;
- data: the course's URLs -> local files: iris.csv with the real flowers from scikit-learn, auto-mpg.csv
  synthetic in the course file's layout (``notebook_data``);
- the regression cell's ``train_test_split`` comes from the classification cell's imports (as in the notebook).
"""
import re

import numpy as np
import pytest

SOURCE = '''
import notebook_data
# %% iris
import pandas as pd
import io
import requests
import numpy as np
from sklearn import metrics
from sklearn.model_selection import train_test_split
from densenn.models import Sequential
from densenn.layers import Dense, Activation
from densenn.callbacks import EarlyStopping

df = pd.read_csv(
    notebook_data.iris_csv(),
    na_values=['NA', '?'])

# Convert to numpy - Classification
x = df[['sepal_l', 'sepal_w', 'petal_l', 'petal_w']].values
dummies = pd.get_dummies(df['species']) # Classification
species = dummies.columns
y = dummies.values

# Split into validation and training sets
x_train, x_test, y_train, y_test = train_test_split(
    x, y, test_size=0.25, random_state=42)

# Build neural network
model = Sequential()
model.add(Dense(50, input_dim=x.shape[1], activation='relu')) # Hidden 1
model.add(Dense(25, activation='relu')) # Hidden 2
model.add(Dense(y.shape[1],activation='softmax')) # Output
model.compile(loss='categorical_crossentropy', optimizer='adam')

monitor = EarlyStopping(monitor='val_loss', min_delta=1e-3, patience=5,
        verbose=1, mode='auto', restore_best_weights=True)
history = model.fit(x_train,y_train,validation_data=(x_test,y_test),
        callbacks=[monitor],verbose=2,epochs=1000)
from sklearn.metrics import accuracy_score

pred = model.predict(x_test)
predict_classes = np.argmax(pred,axis=1)
expected_classes = np.argmax(y_test,axis=1)
correct = accuracy_score(expected_classes,predict_classes)
print(f"Accuracy: {correct}")
# %% mpg
from densenn.models import Sequential
from densenn.layers import Dense, Activation
import pandas as pd
import io
import os
import requests
import numpy as np
from sklearn import metrics

df = pd.read_csv(
    notebook_data.auto_mpg_csv(),
    na_values=['NA', '?'])

cars = df['name']

# Handle missing value
df['horsepower'] = df['horsepower'].fillna(df['horsepower'].median())

# Pandas to Numpy
x = df[['cylinders', 'displacement', 'horsepower', 'weight',
       'acceleration', 'year', 'origin']].values
y = df['mpg'].values # regression

# Split into validation and training sets
x_train, x_test, y_train, y_test = train_test_split(
    x, y, test_size=0.25, random_state=42)

# Build the neural network
model = Sequential()
model.add(Dense(25, input_dim=x.shape[1], activation='relu')) # Hidden 1
model.add(Dense(10, activation='relu')) # Hidden 2
model.add(Dense(1)) # Output
model.compile(loss='mean_squared_error', optimizer='adam')

monitor = EarlyStopping(monitor='val_loss', min_delta=1e-3,
        patience=5, verbose=1, mode='auto',
        restore_best_weights=True)
history = model.fit(x_train,y_train,validation_data=(x_test,y_test),
        callbacks=[monitor], verbose=2,epochs=1000)
# Measure RMSE error.  RMSE is common for regression.
pred = model.predict(x_test)
score = np.sqrt(metrics.mean_squared_error(pred,y_test))
print(f"Final score (RMSE): {score}")
'''


def stopped(nb, cell):
    h = nb.cells[cell]["history"].history
    monitor = nb.cells[cell]["monitor"]
    return len(h["val_loss"]), monitor.stopped_epoch, h


def check(nb):
    epochs, stopped_epoch, h = stopped(nb, "iris")
    assert 5 < epochs < 1000 and stopped_epoch == epochs - 1           # stopped early, by the callback
    assert "Restoring model weights from the end of the best epoch" in nb.printed["iris"]
    assert nb.cells["iris"]["correct"] > 0.9
    # the restored weights are the best epoch's: the test loss is the best validation loss
    best = min(h["val_loss"])
    restored = nb.cells["iris"]["model"].evaluate(nb.cells["iris"]["x_test"], nb.cells["iris"]["y_test"], verbose=0)
    assert restored == pytest.approx(best, rel=1e-4)
    epochs, stopped_epoch, h = stopped(nb, "mpg")
    assert epochs < 1000 and nb["score"] == pytest.approx(np.sqrt(min(h["val_loss"])), rel=1e-3)


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    assert d.cells["iris"]["correct"] == pytest.approx(k.cells["iris"]["correct"], abs=0.06)
    # where training stops depends on the initial weights: the same order of magnitude
    assert 0.2 < stopped(d, "iris")[0] / stopped(k, "iris")[0] < 5
    # same messages from the callback (epoch numbers aside)
    strip = lambda text: sorted({re.sub(r"\d+", "#", line.strip()) for line in text.splitlines()  # noqa: E731
                                 if "early stopping" in line or "Restoring" in line})
    assert strip(d.printed["iris"]) == strip(k.printed["iris"])
