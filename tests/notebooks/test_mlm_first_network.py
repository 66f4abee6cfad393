"""Jason Brownlee, "Your First Deep Learning Project in Python with Keras Step-by-Step" (Machine Learning
Mastery): the Pima Indians diabetes MLP (8-12-8-1), its "tie it all together" listing (fit, evaluate, print the
accuracy) and its "make predictions" listing (class predictions for the first five rows).

Source: https://machinelearningmastery.com/tutorial-first-neural-network-python-keras/ (the two complete
listings of sections 6 and 7, tf.keras edition: ``input_shape=(8,)``).
Changed:
- imports: ``from tensorflow.keras.models import Sequential`` / ``from tensorflow.keras.layers import Dense`` ->
  ``densenn`` (the Keras run imports ``keras`` 3);
- data: ``pima-indians-diabetes.csv`` -> a synthetic file of the same layout (768 rows, 8 columns on the
  original's ranges, no header, 35% positives; ``notebook_data.pima_indians_diabetes_csv()``);
- trainings shortened: 150 epochs -> 15 (batch size 10 as written: 77 steps an epoch);
- the last print's ``predictions[i]`` -> ``predictions[i, 0]``: NumPy 2.4 no longer turns a one-element array
  into a number for ``%d`` (the listing fails there with Keras too).
"""
import numpy as np
import pytest

SOURCE = '''
import notebook_data
# %% together
# first neural network with keras tutorial
from numpy import loadtxt
from densenn.models import Sequential
from densenn.layers import Dense
# load the dataset
dataset = loadtxt(notebook_data.pima_indians_diabetes_csv(), delimiter=',')
# split into input (X) and output (y) variables
X = dataset[:,0:8]
y = dataset[:,8]
# define the keras model
model = Sequential()
model.add(Dense(12, input_shape=(8,), activation='relu'))
model.add(Dense(8, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
# compile the keras model
model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
# fit the keras model on the dataset
model.fit(X, y, epochs=15, batch_size=10)
# evaluate the keras model
_, accuracy = model.evaluate(X, y)
print('Accuracy: %.2f' % (accuracy*100))
# %% predictions
# first neural network with keras make predictions
from numpy import loadtxt
from densenn.models import Sequential
from densenn.layers import Dense
# load the dataset
dataset = loadtxt(notebook_data.pima_indians_diabetes_csv(), delimiter=',')
# split into input (X) and output (y) variables
X = dataset[:,0:8]
y = dataset[:,8]
# define the keras model
model = Sequential()
model.add(Dense(12, input_shape=(8,), activation='relu'))
model.add(Dense(8, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
# compile the keras model
model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
# fit the keras model on the dataset
model.fit(X, y, epochs=15, batch_size=10, verbose=0)
# make class predictions with the model
predictions = (model.predict(X) > 0.5).astype(int)
# summarize the first 5 cases
for i in range(5):
	print('%s => %d (expected %d)' % (X[i].tolist(), predictions[i, 0], y[i]))
'''


def check(nb):
    accuracy = nb.cells["together"]["accuracy"]
    assert 0.6 < accuracy <= 1 and "Accuracy: " in nb.printed["together"]
    assert nb["predictions"].shape == (768, 1) and set(np.unique(nb["predictions"])) <= {0, 1}
    assert nb.printed["predictions"].count(" (expected ") == 5
    assert (nb["predictions"][:, 0] == nb["y"]).mean() > 0.6


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn", ), run("keras")
    # raw, unscaled inputs (glucose ~120, insulin up to 846): 15 epochs land anywhere from 65% to 75%
    assert d.cells["together"]["accuracy"] == pytest.approx(k.cells["together"]["accuracy"], abs=0.1)
    assert (d["predictions"][:, 0] == d["y"]).mean() == pytest.approx((k["predictions"][:, 0] == k["y"]).mean(),
                                                                   abs=0.1)
