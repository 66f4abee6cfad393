"""Keras 3 callbacks, with Keras 3's defaults and formulas: EarlyStopping, ReduceLROnPlateau, LearningRateScheduler,
CSVLogger, TerminateOnNaN, LambdaCallback, and which of them make training run batch by batch."""
import math
import re

import numpy as np
import pytest

import densenn
from densenn import Input, Sequential, callbacks, optimizers, utils
from densenn.callbacks import (Callback, CallbackList, CSVLogger, EarlyStopping, History, LambdaCallback,
                               LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN)
from densenn.layers import Dense

RNG = np.random.default_rng(7)
X = RNG.normal(size=(64, 4)).astype(np.float32)
Y = (X[:, 0] - 0.5 * X[:, 2] > 0).astype(np.float32)
XV = RNG.normal(size=(32, 4)).astype(np.float32)
YV = (XV[:, 0] - 0.5 * XV[:, 2] > 0).astype(np.float32)


def small_model(optimizer=None, seed=0, metrics=("accuracy",)):
    """The 4-8-1 sigmoid network, compiled with binary cross-entropy."""
    utils.set_random_seed(seed)
    model = Sequential([Input(shape=(4,)), Dense(8, activation="sigmoid"), Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizer or optimizers.SGD(0.1), loss="binary_crossentropy", metrics=list(metrics))
    return model


def drive(callback, values, key="val_loss", model=None):
    """Feeds `callback` one epoch log per value, as fit would; returns the epoch at which it stopped training
    (None if it never did) and the logs it was given."""
    model = model or small_model()
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin({})
    given, stopped = [], None
    for epoch, value in enumerate(values):
        logs = {"loss": 1.0, key: value}
        callback.on_epoch_end(epoch, logs)
        given.append(logs)
        if model.stop_training:
            stopped = epoch
            break
    callback.on_train_end(given[-1] if given else {})
    return stopped, given


# ----------------------------------------------------------------------------- exports

def test_everything_is_exported():
    for name in ("Callback", "CallbackList", "History", "EarlyStopping", "ReduceLROnPlateau",
                 "LearningRateScheduler", "CSVLogger", "TerminateOnNaN", "LambdaCallback"):
        assert name in callbacks.__all__
        assert hasattr(densenn.callbacks, name)
    for name in callbacks.__all__:
        assert hasattr(callbacks, name)


# ----------------------------------------------------------------------------- EarlyStopping (scripted)

def test_early_stopping_defaults():
    es = EarlyStopping()
    assert (es.monitor, es.min_delta, es.patience, es.verbose, es.mode, es.baseline, es.restore_best_weights,
            es.start_from_epoch) == ("val_loss", 0, 0, 0, "auto", None, False, 0)


@pytest.mark.parametrize("values, patience, expected", [
    ([1.0, 0.9, 0.95, 0.5], 0, 2),        # the first epoch without improvement
    ([1.0, 1.0, 0.5], 0, 1),              # equal is no improvement
    ([1.0, 0.9, 0.91, 0.92, 0.5], 2, 3),  # two epochs without improvement
    ([1.0, 0.9, 0.91, 0.8, 0.85, 0.86], 2, 5),  # an improvement restarts the count
    ([1.0, 0.9, 0.8, 0.7], 1, None),      # always improving: never stops
    ([1.0], 0, None),                     # never after the first epoch
])
def test_early_stopping_patience(values, patience, expected):
    stopped, _ = drive(EarlyStopping(patience=patience), values)
    assert stopped == expected


def test_early_stopping_counts_wait_and_records_the_stop():
    es = EarlyStopping(patience=2)
    stopped, _ = drive(es, [1.0, 0.9, 0.95, 0.97])
    assert stopped == 3 and es.stopped_epoch == 3 and es.wait == 2
    assert es.best == 0.9 and es.best_epoch == 1


def test_early_stopping_min_delta():
    # 0.96 improves on 1.0 by less than min_delta: no improvement
    assert drive(EarlyStopping(patience=1, min_delta=0.05), [1.0, 0.96, 0.5])[0] == 1
    assert drive(EarlyStopping(patience=1, min_delta=-0.05), [1.0, 0.96, 0.5])[0] == 1  # its absolute value
    assert drive(EarlyStopping(patience=1), [1.0, 0.96, 0.5])[0] is None
    # in max mode too
    assert drive(EarlyStopping(monitor="val_accuracy", patience=1, min_delta=0.05), [0.5, 0.54, 0.9],
                 key="val_accuracy")[0] == 1


@pytest.mark.parametrize("monitor, mode, values, expected", [
    ("val_accuracy", "auto", [0.5, 0.6, 0.55], 2),  # accuracy: higher is better
    ("val_acc", "auto", [0.5, 0.6, 0.55], 2),
    ("accuracy", "auto", [0.5, 0.6, 0.55], 2),
    ("val_auc", "auto", [0.5, 0.6, 0.55], 2),
    ("val_binary_accuracy", "auto", [0.5, 0.6, 0.55], 2),
    ("val_precision", "auto", [0.5, 0.6, 0.55], 2),
    ("loss", "auto", [0.5, 0.4, 0.45], 2),
    ("val_mae", "auto", [0.5, 0.4, 0.45], 2),
    ("val_accuracy", "min", [0.5, 0.6, 0.4], 1),
    ("val_loss", "max", [0.5, 0.4, 0.6], 1),
])
def test_early_stopping_mode(monitor, mode, values, expected):
    assert drive(EarlyStopping(monitor=monitor, mode=mode), values, key=monitor)[0] == expected


def test_early_stopping_unknown_mode_warns_and_uses_auto():
    with pytest.warns(UserWarning, match="EarlyStopping mode maximum is unknown, fallback to auto mode."):
        es = EarlyStopping(monitor="val_accuracy", mode="maximum")
    assert es.mode == "auto"
    assert drive(es, [0.5, 0.6, 0.55], key="val_accuracy")[0] == 2


def test_early_stopping_baseline():
    # improvements that do not beat the baseline do not restart the wait
    assert drive(EarlyStopping(patience=2, baseline=0.5), [0.9, 0.95, 0.97, 0.99])[0] == 1
    assert drive(EarlyStopping(patience=2), [0.9, 0.95, 0.97, 0.99])[0] == 2
    # an epoch that beats the baseline restarts it
    assert drive(EarlyStopping(patience=2, baseline=0.5), [0.4, 0.45, 0.46, 0.47])[0] == 2
    # max mode: the baseline is a floor to rise above
    assert drive(EarlyStopping(monitor="val_accuracy", patience=1, baseline=0.8), [0.6, 0.7, 0.7],
                 key="val_accuracy")[0] == 2
    assert drive(EarlyStopping(monitor="val_accuracy", patience=1, baseline=0.8), [0.9, 0.95, 0.95],
                 key="val_accuracy")[0] == 2


def test_early_stopping_start_from_epoch():
    rising = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert drive(EarlyStopping(), rising)[0] == 1
    # epochs before start_from_epoch are not monitored: epoch 3 is the first, and the best so far
    assert drive(EarlyStopping(start_from_epoch=3), rising)[0] == 4
    assert drive(EarlyStopping(start_from_epoch=3, patience=1), rising)[0] == 4


def test_early_stopping_missing_monitor_warns_and_continues():
    es = EarlyStopping(monitor="val_loss", patience=0)
    model = small_model()
    es.set_model(model)
    es.on_train_begin({})
    with pytest.warns(UserWarning, match=re.escape(
            "Early stopping conditioned on metric `val_loss` which is not available. "
            "Available metrics are: accuracy,loss")):
        es.on_epoch_end(0, {"accuracy": 0.5, "loss": 0.7})
    assert not model.stop_training
    # a real fit without validation data runs all its epochs
    with pytest.warns(UserWarning, match="Early stopping conditioned on metric `val_loss`"):
        history = model.fit(X, Y, epochs=3, verbose=0, callbacks=[EarlyStopping()])
    assert history.epoch == [0, 1, 2]


def test_early_stopping_message_only_when_verbose(capsys):
    drive(EarlyStopping(patience=0, verbose=1), [1.0, 0.9, 0.95])
    assert capsys.readouterr().out == "Epoch 3: early stopping\n"
    drive(EarlyStopping(patience=0), [1.0, 0.9, 0.95])
    assert capsys.readouterr().out == ""
    drive(EarlyStopping(patience=0, verbose=1), [1.0, 0.9, 0.8])  # never stopped: no message
    assert capsys.readouterr().out == ""


def test_early_stopping_instance_can_be_reused():
    es = EarlyStopping(patience=1)
    assert drive(es, [0.1, 0.2, 0.3])[0] == 1
    # a new training starts afresh: the earlier best (0.1) is forgotten
    assert drive(es, [1.0, 0.9, 0.8, 0.85, 0.86])[0] == 3


def _weights_like(model, value):
    return [np.full_like(w, value) for w in model.get_weights()]


def test_early_stopping_restores_the_best_epochs_weights(capsys):
    model = small_model()
    es = EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    es.set_model(model)
    model.stop_training = False
    es.on_train_begin({})
    values = [1.0, 0.5, 0.7, 0.8, 0.9]
    for epoch, value in enumerate(values):
        model.set_weights(_weights_like(model, epoch))  # a different "training state" each epoch
        es.on_epoch_end(epoch, {"val_loss": value})
        if model.stop_training:
            break
    assert epoch == 3
    es.on_train_end({})
    assert all(np.array_equal(w, np.full_like(w, 1)) for w in model.get_weights())  # epoch 1's
    assert capsys.readouterr().out == ("Epoch 4: early stopping\n"
                                       "Restoring model weights from the end of the best epoch: 2.\n")


def test_early_stopping_restores_best_weights_even_without_stopping(capsys):
    # Keras 3 restores at the end of training, whether or not it stopped early
    model = small_model()
    es = EarlyStopping(patience=5, restore_best_weights=True, verbose=1)
    es.set_model(model)
    es.on_train_begin({})
    for epoch, value in enumerate([1.0, 0.5, 0.7]):
        model.set_weights(_weights_like(model, epoch))
        es.on_epoch_end(epoch, {"val_loss": value})
    es.on_train_end({})
    assert not model.stop_training
    assert all(np.array_equal(w, np.full_like(w, 1)) for w in model.get_weights())
    assert capsys.readouterr().out == "Restoring model weights from the end of the best epoch: 2.\n"


def test_early_stopping_without_restore_keeps_the_last_weights():
    model = small_model()
    es = EarlyStopping(patience=1)
    es.set_model(model)
    es.on_train_begin({})
    for epoch, value in enumerate([1.0, 0.5, 0.7]):
        model.set_weights(_weights_like(model, epoch))
        es.on_epoch_end(epoch, {"val_loss": value})
    es.on_train_end({})
    assert es.best_weights is None
    assert all(np.array_equal(w, np.full_like(w, 2)) for w in model.get_weights())


# ----------------------------------------------------------------------------- EarlyStopping (training)

def test_early_stopping_in_a_real_fit(capsys):
    # with a huge min_delta no epoch after the first counts as an improvement
    model = small_model()
    history = model.fit(X, Y, epochs=10, batch_size=16, verbose=0,
                        callbacks=[EarlyStopping(monitor="loss", min_delta=10, patience=1, verbose=1)])
    assert history.epoch == [0, 1]
    assert len(history.history["loss"]) == 2
    assert capsys.readouterr().out == "Epoch 2: early stopping\n"
    assert model.fit(X, Y, epochs=2, verbose=0).epoch == [0, 1]  # the next fit runs in full


def breast_cancer_like(seed=42):
    """569 samples of 30 correlated features with noisy, learnable binary labels: 426 to train, 143 to validate."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(569, 30))
    x[:, 10:] += 0.5 * x[:, :20]
    logits = x @ rng.normal(size=30) / np.sqrt(30) * 6
    y = (rng.random(569) < 1 / (1 + np.exp(-logits))).astype(np.float32)
    x = x.astype(np.float32)
    return (x[:426], y[:426]), (x[426:], y[426:])


def test_early_stopping_on_a_breast_cancer_sized_problem(capsys):
    (x, y), (xv, yv) = breast_cancer_like()
    assert x.shape == (426, 30)
    utils.set_random_seed(0)
    model = Sequential([Input(shape=(30,)), Dense(16, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    es = EarlyStopping(monitor="val_loss", patience=3, verbose=1)
    history = model.fit(x, y, epochs=300, batch_size=32, validation_data=(xv, yv), verbose=0, callbacks=[es])
    epochs_run = len(history.epoch)
    assert epochs_run < 300
    assert model.stop_training
    assert es.stopped_epoch == epochs_run - 1
    # it stopped 3 epochs after the best validation loss
    val_loss = history.history["val_loss"]
    assert int(np.argmin(val_loss)) == epochs_run - 4
    assert max(history.history["val_accuracy"]) > 0.8  # it did learn
    assert capsys.readouterr().out == f"Epoch {epochs_run}: early stopping\n"


def test_early_stopping_restore_best_weights_in_a_real_fit(capsys):
    (x, y), (xv, yv) = breast_cancer_like(seed=3)
    utils.set_random_seed(1)
    model = Sequential([Input(shape=(30,)), Dense(16, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    snapshots = []
    recorder = LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    es = EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    history = model.fit(x, y, epochs=300, batch_size=32, validation_data=(xv, yv), verbose=0,
                        callbacks=[recorder, es])
    best = int(np.argmin(history.history["val_loss"]))
    assert len(history.epoch) < 300 and best < len(history.epoch) - 1
    assert es.best_epoch == best
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), snapshots[best]))
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), snapshots[-1]))
    assert capsys.readouterr().out == (f"Epoch {len(history.epoch)}: early stopping\n"
                                       f"Restoring model weights from the end of the best epoch: {best + 1}.\n")


# ----------------------------------------------------------------------------- ReduceLROnPlateau

def lr_model(lr=0.1):
    return small_model(optimizers.SGD(lr))


def test_reduce_lr_defaults_and_factor_check():
    r = ReduceLROnPlateau()
    assert (r.monitor, r.factor, r.patience, r.verbose, r.mode, r.min_delta, r.cooldown, r.min_lr) == \
        ("val_loss", 0.1, 10, 0, "auto", 1e-4, 0, 0.0)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau does not support a factor >= 1.0. Received factor=1.5"):
        ReduceLROnPlateau(factor=1.5)


def test_reduce_lr_reduces_after_patience(capsys):
    model = lr_model(0.1)
    _, logs = drive(ReduceLROnPlateau(factor=0.5, patience=2, verbose=1), [1.0] * 5, model=model)
    # logs carry the rate the epoch trained with; the reduction applies from the next epoch
    assert [l["learning_rate"] for l in logs] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05])
    assert model.optimizer.learning_rate == pytest.approx(0.025)
    assert capsys.readouterr().out == ("\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.05.\n"
                                       "\nEpoch 5: ReduceLROnPlateau reducing learning rate to 0.025.\n")


def test_reduce_lr_min_delta():
    model = lr_model(0.1)
    # improvements of 5e-5 are below the default min_delta 1e-4
    drive(ReduceLROnPlateau(patience=2), [1.0, 1.0 - 5e-5, 1.0 - 1e-4], model=model)
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    model = lr_model(0.1)
    drive(ReduceLROnPlateau(patience=2, min_delta=0), [1.0, 1.0 - 5e-5, 1.0 - 1e-4], model=model)
    assert model.optimizer.learning_rate == pytest.approx(0.1)


def test_reduce_lr_cooldown():
    model = lr_model(1.0)
    _, logs = drive(ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2), [1.0] * 8, model=model)
    # reduced at epochs 1, 3, 5, 7: each reduction is followed by cooldown epochs that do not count
    assert [l["learning_rate"] for l in logs] == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125])
    model = lr_model(1.0)
    _, logs = drive(ReduceLROnPlateau(factor=0.5, patience=1), [1.0] * 5, model=model)
    assert [l["learning_rate"] for l in logs] == pytest.approx([1, 1, 0.5, 0.25, 0.125])


def test_reduce_lr_min_lr(capsys):
    model = lr_model(0.1)
    _, logs = drive(ReduceLROnPlateau(patience=1, min_lr=0.005, verbose=1), [1.0] * 6, model=model)
    assert model.optimizer.learning_rate == pytest.approx(0.005)
    assert [l["learning_rate"] for l in logs] == pytest.approx([0.1, 0.1, 0.01, 0.005, 0.005, 0.005])
    messages = capsys.readouterr().out.strip().splitlines()
    assert messages == ["Epoch 2: ReduceLROnPlateau reducing learning rate to 0.010000000000000002.", "",
                        "Epoch 3: ReduceLROnPlateau reducing learning rate to 0.005."]


def test_reduce_lr_max_mode_for_accuracy():
    model = lr_model(0.1)
    drive(ReduceLROnPlateau(monitor="val_accuracy", patience=1), [0.5, 0.6, 0.7], key="val_accuracy",
          model=model)
    assert model.optimizer.learning_rate == pytest.approx(0.1)  # rising accuracy is improvement
    drive(ReduceLROnPlateau(monitor="val_accuracy", patience=1), [0.5, 0.4], key="val_accuracy", model=model)
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    drive(ReduceLROnPlateau(monitor="val_accuracy", mode="min", patience=1), [0.5, 0.6], key="val_accuracy",
          model=model)
    assert model.optimizer.learning_rate == pytest.approx(0.001)


def test_reduce_lr_missing_monitor_warns():
    model = lr_model(0.1)
    r = ReduceLROnPlateau(patience=0)
    r.set_model(model)
    r.on_train_begin({})
    logs = {"loss": 0.5}
    with pytest.warns(UserWarning, match=re.escape(
            "Learning rate reduction is conditioned on metric `val_loss` which is not available. "
            "Available metrics are: loss,learning_rate.")):
        r.on_epoch_end(0, logs)
    assert logs["learning_rate"] == pytest.approx(0.1)
    assert model.optimizer.learning_rate == pytest.approx(0.1)


def test_reduce_lr_in_a_real_fit():
    model = lr_model(0.1)
    before = model.get_weights()
    history = model.fit(X, Y, epochs=4, batch_size=16, validation_data=(XV, YV), verbose=0,
                        callbacks=[ReduceLROnPlateau(monitor="loss", min_delta=10, patience=1)])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert model.optimizer.learning_rate == pytest.approx(1e-4)
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


# ----------------------------------------------------------------------------- LearningRateScheduler

def test_scheduler_with_epoch_only():
    model = lr_model(0.5)
    history = model.fit(X, Y, epochs=3, batch_size=16, verbose=0,
                        callbacks=[LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert model.optimizer.learning_rate == pytest.approx(0.1 / 3)


def test_scheduler_with_epoch_and_lr():
    model = lr_model(0.2)
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return lr * 0.5

    history = model.fit(X, Y, epochs=3, batch_size=16, verbose=0, callbacks=[LearningRateScheduler(schedule)])
    assert [e for e, _ in seen] == [0, 1, 2]
    assert [lr for _, lr in seen] == pytest.approx([0.2, 0.1, 0.05])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])


def test_scheduler_sets_the_rate_training_uses():
    model = lr_model(0.1)
    before = model.get_weights()
    model.fit(X, Y, epochs=3, batch_size=16, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: 0.0)])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    # a zero rate for the first epoch only: the weights change in the second
    model = lr_model(0.1)
    snapshots = []
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0,
              callbacks=[LearningRateScheduler(lambda epoch, lr: 0.0 if epoch == 0 else 0.1),
                         LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))])
    assert all(np.array_equal(a, b) for a, b in zip(before, snapshots[0]))
    assert not all(np.array_equal(a, b) for a, b in zip(before, snapshots[1]))


def test_scheduler_verbose_message(capsys):
    model = lr_model(0.1)
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: 0.25, verbose=1)])
    assert capsys.readouterr().out == ("\nEpoch 1: LearningRateScheduler setting learning rate to 0.25.\n"
                                       "\nEpoch 2: LearningRateScheduler setting learning rate to 0.25.\n")


def test_scheduler_output_must_be_a_float():
    model = lr_model(0.1)
    with pytest.raises(ValueError, match=r"The output of the `schedule` function should be a float. Got: 1$"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: 1)])
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: np.float32(0.5))])
    assert model.optimizer.learning_rate == pytest.approx(0.5)


# ----------------------------------------------------------------------------- CSVLogger

def read_rows(path):
    with open(path, "rb") as f:
        raw = f.read().decode()
    assert raw.endswith("\r\n") and "\n" not in raw.replace("\r\n", "")  # the csv module's excel dialect
    return [line.split(",") for line in raw.split("\r\n")[:-1]]


def test_csv_logger_writes_header_and_rows(tmp_path):
    path = tmp_path / "training.log"
    model = small_model()
    history = model.fit(X, Y, epochs=3, batch_size=16, validation_data=(XV, YV), verbose=0,
                        callbacks=[CSVLogger(path)])
    rows = read_rows(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(rows) == 4
    for epoch, row in enumerate(rows[1:]):
        assert row[0] == str(epoch)
        for key, text in zip(rows[0][1:], row[1:]):
            assert float(text) == history.history[key][epoch]


def test_csv_logger_append_and_overwrite(tmp_path):
    path = str(tmp_path / "log.csv")
    model = small_model()
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[CSVLogger(path)])
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[CSVLogger(path, append=True)])
    rows = read_rows(path)
    assert rows[0] == ["epoch", "accuracy", "loss"]
    assert [r[0] for r in rows] == ["epoch", "0", "1", "0", "1", "2"]  # one header, then all rows
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[CSVLogger(path)])  # append=False starts the file afresh
    assert [r[0] for r in read_rows(path)] == ["epoch", "0"]
    fresh = str(tmp_path / "fresh.csv")  # append to a file that does not exist yet: with a header
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[CSVLogger(fresh, append=True)])
    assert [r[0] for r in read_rows(fresh)] == ["epoch", "0"]


def test_csv_logger_separator_and_learning_rate_column(tmp_path):
    path = tmp_path / "log.tsv"
    model = lr_model(0.1)
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[LearningRateScheduler(lambda e: 0.1 * (e + 1)),
                                                    CSVLogger(path, separator="\t")])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch\taccuracy\tlearning_rate\tloss"
    assert [line.split("\t")[2] for line in lines[1:]] == ["0.1", "0.2"]


def test_csv_logger_missing_values_and_lists(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    logger.set_model(small_model())
    logger.on_train_begin({})
    logger.on_epoch_end(0, {"loss": 0.5, "extra": [1, 2]})
    logger.on_epoch_end(1, {"loss": 0.25})
    logger.on_train_end({})
    with open(path, newline="") as f:
        text = f.read()
    assert text == 'epoch,extra,loss\r\n0,"""[1, 2]""",0.5\r\n1,NA,0.25\r\n'


# ----------------------------------------------------------------------------- TerminateOnNaN

def test_terminate_on_nan_driven_directly(capsys):
    model = small_model()
    t = TerminateOnNaN()
    t.set_model(model)
    model.stop_training = False
    t.on_train_batch_end(0, {"loss": 0.5})
    assert not model.stop_training and capsys.readouterr().out == ""
    t.on_train_batch_end(5, {"loss": float("nan")})
    assert model.stop_training
    assert capsys.readouterr().out == "Batch 5: Invalid loss, terminating training\n"
    model.stop_training = False
    t.on_train_batch_end(2, {"loss": float("inf")})
    assert model.stop_training
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 3"):
        TerminateOnNaN(raise_error=True).on_train_batch_end(3, {"loss": float("nan")})


def test_terminate_on_nan_stops_a_diverging_fit(capsys):
    utils.set_random_seed(0)
    x = (RNG.normal(size=(64, 4)) * 100).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(1)])
    model.compile(optimizer=optimizers.SGD(1e10), loss="mse")
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[TerminateOnNaN()])
    out = capsys.readouterr().out
    match = re.fullmatch(r"Batch (\d+): Invalid loss, terminating training\n", out)
    assert match, out
    assert history.epoch == [0]
    assert math.isnan(history.history["loss"][0]) or math.isinf(history.history["loss"][0])
    assert model.optimizer.iterations == int(match.group(1)) + 1  # no batch after the bad one


# ----------------------------------------------------------------------------- LambdaCallback

def test_lambda_callback_hooks_are_called():
    calls = {name: [] for name in ("train_begin", "train_end", "epoch_begin", "epoch_end", "batch_begin",
                                   "batch_end")}
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls["train_begin"].append(logs),
        on_train_end=lambda logs: calls["train_end"].append(logs),
        on_epoch_begin=lambda epoch, logs: calls["epoch_begin"].append(epoch),
        on_epoch_end=lambda epoch, logs: calls["epoch_end"].append((epoch, dict(logs))),
        on_train_batch_begin=lambda batch, logs: calls["batch_begin"].append(batch),
        on_train_batch_end=lambda batch, logs: calls["batch_end"].append((batch, dict(logs))),
    )
    model = small_model()
    history = model.fit(X, Y, epochs=3, batch_size=16, verbose=0, callbacks=[cb])  # 4 batches an epoch
    assert len(calls["train_begin"]) == 1 and len(calls["train_end"]) == 1
    assert calls["epoch_begin"] == [0, 1, 2]
    assert [e for e, _ in calls["epoch_end"]] == [0, 1, 2]
    assert calls["batch_begin"] == [0, 1, 2, 3] * 3
    assert [b for b, _ in calls["batch_end"]] == [0, 1, 2, 3] * 3
    assert all(set(logs) == {"loss", "accuracy"} for _, logs in calls["batch_end"])
    assert [logs["loss"] for _, logs in calls["epoch_end"]] == history.history["loss"]


def test_lambda_callback_other_hooks_by_keyword():
    seen = []
    cb = LambdaCallback(on_test_batch_end=lambda batch, logs: seen.append(("test", batch)),
                        on_predict_end=lambda logs: seen.append(("predict_end",)))
    model = small_model()
    model.evaluate(X, Y, batch_size=32, verbose=0, callbacks=[cb])
    model.predict(X, verbose=0, callbacks=[cb])
    assert seen == [("test", 0), ("test", 1), ("predict_end",)]


def test_lambda_callback_can_stop_training():
    model = small_model()

    def stop(epoch, logs):
        if epoch == 1:
            model.stop_training = True

    assert model.fit(X, Y, epochs=5, verbose=0, callbacks=[LambdaCallback(on_epoch_end=stop)]).epoch == [0, 1]


# ----------------------------------------------------------------------------- per-batch decision

def wants(cb, mode="train"):
    return CallbackList([cb], small_model(), {}).wants_batches(mode)


def test_epoch_only_callbacks_keep_the_fast_path(tmp_path):
    class EpochOnly(Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    for cb in (History(), EpochOnly(), LambdaCallback(on_epoch_end=lambda e, l: None, on_train_end=lambda l: None),
               EarlyStopping(), ReduceLROnPlateau(), LearningRateScheduler(lambda e: 0.1),
               CSVLogger(tmp_path / "x.csv")):
        assert not any(wants(cb, mode) for mode in ("train", "test", "predict")), cb


def test_batch_hooks_ask_for_per_batch_calls():
    assert wants(TerminateOnNaN()) and not wants(TerminateOnNaN(), "test")
    assert wants(LambdaCallback(on_train_batch_begin=lambda b, l: None))
    assert wants(LambdaCallback(on_train_batch_end=lambda b, l: None))
    lam = LambdaCallback(on_test_batch_begin=lambda b, l: None)
    assert wants(lam, "test") and not wants(lam, "train") and not wants(lam, "predict")
    assert wants(LambdaCallback(on_predict_batch_end=lambda b, l: None), "predict")

    class KerasTwoStyle(Callback):  # on_batch_end is Keras' alias for on_train_batch_end
        def __init__(self):
            super().__init__()
            self.batches = []

        def on_batch_end(self, batch, logs=None):
            self.batches.append(batch)

    cb = KerasTwoStyle()
    assert wants(cb)
    small_model().fit(X, Y, epochs=2, batch_size=32, verbose=0, callbacks=[cb])
    assert cb.batches == [0, 1, 0, 1]


def test_history_comes_after_the_users_callbacks():
    history, stopper = History(), EarlyStopping()
    assert CallbackList([history, stopper], small_model(), {}).callbacks == [stopper, history]
