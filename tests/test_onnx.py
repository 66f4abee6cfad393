"""ONNX export: every exportable layer and activation, run with onnxruntime and compared with predict.
Skipped when onnx / onnxruntime are not installed (optional extras: pip install densenn[onnx])."""
import os
import sys

import numpy as np
import pytest

import densenn
from densenn import Input, Sequential, layers
from densenn.saving.onnx import export_onnx
from support import using_floatx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(7)
ACTIVATIONS = densenn._core.activation_names()  # every activation densenn has, aliases included
RTOL, ATOL = 1e-5, 1e-6  # atol: float32 sums in another order, and outputs near 0


def run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": x.astype(np.float32)})[0]


def check(model, x, tmp_path, opset=17):
    path = tmp_path / f"m{opset}.onnx"
    assert export_onnx(model, path, opset=opset) == str(path)
    np.testing.assert_allclose(run(path, x), model.predict(x, verbose=0), rtol=RTOL, atol=ATOL)
    return onnx.load(str(path))


@pytest.mark.parametrize("opset", [13, 14, 17])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation(tmp_path, activation, opset):
    model = Sequential([Input(shape=(5,)), layers.Dense(16, activation=activation)])
    x = rng.normal(size=(40, 5)) * 3
    x[0] = [-60, -20, 0, 20, 60]  # far tails: softplus, sigmoid, exp, gelu stay stable
    check(model, x, tmp_path, opset)


def test_every_layer(tmp_path):
    model = Sequential([
        Input(shape=(3, 4)), layers.Flatten(), layers.Dense(10, activation="relu"),
        layers.BatchNormalization(epsilon=0.01), layers.LeakyReLU(0.15), layers.Dense(9), layers.ELU(0.6),
        layers.Dropout(0.4), layers.Maxout(6, pieces=3), layers.ReLU(max_value=1.5, negative_slope=0.1,
                                                                       threshold=0.2),
        layers.ReLU(), layers.ReLU(max_value=2.0), layers.ReLU(negative_slope=0.3),
        layers.Activation("mish"), layers.Dense(4, use_bias=False), layers.Softmax()])
    bn = model.layers[2]
    bn.set_weights([rng.uniform(0.5, 2, 10), rng.normal(size=10), rng.normal(size=10), rng.uniform(0.5, 2, 10)])
    x = rng.normal(size=(25, 3, 4))
    m = check(model, x, tmp_path)
    ops = {node.op_type for node in m.graph.node}
    assert {"Reshape", "MatMul", "Add", "BatchNormalization", "LeakyRelu", "Elu", "ReduceMax", "Where", "Relu",
            "Clip", "Softmax"} <= ops
    assert "Dropout" not in ops
    # the contract: names, symbolic batch, float32, opset and IR version
    assert [i.name for i in m.graph.input] == ["input"] and [o.name for o in m.graph.output] == ["output"]
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [3, 4]
    assert m.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert m.opset_import[0].version == 17 and m.ir_version <= 10
    onnx.checker.check_model(m, full_check=True)
    # any batch size, including one row
    for n in (1, 3, 200):
        xs = rng.normal(size=(n, 3, 4))
        np.testing.assert_allclose(run(tmp_path / "m17.onnx", xs), model.predict(xs, verbose=0),
                                   rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("center, scale", [(False, True), (True, False), (False, False)])
def test_batch_normalization_without_center_or_scale(tmp_path, center, scale):
    model = Sequential([Input(shape=(4,)), layers.Dense(6), layers.BatchNormalization(center=center, scale=scale)])
    bn = model.layers[1]
    bn.set_weights([rng.uniform(0.5, 2, 6) if i == len(bn.get_weights()) - 1 else rng.normal(size=6)
                    for i in range(len(bn.get_weights()))])
    check(model, rng.normal(size=(8, 4)), tmp_path)


def test_layer_activations_on_unflattened_samples(tmp_path):
    model = Sequential([Input(shape=(2, 3)), layers.Activation("tanh"), layers.LeakyReLU(0.2), layers.Flatten(),
                        layers.Dense(2, activation="softmax")])
    check(model, rng.normal(size=(5, 2, 3)), tmp_path)
    bad = Sequential([Input(shape=(2, 3)), layers.Activation("softmax")])
    with pytest.raises(ValueError, match="Flatten"):
        export_onnx(bad, tmp_path / "bad.onnx")


def test_float64_model_exports_float32(tmp_path):
    with using_floatx("float64"):
        model = Sequential([Input(shape=(4,)), layers.Dense(3, activation="sigmoid")])
    x = rng.normal(size=(6, 4))
    export_onnx(model, tmp_path / "m.onnx")
    np.testing.assert_allclose(run(tmp_path / "m.onnx", x), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_errors(tmp_path):
    model = Sequential([Input(shape=(4,)), layers.Dense(2)])
    for opset in (12, 18, "17", True):
        with pytest.raises(ValueError, match="opset"):
            export_onnx(model, tmp_path / "m.onnx", opset=opset)
    with pytest.raises(ValueError, match="not built"):
        export_onnx(Sequential([layers.Dense(2)]), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="Sequential"):
        export_onnx(object(), tmp_path / "m.onnx")
    assert not os.listdir(tmp_path)

    class Custom(layers.Layer):
        pass
    odd = Sequential([Input(shape=(4,)), layers.Dense(2)])
    odd._layers.append(Custom())  # a layer with no ONNX mapping (not reachable through the public API)
    with pytest.raises(ValueError, match="Custom"):
        export_onnx(odd, tmp_path / "m.onnx")
    assert not os.listdir(tmp_path)  # nothing written, no temporary file left


def test_missing_onnx_gives_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match="pip install onnx"):
        export_onnx(Sequential([Input(shape=(4,)), layers.Dense(2)]), tmp_path / "m.onnx")


def test_model_export_is_keras_spelling(tmp_path):
    """``model.export(path, format='onnx')`` (Keras 3's spelling) writes the same model as export_onnx."""
    densenn.utils.set_random_seed(4)
    model = Sequential([Input(shape=(5,)), layers.Dense(4, activation="relu"), layers.Dense(2, activation="softmax")])
    x = np.random.default_rng(4).normal(size=(7, 5)).astype(np.float32)
    model.export(str(tmp_path / "a.onnx"), format="onnx")
    model.export(str(tmp_path / "b.onnx"))  # the format follows from the suffix
    for name in ("a.onnx", "b.onnx"):
        np.testing.assert_allclose(run(str(tmp_path / name), x), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="format='onnx' only"):
        model.export(str(tmp_path / "m"), format="tf_saved_model")
