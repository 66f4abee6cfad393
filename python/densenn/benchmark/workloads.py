"""The benchmark's workloads: the networks, their data and shared initial weights, and the one loss formula
every runner's predictions are checked with."""
import numpy as np

# name: (description, layer sizes, hidden activations, output activation, loss, optimizer, kwargs, batch, data)
# data: "mnist" (the bundled 10k images) or a number of synthetic rows.
WORKLOADS = {
    "W1": ("MNIST 784-100-50-10 sigmoid, SGD(0.01), batch 128",
           [784, 100, 50, 10], ["sigmoid", "sigmoid"], "softmax", "categorical_crossentropy", "sgd",
           {"learning_rate": 0.01}, 128, "mnist"),
    "W2": ("MNIST 784-64(relu)-64(tanh)-10, Adam, batch 32",
           [784, 64, 64, 10], ["relu", "tanh"], "softmax", "categorical_crossentropy", "adam", {}, 32, "mnist"),
    "W3": ("713-20-10-1 relu, sigmoid + binary cross-entropy, Adam, batch 16",
           [713, 20, 10, 1], ["relu", "relu"], "sigmoid", "binary_crossentropy", "adam", {}, 16, 8000),
    "W4": ("1024-2048-2048-10 relu, softmax, Adam, batch 256 (compute-bound)",
           [1024, 2048, 2048, 10], ["relu", "relu"], "softmax", "categorical_crossentropy", "adam", {}, 256, 4096),
}
TRAIN = ("W1", "W2", "W3", "W4")
DEMO = "DEMO"
WORKLOADS[DEMO] = ("MNIST 784-100-50-10 sigmoid, Adam, batch 32 (the demo)",
                   [784, 100, 50, 10], ["sigmoid", "sigmoid"], "softmax", "categorical_crossentropy", "adam", {},
                   32, "mnist")
TARGETS = {"W1": 2.0, "W2": 3.0, "W3": 4.0, "W4": 1.1}  # the ratios densenn aims for against the best other runner
# densenn's arithmetic rate, as a share of the measured FP32 peak of its build's instruction set
PEAK_TARGETS = {"W1": 0.70, "W2": 0.50, "W3": 0.30, "W4": 0.85}
PREDICT_NET = "W2"  # 784-64-64-10 for the predict latency and throughput
# The other networks' one-row and small-batch predicts: W1's (weights in cache) and W4's (25 MB, from memory).
PREDICT_NETS = {"W1": (1,), "W4": (1, 8, 32)}
SCALING_ROWS = (10_000, 100_000, 1_000_000)


def flops_per_sample(name):
    """Forward + backward multiply-adds as FLOPs: 6 * sum(in * out) per sample."""
    sizes = WORKLOADS[name][1]
    return 6 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def synthetic(rows, features, outputs, seed=0, x=None):
    """Seeded Gaussian inputs and learnable labels (a random linear teacher), filled in chunks so that
    1M x 784 needs no temporaries beyond the arrays themselves."""
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal((features, max(outputs, 1)), dtype=np.float32)
    x = np.empty((rows, features), np.float32) if x is None else x
    y = np.empty((rows, outputs), np.float32)
    for start in range(0, rows, 65536):
        part = x[start:start + 65536]
        rng.standard_normal(part.shape, dtype=np.float32, out=part)
        score = part @ teacher
        if outputs == 1:
            y[start:start + 65536] = score > 0
        else:
            y[start:start + 65536] = np.eye(outputs, dtype=np.float32)[score.argmax(1)]
    return x, y


def workload_data(name, rows=None):
    """(x, one-hot or binary y) float32 for a workload: bundled MNIST, or a seeded synthetic set."""
    sizes, data = WORKLOADS[name][1], WORKLOADS[name][8]
    if data == "mnist":
        from ..datasets import mnist
        (x, labels), _ = mnist.load_data()
        x = x.reshape(len(x), -1).astype(np.float32) / 255
        y = np.eye(sizes[-1], dtype=np.float32)[labels]
        return (x, y) if rows is None else (x[:rows].copy(), y[:rows].copy())
    return synthetic(data if rows is None else min(rows, data), sizes[0], sizes[-1])


def initial_weights(name, seed=0):
    """Glorot-uniform kernels and zero biases, shared by all runners."""
    from .reference import glorot_uniform
    rng = np.random.default_rng(seed)
    sizes = WORKLOADS[name][1]
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        weights += [glorot_uniform(fan_in, fan_out, rng, np.float32), np.zeros(fan_out, np.float32)]
    return weights


def keras_loss(p, y):
    """The Keras loss of probabilities p against targets y, one formula for every runner's outputs."""
    p, y = np.asarray(p, np.float64).reshape(y.shape), y.astype(np.float64)
    if y.shape[1] == 1:
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    q = np.clip(p / p.sum(1, keepdims=True), 1e-7, 1 - 1e-7)
    return float(-np.mean((y * np.log(q)).sum(1)))
