"""Metrics: each value after evaluate() against an independent float64 computation of Keras 3's formula
(keras/src/metrics/*.py), accumulated over batches of several sizes, with and without sample weights;
'accuracy' resolved by shape; the names metrics log under; fit's history keys.

The models are weight-free (Input -> Activation), so their predictions are known: the inputs themselves
('linear'), or their sigmoid / softmax.
"""
import numpy as np
import pytest

from densenn import Input, Sequential, layers, metrics
from support import using_floatx

BATCH_SIZES = (1, 7, 32, 10_000)  # 10_000: one batch holding every row
N = 203  # rows: no batch size above divides it


@pytest.fixture(params=["float32", "float64"])
def floatx(request):
    with using_floatx(request.param):
        yield request.param


def identity_model(width, activation="linear", loss="mse", metrics_=None, weighted=None):
    model = Sequential([Input(shape=(width,)), layers.Activation(activation)])
    model.compile(optimizer="sgd", loss=loss, metrics=metrics_, weighted_metrics=weighted)
    return model


def evaluate_all(model, x, y, sample_weight=None, batch_sizes=BATCH_SIZES):
    """evaluate(return_dict=True) at every batch size; the predictions (as the model computes them)."""
    results = [model.evaluate(x, y, sample_weight=sample_weight, batch_size=b, verbose=0, return_dict=True)
               for b in batch_sizes]
    return results, model.predict(x, verbose=0).astype(np.float64)


def assert_metric(results, name, expected, rel=1e-9, abs=1e-12):
    for logs in results:
        assert logs[name] == pytest.approx(expected, rel=rel, abs=abs), name


# ----------------------------------------------------------------------------- the reference formulas

def mean_over_samples(values, w=None):
    """Keras' Mean: sum(w * value) / sum(w) (0 when the weights sum to 0)."""
    values = np.asarray(values, dtype=np.float64)
    w = np.ones(len(values)) if w is None else np.asarray(w, dtype=np.float64)
    return float(np.sum(w * values) / np.sum(w)) if np.sum(w) else 0.0


def ref_binary_accuracy(p, t, threshold=0.5):
    return np.mean((p > threshold).astype(np.float64) == t, axis=-1)


def ref_in_top_k(p, labels, k):
    at_label = p[np.arange(len(p)), labels]
    return (np.sum(p > at_label[:, None], axis=1) < k).astype(np.float64)


def ref_confusion_at(p, t, w, threshold):
    """Weighted tp, fp, fn at one threshold, elements flattened (Keras' standard path)."""
    w = np.broadcast_to((np.ones(len(p)) if w is None else w.astype(np.float64))[:, None], p.shape)
    pos, pred = t != 0, p > threshold
    return np.sum(w * (pos & pred)), np.sum(w * (~pos & pred)), np.sum(w * (pos & ~pred))


def ref_auc_counts(p, t, w, num_thresholds, dtype, thresholds=None):
    """tp, fp, tn, fn at Keras' AUC thresholds, as arrays (num_thresholds, labels).

    Evenly spaced thresholds (the default): a prediction clipped to [0, 1] is above threshold i when
    p * (n - 1) > i (Keras computes ceil(p * (n - 1)) - 1 >= i, in the metric's float type), and always above
    -epsilon, never above 1 + epsilon. Explicit uneven thresholds: p > threshold, unclipped.
    Columns are labels; the caller flattens them for multi_label=False."""
    n = num_thresholds
    w = np.ones(len(p)) if w is None else w
    w = np.broadcast_to(w[:, None], p.shape)
    pos = (t != 0)
    if thresholds is None:
        q = np.clip(p, 0, 1).astype(dtype)
        scaled = (q * dtype(n - 1)).astype(np.float64)
        above = np.stack([np.ones(p.shape, bool)] + [scaled > i for i in range(1, n - 1)]
                         + [np.zeros(p.shape, bool)])
    else:
        cuts = np.array([-1e-7] + sorted(thresholds) + [1 + 1e-7]).astype(dtype).astype(np.float64)
        above = p[None] > cuts[:, None, None]
    tp = np.sum(w * (pos & above), axis=1)
    fp = np.sum(w * (~pos & above), axis=1)
    fn = np.sum(w * (pos & ~above), axis=1)
    tn = np.sum(w * (~pos & ~above), axis=1)
    return tp, fp, tn, fn


def div0(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    out = np.zeros_like(a)
    np.divide(a, b, out=out, where=b != 0)
    return out


def ref_auc_from_counts(tp, fp, tn, fn, curve="ROC", summation="interpolation"):
    """Keras' AUC.result for 1-D count arrays."""
    if curve == "PR" and summation == "interpolation":  # AUC.interpolate_pr_auc
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        slope = div0(dtp, np.maximum(p[:-1] - p[1:], 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), div0(p[:-1], np.maximum(p[1:], 0)), 1.0)
        return float(np.sum(div0(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))))
    recall = div0(tp, tp + fn)
    if curve == "ROC":
        x, y = div0(fp, fp + tn), recall
    else:
        x, y = recall, div0(tp, tp + fp)
    heights = {"interpolation": (y[:-1] + y[1:]) / 2, "minoring": np.minimum(y[:-1], y[1:]),
               "majoring": np.maximum(y[:-1], y[1:])}[summation]
    return float(np.sum((x[:-1] - x[1:]) * heights))


def ref_auc(p, t, w, dtype, num_thresholds=200, curve="ROC", summation="interpolation", thresholds=None,
            multi_label=False, label_weights=None, from_logits=False):
    if from_logits:
        p = 1 / (1 + np.exp(-p))
    if thresholds is not None:
        num_thresholds = len(thresholds) + 2
        even = np.arange(num_thresholds, dtype=np.float32) / (num_thresholds - 1)
        if np.allclose([0.0] + sorted(thresholds) + [1.0], even, atol=1e-7):
            thresholds = None  # Keras then uses the evenly-spaced path
    if not multi_label:
        lw = np.ones(p.shape[1]) if label_weights is None else np.asarray(label_weights, np.float64)
        # Flattened: each (sample, output) pair is a data point weighted by w * label_weight.
        flat_w = (np.ones(len(p)) if w is None else w)[:, None] * lw[None, :]
        p, t, w = p.reshape(-1, 1), t.reshape(-1, 1), flat_w.reshape(-1)
    tp, fp, tn, fn = ref_auc_counts(p, t, w, num_thresholds, dtype, thresholds)
    by_label = [ref_auc_from_counts(tp[:, j], fp[:, j], tn[:, j], fn[:, j], curve, summation)
                for j in range(tp.shape[1])]
    if not multi_label:
        return by_label[0]
    if label_weights is None:
        return float(np.mean(by_label))
    return float(div0(np.dot(by_label, label_weights), np.sum(label_weights)))


def rank_auc(scores, labels, w=None):
    """P(score of a positive > score of a negative), pairs weighted by w_pos * w_neg (no ties in the data)."""
    w = np.ones(len(scores)) if w is None else w
    pos, neg = labels == 1, labels == 0
    greater = scores[pos][:, None] > scores[neg][None, :]
    pair_w = w[pos][:, None] * w[neg][None, :]
    return float(np.sum(pair_w * greater) / np.sum(pair_w))


# ----------------------------------------------------------------------------- data

def binary_data(seed=0, width=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=2.0, size=(N, width)).astype(np.float32)
    y = (rng.uniform(size=(N, width)) < 1 / (1 + np.exp(-x))).astype(np.float32)  # informative labels
    return x, y


def categorical_data(seed=0, k=6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, k)).astype(np.float32)
    labels = np.where(rng.uniform(size=N) < 0.5, x.argmax(axis=1), rng.integers(0, k, N))
    return x, labels.astype(np.float32), np.eye(k, dtype=np.float32)[labels]


def weights(seed=5):
    w = np.random.default_rng(seed).uniform(0.0, 2.0, N).astype(np.float32)
    w[::10] = 0.0  # zero weights mask samples
    return w


# ----------------------------------------------------------------------------- mean metrics

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_binary_accuracy_and_threshold(floatx, weighted):
    x, y = binary_data(width=3)
    sw = weights() if weighted else None
    ms = ["binary_accuracy", metrics.BinaryAccuracy(threshold=0.7, name="ba7"), metrics.Accuracy()]
    model = identity_model(3, "sigmoid", "binary_crossentropy",
                           metrics_=None if weighted else ms, weighted=ms if weighted else None)
    results, p = evaluate_all(model, x, y, sw)
    assert_metric(results, "binary_accuracy", mean_over_samples(ref_binary_accuracy(p, y), sw))
    assert_metric(results, "ba7", mean_over_samples(ref_binary_accuracy(p, y, 0.7), sw))
    # keras.metrics.Accuracy: exact equality (sigmoid outputs never equal 0/1 labels here)
    assert_metric(results, "accuracy", mean_over_samples(np.mean(p == y, axis=1), sw))


def test_accuracy_class_is_exact_equality():
    x = np.array([[0.0], [2.0], [3.0], [4.0], [1.0]], dtype=np.float32)
    y = np.array([1.0, 2.0, 3.0, 4.0, 1.0], dtype=np.float32)
    model = identity_model(1, metrics_=[metrics.Accuracy(), "accuracy"])
    for b in (1, 2, 5):
        logs = model.evaluate(x, y, batch_size=b, verbose=0, return_dict=True)
        assert logs["accuracy"] == pytest.approx(0.8)  # equality: 4 of 5
        assert logs["accuracy_1"] == pytest.approx(0.2)  # 'accuracy' -> binary: (p > 0.5) == y only for row 4


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_categorical_and_top_k_accuracy(floatx, weighted):
    x, labels, onehot = categorical_data()
    sw = weights() if weighted else None
    ms = ["categorical_accuracy", metrics.TopKCategoricalAccuracy(), metrics.TopKCategoricalAccuracy(k=2, name="top2"),
          "top_k_categorical_accuracy"]
    model = identity_model(6, "softmax", "categorical_crossentropy",
                           metrics_=None if weighted else ms, weighted=ms if weighted else None)
    results, p = evaluate_all(model, x, onehot, sw)
    assert_metric(results, "categorical_accuracy", mean_over_samples(p.argmax(1) == labels, sw))
    assert_metric(results, "top_k_categorical_accuracy", mean_over_samples(ref_in_top_k(p, labels.astype(int), 5), sw))
    # A repeated name: name_1 among metrics, weighted_name among weighted_metrics (as Keras names them).
    duplicate = "weighted_top_k_categorical_accuracy" if weighted else "top_k_categorical_accuracy_1"
    assert_metric(results, duplicate, mean_over_samples(ref_in_top_k(p, labels.astype(int), 5), sw))
    assert_metric(results, "top2", mean_over_samples(ref_in_top_k(p, labels.astype(int), 2), sw))


@pytest.mark.parametrize("label_shape", ["(n,)", "(n,1)"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_sparse_categorical_and_sparse_top_k_accuracy(floatx, label_shape, weighted):
    x, labels, _ = categorical_data(seed=3)
    y = labels if label_shape == "(n,)" else labels[:, None]
    sw = weights() if weighted else None
    ms = ["sparse_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy(k=3), "accuracy"]
    model = identity_model(6, "softmax", "sparse_categorical_crossentropy",
                           metrics_=None if weighted else ms, weighted=ms if weighted else None)
    results, p = evaluate_all(model, x, y, sw)
    expected = mean_over_samples(p.argmax(1) == labels, sw)
    assert_metric(results, "sparse_categorical_accuracy", expected)
    assert_metric(results, "accuracy", expected)  # resolved to sparse
    assert_metric(results, "sparse_top_k_categorical_accuracy",
                  mean_over_samples(ref_in_top_k(p, labels.astype(int), 3), sw))


def test_top_k_ties_count_as_in():
    # in_top_k: in when fewer than k classes score strictly higher.
    x = np.array([[0.5, 0.5, 0.5, 0.1], [0.9, 0.5, 0.5, 0.5], [0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
    labels = np.array([2, 3, 0], dtype=np.float32)
    model = identity_model(4, loss="sparse_categorical_crossentropy",
                           metrics_=[metrics.SparseTopKCategoricalAccuracy(k=1, name="k1"),
                                     metrics.SparseTopKCategoricalAccuracy(k=2, name="k2")])
    logs = model.evaluate(x, labels, verbose=0, return_dict=True)
    assert logs["k1"] == pytest.approx(1 / 3)  # row 0 (tied for first)
    assert logs["k2"] == pytest.approx(2 / 3)  # rows 0 and 1 (tied for second)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_mae_mse_rmse(floatx, weighted):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(N, 3)).astype(np.float32)
    y = rng.normal(size=(N, 3)).astype(np.float32)
    sw = weights() if weighted else None
    ms = ["mae", "mse", metrics.MeanAbsoluteError(), metrics.MeanSquaredError(), metrics.RootMeanSquaredError(),
          "mean_absolute_error", "MAE"]
    model = identity_model(3, metrics_=None if weighted else ms, weighted=ms if weighted else None)
    results, p = evaluate_all(model, x, y, sw)
    d = p - y.astype(np.float64)
    mae, mse = mean_over_samples(np.mean(np.abs(d), 1), sw), mean_over_samples(np.mean(d ** 2, 1), sw)
    repeated = "weighted_mean_absolute_error" if weighted else "mean_absolute_error_1"
    for name in ("mae", "mean_absolute_error", repeated, "MAE"):
        assert_metric(results, name, mae)
    for name in ("mse", "mean_squared_error"):
        assert_metric(results, name, mse)
    assert_metric(results, "root_mean_squared_error", np.sqrt(mse))


def test_elementwise_metrics_broadcast_integer_labels_over_outputs():
    # sparse_categorical_crossentropy targets are (n, 1); Keras broadcasts them against (n, K) for mae / mse.
    x, labels, _ = categorical_data(k=4)
    model = identity_model(4, "softmax", "sparse_categorical_crossentropy", metrics_=["mae", "mse"])
    results, p = evaluate_all(model, x, labels)
    assert_metric(results, "mae", np.mean(np.abs(p - labels[:, None])))
    assert_metric(results, "mse", np.mean((p - labels[:, None]) ** 2))


# ----------------------------------------------------------------------------- precision / recall

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_precision_recall(floatx, weighted):
    x, y = binary_data(seed=2, width=2)
    sw = weights() if weighted else None
    ms = [metrics.Precision(), metrics.Recall(), metrics.Precision(thresholds=0.8, name="p8"),
          metrics.Recall(thresholds=[0.3], name="r3"), "precision", "recall"]
    model = identity_model(2, "sigmoid", "binary_crossentropy",
                           metrics_=None if weighted else ms, weighted=ms if weighted else None)
    results, p = evaluate_all(model, x, y, sw)
    for threshold, pname, rname in ((0.5, "precision", "recall"), (0.8, "p8", None), (0.3, None, "r3")):
        tp, fp, fn = ref_confusion_at(p, y, sw, threshold)
        if pname:
            assert_metric(results, pname, tp / (tp + fp))
        if rname:
            assert_metric(results, rname, tp / (tp + fn))
    prefix, suffix = ("weighted_", "") if weighted else ("", "_1")
    assert_metric(results, f"{prefix}precision{suffix}", results[0]["precision"])
    assert_metric(results, f"{prefix}recall{suffix}", results[0]["recall"])


def test_precision_recall_top_k_and_class_id():
    x, _, onehot = categorical_data(seed=4, k=5)
    ms = [metrics.Precision(top_k=2, name="p_top2"), metrics.Recall(top_k=2, name="r_top2"),
          metrics.Precision(class_id=1, name="p_c1"), metrics.Recall(class_id=1, name="r_c1"),
          metrics.Precision(top_k=1, class_id=3, name="p_top1_c3")]
    model = identity_model(5, "softmax", "categorical_crossentropy", metrics_=ms)
    results, p = evaluate_all(model, x, onehot)
    # top_k: only each row's k highest predictions (ties to the lower index) are positive (threshold NEG_INF).
    order = np.argsort(-p, axis=1, kind="stable")
    top2 = np.zeros_like(p, dtype=bool)
    np.put_along_axis(top2, order[:, :2], True, axis=1)
    pos = onehot != 0
    assert_metric(results, "p_top2", np.sum(pos & top2) / np.sum(top2))
    assert_metric(results, "r_top2", np.sum(pos & top2) / np.sum(pos))
    c1_pred, c1_pos = p[:, 1] > 0.5, pos[:, 1]
    assert_metric(results, "p_c1", np.sum(c1_pred & c1_pos) / max(np.sum(c1_pred), 1))
    assert_metric(results, "r_c1", np.sum(c1_pred & c1_pos) / np.sum(c1_pos))
    top1_c3 = order[:, 0] == 3
    assert_metric(results, "p_top1_c3", np.sum(top1_c3 & pos[:, 3]) / np.sum(top1_c3))


def test_precision_with_no_positive_predictions_is_zero():
    x = np.full((4, 1), -3.0, dtype=np.float32)
    model = identity_model(1, "sigmoid", "binary_crossentropy", metrics_=["precision", "recall", "auc"])
    logs = model.evaluate(x, np.array([0, 1, 0, 1], np.float32), verbose=0, return_dict=True)
    assert logs["precision"] == 0.0 and logs["recall"] == 0.0  # divide_no_nan
    # all predictions equal: the ROC curve is the diagonal
    assert logs["auc"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- AUC

AUC_CASES = {
    "roc": dict(),
    "pr": dict(curve="PR"),
    "roc-50": dict(num_thresholds=50),
    "roc-minoring": dict(summation_method="minoring"),
    "roc-majoring": dict(summation_method="majoring"),
    "pr-minoring": dict(curve="PR", summation_method="minoring"),
    "pr-majoring": dict(curve="PR", summation_method="majoring"),
    "even-thresholds": dict(thresholds=[0.25, 0.5, 0.75]),  # evenly spaced: Keras' bucket path
    "uneven-thresholds": dict(thresholds=[0.9, 0.1, 0.3, 0.35]),  # the general path
    "pr-uneven": dict(curve="PR", thresholds=[0.2, 0.45, 0.5, 0.95]),
}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", list(AUC_CASES))
def test_auc_matches_keras_formula(floatx, case, weighted):
    kwargs = AUC_CASES[case]
    x, y = binary_data(seed=6)
    sw = weights() if weighted else None
    ms = [metrics.AUC(**kwargs)]
    model = identity_model(1, "sigmoid", "binary_crossentropy",
                           metrics_=None if weighted else ms, weighted=ms if weighted else None)
    results, p = evaluate_all(model, x, y, sw)
    expected = ref_auc(p, y, None if sw is None else sw.astype(np.float64), np.dtype(floatx).type,
                       num_thresholds=kwargs.get("num_thresholds", 200), curve=kwargs.get("curve", "ROC"),
                       summation=kwargs.get("summation_method", "interpolation"),
                       thresholds=kwargs.get("thresholds"))
    assert 0.5 < expected < 1.0
    assert_metric(results, "auc", expected, rel=1e-9)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_auc_close_to_rank_auc(weighted):
    rng = np.random.default_rng(8)
    x = rng.normal(scale=1.5, size=(400, 1)).astype(np.float32)  # continuous: no ties
    y = (rng.uniform(size=(400, 1)) < 1 / (1 + np.exp(-x))).astype(np.float32)
    sw = rng.uniform(0.1, 2.0, 400).astype(np.float32) if weighted else None
    model = identity_model(1, "sigmoid", "binary_crossentropy", metrics_=None if weighted else ["auc"],
                           weighted=["auc"] if weighted else None)
    logs = model.evaluate(x, y, sample_weight=sw, batch_size=64, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)[:, 0].astype(np.float64)
    assert len(np.unique(p)) == len(p)
    assert logs["auc"] == pytest.approx(rank_auc(p, y[:, 0], sw), abs=1e-2)


def test_auc_flattens_several_outputs_and_multi_label():
    x, y = binary_data(seed=9, width=3)
    y[:, 2] = (x[:, 2] < 0)  # the third output is anti-correlated
    lw = [1.0, 2.0, 0.5]
    ms = [metrics.AUC(name="flat"), metrics.AUC(multi_label=True, name="multi"),
          metrics.AUC(multi_label=True, num_labels=3, label_weights=lw, name="multi_lw"),
          metrics.AUC(label_weights=lw, name="flat_lw"), metrics.AUC(curve="PR", multi_label=True, name="multi_pr")]
    model = identity_model(3, "sigmoid", "binary_crossentropy", metrics_=ms)
    results, p = evaluate_all(model, x, y)
    f32 = np.float32
    assert_metric(results, "flat", ref_auc(p, y, None, f32))
    assert_metric(results, "multi", ref_auc(p, y, None, f32, multi_label=True))
    assert_metric(results, "multi_lw", ref_auc(p, y, None, f32, multi_label=True, label_weights=lw))
    assert_metric(results, "flat_lw", ref_auc(p, y, None, f32, label_weights=lw))
    assert_metric(results, "multi_pr", ref_auc(p, y, None, f32, curve="PR", multi_label=True))


def test_auc_from_logits_and_clipping():
    # Linear outputs: from_logits=True applies the sigmoid; without it, predictions are clipped to [0, 1].
    x, y = binary_data(seed=10)
    model = identity_model(1, "linear", "mse", metrics_=[metrics.AUC(from_logits=True, name="logits"),
                                                         metrics.AUC(name="clipped")])
    results, p = evaluate_all(model, x, y)
    assert_metric(results, "logits", ref_auc(p, y, None, np.float32, from_logits=True))
    assert_metric(results, "clipped", ref_auc(p, y, None, np.float32))
    assert results[0]["clipped"] < results[0]["logits"]  # clipping merges most predictions into the end buckets


# ----------------------------------------------------------------------------- Keras' docstring examples

def _docstring_case(metric, y_true, y_pred, loss="mse", sample_weight=None):
    y_pred = np.asarray(y_pred, np.float32)
    model = identity_model(y_pred.shape[1], loss=loss, metrics_=None if sample_weight is not None else [metric],
                           weighted=[metric] if sample_weight is not None else None)
    sw = None if sample_weight is None else np.asarray(sample_weight, np.float32)
    return model.evaluate(y_pred, np.asarray(y_true, np.float32), sample_weight=sw, verbose=0, return_dict=True)


@pytest.mark.parametrize("make, y_true, y_pred, loss, sw, expected", [
    (metrics.Accuracy, [[1], [2], [3], [4]], [[0], [2], [3], [4]], "mse", None, 0.75),
    (metrics.Accuracy, [[1], [2], [3], [4]], [[0], [2], [3], [4]], "mse", [1, 1, 0, 0], 0.5),
    (metrics.BinaryAccuracy, [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], "mse", None, 0.75),
    (metrics.BinaryAccuracy, [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], "mse", [1, 0, 0, 1], 0.5),
    (metrics.CategoricalAccuracy, [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], "mse", None, 0.5),
    (metrics.CategoricalAccuracy, [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], "mse", [0.7, 0.3],
     0.3),
    (metrics.SparseCategoricalAccuracy, [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]],
     "sparse_categorical_crossentropy", None, 0.5),
    (metrics.SparseCategoricalAccuracy, [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]],
     "sparse_categorical_crossentropy", [0.7, 0.3], 0.3),
    (lambda: metrics.TopKCategoricalAccuracy(k=1), [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
     "mse", [0.7, 0.3], 0.3),
    (lambda: metrics.SparseTopKCategoricalAccuracy(k=1), [2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
     "sparse_categorical_crossentropy", None, 0.5),
    (metrics.MeanAbsoluteError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], "mse", None, 0.25),
    (metrics.MeanAbsoluteError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], "mse", [1, 0], 0.5),
    (metrics.MeanSquaredError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], "mse", None, 0.25),
    (metrics.RootMeanSquaredError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], "mse", None, 0.5),
    (metrics.RootMeanSquaredError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], "mse", [1, 0], 0.70710677),
    # y of shape (4,) in Keras: here one sample with four outputs
    (metrics.Precision, [[0, 1, 1, 1]], [[1, 0, 1, 1]], "mse", None, 2 / 3),
    (lambda: metrics.Precision(top_k=2), [[0, 0, 1, 1]], [[1, 1, 1, 1]], "mse", None, 0.0),
    (lambda: metrics.Precision(top_k=4), [[0, 0, 1, 1]], [[1, 1, 1, 1]], "mse", None, 0.5),
    (metrics.Recall, [[0, 1, 1, 1]], [[1, 0, 1, 1]], "mse", None, 2 / 3),
    (lambda: metrics.AUC(num_thresholds=3), [[0], [0], [1], [1]], [[0], [0.5], [0.3], [0.9]], "mse", None, 0.75),
    (lambda: metrics.AUC(num_thresholds=3), [[0], [0], [1], [1]], [[0], [0.5], [0.3], [0.9]], "mse",
     [1, 0, 0, 1], 1.0),
])
def test_keras_docstring_examples(make, y_true, y_pred, loss, sw, expected):
    logs = _docstring_case(make(), y_true, y_pred, loss, sw)
    (value,) = [v for k, v in logs.items() if k != "loss"]
    assert value == pytest.approx(expected, rel=1e-6)


def test_precision_recall_sample_weight_per_sample_docstring():
    # Keras: Precision().update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0]) -> 1.0
    # (weights per data point: here four samples of one output).
    y, p, sw = [[0], [1], [1], [1]], [[1], [0], [1], [1]], [0, 0, 1, 0]
    assert _docstring_case(metrics.Precision(), y, p, sample_weight=sw)["precision"] == pytest.approx(1.0)
    assert _docstring_case(metrics.Recall(), y, p, sample_weight=sw)["recall"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- 'accuracy' and names

def _resolved(model, x, y):
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    return logs


def test_accuracy_string_resolution():
    rng = np.random.default_rng(2)
    # one output -> binary accuracy (threshold 0.5), whatever the loss
    xb, yb = binary_data()
    for loss in ("binary_crossentropy", "mse"):
        model = identity_model(1, "sigmoid", loss, metrics_=["accuracy", "binary_accuracy"])
        logs = model.evaluate(xb, yb, verbose=0, return_dict=True)
        assert logs["accuracy"] == logs["binary_accuracy"]
    # integer labels (sparse_categorical_crossentropy) -> sparse categorical accuracy
    x, labels, onehot = categorical_data()
    model = identity_model(6, "softmax", "sparse_categorical_crossentropy", metrics_=["acc"])
    assert model.evaluate(x, labels, verbose=0, return_dict=True)["acc"] == pytest.approx(
        np.mean(x.argmax(1) == labels))
    # anything else with several outputs -> categorical accuracy, including binary_crossentropy on
    # multi-label targets (Keras' rule looks at the shapes only)
    for loss in ("categorical_crossentropy", "mse", "binary_crossentropy"):
        model = identity_model(6, "softmax", loss, metrics_=["accuracy", "categorical_accuracy"])
        logs = model.evaluate(x, onehot, verbose=0, return_dict=True)
        assert logs["accuracy"] == logs["categorical_accuracy"]
    multi = (rng.uniform(size=x.shape) < 0.3).astype(np.float32)
    model = identity_model(6, "sigmoid", "binary_crossentropy", metrics_=["accuracy"])
    p = model.predict(x, verbose=0)
    assert model.evaluate(x, multi, verbose=0, return_dict=True)["accuracy"] == pytest.approx(
        np.mean(p.argmax(1) == multi.argmax(1)))


def test_logged_names():
    x, labels, onehot = categorical_data(k=6)
    model = identity_model(6, "softmax", "categorical_crossentropy", metrics_=[
        "acc", "Accuracy", "mae", "mse", "auc", "AUC", "precision", "MeanSquaredError",
        metrics.AUC(), metrics.Precision(), metrics.Recall(), metrics.TopKCategoricalAccuracy(),
        metrics.CategoricalAccuracy(), metrics.MeanAbsoluteError(), metrics.MeanSquaredError(),
        metrics.BinaryAccuracy(name="custom"), metrics.AUC(curve="PR")])
    expected = ["loss", "acc", "Accuracy", "mae", "mse", "auc", "AUC", "precision", "MeanSquaredError",
                "auc_1", "precision_1", "recall", "top_k_categorical_accuracy", "categorical_accuracy",
                "mean_absolute_error", "mean_squared_error", "custom", "auc_2"]
    assert model.metrics_names == expected
    logs = model.evaluate(x, onehot, verbose=0, return_dict=True)
    assert sorted(logs) == sorted(expected)
    assert logs["acc"] == logs["Accuracy"] == logs["categorical_accuracy"]
    assert logs["auc"] == logs["AUC"] == logs["auc_1"] != logs["auc_2"]
    sparse = identity_model(6, "softmax", "sparse_categorical_crossentropy",
                            metrics_=[metrics.SparseCategoricalAccuracy(), metrics.SparseTopKCategoricalAccuracy()])
    assert sparse.metrics_names == ["loss", "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy"]


def test_metrics_ignore_sample_weight_and_weighted_metrics_use_it():
    # Keras 3 (trainers/compile_utils.py, CompileMetrics.update_state): compile(metrics=...) is updated without
    # sample_weight; weighted_metrics with it. A clashing weighted name gets the 'weighted_' prefix.
    x, y = binary_data(seed=12)
    sw = weights()
    model = identity_model(1, "sigmoid", "binary_crossentropy", metrics_=["accuracy", "auc"],
                           weighted=["accuracy", "auc", metrics.AUC(name="wauc")])
    assert model.metrics_names == ["loss", "accuracy", "auc", "weighted_accuracy", "weighted_auc", "wauc"]
    results, p = evaluate_all(model, x, y, sw)
    correct = ((p > 0.5) == y)[:, 0]
    assert_metric(results, "accuracy", np.mean(correct))
    assert_metric(results, "weighted_accuracy", mean_over_samples(correct, sw))
    assert_metric(results, "auc", ref_auc(p, y, None, np.float32))
    assert_metric(results, "weighted_auc", ref_auc(p, y, sw.astype(np.float64), np.float32))
    assert_metric(results, "wauc", results[0]["weighted_auc"])
    # without sample weights both are the same
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["accuracy"] == logs["weighted_accuracy"] and logs["auc"] == logs["weighted_auc"]


def test_fit_history_has_metrics_and_val_metrics():
    x, labels, onehot = categorical_data()
    xv, labels_v, onehot_v = categorical_data(seed=1)
    model = identity_model(6, "softmax", "categorical_crossentropy",
                           metrics_=["acc", metrics.AUC(), metrics.TopKCategoricalAccuracy(k=2)],
                           weighted=["mae"])
    sw = weights()
    history = model.fit(x, onehot, epochs=2, batch_size=16, verbose=0, sample_weight=sw,
                        validation_data=(xv, onehot_v))
    keys = {"loss", "acc", "auc", "top_k_categorical_accuracy", "mae"}
    assert set(history.history) == keys | {"val_" + k for k in keys}
    # The model has no weights: every epoch's training metrics are those of evaluate() on the training data
    # (accumulated over the shuffled epoch), the val_ ones those on the validation data.
    train = model.evaluate(x, onehot, sample_weight=sw, verbose=0, return_dict=True)
    val = model.evaluate(xv, onehot_v, verbose=0, return_dict=True)
    # (Up to float32 rounding: the softmax of a row may differ in its last bit with its place in a batch.)
    for k in keys:
        assert history.history[k] == pytest.approx([train[k]] * 2, rel=1e-6)
        assert history.history["val_" + k] == pytest.approx([val[k]] * 2, rel=1e-6)


def test_validation_split_history_keys():
    x, y = binary_data()
    model = identity_model(1, "sigmoid", "binary_crossentropy", metrics_=["accuracy", "precision", "recall"])
    history = model.fit(x, y, epochs=1, verbose=0, validation_split=0.25)
    assert sorted(history.history) == ["accuracy", "loss", "precision", "recall", "val_accuracy", "val_loss",
                                       "val_precision", "val_recall"]


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("make, message", [
    (lambda: metrics.get("accuracyy"), r"^Unknown metric 'accuracyy'\. Valid metrics: accuracy, acc, "
                                       r"binary_accuracy, .*\bauc\b.*\bprecision\b.*\brecall\b"),
    (lambda: metrics.get(lambda y, p: 0), r"custom metric functions are not supported"),
    (lambda: metrics.BinaryAccuracy(threshold=1.0), r"Expected a value in interval \(0, 1\)"),
    (lambda: metrics.AUC(num_thresholds=1), r"`num_thresholds` must be an integer > 1"),
    (lambda: metrics.AUC(curve="ROCK"), r'Invalid AUC curve value: "ROCK"'),
    (lambda: metrics.AUC(summation_method="trapezoid"), r"Invalid AUC summation method"),
    (lambda: metrics.AUC(num_labels=3), r"`num_labels` is needed only when `multi_label` is True"),
    (lambda: metrics.Precision(thresholds=1.5), r"Threshold values must be in \[0, 1\]"),
    (lambda: metrics.Recall(thresholds=[0.3, 0.6]), r"one threshold per metric"),
    (lambda: metrics.TopKCategoricalAccuracy(k=0), r"k must be a positive integer"),
])
def test_bad_metric_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("loss, metric, message", [
    ("sparse_categorical_crossentropy", "categorical_accuracy", r"use 'sparse_categorical_accuracy'"),
    ("sparse_categorical_crossentropy", metrics.TopKCategoricalAccuracy(), r"sparse_top_k_categorical_accuracy"),
    ("categorical_crossentropy", "sparse_categorical_accuracy", r"use 'categorical_accuracy'"),
    ("categorical_crossentropy", metrics.SparseTopKCategoricalAccuracy(), r"'top_k_categorical_accuracy'"),
    ("sparse_categorical_crossentropy", "auc", r"'auc' needs targets as wide as the model's output"),
    ("categorical_crossentropy", metrics.Precision(class_id=6), r"class_id must be in \[0, 6\)"),
    ("categorical_crossentropy", metrics.AUC(label_weights=[1, 2]), r"one weight per output"),
    ("categorical_crossentropy", metrics.AUC(multi_label=True, num_labels=2), r"num_labels=2 does not match"),
])
def test_metric_and_loss_that_do_not_fit(loss, metric, message):
    model = Sequential([Input(shape=(6,)), layers.Activation("softmax")])
    with pytest.raises(ValueError, match=message):
        model.compile(optimizer="sgd", loss=loss, metrics=[metric])
    assert not model.compiled  # a failed compile leaves the model as it was


def test_weighted_metrics_must_be_a_list():
    model = Sequential([Input(shape=(1,)), layers.Activation("sigmoid")])
    with pytest.raises(ValueError, match=r"^compile: weighted_metrics must be a list"):
        model.compile(optimizer="sgd", loss="binary_crossentropy", weighted_metrics="accuracy")


# ----------------------------------------------------------------------------- against Keras itself

# (x, y, activation, loss, metrics, weighted_metrics); m is keras.metrics or densenn.metrics. Objects whose
# default name Keras would number across the process (AUC, Precision, Recall) are given names.
KERAS_CASES = {
    "binary": ("binary", "sigmoid", "binary_crossentropy", lambda m: [
        "accuracy", "acc", "binary_accuracy", m.BinaryAccuracy(threshold=0.7, name="ba7"), m.Accuracy(), "mae",
        "mse", m.RootMeanSquaredError(), "auc", m.AUC(curve="PR", name="pr"), m.AUC(num_thresholds=7, name="a7"),
        m.AUC(summation_method="minoring", name="amin"), m.AUC(curve="PR", summation_method="majoring", name="pmaj"),
        m.AUC(thresholds=[0.9, 0.1, 0.3, 0.35], name="uneven"), m.AUC(thresholds=[0.25, 0.5, 0.75], name="even"),
        m.Precision(name="p"), m.Recall(name="r"), m.Precision(thresholds=0.8, name="p8"), "precision", "AUC"],
        lambda m: ["accuracy", "auc", m.AUC(curve="PR", name="wpr"), m.Precision(name="wp"), "mae"]),
    "logits": ("binary", "linear", "mse", lambda m: [
        m.AUC(from_logits=True, name="logits"), m.AUC(name="clipped"), m.Precision(thresholds=0.0, name="p0"),
        m.AUC(thresholds=[0.9, 0.1, 0.3], name="unclipped")], lambda m: []),
    "multi": ("multi", "sigmoid", "binary_crossentropy", lambda m: [
        "accuracy", "binary_accuracy", m.AUC(name="flat"), m.AUC(multi_label=True, name="ml"),
        m.AUC(multi_label=True, num_labels=3, label_weights=[1.0, 2.0, 0.5], name="mllw"),
        m.AUC(label_weights=[1.0, 2.0, 0.5], name="flatlw"), m.AUC(curve="PR", multi_label=True, name="mlpr"),
        m.Precision(class_id=1, name="pc1"), m.Recall(top_k=1, name="rtop1"), m.Precision(top_k=2, name="ptop2")],
        lambda m: [m.AUC(multi_label=True, name="wml"), m.Recall(top_k=1, name="wrtop1")]),
    "categorical": ("categorical", "softmax", "categorical_crossentropy", lambda m: [
        "accuracy", "categorical_accuracy", m.TopKCategoricalAccuracy(), m.TopKCategoricalAccuracy(k=2, name="t2"),
        "top_k_categorical_accuracy", "mse", m.Precision(top_k=1, class_id=3, name="p13")],
        lambda m: ["accuracy", m.TopKCategoricalAccuracy(k=2, name="wt2")]),
    "multi_label_accuracy": ("multi", "sigmoid", "binary_crossentropy", lambda m: ["accuracy"], lambda m: []),
    "sparse": ("sparse", "softmax", "sparse_categorical_crossentropy", lambda m: [
        "accuracy", "acc", "sparse_categorical_accuracy", m.SparseTopKCategoricalAccuracy(k=3), "mae", "mse"],
        lambda m: ["accuracy", m.SparseTopKCategoricalAccuracy(k=2, name="wst2")]),
    "regression": ("regression", "linear", "mse", lambda m: [
        "mae", "mse", "MAE", m.MeanAbsoluteError(), m.MeanSquaredError(), m.RootMeanSquaredError(),
        "mean_absolute_error"], lambda m: ["mae", m.RootMeanSquaredError(name="wrmse")]),
}


def _keras_data(kind):
    if kind == "binary":
        return binary_data(seed=20)
    if kind == "multi":
        return binary_data(seed=21, width=3)
    if kind in ("categorical", "sparse"):
        x, labels, onehot = categorical_data(seed=22)
        return x, (onehot if kind == "categorical" else labels[:, None])  # Keras broadcasts (n, 1) labels only
    rng = np.random.default_rng(23)
    return rng.normal(size=(N, 3)).astype(np.float32), rng.normal(size=(N, 3)).astype(np.float32)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", list(KERAS_CASES))
def test_matches_keras(keras, case, weighted):
    kind, activation, loss, make_metrics, make_weighted = KERAS_CASES[case]
    x, y = _keras_data(kind)
    sw = weights() if weighted else None
    k_model = keras.Sequential([keras.Input(shape=(x.shape[1],)), keras.layers.Activation(activation)])
    k_model.compile(optimizer="sgd", loss=loss, metrics=make_metrics(keras.metrics),
                    weighted_metrics=make_weighted(keras.metrics))
    model = identity_model(x.shape[1], activation, loss, make_metrics(metrics), make_weighted(metrics))
    for batch_size in (32,):  # (accumulation across batch sizes is tested above)
        expected = k_model.evaluate(x, y, sample_weight=sw, batch_size=batch_size, verbose=0, return_dict=True)
        got = model.evaluate(x, y, sample_weight=sw, batch_size=batch_size, verbose=0, return_dict=True)
        assert sorted(got) == sorted(expected)
        for name in expected:  # Keras accumulates in float32
            assert got[name] == pytest.approx(float(expected[name]), rel=1e-5, abs=2e-6), name
