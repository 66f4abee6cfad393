"""Input checks and conversion for fit/evaluate/predict: any array-like of numbers becomes the C-contiguous
float array of the model's dtype that the C++ core reads, or a ValueError that says which argument, what was
expected and what came. Data that is not one array (a PyDataset, a generator, another iterable) comes batch by
batch through a StreamAdapter, each batch checked and converted as an array, on a thread of its own."""
import collections.abc
import itertools
import math
import random
import sys
import threading
import types
import warnings

import numpy as np

from ._core import core as _core_module
from .py_dataset import PyDataset

# Batches up to this size skip the Python-side checks when they need no conversion (the core checks them).
LEAN_PREDICT_ROWS = 256


def positive_int(value, argument, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        raise ValueError(f"{argument}: expected an integer {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return int(value)


def flag(value, argument):
    """value as a bool when it is True or False (also NumPy's), else ValueError."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{argument}: expected True or False, got {value!r}")
    return bool(value)


def number(value, argument, low=0.0, high=None, low_open=False, high_open=False):
    """value as a float when it is a finite number in the range (high None: unbounded), else ValueError: the
    one check of a layer's or optimizer's numeric argument (the C++ core takes the values it is sent)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
        raise ValueError(f"{argument}: expected a finite number, got {value!r}")
    value = float(value)
    if value < low or (low_open and value == low) or (high is not None and (value > high or (high_open and value == high))):
        lo, hi = ("(" if low_open else "["), ("" if high is None else (")" if high_open else "]"))
        raise ValueError(f"{argument}: expected a value in {lo}{low}, {high if high is not None else 'inf'}{hi or ')'}, got {value}")
    return value


def positive_count(value, argument, owner):
    """A count of units, pieces, k...: an integer > 0, refused as "<owner>: <argument> must be a positive integer"."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {argument} must be a positive integer, got {value!r}")
    return int(value)


def numeric_array(value, argument):
    """Any array-like of numbers as an ndarray (no copy where it already is one); strings, objects, ragged
    lists and masked arrays with masked values are refused."""
    if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):
        raise ValueError(f"{argument}: expected an array of numbers, got a masked array with masked values "
                         f"(fill them first, e.g. {argument}.filled(0))")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, RuntimeError) as e:  # ragged nested lists, tensors that refuse NumPy
        raise ValueError(f"{argument}: expected a rectangular array of numbers ({e})") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{argument}: expected numbers, got an array of dtype {array.dtype}")
    return array


class NonFiniteInput(ValueError):
    """x holds a NaN or an infinity, as the core found while predicting (prepare_x then says where)."""


def converted(array, dtype, argument, copy=False, check_finite=True):
    """`array` as a C-contiguous array of `dtype` (no copy when it already is one, unless `copy`), checked to
    be finite unless not `check_finite`: NaN/Inf in the data, and values beyond the range of `dtype`, are
    refused."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow in the cast is reported below
            converted = np.array(array, dtype=dtype, order="C", copy=True) if copy \
                else np.ascontiguousarray(array, dtype=dtype)
    except MemoryError as e:  # e.g. a huge view with zero strides that cannot be made contiguous
        raise MemoryError(f"{argument}: {e}") from None
    if check_finite and not all_finite(converted):
        raise nonfinite_error(converted, argument, original=array)
    return converted


def nonfinite_error(array, argument, original=None):
    """The ValueError for an array holding NaN or Inf, with the first one's value (in `original`, the data
    before a cast, where a finite value may have become Inf) and place."""
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
    where = f"row {index[0]}" + (f", column {index[1]}" if len(index) == 2 else "") if len(index) <= 2 \
        else f"index {index}"
    value = (array if original is None else original)[index].item()
    if np.isfinite(value):
        return ValueError(f"{argument} has values too large for {array.dtype}: expected magnitudes up to "
                          f"{np.finfo(array.dtype).max:.4g}, got {value!r} at {where}")
    return ValueError(f"{argument} contains NaN or Inf values: expected finite numbers, got {value!r} at {where}")


def all_finite(array, chunk_elements=1 << 20):
    """np.isfinite(array).all(): in the core for contiguous float arrays (one pass, no temporary), else over
    slices of rows, so checking a large x costs no copy of it."""
    if array.dtype.kind in "biu":
        return True
    if array.ndim == 0 or array.size == 0:
        return bool(np.isfinite(array).all())
    finite = _core_module.all_finite(array)
    if finite is not None:
        return finite
    rows = max(1, chunk_elements * len(array) // array.size)
    return all(np.isfinite(array[i:i + rows]).all() for i in range(0, len(array), rows))


def prepare_x(x, input_shape, dtype, argument="x", need_rows=False, check_finite=True):
    """x checked against the per-sample input_shape the model expects (None while unknown), as a C-contiguous
    array of dtype (checked to be finite unless not `check_finite`)."""
    if x is None:
        raise ValueError(f"{argument}: expected an array of shape (n, features), got None")
    x = numeric_array(x, argument)
    if input_shape is not None:
        # As Keras: a missing last axis of size 1 is added ((n,) for inputs of shape (1,)), an extra one dropped.
        if x.ndim == len(input_shape) and input_shape[-1] == 1:
            x = x[..., np.newaxis]
        elif x.ndim == len(input_shape) + 2 and x.shape[-1] == 1:
            x = x[..., 0]
        expected = "(n, " + ", ".join(map(str, input_shape)) + ")"
        if x.ndim != len(input_shape) + 1:
            raise ValueError(f"{argument}: expected a {len(input_shape) + 1}-D array of shape {expected}, "
                             f"got shape {x.shape}")
        if x.shape[1:] != input_shape:
            what = f"{input_shape[0]} features per sample" if len(input_shape) == 1 \
                else f"samples of shape {input_shape}"
            raise ValueError(f"{argument}: the model expects {what} (input shape {(None, *input_shape)}), "
                             f"got an array of shape {x.shape}")
    elif x.ndim < 2:
        raise ValueError(f"{argument}: expected a 2-D array of shape (n, features), got shape {x.shape}")
    if x.ndim >= 2 and 0 in x.shape[1:]:
        raise ValueError(f"{argument}: expected at least one feature per sample, got shape {x.shape}")
    if need_rows and x.shape[0] == 0:
        raise ValueError(f"{argument}: expected at least one sample, got an empty array of shape {x.shape}")
    return converted(x, dtype, argument, check_finite=check_finite)


def flat(x):
    """The (n, features) view the core reads (no copy: x is C-contiguous)."""
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))


def prepare_y(y, outputs, loss_name, dtype, argument):
    """Targets for a model with this many outputs trained with this loss: (n, outputs), or integer labels of
    shape (n, 1) for sparse_categorical_crossentropy."""
    rows, out, loss = y.shape[0], outputs, loss_name
    if not all_finite(y):
        raise nonfinite_error(y, argument)
    if loss == "sparse_categorical_crossentropy":
        if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
            raise ValueError(
                f"{argument}: sparse_categorical_crossentropy expects integer labels of shape (n,) or (n, 1), "
                f"got shape {y.shape}"
            )
        y = y.reshape(rows, 1)
        bad = ~((y >= 0) & (y < out) & (np.mod(y, 1) == 0))
        if bad.any():
            i = int(np.argmax(bad.ravel()))
            raise ValueError(
                f"{argument}: labels must be integers in [0, {out}) for a model with {out} outputs; "
                f"got {y.ravel()[i].item()!r} at row {i}"
            )
    else:
        if y.ndim == 1 and out == 1:
            y = y.reshape(rows, 1)
        if y.ndim != 2 or y.shape[1] != out:
            hint = " (integer labels? use sparse_categorical_crossentropy or utils.to_categorical)" \
                if y.ndim == 1 else ""
            raise ValueError(
                f"{argument}: expected shape ({rows}, {out}) to match the model's output {(None, out)}, "
                f"got {y.shape}{hint}"
            )
    return converted(y, dtype, argument, copy=True)  # a copy: the caller may change theirs during fit


def prepare_sample_weight(sample_weight, rows, dtype, argument="sample_weight"):
    """None, or one finite weight >= 0 per row, as a copy of dtype."""
    if sample_weight is None:
        return None
    w = numeric_array(sample_weight, argument)
    if w.shape != (rows,):
        raise ValueError(f"{argument}: expected shape ({rows},), got {w.shape}")
    with np.errstate(over="ignore"):
        weights = np.array(w, dtype=dtype, order="C", copy=True)  # the caller may change theirs
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{argument}: expected finite weights >= 0, got {w[i].item()!r} at row {i}")
    return weights


def class_sample_weights(y, class_weight, outputs, y_argument):
    """class_weight {class: weight} as per-sample weights, as Keras does: a row's class is the argmax of its
    one-hot (or probability) target, or its integer label; classes missing from the dict weigh 1."""
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight: expected a dict mapping class indices to weights, got {class_weight!r}")
    out = outputs
    classes = max(out, 2)  # a one-output model tells two classes apart
    for cls, weight in class_weight.items():
        if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)) or not 0 <= cls < classes:
            raise ValueError(f"class_weight: expected class indices in [0, {classes}) as keys (the model has "
                             f"{out} output{'s' if out > 1 else ''}), got the key {cls!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)) \
                or not np.isfinite(weight) or weight < 0:
            raise ValueError(f"class_weight: the weight of class {cls} must be a finite number >= 0, "
                             f"got {weight!r}")
    if y.shape[1] > 1:
        labels = np.argmax(y, axis=1)
    else:
        labels = y[:, 0]
        fractional = np.mod(labels, 1) != 0
        if fractional.any():
            i = int(np.argmax(fractional))
            raise ValueError(f"class_weight: expected class labels (integers) or one-hot rows in {y_argument}, "
                             f"got {labels[i].item()!r} at row {i}")
    weights = np.ones(len(y))
    for cls, weight in class_weight.items():
        weights[labels == cls] = weight
    return weights


def validation_schedule(validation_freq):
    """Which epochs (0-based) validate: every validation_freq-th, or those listed (1-based), as Keras."""
    if isinstance(validation_freq, (int, np.integer)) and not isinstance(validation_freq, bool) \
            and validation_freq >= 1:
        return lambda epoch: (epoch + 1) % int(validation_freq) == 0
    if isinstance(validation_freq, (list, tuple)) and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) and e >= 1 for e in validation_freq):
        listed = {int(e) for e in validation_freq}
        return lambda epoch: epoch + 1 in listed
    raise ValueError(f"validation_freq: expected a positive integer or a list of epochs (counted from 1), "
                     f"got {validation_freq!r}")


def verbose_level(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose: expected 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


# --------------------------------------------------------------------------- data that is not one array

def is_py_dataset(x):
    """densenn's PyDataset, or Keras' own (keras.utils.PyDataset or Sequence): a model moved from Keras keeps
    its data sets."""
    return isinstance(x, PyDataset) or any(cls.__name__ in ("PyDataset", "Sequence") and
                                           cls.__module__.split(".")[0] in ("keras", "tf_keras")
                                           for cls in type(x).__mro__)


def is_stream(x):
    """Whether fit/evaluate/predict read x batch by batch: a PyDataset, a generator or other iterator, or an
    iterable that is not array-like (lists, tuples and whatever NumPy converts stay arrays)."""
    if isinstance(x, np.ndarray):  # first: asked on every predict, where the checks below cost a one-row call ~40%
        return False
    if is_py_dataset(x):
        return True
    if isinstance(x, (str, bytes, collections.abc.Sequence, collections.abc.Mapping)) \
            or hasattr(x, "__array__") or hasattr(x, "__array_interface__"):
        return False
    return isinstance(x, collections.abc.Iterable)


def _warn(message):
    """A UserWarning shown at the caller's line outside densenn (the user's fit/evaluate/predict call)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("densenn."):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def stream_kind(x):
    """The name messages give the data: 'PyDataset', 'generator', 'iterator' or 'iterable'."""
    if is_py_dataset(x):
        return "PyDataset"
    if isinstance(x, types.GeneratorType):
        return "generator"
    return "iterator" if isinstance(x, collections.abc.Iterator) else "iterable"


def unpack_batch(batch, kind, where):
    """A batch as (x, y, sample_weight), None where it has none: Keras' forms (x,), (x, y), (x, y, w), a list
    taken as the tuple, a bare array as (x,)."""
    if isinstance(batch, np.ndarray):
        batch = (batch,)
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple) or len(batch) not in (1, 2, 3):
        text = str(batch)
        text = text if len(text) <= 100 else text[:100] + "..."
        raise ValueError(f"{where}: the {kind} must give each batch as a tuple (inputs,), (inputs, targets) or "
                         f"(inputs, targets, sample_weights), got {text} of type {type(batch).__name__}")
    return batch + (None,) * (3 - len(batch))


class Prefetcher:
    """Pulls jobs from a source and runs `work` on them in daemon threads, at most `ahead` jobs ahead of the
    consumer, and hands the results back in order: the next batch is read and converted while the current one
    trains (the core's training step releases the GIL). An exception from the source or from `work` is raised
    again by `get`, in the consumer's thread, with its own traceback. After `close` no thread pulls from the
    source; being daemons, threads stuck in the source's own code never hold up the interpreter's exit.

    pull() returns the next job or raises StopIteration; it runs in one thread at a time, in order. limit: at
    most that many jobs (None: until the source ends). first_here: the first job runs in the thread of the first
    `get` (it may build the model, which only that thread may do)."""

    def __init__(self, pull, work, workers=1, ahead=1, limit=None, first_here=False):
        self._pull, self._work = pull, work
        self._workers, self._ahead, self._limit, self._first_here = max(1, workers), max(1, ahead), limit, first_here
        self._ready = threading.Condition()  # guards the counters and results below
        self._pull_lock = threading.Lock()  # one reader of the source at a time, in position order
        self._results = {}  # position -> (value, exception)
        self._assigned = 0  # positions handed out (pulled or being pulled)
        self._taken = 0  # positions the consumer has taken
        self._end = None  # the position at which the source ended (or failed)
        self._stopped = False
        self._threads = None

    def _finished(self, position):
        return (self._end is not None and position >= self._end) or \
            (self._limit is not None and position >= self._limit)

    def _next_job(self):
        """(position, job) to work on, or None when there is nothing more to do. Called under _pull_lock."""
        with self._ready:
            while not (self._stopped or self._finished(self._assigned)) \
                    and self._assigned >= self._taken + self._ahead:
                self._ready.wait()
            if self._stopped or self._finished(self._assigned):
                return None
            position = self._assigned
            self._assigned += 1
        try:
            return position, self._pull()
        except StopIteration:
            error = None
        except BaseException as e:  # the source failed: the consumer gets the exception at this position
            error = e
        with self._ready:
            if error is not None:
                self._results[position] = (None, error)
            self._end = position + (error is not None)
            self._ready.notify_all()
        return None

    def _fill(self, position, job):
        try:
            result = (self._work(job), None)
        except BaseException as e:
            result = (None, e)
        with self._ready:
            self._results[position] = result
            self._ready.notify_all()

    def _run(self):
        while True:
            with self._pull_lock:
                if self._stopped:
                    return
                job = self._next_job()
            if job is None:
                return
            self._fill(*job)

    def get(self):
        """The next result, in order; StopIteration once the source (or the limit) has ended."""
        if self._threads is None:
            if self._first_here:
                with self._pull_lock:
                    job = self._next_job()
                if job is not None:
                    self._fill(*job)
            self._threads = [threading.Thread(target=self._run, name=f"densenn-data-{i}", daemon=True)
                             for i in range(self._workers)]
            for thread in self._threads:
                thread.start()
        with self._ready:
            while self._taken not in self._results and not self._finished(self._taken):
                self._ready.wait()
            if self._taken not in self._results:
                raise StopIteration
            value, error = self._results.pop(self._taken)
            self._taken += 1
            self._ready.notify_all()
        if error is not None:
            raise error
        return value

    def close(self):
        """Stops the threads and waits for them (each finishes the job it is on)."""
        with self._ready:
            self._stopped = True
            self._ready.notify_all()
        for thread in self._threads or ():
            thread.join()


class StreamAdapter:
    """The batches of data that is not one array, epoch after epoch, as Keras' data adapters and EpochIterator
    give them: a PyDataset's batches by index (in a new random order each epoch with shuffle=True), a generator
    or iterator read on from where the last epoch stopped, another iterable iterated again once it has ended.

    steps: batches per epoch (steps_per_epoch, validation_steps or steps); None: a PyDataset's length, or until
    the data ends. Each epoch is a context manager (`epoch`) whose batches come converted by `convert(x, y,
    sample_weight, where)`, read one ahead on another thread."""

    def __init__(self, x, argument="x", steps=None, steps_argument="steps", shuffle=False, y=None,
                 sample_weight=None, batch_size=None, batch_size_argument="batch_size"):
        kind = stream_kind(x)
        a_kind = ("an " if kind[0] in "aeiou" else "a ") + kind
        if y is not None:
            raise ValueError(f"When providing `{argument}` as {a_kind}, `y` should not be passed. Instead, the "
                             f"targets should be included as part of the {kind}.")
        if sample_weight is not None:
            raise ValueError(f"When providing `{argument}` as {a_kind}, `sample_weights` should not be passed. "
                             f"Instead, the sample weights should be included as part of the {kind}.")
        if batch_size is not None:
            raise ValueError(f"The `{batch_size_argument}` argument must not be specified for the given input type. "
                             f"Received input: {x!r}, {batch_size_argument}: {batch_size!r}")
        self.steps = None if steps is None else positive_int(steps, steps_argument)
        self.kind, self.argument = kind, argument
        self._x = x
        self._indexed = is_py_dataset(x)  # batches by index
        self._one_shot = isinstance(x, collections.abc.Iterator)  # iter() gives it back: it cannot start again
        self._workers, self._ahead = 1, 1
        if self._indexed:
            if x.use_multiprocessing:
                raise ValueError(
                    f"{argument}: densenn runs a PyDataset's workers as threads, use_multiprocessing=True is not "
                    "supported (the core's training step releases the GIL, so threads read and convert batches while "
                    "it trains; a process forked from one running the core's OpenMP threads may hang). Pass "
                    "use_multiprocessing=False, with workers=N threads.")
            self._workers = positive_int(x.workers, f"{argument}.workers", allow_zero=True)
            queue_size = positive_int(x.max_queue_size, f"{argument}.max_queue_size")
            if self._workers > 1:
                self._ahead = max(queue_size, self._workers)
            self.num_batches = x.num_batches
        else:
            self.num_batches = len(x) if isinstance(x, collections.abc.Sized) and not self._one_shot else None
        if self.num_batches is not None:
            self.num_batches = positive_int(self.num_batches, f"{argument}'s number of batches (len)")
        self._shuffle = bool(shuffle) and self._indexed and self.num_batches is not None
        if shuffle and not self._shuffle:
            what = "an infinite PyDataset" if self._indexed else a_kind
            _warn(f"`shuffle=True` was passed, but will be ignored since the data `{argument}` was provided as "
                  f"{what}. The {kind} is expected to yield already-shuffled data.")
        self._source = None  # the iterator being read (a PyDataset's: of its indices)
        self._read = 0  # batches read from it
        self._given = False  # whether any epoch had a batch

    def _new_source(self):
        if self._indexed:
            if self.num_batches is None:
                return itertools.count()
            order = list(range(self.num_batches))
            if self._shuffle:
                random.shuffle(order)  # as Keras: Python's generator, which utils.set_random_seed seeds
            return iter(order)
        return iter(self._x)

    def _pull(self):
        """The next job: (batch or its index, its number for messages)."""
        item = next(self._source)
        self._read += 1
        return item, item if self._indexed else self._read - 1

    def _work(self, job, convert):
        item, number = job
        where = f"{self.argument}, batch {number}"
        batch = self._x[item] if self._indexed else item
        return convert(*unpack_batch(batch, self.kind, where), where + ": ")

    def epoch(self, convert, restart=False, first_here=False):
        """One epoch's batches (a context manager): restart=True begins the data again where it can (each
        evaluation does, as in Keras); otherwise an epoch goes on where the last one stopped when steps is given."""
        return _Epoch(self, convert, restart, first_here)


class _Epoch:
    """Iterates over one epoch's converted batches. After the `with` block: `batches` (how many ran) and
    `exhausted` (a generator or iterator ended: no later epoch can have data)."""

    def __init__(self, adapter, convert, restart, first_here):
        self._adapter = a = adapter
        if restart or a._source is None or a.steps is None:
            a._source, a._read = a._new_source(), 0
        self.want = a.steps or a.num_batches  # None: until the data ends
        self._limit = self.want if a.num_batches is None else min(self.want, a.num_batches - a._read)
        self.batches = 0
        self.exhausted = False
        self._ended = False  # the data ended before `want`
        if a._indexed:
            a._x.on_epoch_begin()
        self._feed = Prefetcher(a._pull, lambda job: a._work(job, convert), a._workers, a._ahead, self._limit,
                                first_here)

    def __enter__(self):
        return self

    def __iter__(self):
        while self.want is None or self.batches < self.want:
            try:
                batch = self._feed.get()
            except StopIteration:
                self._ended = True
                return
            self.batches += 1
            yield batch

    def __exit__(self, exc_type, exc, tb):
        self._feed.close()
        if exc_type is not None:
            return
        a = self._adapter
        if self._ended:
            a._source = None  # a PyDataset or iterable starts again next epoch
            # A generator that ended before steps_per_epoch stops training; one read to its end without steps
            # does so at the next epoch, which finds no batch.
            self.exhausted = a._one_shot and (a.steps is not None or not self.batches)
            if not a._given and not self.batches:
                raise ValueError(f"{a.argument}: the {a.kind} gave no batch; it must yield at least one batch.")
            if a.steps is not None or not self.batches:
                _warn("Your input ran out of data; interrupting training. Make sure that your dataset or generator "
                      "can generate at least `steps_per_epoch * epochs` batches. You may need to use the `.repeat()` "
                      "function when building your dataset.")
        elif a.num_batches is not None and a._read >= a.num_batches:
            a._source = None
        a._given = a._given or self.batches > 0
        if a._indexed:
            a._x.on_epoch_end()
