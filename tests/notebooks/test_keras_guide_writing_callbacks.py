"""Keras guide "Writing your own callbacks" (keras.io/guides/writing_your_own_callbacks), Keras 3 version: a
callback printing every hook and its log keys through fit/evaluate/predict, one printing losses per batch and
epoch, early stopping at the minimum loss with get/set_weights and stop_training, and a learning-rate
scheduler that assigns ``self.model.optimizer.learning_rate``.

Source: github.com/keras-team/keras-io, guides/keras_core/writing_your_own_callbacks.py (the Keras 3 edition).
Changed:
- imports: ``import keras`` -> ``import densenn as keras`` (``keras.datasets.mnist`` is densenn's bundled
  MNIST; the Keras run reads the same bundled images);
- ``np.Inf`` -> ``np.inf``: NumPy 2 removed the alias (the guide fails there on NumPy 2 with Keras too).
Trainings as in the guide (1,000 samples; 1, 2, 30 and 15 epochs).
"""
import re

import numpy as np
import pytest


def hook_lines(text):
    """The CustomCallback's lines (predict's progress bar writes between them without newlines)."""
    return re.findall(r"(?:\.\.\.)?[A-Z][a-z]+[^.\n]*?; got log keys: \[[^\]]*\]", text)

SOURCE = '''
import numpy as np
import densenn as keras

# Define the Keras model to add callbacks to
def get_model():
    model = keras.Sequential()
    model.add(keras.layers.Dense(1))
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
        loss="mean_squared_error",
        metrics=["mean_absolute_error"],
    )
    return model

# Load example MNIST data and pre-process it
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
x_test = x_test.reshape(-1, 784).astype("float32") / 255.0

# Limit the data to 1000 samples
x_train = x_train[:1000]
y_train = y_train[:1000]
x_test = x_test[:1000]
y_test = y_test[:1000]

class CustomCallback(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        keys = list(logs.keys())
        print("Starting training; got log keys: {}".format(keys))

    def on_train_end(self, logs=None):
        keys = list(logs.keys())
        print("Stop training; got log keys: {}".format(keys))

    def on_epoch_begin(self, epoch, logs=None):
        keys = list(logs.keys())
        print("Start epoch {} of training; got log keys: {}".format(epoch, keys))

    def on_epoch_end(self, epoch, logs=None):
        keys = list(logs.keys())
        print("End epoch {} of training; got log keys: {}".format(epoch, keys))

    def on_test_begin(self, logs=None):
        keys = list(logs.keys())
        print("Start testing; got log keys: {}".format(keys))

    def on_test_end(self, logs=None):
        keys = list(logs.keys())
        print("Stop testing; got log keys: {}".format(keys))

    def on_predict_begin(self, logs=None):
        keys = list(logs.keys())
        print("Start predicting; got log keys: {}".format(keys))

    def on_predict_end(self, logs=None):
        keys = list(logs.keys())
        print("Stop predicting; got log keys: {}".format(keys))

    def on_train_batch_begin(self, batch, logs=None):
        keys = list(logs.keys())
        print("...Training: start of batch {}; got log keys: {}".format(batch, keys))

    def on_train_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        print("...Training: end of batch {}; got log keys: {}".format(batch, keys))

    def on_test_batch_begin(self, batch, logs=None):
        keys = list(logs.keys())
        print("...Evaluating: start of batch {}; got log keys: {}".format(batch, keys))

    def on_test_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        print("...Evaluating: end of batch {}; got log keys: {}".format(batch, keys))

    def on_predict_batch_begin(self, batch, logs=None):
        keys = list(logs.keys())
        print("...Predicting: start of batch {}; got log keys: {}".format(batch, keys))

    def on_predict_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        print("...Predicting: end of batch {}; got log keys: {}".format(batch, keys))

# %% hooks
model = get_model()
model.fit(
    x_train,
    y_train,
    batch_size=128,
    epochs=1,
    verbose=0,
    validation_split=0.5,
    callbacks=[CustomCallback()],
)

res = model.evaluate(
    x_test, y_test, batch_size=128, verbose=0, callbacks=[CustomCallback()]
)

res = model.predict(x_test, batch_size=128, callbacks=[CustomCallback()])
# %%
class LossAndErrorPrintingCallback(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print(
            "Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"])
        )

    def on_test_batch_end(self, batch, logs=None):
        print(
            "Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"])
        )

    def on_epoch_end(self, epoch, logs=None):
        print(
            "The average loss for epoch {} is {:7.2f} "
            "and mean absolute error is {:7.2f}.".format(
                epoch, logs["loss"], logs["mean_absolute_error"]
            )
        )

# %% printing
model = get_model()
model.fit(
    x_train,
    y_train,
    batch_size=128,
    epochs=2,
    verbose=0,
    callbacks=[LossAndErrorPrintingCallback()],
)

res = model.evaluate(
    x_test,
    y_test,
    batch_size=128,
    verbose=0,
    callbacks=[LossAndErrorPrintingCallback()],
)
# %%
class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
    """Stop training when the loss is at its min, i.e. the loss stops decreasing.

    Arguments:
        patience: Number of epochs to wait after min has been hit. After this
        number of no improvement, training stops.
    """

    def __init__(self, patience=0):
        super().__init__()
        self.patience = patience
        # best_weights to store the weights at which the minimum loss occurs.
        self.best_weights = None

    def on_train_begin(self, logs=None):
        # The number of epoch it has waited when loss is no longer minimum.
        self.wait = 0
        # The epoch the training stops at.
        self.stopped_epoch = 0
        # Initialize the best as infinity.
        self.best = np.inf

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("loss")
        if np.less(current, self.best):
            self.best = current
            self.wait = 0
            # Record the best weights if current results is better (less).
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                print("Restoring model weights from the end of the best epoch.")
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")

# %% early_stopping
model = get_model()
early_stopping = EarlyStoppingAtMinLoss()
history = model.fit(
    x_train,
    y_train,
    batch_size=64,
    epochs=30,
    verbose=0,
    callbacks=[LossAndErrorPrintingCallback(), early_stopping],
)
# %%
class CustomLearningRateScheduler(keras.callbacks.Callback):
    """Learning rate scheduler which sets the learning rate according to schedule.

    Arguments:
        schedule: a function that takes an epoch index
            (integer, indexed from 0) and current learning rate
            as inputs and returns a new learning rate as output (float).
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        # Get the current learning rate from model's optimizer.
        lr = self.model.optimizer.learning_rate
        # Call schedule function to get the scheduled learning rate.
        scheduled_lr = self.schedule(epoch, lr)
        # Set the value back to the optimizer before this epoch starts
        self.model.optimizer.learning_rate = scheduled_lr
        print(f"\\nEpoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")

LR_SCHEDULE = [
    # (epoch to start, learning rate) tuples
    (3, 0.05),
    (6, 0.01),
    (9, 0.005),
    (12, 0.001),
]

def lr_schedule(epoch, lr):
    """Helper function to retrieve the scheduled learning rate based on epoch."""
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for i in range(len(LR_SCHEDULE)):
        if epoch == LR_SCHEDULE[i][0]:
            return LR_SCHEDULE[i][1]
    return lr

# %% schedule
model = get_model()
history = model.fit(
    x_train,
    y_train,
    batch_size=64,
    epochs=15,
    verbose=0,
    callbacks=[
        LossAndErrorPrintingCallback(),
        CustomLearningRateScheduler(lr_schedule),
    ],
)
'''


def check(nb):
    hooks = hook_lines(nb.printed["hooks"])
    assert hooks[0] == "Starting training; got log keys: []"
    assert "...Training: end of batch 3; got log keys: ['loss', 'mean_absolute_error']" in hooks
    assert nb.cells["hooks"]["res"].shape == (1000, 1)
    printing = nb.printed["printing"]
    assert printing.count("The average loss for epoch") == 2
    stopped = nb["early_stopping"].stopped_epoch
    assert 0 < stopped < 29 and f"Epoch {stopped + 1}: early stopping" in nb.printed["early_stopping"]
    schedule = nb.printed["schedule"]
    for epoch, lr in [(2, 0.1), (3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001), (14, 0.001)]:
        assert f"Epoch {epoch}: Learning rate is {lr}" in schedule
    assert len(nb["history"].history["loss"]) == 15


def test_keras(run):
    check(run("keras"))


def test_densenn(run):
    check(run("densenn"))


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    # every hook, in Keras' order, with Keras' log keys
    assert hook_lines(d.printed["hooks"]) == hook_lines(k.printed["hooks"])
    # the learning rates the scheduler read and set, epoch by epoch (Keras keeps them in a float32 variable and
    # prints 0.10000000149011612 where densenn's float64 prints 0.1)
    rates = lambda text: [(int(e), np.float32(r)) for e, r in  # noqa: E731
                          re.findall(r"Epoch (\d+): Learning rate is ([0-9.e-]+)\.\n", text)]
    assert rates(d.printed["schedule"]) == rates(k.printed["schedule"]) and len(rates(d.printed["schedule"])) == 15
    # the same number of batches per epoch reported, and losses of the same size (from other initial weights)
    assert len(d.printed["printing"].splitlines()) == len(k.printed["printing"].splitlines())
    assert d["history"].history["loss"][-1] == pytest.approx(k["history"].history["loss"][-1], rel=0.5)
    assert d["early_stopping"].best == pytest.approx(k["early_stopping"].best, rel=0.5)
