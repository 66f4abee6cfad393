"""keras.utils.PyDataset: a data set of batches that Python code makes one at a time (read from files,
augmented, ...), for fit/evaluate/predict. The adapter that feeds it to the training loop is in data_adapter.py."""
import itertools
import warnings


class PyDataset:
    """Base class for a data set of batches, as ``keras.utils.PyDataset``.

    Implement ``__getitem__(index)``, which returns one batch: ``(inputs,)``, ``(inputs, targets)`` or
    ``(inputs, targets, sample_weights)`` (a bare array counts as ``(inputs,)``), and ``__len__()``, the number of
    batches (or a ``num_batches`` property returning None for an endless data set). ``on_epoch_begin`` and
    ``on_epoch_end`` are called around each epoch (e.g. to reshuffle files).

    Args:
        workers: how many threads call ``__getitem__`` at once during fit/evaluate/predict (results keep their
            order). With 0 or 1, one thread prepares the next batch while the current one trains.
        use_multiprocessing: densenn runs the workers as threads only; True is refused when the data set is used.
        max_queue_size: with several workers, how many batches may be prepared ahead of training.

    Like Keras, the workers are used only by fit/evaluate/predict; iterating over the data set yourself calls
    ``__getitem__`` in turn.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        missing = [name for name in ("_workers", "_use_multiprocessing", "_max_queue_size") if not hasattr(self, name)]
        if missing:
            self._workers = getattr(self, "_workers", 1)
            self._use_multiprocessing = getattr(self, "_use_multiprocessing", False)
            self._max_queue_size = getattr(self, "_max_queue_size", 10)
            warnings.warn("Your `PyDataset` class should call `super().__init__(**kwargs)` in its constructor. "
                          "`**kwargs` can include `workers`, `use_multiprocessing`, `max_queue_size`. Do not pass "
                          "these arguments to `fit()`, as they will be ignored.", stacklevel=3)

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position `index`."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index), returning one batch")

    @property
    def num_batches(self):
        """The number of batches, or None for an endless data set (by default len(self))."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must implement __len__() (the number of batches) or a "
                                  "num_batches property (None for an endless data set)")

    def __iter__(self):
        try:
            num_batches = self.num_batches
        except NotImplementedError:  # as Keras: no length, an endless data set
            num_batches = None
        for index in itertools.count() if num_batches is None else range(num_batches):
            yield self[index]

    def on_epoch_begin(self):
        """Called at the beginning of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


Sequence = PyDataset  # Keras' older name, still exported as keras.utils.Sequence
