"""Input checks and conversion for fit/evaluate/predict: any array-like of numbers becomes the C-contiguous
float array of the model's dtype that the C++ core reads, or a ValueError that says which argument, what was
expected and what came."""
import math

import numpy as np

from ._core import core as _core_module

# Batches up to this size skip the Python-side checks when they need no conversion (the core checks them).
LEAN_PREDICT_ROWS = 256


def positive_int(value, argument, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        raise ValueError(f"{argument}: expected an integer {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return int(value)


def number(value, argument, low=0.0, high=None, low_open=False, high_open=False):
    """value as a float when it is a finite number in the range (high None: unbounded), else ValueError: the
    one check of a layer's or optimizer's numeric argument (the C++ core takes the values it is sent)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
        raise ValueError(f"{argument}: expected a finite number, got {value!r}")
    value = float(value)
    if value < low or (low_open and value == low) or (high is not None and (value > high or (high_open and value == high))):
        lo, hi = ("(" if low_open else "["), ("" if high is None else (")" if high_open else "]"))
        raise ValueError(f"{argument}: expected a value in {lo}{low}, {high if high is not None else 'inf'}{hi or ')'}, got {value}")
    return value


def positive_count(value, argument, owner):
    """A count of units, pieces, k...: an integer > 0, refused as "<owner>: <argument> must be a positive integer"."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {argument} must be a positive integer, got {value!r}")
    return int(value)


def numeric_array(value, argument):
    """Any array-like of numbers as an ndarray (no copy where it already is one); strings, objects, ragged
    lists and masked arrays with masked values are refused."""
    if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):
        raise ValueError(f"{argument}: expected an array of numbers, got a masked array with masked values "
                         f"(fill them first, e.g. {argument}.filled(0))")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, RuntimeError) as e:  # ragged nested lists, tensors that refuse NumPy
        raise ValueError(f"{argument}: expected a rectangular array of numbers ({e})") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{argument}: expected numbers, got an array of dtype {array.dtype}")
    return array


def converted(array, dtype, argument, copy=False):
    """`array` as a C-contiguous array of `dtype` (no copy when it already is one, unless `copy`), checked to
    be finite: NaN/Inf in the data, and values beyond the range of `dtype`, are refused."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow in the cast is reported below
            converted = np.array(array, dtype=dtype, order="C", copy=True) if copy \
                else np.ascontiguousarray(array, dtype=dtype)
    except MemoryError as e:  # e.g. a huge view with zero strides that cannot be made contiguous
        raise MemoryError(f"{argument}: {e}") from None
    if not all_finite(converted):
        raise nonfinite_error(converted, argument, original=array)
    return converted


def nonfinite_error(array, argument, original=None):
    """The ValueError for an array holding NaN or Inf, with the first one's value (in `original`, the data
    before a cast, where a finite value may have become Inf) and place."""
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
    where = f"row {index[0]}" + (f", column {index[1]}" if len(index) == 2 else "") if len(index) <= 2 \
        else f"index {index}"
    value = (array if original is None else original)[index].item()
    if np.isfinite(value):
        return ValueError(f"{argument} has values too large for {array.dtype}: expected magnitudes up to "
                          f"{np.finfo(array.dtype).max:.4g}, got {value!r} at {where}")
    return ValueError(f"{argument} contains NaN or Inf values: expected finite numbers, got {value!r} at {where}")


def all_finite(array, chunk_elements=1 << 20):
    """np.isfinite(array).all(): in the core for contiguous float arrays (one pass, no temporary), else over
    slices of rows, so checking a large x costs no copy of it."""
    if array.dtype.kind in "biu":
        return True
    if array.ndim == 0 or array.size == 0:
        return bool(np.isfinite(array).all())
    finite = _core_module.all_finite(array)
    if finite is not None:
        return finite
    rows = max(1, chunk_elements * len(array) // array.size)
    return all(np.isfinite(array[i:i + rows]).all() for i in range(0, len(array), rows))


def prepare_x(x, input_shape, dtype, argument="x", need_rows=False):
    """x checked against the per-sample input_shape the model expects (None while unknown), as a C-contiguous
    array of dtype."""
    if x is None:
        raise ValueError(f"{argument}: expected an array of shape (n, features), got None")
    x = numeric_array(x, argument)
    if input_shape is not None:
        # As Keras: a missing last axis of size 1 is added ((n,) for inputs of shape (1,)), an extra one dropped.
        if x.ndim == len(input_shape) and input_shape[-1] == 1:
            x = x[..., np.newaxis]
        elif x.ndim == len(input_shape) + 2 and x.shape[-1] == 1:
            x = x[..., 0]
        expected = "(n, " + ", ".join(map(str, input_shape)) + ")"
        if x.ndim != len(input_shape) + 1:
            raise ValueError(f"{argument}: expected a {len(input_shape) + 1}-D array of shape {expected}, "
                             f"got shape {x.shape}")
        if x.shape[1:] != input_shape:
            what = f"{input_shape[0]} features per sample" if len(input_shape) == 1 \
                else f"samples of shape {input_shape}"
            raise ValueError(f"{argument}: the model expects {what} (input shape {(None, *input_shape)}), "
                             f"got an array of shape {x.shape}")
    elif x.ndim < 2:
        raise ValueError(f"{argument}: expected a 2-D array of shape (n, features), got shape {x.shape}")
    if x.ndim >= 2 and 0 in x.shape[1:]:
        raise ValueError(f"{argument}: expected at least one feature per sample, got shape {x.shape}")
    if need_rows and x.shape[0] == 0:
        raise ValueError(f"{argument}: expected at least one sample, got an empty array of shape {x.shape}")
    return converted(x, dtype, argument)


def flat(x):
    """The (n, features) view the core reads (no copy: x is C-contiguous)."""
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))


def prepare_y(y, outputs, loss_name, dtype, argument):
    """Targets for a model with this many outputs trained with this loss: (n, outputs), or integer labels of
    shape (n, 1) for sparse_categorical_crossentropy."""
    rows, out, loss = y.shape[0], outputs, loss_name
    if not all_finite(y):
        raise nonfinite_error(y, argument)
    if loss == "sparse_categorical_crossentropy":
        if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
            raise ValueError(
                f"{argument}: sparse_categorical_crossentropy expects integer labels of shape (n,) or (n, 1), "
                f"got shape {y.shape}"
            )
        y = y.reshape(rows, 1)
        bad = ~((y >= 0) & (y < out) & (np.mod(y, 1) == 0))
        if bad.any():
            i = int(np.argmax(bad.ravel()))
            raise ValueError(
                f"{argument}: labels must be integers in [0, {out}) for a model with {out} outputs; "
                f"got {y.ravel()[i].item()!r} at row {i}"
            )
    else:
        if y.ndim == 1 and out == 1:
            y = y.reshape(rows, 1)
        if y.ndim != 2 or y.shape[1] != out:
            hint = " (integer labels? use sparse_categorical_crossentropy or utils.to_categorical)" \
                if y.ndim == 1 else ""
            raise ValueError(
                f"{argument}: expected shape ({rows}, {out}) to match the model's output {(None, out)}, "
                f"got {y.shape}{hint}"
            )
    return converted(y, dtype, argument, copy=True)  # a copy: the caller may change theirs during fit


def prepare_sample_weight(sample_weight, rows, dtype, argument="sample_weight"):
    """None, or one finite weight >= 0 per row, as a copy of dtype."""
    if sample_weight is None:
        return None
    w = numeric_array(sample_weight, argument)
    if w.shape != (rows,):
        raise ValueError(f"{argument}: expected shape ({rows},), got {w.shape}")
    with np.errstate(over="ignore"):
        weights = np.array(w, dtype=dtype, order="C", copy=True)  # the caller may change theirs
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{argument}: expected finite weights >= 0, got {w[i].item()!r} at row {i}")
    return weights


def class_sample_weights(y, class_weight, outputs, y_argument):
    """class_weight {class: weight} as per-sample weights, as Keras does: a row's class is the argmax of its
    one-hot (or probability) target, or its integer label; classes missing from the dict weigh 1."""
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight: expected a dict mapping class indices to weights, got {class_weight!r}")
    out = outputs
    classes = max(out, 2)  # a one-output model tells two classes apart
    for cls, weight in class_weight.items():
        if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)) or not 0 <= cls < classes:
            raise ValueError(f"class_weight: expected class indices in [0, {classes}) as keys (the model has "
                             f"{out} output{'s' if out > 1 else ''}), got the key {cls!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)) \
                or not np.isfinite(weight) or weight < 0:
            raise ValueError(f"class_weight: the weight of class {cls} must be a finite number >= 0, "
                             f"got {weight!r}")
    if y.shape[1] > 1:
        labels = np.argmax(y, axis=1)
    else:
        labels = y[:, 0]
        fractional = np.mod(labels, 1) != 0
        if fractional.any():
            i = int(np.argmax(fractional))
            raise ValueError(f"class_weight: expected class labels (integers) or one-hot rows in {y_argument}, "
                             f"got {labels[i].item()!r} at row {i}")
    weights = np.ones(len(y))
    for cls, weight in class_weight.items():
        weights[labels == cls] = weight
    return weights


def validation_schedule(validation_freq):
    """Which epochs (0-based) validate: every validation_freq-th, or those listed (1-based), as Keras."""
    if isinstance(validation_freq, (int, np.integer)) and not isinstance(validation_freq, bool) \
            and validation_freq >= 1:
        return lambda epoch: (epoch + 1) % int(validation_freq) == 0
    if isinstance(validation_freq, (list, tuple)) and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) and e >= 1 for e in validation_freq):
        listed = {int(e) for e in validation_freq}
        return lambda epoch: epoch + 1 in listed
    raise ValueError(f"validation_freq: expected a positive integer or a list of epochs (counted from 1), "
                     f"got {validation_freq!r}")


def verbose_level(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose: expected 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)

