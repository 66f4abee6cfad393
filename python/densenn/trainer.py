"""compile, fit, evaluate and predict: the training loop's Python side, as Keras' Trainer. Each pass (an
epoch, an evaluation) runs in the C++ core with the GIL released; Python sees it between slices of about
0.1 s, or after every batch when a callback asks for batch hooks."""
import functools
import threading
import warnings

import numpy as np

from . import config, data_adapter, distribution, losses as losses_module, metrics as metrics_module, optimizers as optimizers_module
from .callbacks import Callback, CallbackList, History, ProgbarLogger
from .layers import KerasTensor

# How long the C++ loop runs between returns to Python: long enough that
# Python's share is negligible, short enough for a live bar. (Ctrl-C does not
# wait for the slice: the C++ loop polls Python's signal handlers itself.)
_SLICE_SECONDS = 0.1


def _one_thread_at_a_time(method):
    """fit, evaluate, train_on_batch and test_on_batch share the model's training workspace and move its
    weights: a second one from another thread while one runs is a RuntimeError. The same thread may nest them
    (an evaluate() in a callback). predict and get_weights may run in any thread at any time (docs/reliability.md)."""
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        if not self._training_lock.acquire(blocking=False):
            raise RuntimeError(f"{method.__name__}: this model is already training or evaluating in another "
                               "thread; fit, evaluate, train_on_batch and test_on_batch run on a model one thread at "
                               "a time (predict may run from any thread).")
        self._passes_running += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            self._passes_running -= 1
            self._training_lock.release()
    return guarded


class Trainer:
    """The training half of a model: the model class supplies the layer stack and its C++ core (`_core`,
    `_build_for`, `output_shape`, `_dtype`)."""

    def __init__(self):
        self._compile_args = None  # (optimizer, loss, metrics) as resolved by compile()
        self._optimizer_built = False  # Keras builds the optimizer's variables on the first training step
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None
        self._training_lock = threading.RLock()  # see _one_thread_at_a_time
        self._passes_running = 0  # fit/evaluate/... calls under way (nested ones from callbacks count too)

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, weighted_metrics=None, **kwargs):
        """Configures training: ``compile(optimizer='sgd', loss='categorical_crossentropy', metrics=['accuracy'])``."""
        if kwargs:
            raise TypeError(f"compile: unsupported arguments {sorted(kwargs)}")
        if loss is None:
            raise ValueError("compile: pass a loss, e.g. loss='mse'.")
        optimizer = optimizers_module.get(optimizer)
        loss = losses_module.get(loss)
        loss.core_config()  # rejects now what the core cannot train (e.g. reduction='sum')
        metrics = metrics_module.compile_metrics(metrics, weighted_metrics)  # named as Keras logs them
        previous = self._compile_args
        self._compile_args = (optimizer, loss, metrics)
        if self._core is not None:
            try:
                self._compile_core()
            except ValueError:
                self._compile_args = previous
                raise
        self.optimizer, self.loss = optimizer, loss
        self.stop_training = False

    def _compile_core(self):
        optimizer, loss, metrics = self._compile_args
        if len(self.output_shape) != 2:
            raise ValueError(f"compile: densenn trains models whose output is (batch, outputs), this one's is "
                             f"{self.output_shape}: add a Flatten layer.")
        out = self._core.output_dim
        # The layers' trainable flags as they are now, as Keras 3 takes them at compile (a later change waits
        # for the next compile).
        self._compiled_trainable = self._trainable_flags()
        self._core.compile(loss.core_config(), optimizer.core_config(),
                           [m.core_config(out, loss.core_name) for m in metrics],
                           [flag for _, flag in self._compiled_trainable])
        optimizer._attach(self._core)
        self._optimizer_built = False

    def _refuse_while_running(self, what):
        """add, pop and build replace the core that a running fit or evaluate works on: refused at once, whether a
        callback or another thread asks (compile() there is refused by the running pass at its next step)."""
        if self._passes_running:
            raise RuntimeError(f"{what}: the model is training or evaluating (fit, evaluate, train_on_batch or "
                               "test_on_batch is running, here in a callback or in another thread); change its "
                               "layers or compile it before or after.")

    @property
    def compiled(self):
        return self._compile_args is not None

    @property
    def metrics_names(self):
        if not self.compiled:
            return []
        return ["loss"] + [m.name for m in self._compile_args[2]]

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must call compile() before {what}.")
        self._warn_if_trainable_changed()

    def _trainable_flags(self):
        return [(layer.name, self.trainable and layer.trainable) for layer in self._core_layers]

    def _warn_if_trainable_changed(self):
        """Keras 3's warning (once per compile) that trainable flags changed since compile() took effect only there."""
        compiled = getattr(self, "_compiled_trainable", None)
        if compiled is None or self._core_layers is None:
            return
        now = self._trainable_flags()
        if now != compiled:
            changed = [name for (name, flag), (_, before) in zip(now, compiled) if flag != before]
            warnings.warn("A layer's `trainable` state has changed since the model was compiled. This can result in "
                          "unexpected behavior, as the compiled optimizer and loss functions may not track the "
                          "correct variables. Please recompile your model (e.g. `model.compile(...)`) before calling "
                          f"`fit()` or `evaluate()` so the change takes effect. Changed layers: {changed}",
                          UserWarning, stacklevel=3)
            self._compiled_trainable = now

    def _prepare_x(self, x, argument="x", need_rows=False, check_finite=True):
        dtype = self._dtype if self.built else config.floatx()
        return data_adapter.prepare_x(x, self._input_shape, dtype, argument, need_rows, check_finite)

    def _prepare_data(self, x, y, sample_weight, prefix="", class_weight=None):
        """Validated (x, y, sample_weight) for fit/evaluate; builds the model only once x and y agree on rows.
        A class_weight dict becomes per-sample weights (labels argmaxed when one-hot), as in Keras."""
        x = self._prepare_x(x, prefix + "x", need_rows=True)
        if y is None:
            raise ValueError(f"{prefix}y: targets are required for training and evaluation.")
        y = data_adapter.numeric_array(y, prefix + "y")
        if y.ndim == 0 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{prefix}y: expected {x.shape[0]} rows (one per sample of {prefix}x), "
                             f"got shape {y.shape}")
        self._ensure_built(x)
        y = data_adapter.prepare_y(y, self._core.output_dim, self._compile_args[1].core_name, self._dtype,
                                   prefix + "y")
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
            sample_weight = data_adapter.class_sample_weights(y, class_weight, self._core.output_dim, prefix + "y")
        w = data_adapter.prepare_sample_weight(sample_weight, x.shape[0], self._dtype, prefix + "sample_weight")
        return data_adapter.flat(x), y, w

    def _logs(self, data_pass, prefix=""):
        logs = {prefix + "loss": float(data_pass.loss)}
        for metric, value in zip(self._compile_args[2], data_pass.metrics):
            logs[prefix + metric.name] = float(value)
        return dict(sorted(logs.items()))  # Keras orders the logs by name

    def _run_pass(self, data_pass, progress, callbacks, mode):
        """Runs a pass to its end, returning to Python between C++ slices
        (or after every batch when a callback asks for batch hooks)."""
        per_batch = callbacks.wants_batches(mode)
        begin, end = f"on_{mode}_batch_begin", f"on_{mode}_batch_end"
        progress.start(data_pass.steps)
        while not data_pass.done:
            if per_batch:
                step = data_pass.steps_done
                getattr(callbacks, begin)(step, {})
                data_pass.run(1)
                getattr(callbacks, end)(step, self._logs(data_pass))
            else:
                data_pass.run(data_pass.steps, _SLICE_SECONDS)
            progress.update(data_pass.steps_done, self._logs(data_pass), finalize=data_pass.done)
            if per_batch and self.stop_training and mode == "train":
                break
        return self._logs(data_pass)

    @_one_thread_at_a_time
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Trains the model; returns a History whose ``history`` maps 'loss', metrics and 'val_*' to lists.
        x may also be a PyDataset, a generator or another iterable of (x, y) or (x, y, sample_weight) batches."""
        self._require_compiled("fit()")
        epochs = data_adapter.positive_int(epochs, "epochs", allow_zero=True)
        initial_epoch = data_adapter.positive_int(initial_epoch, "initial_epoch", allow_zero=True)
        verbose_argument, verbose = verbose, data_adapter.verbose_level(verbose)
        if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.floating)) \
                or not 0 <= validation_split < 1:
            raise ValueError(f"validation_split: expected a number in [0, 1), got {validation_split!r}")
        data_adapter.flag(shuffle, "shuffle")
        validates = data_adapter.validation_schedule(validation_freq)
        callbacks = self._callback_list(callbacks)
        if data_adapter.is_stream(x):
            if validation_split:
                raise ValueError("Argument `validation_split` is only supported for tensors or NumPy arrays. "
                                 f"Found incompatible type in the input: {[type(x)]}")
            stream = data_adapter.StreamAdapter(x, "x", steps_per_epoch, "steps_per_epoch", bool(shuffle), y,
                                                sample_weight, batch_size)
            train_convert = self._batch_converter(class_weight)
        else:
            stream = None
            _refuse_steps(steps_per_epoch, "steps_per_epoch", "x")
            batch_size = 32 if batch_size is None else data_adapter.positive_int(batch_size, "batch_size")
            x, y, w = self._prepare_data(x, y, sample_weight, class_weight=class_weight)
        val = None
        if data_adapter.is_stream(validation_data):
            val = data_adapter.StreamAdapter(validation_data, "validation_data", validation_steps, "validation_steps",
                                             batch_size=validation_batch_size,
                                             batch_size_argument="validation_batch_size")
        else:
            _refuse_steps(validation_steps, "validation_steps", "validation_data")
            validation_batch_size = validation_batch_size if validation_batch_size is None \
                else data_adapter.positive_int(validation_batch_size, "validation_batch_size")
            validation_batch_size = validation_batch_size or batch_size or 32
        if validation_data is not None and val is None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data: expected (x_val, y_val) or (x_val, y_val, sample_weight_val)")
            val = self._prepare_data(validation_data[0], validation_data[1],
                                     validation_data[2] if len(validation_data) == 3 else None, "validation_data ")
        elif validation_split > 0:
            # Keras takes the last fraction of the data, before any shuffling.
            split = int(x.shape[0] * (1 - validation_split))
            if split == 0 or split == x.shape[0]:
                raise ValueError(
                    f"validation_split={validation_split} leaves no training or no validation samples "
                    f"out of {x.shape[0]}"
                )
            val = (x[split:], y[split:], None if w is None else w[split:])
            x, y, w = x[:split], y[:split], None if w is None else w[:split]

        if stream is None:
            batch_size = min(batch_size, x.shape[0])  # also keeps huge values within C++'s range
            steps = -(-x.shape[0] // batch_size)
        else:
            steps = stream.steps or stream.num_batches  # None: unknown, as Keras' params for a generator
        verbose, callbacks = distribution.begin_fit(self, x.shape[0] if stream is None else None, batch_size, epochs,
                                                    initial_epoch, shuffle, verbose, callbacks)  # docs/distributed.md
        history = History()
        params = {"verbose": verbose_argument, "epochs": epochs, "steps": steps}  # as given, as Keras keeps it
        cbs = CallbackList([*callbacks, history], self, params)  # History last, as Keras: it sees what others add
        progress = ProgbarLogger(verbose, epochs)
        self.stop_training = False
        cbs.on_train_begin({})
        logs = {}
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch, {})
            progress.epoch_begin(epoch)
            # The bar's final update waits for validation, so it shows val_* too (as Keras does).
            bar = _DeferredFinal(progress)
            if stream is not None:
                with stream.epoch(train_convert, first_here=not self.built) as batches:
                    epoch_logs = self._run_stream(batches, bar, cbs, "train")
                if not batches.batches:  # the generator had ended: no epoch to report
                    self.stop_training = True
                    break
                logs, steps_run = epoch_logs, batches.batches
                self.stop_training = self.stop_training or batches.exhausted  # Keras' "interrupting training"
            else:
                data_pass = self._core.data_pass(x, y, w, batch_size, training=True, shuffle=bool(shuffle),
                                                 learning_rates=self.optimizer._learning_rates(steps))
                logs, steps_run = self._run_pass(data_pass, bar, cbs, "train"), data_pass.steps
                self._optimizer_built = True
            if val is not None and validates(epoch):  # as Keras' fit, an evaluate() with the test hooks
                cbs.on_test_begin({})
                if isinstance(val, data_adapter.StreamAdapter):
                    with val.epoch(self._batch_converter(), restart=True) as batches:
                        val_logs = self._run_stream(batches, _Silent(), cbs, "test")
                else:
                    vpass = self._core.data_pass(*val, min(validation_batch_size, len(val[0])), training=False,
                                                 shuffle=False)
                    val_logs = self._run_pass(vpass, _Silent(), cbs, "test")
                cbs.on_test_end(val_logs)
                logs = dict(sorted({**logs, **{"val_" + k: v for k, v in val_logs.items()}}.items()))
            cbs.on_epoch_end(epoch, logs)  # may add to logs (learning_rate), shown by the bar as in Keras
            bar.finish(steps_run, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        self.history = history
        return history

    @_one_thread_at_a_time
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """The loss (and metrics) on (x, y): a float, or [loss, *metrics], or a dict with return_dict=True.
        x may also be a PyDataset, a generator or another iterable of (x, y) or (x, y, sample_weight) batches."""
        self._require_compiled("evaluate()")
        verbose = distribution.rank_verbose(data_adapter.verbose_level(verbose))
        callbacks = self._callback_list(callbacks)
        if data_adapter.is_stream(x):
            stream = data_adapter.StreamAdapter(x, "x", steps, "steps", y=y, sample_weight=sample_weight,
                                                batch_size=batch_size)
            cbs = CallbackList(callbacks, self, {"verbose": verbose, "steps": stream.steps or stream.num_batches})
            cbs.on_test_begin({})
            with stream.epoch(self._batch_converter(), restart=True, first_here=not self.built) as batches:
                logs = self._run_stream(batches, ProgbarLogger(verbose), cbs, "test")
            cbs.on_test_end(logs)
            return self._result(logs, return_dict)
        _refuse_steps(steps, "steps", "x")
        batch_size = 32 if batch_size is None else data_adapter.positive_int(batch_size, "batch_size")
        x, y, w = self._prepare_data(x, y, sample_weight)
        batch_size = min(batch_size, x.shape[0])
        cbs = CallbackList(callbacks, self, {"verbose": verbose, "steps": -(-x.shape[0] // batch_size)})
        cbs.on_test_begin({})
        data_pass = self._core.data_pass(x, y, w, batch_size, training=False, shuffle=False)
        logs = self._run_pass(data_pass, ProgbarLogger(verbose), cbs, "test")
        cbs.on_test_end(logs)
        return self._result(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Model outputs for x, as a float32 (or floatx) array of shape (n, outputs) (a list of them for a
        functional model with several outputs). x may also be a PyDataset, a generator or another iterable of
        batches (x, or a tuple whose first item is x): the outputs of all batches, concatenated."""
        if callbacks is None and steps is None and type(verbose) is int and verbose == 0 and (
                batch_size is None or type(batch_size) is int):
            # (quiet and one array, the common call for a few rows: straight to the core, as predict_on_batch,
            # before the checks below, which cost 0.5 us of a 3.6 us row. Anything else, a bad batch_size too,
            # takes the full path.)
            out = self._predict_ready(x, 32 if batch_size is None else batch_size)
            if out is not None:
                return out
        verbose = distribution.rank_verbose(data_adapter.verbose_level(verbose))
        if data_adapter.is_stream(x):
            return self._predict_stream(data_adapter.StreamAdapter(x, "x", steps, "steps", batch_size=batch_size),
                                        verbose, callbacks)
        _refuse_steps(steps, "steps", "x")
        batch_size = 32 if batch_size is None else data_adapter.positive_int(batch_size, "batch_size")
        given = x
        # Without callbacks, the core checks x on the way (nearly free: a NaN or an infinity in a row shows in
        # all of its first products; a separate pass over 10k MNIST rows took 15% of the predict).
        folded_check = callbacks is None
        x = self._prepare_x(x, check_finite=not folded_check)
        self._ensure_built(x)
        x = data_adapter.flat(x)
        batch_size = min(batch_size, max(1, x.shape[0]))
        steps = -(-x.shape[0] // batch_size)
        cbs = CallbackList(self._callback_list(callbacks), self, {"verbose": verbose, "steps": steps})
        cbs.on_predict_begin({})
        if cbs.wants_batches("predict"):  # batch by batch, so the hooks see each batch's outputs
            parts = []
            for step in range(steps):
                cbs.on_predict_batch_begin(step, {})
                parts.append(self._forward(x[step * batch_size:(step + 1) * batch_size]))
                cbs.on_predict_batch_end(step, {"outputs": self._shaped(parts[-1])})
            outs = [np.concatenate(output) for output in zip(*parts)] if parts else self._forward(x)
        else:
            try:
                outs = self._forward(x, check_finite=folded_check)
            except data_adapter.NonFiniteInput:
                self._prepare_x(given)  # raises the input checks' own error, which says where
                raise
        cbs.on_predict_end({})
        out = self._shaped(outs)
        if verbose:
            progress = ProgbarLogger(verbose)
            progress.start(max(1, steps))
            progress.update(max(1, steps), {}, finalize=True)
        return out

    @_one_thread_at_a_time
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on (x, y) as a single batch; returns that batch's loss (and metrics).
        (Keras 3 keeps accumulating metrics across calls until reset_metrics(); densenn reports the batch.)"""
        return self._one_batch(x, y, sample_weight, class_weight, return_dict, training=True)

    @_one_thread_at_a_time
    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metrics) of (x, y) as a single batch, without training."""
        return self._one_batch(x, y, sample_weight, None, return_dict, training=False)

    def _one_batch(self, x, y, sample_weight, class_weight, return_dict, training):
        self._require_compiled("train_on_batch()" if training else "test_on_batch()")
        x, y, w = self._prepare_data(x, y, sample_weight, class_weight=class_weight)
        return self._result(self._logs(self._run_batch(x, y, w, training)), return_dict)

    def _run_batch(self, x, y, w, training, continue_from=None):
        """One core pass over one batch of prepared arrays (train_on_batch's step, a streamed batch);
        continue_from: the pass of the previous batches, whose loss and metric sums this one goes on adding to."""
        rates = self.optimizer._learning_rates(1) if training else []  # a schedule's value at this step
        data_pass = self._core.data_pass(x, y, w, x.shape[0], training=training, shuffle=False,
                                         learning_rates=rates)
        if continue_from is not None:
            data_pass.continue_from(continue_from)
        data_pass.run(1)
        self._optimizer_built = self._optimizer_built or training
        return data_pass

    # ------------------------------------------------------------------ data that is not one array
    def _batch_converter(self, class_weight=None, x_only=False):
        """convert(x, y, sample_weight, where) for a StreamAdapter: one batch checked and converted as arrays
        are (the messages begin with `where`), on the adapter's thread once the model is built."""
        def convert(x, y, sample_weight, where):
            if x_only:
                x = self._prepare_x(x, where + "x", need_rows=True)
                self._ensure_built(x)
                return data_adapter.flat(x)
            return self._prepare_data(x, y, sample_weight, where, class_weight)
        return convert

    def _run_stream(self, batches, progress, callbacks, mode):
        """Runs an epoch's streamed batches, one core pass each (the next batch is read and converted on
        another thread meanwhile), calling the batch hooks as _run_pass does; returns the epoch's logs."""
        per_batch = callbacks.wants_batches(mode)
        begin, end = getattr(callbacks, f"on_{mode}_batch_begin"), getattr(callbacks, f"on_{mode}_batch_end")
        data_pass = None  # the pass of the latest batch, carrying the sums of all the batches before it
        progress.start(batches.want)
        for step, (x, y, w) in enumerate(batches):
            if per_batch:
                begin(step, {})
            data_pass = self._run_batch(x, y, w, training=mode == "train", continue_from=data_pass)
            logs = self._logs(data_pass)
            if per_batch:
                end(step, logs)
            progress.update(step + 1, logs)
            if self.stop_training and mode == "train":
                break
        logs = self._logs(data_pass) if data_pass is not None else {}
        progress.update(batches.batches, logs, finalize=True)
        return logs

    def _predict_stream(self, stream, verbose, callbacks):
        cbs = CallbackList(self._callback_list(callbacks), self,
                           {"verbose": verbose, "steps": stream.steps or stream.num_batches})
        cbs.on_predict_begin({})
        per_batch = cbs.wants_batches("predict")
        progress = ProgbarLogger(verbose)
        parts = []
        with stream.epoch(self._batch_converter(x_only=True), restart=True, first_here=not self.built) as batches:
            progress.start(batches.want)
            for step, x in enumerate(batches):
                if per_batch:
                    cbs.on_predict_batch_begin(step, {})
                parts.append(self._forward(x))
                if per_batch:
                    cbs.on_predict_batch_end(step, {"outputs": self._shaped(parts[-1])})
                progress.update(step + 1, {})
            progress.update(len(parts), {}, finalize=True)
        cbs.on_predict_end({})
        return self._shaped([np.concatenate(output) for output in zip(*parts)])

    def _result(self, logs, return_dict):
        """evaluate()'s return value: the logs, or the loss alone, or [loss, *metrics] in compile order."""
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[m.name] for m in self._compile_args[2]]
        return values[0] if len(values) == 1 else values

    def __call__(self, x, training=False):
        """``model(x)``: the outputs for one batch, as a NumPy array (inference mode)."""
        lean = self._lean_predict  # (inline: a one-row call takes a few microseconds, a Python call ~0.3)
        out = None if lean is None else lean(x, data_adapter.LEAN_PREDICT_ROWS)
        if out is not None:
            return out
        if isinstance(x, KerasTensor):
            raise ValueError(f"Calling model {self.name!r} on a symbolic tensor nests it in another model, which "
                             "densenn does not run: call its layers (not its InputLayer) on the tensor in turn instead.")
        built_here = not self.built
        out = self.predict_on_batch(x)
        if built_here:
            self._called_batch_size = len(x)  # Keras builds a model first called on data for that batch size
        return out

    def predict_on_batch(self, x):
        lean = self._lean_predict  # (inline, as in __call__)
        out = None if lean is None else lean(x, data_adapter.LEAN_PREDICT_ROWS)
        if out is not None:
            return out
        x = self._prepare_x(x)
        self._ensure_built(x)
        return self._shaped(self._forward(data_adapter.flat(x)))

    def _forward(self, x, check_finite=False):
        """The model's outputs for rows of shape (n, features), one (n, width) array per output; with
        check_finite, data_adapter.NonFiniteInput when x holds a NaN or an infinity."""
        out = self._core.predict(x, check_finite)
        if out is None:
            raise data_adapter.NonFiniteInput("x contains NaN or Inf values")
        return [out]

    def _output_shapes(self):
        return [self.output_shape]

    def _shaped(self, outputs):
        """The outputs as predict returns them: each of shape (n, *output shape); one array, or a list of them
        for a model with several outputs."""
        shaped = [out.reshape(len(out), *shape[1:]) for out, shape in zip(outputs, self._output_shapes())]
        return shaped[0] if len(shaped) == 1 else shaped

    def _predict_ready(self, x, max_rows):
        """The outputs for one batch of at most max_rows rows that needs no reshaping nor any conversion but a cast
        between float32 and float64, straight from the core (a few microseconds); None for anything else, which
        the full path converts and validates."""
        lean = self._lean_predict
        return None if lean is None else lean(x, min(max_rows, data_adapter.LEAN_PREDICT_ROWS))

    def _predicts_lean(self):
        """Whether the built model's small predicts may go straight to the core: its rows are flat vectors."""
        return len(self._input_shape) == 1

    @staticmethod
    def _callback_list(callbacks):
        if callbacks is None:
            return []
        if isinstance(callbacks, Callback):
            return [callbacks]
        if isinstance(callbacks, (list, tuple)):
            return list(callbacks)
        raise ValueError(f"callbacks: expected a list of Callback objects, got {callbacks!r}")



def _refuse_steps(steps, argument, data_argument):
    if steps is not None:
        raise ValueError(f"{argument}: densenn takes it when {data_argument} is a PyDataset, a generator or an "
                         f"iterable; with arrays, a pass covers every sample once (got {argument}={steps!r}).")


class _Silent:
    def start(self, steps): pass
    def update(self, step, logs, finalize=False): pass


class _DeferredFinal:
    """Forwards live updates but holds the epoch's final line until validation is done."""

    def __init__(self, progress):
        self._progress = progress

    def start(self, steps):
        self._progress.start(steps)

    def update(self, step, logs, finalize=False):
        if not finalize:
            self._progress.update(step, logs)

    def finish(self, steps, logs):
        self._progress.update(steps, logs, finalize=True)
