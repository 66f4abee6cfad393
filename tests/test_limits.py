"""Sizes from a configuration are checked before anything of their size is allocated (docs/reliability.md,
"Sizes and memory"): a huge argument, in code or in a file, is a ValueError or a MemoryError that names it and
says how much, never std::bad_alloc or the OOM killer part-way through; initial weights are finite in the
model's dtype, as set_weights requires; and save() never writes a file that load_model refuses.

Every case runs in a child interpreter with a memory cap and a time limit (support.run_child): the caps are far
below what the sizes would take, so a size that slipped past its check fails the test, not the machine."""
import json
import os
import re
import sys

import pytest

from support import run_child

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="rlimits and /proc")

# Runs the code in argv[1] and prints the outcome's last line: "ok <repr>" or "<exception class>: <message>".
_OUTCOME = """
    import sys
    import numpy as np
    import densenn
    from densenn import Input, Sequential, initializers, layers, metrics
    from densenn.models import load_model
    args = sys.argv[2:]
    try:
        result = eval(sys.argv[1])
    except BaseException as e:
        print(f"{type(e).__name__}: {e}")
    else:
        print("ok", repr(result)[:200])
"""


def _outcome(expression, *args, memory_mb=1536, timeout=120):
    run = run_child(_OUTCOME, expression, *args, memory_mb=memory_mb, timeout=timeout)
    assert run.returncode == 0, f"the child died ({run.returncode}):\n{run.stderr[-3000:]}"
    return run.stdout.strip().splitlines()[-1]


def _auc_model(num_thresholds, multi_label=False):
    return (f"(lambda m: (m.compile(loss='binary_crossentropy', metrics=[metrics.AUC(num_thresholds={num_thresholds}, "
            f"multi_label={multi_label})]), m.evaluate(np.zeros((20, 4)), np.zeros((20, 3)), verbose=0)))"
            "(Sequential([Input(shape=(4,)), layers.Dense(3, activation='sigmoid')]))")


# ------------------------------------------------------------------------- sizes named up front
@pytest.mark.parametrize("expression,expected", [
    # units beyond the core's widths (the C API's int): a ValueError naming the layer, before any size is formed
    ("Sequential([Input(shape=(4,)), layers.Dense(2**31)])",
     r"ValueError: Dense 'dense(_\d+)?': 2147483648 units is more than densenn's limit of 2147483647 \(2\*\*31 - 1\)$"),
    ("Sequential([Input(shape=(4,)), layers.Maxout(2, pieces=2**30)])",
     r"ValueError: Maxout 'maxout(_\d+)?': units \* pieces = 2 \* 1073741824 is more than densenn's limit of "
     r"2147483647 \(2\*\*31 - 1\)\.$"),
    ("Sequential([Input(shape=(4,)), layers.Maxout(2, pieces=2**31)])",
     r"ValueError: Maxout 'maxout(_\d+)?': pieces must be an integer in \[1, 2147483647\], got 2147483648\.$"),
    ("Sequential([Input(shape=(4,)), layers.Maxout(2, pieces=2**70)])",
     r"ValueError: Maxout 'maxout(_\d+)?': pieces must be an integer in \[1, 2147483647\], got 1.1805916207174113e\+21"),
    ("Sequential([Input(shape=(2**31,))])",
     r"ValueError: input shape \(None, 2147483648\): 2147483648 features per sample is more than densenn's limit"),
    # sizes that fit the machine but not this process (its address space capped at 1.5 GB): a MemoryError
    # saying how much, from the core's check, where the allocation used to end in a bare std::bad_alloc
    ("Sequential([Input(shape=(4,)), layers.Dense(2**26)])",
     r"MemoryError: A model of 335544320 weights needs 2\.5 GiB, more than the [\d.]+ GiB of memory available\.$"),
    (_auc_model(2**28),
     r"MemoryError: 'auc' with num_thresholds=268435456 \(its confusion counts, and per batch its bucket sums\) "
     r"needs 14 GiB, more than the [\d.]+ GiB of memory available\.$"),
    (_auc_model(2**31),
     r"MemoryError: 'auc' with num_thresholds=2147483648 \(.*\) needs 112 GiB, more than"),
    (_auc_model(2**24, multi_label=True),
     r"MemoryError: 'auc' with num_thresholds=16777216 and 3 labels \(.*\) needs 2\.\d+ GiB, more than"),
    # workspaces: a batch's activations (a wide hidden layer, a narrow output), refused before a pass allocates them
    ("Sequential([Input(shape=(4,)), layers.Dense(2**22), layers.Dense(1)]).predict(np.zeros((300, 4)), verbose=0)",
     r"MemoryError: A forward pass of \d+ rows \(its activations\) needs [\d.]+ GiB, more than"),
    ("(lambda m: (m.compile(loss='mse'), m.fit(np.zeros((64, 4)), np.zeros((64, 1)), batch_size=64, verbose=0)))"
     "(Sequential([Input(shape=(4,)), layers.Dense(2**21), layers.Dense(1)]))",
     r"MemoryError: A training batch of 64 rows \(its activations and gradients\) needs [\d.]+ GiB, more than"),
], ids=["dense-2**31", "maxout-width-2**31", "maxout-pieces-2**31", "maxout-pieces-2**70", "input-2**31",
        "dense-2**26-capped", "auc-2**28", "auc-2**31", "auc-multi-label", "predict-workspace", "fit-workspace"])
def test_huge_sizes_are_refused_up_front_with_what_and_how_much(expression, expected):
    outcome = _outcome(expression)
    assert re.search(expected, outcome), outcome


def test_a_tiny_dnn_file_asking_for_a_huge_auc_is_refused_with_a_clear_error(tmp_path):
    from densenn import Input, Sequential, layers, metrics
    from densenn._core import core
    model = Sequential([Input(shape=(4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", metrics=[metrics.AUC()])
    model.save(tmp_path / "m.dnn")
    # The same file with AUC(num_thresholds=2**28) in its compile configuration and a valid checksum.
    data = core.read_model_file(str(tmp_path / "m.dnn"))
    meta = json.loads(data["json"])
    meta["compile"]["metrics"][0]["config"]["num_thresholds"] = 2**28
    crafted = tmp_path / "auc.dnn"
    core.write_model_file(str(crafted), {
        "kind": data["kind"], "input_dim": data["input_dim"], "layers": data["layers"], "json": json.dumps(meta),
        "tensors": list(data["tensors"].items()), "training": data["training"]})
    assert os.path.getsize(crafted) < 8192
    outcome = _outcome("load_model(args[0]).evaluate(np.zeros((20, 4)), np.zeros((20, 1)), verbose=0)", crafted)
    assert outcome.startswith("MemoryError: ") and "num_thresholds=268435456" in outcome and "14 GiB" in outcome \
        and str(crafted) in outcome, outcome
    assert _outcome("load_model(args[0], compile=False).predict(np.zeros((2, 4)), verbose=0).shape", crafted) \
        == "ok (2, 1)"


# ------------------------------------------------------------------------- initial values
@pytest.mark.parametrize("floatx,initializer,argument,expected", [
    ("float32", "initializers.Constant(1e300)", "kernel_initializer",
     r"ValueError: Dense 'dense(_\d+)?': kernel_initializer Constant\(value=1e\+300\) gives values too large for "
     r"float32: expected magnitudes up to 3\.403e\+38, got inf\.$"),
    ("float32", "initializers.Constant(-1e39)", "bias_initializer",
     r"ValueError: Dense 'dense(_\d+)?': bias_initializer Constant\(value=-1e\+39\) gives values too large for "
     r"float32: expected magnitudes up to 3\.403e\+38, got -inf\.$"),
    ("float64", "initializers.Constant(1e300)", "kernel_initializer", r"^ok "),  # finite in float64
    ("float64", "initializers.RandomUniform(-1e308, 1e308)", "kernel_initializer",
     r"ValueError: Dense 'dense(_\d+)?': kernel_initializer RandomUniform\(minval=-1e\+308, maxval=1e\+308\) "
     r"gives values too large for float64"),
    ("float32", "initializers.RandomNormal(0.0, 1e39, seed=1)", "kernel_initializer",
     r"ValueError: Dense 'dense(_\d+)?': kernel_initializer RandomNormal\(mean=0, stddev=1e\+39\) gives values"),
], ids=["constant-float32", "bias-float32", "constant-float64-finite", "uniform-float64", "normal-float32"])
def test_initial_weights_that_overflow_the_dtype_are_refused_as_set_weights_refuses_them(floatx, initializer,
                                                                                         argument, expected):
    build = (f"(densenn.config.set_floatx('{floatx}'), Sequential([Input(shape=(4,)), layers.Dense(64, "
             f"{argument}={initializer})]).get_weights()[0].max())[1]")
    outcome = _outcome(build)
    assert re.search(expected, outcome), outcome
    if floatx == "float32" and "Constant(1e300)" in initializer:  # set_weights says the same of the same value
        refused = _outcome("Sequential([Input(shape=(4,)), layers.Dense(64)]).set_weights([np.full((4, 64), 1e300), "
                           "np.zeros(64)])")
        assert "has values too large for float32: expected magnitudes up to 3.403e+38, got 1e+300" in refused, refused


# ------------------------------------------------------------------------- what save writes, load reads
def test_save_refuses_what_load_model_would_refuse(tmp_path):
    # Maxout's pieces: the model exists (10M weights), the file format takes at most 2**20 pieces
    path = tmp_path / "maxout.dnn"
    outcome = _outcome("Sequential([Input(shape=(4,)), layers.Maxout(1, pieces=2**21)]).save(args[0])", path)
    assert outcome.startswith("ModelFileError: cannot save ") and "pieces out of range" in outcome \
        and "Loading would refuse the file" in outcome, outcome
    assert not path.exists() and os.listdir(tmp_path) == []
    # an input 2**31 wide: refused when the model is built (the core's widths are the C API's int)
    outcome = _outcome("Sequential([Input(shape=(2**31,))]).save(args[0])", tmp_path / "wide.dnn")
    assert outcome.startswith("ValueError: input shape (None, 2147483648)"), outcome
    assert os.listdir(tmp_path) == []
    # the widest model that can be built saves and loads
    ok = _outcome("(lambda m: (m.save(args[0]), load_model(args[0]).layers[0].pieces))"
                  "(Sequential([Input(shape=(4,)), layers.Maxout(1, pieces=2**20)]))[1]", tmp_path / "widest.dnn")
    assert ok == "ok 1048576", ok
