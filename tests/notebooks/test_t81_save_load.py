"""Jeff Heaton, T81-558 Applications of Deep Neural Networks (Washington University in St. Louis), module 3.3
"Saving and loading a Keras neural network": train on auto-mpg, write the structure with ``to_json()``, save
the whole network to HDF5 (``network.h5``), load it and check the RMSE is unchanged.

Source: github.com/jeffheaton/t81_558_deep_learning, t81_558_class_03_3_save_load.ipynb, the example cell and
the load cell (the Colab drive-mounting cell left out).
Changed:
- imports: ``from tensorflow.keras.models import Sequential, load_model``, ``from tensorflow.keras.layers import
  Dense, Activation`` -> ``densenn``;
- data: the course's auto-mpg URL -> a synthetic file in its layout (``notebook_data.auto_mpg_csv()``);
- training shortened: 100 epochs -> 20 (the test is about saving, not the fit).
"""
import json
import os

import pytest

SOURCE = '''
import notebook_data
# %% train
from densenn.models import Sequential
from densenn.layers import Dense, Activation
import pandas as pd
import io
import os
import requests
import numpy as np
from sklearn import metrics

save_path = "."

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

# Build the neural network
model = Sequential()
model.add(Dense(25, input_dim=x.shape[1], activation='relu')) # Hidden 1
model.add(Dense(10, activation='relu')) # Hidden 2
model.add(Dense(1)) # Output
model.compile(loss='mean_squared_error', optimizer='adam')
model.fit(x,y,verbose=2,epochs=20)

# Predict
pred = model.predict(x)

# Measure RMSE error.  RMSE is common for regression.
score = np.sqrt(metrics.mean_squared_error(pred,y))
print(f"Before save score (RMSE): {score}")

# save neural network structure to JSON (no weights)
model_json = model.to_json()
with open(os.path.join(save_path,"network.json"), "w") as json_file:
    json_file.write(model_json)

# save entire network to HDF5 (save everything, suggested)
model.save(os.path.join(save_path,"network.h5"))
# %% load
from densenn.models import load_model
model2 = load_model(os.path.join(save_path,"network.h5"))
pred = model2.predict(x)
# Measure RMSE error.  RMSE is common for regression.
score = np.sqrt(metrics.mean_squared_error(pred,y))
print(f"After load score (RMSE): {score}")
'''


def check(nb):
    assert os.path.exists(os.path.join(nb.workdir, "network.h5"))
    with open(os.path.join(nb.workdir, "network.json")) as f:
        structure = json.load(f)
    assert structure["class_name"] == "Sequential"
    assert nb["score"] == pytest.approx(nb.cells["train"]["score"], rel=1e-6)   # the same network after loading


def test_keras(run):
    check(run("keras"))


XFAIL = pytest.mark.xfail(reason="needs model.save() to a legacy Keras .h5 file (densenn writes .keras, .dnn; "
                                 "loads .h5; a deliberate refusal per the README); not among the features in progress",
                          raises=ValueError, strict=True)


@XFAIL
def test_densenn(run):
    check(run("densenn"))


@XFAIL
def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    dj, kj = json.loads(d.cells["train"]["model_json"]), json.loads(k.cells["train"]["model_json"])
    layers = lambda config: [(layer["class_name"], layer["config"].get("units"))  # noqa: E731
                             for layer in config["config"]["layers"]]
    assert layers(dj) == layers(kj)
