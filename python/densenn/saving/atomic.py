"""Writing files atomically: a crash or an error mid-write leaves the old file (or none) at the path. A symlink
at the path stays a link (its target is replaced) and a replaced file keeps its permissions, as the C++ writer
of ``.dnn`` files does."""
import contextlib
import os
import stat
import tempfile


@contextlib.contextmanager
def atomic_write(path, suffix=".tmp"):
    """Yields a binary file in the target's folder; on success it is fsynced and renamed over the target, on an
    error removed."""
    target = os.path.realpath(os.fspath(path))
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save {os.fspath(path)!r}: the folder {folder!r} does not exist.")
    try:
        existing = os.stat(target)
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise ValueError(f"cannot save {os.fspath(path)!r}: it exists and is not a regular file.")
    fd, tmp = tempfile.mkstemp(prefix=".densenn-", suffix=suffix, dir=folder)
    try:
        if existing is not None:
            mode = stat.S_IMODE(existing.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask  # mkstemp creates 0600: a new file gets the usual permissions
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)  # before any byte is written
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
