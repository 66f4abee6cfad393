"""Utilities: seeding and label encoding, as in ``keras.utils``."""
import os
import random

import numpy as np

from .visualization import model_to_dot, plot_history, plot_model  # noqa: F401
from .py_dataset import PyDataset, Sequence  # noqa: F401 (keras.utils' names)

_seed_sequence = None  # numpy SeedSequence after set_random_seed, else fresh entropy per model


def set_random_seed(seed):
    """Makes weight initialisation and shuffling repeatable (also seeds Python's and NumPy's generators).

    Models built after this call take their seeds, in order, from ``seed``:
    running the same script twice gives bit-identical weights and batch order.
    """
    global _seed_sequence
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: expected a non-negative integer seed, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    _seed_sequence = np.random.SeedSequence(seed)


def next_seed():
    """A 64-bit seed for the next model (repeatable after set_random_seed)."""
    if _seed_sequence is None:
        return int.from_bytes(os.urandom(8), "little")
    return int(_seed_sequence.spawn(1)[0].generate_state(1, np.uint64)[0])


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encodes integer class labels (n,) or (n, 1) into (n, num_classes)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"to_categorical: expected labels of shape (n,) or (n, 1), got {y.shape}")
    if y.size and (not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0):
        raise ValueError("to_categorical: labels must be non-negative integers")
    y = y.astype(np.int64)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical: label {int(y.max())} is out of range for num_classes={num_classes}")
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out
