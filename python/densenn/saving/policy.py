"""The loading policy, for every file format densenn reads (docs/reliability.md, "Untrusted files"): what a
file may make densenn open, read and allocate before it is refused.

- Paths: text without NUL characters; only regular files are opened, which is checked with stat() first so a
  FIFO or device at the path never blocks; a file whose size its blocks on disk do not back (a sparse file of
  holes) is refused from its metadata, before anything is read.
- HDF5 (Keras files): nothing that reaches outside the file: external links, soft links, external storage,
  virtual datasets are refused; the tree is walked without recursion.
- Zip (``.keras``): each member's declared size is bounded and the bytes actually inflated are counted.
- JSON: parsed with its nesting and size bounded; a config that nests too deep is an error, not a crash.
- Sizes: a model's weights are computed from its description and checked against the file's before the model
  is built, and any allocation is checked against the memory the machine has.

Every refusal is a ``ValueError`` (or an ``OSError`` for the file system) that names the file and the cause.
"""
import json
import os
import stat

from .._core import core

# A model description (Keras' config.json, the JSON inside a .dnn file) larger than this is not one.
MAX_JSON_BYTES = 64 << 20
# JSON nesting deeper than this is refused before Python's parser recurses into it (a Keras config nests < 20).
MAX_JSON_DEPTH = 200
# A sparse file: fewer bytes on disk than this fraction of its size (files densenn writes have no holes).
_MIN_BACKED_FRACTION = 0.5
_SPARSE_CHECK_FROM = 1 << 20  # small files may sit in an inode or a block shared with others


def checked_path(path, what):
    """`path` as text, refused when empty, not a path, or holding a NUL (which would end it early in C)."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise ValueError(f"{what}: expected a file path, got {path!r}") from None
    if isinstance(path, bytes):
        try:
            path = path.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{what}: the path {path!r} is not valid UTF-8; pass it as a str") from None
    if not path:
        raise ValueError(f"{what}: the file path is empty.")
    if "\0" in path:
        raise ValueError(f"{what}: the path {path!r} contains a NUL character.")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a non-UTF-8 byte path decoded by os.fsdecode
        raise ValueError(f"{what}: the path {path!r} is not valid UTF-8.") from None
    return path


def regular_file_size(path, what):
    """The size of the regular file at `path`, or a clear OSError/ValueError, asking stat() only: a FIFO, a
    device, a directory or a symlink loop is refused without being opened, and so is a sparse file."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what}: no such file: {path!r}") from None
    except OSError as e:
        raise OSError(e.errno, f"{what}: cannot read {path!r}: {e.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode) \
            else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) \
            else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file"
        raise ValueError(f"{what}: {path!r} is {kind}, not a model file.")
    blocks = getattr(info, "st_blocks", None)
    if blocks is not None and info.st_size >= _SPARSE_CHECK_FROM and blocks * 512 < _MIN_BACKED_FRACTION * info.st_size:
        raise ValueError(f"{what}: {path!r} declares {info.st_size} bytes but only {blocks * 512} are on disk (a "
                         "sparse file); model files have no holes.")
    return info.st_size


def parse_json(text, what, source):
    """A JSON document from untrusted bytes or text: bounded in size and nesting, errors naming the file."""
    if len(text) > MAX_JSON_BYTES:
        raise ValueError(f"{source}: {what} is not valid: {len(text)} bytes, more than a model description can "
                         f"be ({MAX_JSON_BYTES}).")
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{source}: {what} is not valid: not UTF-8 text ({e}).") from None
    depth = _nesting_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{source}: {what} is not valid: it nests {depth} levels deep, more than a model "
                         f"description does ({MAX_JSON_DEPTH}).")
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"{source}: {what} is not valid JSON ({e})") from None


def _nesting_depth(text):
    """The deepest nesting of [ and { outside strings, in one pass without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def read_zip_member(archive, name, limit, source):
    """The bytes of a zip member, refused when its declared size exceeds `limit`, and counted while inflating
    so that a member that lies about its size stops at the limit."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise ValueError(f"{source}: {name} declares {info.file_size} bytes, more than this model can need "
                         f"({limit}).")
    with archive.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{source}: {name} inflates past {limit} bytes, more than this model can need.")
    return data


def check_hdf5_self_contained(h5file, source):
    """Refuses an HDF5 file any of whose objects reaches outside it (external or soft links, external storage,
    virtual datasets), walking its groups with an explicit stack."""
    import h5py
    stack = [("", h5file)]
    while stack:
        path, group = stack.pop()
        for name in group.keys():
            where = f"{path}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise ValueError(f"{source}: {where} is a link to another file ({link.filename!r}); densenn reads "
                                 "only what is inside a model file.")
            if isinstance(link, h5py.SoftLink):
                raise ValueError(f"{source}: {where} is a soft link ({link.path!r}); Keras files have none.")
            item = group[name]
            if isinstance(item, h5py.Dataset):
                if item.external:
                    raise ValueError(f"{source}: {where} keeps its data in external files "
                                     f"({[e[0] for e in item.external]}); densenn reads only what is inside a "
                                     "model file.")
                if item.is_virtual:
                    raise ValueError(f"{source}: {where} is a virtual dataset mapping other files; densenn reads "
                                     "only what is inside a model file.")
            elif isinstance(item, h5py.Group):
                stack.append((where, item))


def available_memory():
    """Bytes of memory this process can still get (the machine's available memory, within an RLIMIT_AS cap), or
    None where nothing says: the C++ core's measure, the one its own allocations are checked against."""
    available = core.available_memory()
    return None if available == 2**64 - 1 else available


def check_allocation(nbytes, what):
    """A MemoryError that says what and how much, before allocating more than the process can get (the core's
    check, so that Python and C++ refuse the same sizes with the same words)."""
    core.check_allocation(float(nbytes), what)
