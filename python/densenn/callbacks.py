"""Callbacks, as in ``keras.callbacks``. The training loop calls per-batch hooks
only when some callback overrides them: otherwise whole slices of an epoch run
in C++ without returning to Python."""
import collections.abc
import csv
import inspect
import itertools
import math
import os
import time
import warnings

import numpy as np

from . import data_adapter
from ._progbar import Progbar

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
           "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger", "TerminateOnNaN", "LambdaCallback", "TensorBoard"]


def _print_msg(message):
    print(message, flush=True)


class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass

    # Keras' backwards-compatible aliases: the default train-batch hooks call them.
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


_BATCH_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}


def _overrides(cb, hook):
    """Whether `cb` has its own `hook`: a subclass method or an instance attribute (LambdaCallback)."""
    return hook in getattr(cb, "__dict__", {}) or getattr(type(cb), hook) is not getattr(Callback, hook)


class CallbackList:
    """Calls a hook on every callback in order.

    As in Keras, the History callback comes after the user's callbacks, so it records what they add to the
    epoch logs (``learning_rate`` from ReduceLROnPlateau and LearningRateScheduler).
    """

    def __init__(self, callbacks, model, params):
        callbacks = list(callbacks)
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise ValueError(f"callbacks: expected Callback instances, got {cb!r}")
        self.callbacks = [cb for cb in callbacks if not isinstance(cb, History)] + \
                         [cb for cb in callbacks if isinstance(cb, History)]
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def wants_batches(self, mode):
        """Whether any callback overrides the per-batch hooks of `mode` ('train', 'test', 'predict')."""
        return any(_overrides(cb, hook) for cb in self.callbacks for hook in _BATCH_HOOKS[mode])

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, hook)(*args)

        return call


class History(Callback):
    """Records each epoch's logs: ``history.history['loss']`` and so on."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger:
    """Keras' progress display for fit/evaluate/predict (verbose 1: live bar, 2: one line per epoch).

    Not a Callback: the training loop feeds it between C++ slices of the epoch,
    so a live bar costs no per-batch Python.
    """

    def __init__(self, verbose, epochs=1, file=None):
        self.verbose = verbose
        self.epochs = epochs
        self.file = file
        self._bar = None

    def epoch_begin(self, epoch):
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", file=self.file, flush=True)

    def start(self, steps):
        self._bar = Progbar(steps, verbose=self.verbose, file=self.file) if self.verbose else None

    def update(self, step, logs, finalize=False):
        if self._bar is not None:
            if finalize and self._bar.target is None:  # as Keras: a pass of unknown length is known at its end
                self._bar.target = step
            self._bar.update(step, logs, finalize=finalize)


# --------------------------------------------------------------------------- monitoring helpers

# Metric names (without 'val_') whose larger values are better, as Keras 3's metric directions say.
_HIGHER_IS_BETTER = ("precision", "recall", "f1_score", "fbeta_score", "r2_score", "iou", "true_positives",
                     "true_negatives", "cosine_similarity", "specificity_at_sensitivity",
                     "sensitivity_at_specificity", "precision_at_recall", "recall_at_precision")


def _higher_is_better(monitor, model):
    """Keras' 'auto' mode: the direction of the monitored quantity, from its name and the model's metrics."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss":
        return False
    compiled = getattr(model, "_compile_args", None)
    for metric in (compiled[2] if compiled else ()):
        direction = getattr(metric, "_direction", None)
        if getattr(metric, "name", None) == name and direction in ("up", "down"):
            return direction == "up"
    if name.endswith(("acc", "accuracy", "auc")) or name in _HIGHER_IS_BETTER:
        return True
    return False  # losses and errors; Keras 3.0 also fell back to 'min' for any other name


def _current_lr(model):
    return float(model.optimizer.learning_rate)


# --------------------------------------------------------------------------- EarlyStopping

class EarlyStopping(Callback):
    """Stops training when the monitored quantity has stopped improving (Keras 3 semantics).

    Each epoch from `start_from_epoch` on counts towards `patience` unless the monitored value improves on
    the best so far by more than `min_delta` (and, with a `baseline`, also beats the baseline). Training stops
    once `patience` epochs passed without improvement (never after the first epoch). With
    `restore_best_weights`, the weights of the best epoch are put back at the end of training.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.best_epoch = 0
        self.start_from_epoch = start_from_epoch
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"EarlyStopping mode {mode} is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.mode = mode
        self._maximize = None  # decided once the model is known (mode 'auto' looks at its metrics)
        self.best = None

    def _setup(self):
        if self.mode == "auto":
            self._maximize = _higher_is_better(self.monitor, self.model)
        else:
            self._maximize = self.mode == "max"
        self.best = -math.inf if self._maximize else math.inf

    def on_train_begin(self, logs=None):
        # Allow instances to be re-used
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0
        self._setup()

    def on_epoch_end(self, epoch, logs=None):
        if self._maximize is None:
            self._setup()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return  # nothing to monitor, or still warming up
        if self.restore_best_weights and self.best_weights is None:
            # nothing better seen yet: the current weights are the best
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # the wait restarts only when the value beats both the previous best and the baseline
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(list(logs.keys()))}",
                stacklevel=2,
            )
        return value

    def _is_improvement(self, value, reference):
        if self._maximize:
            return value - self.min_delta > reference
        return value + self.min_delta < reference


# --------------------------------------------------------------------------- ModelCheckpoint

class ModelCheckpoint(Callback):
    """Saves the model (or its weights) at the end of every epoch, or only when `monitor` improves.

    `filepath` may hold Keras' placeholders, e.g. ``'ckpt-{epoch:02d}-{val_loss:.2f}.keras'``. Models save in
    the model's formats: '.keras' (read by Keras 3) or densenn's '.dnn'; weights (``save_weights_only``) in
    '.dnn' or Keras 3's '.weights.h5'."""

    _writes_files = True  # on rank 0 only under data parallelism (densenn.distribution)

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint: densenn saves once per epoch (save_freq='epoch'), got {save_freq!r}")
        suffixes = (".dnn", ".weights.h5") if save_weights_only else (".keras", ".dnn")
        if not self.filepath.endswith(suffixes):
            raise ValueError(f"ModelCheckpoint: with save_weights_only={save_weights_only}, the filepath must end "
                             f"in {' or '.join(map(repr, suffixes))}. Received: filepath={self.filepath}")
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"ModelCheckpoint mode {mode} is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.monitor, self.verbose, self.mode = monitor, verbose, mode
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.initial_value_threshold = initial_value_threshold
        self.best = initial_value_threshold

    def on_train_begin(self, logs=None):
        self._maximize = _higher_is_better(self.monitor, self.model) if self.mode == "auto" \
            else self.mode == "max"

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        try:
            filepath = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}') from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=2)
            else:
                best = "None" if self.best is None else f"{self.best:.5f}"
                improved = self.best is None or (current > self.best if self._maximize else current < self.best)
                if not improved:
                    if self.verbose > 0:
                        _print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
                    return
                if self.verbose > 0:
                    _print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                               f"saving model to {filepath}")
                self.best = current
        elif self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
        directory = os.path.dirname(filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)


# --------------------------------------------------------------------------- ReduceLROnPlateau

class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` (down to `min_lr`) after `patience` epochs without improvement
    of the monitored quantity, then waits `cooldown` epochs; adds ``learning_rate`` to the epoch logs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        self.monitor = monitor
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0
        self.best = 0
        self.mode = mode
        self.monitor_op = None
        self._reset()

    def _reset(self):
        """Resets the wait and cooldown counters and the best value."""
        if self.mode not in ("auto", "min", "max"):
            warnings.warn(f"Learning rate reduction mode {self.mode} is unknown, fallback to auto mode.",
                          stacklevel=2)
            self.mode = "auto"
        # Keras' rule for 'auto' here is simpler than EarlyStopping's: only names containing "acc" go up.
        if self.mode == "min" or (self.mode == "auto" and "acc" not in self.monitor):
            self.monitor_op = lambda a, b: a < b - self.min_delta
            self.best = math.inf
        else:
            self.monitor_op = lambda a, b: a > b + self.min_delta
            self.best = -math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _current_lr(self.model)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(list(logs.keys()))}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _current_lr(self.model)
                # Keras compares in float32 (its learning rate is a float32 variable): a rate that rounds to
                # min_lr is at the floor already.
                if np.float32(old_lr) > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        _print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0


# --------------------------------------------------------------------------- LearningRateScheduler

def _takes_two_arguments(function):
    """Whether `function` can be called as f(epoch, lr); None when its signature cannot be read."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(0, 0.0)
    except TypeError:
        return False
    return True


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch to ``schedule(epoch, lr)`` (or ``schedule(epoch)``),
    epoch counted from 0; adds ``learning_rate`` to the epoch logs."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def _new_lr(self, epoch):
        two = _takes_two_arguments(self.schedule)
        if two is None:  # as Keras: try the (epoch, lr) form, fall back to (epoch)
            try:
                return self.schedule(epoch, _current_lr(self.model))
            except TypeError:
                return self.schedule(epoch)
        return self.schedule(epoch, _current_lr(self.model)) if two else self.schedule(epoch)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        learning_rate = self._new_lr(epoch)
        if isinstance(learning_rate, np.ndarray) and learning_rate.ndim == 0 and learning_rate.dtype.kind == "f":
            learning_rate = learning_rate[()]
        if not isinstance(learning_rate, (float, np.floating)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _current_lr(self.model)


# --------------------------------------------------------------------------- CSVLogger

class CSVLogger(Callback):
    """Writes each epoch's logs to a CSV file: an ``epoch`` column (from 0), then the log keys sorted.

    As Keras (whose writer uses the csv module's excel dialect), rows end with ``\\r\\n``; with
    ``append=True`` rows are added to an existing file, and the header is written only if it is empty.
    """

    _writes_files = True  # on rank 0 only under data parallelism (densenn.distribution)

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        self.append_header = True
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", newline="") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(value):
            if isinstance(value, str):
                return value
            if isinstance(value, collections.abc.Iterable) and not (isinstance(value, np.ndarray)
                                                                   and value.ndim == 0):
                return f'"[{", ".join(map(str, value))}]"'
            return value

        if self.csv_file is None or self.csv_file.closed:  # driven without on_train_begin
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs.keys())
            # a model expected to produce validation metrics gets their columns from the first epoch on
            for name in getattr(self.model, "metrics_names", None) or []:
                if name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)
        if not self.writer:
            class Dialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + (self.keys or []), dialect=Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


# --------------------------------------------------------------------------- TerminateOnNaN

class TerminateOnNaN(Callback):
    """Stops training at the first batch whose loss is NaN or infinite (it makes training run batch by
    batch, returning to Python after each one). With ``raise_error=True`` it raises a RuntimeError instead."""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and (np.isnan(loss) or np.isinf(loss)):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. "
                                   f"Loss value: {loss}. Terminating training immediately.")
            _print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


# --------------------------------------------------------------------------- LambdaCallback

class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    on_epoch_begin/end take (epoch, logs), on_train_begin/end take (logs), on_train_batch_begin/end take
    (batch, logs); any other hook can be given by name as a keyword argument. Only the hooks given count
    as overridden, so epoch-only functions keep training in the fast C++ path.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for hook, function in given.items():
            if function is not None:
                setattr(self, hook, function)


# --------------------------------------------------------------------------- TensorBoard

def _tensorboardx():
    """tensorboardX's writer and summary builders: they write TensorBoard's event files without TensorFlow."""
    try:
        import tensorboardX
        from tensorboardX import summary
        from tensorboardX.proto import summary_pb2, tensor_pb2
    except ImportError as e:
        raise ImportError("densenn.callbacks.TensorBoard writes its event files with the tensorboardX package, which "
                          "is not installed: pip install tensorboardX (or pip install 'densenn[tensorboard]', which "
                          "also installs TensorBoard itself to view them).") from e
    return tensorboardX.FileWriter, summary, summary_pb2, tensor_pb2


_WRITER_NUMBERS = itertools.count()


def _keras_weight_path(layer, weight):
    """The path Keras 3 gives a weight, which names its histogram: a Sequential model builds its layers inside
    its own scope ('sequential/dense/kernel'); a functional model's layers are built outside it ('dense/kernel')."""
    from .functional import Functional  # the trainer imports this module, and functional imports the trainer
    home = layer._model
    path = weight.path if isinstance(home, Functional) else f"{home.name}/{weight.path}"
    return path.replace(":", "_")


def _weight_image(values):
    """A weight as Keras draws it: squeezed, a vector as a column, a matrix with its longer side across; values
    scaled to bytes as TensorFlow's image summary does (x * 255.5, clipped to 0..255). None for other shapes."""
    image = np.squeeze(np.nan_to_num(np.asarray(values, dtype=np.float64)))
    if image.ndim == 1:
        image = image[:, None]
    elif image.ndim == 2 and image.shape[0] > image.shape[1]:
        image = image.T
    elif image.ndim != 2:
        return None
    return np.clip(image * 255.5, 0, 255).astype(np.uint8)[:, :, None]


class TensorBoard(Callback):
    """Writes what TensorBoard shows (``tensorboard --logdir logs``): Keras 3's callback, with its directories,
    tags and steps, writing the event files with tensorboardX (no TensorFlow needed).

    - ``<log_dir>/train``: ``epoch_loss``, ``epoch_<metric>`` and ``epoch_learning_rate`` at step `epoch`
      (counted from 0); with `update_freq` ``'batch'`` or N, ``batch_loss`` and ``batch_<metric>`` (the running
      means of the epoch so far, as in the logs) every N batches, at the batch's number counted from 1 over
      the whole fit; with `histogram_freq` N, every N epochs, each weight's histogram (``<path>/histogram``, the
      weight's Keras path, e.g. ``sequential/dense/kernel``) and with `write_images` its picture
      (``<path>/image``); with `write_steps_per_second`, ``epoch_steps_per_second`` and
      ``batch_steps_per_second``; with `write_graph`, when each fit starts, the model's architecture (its Keras
      JSON, tag ``keras``, which TensorBoard's Graphs tab draws as a conceptual graph).
    - ``<log_dir>/validation``: ``epoch_<name>`` of fit's validation (without ``val_``), and after each
      evaluation, in fit or ``evaluate()``, ``evaluation_<name>_vs_iterations`` at the optimizer's iterations.

    Unlike Keras' TensorFlow-based writer, epoch summaries do not depend on `update_freq` (Keras drops them
    when the batches of a fit are not a multiple of it). Keras also traces the TensorFlow graph of its train
    step; densenn trains in its C++ core, which has no such graph: `write_graph` writes the model's conceptual
    graph only. `profile_batch` (TensorFlow's and JAX's profilers) and `embeddings_freq` (densenn has no
    Embedding layer) must keep their defaults. Batch summaries make training return to Python after every
    batch; with ``update_freq='epoch'`` the callback leaves the C++ loop running whole epochs.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        self._file_writer, self._summary, self._summary_pb2, self._tensor_pb2 = _tensorboardx()
        if not isinstance(log_dir, (str, os.PathLike)):
            raise ValueError(f"TensorBoard: log_dir must be a path (a string or os.PathLike), got {log_dir!r}")
        self.log_dir = os.fspath(log_dir)
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, (int, np.integer)) or histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be an integer >= 0 (0: no histograms), "
                             f"got {histogram_freq!r}")
        self.histogram_freq = int(histogram_freq)
        self.write_graph = data_adapter.flag(write_graph, "TensorBoard: write_graph")
        self.write_images = data_adapter.flag(write_images, "TensorBoard: write_images")
        self.write_steps_per_second = data_adapter.flag(write_steps_per_second, "TensorBoard: write_steps_per_second")
        if write_images:
            try:
                import PIL  # noqa: F401  (tensorboardX encodes the pictures as PNG with Pillow)
            except ImportError as e:
                raise ImportError("TensorBoard(write_images=True) needs Pillow: pip install pillow") from e
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, (int, np.integer))
                                       or update_freq < 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or an integer >= 1 (a number of "
                             f"batches), got {update_freq!r}")
        self.update_freq = update_freq if update_freq == "epoch" else int(update_freq)
        if isinstance(profile_batch, bool) or not isinstance(profile_batch, (int, np.integer)) or profile_batch != 0:
            raise ValueError("Profiling is not available with densenn: TensorBoard's profiler traces TensorFlow and "
                             "JAX programs, and densenn trains in its own C++ core. "
                             f"Received: profile_batch={profile_batch!r} (must be 0)")
        if isinstance(embeddings_freq, bool) or not isinstance(embeddings_freq, (int, np.integer)) \
                or embeddings_freq != 0:
            raise ValueError("Embeddings are not available with densenn: TensorBoard's projector shows the weights "
                             "of Embedding layers, which densenn does not have. "
                             f"Received: embeddings_freq={embeddings_freq!r} (must be 0)")
        self.embeddings_freq = 0
        self.embeddings_metadata = embeddings_metadata  # as Keras, used only with embeddings_freq
        self.profile_batch = 0
        self._writers = {}  # 'train' / 'validation': a FileWriter, opened when first written to
        self._training = False
        self._global_train_batch = 0
        self._epoch_start = (0.0, 0)  # (time, optimizer iterations) when the epoch began
        self._batch_start = 0.0
        if self.update_freq != "epoch":
            # Bound only when asked for: the trainer returns to Python after every batch for a callback that
            # has batch hooks.
            self.on_train_batch_begin = self._train_batch_begin
            self.on_train_batch_end = self._train_batch_end

    # ------------------------------------------------------------------ writers
    def _writer(self, run):
        if run not in self._writers:
            # tensorboardX names a file by the second it was opened in: the suffix (TensorFlow's: process, writer
            # number) keeps a writer from overwriting one opened in the same second, e.g. an evaluate()'s after fit's
            self._writers[run] = self._file_writer(os.path.join(self.log_dir, run),
                                                   filename_suffix=f".{os.getpid()}.{next(_WRITER_NUMBERS)}.v2")
        return self._writers[run]

    def _scalars(self, run, prefix, logs, step, suffix=""):
        writer = self._writer(run)
        for name, value in logs.items():
            if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                writer.add_summary(self._summary.scalar(f"{prefix}{name}{suffix}", float(value)), int(step))

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def set_model(self, model):
        self._close_writers()
        super().set_model(model)

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs=None):
        self._training = True
        self._global_train_batch = 0
        if self.write_graph:
            self._write_model_graph()

    def on_train_end(self, logs=None):
        self._training = False
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._epoch_start = (time.perf_counter(), self._iterations())

    def on_epoch_end(self, epoch, logs=None):
        self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        for writer in self._writers.values():  # a TensorBoard watching the run sees each epoch at once
            writer.flush()

    def on_test_end(self, logs=None):
        if getattr(self.model, "optimizer", None) is None:
            return
        self._scalars("validation", "evaluation_", logs or {}, self._iterations(), suffix="_vs_iterations")
        if self._training:
            self._writer("validation").flush()
        else:  # a standalone evaluate(): nothing else comes
            self._close_writers()

    def _train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start = time.perf_counter()

    def _train_batch_end(self, batch, logs=None):
        step = self._global_train_batch
        if step % self.update_freq:
            return
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - self._batch_start
            if elapsed > 0:
                self._scalars("train", "batch_", {"steps_per_second": 1.0 / elapsed}, step)
        if isinstance(logs, dict):
            self._scalars("train", "batch_", logs, step)

    # ------------------------------------------------------------------ what is written
    def _iterations(self):
        optimizer = getattr(self.model, "optimizer", None)
        return int(optimizer.iterations) if optimizer is not None else 0

    def _log_epoch_metrics(self, epoch, logs):
        if not logs:
            return
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            train["learning_rate"] = optimizer.learning_rate
        if self.write_steps_per_second:
            started, iterations = self._epoch_start
            elapsed = time.perf_counter() - started
            if elapsed > 0:
                train["steps_per_second"] = (self._iterations() - iterations) / elapsed
        self._scalars("train", "epoch_", train, epoch)
        if validation:
            self._scalars("validation", "epoch_", validation, epoch)

    def _log_weights(self, epoch):
        writer = self._writer("train")
        for layer in self.model.layers:
            for weight, values in zip(layer.weights, layer.get_weights()):
                path = _keras_weight_path(layer, weight)
                finite = values[np.isfinite(values)]  # a diverged model's NaNs have no place on the axis
                if finite.size:
                    # 30 equal buckets, as TensorFlow's histogram summary that Keras writes
                    writer.add_summary(self._summary.histogram(f"{path}/histogram", finite, bins=30), epoch)
                image = _weight_image(values) if self.write_images else None
                if image is not None:
                    writer.add_summary(self._summary.image(f"{path}/image", image, dataformats="HWC"), epoch)

    def _write_model_graph(self):
        """The model's Keras JSON under the tag 'keras' at step 0, as Keras' keras_model_summary writes it: the
        Graphs tab draws it as a conceptual graph."""
        try:
            json_string = self.model.to_json()
        except Exception as e:  # as Keras: a model that cannot be written as JSON has no graph, training goes on
            warnings.warn(f"Model failed to serialize as JSON. Ignoring... {e}", stacklevel=2)
            return
        pb = self._summary_pb2
        metadata = pb.SummaryMetadata(plugin_data=pb.SummaryMetadata.PluginData(plugin_name="graph_keras_model",
                                                                                content=b"1"))
        tensor = self._tensor_pb2.TensorProto(dtype="DT_STRING", string_val=[json_string.encode()])
        tensor.tensor_shape.SetInParent()  # a scalar string
        summary = pb.Summary(value=[pb.Summary.Value(tag="keras", metadata=metadata, tensor=tensor)])
        self._writer("train").add_summary(summary, 0)
