"""Callbacks, as in ``keras.callbacks``. The training loop calls per-batch hooks
only when some callback overrides them: otherwise whole slices of an epoch run
in C++ without returning to Python."""
from ._progbar import Progbar

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger"]


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
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


_BATCH_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}


class CallbackList:
    """Calls a hook on every callback in order."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise ValueError(f"callbacks: expected Callback instances, got {cb!r}")
            cb.set_model(model)
            cb.set_params(params)

    def wants_batches(self, mode):
        """Whether any callback overrides the per-batch hooks of `mode` ('train', 'test', 'predict')."""
        return any(getattr(type(cb), hook) is not getattr(Callback, hook)
                   for cb in self.callbacks for hook in _BATCH_HOOKS[mode])

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
            self._bar.update(step, logs, finalize=finalize)
