"""MNIST handwritten digits: the 10,000 images of MNIST's official test set,
shipped inside the package (1.6 MB) and split into 8,000 for training and
2,000 held out. The full 60k training set is not bundled."""
import gzip
from importlib import resources

import numpy as np

N_TRAIN = 8000


def _read_idx(name):
    with resources.files(__package__).joinpath("data", name).open("rb") as f:
        data = gzip.decompress(f.read())
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_data():
    """``(x_train, y_train), (x_test, y_test)`` as in ``keras.datasets.mnist.load_data()``:
    uint8 images of shape (n, 28, 28) and uint8 labels 0-9; 8,000 train and 2,000 test rows."""
    x = _read_idx("t10k-images-idx3-ubyte.gz")
    y = _read_idx("t10k-labels-idx1-ubyte.gz")
    return (x[:N_TRAIN].copy(), y[:N_TRAIN].copy()), (x[N_TRAIN:].copy(), y[N_TRAIN:].copy())
