"""Data-parallel training over MPI, with the names of Keras 3's ``keras.distribution``.

Launch the same script on several processes (``mpiexec -n 4 python train.py``, or Slurm's ``srun``)::

    from densenn import distribution
    distribution.initialize()                       # a no-op when not launched by an MPI launcher
    distribution.set_distribution(distribution.DataParallel())
    model.compile(...); model.fit(x, y, batch_size=256)  # 256 rows per step over all the processes

Every process holds the whole data set and draws the same shuffle; rank r computes the forward and backward
pass of block r of each global batch, and the gradients are summed in a fixed order, so training on N
processes gives the same weights, bit for bit, as one process that splits each batch into the same N blocks.
Weights, optimizer state and generators are broadcast from rank 0 when ``fit`` starts; the progress bar,
``ModelCheckpoint``, ``CSVLogger`` and ``model.save`` run on rank 0 only. An exception on any rank aborts every rank with its
message; an exchange that waits longer than ``DataParallel(timeout=...)`` raises ``TimeoutError`` naming the
step. See docs/distributed.md.
"""
import contextlib
import hashlib
import json
import os
import sys
import time

import numpy as np

__all__ = ["initialize", "DataParallel", "set_distribution", "distribution", "rank", "size"]

# What MPI launchers put in each process's environment: MPICH's and Intel MPI's Hydra (PMI_*), PMIx (Open MPI
# 5, Slurm's --mpi=pmix), Open MPI's mpirun, and Slurm's srun (SLURM_PROCID with more than one task).
_LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE")

_MPI = None            # the mpi4py.MPI module once initialize() found a launcher
_distribution = None   # set_distribution's value
_digests = {}          # core module file -> its SHA-256
_FACTS_BYTES = 1024    # what each rank tells the others when fit starts (_agree), as JSON
_ABORT_GRACE_SECONDS = 1.0


def _launched():
    if any(name in os.environ for name in _LAUNCHER_VARIABLES):
        return True
    return "SLURM_PROCID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("densenn.distribution needs mpi4py and an MPI library: pip install mpi4py mpich "
                          f"(or mpi4py built against your cluster's MPI) ({e})") from None
    return MPI


def initialize(job_addresses=None, num_processes=None, process_id=None):
    """Joins the processes an MPI launcher (mpiexec, srun) started. A no-op in a process that no launcher
    started, so the same script also runs alone. As Keras' ``initialize``, ``num_processes`` and ``process_id``
    may be given; here they are checked against the launcher's. ``job_addresses`` is refused: the launcher
    places the processes."""
    global _MPI
    if job_addresses is not None:
        raise ValueError("initialize: job_addresses is not used: the MPI launcher (mpiexec -hosts/-hostfile, srun) "
                         f"places the processes; got {job_addresses!r}")
    if not _launched():
        if num_processes not in (None, 1):
            raise ValueError(f"initialize: num_processes={num_processes!r}, but this process was not started by an "
                             "MPI launcher: run it with mpiexec -n N (or srun)")
        return
    if _MPI is None:
        _MPI = _import_mpi()
        _install_abort_on_exception(_MPI)
    world = _MPI.COMM_WORLD
    if num_processes is not None and num_processes != world.Get_size():
        raise ValueError(f"initialize: num_processes={num_processes!r}, but the launcher started "
                         f"{world.Get_size()} processes")
    if process_id is not None and process_id != world.Get_rank():
        raise ValueError(f"initialize: process_id={process_id!r}, but this process is rank {world.Get_rank()}")


def _install_abort_on_exception(MPI):
    """An uncaught exception on one rank would leave the others waiting in an exchange: print it, naming the
    rank, and abort every rank (MPI_Abort), as ``python -m mpi4py`` does. Ctrl-C on the launcher reaches every
    rank as KeyboardInterrupt, which ends the same way. Installed once (by initialize, or by a DataParallel
    given its own communicator)."""
    if getattr(sys.excepthook, "_densenn_aborts", False):
        return
    previous = sys.excepthook

    def abort_on_exception(kind, value, traceback):
        world = MPI.COMM_WORLD
        try:
            previous(kind, value, traceback)
            sys.stderr.write(f"densenn.distribution: rank {world.Get_rank()} of {world.Get_size()} stopped on the "
                             f"{kind.__name__} above; aborting all ranks.\n")
            sys.stdout.flush()
            sys.stderr.flush()
            # The launcher drops what it has not yet forwarded when the job ends: give it (and another rank that
            # failed at the same time, e.g. on Ctrl-C) a moment to pass the messages on.
            time.sleep(_ABORT_GRACE_SECONDS)
        finally:
            world.Abort(1)

    abort_on_exception._densenn_aborts = True
    sys.excepthook = abort_on_exception


class DataParallel:
    """Data parallelism over an MPI communicator (an ``mpi4py.MPI.Comm``; default ``COMM_WORLD`` once
    ``initialize()`` joined a launched job, else this process alone). ``timeout``: seconds an exchange (each
    training step's, and fit's start) waits for the other ranks before raising ``TimeoutError``."""

    def __init__(self, communicator=None, timeout=300.0):
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0 \
                or not np.isfinite(timeout):
            raise ValueError(f"DataParallel: timeout must be a positive number of seconds, got {timeout!r}")
        if communicator is None:
            communicator = _MPI.COMM_WORLD if _MPI is not None else None
        elif _MPI is not None or "mpi4py.MPI" in sys.modules:
            MPI = _mpi()
            communicator = self._check_comm(communicator, MPI)
            if communicator.Get_size() > 1:
                _install_abort_on_exception(MPI)
        else:
            raise ValueError(f"DataParallel: communicator must be an mpi4py.MPI.Comm, got {communicator!r}")
        self.communicator = communicator
        self.timeout = float(timeout)

    @staticmethod
    def _check_comm(communicator, MPI):
        if not isinstance(communicator, MPI.Comm) or communicator == MPI.COMM_NULL:
            raise ValueError(f"DataParallel: communicator must be an mpi4py.MPI.Comm, got {communicator!r}")
        return communicator

    @property
    def rank(self):
        return 0 if self.communicator is None else self.communicator.Get_rank()

    @property
    def size(self):
        return 1 if self.communicator is None else self.communicator.Get_size()

    @contextlib.contextmanager
    def scope(self):
        """Makes this the current distribution inside the ``with`` block (as Keras' ``Distribution.scope``)."""
        previous = distribution()
        set_distribution(self)
        try:
            yield
        finally:
            set_distribution(previous)

    def __repr__(self):
        return f"<DataParallel rank {self.rank} of {self.size}, timeout={self.timeout:g}s>"


def set_distribution(value):
    """Sets the distribution every later ``fit`` uses (None: none)."""
    global _distribution
    if value is not None and not isinstance(value, DataParallel):
        raise ValueError(f"set_distribution: expected a DataParallel or None, got {value!r}")
    _distribution = value


def distribution():
    """The distribution set by ``set_distribution`` (None when none is)."""
    return _distribution


def rank():
    """This process's rank in the current distribution (else in the launched job; 0 alone)."""
    if _distribution is not None:
        return _distribution.rank
    return _MPI.COMM_WORLD.Get_rank() if _MPI is not None else 0


def size():
    """The number of processes in the current distribution (else in the launched job; 1 alone)."""
    if _distribution is not None:
        return _distribution.size
    return _MPI.COMM_WORLD.Get_size() if _MPI is not None else 1


# ------------------------------------------------------------------------------------------- trainer hooks

def _parallel():
    """The current distribution when it spans more than one process, else None."""
    return _distribution if _distribution is not None and _distribution.size > 1 else None


def writes_files():
    """Whether this process writes files (model.save, ModelCheckpoint, CSVLogger): rank 0 of a distribution of
    several processes, or a process alone."""
    return _parallel() is None or _distribution.rank == 0


def rank_verbose(verbose):
    """Progress output on rank 0 only."""
    return verbose if _parallel() is None or _distribution.rank == 0 else 0


def begin_fit(model, rows, batch_size, epochs, initial_epoch, shuffle, verbose, callbacks):
    """fit's start under a distribution of several processes: checks that every rank runs the same build of the
    core on the same model and the same number of steps, broadcasts rank 0's weights, optimizer state,
    iterations and generators, and attaches the communicator to the model's core (a fit without a distribution
    detaches it). Returns fit's (verbose, callbacks) for this rank: progress and files on rank 0 only."""
    core = model._core
    parallel = _parallel()
    if parallel is None:
        # (a communicator attached by other code stays; an unbuilt model has none)
        if core is not None and getattr(model, "_core_with_communicator", None) is core:
            core.set_communicator(None)
            model._core_with_communicator = None
        return verbose, callbacks
    if rows is None:
        raise ValueError("DataParallel: densenn trains data-parallel from arrays (each rank takes its block of every "
                         "global batch); x is a PyDataset, a generator or an iterable: pass arrays.")
    comm = parallel.communicator
    module = sys.modules[type(core).__module__]
    MPI = _mpi()
    # The library: mpi4py's extension module, linked to the MPI library it loaded (the core looks there).
    communicator = module.mpi_communicator(MPI.__file__, MPI._handleof(comm))
    communicator.timeout = parallel.timeout
    core.set_communicator(communicator)  # ValueError for layers that cannot be trained data-parallel
    model._core_with_communicator = core
    _agree(parallel, model, module, rows, batch_size, epochs, initial_epoch, shuffle)
    _broadcast_training_state(parallel, core)
    if not writes_files():
        verbose = 0
        callbacks = [c for c in callbacks if not getattr(c, "_writes_files", False)]
    return verbose, callbacks


def _mpi():
    return _MPI if _MPI is not None else sys.modules["mpi4py.MPI"]


def _core_digest(module):
    path = module.__file__
    if path not in _digests:
        with open(path, "rb") as f:
            _digests[path] = hashlib.sha256(f.read()).digest()
    return _digests[path]


def _wait(parallel, request, what):
    """Completes a non-blocking mpi4py request within the distribution's timeout."""
    deadline = time.monotonic() + parallel.timeout
    while not request.Test():
        if time.monotonic() > deadline:
            raise TimeoutError(f"DataParallel: rank {parallel.rank} of {parallel.size} waited {parallel.timeout:g} s "
                               f"for the other ranks to {what} (one is stuck, failed or gone)")
        time.sleep(0.001)


def _agree(parallel, model, module, rows, batch_size, epochs, initial_epoch, shuffle):
    """Every rank must run the same build of the core (another one may round differently) on the same model and
    the same number of steps (else one would wait forever for the others): compared with rank 0's."""
    facts = {"build of densenn's core": f"{module.isa} {_core_digest(module).hex()[:16]}",
             "model": f"{model._core.params.size} parameters, {np.dtype(model._dtype).name}",
             "training rows": rows, "batch_size": batch_size, "epochs": [initial_epoch, epochs],
             "shuffle": bool(shuffle)}
    mine = np.frombuffer(json.dumps(facts).encode().ljust(_FACTS_BYTES)[:_FACTS_BYTES], np.uint8).copy()
    everyone = np.empty((parallel.size, mine.size), np.uint8)
    _wait(parallel, parallel.communicator.Iallgather(mine, everyone), "start fit (compare builds, models and data)")
    reference = json.loads(bytes(everyone[0]).decode())
    for r in range(1, parallel.size):
        theirs = json.loads(bytes(everyone[r]).decode())
        diffs = [f"{name}: rank 0 {reference[name]!r}, rank {r} {theirs[name]!r}" for name in facts
                 if theirs[name] != reference[name]]
        if diffs:
            raise ValueError("DataParallel: every rank must run the same build of densenn's core on the same model "
                             "and data; " + "; ".join(diffs))


def _broadcast_training_state(parallel, core):
    comm = parallel.communicator
    snapshot = core.snapshot()
    values = np.concatenate([snapshot["params"], snapshot["state"], snapshot["optimizer_state"]])
    words = np.array([snapshot["iterations"], *snapshot["rng_state"]], np.uint64)
    requests = [comm.Ibcast(values, root=0), comm.Ibcast(words, root=0)]
    for request in requests:
        _wait(parallel, request, "broadcast rank 0's weights")
    if parallel.rank == 0:
        return
    sizes = np.cumsum([snapshot["params"].size, snapshot["state"].size])
    params, state, optimizer_state = np.split(values, sizes)
    core.write([("params", 0, params), ("state", 0, state), ("optimizer_state", 0, optimizer_state)])
    core.iterations = int(words[0])
    core.rng_state = [int(w) for w in words[1:]]
