"""Every activation of the C++ core, through the public API and the core directly.

- forward values (float32, as `Activation(name)` and as `Dense(..., activation=name)`) against
  float64 formulas written here with `math`, one element at a time, and against Keras'
  published reference points;
- derivatives (float64): central differences of the loss against `compute_gradients`, with the
  activation inside a Dense layer (the pre-activations kept in its scratch) and as an Activation
  layer after a Dense (its input passed as z), away from every kink;
- the parametrised relu of Keras' ReLU layer (negative_slope, max_value, threshold) through the
  core's layer config;
- large-magnitude inputs: finite outputs and gradients where Keras has them;
- the NumPy reference (densenn.benchmark.reference) against the core, and its derivatives against
  central differences of its own forward pass.

Tolerances.  float32 forward: the inputs are exact float32 numbers and the expected values are
computed in float64 from them, so the only error is the core's float32 arithmetic: a few ulp
(rtol 1e-6), plus an absolute 1e-7 for values that are a difference of nearly equal numbers
(log_softmax close to 0, a cancelling sum).  Eigen's float exp clamps its argument at -88.7, so
results that should be below ~3e-39 come out as ~3e-39 (Keras/XLA flush them to 0 or a
denormal): the large-input test allows an absolute 1e-30 there.  float64 gradients: h = 1e-5
central differences are good to ~1e-10 on a loss of order 1 (see test_gradients.py); we accept
|fd - g| <= 1e-6 |g| + 1e-8 max(1, max|g|), while a wrong derivative is off by O(|g|).
"""
import itertools
import math

import numpy as np
import pytest

from densenn import Input, Sequential, layers
from densenn.benchmark import reference as ref
from densenn._core import core
from support import core_finite_differences

SELU_ALPHA, SELU_SCALE = 1.67326324, 1.05070098  # keras.activations.selu


def _sigmoid(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def _softplus(v):
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def _hard_sigmoid(v):
    return min(max(v / 6 + 0.5, 0.0), 1.0)


def _exp(v):
    return math.exp(v) if v < 709 else math.inf


# Keras 3's formulas in float64, one element at a time.
ELEMENTWISE = {
    "linear": lambda v: v,
    "relu": lambda v: max(v, 0.0),
    "relu6": lambda v: min(max(v, 0.0), 6.0),
    "sigmoid": _sigmoid,
    "tanh": math.tanh,
    "elu": lambda v: v if v > 0 else math.expm1(v),
    "selu": lambda v: SELU_SCALE * (v if v > 0 else SELU_ALPHA * math.expm1(v)),
    "softplus": _softplus,
    "softsign": lambda v: v / (1 + abs(v)),
    "silu": lambda v: v * _sigmoid(v),
    "gelu": lambda v: 0.5 * v * math.erfc(-v / math.sqrt(2)),  # = x (1 + erf(x / sqrt 2)) / 2
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": lambda v: v * _hard_sigmoid(v),
    "mish": lambda v: v * math.tanh(_softplus(v)),
    "exponential": _exp,
    "leaky_relu": lambda v: v if v > 0 else 0.2 * v,
    "binary_step": lambda v: 1.0 if v >= 0 else 0.0,
}
ROWWISE = ["softmax", "log_softmax"]
ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
CANONICAL = list(ELEMENTWISE) + ROWWISE
ALL = CANONICAL + list(ALIASES)
# Points where the derivative (or the function) jumps; elu's second derivative jumps at 0.
KINKS = {"relu": [0.0], "relu6": [0.0, 6.0], "leaky_relu": [0.0], "elu": [0.0], "selu": [0.0],
         "hard_sigmoid": [-3.0, 3.0], "hard_silu": [-3.0, 3.0], "hard_swish": [-3.0, 3.0], "binary_step": [0.0]}


def expected(name, x):
    """float64 values of activation `name` on the 2-D array x."""
    name = ALIASES.get(name, name)
    x = np.asarray(x, dtype=np.float64)
    if name in ELEMENTWISE:
        return np.vectorize(ELEMENTWISE[name], otypes=[np.float64])(x)
    out = np.empty_like(x)
    for i, row in enumerate(x):
        m = max(row)
        lse = m + math.log(math.fsum(math.exp(v - m) for v in row))
        out[i] = [v - lse if name == "log_softmax" else math.exp(v - lse) for v in row]
    return out


def relu_layer(x, negative_slope=0.0, max_value=math.inf, threshold=0.0):
    """Keras' ReLU layer: max_value above the cap, x above the threshold, else negative_slope (x - threshold).
    At x == threshold Keras computes `x > threshold`, i.e. the lower branch."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= max_value, max_value, np.where(x > threshold, x, negative_slope * (x - threshold)))


def grid(k):
    """float32 inputs of shape (n, k): a sweep of [-12, 12], kinks and near-zero values."""
    v = np.concatenate([np.linspace(-12, 12, 97), [-6, -3, -1e-3, 0, 1e-3, 3, 6, 1e-6, -1e-6, 0.5, -0.5]])
    v = np.concatenate([v, np.zeros(-len(v) % k)])
    return np.random.default_rng(0).permutation(v).astype(np.float32).reshape(-1, k)


# ----------------------------------------------------------------------------- names

def test_every_activation_is_known_to_the_core():
    names = core.activation_names()
    assert sorted(names) == sorted(ALL)
    assert sorted(ref.ACTIVATIONS) == sorted(ALL)


def test_unknown_activation_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown activation 'gelu_tanh'.*\bgelu\b.*\bhard_swish\b"):
        layers.Dense(3, activation="gelu_tanh")


@pytest.mark.parametrize("alias,name", list(ALIASES.items()))
def test_aliases_are_the_same_kernel(alias, name):
    x = grid(5)
    a = Sequential([Input(shape=(5,)), layers.Activation(alias)])
    b = Sequential([Input(shape=(5,)), layers.Activation(name)])
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    assert a.layers[0].activation == alias  # the name the user gave is kept


# ----------------------------------------------------------------------------- forward values (float32)

RTOL32, ATOL32 = 1e-6, 1e-7


@pytest.mark.parametrize("name", ALL)
def test_activation_layer_values(name):
    x = grid(6)
    model = Sequential([Input(shape=(6,)), layers.Activation(name)])
    got = model.predict(x, verbose=0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected(name, x), rtol=RTOL32, atol=ATOL32)


@pytest.mark.parametrize("name", ALL)
def test_dense_activation_values(name):
    x = grid(6)
    model = Sequential([Input(shape=(6,)), layers.Dense(6, activation=name)])
    model.set_weights([np.eye(6, dtype=np.float32), np.zeros(6, np.float32)])  # z = x exactly
    np.testing.assert_allclose(model.predict(x, verbose=0), expected(name, x), rtol=RTOL32, atol=ATOL32)
    # with a bias: z = x + b, computed here in float32 as the core does
    b = np.linspace(-1, 1, 6).astype(np.float32)
    model.set_weights([np.eye(6, dtype=np.float32), b])
    np.testing.assert_allclose(model.predict(x, verbose=0), expected(name, x + b), rtol=RTOL32, atol=ATOL32)


KERAS_POINTS = [  # (activation, x, value) from Keras' documentation and formulas, to 7 digits
    ("gelu", 1.0, 0.841345), ("gelu", -1.0, -0.158655), ("gelu", 0.0, 0.0),
    ("selu", 1.0, 1.05070098), ("selu", -1.0, -1.1113307), ("selu", -100.0, -1.7580993),
    ("hard_sigmoid", -3.0, 0.0), ("hard_sigmoid", 3.0, 1.0), ("hard_sigmoid", 0.0, 0.5),
    ("hard_sigmoid", 1.0, 0.6666667), ("hard_sigmoid", -4.0, 0.0), ("hard_sigmoid", 4.0, 1.0),
    ("hard_silu", -3.0, 0.0), ("hard_silu", 3.0, 3.0), ("hard_silu", 1.0, 0.6666667), ("hard_swish", -1.0, -0.3333333),
    ("relu6", 7.0, 6.0), ("relu6", 3.0, 3.0), ("relu6", -1.0, 0.0),
    ("silu", 1.0, 0.7310586), ("swish", -1.0, -0.2689414),
    ("mish", 1.0, 0.8650984), ("mish", -1.0, -0.3034015),
    ("softplus", 0.0, 0.6931472), ("softplus", 1.0, 1.3132616), ("softsign", 1.0, 0.5), ("softsign", -3.0, -0.75),
    ("elu", -1.0, -0.6321206), ("leaky_relu", -1.0, -0.2), ("exponential", 1.0, 2.7182817),
    ("sigmoid", 0.0, 0.5), ("tanh", 1.0, 0.7615942),
    ("binary_step", 0.0, 1.0), ("binary_step", -1e-3, 0.0), ("binary_step", 2.0, 1.0),
]


@pytest.mark.parametrize("name,x,value", KERAS_POINTS)
def test_keras_reference_points(name, x, value):
    model = Sequential([Input(shape=(1,)), layers.Activation(name)])
    assert model.predict(np.array([[x]], np.float32), verbose=0)[0, 0] == pytest.approx(value, rel=1e-6, abs=1e-6)


def test_softmax_and_log_softmax_rows():
    x = np.array([[0.0, 0.0], [1.0, 2.0], [1000.0, 1000.0]], np.float32)
    log = Sequential([Input(shape=(2,)), layers.Activation("log_softmax")]).predict(x, verbose=0)
    soft = Sequential([Input(shape=(2,)), layers.Activation("softmax")]).predict(x, verbose=0)
    np.testing.assert_allclose(log[0], [-math.log(2)] * 2, rtol=1e-7)
    np.testing.assert_allclose(np.exp(log), soft, rtol=1e-6)
    np.testing.assert_allclose(soft.sum(axis=1), 1, rtol=1e-6)


# ----------------------------------------------------------------------------- large magnitudes

BIG = np.array([[-1e4, -100.0, -50.0, -20.0, 20.0, 50.0, 100.0, 1e4],
                [1e4, 100.0, 0.0, -1e4, -100.0, 3.0, -3.0, 0.5]], np.float32)


@pytest.mark.parametrize("name", ALL)
def test_large_inputs_give_finite_outputs(name):
    got = Sequential([Input(shape=(8,)), layers.Activation(name)]).predict(BIG, verbose=0)
    want = expected(name, BIG)
    with np.errstate(over="ignore"):
        finite = np.isfinite(want.astype(np.float32))  # only exponential overflows float32 (to inf, as in Keras)
    assert finite.all() or name == "exponential"
    np.testing.assert_array_equal(np.isfinite(got), finite)
    np.testing.assert_allclose(got[finite], want[finite], rtol=RTOL32, atol=1e-30)
    assert np.all(got[~finite] == np.inf)


@pytest.mark.parametrize("name", [n for n in ALL if n != "exponential"])
def test_large_inputs_give_finite_gradients(name):
    """float32 gradients at |z| up to 1e4 (Dense(identity) then the activation) are finite and
    agree with the float64 reference."""
    x = BIG
    model = Sequential([Input(shape=(8,)), layers.Dense(8), layers.Activation(name)])
    model.compile(optimizer="sgd", loss="mse")
    weights = [np.eye(8, dtype=np.float32), np.zeros(8, np.float32)]
    model.set_weights(weights)
    y = np.random.default_rng(1).normal(size=(2, 8)).astype(np.float32)
    loss, grads = model._core.compute_gradients(x, y)
    assert np.isfinite(loss) and np.isfinite(grads).all()
    r = ref.ReferenceModel([("dense", "linear", True), ("activation", name)], weights, "mse")
    ref_loss, ref_grads = r.gradients(x.astype(np.float64), y)
    want = np.concatenate([g.ravel() for g in ref_grads])
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    np.testing.assert_allclose(grads, want, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(want).max()))


# ----------------------------------------------------------------------------- derivatives (float64)

H = 1e-5
RTOL, ATOL = 1e-6, 1e-8
MARGIN = 1e-2  # pre-activations stay this far from every kink (>> H * |x|)
N_IN, N_HID, N_OUT, N_ROWS = 4, 6, 2, 10


def draw_problem(kinks, seed=0):
    """x, weights (kernel1, bias1, kernel2, bias2) and targets such that the hidden
    pre-activations keep MARGIN from each kink and every piece between kinks is visited."""
    kinks = sorted(kinks)
    for s in itertools.count(seed * 1000):
        assert s < seed * 1000 + 500, "no draw keeps the pre-activations away from the kinks"
        rng = np.random.default_rng(s)
        x = 2 * rng.normal(size=(N_ROWS, N_IN))
        w = [rng.uniform(-1.5, 1.5, (N_IN, N_HID)), rng.uniform(-1, 1, N_HID),
             rng.uniform(-1, 1, (N_HID, N_OUT)), rng.uniform(-1, 1, N_OUT)]
        z = x @ w[0] + w[1]
        edges = [-np.inf] + kinks + [np.inf]
        if all(np.abs(z - k).min() > MARGIN for k in kinks) and all(
                np.any((z > lo) & (z < hi)) for lo, hi in zip(edges[:-1], edges[1:])):
            return x, w, rng.normal(size=(N_ROWS, N_OUT))


def finite_differences(core_model, x, y):
    return core_finite_differences(core_model, x, y, h=H)


def check_against_fd(core_model, x, y):
    loss, grads = core_model.compute_gradients(x, y)
    assert grads.dtype == np.float64
    fd = finite_differences(core_model, x, y)
    np.testing.assert_allclose(grads, fd, rtol=RTOL, atol=ATOL * max(1.0, np.abs(fd).max()))
    return grads


def hidden_net(name, as_layer):
    if as_layer:
        return [Input(shape=(N_IN,)), layers.Dense(N_HID), layers.Activation(name), layers.Dense(N_OUT)]
    return [Input(shape=(N_IN,)), layers.Dense(N_HID, activation=name), layers.Dense(N_OUT)]


@pytest.mark.parametrize("as_layer", [False, True], ids=["dense", "activation-layer"])
@pytest.mark.parametrize("name", ALL)
def test_gradients_match_finite_differences(float64, name, as_layer):
    x, weights, y = draw_problem(KINKS.get(name, []))
    model = Sequential(hidden_net(name, as_layer))
    model.compile(optimizer="sgd", loss="mse")
    model.set_weights(weights)
    grads = check_against_fd(model._core, x, y)
    below = grads[:N_IN * N_HID + N_HID]  # the first Dense layer's kernel and bias
    if name == "binary_step":
        # A step has zero derivative: nothing reaches the layer below, which therefore cannot learn.
        assert np.all(below == 0)
        assert np.abs(grads[below.size:]).max() > 1e-3
    else:
        assert np.abs(below).max() > 1e-3  # the check is not vacuous


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "sigmoid", "gelu", "mish", "softplus"])
def test_output_activation_gradients(float64, name):
    """The activation as the model's output, straight into the loss."""
    x, weights, _ = draw_problem([])
    model = Sequential([Input(shape=(N_IN,)), layers.Dense(N_HID, activation=name)])
    model.compile(optimizer="sgd", loss="mse")
    model.set_weights(weights[:2])
    y = np.random.default_rng(7).normal(size=(N_ROWS, N_HID))
    grads = check_against_fd(model._core, x, y)
    assert np.abs(grads).max() > 1e-3


# ----------------------------------------------------------------------------- Keras' ReLU layer

RELU_OPTIONS = [
    {"alpha": 0.1, "max_value": 2.0, "threshold": 0.5},
    {"alpha": 0.3},                          # LeakyReLU through the relu kernel
    {"max_value": 1.5},                      # capped only: derivative from y
    {"threshold": 1.0},
    {"alpha": 0.25, "max_value": 3.0},
    {"alpha": 0.0, "max_value": 6.0, "threshold": 0.0},  # = relu6
]


def relu_kinks(opts):
    return sorted({opts.get("threshold", 0.0), *([opts["max_value"]] if "max_value" in opts else [])})


def keras_relu(x, opts):
    return relu_layer(x, opts.get("alpha", 0.0), opts.get("max_value", math.inf), opts.get("threshold", 0.0))


@pytest.mark.parametrize("dtype", ["F32", "F64"])
@pytest.mark.parametrize("opts", RELU_OPTIONS, ids=str)
def test_parametrised_relu_values(opts, dtype):
    model = getattr(core, "Sequential" + dtype)(6, [{"type": "activation", "activation": "relu", "options": opts}], 0)
    x = grid(6).astype(np.float32 if dtype == "F32" else np.float64)
    want = keras_relu(x, opts)
    rtol = 1e-6 if dtype == "F32" else 1e-15
    np.testing.assert_allclose(model.predict(x), want, rtol=rtol, atol=0)
    # A Dense layer carries the same options for its activation.
    dense = getattr(core, "Sequential" + dtype)(
        6, [{"type": "dense", "units": 6, "activation": "relu", "options": opts}], 0)
    dense.params[:] = np.concatenate([np.eye(6).ravel(), np.zeros(6)])
    np.testing.assert_allclose(dense.predict(x), want, rtol=rtol, atol=0)


def test_parametrised_relu_brief_example():
    model = core.SequentialF64(3, [{"type": "activation", "activation": "relu",
                                    "options": {"alpha": 0.1, "max_value": 2.0, "threshold": 0.5}}], 0)
    model.compile({"name": "mse"}, {"name": "sgd", "learning_rate": 0.01}, [])
    x = np.array([[-1.0, 0.25, 0.5], [0.75, 2.0, 5.0]])
    np.testing.assert_allclose(model.predict(x), [[-0.15, -0.025, -0.0], [0.75, 2.0, 2.0]], rtol=1e-15)
    loss, grads = model.compute_gradients(x, np.zeros((2, 3)))
    assert grads.size == 0 and loss == pytest.approx(np.mean(keras_relu(x, {"alpha": 0.1, "max_value": 2.0,
                                                                             "threshold": 0.5}) ** 2))


@pytest.mark.parametrize("as_layer", [False, True], ids=["dense", "activation-layer"])
@pytest.mark.parametrize("opts", RELU_OPTIONS, ids=str)
def test_parametrised_relu_gradients(opts, as_layer):
    hidden = ([{"type": "dense", "units": N_HID}, {"type": "activation", "activation": "relu", "options": opts}]
              if as_layer else [{"type": "dense", "units": N_HID, "activation": "relu", "options": opts}])
    model = core.SequentialF64(N_IN, hidden + [{"type": "dense", "units": N_OUT}], 0)
    model.compile({"name": "mse"}, {"name": "sgd", "learning_rate": 0.01}, [])
    x, weights, y = draw_problem(relu_kinks(opts))
    model.params[:] = np.concatenate([w.ravel() for w in weights])
    # The loss is Keras' ReLU layer written out here.
    p = keras_relu(x @ weights[0] + weights[1], opts) @ weights[2] + weights[3]
    assert model.compute_gradients(x, y)[0] == pytest.approx(np.mean((p - y) ** 2), rel=1e-13)
    grads = check_against_fd(model, x, y)
    assert np.abs(grads[:N_IN * N_HID]).max() > 1e-3


def test_relu6_is_relu_with_max_value_6():
    x = grid(6)
    a = Sequential([Input(shape=(6,)), layers.Activation("relu6")]).predict(x, verbose=0)
    b = core.SequentialF32(6, [{"type": "activation", "activation": "relu", "options": {"max_value": 6.0}}], 0)
    np.testing.assert_array_equal(a, b.predict(x))


# ----------------------------------------------------------------------------- the NumPy reference

@pytest.mark.parametrize("as_layer", [False, True], ids=["dense", "activation-layer"])
@pytest.mark.parametrize("name", ALL)
def test_reference_matches_core(float64, name, as_layer):
    x, weights, y = draw_problem(KINKS.get(name, []), seed=1)
    model = Sequential(hidden_net(name, as_layer))
    model.compile(optimizer="sgd", loss="mse")
    model.set_weights(weights)
    spec = ([("dense", "linear", True), ("activation", name), ("dense", "linear", True)] if as_layer
            else [("dense", name, True), ("dense", "linear", True)])
    r = ref.ReferenceModel(spec, weights, "mse")
    np.testing.assert_allclose(model.predict(x, verbose=0), r.predict(x), rtol=1e-12, atol=1e-14)
    loss, grads = model._core.compute_gradients(x, y)
    ref_loss, ref_grads = r.gradients(x, y)
    want = np.concatenate([g.ravel() for g in ref_grads])
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(grads, want, rtol=1e-10, atol=1e-13 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("name", ALL)
def test_reference_values_and_derivatives(name):
    """The reference's own forward against the formulas above, and its backward against central
    differences of its forward, element by element."""
    rng = np.random.default_rng(3)
    kinks = KINKS.get(name, [])
    z = 4 * rng.normal(size=(5, 4))
    while kinks and min(np.abs(z - k).min() for k in kinks) < MARGIN:
        z = 4 * rng.normal(size=(5, 4))
    y = ref._activate(name, z)
    np.testing.assert_allclose(y, expected(name, z), rtol=1e-13, atol=1e-15)
    dy = rng.normal(size=z.shape)
    got = ref._activation_backward(name, z, y, dy)
    fd = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[idx] += H
        down[idx] -= H
        fd[idx] = (np.sum(dy * ref._activate(name, up)) - np.sum(dy * ref._activate(name, down))) / (2 * H)
    np.testing.assert_allclose(got, fd, rtol=RTOL, atol=ATOL * max(1.0, np.abs(fd).max()))
    if name == "binary_step":
        assert np.all(got == 0)
    elif name != "linear":
        assert not np.allclose(got, dy)


def test_reference_float32_stays_float32():
    z = grid(4)
    for name in ALL:
        y = ref._activate(name, z)
        assert y.dtype == np.float32, name
        assert ref._activation_backward(name, z, y, np.ones_like(z)).dtype == np.float32, name
