"""ModelCheckpoint: saves through the model's formats, every epoch or only on improvement, with Keras'
filepath placeholders and messages."""
import os

import numpy as np
import pytest

import densenn
from densenn import Input, Sequential, callbacks, layers, models

rng = np.random.default_rng(8)
X = rng.normal(size=(64, 3)).astype(np.float32)
Y = (X[:, 0] - X[:, 1] > 0).astype(np.float32)


def model():
    densenn.utils.set_random_seed(8)
    m = Sequential([Input(shape=(3,)), layers.Dense(4, activation="tanh"), layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return m


class Snapshots(callbacks.Callback):
    """Each epoch's weights and logs, recorded after the checkpoint ran."""

    def __init__(self):
        super().__init__()
        self.weights, self.logs = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())
        self.logs.append(dict(logs))


def test_saves_every_epoch_with_placeholders(tmp_path, capsys):
    m, snaps = model(), Snapshots()
    path = str(tmp_path / "ckpt-{epoch:02d}-{loss:.3f}.keras")
    m.fit(X, Y, epochs=3, verbose=0, callbacks=[callbacks.ModelCheckpoint(path, verbose=1), snaps])
    out = capsys.readouterr().out
    for epoch in range(3):
        name = path.format(epoch=epoch + 1, **snaps.logs[epoch])
        assert os.path.exists(name)
        assert f"\nEpoch {epoch + 1}: saving model to {name}\n" in out
        loaded = models.load_model(name)
        for a, b in zip(loaded.get_weights(), snaps.weights[epoch]):
            np.testing.assert_array_equal(a, b)


def test_save_best_only_keeps_the_best_epoch(tmp_path, capsys):
    m, snaps = model(), Snapshots()
    path = str(tmp_path / "best.dnn")
    m.fit(X, Y, epochs=6, verbose=0, validation_data=(X[:16], 1 - Y[:16]),  # flipped labels: val_loss rises
          callbacks=[callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True, verbose=1), snaps])
    val = [logs["val_loss"] for logs in snaps.logs]
    best = int(np.argmin(val))
    for a, b in zip(models.load_model(path).get_weights(), snaps.weights[best]):
        np.testing.assert_array_equal(a, b)
    out = capsys.readouterr().out
    assert f"Epoch 1: val_loss improved from None to {val[0]:.5f}, saving model to {path}" in out
    if best < 5:
        assert f"Epoch 6: val_loss did not improve from {min(val[:6]):.5f}" in out


def test_mode_max_for_accuracy_and_weights_only(tmp_path):
    m, snaps = model(), Snapshots()
    path = str(tmp_path / "w.dnn")
    cb = callbacks.ModelCheckpoint(path, monitor="accuracy", save_best_only=True, save_weights_only=True)
    m.fit(X, Y, epochs=5, verbose=0, callbacks=[cb, snaps])
    acc = [logs["accuracy"] for logs in snaps.logs]
    best = int(np.argmax(acc))  # first epoch reaching the maximum: later equal values are no improvement
    fresh = model()
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), snaps.weights[best]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, message", [
    ({"filepath": "m.h5x"}, "must end in '.keras' or '.dnn'"),
    ({"filepath": "w.keras", "save_weights_only": True}, "must end in '.dnn'"),
    ({"filepath": "m.keras", "save_freq": 10}, "save_freq='epoch'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        callbacks.ModelCheckpoint(**kwargs)


def test_missing_placeholder_key_is_a_clear_error(tmp_path):
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        model().fit(X, Y, epochs=1, verbose=0,
                    callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "{val_auc:.2f}.keras"))])
