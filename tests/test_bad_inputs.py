"""Bad inputs raise a clear error naming the argument, what was expected and what came, and leave the model as
it was; accepted inputs (any dtype of numbers, lists, any memory layout, read-only and memory-mapped arrays)
give the numbers their float32 C-contiguous equivalent gives, without changing the caller's arrays.

Every case runs in one worker process (tests/_isolated.py), so that a case which crashes the interpreter fails
that test with the signal and the worker's stderr, and the next case runs in a fresh worker."""
import importlib.util
import os
import re
import tempfile
import warnings

import numpy as np
import pytest

from _isolated import Worker
from densenn import Input, Sequential, callbacks, layers, optimizers, utils
from densenn.layers import Activation, Dense

RNG = np.random.default_rng(99)
X = RNG.normal(size=(20, 4)).astype(np.float32)
YB = (X[:, 0] > 0).astype(np.float32)  # binary labels (20,)
YS = (np.arange(20) % 10).astype(np.int64)  # sparse labels 0..9 for 10 classes
YC = utils.to_categorical(YS, 10)  # one-hot (20, 10)
YR = (X[:, 1] * 0.7 + 0.1).astype(np.float32)  # regression targets (20,)
SW = RNG.uniform(0.5, 2.0, size=20).astype(np.float32)  # sample weights (20,)
HUGE_ZERO_STRIDE_X = np.lib.stride_tricks.as_strided(X[0], (2**46, 4), (0, 4))  # 1 PiB as float32: never fits


def _model(loss, units, activation, metrics=("accuracy",), compile=True):
    utils.set_random_seed(0)
    model = Sequential([Input(shape=(4,)), Dense(6, activation="relu"), Dense(units, activation=activation)])
    if compile:
        model.compile(optimizer="adam", loss=loss, metrics=list(metrics))
    return model


MODELS = {
    "binary": (lambda: _model("binary_crossentropy", 1, "sigmoid"), YB),
    "categorical": (lambda: _model("categorical_crossentropy", 10, "softmax"), YC),
    "sparse": (lambda: _model("sparse_categorical_crossentropy", 10, "softmax"), YS),
    "regression": (lambda: _model("mse", 1, None, metrics=("mae",)), YR),
    "uncompiled": (lambda: _model(None, 1, "sigmoid", compile=False), YB),
}


def with_value(array, index, value, dtype=None):
    out = np.array(array, dtype=dtype or np.asarray(array).dtype, copy=True)
    out[index] = value
    return out


def _recompile_at_batch_2(model):
    def recompile(batch, logs):
        if batch == 2:
            model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return callbacks.LambdaCallback(on_train_batch_end=recompile)


CASES = [
    # ---- feature count and rank of x
    ("fit-x-3-features", "binary", lambda m: m.fit(X[:, :3], YB, verbose=0), ValueError,
     r"^x: the model expects 4 features per sample \(input shape \(None, 4\)\), got an array of shape \(20, 3\)$"),
    ("predict-x-5-features", "binary", lambda m: m.predict(np.ones((3, 5)), verbose=0), ValueError,
     r"^x: the model expects 4 features .* got an array of shape \(3, 5\)$"),
    ("evaluate-x-5-features", "binary", lambda m: m.evaluate(np.ones((20, 5)), YB, verbose=0), ValueError,
     r"^x: the model expects 4 features .* got an array of shape \(20, 5\)$"),
    ("predict-x-rank-1", "binary", lambda m: m.predict(X[0], verbose=0), ValueError,
     r"^x: expected a 2-D array of shape \(n, 4\), got shape \(4,\)$"),
    ("fit-x-rank-1", "binary", lambda m: m.fit(X[:, 0], YB, verbose=0), ValueError,
     r"^x: expected a 2-D array of shape \(n, 4\), got shape \(20,\)$"),
    ("fit-x-rank-3", "binary", lambda m: m.fit(X.reshape(20, 2, 2), YB, verbose=0), ValueError,
     r"^x: expected a 2-D array of shape \(n, 4\), got shape \(20, 2, 2\)$"),
    ("predict-x-scalar", "binary", lambda m: m.predict(1.0, verbose=0), ValueError,
     r"^x: expected a 2-D array of shape \(n, 4\), got shape \(\)$"),
    ("predict-x-none", "binary", lambda m: m.predict(None, verbose=0), ValueError,
     r"^x: expected an array of shape \(n, features\), got None$"),
    ("predict-unbuilt-x-rank-3", "uncompiled-unbuilt", lambda m: m.predict(np.ones((2, 2, 2)), verbose=0),
     ValueError, r"^Dense '\w+' expects inputs of shape \(batch, features\), got \(None, 2, 2\): "
                 r"add a Flatten layer before it\."),
    # ---- y against x and the loss
    ("fit-y-19-rows", "binary", lambda m: m.fit(X, YB[:19], verbose=0), ValueError,
     r"^y: expected 20 rows \(one per sample of x\), got shape \(19,\)$"),
    ("evaluate-y-21-rows", "binary", lambda m: m.evaluate(X, np.r_[YB, 0], verbose=0), ValueError,
     r"^y: expected 20 rows \(one per sample of x\), got shape \(21,\)$"),
    ("fit-y-none", "binary", lambda m: m.fit(X, None, verbose=0), ValueError, r"^y: targets are required"),
    ("fit-y-scalar", "binary", lambda m: m.fit(X, 1.0, verbose=0), ValueError, r"^y: expected 20 rows .*got shape \(\)"),
    ("binary-y-2-columns", "binary", lambda m: m.fit(X, np.zeros((20, 2)), verbose=0), ValueError,
     r"^y: expected shape \(20, 1\) to match the model's output \(None, 1\), got \(20, 2\)$"),
    ("categorical-y-9-columns", "categorical", lambda m: m.fit(X, YC[:, :9], verbose=0), ValueError,
     r"^y: expected shape \(20, 10\) to match the model's output \(None, 10\), got \(20, 9\)$"),
    ("categorical-y-integer-labels", "categorical", lambda m: m.fit(X, YS, verbose=0), ValueError,
     r"^y: expected shape \(20, 10\) .*got \(20,\) \(integer labels\? use sparse_categorical_crossentropy or "
     r"utils\.to_categorical\)$"),
    ("categorical-evaluate-integer-labels", "categorical", lambda m: m.evaluate(X, YS, verbose=0), ValueError,
     r"got \(20,\) .*sparse_categorical_crossentropy or utils\.to_categorical"),
    ("sparse-label-10-of-10", "sparse", lambda m: m.fit(X, with_value(YS, 3, 10), verbose=0), ValueError,
     r"^y: labels must be integers in \[0, 10\) for a model with 10 outputs; got (np\.int64\()?10\)? at row 3$"),
    ("sparse-label-minus-1", "sparse", lambda m: m.fit(X, with_value(YS, 0, -1), verbose=0), ValueError,
     r"^y: labels must be integers in \[0, 10\) .*got (np\.int64\()?-1\)? at row 0$"),
    ("sparse-label-1e12", "sparse", lambda m: m.fit(X, with_value(YS, 19, 1e12, np.float64), verbose=0), ValueError,
     r"^y: labels must be integers in \[0, 10\) .*got (np\.float64\()?1000000000000\.0\)? at row 19$"),
    ("sparse-label-2.5", "sparse", lambda m: m.evaluate(X, with_value(YS, 5, 2.5, np.float64), verbose=0), ValueError,
     r"^y: labels must be integers in \[0, 10\) .*got (np\.float64\()?2\.5\)? at row 5$"),
    ("sparse-label-inf", "sparse", lambda m: m.fit(X, with_value(YS, 2, np.inf, np.float64), verbose=0), ValueError,
     r"^y contains NaN or Inf values: expected finite numbers, got inf at row 2$"),
    ("sparse-labels-one-hot", "sparse", lambda m: m.fit(X, YC, verbose=0), ValueError,
     r"^y: sparse_categorical_crossentropy expects integer labels of shape \(n,\) or \(n, 1\), got shape \(20, 10\)$"),
    # ---- dtypes
    ("predict-x-strings", "binary", lambda m: m.predict(np.array([["1", "2", "3", "4"]] * 3), verbose=0), ValueError,
     r"^x: expected numbers, got an array of dtype <U1$"),
    ("fit-x-strings-list", "binary", lambda m: m.fit([["a"] * 4] * 20, YB, verbose=0), ValueError,
     r"^x: expected numbers, got an array of dtype <U1$"),
    ("predict-x-objects", "binary", lambda m: m.predict(np.array([[1, 2, 3, None]] * 3, dtype=object), verbose=0),
     ValueError, r"^x: expected numbers, got an array of dtype object$"),
    ("predict-x-ragged", "binary", lambda m: m.predict([[1, 2, 3, 4], [1, 2]], verbose=0), ValueError,
     r"^x: expected a rectangular array of numbers"),
    ("predict-x-complex", "binary", lambda m: m.predict(X.astype(np.complex64), verbose=0), ValueError,
     r"^x: expected numbers, got an array of dtype complex64$"),
    ("fit-y-strings", "binary", lambda m: m.fit(X, np.array(["yes"] * 20), verbose=0), ValueError,
     r"^y: expected numbers, got an array of dtype <U3$"),
    ("fit-y-objects", "binary", lambda m: m.fit(X, np.array([1] * 19 + [None], dtype=object), verbose=0), ValueError,
     r"^y: expected numbers, got an array of dtype object$"),
    # ---- empty x
    ("fit-empty-x", "binary", lambda m: m.fit(np.zeros((0, 4)), np.zeros(0), verbose=0), ValueError,
     r"^x: expected at least one sample, got an empty array of shape \(0, 4\)$"),
    ("evaluate-empty-x", "binary", lambda m: m.evaluate(np.zeros((0, 4)), np.zeros(0), verbose=0), ValueError,
     r"^x: expected at least one sample, got an empty array of shape \(0, 4\)$"),
    # ---- NaN / Inf
    ("fit-x-nan", "binary", lambda m: m.fit(with_value(X, (3, 2), np.nan), YB, verbose=0), ValueError,
     r"^x contains NaN or Inf values: expected finite numbers, got nan at row 3, column 2$"),
    ("predict-x-inf", "binary", lambda m: m.predict(with_value(X, (0, 0), np.inf), verbose=0), ValueError,
     r"^x contains NaN or Inf values: expected finite numbers, got inf at row 0, column 0$"),
    ("evaluate-x-minus-inf", "binary", lambda m: m.evaluate(with_value(X, (5, 1), -np.inf), YB, verbose=0),
     ValueError, r"^x contains NaN or Inf values: expected finite numbers, got -inf at row 5, column 1$"),
    ("fit-y-nan", "binary", lambda m: m.fit(X, with_value(YB, 1, np.nan), verbose=0), ValueError,
     r"^y contains NaN or Inf values: expected finite numbers, got nan at row 1$"),
    ("fit-y-inf-categorical", "categorical", lambda m: m.fit(X, with_value(YC, (1, 1), np.inf), verbose=0),
     ValueError, r"^y contains NaN or Inf values: expected finite numbers, got inf at row 1, column 1$"),
    ("fit-validation-x-nan", "binary",
     lambda m: m.fit(X, YB, validation_data=(with_value(X, (0, 0), np.nan), YB), verbose=0), ValueError,
     r"^validation_data x contains NaN or Inf values: expected finite numbers, got nan at row 0, column 0$"),
    ("fit-sample-weight-nan", "binary", lambda m: m.fit(X, YB, sample_weight=with_value(np.ones(20), 0, np.nan),
                                                       verbose=0), ValueError,
     r"^sample_weight: expected finite weights >= 0, got nan at row 0$"),
    ("fit-sample-weight-negative", "binary", lambda m: m.fit(X, YB, sample_weight=-np.ones(20), verbose=0),
     ValueError, r"^sample_weight: expected finite weights >= 0, got -1\.0 at row 0$"),
    # ---- batch_size, epochs, verbose, shuffle
    ("fit-batch-size-0", "binary", lambda m: m.fit(X, YB, batch_size=0, verbose=0), ValueError,
     r"^batch_size: expected an integer > 0, got 0$"),
    ("fit-batch-size-minus-1", "binary", lambda m: m.fit(X, YB, batch_size=-1, verbose=0), ValueError,
     r"^batch_size: expected an integer > 0, got -1$"),
    ("fit-batch-size-2.5", "binary", lambda m: m.fit(X, YB, batch_size=2.5, verbose=0), ValueError,
     r"^batch_size: expected an integer > 0, got 2\.5$"),
    ("fit-batch-size-True", "binary", lambda m: m.fit(X, YB, batch_size=True, verbose=0), ValueError,
     r"^batch_size: expected an integer > 0, got True$"),
    ("fit-batch-size-string", "binary", lambda m: m.fit(X, YB, batch_size="32", verbose=0), ValueError,
     r"^batch_size: expected an integer > 0, got '32'$"),
    ("predict-batch-size-0", "binary", lambda m: m.predict(X, batch_size=0, verbose=0), ValueError,
     r"^batch_size: expected an integer > 0, got 0$"),
    # one row, quiet: the calls that go straight to the core still check batch_size
    ("predict-one-row-batch-size-minus-1", "binary", lambda m: m.predict(X[:1], batch_size=-1, verbose=0),
     ValueError, r"^batch_size: expected an integer > 0, got -1$"),
    ("predict-one-row-batch-size-2.5", "binary", lambda m: m.predict(X[:1], batch_size=2.5, verbose=0), ValueError,
     r"^batch_size: expected an integer > 0, got 2\.5$"),
    ("predict-one-row-verbose-False", "binary", lambda m: m.predict(X[:1], verbose=False), ValueError,
     r"^verbose: expected 'auto', 0, 1 or 2, got False$"),
    ("evaluate-batch-size-minus-1", "binary", lambda m: m.evaluate(X, YB, batch_size=-1, verbose=0), ValueError,
     r"^batch_size: expected an integer > 0, got -1$"),
    ("fit-epochs-minus-1", "binary", lambda m: m.fit(X, YB, epochs=-1, verbose=0), ValueError,
     r"^epochs: expected an integer >= 0, got -1$"),
    ("fit-epochs-2.5", "binary", lambda m: m.fit(X, YB, epochs=2.5, verbose=0), ValueError,
     r"^epochs: expected an integer >= 0, got 2\.5$"),
    ("fit-epochs-string", "binary", lambda m: m.fit(X, YB, epochs="3", verbose=0), ValueError,
     r"^epochs: expected an integer >= 0, got '3'$"),
    ("fit-initial-epoch-minus-1", "binary", lambda m: m.fit(X, YB, initial_epoch=-1, verbose=0), ValueError,
     r"^initial_epoch: expected an integer >= 0, got -1$"),
    ("fit-verbose-5", "binary", lambda m: m.fit(X, YB, verbose=5), ValueError,
     r"^verbose: expected 'auto', 0, 1 or 2, got 5$"),
    ("evaluate-verbose-5", "binary", lambda m: m.evaluate(X, YB, verbose=5), ValueError,
     r"^verbose: expected 'auto', 0, 1 or 2, got 5$"),
    ("predict-verbose-5", "binary", lambda m: m.predict(X, verbose=5), ValueError,
     r"^verbose: expected 'auto', 0, 1 or 2, got 5$"),
    ("fit-verbose-string", "binary", lambda m: m.fit(X, YB, verbose="silent"), ValueError,
     r"^verbose: expected 'auto', 0, 1 or 2, got 'silent'$"),
    ("fit-shuffle-string", "binary", lambda m: m.fit(X, YB, shuffle="yes", verbose=0), ValueError,
     r"^shuffle: expected True or False, got 'yes'$"),
    # ---- validation_split / validation_data / sample_weight
    ("validation-split-1.0", "binary", lambda m: m.fit(X, YB, validation_split=1.0, verbose=0), ValueError,
     r"^validation_split: expected a number in \[0, 1\), got 1\.0$"),
    ("validation-split-minus-0.1", "binary", lambda m: m.fit(X, YB, validation_split=-0.1, verbose=0), ValueError,
     r"^validation_split: expected a number in \[0, 1\), got -0\.1$"),
    ("validation-split-string", "binary", lambda m: m.fit(X, YB, validation_split="a", verbose=0), ValueError,
     r"^validation_split: expected a number in \[0, 1\), got 'a'$"),
    ("validation-split-leaves-no-training", "binary",
     lambda m: m.fit(X[:1], YB[:1], validation_split=0.5, verbose=0), ValueError,
     r"^validation_split=0\.5 leaves no training or no validation samples out of 1$"),
    ("validation-split-leaves-no-validation", "binary",
     lambda m: m.fit(X, YB, validation_split=1e-17, verbose=0), ValueError,
     r"^validation_split=1e-17 leaves no training or no validation samples out of 20$"),
    ("validation-data-array", "binary", lambda m: m.fit(X, YB, validation_data=X, verbose=0), ValueError,
     r"^validation_data: expected \(x_val, y_val\) or \(x_val, y_val, sample_weight_val\)$"),
    ("validation-data-1-tuple", "binary", lambda m: m.fit(X, YB, validation_data=(X,), verbose=0), ValueError,
     r"^validation_data: expected \(x_val, y_val\)"),
    ("validation-data-4-tuple", "binary", lambda m: m.fit(X, YB, validation_data=(X, YB, None, None), verbose=0),
     ValueError, r"^validation_data: expected \(x_val, y_val\)"),
    ("validation-data-dict", "binary", lambda m: m.fit(X, YB, validation_data={"x": X, "y": YB}, verbose=0),
     ValueError, r"^validation_data: expected \(x_val, y_val\)"),
    ("validation-data-generator", "binary", lambda m: m.fit(X, YB, validation_data=iter([X, YB]), verbose=0),
     ValueError, r"^validation_data, batch 0: y: targets are required for training and evaluation\.$"),
    ("validation-data-x-3-features", "binary", lambda m: m.fit(X, YB, validation_data=(X[:, :3], YB), verbose=0),
     ValueError, r"^validation_data x: the model expects 4 features .* got an array of shape \(20, 3\)$"),
    ("validation-data-y-5-rows", "binary", lambda m: m.fit(X, YB, validation_data=(X, YB[:5]), verbose=0),
     ValueError, r"^validation_data y: expected 20 rows \(one per sample of validation_data x\), got shape \(5,\)$"),
    ("validation-data-y-none", "binary", lambda m: m.fit(X, YB, validation_data=(X, None), verbose=0),
     ValueError, r"^validation_data y: targets are required"),
    ("validation-data-sample-weight-3", "binary",
     lambda m: m.fit(X, YB, validation_data=(X, YB, np.ones(3)), verbose=0), ValueError,
     r"sample_weight: expected shape \(20,\), got \(3,\)$"),
    ("fit-sample-weight-19", "binary", lambda m: m.fit(X, YB, sample_weight=np.ones(19), verbose=0), ValueError,
     r"^sample_weight: expected shape \(20,\), got \(19,\)$"),
    ("evaluate-sample-weight-21", "binary", lambda m: m.evaluate(X, YB, sample_weight=np.ones(21), verbose=0),
     ValueError, r"^sample_weight: expected shape \(20,\), got \(21,\)$"),
    ("fit-sample-weight-2d", "binary", lambda m: m.fit(X, YB, sample_weight=np.ones((20, 1)), verbose=0),
     ValueError, r"^sample_weight: expected shape \(20,\), got \(20, 1\)$"),
    ("fit-sample-weight-strings", "binary", lambda m: m.fit(X, YB, sample_weight=["1"] * 20, verbose=0),
     ValueError, r"^sample_weight: expected numbers, got an array of dtype <U1$"),
    # ---- callbacks
    ("fit-callbacks-not-callbacks", "binary", lambda m: m.fit(X, YB, callbacks=[print], verbose=0), ValueError,
     r"^callbacks: expected Callback instances, got <built-in function print>$"),
    # ---- names: activations, losses, optimizers, metrics
    ("dense-unknown-activation", None, lambda m: Dense(3, activation="sigmod"), ValueError,
     r"^Dense: unknown activation 'sigmod'\. Valid activations: .*\brelu\b.*\bsigmoid\b.*\bsoftmax\b"),
    ("activation-unknown-name", None, lambda m: Activation("relux"), ValueError,
     r"^Activation: unknown activation 'relux'\. Valid activations: .*\brelu\b.*\btanh\b"),
    ("dense-activation-callable", None, lambda m: Dense(3, activation=np.tanh), ValueError,
     r"^Dense: unknown activation <ufunc 'tanh'>\. Valid activations: "),
    ("compile-unknown-loss", "binary", lambda m: m.compile("adam", "categorical_crossentropyy"), ValueError,
     r"^Unknown loss 'categorical_crossentropyy'\. Valid losses: .*\bbinary_crossentropy\b.*"
     r"\bcategorical_crossentropy\b.*\bmse\b.*\bsparse_categorical_crossentropy\b"),
    ("compile-unknown-optimizer", "binary", lambda m: m.compile("adamm", "binary_crossentropy"), ValueError,
     r"^Unknown optimizer 'adamm'\. Valid optimizers: adadelta, adagrad, adam, adamax, adamw, lion, nadam, rmsprop, sgd\.$"),
    ("compile-optimizer-class", "binary", lambda m: m.compile(optimizers.Adam, "binary_crossentropy"), ValueError,
     r"^Unknown optimizer <class .*Adam'>\. Valid optimizers: adadelta, adagrad, adam, adamax, adamw, lion, nadam, rmsprop, sgd\.$"),
    ("compile-unknown-metric", "binary", lambda m: m.compile("adam", "binary_crossentropy", metrics=["accuracyy"]),
     ValueError, r"^Unknown metric 'accuracyy'\. Valid metrics: accuracy, acc, binary_accuracy, "),
    ("compile-metrics-string", "binary", lambda m: m.compile("adam", "binary_crossentropy", metrics="accuracy"),
     ValueError, r"^compile: metrics must be a list, e\.g\. metrics=\['accuracy'\], got 'accuracy'$"),
    ("compile-no-loss", "binary", lambda m: m.compile("adam"), ValueError, r"^compile: pass a loss"),
    ("compile-unknown-argument", "binary", lambda m: m.compile("adam", "mse", loss_weights=[1.0]), TypeError,
     r"^compile: unsupported arguments \['loss_weights'\]$"),
    ("sgd-negative-learning-rate", None, lambda m: optimizers.SGD(learning_rate=-1), ValueError,
     r"^SGD learning_rate: expected a value in \[0\.0, inf\), got -1\.0$"),
    ("adam-learning-rate-string", None, lambda m: optimizers.Adam(learning_rate="fast"), ValueError,
     r"^Adam learning_rate: expected a finite number, got 'fast'$"),
    ("sgd-momentum-2", None, lambda m: optimizers.SGD(momentum=2), ValueError,
     r"^SGD momentum: expected a value in \[0\.0, 1\.0\], got 2\.0$"),
    ("sgd-unknown-keyword", None, lambda m: optimizers.SGD(learning_rat=0.1), ValueError,
     r"^Argument\(s\) not recognized: \{'learning_rat': 0\.1\}$"),
    # ---- layers
    ("dense-0-units", None, lambda m: Dense(0), ValueError, r"^Dense: units must be a positive integer, got 0$"),
    ("dense-minus-3-units", None, lambda m: Dense(-3), ValueError, r"^Dense: units must be a positive integer, got -3$"),
    ("dense-2.5-units", None, lambda m: Dense(2.5), ValueError, r"^Dense: units must be a positive integer, got 2\.5$"),
    ("dense-string-units", None, lambda m: Dense("10"), ValueError,
     r"^Dense: units must be a positive integer, got '10'$"),
    ("dense-unknown-keyword", None, lambda m: Dense(3, kernel_regularizers="l2"), TypeError,
     r"^Unrecognized keyword arguments passed to Dense: \{'kernel_regularizers': 'l2'\}$"),
    ("dense-empty-name", None, lambda m: Dense(3, name=""), ValueError,
     r"^Dense: name must be a non-empty string, got ''$"),
    ("input-negative-dim", None, lambda m: Input(shape=(28, -1)), ValueError,
     r"^InputLayer shape: expected a shape of positive sizes such as \(features,\) or \(28, 28\), "
     r"got \(28, -1\)$"),
    ("input-0-features", None, lambda m: Input(shape=(0,)), ValueError, r"^InputLayer shape: .*got \(0,\)$"),
    ("dense-input-shape-0", None, lambda m: Dense(3, input_shape=(0,)), ValueError,
     r"^Dense input_shape: .*got \(0,\)$"),
    ("build-rank-3", "uncompiled-unbuilt", lambda m: m.build((None, 3, 4)), ValueError,
     r"^Dense '\w+' expects inputs of shape \(batch, features\), got \(None, 3, 4\): add a Flatten layer"),
    ("build-without-shape", "uncompiled-unbuilt", lambda m: m.build(), ValueError,
     r"^build: the model has no input shape; pass input_shape=\(None, features\)\.$"),
    ("add-not-a-layer", "binary", lambda m: m.add("dense"), ValueError,
     r"^Sequential\.add: expected a densenn layer, got 'dense'$"),
    ("add-same-layer-twice", "binary", lambda m: m.add(m.layers[0]), ValueError,
     r"^Sequential\.add: layer 'dense(_\d+)?' is already in this model\.$"),
    ("add-input-after-layers", "binary", lambda m: m.add(Input(shape=(4,))), ValueError,
     r"^Sequential\.add: an InputLayer can only be the first layer of the model\.$"),
    ("add-layer-of-another-model", "binary", lambda m: m.add(_model(None, 1, "sigmoid", compile=False).layers[0]),
     ValueError, r"^Sequential\.add: layer 'dense(_\d+)?' already belongs to another model\.$"),
    ("add-duplicate-name", "binary", lambda m: m.add(Dense(2, name=m.layers[0].name)), ValueError,
     r"^Sequential\.add: all layers must have unique names; 'dense(_\d+)?' is taken\.$"),
    ("pop-empty-model", None, lambda m: Sequential().pop(), ValueError,
     r"^Sequential\.pop: there are no layers to remove\.$"),
    ("predict-model-without-layers", None, lambda m: Sequential().predict(X, verbose=0), ValueError,
     r"^The model has no layers: add layers before training or predicting\.$"),
    # ---- not compiled
    ("fit-before-compile", "uncompiled", lambda m: m.fit(X, YB, verbose=0), RuntimeError,
     r"^You must call compile\(\) before fit\(\)\.$"),
    ("evaluate-before-compile", "uncompiled", lambda m: m.evaluate(X, YB, verbose=0), RuntimeError,
     r"^You must call compile\(\) before evaluate\(\)\.$"),
    # ---- weights
    ("set-weights-3-of-4", "binary", lambda m: m.set_weights(m.get_weights()[:3]), ValueError,
     r"^Sequential: expected 4 weight arrays, got 3\.$"),
    ("set-weights-5-of-4", "binary", lambda m: m.set_weights(m.get_weights() + [np.zeros(1)]), ValueError,
     r"^Sequential: expected 4 weight arrays, got 5\.$"),
    ("set-weights-transposed-kernel", "binary",
     lambda m: m.set_weights([np.zeros((6, 4))] + m.get_weights()[1:]), ValueError,
     r"^Sequential: weight 0 has shape \(6, 4\), expected shape \(4, 6\)\.$"),
    ("set-weights-bias-shape", "binary",
     lambda m: m.set_weights(m.get_weights()[:3] + [np.zeros((1, 1))]), ValueError,
     r"^Sequential: weight 3 has shape \(1, 1\), expected shape \(1,\)\.$"),
    ("set-weights-array-not-list", "binary", lambda m: m.set_weights(np.zeros(4)), ValueError,
     r"^Sequential: set_weights expects a list of arrays, got ndarray$"),
    ("set-weights-nan", "binary", lambda m: m.set_weights([np.full((4, 6), np.nan)] + m.get_weights()[1:]),
     ValueError, r"^Sequential: weight 0 contains NaN or Inf values: expected finite numbers, got nan at row 0, "
                 r"column 0$"),
    ("set-weights-strings", "binary", lambda m: m.set_weights([np.full((4, 6), "a")] + m.get_weights()[1:]),
     ValueError, r"^Sequential weight 0: expected numbers, got an array of dtype <U1$"),
    ("layer-set-weights-wrong-shape", "binary",
     lambda m: m.layers[0].set_weights([np.zeros((4, 5)), np.zeros(6)]), ValueError,
     r"^Layer 'dense(_\d+)?': weight 0 has shape \(4, 5\), expected shape \(4, 6\)\.$"),
    ("layer-set-weights-count", "binary", lambda m: m.layers[1].set_weights([np.zeros((6, 1))]), ValueError,
     r"^Layer 'dense(_\d+)?': expected 2 weight arrays, got 1\.$"),
    ("set-weights-unbuilt", "uncompiled-unbuilt", lambda m: m.set_weights([]), ValueError,
     r"^set_weights: the model is not built yet"),
    ("count-params-unbuilt", "uncompiled-unbuilt", lambda m: m.count_params(), ValueError,
     r"^count_params: the model is not built yet"),
    # ---- utils
    ("to-categorical-negative", None, lambda m: utils.to_categorical([-1, 2]), ValueError,
     r"^to_categorical: labels must be non-negative integers$"),
    ("to-categorical-fraction", None, lambda m: utils.to_categorical([0.5, 2]), ValueError,
     r"^to_categorical: labels must be non-negative integers$"),
    ("to-categorical-out-of-range", None, lambda m: utils.to_categorical([3], num_classes=3), ValueError,
     r"^to_categorical: label 3 is out of range for num_classes=3$"),
    ("to-categorical-2d", None, lambda m: utils.to_categorical(np.zeros((2, 3), int)), ValueError,
     r"^to_categorical: expected labels of shape \(n,\) or \(n, 1\), got \(2, 3\)$"),
    ("set-random-seed-negative", None, lambda m: utils.set_random_seed(-1), ValueError,
     r"^set_random_seed: expected a non-negative integer seed, got -1$"),
    ("set-random-seed-float", None, lambda m: utils.set_random_seed(1.5), ValueError,
     r"^set_random_seed: expected a non-negative integer seed, got 1\.5$"),
]
CASES += [
    # ---- rank and emptiness in every method that takes x
    ("predict-x-rank-3", "binary", lambda m: m.predict(np.ones((2, 2, 4)), verbose=0), ValueError,
     r"^x: expected a 2-D array of shape \(n, 4\), got shape \(2, 2, 4\)$"),
    ("predict-on-batch-x-rank-3", "binary", lambda m: m.predict_on_batch(np.ones((2, 2, 4))), ValueError,
     r"^x: expected a 2-D array of shape \(n, 4\), got shape \(2, 2, 4\)$"),
    ("predict-on-batch-x-0-d", "binary", lambda m: m.predict_on_batch(np.float32(1)), ValueError,
     r"^x: expected a 2-D array of shape \(n, 4\), got shape \(\)$"),
    ("call-x-rank-1", "binary", lambda m: m(X[0]), ValueError,
     r"^x: expected a 2-D array of shape \(n, 4\), got shape \(4,\)$"),
    ("predict-on-batch-x-5-features", "binary", lambda m: m.predict_on_batch(np.ones((3, 5))), ValueError,
     r"^x: the model expects 4 features .* got an array of shape \(3, 5\)$"),
    ("predict-on-batch-x-none", "binary", lambda m: m.predict_on_batch(None), ValueError,
     r"^x: expected an array of shape \(n, features\), got None$"),
    ("predict-x-0-features", "binary", lambda m: m.predict(np.zeros((3, 0)), verbose=0), ValueError,
     r"^x: the model expects 4 features .* got an array of shape \(3, 0\)$"),
    ("fit-x-none", "binary", lambda m: m.fit(None, YB, verbose=0), ValueError,
     r"^x: expected an array of shape \(n, features\), got None$"),
    ("evaluate-x-none", "binary", lambda m: m.evaluate(verbose=0), ValueError,
     r"^x: expected an array of shape \(n, features\), got None$"),
    ("fit-empty-validation-x", "binary",
     lambda m: m.fit(X, YB, validation_data=(np.zeros((0, 4)), np.zeros(0)), verbose=0), ValueError,
     r"^validation_data x: expected at least one sample, got an empty array of shape \(0, 4\)$"),
    # ---- train_on_batch / test_on_batch
    ("train-on-batch-x-3-features", "binary", lambda m: m.train_on_batch(X[:, :3], YB), ValueError,
     r"^x: the model expects 4 features .* got an array of shape \(20, 3\)$"),
    ("train-on-batch-y-3-rows", "binary", lambda m: m.train_on_batch(X, YB[:3]), ValueError,
     r"^y: expected 20 rows \(one per sample of x\), got shape \(3,\)$"),
    ("train-on-batch-empty-x", "binary", lambda m: m.train_on_batch(np.zeros((0, 4)), np.zeros(0)), ValueError,
     r"^x: expected at least one sample, got an empty array of shape \(0, 4\)$"),
    ("train-on-batch-x-nan", "binary", lambda m: m.train_on_batch(with_value(X, (7, 3), np.nan), YB), ValueError,
     r"^x contains NaN or Inf values: expected finite numbers, got nan at row 7, column 3$"),
    ("train-on-batch-sample-weight-3", "binary", lambda m: m.train_on_batch(X, YB, sample_weight=np.ones(3)),
     ValueError, r"^sample_weight: expected shape \(20,\), got \(3,\)$"),
    ("train-on-batch-sparse-label-minus-1", "sparse", lambda m: m.train_on_batch(X, with_value(YS, 4, -1)),
     ValueError, r"^y: labels must be integers in \[0, 10\) .*got (np\.int64\()?-1\)? at row 4$"),
    ("train-on-batch-before-compile", "uncompiled", lambda m: m.train_on_batch(X, YB), RuntimeError,
     r"^You must call compile\(\) before train_on_batch\(\)\.$"),
    ("test-on-batch-before-compile", "uncompiled", lambda m: m.test_on_batch(X, YB), RuntimeError,
     r"^You must call compile\(\) before test_on_batch\(\)\.$"),
    ("test-on-batch-sparse-label-10", "sparse", lambda m: m.test_on_batch(X, with_value(YS, 0, 10)), ValueError,
     r"^y: labels must be integers in \[0, 10\) .*got (np\.int64\()?10\)? at row 0$"),
    ("test-on-batch-y-strings", "binary", lambda m: m.test_on_batch(X, np.array(["1"] * 20)), ValueError,
     r"^y: expected numbers, got an array of dtype <U1$"),
    ("test-on-batch-sample-weight-21", "binary", lambda m: m.test_on_batch(X, YB, sample_weight=np.ones(21)),
     ValueError, r"^sample_weight: expected shape \(20,\), got \(21,\)$"),
    # ---- sparse labels far out of range: refused in Python, never an index in C++
    ("sparse-label-2**62", "sparse", lambda m: m.fit(X, with_value(YS, 6, 2**62), verbose=0), ValueError,
     r"^y: labels must be integers in \[0, 10\) .*got (np\.int64\()?4611686018427387904\)? at row 6$"),
    ("sparse-label-minus-2**62", "sparse", lambda m: m.fit(X, with_value(YS, 6, -2**62), verbose=0), ValueError,
     r"^y: labels must be integers in \[0, 10\) .*got (np\.int64\()?-4611686018427387904\)? at row 6$"),
    ("evaluate-sparse-label-2**62", "sparse", lambda m: m.evaluate(X, with_value(YS, 1, 2**62), verbose=0),
     ValueError, r"^y: labels must be integers in \[0, 10\) .*got (np\.int64\()?4611686018427387904\)? at row 1$"),
    ("evaluate-sparse-label-minus-2**62", "sparse",
     lambda m: m.evaluate(X, with_value(YS, 19, -2**62), verbose=0), ValueError,
     r"^y: labels must be integers in \[0, 10\) .*got (np\.int64\()?-4611686018427387904\)? at row 19$"),
    ("evaluate-sparse-label-uint64-max", "sparse",
     lambda m: m.evaluate(X, with_value(YS.astype(np.uint64), 2, np.uint64(2**64 - 1)), verbose=0), ValueError,
     r"^y: labels must be integers in \[0, 10\) .*got (np\.uint64\()?18446744073709551615\)? at row 2$"),
    ("evaluate-sparse-label-minus-1e300", "sparse",
     lambda m: m.evaluate(X, with_value(YS, 3, -1e300, np.float64), verbose=0), ValueError,
     r"^y: labels must be integers in \[0, 10\) .*got (np\.float64\()?-1e\+300\)? at row 3$"),
    ("evaluate-sparse-label-nan", "sparse", lambda m: m.evaluate(X, with_value(YS, 8, np.nan, np.float64), verbose=0),
     ValueError, r"^y contains NaN or Inf values: expected finite numbers, got nan at row 8$"),
    ("evaluate-sparse-labels-2-columns", "sparse", lambda m: m.evaluate(X, np.zeros((20, 2)), verbose=0), ValueError,
     r"^y: sparse_categorical_crossentropy expects integer labels of shape \(n,\) or \(n, 1\), got shape \(20, 2\)$"),
    ("validation-data-sparse-label-10", "sparse",
     lambda m: m.fit(X, YS, validation_data=(X, with_value(YS, 9, 10)), verbose=0), ValueError,
     r"^validation_data y: labels must be integers in \[0, 10\) .*got (np\.int64\()?10\)? at row 9$"),
    # ---- rows of x, y and sample_weight
    ("evaluate-sample-weight-19", "binary", lambda m: m.evaluate(X, YB, sample_weight=np.ones(19), verbose=0),
     ValueError, r"^sample_weight: expected shape \(20,\), got \(19,\)$"),
    ("evaluate-y-19-rows-sparse", "sparse", lambda m: m.evaluate(X, YS[:19], verbose=0), ValueError,
     r"^y: expected 20 rows \(one per sample of x\), got shape \(19,\)$"),
    ("validation-split-sample-weight-19", "binary",
     lambda m: m.fit(X, YB, sample_weight=np.ones(19), validation_split=0.2, verbose=0), ValueError,
     r"^sample_weight: expected shape \(20,\), got \(19,\)$"),
    ("validation-data-sample-weight-nan", "binary",
     lambda m: m.fit(X, YB, validation_data=(X, YB, with_value(SW, 4, np.nan)), verbose=0), ValueError,
     r"^validation_data sample_weight: expected finite weights >= 0, got nan at row 4$"),
    ("fit-sample-weight-1e300", "binary", lambda m: m.fit(X, YB, sample_weight=np.full(20, 1e300), verbose=0),
     ValueError, r"^sample_weight: expected finite weights >= 0, got 1e\+300 at row 0$"),
    ("fit-sample-weight-scalar", "binary", lambda m: m.fit(X, YB, sample_weight=1.0, verbose=0), ValueError,
     r"^sample_weight: expected shape \(20,\), got \(\)$"),
    # ---- values beyond float32, other dtypes and containers
    ("fit-x-1e300", "binary", lambda m: m.fit(with_value(X.astype(np.float64), (2, 1), 1e300), YB, verbose=0),
     ValueError, r"^x has values too large for float32: expected magnitudes up to 3\.403e\+38, got 1e\+300 at row 2, "
                 r"column 1$"),
    ("fit-y-1e300", "regression", lambda m: m.fit(X, with_value(YR.astype(np.float64), 5, -1e300), verbose=0),
     ValueError, r"^y has values too large for float32: expected magnitudes up to 3\.403e\+38, got -1e\+300 at "
                 r"row 5, column 0$"),
    ("set-weights-1e300", "binary",
     lambda m: m.set_weights([with_value(np.zeros((4, 6)), (1, 2), 1e300)] + m.get_weights()[1:]), ValueError,
     r"^Sequential: weight 0 has values too large for float32: .*got 1e\+300 at row 1, column 2$"),
    ("predict-x-datetime64", "binary", lambda m: m.predict(np.zeros((2, 4), "datetime64[s]"), verbose=0),
     ValueError, r"^x: expected numbers, got an array of dtype datetime64\[s\]$"),
    ("predict-x-timedelta64", "binary", lambda m: m.predict(np.zeros((2, 4), "timedelta64[s]"), verbose=0),
     ValueError, r"^x: expected numbers, got an array of dtype timedelta64\[s\]$"),
    ("predict-x-structured", "binary", lambda m: m.predict(np.zeros(2, [("a", "f4", 4)]), verbose=0), ValueError,
     r"^x: expected numbers, got an array of dtype \[\('a', '<f4', \(4,\)\)\]$"),
    ("predict-x-bytes", "binary", lambda m: m.predict(np.zeros((2, 4), "S1"), verbose=0), ValueError,
     r"^x: expected numbers, got an array of dtype \|S1$"),
    ("predict-x-object-array-of-arrays", "binary",
     lambda m: m.predict(np.array([np.ones(4), np.ones(4), None], dtype=object)[:2], verbose=0), ValueError,
     r"^x: expected numbers, got an array of dtype object$"),
    ("predict-x-dict", "binary", lambda m: m.predict({"x": X}, verbose=0), ValueError,
     r"^x: expected numbers, got an array of dtype object$"),
    ("predict-x-generator", "binary", lambda m: m.predict((row for row in X), verbose=0), ValueError,
     r"^x, batch 0: x: expected a 2-D array of shape \(n, 4\), got shape \(4,\)$"),
    ("predict-x-string", "binary", lambda m: m.predict("1,2,3,4", verbose=0), ValueError,
     r"^x: expected numbers, got an array of dtype <U7$"),
    ("fit-x-masked-values", "binary", lambda m: m.fit(np.ma.masked_greater(X, 1.5), YB, verbose=0), ValueError,
     r"^x: expected an array of numbers, got a masked array with masked values \(fill them first, "
     r"e\.g\. x\.filled\(0\)\)$"),
    ("predict-x-zero-stride-2**46-rows", "binary", lambda m: m.predict(HUGE_ZERO_STRIDE_X, verbose=0), MemoryError,
     r"^x: Unable to allocate 1\.00 PiB for an array with shape \(70368744177664, 4\)"),
    # ---- class_weight
    ("class-weight-list", "binary", lambda m: m.fit(X, YB, class_weight=[1.0, 2.0], verbose=0), ValueError,
     r"^class_weight: expected a dict mapping class indices to weights, got \[1\.0, 2\.0\]$"),
    ("class-weight-string-keys", "binary", lambda m: m.fit(X, YB, class_weight={"0": 1.0}, verbose=0), ValueError,
     r"^class_weight: expected class indices in \[0, 2\) as keys \(the model has 1 output\), got the key '0'$"),
    ("class-weight-float-key", "binary", lambda m: m.fit(X, YB, class_weight={1.0: 2.0}, verbose=0), ValueError,
     r"^class_weight: expected class indices in \[0, 2\) .*got the key 1\.0$"),
    ("class-weight-bool-key", "binary", lambda m: m.fit(X, YB, class_weight={True: 2.0}, verbose=0), ValueError,
     r"^class_weight: expected class indices in \[0, 2\) .*got the key True$"),
    ("class-weight-key-2-binary", "binary", lambda m: m.fit(X, YB, class_weight={2: 2.0}, verbose=0), ValueError,
     r"^class_weight: expected class indices in \[0, 2\) as keys \(the model has 1 output\), got the key 2$"),
    ("class-weight-key-10-sparse", "sparse", lambda m: m.fit(X, YS, class_weight={0: 1.0, 10: 2.0}, verbose=0),
     ValueError, r"^class_weight: expected class indices in \[0, 10\) as keys \(the model has 10 outputs\), "
                 r"got the key 10$"),
    ("class-weight-key-minus-1", "categorical", lambda m: m.fit(X, YC, class_weight={-1: 2.0}, verbose=0),
     ValueError, r"^class_weight: expected class indices in \[0, 10\) .*got the key -1$"),
    ("class-weight-key-2**70", "sparse", lambda m: m.fit(X, YS, class_weight={2**70: 2.0}, verbose=0), ValueError,
     r"^class_weight: expected class indices in \[0, 10\) .*got the key 1180591620717411303424$"),
    ("class-weight-nan", "binary", lambda m: m.fit(X, YB, class_weight={0: np.nan}, verbose=0), ValueError,
     r"^class_weight: the weight of class 0 must be a finite number >= 0, got nan$"),
    ("class-weight-inf", "sparse", lambda m: m.fit(X, YS, class_weight={3: np.inf}, verbose=0), ValueError,
     r"^class_weight: the weight of class 3 must be a finite number >= 0, got inf$"),
    ("class-weight-negative", "binary", lambda m: m.fit(X, YB, class_weight={1: -0.5}, verbose=0), ValueError,
     r"^class_weight: the weight of class 1 must be a finite number >= 0, got -0\.5$"),
    ("class-weight-string-weight", "binary", lambda m: m.fit(X, YB, class_weight={1: "2"}, verbose=0), ValueError,
     r"^class_weight: the weight of class 1 must be a finite number >= 0, got '2'$"),
    ("class-weight-none-weight", "binary", lambda m: m.fit(X, YB, class_weight={1: None}, verbose=0), ValueError,
     r"^class_weight: the weight of class 1 must be a finite number >= 0, got None$"),
    ("class-weight-with-sample-weight", "binary",
     lambda m: m.fit(X, YB, class_weight={0: 1.0}, sample_weight=SW, verbose=0), ValueError,
     r"^You cannot `class_weight` and `sample_weight` at the same time\.$"),
    ("class-weight-regression-targets", "regression", lambda m: m.fit(X, YR, class_weight={0: 2.0}, verbose=0),
     ValueError, rf"^class_weight: expected class labels \(integers\) or one-hot rows in y, got "
                 rf"{re.escape(repr(float(YR[0])))} at row 0$"),
    ("train-on-batch-class-weight-negative", "binary",
     lambda m: m.train_on_batch(X, YB, class_weight={0: -1}), ValueError,
     r"^class_weight: the weight of class 0 must be a finite number >= 0, got -1$"),
    # ---- fit's other arguments
    ("validation-batch-size-0", "binary", lambda m: m.fit(X, YB, validation_batch_size=0, verbose=0), ValueError,
     r"^validation_batch_size: expected an integer > 0, got 0$"),
    ("validation-freq-0", "binary", lambda m: m.fit(X, YB, validation_split=0.2, validation_freq=0, verbose=0),
     ValueError, r"^validation_freq: expected a positive integer or a list of epochs \(counted from 1\), got 0$"),
    ("validation-freq-list-with-0", "binary",
     lambda m: m.fit(X, YB, validation_split=0.2, validation_freq=[0, 2], verbose=0), ValueError,
     r"^validation_freq: expected a positive integer or a list of epochs \(counted from 1\), got \[0, 2\]$"),
    ("validation-freq-string", "binary", lambda m: m.fit(X, YB, validation_freq="1", verbose=0), ValueError,
     r"^validation_freq: expected .* got '1'$"),
    ("validation-split-nan", "binary", lambda m: m.fit(X, YB, validation_split=float("nan"), verbose=0), ValueError,
     r"^validation_split: expected a number in \[0, 1\), got nan$"),
    ("validation-split-True", "binary", lambda m: m.fit(X, YB, validation_split=True, verbose=0), ValueError,
     r"^validation_split: expected a number in \[0, 1\), got True$"),
    ("fit-epochs-None", "binary", lambda m: m.fit(X, YB, epochs=None, verbose=0), ValueError,
     r"^epochs: expected an integer >= 0, got None$"),
    ("fit-steps-per-epoch", "binary", lambda m: m.fit(X, YB, steps_per_epoch=2, verbose=0), ValueError,
     r"^steps_per_epoch: densenn takes it when x is a PyDataset, a generator or an iterable; with arrays, a pass "
     r"covers every sample once \(got steps_per_epoch=2\)\.$"),
    ("evaluate-batch-size-string", "binary", lambda m: m.evaluate(X, YB, batch_size="8", verbose=0), ValueError,
     r"^batch_size: expected an integer > 0, got '8'$"),
    # ---- callbacks
    ("fit-callbacks-string", "binary", lambda m: m.fit(X, YB, callbacks="early_stopping", verbose=0), ValueError,
     r"^callbacks: expected a list of Callback objects, got 'early_stopping'$"),
    ("fit-callbacks-class-not-instance", "binary",
     lambda m: m.fit(X, YB, callbacks=[callbacks.EarlyStopping], verbose=0), ValueError,
     r"^callbacks: expected Callback instances, got <class 'densenn\.callbacks\.EarlyStopping'>$"),
    ("evaluate-callbacks-not-callbacks", "binary", lambda m: m.evaluate(X, YB, callbacks=[1], verbose=0),
     ValueError, r"^callbacks: expected Callback instances, got 1$"),
    ("predict-callbacks-not-callbacks", "binary", lambda m: m.predict(X, callbacks=[None], verbose=0),
     ValueError, r"^callbacks: expected Callback instances, got None$"),
    ("fit-compile-in-batch-callback", "binary",  # refused mid-epoch: the batches before it did train
     lambda m: m.fit(X, YB, batch_size=4, callbacks=[_recompile_at_batch_2(m)], verbose=0), RuntimeError,
     r"^The model was compiled again while a training or evaluation pass was running"),
    # ---- model structure and sizes (the C++ core's 64-bit sizes must never overflow)
    ("sequential-layers-int", None, lambda m: Sequential(5), ValueError,
     r"^Sequential: expected a list of layers, got 5$"),
    ("build-int", "uncompiled-unbuilt", lambda m: m.build(5), ValueError,
     r"^build: expected input_shape=\(None, features\), got 5$"),
    ("build-1-tuple", "uncompiled-unbuilt", lambda m: m.build((4,)), ValueError,
     r"^build: expected input_shape=\(None, features\), got \(4,\)$"),
    ("dense-2**62-units", None, lambda m: Sequential([Input(shape=(4,)), Dense(2**62)]), ValueError,
     r"^Dense 'dense(_\d+)?': 4611686018427387904 units is more than densenn's limit of 2147483647 \(2\*\*31 - 1\)$"),
    ("dense-2**70-units", None, lambda m: Sequential([Input(shape=(4,)), Dense(2**70)]), ValueError,
     r"^Dense 'dense(_\d+)?': 1180591620717411303424 units is more than densenn's limit"),
    ("dense-input-2**32", None,
     lambda m: Sequential([Input(shape=(2**32,)), Dense(2**32, use_bias=False)]), ValueError,
     r"^input shape \(None, 4294967296\): 4294967296 features per sample is more than densenn's limit of 2147483647"),
    ("dense-2**20-by-2**20", None,
     lambda m: Sequential([Input(shape=(2**20,)), Dense(2**20)]), ValueError,
     r"^Dense 'dense(_\d+)?': 1048576 inputs and 1048576 outputs make the model larger than densenn's limit of "
     r"2\*\*40 weights\.$"),
    ("maxout-pieces-2**70", None, lambda m: Sequential([Input(shape=(4,)), layers.Maxout(2, pieces=2**70)]),
     ValueError, r"^Maxout 'maxout(_\d+)?': pieces must be an integer in \[1, 2147483647\], got 1.1805916207174113e\+21\.$"),
    ("input-2**70-features", None, lambda m: Sequential([Input(shape=(2**70,)), Dense(2)]), ValueError,
     r"^input shape \(None, 1180591620717411303424\): 1180591620717411303424 features per sample is more than "
     r"densenn's limit of 2147483647 \(2\*\*31 - 1\)$"),
    ("input-flattened-2**64", None,
     lambda m: Sequential([Input(shape=(2**32, 2**32)), layers.Flatten(), Dense(1)]), ValueError,
     r"^input shape \(None, 4294967296, 4294967296\): 18446744073709551616 features per sample is more"),
    ("add-huge-layer-keeps-model", "binary", lambda m: m.add(Dense(2**45)), ValueError,
     r"^Dense 'dense(_\d+)?': 35184372088832 units is more than densenn's limit"),
    ("summary-line-length-string", "binary", lambda m: m.summary(line_length="wide"), ValueError,
     r"^line_length: expected an integer > 0, got 'wide'$"),
    ("summary-print-fn-not-callable", "binary", lambda m: m.summary(print_fn="print"), ValueError,
     r"^print_fn: expected a function such as print, got 'print'$"),
]
# Refused after some training (a generator's batches are checked as they come): only "still usable" is checked.
CHANGES_MODEL = {"fit-compile-in-batch-callback", "validation-data-generator"}


def _make(kind):
    if kind == "uncompiled-unbuilt":
        utils.set_random_seed(0)
        return Sequential([Dense(6, activation="relu"), Dense(1, activation="sigmoid")]), YB
    make, y = MODELS[kind]
    return make(), y


def _snapshot(model):
    if not model.built:
        return {"built": False, "layers": [layer.name for layer in model.layers]}
    snap = {
        "built": True,
        "layers": [layer.name for layer in model.layers],
        "input_shape": model.input_shape,
        "weights": model.get_weights(),
        "predict": model.predict(X, verbose=0),
        "compiled": model.compiled,
        "metrics_names": model.metrics_names,
    }
    if model.compiled:
        snap["iterations"] = model.optimizer.iterations
    return snap


def _check_unchanged(model, before):
    after = _snapshot(model)
    for key in ("built", "layers", "input_shape", "compiled", "metrics_names", "iterations"):
        assert after.get(key) == before.get(key), f"{key} changed from {before.get(key)!r} to {after.get(key)!r}"
    if before["built"]:
        assert len(after["weights"]) == len(before["weights"]), "the number of weight arrays changed"
        for i, (a, b) in enumerate(zip(after["weights"], before["weights"])):
            np.testing.assert_array_equal(a, b, err_msg=f"weight {i} changed")
        np.testing.assert_array_equal(after["predict"], before["predict"], err_msg="predict() changed")


def _check_usable(model, before, y):
    """After a refused call the model still predicts, and a compiled one still trains and evaluates."""
    if not model.built or not model.compiled:
        assert model.predict(X, verbose=0).shape == (20, 1)
        return
    iterations = model.optimizer.iterations
    history = model.fit(X, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0]), f"loss after the refused call: {history.history['loss']}"
    assert model.optimizer.iterations == iterations + 3, "fit() did not take its 3 steps"
    result = model.evaluate(X, y, verbose=0, return_dict=True)
    assert set(result) == set(before["metrics_names"]), f"evaluate() logs {sorted(result)}"


_BAD = {case[0]: case for case in CASES}


def run_bad_case(case_id):
    """One row of CASES (in the worker): the call raises exactly `exc` with a message matching `pattern`, warns
    nothing on the way, and leaves the model as it was and usable."""
    _, kind, call, exc, pattern = _BAD[case_id]
    model, y = _make(kind) if kind else (None, None)
    before = _snapshot(model) if model is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # e.g. an overflowing cast is an error, never a warning
        with pytest.raises(exc, match=pattern) as info:
            call(model)
    assert type(info.value) is exc, f"raised {type(info.value).__name__}, a subclass of {exc.__name__}"
    if model is not None:
        if case_id not in CHANGES_MODEL:
            _check_unchanged(model, before)
        _check_usable(model, before, y)


# ----------------------------------------------------------------------------- accepted inputs
# Each layout turns a float32 array into the same kind of data in another form; the model must give, for it,
# the numbers it gives for np.array(that, dtype=float32) (C-contiguous), and leave it unchanged.

class _Subclass(np.ndarray):
    """A user's ndarray subclass."""


_TEMPORARY = []


def _memmap(a):
    """A read-only memory map of a's values, 4 bytes into a file (so not 16-byte aligned)."""
    if not _TEMPORARY:
        _TEMPORARY.append(tempfile.TemporaryDirectory())
    path = os.path.join(_TEMPORARY[0].name, f"{len(os.listdir(_TEMPORARY[0].name))}.dat")
    with open(path, "wb") as f:
        f.write(b"head")
        f.write(np.ascontiguousarray(a).tobytes())
    return np.memmap(path, dtype=a.dtype, mode="r", offset=4, shape=a.shape)


def _unaligned(a):
    """A C-contiguous array whose data starts at an odd address (flags.aligned is False)."""
    out = np.zeros(a.nbytes + 1, np.uint8)[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _reversed_view(a):
    """A view with negative strides on every axis, with a's values in a's order."""
    flip = (slice(None, None, -1),) * a.ndim
    return a[flip].copy()[flip]


def _pandas(a):
    import pandas
    return pandas.DataFrame(a) if a.ndim == 2 else pandas.Series(a)


def _torch(a):
    import torch
    return torch.from_numpy(a.copy())


LAYOUTS = {
    "float64": lambda a: a.astype(np.float64),
    "float16": lambda a: a.astype(np.float16),
    "longdouble": lambda a: a.astype(np.longdouble),
    "int32": lambda a: np.rint(a).astype(np.int32),
    "int64": lambda a: np.rint(a).astype(np.int64),
    "uint8": lambda a: np.rint(np.abs(a)).astype(np.uint8),
    "bool": lambda a: a > 0,
    "big-endian": lambda a: a.astype(">f4"),
    "list": lambda a: a.tolist(),
    "list-of-arrays": list,
    "fortran-order": np.asfortranarray,
    "every-other-row": lambda a: np.repeat(a, 2, axis=0)[::2],
    "every-other-column": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
    "negative-strides": _reversed_view,
    "zero-row-stride": lambda a: np.broadcast_to(a[:1], a.shape),
    "read-only": _read_only,
    "unaligned": _unaligned,
    "memmap": _memmap,
    "memoryview": lambda a: memoryview(a.copy()),
    "ndarray-subclass": lambda a: a.copy().view(_Subclass),
    "masked-nothing-masked": lambda a: np.ma.masked_array(a, mask=np.zeros(a.shape, bool)),
    "matrix": np.asmatrix,
    "pandas": _pandas,
    "torch": _torch,
}
TWO_D_ONLY = {"matrix"}
OPTIONAL = {"pandas": "pandas", "torch": "torch"}  # layout: the module it needs

WEIGHTS = [(RNG.normal(size=shape) * 0.5).astype(np.float32) for shape in [(4, 6), (6,), (6, 1), (1,)]]
ROLES = {  # role: (model kind, the argument it is, its float32 data, the methods that take it)
    "x": ("binary", "x", X, ["fit", "evaluate", "predict", "train_on_batch", "predict_on_batch"]),
    "y": ("binary", "y", YB, ["fit", "evaluate", "train_on_batch"]),
    "sparse-y": ("sparse", "y", YS.astype(np.float32), ["fit", "evaluate"]),
    "one-hot-y": ("categorical", "y", YC, ["fit"]),
    "sample_weight": ("binary", "sample_weight", SW, ["fit", "evaluate", "train_on_batch"]),
    "weights": ("binary", "weights", WEIGHTS, ["set_weights"]),
}


def _outcome(kind, method, x=X, y=None, sample_weight=None, weights=None):
    """What `method` returns for this data, and the model's weights after it."""
    model = MODELS[kind][0]()
    y = MODELS[kind][1] if y is None else y
    if method == "fit":
        result = model.fit(x, y, sample_weight=sample_weight, batch_size=8, shuffle=False, verbose=0).history
    elif method == "evaluate":
        result = model.evaluate(x, y, sample_weight=sample_weight, batch_size=8, verbose=0, return_dict=True)
    elif method == "predict":
        result = model.predict(x, batch_size=8, verbose=0)
    elif method == "train_on_batch":
        result = model.train_on_batch(x, y, sample_weight=sample_weight, return_dict=True)
    elif method == "predict_on_batch":
        result = model.predict_on_batch(x)
    else:
        model.set_weights(weights)
        result = model.predict(X, verbose=0)
    return result, model.get_weights()


def _assert_close(got, expected, what):
    """Equal structure, shapes and dtypes, and values equal to float32 precision."""
    if isinstance(expected, dict):
        assert sorted(got) == sorted(expected), f"{what}: keys {sorted(got)}, expected {sorted(expected)}"
        for key in expected:
            _assert_close(got[key], expected[key], f"{what}[{key!r}]")
    elif expected is None:
        assert got is None, f"{what}: {got!r}, expected None"
    elif isinstance(expected, tuple) or (isinstance(expected, list) and not all(
            isinstance(e, (int, float)) for e in expected)):
        assert len(got) == len(expected), f"{what}: {len(got)} arrays, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            _assert_close(g, e, f"{what}[{i}]")
    else:
        got, expected = np.asarray(got), np.asarray(expected)
        assert got.shape == expected.shape and got.dtype == expected.dtype, \
            f"{what}: {got.dtype} {got.shape}, expected {expected.dtype} {expected.shape}"
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7, err_msg=what)


def _accepted_ids():
    ids = []
    for role, (_, _, data, methods) in ROLES.items():
        one_d = role == "weights" or np.ndim(data) == 1
        for layout in LAYOUTS:
            if layout in TWO_D_ONLY and one_d:
                continue
            for method in methods:
                marks = []
                if layout in OPTIONAL:
                    missing = importlib.util.find_spec(OPTIONAL[layout]) is None
                    marks = [pytest.mark.skipif(missing, reason=f"{OPTIONAL[layout]} is not installed")]
                ids.append(pytest.param(f"{method}/{role}/{layout}", marks=marks))
    return ids


def run_accepted_case(case_id):
    """One accepted input (in the worker): same numbers as its float32 C-contiguous equivalent; the caller's data
    unchanged."""
    method, role, layout = case_id.split("/")
    kind, argument, data, _ = ROLES[role]
    convert = LAYOUTS[layout]
    if role == "weights":
        given = [convert(w) for w in data]
        values = lambda: [np.array(w) for w in given]  # noqa: E731
        equivalent = [np.array(w, dtype=np.float32, order="C") for w in given]
    else:
        given = convert(data)
        values = lambda: np.array(given)  # noqa: E731
        equivalent = np.array(given, dtype=np.float32, order="C")
    before = values()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = _outcome(kind, method, **{argument: given})
    _assert_close(values(), before, f"the caller's {argument} after {method}()")
    _assert_close(got, _outcome(kind, method, **{argument: equivalent}), f"{method}() given {layout} {argument}")


# ----------------------------------------------------------------------------- accepted calls
# Each call must give what its plain equivalent gives (results and the weights after it).

class _StopAfter(callbacks.Callback):
    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            self.model.stop_training = True


def _fit_overwriting(model, y, sample_weight, overwrite):
    """fit() with a callback that overwrites the caller's arrays after every batch."""
    y, sample_weight = np.array(y, np.float32), None if sample_weight is None else np.array(sample_weight)
    spoil = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: overwrite(y, sample_weight))
    return model.fit(X, y, sample_weight=sample_weight, batch_size=4, epochs=2, shuffle=False, verbose=0,
                     callbacks=[spoil])


def _class_weights(labels, class_weight):
    return np.array([class_weight.get(int(label), 1.0) for label in labels])


SAME_AS = [
    # (id, model kind, call, its plain equivalent)
    ("fit-epochs-10**12-stopped-by-a-callback", "binary",
     lambda m: m.fit(X, YB, epochs=10**12, batch_size=8, callbacks=[_StopAfter(3)], verbose=0),
     lambda m: m.fit(X, YB, epochs=3, batch_size=8, verbose=0)),
    ("fit-batch-size-2**63", "binary", lambda m: m.fit(X, YB, batch_size=2**63, epochs=2, verbose=0),
     lambda m: m.fit(X, YB, batch_size=20, epochs=2, verbose=0)),
    ("fit-batch-size-10**30", "sparse", lambda m: m.fit(X, YS, batch_size=10**30, verbose=0),
     lambda m: m.fit(X, YS, batch_size=20, verbose=0)),
    ("predict-batch-size-2**63", "binary", lambda m: m.predict(X, batch_size=2**63, verbose=0),
     lambda m: m.predict(X, batch_size=20, verbose=0)),
    ("evaluate-batch-size-2**100", "categorical", lambda m: m.evaluate(X, YC, batch_size=2**100, verbose=0),
     lambda m: m.evaluate(X, YC, batch_size=20, verbose=0)),
    ("fit-validation-batch-size-2**63", "binary",
     lambda m: m.fit(X, YB, validation_data=(X, YB), validation_batch_size=2**63, verbose=0),
     lambda m: m.fit(X, YB, validation_data=(X, YB), validation_batch_size=20, verbose=0)),
    ("fit-numpy-integer-arguments", "binary",
     lambda m: m.fit(X, YB, batch_size=np.int64(8), epochs=np.int32(2), initial_epoch=np.uint8(0),
                     validation_split=np.float32(0.25), validation_freq=np.int16(1), verbose=0),
     lambda m: m.fit(X, YB, batch_size=8, epochs=2, initial_epoch=0, validation_split=0.25, verbose=0)),
    ("fit-validation-split-with-sample-weight", "binary",
     lambda m: m.fit(X, YB, sample_weight=SW, validation_split=0.25, shuffle=False, verbose=0),
     lambda m: m.fit(X[:15], YB[:15], sample_weight=SW[:15], validation_data=(X[15:], YB[15:], SW[15:]),
                     shuffle=False, verbose=0)),
    ("fit-one-callback-not-in-a-list", "binary", lambda m: m.fit(X, YB, callbacks=_StopAfter(1), verbose=0),
     lambda m: m.fit(X, YB, callbacks=[_StopAfter(1)], verbose=0)),
    ("class-weight-missing-class-weighs-1", "binary", lambda m: m.fit(X, YB, class_weight={1: 3.0}, verbose=0),
     lambda m: m.fit(X, YB, sample_weight=_class_weights(YB, {1: 3.0}), verbose=0)),
    ("class-weight-numpy-keys-and-weights", "binary",
     lambda m: m.fit(X, YB, class_weight={np.int64(0): np.float32(0.5), np.uint8(1): 2}, verbose=0),
     lambda m: m.fit(X, YB, sample_weight=_class_weights(YB, {0: 0.5, 1: 2.0}), verbose=0)),
    ("class-weight-sparse-labels", "sparse", lambda m: m.fit(X, YS, class_weight={0: 2.0, 9: 0.0}, verbose=0),
     lambda m: m.fit(X, YS, sample_weight=_class_weights(YS, {0: 2.0, 9: 0.0}), verbose=0)),
    ("class-weight-one-hot", "categorical", lambda m: m.fit(X, YC, class_weight={3: 4.0, 5: 0.25}, verbose=0),
     lambda m: m.fit(X, YC, sample_weight=_class_weights(YS, {3: 4.0, 5: 0.25}), verbose=0)),
    ("train-on-batch-class-weight", "binary", lambda m: m.train_on_batch(X, YB, class_weight={0: 3.0}),
     lambda m: m.train_on_batch(X, YB, sample_weight=_class_weights(YB, {0: 3.0}))),
    # the model keeps its own copy of y and sample_weight: a callback overwriting the caller's arrays mid-epoch
    # (once a segfault: labels are indices in C++) changes nothing
    ("fit-sparse-labels-overwritten-by-a-callback", "sparse",
     lambda m: _fit_overwriting(m, YS, None, lambda y, w: y.fill(-1e9)),
     lambda m: _fit_overwriting(m, YS, None, lambda y, w: None)),
    ("fit-sample-weight-overwritten-by-a-callback", "binary",
     lambda m: _fit_overwriting(m, YB, SW, lambda y, w: (y.fill(np.nan), w.fill(-np.inf))),
     lambda m: _fit_overwriting(m, YB, SW, lambda y, w: None)),
    ("predict-empty-x", "binary", lambda m: m.predict(np.zeros((0, 4)), verbose=0),
     lambda m: np.zeros((0, 1), np.float32)),
    ("predict-on-batch-empty-x", "categorical", lambda m: m.predict_on_batch(np.zeros((0, 4), np.int32)),
     lambda m: np.zeros((0, 10), np.float32)),
    ("fit-epochs-0", "binary", lambda m: m.fit(X, YB, epochs=0, verbose=0), lambda m: {}),
    ("fit-initial-epoch-after-epochs", "binary", lambda m: m.fit(X, YB, epochs=2, initial_epoch=5, verbose=0),
     lambda m: {}),
    ("model-of-2**21-features-builds", "binary",  # far from the size limit
     lambda m: Sequential([Input(shape=(1024, 2048)), layers.Flatten(), Activation("relu"), Dense(2)]).count_params(),
     lambda m: 2**21 * 2 + 2),
    ("set-weights-tuple", "binary", lambda m: (m.set_weights(tuple(WEIGHTS)), m.predict(X, verbose=0))[1],
     lambda m: (m.set_weights(WEIGHTS), m.predict(X, verbose=0))[1]),
    ("unbuilt-model-predicts-float64-fortran-x", "uncompiled-unbuilt",
     lambda m: m.predict(np.asfortranarray(X, dtype=np.float64), verbose=0), lambda m: m.predict(X, verbose=0)),
    ("predict-after-a-refused-zero-feature-x", "uncompiled-unbuilt",
     lambda m: (pytest.raises(ValueError, m.predict, np.zeros((3, 0)), verbose=0), m.input_shape,
                m.predict(X, verbose=0))[1:],
     lambda m: (None, m.predict(X, verbose=0))),
]
_SAME_AS = {case[0]: case for case in SAME_AS}


def run_same_as_case(case_id):
    """One row of SAME_AS (in the worker)."""
    _, kind, call, plain = _SAME_AS[case_id]
    results = []
    for function in (call, plain):
        model = _make(kind)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            result = function(model)
        results.append((result.history if isinstance(result, callbacks.History) else result,
                        model.get_weights() if model.built else []))
    _assert_close(results[0], results[1], case_id)


# ----------------------------------------------------------------------------- the tests (each case in the worker)

@pytest.fixture(scope="module")
def worker():
    with Worker(__file__) as w:
        yield w


def _in_worker(worker, function, case_id):
    ok, message = worker.call(function, case_id)
    if not ok:
        pytest.fail(message, pytrace=False)


@pytest.mark.parametrize("case_id", [case[0] for case in CASES])
def test_bad_input_raises_clear_error(worker, case_id):
    _in_worker(worker, "run_bad_case", case_id)


@pytest.mark.parametrize("case_id", _accepted_ids())
def test_accepted_input_gives_the_float32_numbers(worker, case_id):
    _in_worker(worker, "run_accepted_case", case_id)


@pytest.mark.parametrize("case_id", [case[0] for case in SAME_AS])
def test_accepted_call_matches_its_plain_equivalent(worker, case_id):
    _in_worker(worker, "run_same_as_case", case_id)


def test_case_ids_are_unique():
    ids = [case[0] for case in CASES] + [case[0] for case in SAME_AS]
    assert len(ids) == len(set(ids))


# ----------------------------------------------------------------------------- the worker itself

_CASES_THAT_CRASH = """
import ctypes, os, sys, time

def run(case):
    print("stdout of", case)  # must not disturb the replies
    sys.stderr.write(f"running {case} in process {os.getpid()}\\n")
    sys.stderr.flush()
    if case == "abort":
        os.abort()
    if case == "segfault":
        ctypes.string_at(0)
    if case == "exit":
        os._exit(3)
    if case == "fail":
        assert 1 + 1 == 3, "arithmetic is broken"
    if case == "hang":
        time.sleep(600)
"""


def test_a_crashing_case_fails_alone_and_the_next_case_runs(tmp_path):
    module = tmp_path / "cases.py"
    module.write_text(_CASES_THAT_CRASH)
    with Worker(module) as worker:
        assert worker.call("run", "ok") == (True, "")
        ok, message = worker.call("run", "abort")
        assert not ok
        assert "the worker process killed by signal SIGABRT (exit code -6) while running run('abort')" in message
        assert "running abort in process" in message  # the tail of its stderr
        assert worker.call("run", "ok") == (True, "")  # in a fresh process
        assert worker.starts == 2
        ok, message = worker.call("run", "segfault")
        assert not ok and "killed by signal SIGSEGV" in message
        assert "Fatal Python error: Segmentation fault" in message  # faulthandler's traceback
        ok, message = worker.call("run", "exit")
        assert not ok and "exited with code 3 while running run('exit')" in message
        ok, message = worker.call("run", "fail")  # an ordinary failure keeps the process
        assert not ok and "AssertionError: arithmetic is broken" in message
        ok, message = worker.call("run", "hang", timeout=2)
        assert not ok and "hung: no reply after 2 s (killed) while running run('hang')" in message
        assert worker.call("run", "ok") == (True, "")
        assert worker.starts == 5  # one at first, one after each of abort, segfault, exit and hang


def test_a_module_that_cannot_be_imported_is_reported(tmp_path):
    module = tmp_path / "broken.py"
    module.write_text("import no_such_module_here\n")
    with Worker(module) as worker:
        ok, message = worker.call("run", "anything")
    assert not ok
    assert message.startswith("the worker could not start: Traceback")
    assert "ModuleNotFoundError: No module named 'no_such_module_here'" in message


@pytest.mark.parametrize("first", ["dense", "dropout"])
def test_a_large_predict_finds_every_nan_or_inf_in_x(first):
    """5000 rows make five passes of ~1000 rows on the threads, whose first products tell whether x is finite
    (a Dense first layer), or which read x (another first layer); the error says where, as the check before
    any other predict does."""
    utils.set_random_seed(3)
    head = [layers.Dense(256, activation="relu")] if first == "dense" else [layers.Dropout(0.5), layers.Dense(256)]
    model = Sequential([Input(shape=(50,)), *head, layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(0).normal(size=(5000, 50)).astype(np.float32)
    clean = model.predict(x, verbose=0)
    np.testing.assert_allclose(clean.sum(axis=1), 1, rtol=1e-5)
    for (row, col), value in [((0, 0), np.nan), ((4999, 49), np.inf), ((2617, 31), -np.inf), ((1013, 7), np.nan)]:
        bad = with_value(x, (row, col), value)
        message = f"^x contains NaN or Inf values: expected finite numbers, got {value} at row {row}, column {col}$"
        with pytest.raises(ValueError, match=message):
            model.predict(bad, verbose=0)
        with pytest.raises(ValueError, match=message):  # checked before the callbacks see a batch
            model.predict(bad, verbose=0, callbacks=[])
    too_large = with_value(x.astype(np.float64), (3001, 2), 1e39)
    with pytest.raises(ValueError, match=r"^x has values too large for float32: .* got 1e\+39 at row 3001, column 2$"):
        model.predict(too_large, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), clean)  # unchanged by the refused calls


def test_a_finite_x_whose_products_overflow_is_predicted():
    """Infinite first products from a finite x (huge weights) are outputs, not an input error."""
    model = Sequential([Input(shape=(5,)), layers.Dense(2)])
    model.set_weights([np.full((5, 2), 1e30, np.float32), np.zeros(2, np.float32)])
    out = model.predict(np.full((300, 5), 1e20, np.float32), verbose=0)
    assert out.shape == (300, 2) and np.all(out == np.inf)


def test_a_model_with_two_outputs_finds_a_nan_in_x():
    from densenn import models
    inputs = Input(shape=(4,))
    hidden = Dense(8, activation="relu")(inputs)
    two = models.Model(inputs, [hidden, Dense(3)(hidden)])
    with pytest.raises(ValueError, match=r"^x contains NaN or Inf values: .* got nan at row 399, column 1$"):
        two.predict(with_value(np.ones((400, 4)), (399, 1), np.nan), verbose=0)
