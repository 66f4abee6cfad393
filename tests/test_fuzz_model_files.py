"""A seeded fuzz campaign over damaged and crafted model files (docs/reliability.md, "Fuzzing model files").

Saved seed files of several model kinds are mutated (bit flips, overwrites with interesting values, truncation,
inserted/deleted/duplicated byte runs, and structure-aware lies with the checksum recomputed: header counts,
string lengths, offsets, layer-table fields, JSON, training state, tensor sizes and values), and every mutant is
loaded through Python (``load_model``, ``load_weights``) and through the C ABI of ``libdensenn`` (``dn_model_load``,
then ``dn_model_predict`` and ``dn_model_free``), in child processes under a memory cap. Each load must end in a
clean error (``ModelFileError``; ``NULL`` with a message from C) or in a model whose predictions from C and
Python agree; a crash, a hang, an allocation beyond the cap or any other exception fails the test, naming the
mutant and keeping its file.

``DENSENN_FUZZ_ITERATIONS=100000 pytest tests/test_fuzz_model_files.py`` runs a longer campaign
(``DENSENN_FUZZ_SEED`` picks another one). ``python tests/test_fuzz_model_files.py seeds DIR`` writes the seed
files (the corpus of the libFuzzer target in cpp/fuzz); ``python tests/test_fuzz_model_files.py load FILE...``
loads files the way the campaign does and prints each outcome.
"""
import ctypes
import json
import math
import os
import random
import resource
import select
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from support import using_floatx

MAGIC = b"\x89DNN\r\n\x1a\n"
END_MAGIC = 0x454E4E44
ALIGN = 64
ITERATIONS = int(os.environ.get("DENSENN_FUZZ_ITERATIONS", "2400"))
CAMPAIGN_SEED = int(os.environ.get("DENSENN_FUZZ_SEED", "20240611"))
MEMORY_CAP = 1536 << 20  # address space a child may add to what it has after importing densenn
HANG_SECONDS = 60  # a child silent this long on one mutant is hung (a load takes milliseconds)
BATCH = 300  # mutants per child process
ROWS = 3  # rows predicted from each model that loads


# ---------------------------------------------------------------------- seed files
def _seed_models():
    """{name: writer(path)} for the seed files: several model kinds, with and without optimizer state."""
    from densenn import Input, Sequential, initializers, layers, optimizers, regularizers, utils

    def data(features, outputs, n=64, dtype="float32"):
        rng = np.random.RandomState(1)
        x = rng.randn(n, features).astype(dtype)
        y = utils.to_categorical(rng.randint(0, outputs, n), outputs) if outputs > 1 else \
            (x.sum(1) > 0).astype(dtype)
        return x, y

    def dense(path):
        utils.set_random_seed(1)
        model = Sequential([Input(shape=(6,)), layers.Dense(8, activation="relu"), layers.Dense(5, activation="tanh"),
                            layers.Dense(3, activation="softmax")])
        model.compile(optimizer=optimizers.SGD(0.05, momentum=0.9), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(*data(6, 3), epochs=1, batch_size=16, verbose=0)
        model.save(path)

    def bn_dropout(path, weights_only=False):
        utils.set_random_seed(2)
        model = Sequential([Input(shape=(5,)), layers.Dense(8, activation="relu"),
                            layers.BatchNormalization(momentum=0.9), layers.Dropout(0.25, seed=5),
                            layers.Dense(4, activation="elu"), layers.Dropout(0.1), layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy", "auc"])
        model.fit(*data(5, 1), epochs=1, batch_size=16, verbose=0)
        if weights_only:
            model.save_weights(path)
        else:
            model.save(path)

    def maxout(path):
        utils.set_random_seed(3)
        model = Sequential([
            Input(shape=(4,)),
            layers.Dense(6, activation="selu", kernel_initializer=initializers.HeNormal(seed=3),
                         kernel_regularizer=regularizers.L1L2(1e-4, 1e-3), bias_regularizer=regularizers.L2(1e-3)),
            layers.Maxout(3, pieces=3), layers.LeakyReLU(0.2), layers.Dense(2, use_bias=False), layers.Softmax()])
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
        model.save(path, include_optimizer=False)

    def float64(path):
        with using_floatx("float64"):
            utils.set_random_seed(4)
            model = Sequential([Input(shape=(3,)), layers.Dense(5, activation="sigmoid"), layers.Dense(2)])
            model.compile(optimizer=optimizers.Adam(learning_rate=optimizers.schedules.ExponentialDecay(0.01, 10, 0.9)),
                          loss="mse")
            model.fit(*data(3, 2, dtype="float64"), epochs=1, batch_size=16, verbose=0)
            model.save(path)

    def uncompiled(path):
        utils.set_random_seed(5)
        model = Sequential([Input(shape=(2, 3)), layers.Flatten(), layers.Dense(4), layers.ReLU(max_value=6.0),
                            layers.Dense(2, activation="gelu")])
        model.save(path)

    def no_weights(path):  # nothing but activations: any input width builds, and the optimizer state is empty
        model = Sequential([Input(shape=(4,)), layers.ReLU(), layers.Dropout(0.5), layers.Softmax()])
        model.compile(optimizer="sgd", loss="mse")
        model.save(path)

    return {"dense": dense, "bn_dropout": bn_dropout, "maxout": maxout, "float64": float64,
            "weights": lambda path: bn_dropout(path, weights_only=True), "uncompiled": uncompiled,
            "no_weights": no_weights}


def write_seeds(directory):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, write in _seed_models().items():
        paths[name] = directory / f"{name}.dnn"
        write(str(paths[name]))
    return paths


# ---------------------------------------------------------------------- the format, in Python
def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _seal(data, fix_size=True):
    """The bytes with the header's file size set to their length and a valid trailer (checksum, end marker):
    so that a mutation gets past the first checks and reaches the parser."""
    data = bytearray(data)
    if fix_size and len(data) >= 32:
        struct.pack_into("<Q", data, 24, len(data))
    if len(data) >= 8:
        struct.pack_into("<II", data, len(data) - 8, zlib.crc32(bytes(data[:-8])), END_MAGIC)
    return bytes(data)


def parse(data):
    """A valid file's sections, as plain data that encode() turns back into the same bytes."""
    pos = 64
    magic, version, kind, dtype, flags, _, input_dim, n_layers, n_tensors, json_size, _ = \
        struct.unpack_from("<8sIIIIQQIIQQ", data, 0)
    assert magic == MAGIC

    def take(fmt):
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value[0]

    def string():
        nonlocal pos
        n = take("<I")
        pos += n
        return bytes(data[pos - n:pos])

    layers = []
    for _ in range(n_layers):
        layer = {"type": string(), "units": take("<Q"), "activation": string(), "use_bias": take("<B")}
        layer["options"] = [(string(), take("<d")) for _ in range(take("<I"))]
        layer["choices"] = [(string(), string()) for _ in range(take("<I"))]
        layers.append(layer)
    json_text = bytes(data[pos:pos + json_size])
    pos += json_size
    training = None
    if flags & 1:
        iterations = take("<Q")
        training = [iterations, [take("<Q") for _ in range(take("<I"))]]
    esize = 8 if dtype == 2 else 4
    tensors = []
    for _ in range(n_tensors):
        name, offset, count = string(), take("<Q"), take("<Q")
        tensors.append({"name": name, "count": count, "data": bytes(data[offset:offset + count * esize])})
    return {"version": version, "kind": kind, "dtype": dtype, "flags": flags, "input_dim": input_dim,
            "layers": layers, "json": json_text, "training": training, "tensors": tensors}


class _Writer:
    def __init__(self):
        self.buf = bytearray()
        self.fields = []  # (offset, struct format, what): the numbers that a lying mutation may rewrite

    def put(self, fmt, value, what):
        self.fields.append((len(self.buf), fmt, what))
        self.buf += struct.pack(fmt, value)

    def string(self, s, what):
        self.put("<I", len(s), what + " length")
        self.buf += s


def encode(f):
    """The file's bytes (laid out as the C++ writer does) and the position of each numeric field."""
    w = _Writer()
    w.buf += MAGIC
    w.put("<I", f["version"], "version")
    w.put("<I", f["kind"], "kind")
    w.put("<I", f["dtype"], "dtype")
    w.put("<I", f["flags"], "flags")
    w.put("<Q", 0, "file size")
    w.put("<Q", f["input_dim"], "input width")
    w.put("<I", len(f["layers"]), "layer count")
    w.put("<I", len(f["tensors"]), "tensor count")
    w.put("<Q", len(f["json"]), "JSON size")
    w.put("<Q", 0, "reserved")
    for i, layer in enumerate(f["layers"]):
        w.string(layer["type"], f"layer {i} type")
        w.put("<Q", layer["units"], f"layer {i} units")
        w.string(layer["activation"], f"layer {i} activation")
        w.put("<B", layer["use_bias"], f"layer {i} use_bias")
        w.put("<I", len(layer["options"]), f"layer {i} option count")
        for key, value in layer["options"]:
            w.string(key, f"layer {i} option name")
            w.put("<d", value, f"layer {i} option {key!r}")
        w.put("<I", len(layer["choices"]), f"layer {i} choice count")
        for key, value in layer["choices"]:
            w.string(key, f"layer {i} choice name")
            w.string(value, f"layer {i} choice {key!r}")
    w.buf += f["json"]
    if f["training"] is not None:
        w.put("<Q", f["training"][0], "iterations")
        w.put("<I", len(f["training"][1]), "random state size")
        for word in f["training"][1]:
            w.put("<Q", word, "random state word")
    at = _align(len(w.buf) + sum(4 + len(t["name"]) + 16 for t in f["tensors"]))
    for t in f["tensors"]:
        w.string(t["name"], f"tensor {t['name']!r} name")
        w.put("<Q", at, f"tensor {t['name']!r} offset")
        w.put("<Q", t["count"], f"tensor {t['name']!r} count")
        at = _align(at + len(t["data"]))
    w.buf += bytes(_align(len(w.buf)) - len(w.buf))
    for t in f["tensors"]:
        w.buf += t["data"] + bytes(_align(len(t["data"])) - len(t["data"]))
    w.buf += bytes(8)
    return _seal(w.buf), w.fields


# ---------------------------------------------------------------------- mutations
def _interesting_ints(bits, original):
    values = [0, 1, 2, 3, 4, 7, 8, 16, 63, 64, 65, 255, 256, 4095, 4096, 4097, 65535, 65536, 100000, 100001,
              400008, 400012, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 1, 2**32, 2**32 + 1, 2**61, 2**62, 2**63 - 1, 2**63,
              2**64 - 64, 2**64 - 8, 2**64 - 1, original + 1, original - 1, original + 8, original - 8, original * 2,
              original + 64, original - 64, original + 2**32, original + 2**62, original // 2]
    mask = (1 << bits) - 1
    return sorted({v & mask for v in values})


INTERESTING_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, 1.5, 1e-300, 5e-324, 1e300, 1.7976931348623157e308,
                      -1e300, 2.0**20, 2.0**20 + 1, 2.0**31, 2.0**63, 2.0**64, 1e20, -1e20, math.inf, -math.inf,
                      math.nan, 0.999999, 1.000001, 1e-7]
KNOWN_STRINGS = [b"dense", b"activation", b"dropout", b"batch_normalization", b"maxout", b"linear", b"relu",
                 b"sigmoid", b"softmax", b"log_softmax", b"elu", b"selu", b"gelu", b"exponential", b"binary_step",
                 b"leaky_relu", b"relu6", b"params", b"state", b"optimizer_state", b"rate", b"momentum", b"epsilon",
                 b"center", b"scale", b"pieces", b"alpha", b"max_value", b"negative_slope", b"threshold", b"seed",
                 b"kernel_initializer", b"bias_initializer", b"kernel_regularizer.l1", b"kernel_regularizer.l2",
                 b"activity_regularizer.l1", b"glorot_uniform", b"zeros", b"ones", b"orthogonal", b"", b"\xff\xfe",
                 b"\x00", b"conv2d", b"x" * 4096, b"-1", b"99999999999999999999999", b"0x10", b"1e9", b" 5",
                 b"18446744073709551615", b"18446744073709551616", b"nan", b"truncated_normal", b"he_uniform"]
JSON_VALUES = [None, True, False, 0, -1, 1, 2**31, 2**63, 2**64, 10**30, -(10**30), 1e308, 0.5, -0.5, "", "relu",
               "float64", "float16", "Sequential", "Dense", "Lambda", "__import__('os')", [], {}, [None], [2**40],
               {"class_name": "Dense", "config": {"units": 2**40}}, [None, 2**40], "x" * 10000]
JSON_TEXTS = [b"", b"{", b"null", b"[]", b"{}", b'"densenn"', b"\xff\xfe{}", b"[" * 100000 + b"]" * 100000,
              b"{\"a\":" * 50000 + b"1" + b"}" * 50000, b'{"format": "densenn", "kind": "model"}',
              b'{"format": "densenn", "kind": "model", "model": {"class_name": "Sequential", "config": '
              b'{"layers": [{"class_name": "Dense", "config": {"units": 100000000000}}]}}}',
              b'{"format": "densenn", "kind": "weights", "layers": 7}', b"NaN", b"1e999999", b"-" * 5000]


def _flip_bits(data, rng):
    data = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 4, 16])):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def _overwrite(data, rng):
    data = bytearray(data)
    width = rng.choice([1, 2, 4, 8])
    pos = rng.randrange(max(1, len(data) - width + 1))
    if rng.random() < 0.5:
        pos -= pos % width  # aligned, as the format's fields mostly are
    original = int.from_bytes(data[pos:pos + width].ljust(width, b"\0"), "little")
    value = rng.choice(_interesting_ints(8 * width, original))
    data[pos:pos + width] = value.to_bytes(width, "little")[:len(data) - pos]
    return bytes(data)


def _truncate(data, rng):
    return data[:rng.choice([rng.randrange(len(data)), rng.randrange(96), len(data) - rng.randrange(1, 80)])]


def _insert(data, rng):
    pos = rng.randrange(len(data) + 1)
    run = rng.choice([bytes([rng.randrange(256)]) * rng.randrange(1, 65),
                      bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))), bytes(64), b"\xff" * 8])
    return data[:pos] + run + data[pos:]


def _delete(data, rng):
    pos = rng.randrange(len(data))
    return data[:pos] + data[pos + rng.choice([1, 4, 8, 64, rng.randrange(1, 500)]):]


def _duplicate(data, rng):
    start = rng.randrange(len(data))
    chunk = data[start:start + rng.choice([4, 8, 16, 64, rng.randrange(1, 1000)])]
    at = rng.randrange(len(data) + 1)
    return data[:at] + chunk + data[at:]


def _splice(data, rng, others):
    other = rng.choice(others)
    cut, cut2 = rng.randrange(len(data)), rng.randrange(len(other))
    return data[:cut] + other[cut2:]


RAW_MUTATIONS = {"flip": _flip_bits, "overwrite": _overwrite, "truncate": _truncate, "insert": _insert,
                 "delete": _delete, "duplicate": _duplicate}


def _lie_in_field(data, fields, rng):
    """A numeric field (header count, string length, units, option count or value, offset, tensor count...)
    rewritten with an interesting value, the checksum recomputed."""
    offset, fmt, what = rng.choice(fields)
    if fmt == "<d":
        value = rng.choice(INTERESTING_FLOATS)
    else:
        bits = 8 * struct.calcsize(fmt)
        value = rng.choice(_interesting_ints(bits, struct.unpack_from(fmt, data, offset)[0]))
    data = bytearray(data)
    struct.pack_into(fmt, data, offset, value)
    return _seal(data, fix_size=what != "file size"), f"{what}={value!r}"


def _mutate_json(text, rng):
    try:
        tree = json.loads(text)
    except ValueError:
        return rng.choice(JSON_TEXTS), "text"
    if rng.random() < 0.15:
        return rng.choice(JSON_TEXTS), "text"
    nodes = []  # (container, key) of every value in the tree

    def walk(node):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            nodes.append((node, key))
            walk(child)

    walk(tree)
    if not nodes:
        return rng.choice(JSON_TEXTS), "text"
    container, key = rng.choice(nodes)
    old = container[key]
    action = rng.random()
    if action < 0.15 and isinstance(container, dict):
        del container[key]
        what = f"delete {key!r}"
    elif action < 0.25 and isinstance(container, list):
        container.insert(key, old)
        what = f"duplicate item {key}"
    elif action < 0.4 and isinstance(old, (int, float)) and not isinstance(old, bool):
        new = rng.choice([old * 2, old + 1, -old, old * 1000, old / 3, 0, -1, 10**9, 2**31, 1e300])
        container[key] = new
        what = f"{key!r}: {old!r} -> {new!r}"
    else:
        container[key] = rng.choice(JSON_VALUES)
        what = f"{key!r}: -> {str(container[key])[:40]}"
    return json.dumps(tree).encode(), what


def _structural(f, rng):
    """A well-formed file (every size, offset and the checksum consistent) that says something else."""
    f = json.loads(json.dumps(f, default=lambda b: b.decode("latin-1")))  # a deep copy
    f = _revive(f)
    layers, tensors = f["layers"], f["tensors"]
    esize = 8 if f["dtype"] == 2 else 4
    choice = rng.randrange(17)
    if choice == 0 and layers:
        layer = rng.choice(layers)
        field = rng.choice(["type", "activation"])
        layer[field] = rng.choice(KNOWN_STRINGS)
        what = f"layer {field}={layer[field][:20]!r}"
    elif choice == 1 and layers:
        layer = rng.choice(layers)
        layer["units"] = rng.choice(_interesting_ints(64, layer["units"]))
        what = f"units={layer['units']}"
    elif choice == 2 and layers:
        layer = rng.choice(layers)
        key = rng.choice(KNOWN_STRINGS[20:34])
        value = rng.choice(INTERESTING_FLOATS)
        layer["options"] = [(k, v) for k, v in layer["options"] if k != key] + [(key, value)]
        what = f"option {key!r}={value!r}"
    elif choice == 3 and layers:
        layer = rng.choice(layers)
        key = rng.choice([b"kernel_initializer", b"bias_initializer", b"seed", b"kernel_regularizer", b"x"])
        value = rng.choice(KNOWN_STRINGS)
        layer["choices"] = [(k, v) for k, v in layer["choices"] if k != key] + [(key, value)]
        what = f"choice {key!r}={value[:20]!r}"
    elif choice == 4 and layers:
        layer = rng.choice(layers)
        entries = layer[rng.choice(["options", "choices"])]
        if entries:
            entries.append(rng.choice(entries))
        what = "an option twice"
    elif choice == 5 and layers:
        i = rng.randrange(len(layers))
        op = rng.choice(["delete", "duplicate", "swap", "many"])
        if op == "delete":
            del layers[i]
        elif op == "duplicate":
            layers.insert(i, dict(layers[i]))
        elif op == "swap":
            j = rng.randrange(len(layers))
            layers[i], layers[j] = layers[j], layers[i]
        else:
            layers[i:i] = [{"type": b"activation", "units": 0, "activation": b"relu", "use_bias": 1, "options": [],
                            "choices": []}] * rng.choice([1000, 30000])
        what = f"layers: {op} {i}"
    elif choice == 6:
        f["input_dim"] = rng.choice(_interesting_ints(64, f["input_dim"]))
        what = f"input width={f['input_dim']}"
    elif choice == 7:
        f["json"], what = _mutate_json(f["json"], rng)
        what = "JSON " + what
    elif choice == 8:
        if f["training"] is None:
            f["training"] = [0, [rng.randrange(2**64) for _ in range(rng.choice([0, 4, 8, 12, 3]))]]
            f["flags"] |= 1
        else:
            op = rng.randrange(4)
            if op == 0:
                f["training"] = None
                f["flags"] &= ~1
            elif op == 1:
                f["training"][0] = rng.choice(_interesting_ints(64, f["training"][0]))
            elif op == 2:
                f["training"][1] = f["training"][1][:rng.randrange(len(f["training"][1]) + 1)]
            else:
                f["training"][1] = [0] * len(f["training"][1])  # an all-zero xoshiro state is invalid
        what = "training state"
    elif choice == 9 and tensors:
        t = rng.choice(tensors)
        t["count"] = rng.choice(_interesting_ints(64, t["count"]))
        what = f"tensor {t['name']!r} count={t['count']}"
    elif choice == 10 and tensors:
        t = rng.choice(tensors)
        new = rng.choice([b"params", b"state", b"optimizer_state", b"", b"other", b"params\x00"])
        what = f"tensor {t['name']!r} renamed {new!r}"
        t["name"] = new
    elif choice == 11 and tensors:
        op = rng.choice(["drop", "duplicate", "extra", "swap"])
        i = rng.randrange(len(tensors))
        if op == "drop":
            del tensors[i]
        elif op == "duplicate":
            tensors.append(dict(tensors[i]))
        elif op == "extra":
            n = rng.choice([0, 1, 7, 1000])
            tensors.append({"name": b"optimizer_state", "count": n, "data": bytes(n * esize)})
        else:
            tensors[i], tensors[-1] = tensors[-1], tensors[i]
        what = f"tensors: {op} {i}"
    elif choice == 12 and tensors:  # tensor values: the model changes, but must still load and run cleanly
        t = rng.choice(tensors)
        n = len(t["data"]) // esize
        if n:
            values = np.frombuffer(t["data"], dtype="<f8" if esize == 8 else "<f4").copy()
            special = rng.choice([np.nan, np.inf, -np.inf, 0.0, 1e38, -1e38, 1e-45, 3e38, 1e300])
            idx = [rng.randrange(n) for _ in range(rng.choice([1, 3, n]))]
            with np.errstate(over="ignore"):
                values[idx] = special
            t["data"] = values.tobytes()
        what = f"tensor {t['name']!r} values"
    elif choice == 13:  # another element type: the same numbers converted (a consistent float32 <-> float64 file)
        f["dtype"] = 3 - f["dtype"]
        src, dst = ("<f4", "<f8") if esize == 4 else ("<f8", "<f4")
        with np.errstate(over="ignore"):
            for t in tensors:
                t["data"] = np.frombuffer(t["data"], dtype=src).astype(dst).tobytes()
        what = f"dtype={f['dtype']} converted"
    elif choice == 14:
        f["kind"] = rng.choice([1, 2, 3, 0])
        what = f"kind={f['kind']}"
    elif choice == 15 and layers:
        layer = rng.choice(layers)
        layer["use_bias"] = rng.choice([0, 1, 2, 255])
        what = f"use_bias={layer['use_bias']}"
    else:
        f["version"] = rng.choice([0, 2, 2**32 - 1])
        what = f"version={f['version']}"
    return encode(f)[0], what


def _revive(tree):
    """Undoes the JSON round trip of _structural's deep copy (bytes were stored as latin-1 text)."""
    out = dict(tree)
    for key in ("json",):
        out[key] = tree[key].encode("latin-1")
    out["layers"] = [{"type": l["type"].encode("latin-1"), "units": l["units"],
                      "activation": l["activation"].encode("latin-1"), "use_bias": l["use_bias"],
                      "options": [(k.encode("latin-1"), v) for k, v in l["options"]],
                      "choices": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in l["choices"]]}
                     for l in tree["layers"]]
    out["tensors"] = [{"name": t["name"].encode("latin-1"), "count": t["count"], "data": t["data"].encode("latin-1")}
                      for t in tree["tensors"]]
    return out


def mutants(seeds, count, campaign_seed):
    """`count` (name, bytes) mutants of the seed files {name: bytes}, the same ones for the same seed."""
    parsed = {name: parse(data) for name, data in seeds.items()}
    fields = {name: encode(f)[1] for name, f in parsed.items()}
    names = sorted(seeds)
    for i in range(count):
        rng = random.Random(f"{campaign_seed}-{i}")
        seed = names[i % len(names)]
        data = seeds[seed]
        kind = rng.random()
        if kind < 0.08:  # raw damage, checksum left wrong: caught by the size or checksum checks
            op = rng.choice(sorted(RAW_MUTATIONS))
            out, what = RAW_MUTATIONS[op](data, rng), op
        elif kind < 0.4:  # raw damage, then the size field and trailer made valid again
            out, what = data, []
            for _ in range(rng.choice([1, 1, 2, 3])):
                op = rng.choice(sorted(RAW_MUTATIONS) + ["splice"])
                out = _splice(out, rng, list(seeds.values())) if op == "splice" else RAW_MUTATIONS[op](out, rng)
                what.append(op)
                if not out:
                    break
            out, what = _seal(out, fix_size=rng.random() < 0.9), "sealed " + "+".join(what)
        elif kind < 0.65:
            out, what = _lie_in_field(data, fields[seed], rng)
        else:
            out, what = _structural(parsed[seed], rng)
        yield f"{i:06d}-{seed}", what, out


# ---------------------------------------------------------------------- loading (in the child)
def _clean_error(e):
    """None if `e` is a clean refusal of a bad file, else what is wrong with it."""
    from densenn.saving import ModelFileError
    message = str(e)
    if isinstance(e, MemoryError) or "bad_alloc" in message or "out of memory" in message.lower():
        return f"allocated past the {MEMORY_CAP >> 20} MiB cap: {type(e).__name__}: {message[:300]}"
    if not message.strip():
        return f"an empty error message ({type(e).__name__})"
    if isinstance(e, ModelFileError):
        return None
    return f"{type(e).__name__} instead of ModelFileError: {message[:300]}"


class _CLibrary:
    def __init__(self):
        import densenn
        lib = ctypes.CDLL(densenn.get_library())
        lib.dn_model_load.restype = ctypes.c_void_p
        lib.dn_model_load.argtypes = [ctypes.c_char_p]
        lib.dn_last_error.restype = ctypes.c_char_p
        lib.dn_model_input_size.argtypes = lib.dn_model_output_size.argtypes = [ctypes.c_void_p]
        lib.dn_model_predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.dn_model_free.argtypes = [ctypes.c_void_p]
        self.lib = lib

    def load_and_predict(self, path):
        """('error', message), ('bad', what is wrong), or ('loaded', (input size, predictions for
        _inputs(input size))), or ('loaded', None) for a model too wide to try."""
        lib = self.lib
        handle = lib.dn_model_load(os.fsencode(path))
        if not handle:
            return "error", (lib.dn_last_error() or b"").decode("utf-8", "replace")
        try:
            n_in, n_out = lib.dn_model_input_size(handle), lib.dn_model_output_size(handle)
            if n_in < 1 or n_out < 1:
                return "bad", f"loaded with input size {n_in}, output size {n_out}"
            if n_in * ROWS > 1 << 22 or n_out * ROWS > 1 << 22:
                return "loaded", None
            x = np.ascontiguousarray(_inputs(n_in), dtype=np.float32)
            y = np.full((ROWS, n_out), -7.0, dtype=np.float32)
            if lib.dn_model_predict(handle, x.ctypes.data, ROWS, y.ctypes.data) != 0:
                return "bad", "dn_model_predict failed: " + (lib.dn_last_error() or b"").decode("utf-8", "replace")
            return "loaded", (n_in, y)
        finally:
            lib.dn_model_free(handle)


def _inputs(width):
    return np.random.RandomState(width % 1000).uniform(-2, 2, (ROWS, width))


def check_file(path, c_library, targets):
    """None if every way of loading `path` ends cleanly and consistently, else what went wrong."""
    import warnings
    from densenn.models import load_model
    from densenn.saving import ModelFileError
    problems = []
    model = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = load_model(path)
        except ModelFileError as e:
            problems.append(_clean_error(e))
        except ValueError as e:
            if "holds weights only" not in str(e):
                problems.append("load_model: " + (_clean_error(e) or ""))
        except BaseException as e:  # noqa: BLE001 - anything else is a finding
            problems.append(f"load_model: {_clean_error(e)}")
        for target in targets:
            try:
                target.load_weights(path)
            except ModelFileError as e:
                problems.append(_clean_error(e))
            except ValueError as e:  # load_weights' own refusals of a different architecture are ValueErrors
                if not str(e).startswith("load_weights:"):
                    problems.append("load_weights: " + (_clean_error(e) or ""))
            except BaseException as e:  # noqa: BLE001
                problems.append(f"load_weights: {_clean_error(e)}")
    status, c_result = c_library.load_and_predict(path)
    if status == "bad":
        problems.append("C ABI: " + c_result)
    elif status == "error":
        if not c_result.strip():
            problems.append("C ABI: dn_model_load returned NULL with an empty dn_last_error()")
        elif "bad_alloc" in c_result:
            problems.append(f"C ABI: allocated past the {MEMORY_CAP >> 20} MiB cap: {c_result[:300]}")
        if model is not None:
            problems.append(f"Python loaded the file, the C ABI refused it: {c_result[:300]}")
    elif model is not None and c_result is not None:  # both loaded: the same model, the same predictions
        try:
            width = int(np.prod(model.input_shape[1:]))
            n_in, c_result = c_result
            if width != n_in:
                problems.append(f"Python's model takes {width} features, C's {n_in}")
                return "; ".join(p for p in problems if p)
            x = _inputs(width).astype(np.float32).reshape((ROWS,) + tuple(model.input_shape[1:]))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                python = np.asarray(model.predict(x, verbose=0), dtype=np.float32).astype(np.float64)
            python = python.reshape(ROWS, -1)
            c_values = c_result.astype(np.float64)
            if python.shape != c_values.shape:
                problems.append(f"Python predicts shape {python.shape}, C {c_values.shape}")
            else:
                same = np.isclose(python, c_values, rtol=1e-4, atol=1e-6, equal_nan=True) | \
                    (np.isinf(python) & (python == c_values))
                if not same.all():
                    problems.append(f"Python and C predict differently: {python.ravel()[:6]} vs {c_values.ravel()[:6]}")
        except BaseException as e:  # noqa: BLE001
            problems.append(f"predict after load_model: {type(e).__name__}: {str(e)[:300]}")
    problems = [p for p in problems if p]
    return "; ".join(problems) or None


def _cap_memory():
    """Caps the address space at what the process uses now plus MEMORY_CAP. (Under AddressSanitizer, which
    reserves terabytes of address space for its shadow memory, _child_env caps allocations instead.)"""
    if os.environ.get("DENSENN_SANITIZED"):
        return
    with open("/proc/self/status") as status:
        used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    limit = used + MEMORY_CAP
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _targets(seed_dir):
    """Models of each seed's architecture, for load_weights."""
    from densenn.models import load_model
    return [load_model(str(seed), compile=False) for seed in sorted(Path(seed_dir).glob("*.dnn"))
            if seed.stem != "weights"]


def _worker(manifest, seed_dir):
    """The child: loads every file named in `manifest`, printing BEGIN/DONE lines that the parent watches."""
    targets = _targets(seed_dir)
    c_library = _CLibrary()
    for seed in sorted(Path(seed_dir).glob("*.dnn")):  # warm up (lazy imports, pools) before the cap
        check_file(str(seed), c_library, targets)
    _cap_memory()
    for line in Path(manifest).read_text().splitlines():
        print("BEGIN", line, flush=True)
        problem = check_file(line, c_library, targets)
        print("DONE", "OK" if problem is None else "BAD " + problem.replace("\n", " "), flush=True)
    print("FINISHED", flush=True)


# ---------------------------------------------------------------------- the parent
def _child_env():
    env = dict(os.environ)
    env["DENSENN_ISA"] = "baseline"  # the module libdensenn is built like, so C and Python agree to the last bit
    env["OMP_NUM_THREADS"] = "1"
    if os.environ.get("DENSENN_SANITIZED"):  # scripts/sanitize.sh: an allocation over the cap is an ASan report
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + f":max_allocation_size_mb={MEMORY_CAP >> 20}"
    return env


def run_batch(paths, seed_dir, work_dir):
    """Loads `paths` in children (a fresh one after each crash or hang); returns {path: problem}."""
    problems = {}
    todo = list(paths)
    while todo:
        manifest = Path(work_dir) / "manifest.txt"
        manifest.write_text("\n".join(map(str, todo)) + "\n")
        stderr_file = Path(work_dir) / "stderr.txt"  # a file, not a pipe: a chatty child must not block on it
        with open(stderr_file, "wb") as stderr:
            child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "worker", str(manifest),
                                      str(seed_dir)], stdout=subprocess.PIPE, stderr=stderr, env=_child_env())
        current, done, buffered = None, set(), b""
        last = time.monotonic()
        hung = False
        while True:
            ready, _, _ = select.select([child.stdout], [], [], 1.0)
            if ready:
                chunk = os.read(child.stdout.fileno(), 65536)
                if not chunk:
                    break
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    text = line.decode("utf-8", "replace")
                    if text.startswith("BEGIN "):
                        current, last = text[6:], time.monotonic()
                    elif text.startswith("DONE ") and current is not None:
                        if text != "DONE OK":
                            problems[current] = text[5:].removeprefix("BAD ")
                        done.add(current)
                        current = None
            if time.monotonic() - last > HANG_SECONDS and current is not None:
                hung = True
                child.kill()
                break
        child.wait()
        child.stdout.close()
        stderr = stderr_file.read_text("utf-8", "replace")
        if current is None and child.returncode == 0:
            break
        if current is None:  # died between files (at start-up): nothing to blame on a mutant
            raise AssertionError(f"the fuzz worker failed ({child.returncode}): {stderr[-3000:]}")
        problems[current] = (f"hung (no answer in {HANG_SECONDS} s)" if hung else
                             f"crashed (exit code {child.returncode}): {stderr[-1500:]}")
        done.add(current)
        todo = [p for p in todo if str(p) not in done]
    return problems


# ---------------------------------------------------------------------- the test
def _campaign_in_parallel(seed_dir, work_dir, keep_dir, iterations, campaign_seed, workers=2):
    """The campaign split over `workers` parent threads (each drives its own children)."""
    from concurrent.futures import ThreadPoolExecutor
    parts = []
    with ThreadPoolExecutor(workers) as pool:
        for k in range(workers):
            part_dir = Path(work_dir) / f"part{k}"
            part_dir.mkdir(parents=True, exist_ok=True)
            parts.append(pool.submit(_run_part, seed_dir, part_dir, keep_dir, iterations, campaign_seed, k, workers))
    failures = {}
    for part in parts:
        failures.update(part.result())
    return failures


def _run_part(seed_dir, work_dir, keep_dir, iterations, campaign_seed, k, workers):
    seeds = {p.stem: p.read_bytes() for p in sorted(Path(seed_dir).glob("*.dnn"))}
    batch, described, failures = [], {}, {}

    def flush():
        for path, problem in run_batch(batch, seed_dir, work_dir).items():
            keep = Path(keep_dir) / Path(path).name
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, keep)
            failures[Path(path).stem] = (described[path], problem, keep)
        for path in batch:
            os.unlink(path)
        batch.clear()

    for index, (name, what, data) in enumerate(mutants(seeds, iterations, campaign_seed)):
        if index % workers != k:
            continue
        path = Path(work_dir) / f"{name}.dnn"
        path.write_bytes(data)
        described[str(path)] = what
        batch.append(str(path))
        if len(batch) == BATCH:
            flush()
    if batch:
        flush()
    return failures


def test_mutated_model_files_fail_cleanly(tmp_path):
    seed_dir = tmp_path / "seeds"
    write_seeds(seed_dir)
    seeds = {p.stem: p.read_bytes() for p in sorted(seed_dir.glob("*.dnn"))}
    for name, data in seeds.items():  # the test's own codec must match the format exactly
        assert encode(parse(data))[0] == data, name
    keep_dir = Path(os.environ.get("DENSENN_FUZZ_KEEP", tmp_path / "failures"))
    failures = _campaign_in_parallel(seed_dir, tmp_path / "work", keep_dir, ITERATIONS, CAMPAIGN_SEED)
    report = "\n".join(f"{name} ({what}): {problem}\n    kept: {keep}"
                       for name, (what, problem, keep) in sorted(failures.items())[:30])
    assert not failures, (f"{len(failures)} of {ITERATIONS} mutants did not fail cleanly (campaign seed "
                          f"{CAMPAIGN_SEED}; reproduce one with: python {__file__} load FILE):\n{report}")


# ---------------------------------------------------------------------- regressions
def _crafted(seed_file, change):
    f = parse(Path(seed_file).read_bytes())
    change(f)
    return encode(f)[0]


def _json_edit(edit):
    def change(f):
        meta = json.loads(f["json"])
        edit(meta)
        f["json"] = json.dumps(meta).encode()
    return change


def _layer_configs(meta):
    return meta["model"]["config"]["layers"]


def test_findings_of_the_campaigns_fail_cleanly(tmp_path):
    """Each file here once failed the campaign (the exception it raised, or what it did, in the comment); each is
    now a ModelFileError naming the problem, and a clean outcome under the campaign's memory cap."""
    seed_dir = tmp_path / "seeds"
    seeds = write_seeds(seed_dir)

    def tensors(f, rename=None, drop=None):
        f["tensors"] = [dict(t, name=rename.get(t["name"], t["name"]) if rename else t["name"])
                        for t in f["tensors"] if t["name"] != drop]

    cases = {
        # KeyError 'state' from load_model and load_weights (the reader accepted a file without it)
        "no_state": (seeds["maxout"], lambda f: tensors(f, drop=b"state"), "the file has none"),
        "state_renamed": (seeds["dense"], lambda f: tensors(f, rename={b"state": b"other"}), "unknown tensor 'other'"),
        # TypeError from the iterations setter: a count past the int64 the core keeps
        "iterations": (seeds["float64"], lambda f: f["training"].__setitem__(0, 2**64 - 1), "iteration count"),
        # ValueError (not ModelFileError) from compile()
        "optimizer_name": (seeds["maxout"], _json_edit(
            lambda m: m["compile"]["optimizer"].__setitem__("class_name", "RMSpsop")), "compile configuration"),
        "learning_rate": (seeds["maxout"], _json_edit(
            lambda m: m["compile"]["optimizer"]["config"].__setitem__("learning_rate", -0.001)), "compile configuration"),
        "metric_name": (seeds["dense"], _json_edit(lambda m: m["compile"].__setitem__("metrics", ["aacuracy"])),
                        "compile configuration"),
        # TypeError from load_weights on a weights file whose JSON has shapes that are not lists
        "weights_shapes": (seeds["weights"], _json_edit(lambda m: m["layers"][0].__setitem__("shapes", [False])),
                           "not valid|different|shapes"),
        # a bare "'utf-8' codec can't decode byte 0xff" (the core's strings become Python str)
        "not_utf8": (seeds["dense"], lambda f: f["layers"][0]["choices"].append((b"\xff\xfe", b"x")),
                     "option name is not UTF-8"),
        # RecursionError from Python's JSON parser
        "deep_json": (seeds["dense"], lambda f: f.__setitem__("json", b"[" * 100000 + b"]" * 100000), "not valid"),
        # MemoryError: the JSON's Dense(10**11) was built (allocated) before it was compared with the layer table
        "json_units": (seeds["bn_dropout"], _json_edit(
            lambda m: _layer_configs(m)[1]["config"].__setitem__("units", 10**11)), "disagree"),
        "json_input_shape": (seeds["dense"], _json_edit(
            lambda m: _layer_configs(m)[0]["config"].__setitem__("batch_shape", [None, 10**11])), "disagree"),
    }
    # dn_model_input_size() == INT_MIN: the format allowed widths up to 2**31, past the C API's int
    from densenn import Input, Sequential, layers
    Sequential([Input(shape=(3,)), layers.Activation("relu")]).save(tmp_path / "activation.dnn")

    def width(f):
        f["input_dim"] = 2**31
        _json_edit(lambda m: _layer_configs(m)[0]["config"].__setitem__("batch_shape", [None, 2**31]))(f)
    cases["width_2_31"] = (tmp_path / "activation.dnn", width, "input width 2147483648 out of range")
    paths = {}
    for name, (seed, change, _) in cases.items():
        paths[name] = tmp_path / f"{name}.dnn"
        paths[name].write_bytes(_crafted(seed, change))
    from densenn.models import load_model
    from densenn.saving import ModelFileError
    import re
    for name, (seed, _, pattern) in cases.items():
        if name == "weights_shapes":
            target = load_model(seeds["bn_dropout"], compile=False)
            try:
                target.load_weights(paths[name])
            except ValueError as e:  # load_weights' own refusal of other shapes
                assert re.search(pattern, str(e)), (name, e)
            else:
                raise AssertionError(f"{name}: loaded")
            continue
        try:
            load_model(paths[name])
        except ModelFileError as e:
            assert re.search(pattern, str(e)), (name, str(e))
        else:
            raise AssertionError(f"{name}: loaded")
    problems = run_batch([str(p) for p in paths.values()], seed_dir, tmp_path)
    assert not problems, problems


def test_deep_models_load_in_linear_time(tmp_path):
    """A file with 20,000 layers (well-formed: the table and the JSON agree) loads in seconds from Python and C.
    Loading used to rebuild the model after each layer and re-slice every layer's weights each time (cubic:
    500 layers took 30 s), so a crafted file could hang load_model."""
    from densenn import Input, Sequential, layers
    from densenn.models import load_model
    n = 20000
    small = Sequential([Input(shape=(3,)), layers.Activation("relu"), layers.Dense(2)])
    small.save(tmp_path / "small.dnn")
    f = parse((tmp_path / "small.dnn").read_bytes())
    f["layers"][1:1] = [f["layers"][0]] * n
    meta = json.loads(f["json"])
    entries = _layer_configs(meta)
    entries[2:2] = [dict(entries[1], config=dict(entries[1]["config"], name=f"relu_{i}")) for i in range(n)]
    f["json"] = json.dumps(meta).encode()
    (tmp_path / "deep.dnn").write_bytes(encode(f)[0])
    start = time.perf_counter()
    model = load_model(tmp_path / "deep.dnn")
    seconds = time.perf_counter() - start
    assert len(model.layers) == n + 2
    x = np.array([[1.0, -2.0, 3.0]], dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), small.predict(x, verbose=0), rtol=1e-6)
    assert seconds < 60, f"loading {n} layers took {seconds:.1f} s"  # about 2 s; the cubic loader took hours


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "worker":
        _worker(sys.argv[2], sys.argv[3])
    elif command == "seeds":
        for path in write_seeds(sys.argv[2]).values():
            print(path)
    elif command == "load":
        seed_dir, files = (sys.argv[3], sys.argv[4:]) if sys.argv[2:3] == ["--seeds"] else (None, sys.argv[2:])
        library, targets = _CLibrary(), _targets(seed_dir) if seed_dir else []
        for file in files:
            print(file, check_file(file, library, targets) or "OK: a clean outcome")
    else:
        sys.exit(f"usage: python {sys.argv[0]} seeds DIR | load [--seeds DIR] FILE... | worker MANIFEST SEED_DIR")
