"""A fuzz campaign over Keras files (``.keras`` zips and legacy ``.h5``), structure-aware, as the ``.dnn`` one in
test_fuzz_model_files.py: mutants of valid files — their JSON configs, their HDF5 datasets, attributes and links,
their zip headers and bytes — must each load, or be refused with a ValueError/OSError/MemoryError; never another
exception, a crash, a hang or unbounded memory. The mutants load in a child process with a memory cap.

``DENSENN_FUZZ_ITERATIONS=20000 pytest tests/test_fuzz_keras_files.py`` runs a longer campaign (``DENSENN_FUZZ_SEED``
picks another one); ``scripts/fuzz_keras_files.sh`` does that.
"""
import copy
import io
import json
import os
import random
import sys
import zipfile

import numpy as np
import pytest

from support import run_child

h5py = pytest.importorskip("h5py")
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="rlimits")

ITERATIONS = int(os.environ.get("DENSENN_FUZZ_ITERATIONS", "240"))
SEED = int(os.environ.get("DENSENN_FUZZ_SEED", "2026"))

# Loads every file named on stdin and prints, per file, "ok", "refused" or "BAD <exception>"; the file's name
# first, so a crash or a hang points at it.
LOADER = """
import sys, warnings
warnings.simplefilter("ignore")
from densenn.models import load_model
for line in sys.stdin:
    path = line.strip()
    print("FILE", path, flush=True)
    try:
        load_model(path)
        print("ok", flush=True)
    except (ValueError, OSError, MemoryError):
        print("refused", flush=True)
    except Exception as e:
        print("BAD", type(e).__name__, str(e)[:300].replace("\\n", " "), flush=True)
"""

ODD_VALUES = [None, -1, 0, 1, 2**31, 2**62, 10**30, 1e300, float("nan"), "x", "", [], {}, True, [[[[]]]],
              {"class_name": "Dense", "config": {}}, "relu", [None, 4], [None, -4], [None, 2**40]]


def _valid_files(folder):
    from densenn import Input, Sequential, layers
    model = Sequential([Input(shape=(6,)), layers.Dense(5, activation="relu"), layers.BatchNormalization(),
                        layers.Dropout(0.2), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    path = os.path.join(folder, "valid.keras")
    model.save(path)
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    return parts


def _paths(node, prefix=()):
    """Every (path, value) in a JSON document."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _mutate_config(rng, text):
    config = json.loads(text)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p, _ in _paths(config) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        action = rng.random()
        if action < 0.2 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action < 0.3 and isinstance(parent, list) and parent:
            parent.insert(path[-1], copy.deepcopy(rng.choice(parent)))
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
    return json.dumps(config, allow_nan=True).encode()


def _mutate_h5(rng, data, secret):
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as f:
        datasets, groups = [], []
        try:
            f.visititems(lambda name, item: (datasets if isinstance(item, h5py.Dataset) else groups).append(name))
        except RuntimeError:  # an earlier mutation linked the file to itself: mutate what was listed
            pass
        for _ in range(rng.randint(1, 2)):
            action = rng.randrange(7)
            try:
                if action == 0 and datasets:
                    del f[rng.choice(datasets)]
                elif action == 1 and datasets:
                    name = rng.choice(datasets)
                    shape = tuple(rng.choice([0, 1, 3, 5, 7]) for _ in range(rng.randint(0, 3)))
                    del f[name]
                    f.create_dataset(name, data=np.ones(shape, rng.choice(["<f4", "<f8", "<i4", "S3", "<c8"])))
                elif action == 2 and datasets:
                    name = rng.choice(datasets)
                    del f[name]
                    f[name] = h5py.ExternalLink(secret, "/x") if rng.random() < 0.5 else h5py.SoftLink("/" + name)
                elif action == 3 and datasets:
                    name = rng.choice(datasets)
                    shape = f[name].shape
                    del f[name]
                    f.create_dataset(name, shape=shape or (1,), dtype="<f4", external=[(secret, 0, 1 << 20)])
                elif action == 4 and groups:
                    f[rng.choice(groups)].attrs[rng.choice(["name", "keras_version", "weight_names"])] = \
                        rng.choice([b"\xff\xfe", "x" * 1000, np.arange(5)])
                elif action == 5 and groups:
                    name = rng.choice(groups)
                    del f[name]
                    f[name] = np.zeros(3)
                elif datasets:
                    name = rng.choice(datasets)
                    shape = f[name].shape
                    values = rng.choice([np.nan, np.inf, 1e38, -0.0])
                    f[name][...] = values if shape else values
            except (KeyError, ValueError, OSError, TypeError, RuntimeError, OverflowError):  # not applicable to this part
                pass
    return buffer.getvalue()


def _flip_bytes(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        data[i] = rng.randrange(256)
    return bytes(data)


def _mutant(rng, parts, secret):
    """One mutant .keras file's bytes."""
    kind = rng.randrange(5)
    parts = dict(parts)
    if kind == 0:
        parts["config.json"] = _mutate_config(rng, parts["config.json"])
    elif kind == 1:
        parts["model.weights.h5"] = _mutate_h5(rng, parts["model.weights.h5"], secret)
    elif kind == 2:
        parts["metadata.json"] = _mutate_config(rng, parts["metadata.json"])
    out = io.BytesIO()
    compression = zipfile.ZIP_DEFLATED if rng.random() < 0.3 else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, data in parts.items():
            if kind == 4 and rng.random() < 0.2:
                continue  # a member missing
            z.writestr(name, data)
    data = out.getvalue()
    if kind == 3:
        data = _flip_bytes(rng, data)  # headers, declared sizes, checksums, contents
    elif kind == 4 and rng.random() < 0.3:
        data = data[:rng.randrange(len(data))]  # truncated
    return data


def _legacy_h5(rng, parts, secret):
    """A legacy .h5 model file made from the .keras parts, then mutated."""
    config = json.loads(parts["config.json"])
    buffer = io.BytesIO()
    with h5py.File(io.BytesIO(parts["model.weights.h5"]), "r") as source, h5py.File(buffer, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.13.1"
        weights = f.create_group("model_weights")
        names = []
        for layer in source["layers"]:
            if "vars" in source["layers"][layer] and len(source["layers"][layer]["vars"]):
                names.append(layer.encode())
                group = weights.create_group(layer)
                variables = source["layers"][layer]["vars"]
                group.attrs["weight_names"] = [f"{layer}/{k}:0".encode() for k in sorted(variables, key=int)]
                for k in variables:
                    group.create_dataset(f"{layer}/{k}:0", data=variables[k][()])
        weights.attrs["layer_names"] = names
    return _mutate_h5(rng, buffer.getvalue(), secret) if rng.random() < 0.7 else _flip_bytes(rng, buffer.getvalue())


def test_mutated_keras_files_fail_cleanly(tmp_path):
    rng = random.Random(SEED)
    secret = str(tmp_path / "secret")
    with open(secret, "wb") as f:
        f.write(b"SECRET" * 1000)
    parts = _valid_files(str(tmp_path))
    paths = []
    for i in range(ITERATIONS):
        legacy = rng.random() < 0.25
        path = tmp_path / f"mutant_{i}{'.h5' if legacy else '.keras'}"
        path.write_bytes(_legacy_h5(rng, parts, secret) if legacy else _mutant(rng, parts, secret))
        paths.append(str(path))
    run = run_child(LOADER, timeout=60 + 2 * ITERATIONS, memory_mb=2048, input="\n".join(paths) + "\n")
    lines = run.stdout.splitlines()
    files = [line.split(" ", 1)[1] for line in lines if line.startswith("FILE ")]
    outcomes = [line for line in lines if not line.startswith("FILE ")]
    assert run.returncode == 0 and len(outcomes) == len(paths), \
        f"the loader died ({run.returncode}) at {files[-1] if files else None}:\n{run.stderr[-2000:]}"
    bad = [(path, line) for path, line in zip(files, outcomes) if line.startswith("BAD")]
    assert not bad, bad[:10]
    assert "ok" in outcomes and "refused" in outcomes  # the campaign reaches both sides
    leaked = [line for line in outcomes if "SECRET" in line]
    assert not leaked
