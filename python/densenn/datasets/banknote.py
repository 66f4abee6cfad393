"""UCI banknote authentication: 1,372 banknotes, four wavelet features
(variance, skewness, curtosis, entropy) and a label (1 = forged)."""
from importlib import resources

import numpy as np

FEATURES = ("variance", "skewness", "curtosis", "entropy")


def load_data(test_split=0.2, seed=113):
    """``(x_train, y_train), (x_test, y_test)``: float32 features (n, 4) and int labels (n,),
    shuffled with `seed` (the file is sorted by class) and split with `test_split` held out."""
    if not 0 <= test_split < 1:
        raise ValueError(f"test_split: expected a number in [0, 1), got {test_split!r}")
    with resources.files(__package__).joinpath("data", "data_banknote_authentication.csv").open("rb") as f:
        table = np.loadtxt(f, delimiter=",", skiprows=1)
    order = np.random.default_rng(seed).permutation(len(table))
    x = table[order, :4].astype(np.float32)
    y = table[order, 4].astype(np.int64)
    n_train = int(round(len(table) * (1 - test_split)))
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
