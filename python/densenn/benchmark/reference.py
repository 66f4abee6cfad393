"""Pure-NumPy reference implementation of dense-network maths.

Deliberately independent of the C++ core: tests use it to check the C++ numbers and the
benchmark times it as the "NumPy" baseline.  Formulas follow Keras 3 (see
docs/keras-reference.md, sections 4 and 5): 'sum_over_batch_size' losses with eps = 1e-7
clipping, and the optimizers' update equations (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax,
Nadam, Lion) with t = iterations + 1, after gradient clipping and decoupled weight decay.

Gradients are exact derivatives of the reported loss (zero where a probability is clipped),
except for the fused softmax + (sparse) categorical cross-entropy and sigmoid + binary
cross-entropy cases, where, like Keras, the gradient w.r.t. the logits is simply p - t
(scaled by the reduction).  Pass ``fused=False`` to get the exact derivative there too.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["ReferenceModel", "glorot_uniform", "ACTIVATIONS", "LOSSES", "OPTIMIZERS"]

EPSILON = 1e-7
LEAKY_RELU_SLOPE = 0.2  # Keras' leaky_relu *function* default (the layer's is 0.3)
ELU_ALPHA = 1.0

ACTIVATIONS = ("linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax", "elu", "selu", "softplus",
               "softsign", "silu", "swish", "gelu", "hard_sigmoid", "hard_silu", "hard_swish", "mish", "exponential",
               "leaky_relu", "binary_step")
LOSSES = ("mse", "mae", "mape", "msle", "binary_crossentropy", "categorical_crossentropy",
          "sparse_categorical_crossentropy", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence",
          "poisson", "huber", "log_cosh", "cosine_similarity")
# Loss arguments (Keras' constructor arguments) and their defaults.
LOSS_OPTIONS = {"from_logits": False, "label_smoothing": 0.0, "delta": 1.0}
OPTIMIZERS = {
    "sgd": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
    "adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False},
    "adamw": {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              "amsgrad": False},
    "rmsprop": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False},
    "adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
    "adadelta": {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7},
    "adamax": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "nadam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "lion": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99},
}
# Keras' base-optimizer arguments, accepted by every optimizer (None: off).
OPTIMIZER_SHARED = {"weight_decay": None, "clipnorm": None, "clipvalue": None, "global_clipnorm": None}
_OPTIMIZER_FLAGS = ("nesterov", "amsgrad", "centered")
_LOSS_ALIASES = {"mean_squared_error": "mse", "mean_absolute_error": "mae", "mean_absolute_percentage_error": "mape",
                 "mean_squared_logarithmic_error": "msle", "bce": "binary_crossentropy", "kld": "kl_divergence"}
# Final activation + loss pairs whose logits gradient collapses to p - t (p * sum(t) - t for the
# categorical ones), unless the loss itself takes logits (from_logits=True).
_FUSED = {
    ("softmax", "categorical_crossentropy"),
    ("softmax", "sparse_categorical_crossentropy"),
    ("sigmoid", "binary_crossentropy"),
}


def glorot_uniform(fan_in, fan_out, rng, dtype=np.float64) -> np.ndarray:
    """Keras glorot_uniform: U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out))."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype, copy=False)


# ----------------------------------------------------------------------------- activations

SELU_ALPHA = 1.67326324  # keras.activations.selu
SELU_SCALE = 1.05070098
_ACTIVATION_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _check_activation(name):
    if name is None:
        return "linear"
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; valid activations are: {', '.join(ACTIVATIONS)}")
    return name.lower()


def _sigmoid(z):
    # exp(-z) overflowing to inf for very negative z gives the correct limit 0.
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))


def _softplus(z):
    return np.logaddexp(z, 0)  # log(e^z + e^0), computed without overflow


def _normal_cdf(z):
    # Phi(z) = erfc(-z / sqrt 2) / 2: no cancellation in the left tail, unlike (1 + erf) / 2.
    return (0.5 * _erfc(-np.asarray(z, dtype=np.float64) / math.sqrt(2))).astype(np.result_type(z), copy=False)


def _activate(name, z):
    name = _ACTIVATION_ALIASES.get(name, name)
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name == "relu6":
        return np.clip(z, 0, 6)
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))  # max subtraction keeps exp finite
        return e / e.sum(axis=-1, keepdims=True)
    if name == "log_softmax":
        shifted = z - z.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    if name == "elu":
        return np.where(z > 0, z, ELU_ALPHA * np.expm1(np.minimum(z, 0)))
    if name == "selu":
        return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0)))
    if name == "softplus":
        return _softplus(z)
    if name == "softsign":
        return z / (1 + np.abs(z))
    if name == "silu":
        return z * _sigmoid(z)
    if name == "gelu":
        return z * _normal_cdf(z)  # exact (erf) form, Keras' default approximate=False
    if name == "hard_sigmoid":
        return np.clip(z / 6 + 0.5, 0, 1)
    if name == "hard_silu":
        return z * np.clip(z / 6 + 0.5, 0, 1)
    if name == "mish":
        return z * np.tanh(_softplus(z))
    if name == "exponential":
        with np.errstate(over="ignore"):
            return np.exp(z)  # inf for large z, as in Keras
    if name == "leaky_relu":
        return np.maximum(z, LEAKY_RELU_SLOPE * z)  # valid because the slope is below 1
    if name == "binary_step":
        return (z >= 0).astype(z.dtype)
    raise AssertionError(name)


def _activation_backward(name, z, y, dy):
    """dL/dz from dL/dy, given the activation's input z and output y."""
    name = _ACTIVATION_ALIASES.get(name, name)
    if name == "linear":
        return dy
    if name == "relu":
        return dy * (z > 0)
    if name == "relu6":
        return dy * ((z > 0) & (z < 6))
    if name == "sigmoid":
        return dy * y * (1 - y)
    if name == "tanh":
        return dy * (1 - y * y)
    if name == "softmax":
        # Jacobian-vector product diag(y) - y y^T without forming the Jacobian.
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
    if name == "log_softmax":
        # d log_softmax_i / dz_j = delta_ij - softmax_j
        return dy - _activate("softmax", z) * dy.sum(axis=-1, keepdims=True)
    if name == "elu":
        return np.where(z > 0, dy, dy * (y + ELU_ALPHA))  # d/dz alpha(e^z - 1) = y + alpha
    if name == "selu":
        return dy * SELU_SCALE * np.where(z > 0, 1, SELU_ALPHA * np.exp(np.minimum(z, 0)))
    if name == "softplus":
        return dy * _sigmoid(z)
    if name == "softsign":
        return dy / (1 + np.abs(z)) ** 2
    if name == "silu":
        s = _sigmoid(z)
        return dy * s * (1 + z * (1 - s))
    if name == "gelu":
        pdf = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return dy * (_normal_cdf(z) + z * pdf)
    if name == "hard_sigmoid":
        return dy * (np.abs(z) < 3) / 6
    if name == "hard_silu":
        # product rule on z * hard_sigmoid(z), hard_sigmoid' = 1/6 on |z| < 3
        return dy * (np.clip(z / 6 + 0.5, 0, 1) + z * (np.abs(z) < 3) / 6)
    if name == "mish":
        t = np.tanh(_softplus(z))
        return dy * (t + z * (1 - t * t) * _sigmoid(z))
    if name == "exponential":
        return dy * y
    if name == "leaky_relu":
        return np.where(z > 0, dy, LEAKY_RELU_SLOPE * dy)
    if name == "binary_step":
        return np.zeros_like(dy)  # a step function: no gradient reaches the layers below
    raise AssertionError(name)


# ----------------------------------------------------------------------------- loss helpers

def _log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _l2_normalize(x):
    """Keras' ops.normalize (order 2): x * min(1 / |x|, 1 / eps), so a zero vector stays zero."""
    with np.errstate(divide="ignore"):
        inv = 1 / np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return x * np.minimum(inv, 1 / EPSILON)


# ----------------------------------------------------------------------------- model

class ReferenceModel:
    """A Sequential stack of Dense / Activation layers trained with plain NumPy.

    layers: list of ('dense', activation, use_bias) or ('activation', activation).
    weights: flat list like Keras get_weights(): kernel (in, out) then bias (out,) per dense layer.
    loss: a name from LOSSES (or an alias), or a dict {'name': ..., 'from_logits': ..., 'label_smoothing': ...,
        'delta': ...} (a Loss object's core_config()).
    optimizer: a name in OPTIMIZERS; optimizer_kwargs are that optimizer's Keras arguments (see OPTIMIZERS
    and OPTIMIZER_SHARED); learning_rate may be a number or a callable step -> rate (a schedule, evaluated
    at `iterations` before each step).
    """

    def __init__(self, layers, weights, loss, optimizer="sgd", dtype=np.float64, fused=True,
                 **optimizer_kwargs):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.fused = bool(fused)
        self.loss = self._check_loss(loss)
        self.loss_options = self._check_loss_options(loss)
        self._ops = self._parse_layers(layers)  # ('affine', kernel_idx, bias_idx|None) or ('act', name)
        self.weights = self._copy_weights(weights)
        self.input_dim = next((self.weights[op[1]].shape[0] for op in self._ops if op[0] == "affine"), None)

        name = str(optimizer).lower()
        if name not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {optimizer!r}; valid optimizers are: {', '.join(OPTIMIZERS)}")
        valid = {**OPTIMIZER_SHARED, **OPTIMIZERS[name]}
        unknown = sorted(set(optimizer_kwargs) - set(valid))
        if unknown:
            raise ValueError(f"Unknown argument(s) {unknown} for optimizer {name!r}; "
                             f"valid ones are: {', '.join(valid)}")
        self.optimizer = name
        self.optimizer_config = {**valid, **optimizer_kwargs}
        for key, value in self.optimizer_config.items():
            if key in _OPTIMIZER_FLAGS:
                self.optimizer_config[key] = bool(value)
            elif value is not None and not callable(value):
                self.optimizer_config[key] = float(value)
        if sum(self.optimizer_config[k] is not None for k in ("clipnorm", "clipvalue", "global_clipnorm")) > 1:
            raise ValueError("Only one of clipnorm, clipvalue and global_clipnorm can be set")
        if name == "adamw" and self.optimizer_config["weight_decay"] is None:
            raise ValueError("adamw needs a weight_decay")
        self.iterations = 0
        # Optimizer slots by name, each a list of arrays like the weights, created lazily
        # (SGD without momentum has none); Nadam's running product of its momentum schedule.
        self._slots = {}
        self._u_product = 1.0

        # The last op decides whether the fused logits gradient applies.
        last = self._ops[-1] if self._ops else ("none",)
        self._fused_active = (self.fused and last[0] == "act" and (last[1], self.loss) in _FUSED
                              and not self.loss_options["from_logits"])

    # -- construction helpers

    @staticmethod
    def _check_loss(loss):
        name = loss.get("name") if isinstance(loss, dict) else loss
        name = _LOSS_ALIASES.get(str(name).lower(), str(name).lower())
        if name not in LOSSES:
            raise ValueError(f"Unknown loss {loss!r}; valid losses are: {', '.join(LOSSES)}")
        return name

    @staticmethod
    def _check_loss_options(loss):
        options = dict(LOSS_OPTIONS)
        if isinstance(loss, dict):
            unknown = sorted(set(loss) - set(LOSS_OPTIONS) - {"name"})
            if unknown:
                raise ValueError(f"Unknown loss argument(s) {unknown}; valid ones are: {', '.join(LOSS_OPTIONS)}")
            options.update({k: v for k, v in loss.items() if k != "name" and v is not None})
        options["from_logits"] = bool(options["from_logits"])
        options["label_smoothing"] = float(options["label_smoothing"])
        options["delta"] = float(options["delta"])
        if not 0 <= options["label_smoothing"] <= 1:
            raise ValueError(f"label_smoothing must be in [0, 1], got {options['label_smoothing']}")
        if not options["delta"] > 0:
            raise ValueError(f"delta must be > 0, got {options['delta']}")
        return options

    @staticmethod
    def _parse_layers(layers):
        ops, n_weights = [], 0
        for layer in layers:
            if not isinstance(layer, (tuple, list)) or not layer:
                raise ValueError(f"Each layer must be a tuple ('dense', activation, use_bias) or "
                                 f"('activation', activation), got {layer!r}")
            kind = str(layer[0]).lower()
            if kind == "dense" and len(layer) in (2, 3):
                use_bias = bool(layer[2]) if len(layer) == 3 else True
                ops.append(("affine", n_weights, n_weights + 1 if use_bias else None))
                n_weights += 2 if use_bias else 1
                act = _check_activation(layer[1])
            elif kind == "activation" and len(layer) == 2:
                act = _check_activation(layer[1])
            else:
                raise ValueError(f"Invalid layer {layer!r}; expected ('dense', activation, use_bias) "
                                 f"or ('activation', activation)")
            if act != "linear":
                ops.append(("act", act))
        return ops  # may be empty: the identity network, i.e. the loss alone

    def _copy_weights(self, weights):
        weights = list(weights)
        expected = sum(1 + (op[2] is not None) for op in self._ops if op[0] == "affine")
        if len(weights) != expected:
            raise ValueError(f"Expected {expected} weight arrays for these layers, got {len(weights)}")
        out = [np.array(w, dtype=self.dtype, copy=True) for w in weights]
        prev_units = None
        for op in self._ops:
            if op[0] != "affine":
                continue
            kernel = out[op[1]]
            if kernel.ndim != 2:
                raise ValueError(f"Kernel {op[1]} must be 2-D (in, out), got shape {kernel.shape}")
            if prev_units is not None and kernel.shape[0] != prev_units:
                raise ValueError(f"Kernel {op[1]} has shape {kernel.shape} but the previous layer "
                                 f"outputs {prev_units} units: expected shape {(prev_units, kernel.shape[1])}")
            if op[2] is not None and out[op[2]].shape != (kernel.shape[1],):
                raise ValueError(f"Bias {op[2]} has shape {out[op[2]].shape}, expected shape "
                                 f"{(kernel.shape[1],)} to match kernel shape {kernel.shape}")
            prev_units = kernel.shape[1]
        return out

    # -- forward / loss

    def _as_input(self, x):
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 2:
            raise ValueError(f"x must be 2-D (n, features), got shape {x.shape}")
        if self.input_dim is not None and x.shape[1] != self.input_dim:
            raise ValueError(f"x has shape {x.shape} but the model expects (n, {self.input_dim})")
        if x.shape[0] == 0:
            raise ValueError("x is empty")
        return x

    def _forward(self, x):
        """Return the output and the input of every op (needed by the backward pass)."""
        inputs = []
        for op in self._ops:
            inputs.append(x)
            if op[0] == "affine":
                z = x @ self.weights[op[1]]
                if op[2] is not None:
                    z += self.weights[op[2]]  # z is a fresh array, so in place is safe
                x = z
            else:
                x = _activate(op[1], x)
        return x, inputs

    def predict(self, x) -> np.ndarray:
        return self._forward(self._as_input(x))[0]

    def _targets(self, y, p):
        """Targets shaped like p, as the loss uses them: sparse labels become one-hot, then
        label smoothing and the hinge losses' {0, 1} -> {-1, 1} mapping (_loss_targets)."""
        y = np.asarray(y)
        if self.loss == "sparse_categorical_crossentropy":
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.shape != (p.shape[0],):
                raise ValueError(f"Sparse labels must have shape ({p.shape[0]},) or ({p.shape[0]}, 1), "
                                 f"got {np.shape(y)}")
            labels = y.astype(np.int64)
            if np.any(labels != y) or labels.min() < 0 or labels.max() >= p.shape[1]:
                raise ValueError(f"Sparse labels must be integers in [0, {p.shape[1]})")
            t = np.zeros_like(p)
            t[np.arange(p.shape[0]), labels] = 1
            return t
        t = y.astype(self.dtype, copy=False)
        if t.ndim == p.ndim - 1 and p.shape[-1] == 1:
            t = t[..., None]  # Keras accepts y (n,) against predictions (n, 1)
        if t.shape != p.shape:
            raise ValueError(f"y has shape {np.shape(y)} but predictions have shape {p.shape}")
        return self._loss_targets(t)

    def _loss_targets(self, t):
        s = self.loss_options["label_smoothing"]
        if self.loss == "binary_crossentropy" and s:
            return t * (1 - s) + 0.5 * s  # squeezed towards 0.5
        if self.loss == "categorical_crossentropy" and s:
            return t * (1 - s) + s / t.shape[-1]  # towards the uniform distribution
        if self.loss in ("hinge", "squared_hinge") and np.all((t == 0) | (t == 1)):
            return 2 * t - 1  # Keras decides for the whole batch: all labels 0/1 -> -1/+1
        return t

    def _sample_weight(self, sample_weight, n):
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=self.dtype).reshape(-1)
        if w.shape != (n,):
            raise ValueError(f"sample_weight has shape {np.shape(sample_weight)}, expected ({n},)")
        return w

    def _per_sample_loss(self, p, t):
        """Keras' per-sample loss; p is the model output (the logits when from_logits)."""
        loss, eps, logits = self.loss, EPSILON, self.loss_options["from_logits"]
        if loss == "mse":
            return np.mean((t - p) ** 2, axis=-1)
        if loss == "mae":
            return np.mean(np.abs(t - p), axis=-1)
        if loss == "mape":
            return 100 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), eps)), axis=-1)
        if loss == "msle":
            return np.mean((np.log(np.maximum(p, eps) + 1) - np.log(np.maximum(t, eps) + 1)) ** 2, axis=-1)
        if loss == "binary_crossentropy":
            if logits:  # log sigmoid(z) = -log(1 + e^-z) = -logaddexp(0, -z)
                return np.mean(t * np.logaddexp(0, -p) + (1 - t) * np.logaddexp(0, p), axis=-1)
            pc = np.clip(p, EPSILON, 1 - EPSILON)
            return -np.mean(t * np.log(pc) + (1 - t) * np.log(1 - pc), axis=-1)
        if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
            if logits:
                return -np.sum(t * _log_softmax(p), axis=-1)
            q = np.clip(p / p.sum(axis=-1, keepdims=True), EPSILON, 1 - EPSILON)
            return -np.sum(t * np.log(q), axis=-1)
        if loss == "hinge":
            return np.mean(np.maximum(1 - t * p, 0), axis=-1)
        if loss == "squared_hinge":
            return np.mean(np.maximum(1 - t * p, 0) ** 2, axis=-1)
        if loss == "categorical_hinge":
            pos = np.sum(t * p, axis=-1)
            neg = np.max((1 - t) * p, axis=-1)
            return np.maximum(neg - pos + 1, 0)
        if loss == "kl_divergence":
            tc, pc = np.clip(t, eps, 1), np.clip(p, eps, 1)
            return np.sum(tc * np.log(tc / pc), axis=-1)
        if loss == "poisson":
            return np.mean(p - t * np.log(p + eps), axis=-1)
        if loss == "huber":
            d, e = self.loss_options["delta"], p - t
            return np.mean(np.where(np.abs(e) <= d, 0.5 * e * e, d * np.abs(e) - 0.5 * d * d), axis=-1)
        if loss == "log_cosh":
            x = p - t
            return np.mean(x + np.logaddexp(0, -2 * x) - math.log(2), axis=-1)
        if loss == "cosine_similarity":
            return -np.sum(_l2_normalize(t) * _l2_normalize(p), axis=-1)
        raise AssertionError(loss)

    def _reduce(self, losses, w):
        # sum_over_batch_size: divide by n, not by the sum of the weights.
        if w is not None:
            losses = losses * w
        return float(losses.sum() / losses.shape[0])

    def _loss_grad(self, p, t, scale):
        """dL/dp of the reported loss (dL/dz with from_logits); scale is (n, 1): sample weight / n.
        Zero where a clip or max() holds the value constant."""
        loss, eps, logits = self.loss, EPSILON, self.loss_options["from_logits"]
        k = p.shape[-1]
        if loss == "mse":
            return scale * (2 / k) * (p - t)
        if loss == "mae":
            return (scale / k) * np.sign(p - t)
        if loss == "mape":
            return (scale / k) * 100 * np.sign(p - t) / np.maximum(np.abs(t), eps)
        if loss == "msle":
            pm = np.maximum(p, eps)
            diff = np.log(pm + 1) - np.log(np.maximum(t, eps) + 1)
            return (scale / k) * (p >= eps) * 2 * diff / (pm + 1)
        if loss == "binary_crossentropy":
            if logits:
                return (scale / k) * (np.exp(-np.logaddexp(0, -p)) - t)  # sigmoid(z) - t
            inside = (p >= EPSILON) & (p <= 1 - EPSILON)  # clip passes gradient only inside
            pc = np.clip(p, EPSILON, 1 - EPSILON)
            return (scale / k) * inside * ((1 - t) / (1 - pc) - t / pc)
        if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
            if logits:
                return scale * (np.exp(_log_softmax(p)) * t.sum(axis=-1, keepdims=True) - t)
            total = p.sum(axis=-1, keepdims=True)
            q = p / total
            inside = (q >= EPSILON) & (q <= 1 - EPSILON)
            g = inside * (-t / np.clip(q, EPSILON, 1 - EPSILON))  # dL/dq
            # Back through q = p / sum(p): dq_i/dp_j = (delta_ij - q_i) / sum(p).
            return scale * (g - (g * q).sum(axis=-1, keepdims=True)) / total
        if loss in ("hinge", "squared_hinge"):
            m = 1 - t * p
            d = -t if loss == "hinge" else -2 * m * t
            return (scale / k) * np.where(m > 0, d, 0)
        if loss == "categorical_hinge":
            q = (1 - t) * p
            neg = q.max(axis=-1, keepdims=True)
            at_max = (q == neg).astype(p.dtype)  # a tied maximum shares the gradient equally
            active = (neg - np.sum(t * p, axis=-1, keepdims=True) + 1) > 0
            return scale * active * ((1 - t) * at_max / at_max.sum(axis=-1, keepdims=True) - t)
        if loss == "kl_divergence":
            inside = (p >= eps) & (p <= 1)
            return scale * inside * (-np.clip(t, eps, 1) / np.where(inside, p, 1))
        if loss == "poisson":
            return (scale / k) * (1 - t / (p + eps))
        if loss == "huber":
            d, e = self.loss_options["delta"], p - t
            return (scale / k) * np.where(np.abs(e) <= d, e, d * np.sign(e))
        if loss == "log_cosh":
            return (scale / k) * np.tanh(p - t)
        if loss == "cosine_similarity":
            # -sum(u * p * s(p)), u = normalised t, s = min(|p|^-1, 1/eps): constant where clamped.
            with np.errstate(divide="ignore"):
                r = 1 / np.sqrt(np.sum(p * p, axis=-1, keepdims=True))
            s = np.minimum(r, 1 / eps)
            u = _l2_normalize(t)
            radial = np.where(r <= 1 / eps, np.sum(u * p, axis=-1, keepdims=True) * s ** 3, 0)
            return scale * (radial * p - u * s)
        raise AssertionError(loss)

    def loss_value(self, x, y, sample_weight=None) -> float:
        p = self.predict(x)
        t = self._targets(y, p)
        return self._reduce(self._per_sample_loss(p, t), self._sample_weight(sample_weight, p.shape[0]))

    # -- backward

    def gradients(self, x, y, sample_weight=None):
        """Return (loss, gradients in weights order)."""
        x = self._as_input(x)
        p, inputs = self._forward(x)
        t = self._targets(y, p)
        n = p.shape[0]
        w = self._sample_weight(sample_weight, n)
        loss = self._reduce(self._per_sample_loss(p, t), w)

        scale = (np.ones((n, 1), dtype=self.dtype) if w is None else w[:, None]) / n
        ops = self._ops
        if self._fused_active:
            # Stable logits gradient (what Keras does for these pairs): skip the final activation.
            # t already carries any label smoothing.
            if self.loss == "binary_crossentropy":
                grad = (scale / p.shape[-1]) * (p - t)
            else:  # d/dz of -sum t log softmax(z) = softmax(z) sum(t) - t
                grad = scale * (p * t.sum(axis=-1, keepdims=True) - t)
            ops = ops[:-1]
        else:
            grad = self._loss_grad(p, t, scale)

        grads = [None] * len(self.weights)
        for i in range(len(ops) - 1, -1, -1):
            op, a = ops[i], inputs[i]
            if op[0] == "affine":
                grads[op[1]] = a.T @ grad
                if op[2] is not None:
                    grads[op[2]] = grad.sum(axis=0)
                if i > 0:  # the input data needs no gradient
                    grad = grad @ self.weights[op[1]].T
            else:
                out = inputs[i + 1] if i + 1 < len(self._ops) else p
                grad = _activation_backward(op[1], a, out, grad)
        return loss, grads

    # -- optimisation

    @property
    def _m(self):  # first slot of SGD (momentum) and Adam (first moment)
        return self._slots.get("m")

    @property
    def _s(self):  # Adam's second moment
        return self._slots.get("s")

    def _slot(self, key, fill=0.0):
        if key not in self._slots:
            self._slots[key] = [np.full_like(v, fill) for v in self.weights]
        return self._slots[key]

    def _clip_gradients(self, grads):
        """Keras' clipping: clipnorm per weight tensor, global_clipnorm over all, or clipvalue."""
        cfg = self.optimizer_config
        if cfg["clipnorm"]:
            c, clipped = cfg["clipnorm"], []
            for g in grads:
                norm = math.sqrt(float(np.sum(np.square(g.astype(np.float64)))))
                clipped.append(g * c / max(norm, c))
            return clipped
        if cfg["global_clipnorm"]:
            c = cfg["global_clipnorm"]
            norm = math.sqrt(sum(float(np.sum(np.square(g.astype(np.float64)))) for g in grads))
            scale = c / max(norm, c) if math.isfinite(norm) else math.nan
            return [g * scale for g in grads]
        if cfg["clipvalue"]:
            c = cfg["clipvalue"]
            return [np.clip(g, -c, c) for g in grads]
        return grads

    def _apply(self, grads):
        cfg, name, t = self.optimizer_config, self.optimizer, self.iterations + 1
        lr = cfg["learning_rate"]
        lr = float(lr(self.iterations)) if callable(lr) else lr
        grads = self._clip_gradients(grads)
        if cfg["weight_decay"] is not None:  # decoupled, before the update
            wd = cfg["weight_decay"]
            for v in self.weights:
                v -= v * wd * lr
        if name == "sgd":
            mu = cfg["momentum"]
            if mu == 0:
                for v, g in zip(self.weights, grads):
                    v -= lr * g
            else:
                for v, g, m in zip(self.weights, grads, self._slot("m")):
                    m *= mu
                    m -= lr * g
                    if cfg["nesterov"]:
                        v += mu * m - lr * g  # uses the already updated m, as Keras does
                    else:
                        v += m
        elif name in ("adam", "adamw"):
            b1, b2, eps = cfg["beta_1"], cfg["beta_2"], cfg["epsilon"]
            ms, ss = self._slot("m"), self._slot("s")
            vhats = self._slot("vhat") if cfg["amsgrad"] else [None] * len(ms)
            # Python floats keep the arrays in the model dtype (no float64 promotion).
            alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            for v, g, m, s, vhat in zip(self.weights, grads, ms, ss, vhats):
                # In-place form of the Keras equations (same operation order, far fewer temporaries):
                # m += (g - m)(1 - b1); s += (g^2 - s)(1 - b2); v -= alpha m / (sqrt(s) + eps)
                d = g - m
                d *= 1 - b1
                m += d
                np.multiply(g, g, out=d)
                d -= s
                d *= 1 - b2
                s += d
                if vhat is not None:  # AMSGrad: the running maximum of s replaces s
                    np.maximum(vhat, s, out=vhat)
                    np.sqrt(vhat, out=d)
                else:
                    np.sqrt(s, out=d)
                d += eps
                step = alpha * m
                step /= d
                v -= step
        elif name == "rmsprop":
            rho, mu, eps = cfg["rho"], cfg["momentum"], cfg["epsilon"]
            for i, (v, g) in enumerate(zip(self.weights, grads)):
                s = self._slot("velocity")[i]
                s[...] = rho * s + (1 - rho) * np.square(g)
                if cfg["centered"]:
                    a = self._slot("average_gradient")[i]
                    a[...] = rho * a + (1 - rho) * g
                    increment = lr * g / np.sqrt(s - np.square(a) + eps)
                else:
                    increment = lr * g / np.sqrt(s + eps)
                if mu > 0:
                    m = self._slot("momentum")[i]
                    m[...] = mu * m + increment
                    v -= m
                else:
                    v -= increment
        elif name == "adagrad":
            eps = cfg["epsilon"]
            for v, g, acc in zip(self.weights, grads, self._slot("accumulator", cfg["initial_accumulator_value"])):
                acc += np.square(g)
                v -= lr * g / np.sqrt(acc + eps)
        elif name == "adadelta":
            rho, eps = cfg["rho"], cfg["epsilon"]
            for v, g, acc_g, acc_d in zip(self.weights, grads, self._slot("grad"), self._slot("delta")):
                acc_g[...] = rho * acc_g + (1 - rho) * np.square(g)
                delta = -np.sqrt(acc_d + eps) * g / np.sqrt(acc_g + eps)
                acc_d[...] = rho * acc_d + (1 - rho) * np.square(delta)
                v += lr * delta
        elif name == "adamax":
            b1, b2, eps = cfg["beta_1"], cfg["beta_2"], cfg["epsilon"]
            correction = 1 - b1 ** t
            for v, g, m, u in zip(self.weights, grads, self._slot("m"), self._slot("u")):
                m += (1 - b1) * (g - m)
                np.maximum(b2 * u, np.abs(g), out=u)
                v -= lr * m / (correction * (u + eps))
        elif name == "nadam":
            b1, b2, eps = cfg["beta_1"], cfg["beta_2"], cfg["epsilon"]
            u_now = b1 * (1 - 0.5 * 0.96 ** t)
            u_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
            self._u_product *= u_now  # u_1 u_2 ... u_t
            product, product_next = self._u_product, self._u_product * u_next
            for v, g, m, s in zip(self.weights, grads, self._slot("m"), self._slot("s")):
                m += (1 - b1) * (g - m)
                s += (1 - b2) * (np.square(g) - s)
                m_hat = u_next * m / (1 - product_next) + (1 - u_now) * g / (1 - product)
                s_hat = s / (1 - b2 ** t)
                v -= lr * m_hat / (np.sqrt(s_hat) + eps)
        elif name == "lion":
            b1, b2 = cfg["beta_1"], cfg["beta_2"]
            for v, g, m in zip(self.weights, grads, self._slot("m")):
                v -= lr * np.sign(b1 * m + (1 - b1) * g)
                m[...] = b2 * m + (1 - b2) * g
        else:
            raise AssertionError(name)
        self.iterations += 1

    def train_step(self, x, y, sample_weight=None) -> float:
        """One optimizer step on this batch; returns the batch loss before the update."""
        loss, grads = self.gradients(x, y, sample_weight)
        self._apply(grads)
        return loss

    def train_epoch(self, x, y, batch_size=32, order=None, sample_weight=None) -> float:
        """One pass over the rows in `order`; returns the batch-size-weighted mean batch loss."""
        x, y = np.asarray(x), np.asarray(y)
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        batch_size = int(batch_size)
        if len(x) != len(y):
            raise ValueError(f"x and y have different numbers of rows: {len(x)} and {len(y)}")
        if sample_weight is not None:
            sample_weight = self._sample_weight(sample_weight, len(x))
        order = np.arange(len(x)) if order is None else np.asarray(order)
        if order.ndim != 1 or not np.issubdtype(order.dtype, np.integer):
            raise ValueError("order must be a 1-D integer index array")
        if len(order) == 0:
            raise ValueError("Nothing to train on: no rows")
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            sw = None if sample_weight is None else sample_weight[idx]
            total += self.train_step(x[idx], y[idx], sw) * len(idx)
        return total / len(order)
