"""Data parallelism (densenn.distribution, docs/distributed.md): N ranks train bit for bit as one process whose
batches split into the same N blocks, in an in-process group (threads, no MPI) and under a real mpiexec; and
every failure (an exception, a killed rank, a stuck rank) ends the job with a clear error, never a hang."""
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time

import numpy as np
import pytest

import densenn
from densenn import Input, Sequential, distribution, utils
from densenn.layers import BatchNormalization, Dense, Dropout
from support import using_floatx


def _data(rows=203, features=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = utils.to_categorical(rng.integers(0, classes, rows), classes)
    return x, y


def _model(seed=7, dtype="float32", optimizer="adam"):
    with using_floatx(dtype):
        utils.set_random_seed(seed)
        model = Sequential([Input(shape=(12,)), Dense(24, activation="relu"), Dense(16, activation="tanh"),
                            Dense(3, activation="softmax")])
        model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _fit_group(models, x, y, **fit_args):
    """Trains each model of an in-process group in its own thread (the core runs them at once, GIL released);
    returns each one's History or exception."""
    results = [None] * len(models)

    def train(i):
        try:
            results[i] = models[i].fit(x, y, verbose=0, **fit_args)
        except BaseException as e:  # handed to the test
            results[i] = e
    threads = [threading.Thread(target=train, args=(i,)) for i in range(len(models))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a rank of the group hangs"
    return results


def _attach_group(models, timeout=60.0):
    module = sys.modules[type(models[0]._core).__module__]
    group = module.local_group(len(models))
    for model, communicator in zip(models, group):
        communicator.timeout = timeout
        model._core.set_communicator(communicator)
    return group


def _same_bits(a, b):
    return all(np.array_equal(u.view(np.uint8), v.view(np.uint8)) for u, v in zip(a, b))


# ------------------------------------------------------------------------------------------ in-process group

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ranks", range(1, 9))
def test_local_group_trains_bit_for_bit_as_one_process_split_into_as_many_blocks(ranks, dtype):
    # 203 rows in batches of 50: the last batch (3 rows) leaves some ranks an empty block.
    x, y = _data()
    reference = _model(dtype=dtype)
    reference._core.set_training_blocks(ranks)
    expected = reference.fit(x, y, batch_size=50, epochs=3, verbose=0)
    models = [_model(dtype=dtype) for _ in range(ranks)]
    _attach_group(models)
    results = _fit_group(models, x, y, batch_size=50, epochs=3)
    for r, (model, history) in enumerate(zip(models, results)):
        assert not isinstance(history, BaseException), f"rank {r}: {history!r}"
        assert _same_bits(model.get_weights(), reference.get_weights()), f"rank {r}'s weights differ"
        assert _same_bits([model._core.optimizer_state], [reference._core.optimizer_state])
        assert history.history == expected.history  # loss and metrics of the whole batch, on every rank
    assert models[0]._core.iterations == reference._core.iterations == 3 * 5


def test_block_split_changes_only_rounding():
    # The block split is a different summation order of the same gradients: close to the unsplit model's, so
    # the comparisons above compare real training (and the blocks really change the bits).
    x, y = _data()
    whole, split = _model(dtype="float64"), _model(dtype="float64")
    split._core.set_training_blocks(4)
    whole.fit(x, y, batch_size=50, epochs=2, verbose=0)
    split.fit(x, y, batch_size=50, epochs=2, verbose=0)
    for a, b in zip(whole.get_weights(), split.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert not _same_bits(whole.get_weights(), split.get_weights())
    start = _model(dtype="float64")
    assert not np.allclose(start.get_weights()[0], whole.get_weights()[0])


def _dyadic_dropout_model(rate):
    # Linear layers, small integer weights and inputs, SGD with lr 1/64, MSE on 8 rows x 1 output: every value
    # of a step is exact in float64, so the blocks' sum equals the whole batch's, bit for bit, and any difference
    # can only come from the dropout masks.
    with using_floatx("float64"):
        utils.set_random_seed(3)
        layers = [Input(shape=(4,)), Dense(6, activation="linear")]
        layers += [Dropout(rate)] if rate else []
        layers += [Dense(1, activation="linear")]
        model = Sequential(layers)
        model.compile(optimizer=densenn.optimizers.SGD(learning_rate=1 / 64), loss="mse")
    rng = np.random.default_rng(1)
    model.set_weights([rng.integers(-2, 3, w.shape).astype(np.float64) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("ranks", [2, 3, 8])
def test_dropout_masks_are_drawn_for_the_whole_batch(ranks):
    rng = np.random.default_rng(2)
    x = rng.integers(-2, 3, (16, 4)).astype(np.float64)
    y = rng.integers(-2, 3, (16, 1)).astype(np.float64)
    alone = _dyadic_dropout_model(0.5)
    alone.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    models = [_dyadic_dropout_model(0.5) for _ in range(ranks)]
    _attach_group(models)
    for r, history in enumerate(_fit_group(models, x, y, batch_size=8, epochs=1, shuffle=False)):
        assert not isinstance(history, BaseException), f"rank {r}: {history!r}"
        assert _same_bits(models[r].get_weights(), alone.get_weights())
        assert models[r]._core.rng_state == alone._core.rng_state  # every rank drew the whole batch's masks
    no_dropout = _dyadic_dropout_model(0.0)
    no_dropout.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert not np.array_equal(no_dropout.get_weights()[-2], alone.get_weights()[-2])  # the masks mattered


def test_layers_that_need_the_whole_batch_are_refused():
    module = sys.modules[type(_model()._core).__module__]
    with using_floatx("float32"):
        bn = Sequential([Input(shape=(12,)), Dense(8), BatchNormalization(), Dense(3, activation="softmax")])
        bn.compile(optimizer="sgd", loss="categorical_crossentropy")
        reg = Sequential([Input(shape=(12,)), Dense(8, kernel_regularizer=densenn.regularizers.L2(0.01)),
                          Dense(3, activation="softmax")])
        reg.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"layer 1 \(batch_normalization\).*synchronised batch normalization"):
        bn._core.set_communicator(module.local_group(2)[0])
    with pytest.raises(ValueError, match=r"layer 0 \(dense\).*penalty would be counted once per rank"):
        reg._core.set_communicator(module.local_group(2)[0])
    bn._core.set_communicator(module.local_group(1)[0])  # one rank: nothing to split
    with pytest.raises(ValueError, match="cannot be split into blocks"):
        bn._core.set_training_blocks(2)
    with pytest.raises(ValueError, match="must be >= 0"):
        _model()._core.set_training_blocks(-1)
    with pytest.raises(ValueError, match="positive number of ranks"):
        module.local_group(0)
    with pytest.raises(ValueError, match="positive number of seconds"):
        module.local_group(2)[0].timeout = 0


def test_mpi_communicator_refuses_what_is_not_a_loaded_mpi_library():
    module = sys.modules[type(_model()._core).__module__]
    with pytest.raises(RuntimeError, match="is not loaded in this process"):
        module.mpi_communicator("/no/such/libmpi.so", 0)
    with pytest.raises(RuntimeError, match=r"is not linked to an MPI library \(MPI_Initialized not found\)"):
        module.mpi_communicator(module.__file__, 0)  # loaded, but no MPI in it


def test_a_rank_that_never_comes_ends_the_others_exchange_with_a_timeout_naming_the_step():
    x, y = _data()
    models = [_model(), _model()]
    _attach_group(models, timeout=0.5)
    before = models[0].get_weights()
    (result,) = _fit_group(models[:1], x, y, batch_size=50, epochs=1)  # rank 1 never trains
    assert isinstance(result, TimeoutError)
    assert "DataParallel: training step 1 of 5: rank 0 of 2 waited 0.5" in str(result)
    assert "rank(s) 1" in str(result)
    assert _same_bits(models[0].get_weights(), before)  # the step did not happen
    with pytest.raises(RuntimeError, match="waited 0.5"):  # the group is broken for good
        models[1].fit(x, y, batch_size=50, epochs=1, verbose=0)


def test_one_process_distribution_api():
    assert distribution.rank() == 0 and distribution.size() == 1
    distribution.initialize()  # not launched: a no-op
    with pytest.raises(ValueError, match="not started by an MPI launcher"):
        distribution.initialize(num_processes=2)
    with pytest.raises(ValueError, match="job_addresses"):
        distribution.initialize(job_addresses="a:1,b:1")
    with pytest.raises(ValueError, match="timeout"):
        distribution.DataParallel(timeout=0)
    with pytest.raises(ValueError, match="communicator must be an mpi4py.MPI.Comm"):
        distribution.DataParallel(communicator="world")
    with pytest.raises(ValueError, match="expected a DataParallel"):
        distribution.set_distribution("data")
    alone = distribution.DataParallel()
    assert (alone.rank, alone.size) == (0, 1)
    x, y = _data()
    expected, model = _model(), _model()
    expected.fit(x, y, batch_size=50, epochs=1, verbose=0)
    with alone.scope():  # one process: fit as without a distribution
        assert distribution.distribution() is alone
        model.fit(x, y, batch_size=50, epochs=1, verbose=0)
    assert distribution.distribution() is None
    assert _same_bits(model.get_weights(), expected.get_weights())


# ------------------------------------------------------------------------------------------ real MPI

def _mpiexec():
    pytest.importorskip("mpi4py")
    # The mpich wheel's launcher sits beside the interpreter that installed it (a venv's base one too).
    places = [os.path.dirname(sys.executable), sysconfig.get_path("scripts"), os.path.join(sys.base_prefix, "bin")]
    found = [os.path.join(p, "mpiexec") for p in places if os.path.exists(os.path.join(p, "mpiexec"))]
    launcher = found[0] if found else shutil.which("mpiexec")
    if launcher is None:
        pytest.skip("missing dependency: mpiexec (pip install mpich)")
    return launcher


_SCRIPT = """
import os, sys, time
import numpy as np
import densenn
from densenn import Input, Sequential, callbacks, distribution, utils
from densenn.layers import Dense

distribution.initialize()
rank = distribution.rank()
distribution.set_distribution(distribution.DataParallel(timeout=float(os.environ.get("TIMEOUT", "60"))))
rng = np.random.default_rng(0)
x = rng.normal(size=(203, 12)).astype(np.float32)
y = utils.to_categorical(rng.integers(0, 3, 203), 3)
utils.set_random_seed(7 + rank)  # rank 1 starts from other weights: fit broadcasts rank 0's
model = Sequential([Input(shape=(12,)), Dense(24, activation="relu"), Dense(16, activation="tanh"),
                    Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
FAIL = os.environ.get("FAIL", "")

class Trouble(callbacks.Callback):
    def on_train_begin(self, logs=None):
        open(os.path.join(sys.argv[1], f"training{rank}"), "w").close()

    def on_train_batch_begin(self, batch, logs=None):
        if rank == 1 and self.model.optimizer.iterations >= 7:
            if FAIL == "raise":
                raise ValueError("rank 1 found bad data")
            if FAIL == "kill":
                os.kill(os.getpid(), 9)
            if FAIL == "stuck":
                time.sleep(600)

batch_size = 50 + (rank if FAIL == "mismatch" else 0)
epochs = 10**6 if FAIL == "forever" else 3
from mpi4py import MPI
MPI.COMM_WORLD.Barrier()  # fit starts together on both ranks, well within even a short timeout
csv = callbacks.CSVLogger(os.path.join(sys.argv[1], f"log{rank}.csv"))  # rank 0's only is written
history = model.fit(x, y, batch_size=batch_size, epochs=epochs, callbacks=[Trouble(), csv],
                    verbose=int(os.environ.get("VERBOSE", "0")))
model.save(os.path.join(sys.argv[1], f"model{rank}.dnn"))
np.savez(os.path.join(sys.argv[1], f"rank{rank}.npz"), *model.get_weights(),
         loss=np.array(history.history["loss"]), iterations=model.optimizer.iterations)
"""


def _ranks_run_on_this_cpu():
    """Whether a child process picks the build this one runs. Not so under an emulated CPU
    (scripts/test_under_qemu.sh): this process is emulated and the ranks run natively, and there even the same
    build's weights differed from theirs in the last bits (seen with -cpu Haswell and Nehalem; libm and NumPy
    choose their code by CPU)."""
    code = "import densenn; print(densenn.build_info()['isa'])"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return child.stdout.strip() == densenn.build_info()["isa"]


def _command(tmp_path, fail="", timeout_s=60, verbose=0):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FAIL": fail, "TIMEOUT": str(timeout_s), "VERBOSE": str(verbose)}
    return [_mpiexec(), "-n", "2", sys.executable, str(script), str(tmp_path)], env


def _launch(tmp_path, **options):
    command, env = _command(tmp_path, **options)
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)


def test_mpiexec_two_ranks_train_bit_for_bit_as_one_process_split_in_two(tmp_path):
    if not _ranks_run_on_this_cpu():
        pytest.skip("the ranks run on another CPU than this process (an emulated one): bits may differ")
    done = _launch(tmp_path, verbose=2)
    assert done.returncode == 0, done.stdout + done.stderr
    x, y = _data()
    reference = _model()
    reference._core.set_training_blocks(2)
    expected = reference.fit(x, y, batch_size=50, epochs=3, verbose=0)
    for rank in (0, 1):
        saved = np.load(tmp_path / f"rank{rank}.npz")
        weights = [saved[f"arr_{i}"] for i in range(len(reference.get_weights()))]
        assert _same_bits(weights, reference.get_weights()), f"rank {rank}'s weights differ"
        assert saved["loss"].tolist() == expected.history["loss"]
        assert int(saved["iterations"]) == 15
    assert done.stdout.count("Epoch 1/3") == 1  # the progress on rank 0 only
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["log0.csv"]
    assert len((tmp_path / "log0.csv").read_text().splitlines()) == 4
    assert sorted(p.name for p in tmp_path.glob("*.dnn")) == ["model0.dnn"]
    assert _same_bits(densenn.models.load_model(tmp_path / "model0.dnn").get_weights(), reference.get_weights())


def test_mpiexec_ranks_that_disagree_on_the_data_stop_with_the_difference(tmp_path):
    done = _launch(tmp_path, fail="mismatch")
    assert done.returncode != 0
    assert "batch_size: rank 0 50, rank 1 51" in done.stderr
    assert "aborting all ranks" in done.stderr


def test_mpiexec_an_exception_on_one_rank_ends_every_rank_with_its_message(tmp_path):
    done = _launch(tmp_path, fail="raise")
    assert done.returncode != 0
    assert "ValueError: rank 1 found bad data" in done.stderr
    assert "rank 1 of 2 stopped on the ValueError above; aborting all ranks" in done.stderr
    assert not list(tmp_path.glob("rank*.npz"))


def test_mpiexec_a_killed_rank_ends_the_job(tmp_path):
    done = _launch(tmp_path, fail="kill")
    assert done.returncode != 0
    assert "BAD TERMINATION" in done.stdout and "Killed (signal 9)" in done.stdout  # Hydra's report
    assert not list(tmp_path.glob("rank*.npz"))


def test_mpiexec_a_stuck_rank_ends_the_job_with_a_timeout_naming_the_step(tmp_path):
    done = _launch(tmp_path, fail="stuck", timeout_s=3)
    assert done.returncode != 0
    assert "TimeoutError: DataParallel: training step 3 of 5: rank 0 of 2 waited 3" in done.stderr
    assert "rank 0 of 2 stopped on the TimeoutError above; aborting all ranks" in done.stderr


def test_mpiexec_ctrl_c_on_the_launcher_stops_every_rank(tmp_path):
    command, env = _command(tmp_path, fail="forever")
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"training{r}").exists() for r in (0, 1)):
            assert launcher.poll() is None and time.monotonic() < deadline, "the ranks did not start training"
            time.sleep(0.1)
        time.sleep(1)  # inside the epochs' exchanges
        launcher.send_signal(signal.SIGINT)
        out, err = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.communicate()
    assert launcher.returncode != 0
    assert "KeyboardInterrupt" in err
    assert "stopped on the KeyboardInterrupt above; aborting all ranks" in err
