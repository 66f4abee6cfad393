"""Writing files atomically: a crash or an error mid-write leaves the old file (or none) at the path."""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, suffix=".tmp"):
    """Yields a binary file in path's folder; on success it is fsynced and renamed over path, on an error
    removed."""
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".densenn-", suffix=suffix, dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600: give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
