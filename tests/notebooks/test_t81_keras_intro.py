"""Jeff Heaton, T81-558 Applications of Deep Neural Networks (Washington University in St. Louis), module 3.2
"Introduction to TensorFlow and Keras": a regression network on auto-mpg (7-25-10-1) with RMSE and sample
predictions, and a classification network on iris (4-50-25-3, one-hot labels from ``pd.get_dummies``) with
accuracy and predictions for new flowers.

Source: github.com/jeffheaton/t81_558_deep_learning, t81_558_class_03_2_keras.ipynb, the two Keras examples
and the cells after them (the TensorFlow-only cells before them are left out).
Changed:
- imports: ``from tensorflow.keras.models import Sequential``, ``from tensorflow.keras.layers import Dense,
  Activation``, ``from tensorflow.keras.callbacks import EarlyStopping`` -> ``densenn``;
- data: the course's URLs -> local files: auto-mpg.csv synthetic in the course file's layout (398 cars, '?' for
  missing horsepower; ``notebook_data.auto_mpg_csv()``), iris.csv with the real 150 flowers from scikit-learn
  in the course file's layout (``notebook_data.iris_csv()``);
- trainings as written (100 epochs each).
"""
import numpy as np
import pytest

SOURCE = '''
import notebook_data
# %% regression
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

# Build the neural network
model = Sequential()
model.add(Dense(25, input_dim=x.shape[1], activation='relu')) # Hidden 1
model.add(Dense(10, activation='relu')) # Hidden 2
model.add(Dense(1)) # Output
model.compile(loss='mean_squared_error', optimizer='adam')
model.fit(x,y,verbose=2,epochs=100)
pred = model.predict(x)
print(f"Shape: {pred.shape}")
print(pred[0:10])
# Measure RMSE error.  RMSE is common for regression.
score = np.sqrt(metrics.mean_squared_error(pred,y))
print(f"Final score (RMSE): {score}")
# Sample predictions
for i in range(10):
    print(f"{i+1}. Car name: {cars[i]}, MPG: {y[i]}, "
          + f"predicted MPG: {pred[i]}")
# %% classification
import pandas as pd
import io
import requests
import numpy as np
from sklearn import metrics
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


# Build neural network
model = Sequential()
model.add(Dense(50, input_dim=x.shape[1], activation='relu')) # Hidden 1
model.add(Dense(25, activation='relu')) # Hidden 2
model.add(Dense(y.shape[1],activation='softmax')) # Output

model.compile(loss='categorical_crossentropy', optimizer='adam')
model.fit(x,y,verbose=2,epochs=100)
# Print out number of species found:

print(species)
pred = model.predict(x)
print(f"Shape: {pred.shape}")
print(pred[0:10])
np.set_printoptions(suppress=True)
print(y[0:10])
predict_classes = np.argmax(pred,axis=1)
expected_classes = np.argmax(y,axis=1)
print(f"Predictions: {predict_classes}")
print(f"Expected: {expected_classes}")
print(species[predict_classes[1:10]])
from sklearn.metrics import accuracy_score

correct = accuracy_score(expected_classes,predict_classes)
print(f"Accuracy: {correct}")
# %% one_flower
sample_flower = np.array( [[5.0,3.0,4.0,2.0]], dtype=float)
pred = model.predict(sample_flower)
print(pred)
pred = np.argmax(pred)
print(f"Predict that {sample_flower} is: {species[pred]}")
# %% two_flowers
sample_flower = np.array( [[5.0,3.0,4.0,2.0],[5.2,3.5,1.5,0.8]],\\
        dtype=float)
pred = model.predict(sample_flower)
print(pred)
pred = np.argmax(pred,axis=1)
print(f"Predict that these two flowers {sample_flower} ")
print(f"are: {species[pred]}")
'''


def check(nb):
    reg = nb.cells["regression"]
    # raw, unscaled inputs (weight ~3,000 lb): after 100 epochs the RMSE lands anywhere from 3 to 13 depending on
    # the initial weights, in Keras as in densenn (8 seeds each; the first epoch's is 20 to 1,400)
    assert reg["pred"].shape == (398, 1) and reg["score"] < 15
    assert "Final score (RMSE)" in nb.printed["regression"]
    assert nb.cells["classification"]["correct"] > 0.9
    assert nb.out["one_flower"] is None and "Predict that" in nb.printed["one_flower"]
    assert list(nb["pred"]) [1] == 0 and "Iris-setosa" in nb.printed["two_flowers"]   # the second flower


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    assert d.cells["regression"]["pred"].shape == k.cells["regression"]["pred"].shape
    assert d.cells["classification"]["correct"] == pytest.approx(k.cells["classification"]["correct"], abs=0.05)
    assert list(d["species"]) == list(k["species"])
    assert list(d["pred"]) == list(k["pred"])        # both flowers get the same species
