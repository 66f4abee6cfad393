"""Jason Brownlee, "Develop a Neural Network for Banknote Authentication" (Machine Learning Mastery, updated
2021): the three complete listings: a 4-10-1 MLP's learning curves on a train/test split, stratified k-fold
cross-validation, and a final model predicting one new row.

Source: https://machinelearningmastery.com/neural-network-for-banknote-authentication/ (listings as reproduced
in the apachecn translation of the blog, machinelearningmastery.com's code blocks verbatim).
Changed:
- imports: ``from tensorflow.keras import Sequential`` / ``from tensorflow.keras.layers import Dense, Dropout``
  -> ``densenn`` (the Keras run imports ``keras`` 3);
- data: the URL of ``banknote_authentication.csv`` -> a copy of the UCI file bundled with densenn (the same
  1,372 rows, no header, as the tutorial reads it);
- cross-validation shortened: ``StratifiedKFold(10)`` -> ``StratifiedKFold(3)`` (50 epochs each, as written).
The last listing's ``model.predict([row])`` (a Python list) runs on densenn as on tf.keras 2; Keras 3 refuses
lists, which ``test_final_keras_3_refuses_a_list`` records.
"""
import numpy as np
import pytest

SOURCE = '''
import notebook_data
# %% curves
# fit a simple mlp model on the banknote and review learning curves
from pandas import read_csv
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.metrics import accuracy_score
from densenn import Sequential
from densenn.layers import Dense
from matplotlib import pyplot
# load the dataset
path = notebook_data.banknote_csv()
df = read_csv(path, header=None)
# split into input and output columns
X, y = df.values[:, :-1], df.values[:, -1]
# ensure all data are floating point values
X = X.astype('float32')
# encode strings to integer
y = LabelEncoder().fit_transform(y)
# split into train and test datasets
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33)
# determine the number of input features
n_features = X.shape[1]
# define model
model = Sequential()
model.add(Dense(10, activation='relu', kernel_initializer='he_normal', input_shape=(n_features,)))
model.add(Dense(1, activation='sigmoid'))
# compile the model
model.compile(optimizer='adam', loss='binary_crossentropy')
# fit the model
history = model.fit(X_train, y_train, epochs=50, batch_size=32, verbose=0, validation_data=(X_test,y_test))
# predict test set and convert to class label
ypred = model.predict(X_test)
yhat = (ypred > 0.5).flatten().astype(int)
# evaluate predictions
score = accuracy_score(y_test, yhat)
print('Accuracy: %.3f' % score)
# plot learning curves
pyplot.title('Learning Curves')
pyplot.xlabel('Epoch')
pyplot.ylabel('Cross Entropy')
pyplot.plot(history.history['loss'], label='train')
pyplot.plot(history.history['val_loss'], label='val')
pyplot.legend()
pyplot.show()
# %% kfold
# k-fold cross-validation of base model for the banknote dataset
from numpy import mean
from numpy import std
from pandas import read_csv
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import LabelEncoder
from sklearn.metrics import accuracy_score
from densenn import Sequential
from densenn.layers import Dense
from matplotlib import pyplot
# load the dataset
path = notebook_data.banknote_csv()
df = read_csv(path, header=None)
# split into input and output columns
X, y = df.values[:, :-1], df.values[:, -1]
# ensure all data are floating point values
X = X.astype('float32')
# encode strings to integer
y = LabelEncoder().fit_transform(y)
# prepare cross validation
kfold = StratifiedKFold(3)
# enumerate splits
scores = list()
for train_ix, test_ix in kfold.split(X, y):
	# split data
	X_train, X_test, y_train, y_test = X[train_ix], X[test_ix], y[train_ix], y[test_ix]
	# determine the number of input features
	n_features = X.shape[1]
	# define model
	model = Sequential()
	model.add(Dense(10, activation='relu', kernel_initializer='he_normal', input_shape=(n_features,)))
	model.add(Dense(1, activation='sigmoid'))
	# compile the model
	model.compile(optimizer='adam', loss='binary_crossentropy')
	# fit the model
	model.fit(X_train, y_train, epochs=50, batch_size=32, verbose=0)
	# predict test set and convert to class label
	ypred = model.predict(X_test)
	yhat = (ypred > 0.5).flatten().astype(int)
	# evaluate predictions
	score = accuracy_score(y_test, yhat)
	print('>%.3f' % score)
	scores.append(score)
# summarize all scores
print('Mean Accuracy: %.3f (%.3f)' % (mean(scores), std(scores)))
'''

FINAL = '''
import notebook_data
# fit a final model and make predictions on new data for the banknote dataset
from pandas import read_csv
from sklearn.preprocessing import LabelEncoder
from sklearn.metrics import accuracy_score
from densenn import Sequential
from densenn.layers import Dense
from densenn.layers import Dropout
# load the dataset
path = notebook_data.banknote_csv()
df = read_csv(path, header=None)
# split into input and output columns
X, y = df.values[:, :-1], df.values[:, -1]
# ensure all data are floating point values
X = X.astype('float32')
# encode strings to integer
le = LabelEncoder()
y = le.fit_transform(y)
# determine the number of input features
n_features = X.shape[1]
# define model
model = Sequential()
model.add(Dense(10, activation='relu', kernel_initializer='he_normal', input_shape=(n_features,)))
model.add(Dense(1, activation='sigmoid'))
# compile the model
model.compile(optimizer='adam', loss='binary_crossentropy')
# fit the model
model.fit(X, y, epochs=50, batch_size=32, verbose=0)
# define a row of new data
row = [3.6216,8.6661,-2.8073,-0.44699]
# make prediction and convert to class label
ypred = model.predict([row])
yhat = (ypred > 0.5).flatten().astype(int)
# invert transform to get label for class
yhat = le.inverse_transform(yhat)
# report prediction
print('Predicted: %s' % (yhat[0]))
'''


def check(nb):
    assert nb.cells["curves"]["score"] > 0.95              # the tutorial: 100%
    assert len(nb.cells["curves"]["history"].history["val_loss"]) == 50
    assert len(nb["scores"]) == 3 and min(nb["scores"]) > 0.8 and np.mean(nb["scores"]) > 0.9


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    assert d.cells["curves"]["score"] == pytest.approx(k.cells["curves"]["score"], abs=0.04)
    assert np.mean(d["scores"]) == pytest.approx(np.mean(k["scores"]), abs=0.05)


def test_final_densenn(run):
    nb = run("densenn", FINAL)
    assert nb["ypred"].shape == (1, 1)
    assert "Predicted: 0" in nb.output                     # the row is the file's first: a genuine note (0)


def test_final_keras_3_refuses_a_list(run):
    """tf.keras 2 took ``model.predict([row])``; Keras 3 refuses a Python list (densenn takes it, as tf.keras 2)."""
    with pytest.raises(ValueError, match="Unrecognized data type"):
        run("keras", FINAL)
