"""scikit-learn estimators around densenn models, as Keras 3's ``keras.wrappers``: ``SKLearnClassifier``,
``SKLearnRegressor`` and ``SKLearnTransformer`` go into pipelines, grid and randomized searches (in processes,
or on a Dask cluster through joblib), ``cross_val_score`` and ``clone``, and pickle with their fitted model.

    def build(X, y, hidden=16):
        model = densenn.Sequential([densenn.Input(shape=(X.shape[1],)), layers.Dense(hidden, activation="relu"),
                                    layers.Dense(y.shape[1], activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        return model

    clf = SKLearnClassifier(model=build, model_kwargs={"hidden": 32}, fit_kwargs={"epochs": 20, "verbose": 0},
                            random_state=0)
    clf.fit(X, labels).predict_proba(X_test)

``model`` is a callable that returns a compiled model (called as ``model(X=X, y=y, **model_kwargs)`` with the
validated inputs and the targets the model trains on: one-hot for the classifier, so that its softmax output
has one unit per class), or a compiled model, whose architecture and compile configuration each fit starts
again from, with new weights. ``random_state`` (an addition to Keras' arguments, as scikit-learn's estimators
have it): with an integer, every fit draws the same initial weights, shuffles and dropout masks, in any process
(docs/scikit-learn.md). Importing this module imports scikit-learn (1.6 or later); ``import densenn`` does not.
"""
import contextlib
import copy
import numbers
import random
import threading

import numpy as np

try:
    from sklearn.base import (BaseEstimator, ClassifierMixin, ClassNamePrefixFeaturesOutMixin, RegressorMixin,
                              TransformerMixin)
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
except ImportError as e:  # validate_data and the tags API came with scikit-learn 1.6
    raise ImportError(f"densenn.wrappers needs scikit-learn 1.6 or later (pip install 'scikit-learn>=1.6'): {e}") \
        from None

from . import data_adapter, utils
from .saving import native
from .sequential import Sequential

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]

# Seeding is process-wide (utils.set_random_seed): one seeded model construction at a time (reentrant: a build
# function may itself fit a seeded estimator).
_seeding = threading.RLock()


@contextlib.contextmanager
def _seeded(random_state):
    """While the model is made and built: densenn's, Python's and NumPy's generators seeded from random_state
    (as utils.set_random_seed seeds them), then put back, so that a fit is repeatable in any process and leaves
    the caller's generators as they were. The model's own generator, seeded here, then draws its shuffles and
    dropout masks."""
    if random_state is None:
        yield
        return
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        seed = int(random_state)
    else:
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    with _seeding:
        saved = utils._seed_sequence, random.getstate(), np.random.get_state()
        try:
            utils.set_random_seed(seed)
            yield
        finally:
            utils._seed_sequence = saved[0]
            random.setstate(saved[1])
            np.random.set_state(saved[2])


def _check_dict(value, name):
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{name}: expected a dict of keyword arguments or None, got {value!r}")
    return dict(value or {})


class SKLBase(BaseEstimator):
    """What the three estimators share: the model's construction, the fit and the input checks.

    Args:
        model: a callable ``model(X=X, y=y, **model_kwargs)`` that returns a compiled densenn model, or a compiled
            model: each fit then trains a new model of its architecture and compile configuration, with new
            weights (as Keras' wrappers clone it), or, with ``warm_start``, goes on from its weights.
        warm_start: when True, a fit after the first goes on training the fitted model (``model_``).
        model_kwargs: keyword arguments for the callable ``model``.
        fit_kwargs: keyword arguments for the model's ``fit`` (``epochs``, ``batch_size``, ``verbose``, ...);
            those given to this estimator's ``fit`` take precedence.
        random_state: None, an integer or a ``numpy.random.RandomState``: an integer makes every fit repeatable
            (same initial weights, shuffles and dropout masks, in any process).

    Attributes (after fit): ``model_`` (the trained model), ``history_`` (its last fit's History.history dict),
    ``epoch_`` (the epochs trained in all), ``n_features_in_`` and, for DataFrames, ``feature_names_in_``.
    """

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None, random_state=None):
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        # Repeatable only with an integer seed; otherwise each fit starts from new weights.
        tags.non_deterministic = not isinstance(self.random_state, numbers.Integral)
        return tags

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None, **kwargs):
        """Trains a model on (X, y); keyword arguments go to the model's ``fit`` (after ``fit_kwargs``).

        sample_weight: non-negative, one per row; scaled to mean 1 over the rows given, so that only their
        ratios matter (their scale does not change the step size). A row of weight 0 then counts as a row that
        is not there, exactly so when one batch holds all the rows (it still takes its place in a batch)."""
        data_adapter.flag(self.warm_start, "warm_start")
        model_kwargs = _check_dict(self.model_kwargs, "model_kwargs")
        fit_kwargs = {**_check_dict(self.fit_kwargs, "fit_kwargs"), **kwargs}
        for name in ("x", "y", "sample_weight"):
            if name in fit_kwargs:
                raise TypeError(f"fit: {name!r} is this estimator's fit argument, not one for fit_kwargs")
        continuing = bool(self.warm_start) and hasattr(self, "model_")
        X, y = validate_data(self, X, y, reset=not continuing, dtype=(np.float64, np.float32),
                             **self._target_checks)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
            sample_weight = sample_weight * (len(sample_weight) / sample_weight.sum())
        target = self._encode_target(y, reset=not continuing)
        if continuing:
            model = self.model_
        else:
            with _seeded(self.random_state):
                model = self._new_model(X, target, model_kwargs)
                if not model.built:
                    model.build((None, X.shape[1]))  # here, so that its seeded generator gives its weights
        self._check_model(model, target)
        history = model.fit(X, target, sample_weight=sample_weight, **fit_kwargs)
        self.model_ = model
        self.history_ = dict(history.history)
        self.epoch_ = (self.epoch_ if continuing else 0) + len(history.epoch)
        return self

    def _new_model(self, X, target, model_kwargs):
        if isinstance(self.model, Sequential):  # a model: start again from its architecture and compile config
            if model_kwargs:
                raise ValueError("model_kwargs: given for a model instance; they are the arguments of a callable "
                                 "model that builds one")
            # warm_start: from the given model's weights too (a copy: an estimator leaves its arguments alone)
            return copy.deepcopy(self.model) if self.warm_start else native.fresh_copy(self.model)
        if not callable(self.model):
            raise TypeError(f"model: expected a densenn model or a callable that returns one, got {self.model!r}")
        model = self.model(X=X, y=target, **model_kwargs)
        if not isinstance(model, Sequential):
            raise TypeError(f"model: the callable must return a densenn model (densenn.Sequential or "
                            f"densenn.Model), got {type(model).__name__}")
        return model

    def _check_model(self, model, target):
        if not model.compiled:
            raise RuntimeError("model: the model must be compiled (with a loss and an optimizer) before the "
                               f"{type(self).__name__} fits it: call model.compile(optimizer=..., loss=...) in the "
                               "function that builds it.")
        outputs = model.output_shape[-1]
        if model.output_shape[1:] != (target.shape[1],):
            raise ValueError(f"model: its output has shape {model.output_shape}, the {type(self).__name__}'s "
                             f"targets have {target.shape[1]} column(s) {self._target_columns}; give the last "
                             f"layer {target.shape[1]} units (it has {outputs}).")

    # ------------------------------------------------------------------ predict
    def _model_output(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.model_.predict(X, verbose=0)


class SKLearnClassifier(ClassifierMixin, SKLBase):
    """A classifier: ``fit(X, labels)``, ``predict(X)`` (labels), ``predict_proba(X)`` (the model's outputs,
    one column per class in ``classes_``' order), ``score`` (accuracy).

    Labels may be of any type ``numpy.unique`` sorts (integers, strings, ...), binary or multiclass. The model
    trains on their one-hot encoding (``y`` of the callable has one column per class): give it a softmax output
    of ``len(classes_)`` units and a categorical cross-entropy loss. See SKLBase for the arguments."""

    _target_checks = {}  # 1-D labels; a column vector is accepted with scikit-learn's warning
    _target_columns = "(one-hot, one per class)"

    def _encode_target(self, y, reset):
        check_classification_targets(y)  # y is 1-D (validate_data): binary or multiclass labels
        if reset:
            self._label_encoder = OneHotEncoder(sparse_output=False, dtype=np.float32).fit(y.reshape(-1, 1))
            self.classes_ = self._label_encoder.categories_[0]
            if len(self.classes_) < 2:
                raise ValueError(f"y: SKLearnClassifier needs at least two classes to train, got one class "
                                 f"({self.classes_[0]!r}).")
        return self._label_encoder.transform(y.reshape(-1, 1))

    def predict_proba(self, X):
        """Each row's probability of each class (``classes_``' order): the model's output."""
        return self._model_output(X)

    def predict(self, X):
        """Each row's most probable class label."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # a few epochs of a small network in the checks
        return tags


class SKLearnRegressor(RegressorMixin, SKLBase):
    """A regressor: ``fit(X, y)`` with y of shape (n,) or (n, outputs), ``predict(X)`` of the same shape,
    ``score`` (R²). The model's output has one unit per target column. See SKLBase for the arguments."""

    _target_checks = {"multi_output": True, "y_numeric": True}
    _target_columns = "(one per target)"

    def _encode_target(self, y, reset):
        if reset:
            self._flat_target = y.ndim == 1
        elif self._flat_target != (y.ndim == 1):
            raise ValueError(f"y: the model was fitted on targets of {'one' if self._flat_target else 'two'} "
                             f"dimension(s), got shape {y.shape}")
        return y.reshape(len(y), -1)

    def predict(self, X):
        """The model's output for X, as float64 (as scikit-learn's regressors predict), of y's shape."""
        out = self._model_output(X).astype(np.float64)
        return out[:, 0] if self._flat_target else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.regressor_tags.poor_score = True
        return tags


class SKLearnTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, SKLBase):
    """A transformer (in scikit-learn's sense): ``fit(X, y)`` trains the model on (X, y), ``transform(X)`` is
    its output, e.g. an embedding for the next step of a pipeline. See SKLBase for the arguments."""

    _target_checks = {"multi_output": True, "y_numeric": True}
    _target_columns = "(one per target)"

    def _encode_target(self, y, reset):
        return y.reshape(len(y), -1)

    def transform(self, X):
        """The model's output for X, of shape (n, outputs)."""
        return self._model_output(X)

    @property
    def _n_features_out(self):  # get_feature_names_out: sklearntransformer0, ...
        return self.model_.output_shape[-1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.transformer_tags.preserves_dtype = []  # the model's float type, whatever X's
        return tags
