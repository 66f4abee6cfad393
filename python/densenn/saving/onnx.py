"""Export a densenn Sequential model to ONNX (inference graph, float32).

``export_onnx(model, "m.onnx")`` writes a model with one input ``"input"`` of shape ``("batch", *input_shape)``
and one output ``"output"``, for ONNX opsets 13 to 17 (IR version 7 or 8), checked with
``onnx.checker.check_model``. Layers map to:

* Dense: MatMul + Add (+ its activation); Maxout: MatMul + Add + Reshape(batch, units, pieces) + ReduceMax.
* BatchNormalization: BatchNormalization (inference, the moving statistics and epsilon).
* Dropout: nothing (inference); Flatten: Reshape(batch, -1).
* Activations: Relu, Sigmoid, Tanh, Softmax(axis=-1), LogSoftmax(axis=-1), Elu, Selu, LeakyRelu, Softplus,
  Softsign, HardSigmoid(1/6, 1/2) (Keras 3's), HardSwish (opset 14+, else x * HardSigmoid(x)), Exp, Identity;
  relu6 = Clip(0, 6); the ReLU layer with a slope, threshold or cap = Where/Greater compositions;
  silu = x * Sigmoid(x); gelu (exact) = x/2 * (1 + Erf(x/sqrt 2)); mish = x * Tanh(Softplus(x));
  binary_step = Cast(GreaterOrEqual(x, 0)) (1 at x >= 0, as densenn).

Needs the optional ``onnx`` package (``pip install onnx``; ``pip install onnxruntime`` to run the result).
"""
import math
import os

import numpy as np

from .. import layers as layers_module
from .atomic import atomic_write

__all__ = ["export_onnx"]

_SELU_ALPHA = 1.67326324  # keras.activations.selu's constants (as densenn's core)
_SELU_SCALE = 1.05070098
_MIN_OPSET, _MAX_OPSET = 13, 17


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise ImportError("Exporting to ONNX needs the onnx package: pip install onnx "
                          "(and onnxruntime to run the exported model), or pip install densenn[onnx]") from None
    return onnx, helper, numpy_helper


class _Graph:
    """Collects nodes and float32 initializers, with unique tensor names."""

    def __init__(self, helper, numpy_helper, opset):
        self.helper, self.numpy_helper, self.opset = helper, numpy_helper, opset
        self.nodes, self.initializers = [], []
        self._count = 0

    def name(self, base):
        self._count += 1
        return f"{base}_{self._count}"

    def const(self, value, base="const", dtype=np.float32):
        name = self.name(base)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type, inputs, base=None, **attrs):
        out = self.name(base or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], name=self.name(op_type), **attrs))
        return out

    # -------------------------------------------------------------- activations
    def activation(self, name, x, where, shape, alpha=None, max_value=None, threshold=0.0):
        op = self.op
        flat = len(shape) == 1
        name = {"swish": "silu", "hard_swish": "hard_silu"}.get(name, name)  # aliases
        if name == "linear":
            return x
        if name == "relu":
            slope = alpha or 0.0
            if slope == 0.0 and threshold == 0.0:
                if max_value is None or math.isinf(max_value):
                    return op("Relu", [x])
                return op("Clip", [x, self.const(0.0, "zero"), self.const(max_value, "max_value")])
            # densenn's (and Keras') ReLU layer: max_value from max_value up, x above the threshold,
            # negative_slope * (x - threshold) below it.
            thr = self.const(threshold, "threshold")
            below = op("Mul", [op("Sub", [x, thr]), self.const(slope, "negative_slope")])
            y = op("Where", [op("Greater", [x, thr]), x, below])
            if max_value is not None and not math.isinf(max_value):
                cap = self.const(max_value, "max_value")
                y = op("Where", [op("GreaterOrEqual", [x, cap]), cap, y])
            return y
        if name == "relu6":
            return op("Clip", [x, self.const(0.0, "zero"), self.const(6.0, "six")])
        simple = {"sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus", "softsign": "Softsign",
                  "exponential": "Exp"}
        if name in simple:
            return op(simple[name], [x])
        if name in ("softmax", "log_softmax") and not flat:
            # densenn applies it to each flattened sample; ONNX would normalize the last axis only
            raise ValueError(f"{where}: {name} over samples of shape {shape} (densenn normalizes the flattened "
                             "sample): add a Flatten layer before it to export this model to ONNX.")
        if name == "softmax":
            return op("Softmax", [x], axis=-1)
        if name == "log_softmax":
            return op("LogSoftmax", [x], axis=-1)
        if name == "elu":
            return op("Elu", [x], alpha=float(1.0 if alpha is None else alpha))
        if name == "selu":
            return op("Selu", [x], alpha=_SELU_ALPHA, gamma=_SELU_SCALE)
        if name == "leaky_relu":
            return op("LeakyRelu", [x], alpha=float(0.2 if alpha is None else alpha))
        if name == "hard_sigmoid":
            return op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
        if name == "hard_silu":
            if self.opset >= 14:
                return op("HardSwish", [x])
            return op("Mul", [x, op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)])
        if name == "silu":
            return op("Mul", [x, op("Sigmoid", [x])])
        if name == "gelu":
            erf = op("Erf", [op("Mul", [x, self.const(1.0 / math.sqrt(2.0), "inv_sqrt2")])])
            half_x = op("Mul", [x, self.const(0.5, "half")])
            return op("Mul", [half_x, op("Add", [erf, self.const(1.0, "one")])])
        if name == "mish":
            return op("Mul", [x, op("Tanh", [op("Softplus", [x])])])
        if name == "binary_step":
            step = op("GreaterOrEqual", [x, self.const(0.0, "zero")])
            return op("Cast", [step], to=self.helper.np_dtype_to_tensor_dtype(np.dtype(np.float32)))
        raise ValueError(f"{where}: activation {name!r} has no ONNX equivalent in opsets {_MIN_OPSET}-{_MAX_OPSET}.")


def _export_graph(model, g):
    """Adds the model's layers to g; returns the name of the final tensor and its per-sample shape."""
    x, shape = "input", tuple(model._input_shape)
    by_layer = model._weights_by_layer()  # one consistent set, also while another thread trains
    for i, layer in enumerate(model._layers):
        layer_weights = by_layer[i] if i < len(by_layer) else []
        where = f"Layer {layer.name!r} ({type(layer).__name__})"
        weights = [np.asarray(w, dtype=np.float32) for w in layer_weights]
        if isinstance(layer, layers_module.Flatten):
            if len(shape) > 1:
                x = g.op("Reshape", [x, g.const([0, -1], "flat_shape", dtype=np.int64)], base="flatten")
            shape = (int(np.prod(shape)),)
        elif isinstance(layer, layers_module.Dense):
            y = g.op("MatMul", [x, g.const(weights[0], "kernel")])
            if layer.use_bias:
                y = g.op("Add", [y, g.const(weights[1], "bias")])
            x = g.activation(layer.activation, y, where, (layer.units,))
            shape = (layer.units,)
        elif isinstance(layer, layers_module.Maxout):
            y = g.op("Add", [g.op("MatMul", [x, g.const(weights[0], "kernel")]), g.const(weights[1], "bias")])
            y = g.op("Reshape", [y, g.const([0, layer.units, layer.pieces], "pieces_shape", dtype=np.int64)])
            x = g.op("ReduceMax", [y], axes=[2], keepdims=0)
            shape = (layer.units,)
        elif isinstance(layer, layers_module.BatchNormalization):
            n = shape[0]
            it = iter(weights)
            gamma = next(it) if layer.scale else np.ones(n, np.float32)
            beta = next(it) if layer.center else np.zeros(n, np.float32)
            mean, var = next(it), next(it)
            x = g.op("BatchNormalization", [x, g.const(gamma, "gamma"), g.const(beta, "beta"),
                                            g.const(mean, "moving_mean"), g.const(var, "moving_variance")],
                     epsilon=float(layer.epsilon))
        elif isinstance(layer, layers_module.Dropout):
            pass  # identity in inference
        elif isinstance(layer, layers_module.Activation):
            x = g.activation(layer.activation, x, where, shape)
        elif isinstance(layer, layers_module.LeakyReLU):
            x = g.activation("leaky_relu", x, where, shape, alpha=layer.negative_slope)
        elif isinstance(layer, layers_module.ELU):
            x = g.activation("elu", x, where, shape, alpha=layer.alpha)
        elif isinstance(layer, layers_module.ReLU):
            x = g.activation("relu", x, where, shape, alpha=layer.negative_slope, max_value=layer.max_value,
                             threshold=layer.threshold)
        elif isinstance(layer, layers_module.Softmax):
            x = g.activation("softmax", x, where, shape)
        else:
            raise ValueError(f"{where}: this layer has no ONNX export.")
    return x, shape


def export_onnx(model, path, opset=17):
    """Writes ``model`` (a built densenn Sequential) as an ONNX file at ``path`` (atomically: a temporary file,
    then a rename). Input ``"input"`` (float32, ``("batch", *input_shape)``), output ``"output"``. ``opset``: 13
    to 17. Raises ValueError for what ONNX cannot express, ImportError when the onnx package is missing.
    Returns the path."""
    onnx, helper, numpy_helper = _onnx()
    from ..sequential import Sequential
    if not isinstance(model, Sequential):
        raise ValueError(f"export_onnx: expected a densenn Sequential model, got {type(model).__name__}")
    if not model.built:
        raise ValueError("export_onnx: the model is not built (give it an input shape first).")
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not _MIN_OPSET <= opset <= _MAX_OPSET:
        raise ValueError(f"export_onnx: opset must be an integer from {_MIN_OPSET} to {_MAX_OPSET}, got {opset!r}")
    opset = int(opset)
    g = _Graph(helper, numpy_helper, opset)
    last, out_shape = _export_graph(model, g)
    g.nodes.append(helper.make_node("Identity", [last], ["output"], name="output_identity"))
    float32 = helper.np_dtype_to_tensor_dtype(np.dtype(np.float32))
    graph = helper.make_graph(
        g.nodes, model.name,
        [helper.make_tensor_value_info("input", float32, ["batch", *model._input_shape])],
        [helper.make_tensor_value_info("output", float32, ["batch", *out_shape])],
        initializer=g.initializers,
    )
    from .. import __version__
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                   producer_name="densenn", producer_version=__version__,
                                   ir_version=7 if opset <= 14 else 8)  # the IR versions of those opsets
    onnx.checker.check_model(onnx_model, full_check=True)
    data = onnx_model.SerializeToString()

    path = os.fspath(path)
    with atomic_write(path, ".onnx.tmp") as out:
        out.write(data)
    return path
