"""Predictions do not depend on the OpenMP thread count (docs/reliability.md): the same model and rows, predicted
in a child process with OMP_NUM_THREADS=1 and in one with 2, give the same bits. The shapes are those whose
products are large enough to be split between threads (256->1024->1024->10 on 256 rows, wider networks on 32 to
256 rows), and those of the few-row product (1 to 8 rows, a 25 MB layer shared between threads; 9, just past
it); and a training step whose products are split (one SGD step of 256 rows through 256->1024->1024->10) gives
the same weights."""
import numpy as np

from support import run_child

# Builds each network from a fixed seed, predicts fixed rows, and saves every output (and, for the first
# network, the weights after one SGD step) to the .npz path given.
_CHILD = """
import os, sys
os.environ["OMP_NUM_THREADS"] = sys.argv[1]  # before OpenMP starts: it reads the variable once
import numpy as np
from densenn import Input, Sequential, layers, utils
from densenn._core import core

assert core.max_threads() == int(sys.argv[1]), core.max_threads()
out = {}
for name, sizes, rows_list in [("a", [256, 1024, 1024, 10], [1, 3, 32, 100, 256]),
                               ("b", [1024, 2048, 2048, 10], [1, 2, 3, 4, 5, 8, 9, 32, 256])]:
    utils.set_random_seed(7)
    model = Sequential([Input(shape=(sizes[0],))] + [layers.Dense(n, activation="relu") for n in sizes[1:-1]]
                       + [layers.Dense(sizes[-1], activation="softmax")])
    x = np.random.default_rng(1).normal(size=(max(rows_list), sizes[0])).astype(np.float32)
    for rows in rows_list:
        out[f"{name}{rows}"] = model.predict(x[:rows], verbose=0)
        out[f"{name}{rows}_batch"] = model.predict_on_batch(x[:rows])
    if name == "a":  # one SGD step of 256 rows: products split between threads in the backward pass too
        y = np.eye(10, dtype=np.float32)[np.arange(256) % 10]
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        model.train_on_batch(x[:256], y)
        for i, w in enumerate(model.get_weights()):
            out[f"{name}_trained{i}"] = w
np.savez(sys.argv[2], **out)
"""


def _outputs(threads, path):
    child = run_child(_CHILD, threads, path, timeout=300)
    assert child.returncode == 0, child.stderr
    with np.load(path) as saved:
        return dict(saved)


def test_predictions_and_a_training_step_do_not_depend_on_the_thread_count(tmp_path):
    one = _outputs(1, tmp_path / "one.npz")
    two = _outputs(2, tmp_path / "two.npz")
    assert one.keys() == two.keys()
    differing = {key: int((one[key] != two[key]).sum()) for key in one if not np.array_equal(one[key], two[key])}
    assert differing == {}, f"values that differ between 1 and 2 threads: {differing}"
    # A one-row predict reads each weight once: its numbers are those of the same row in a larger batch up to
    # float32 rounding (a different summation order), never another result.
    np.testing.assert_allclose(one["b1"], one["b256"][:1], rtol=1e-4, atol=1e-6)
