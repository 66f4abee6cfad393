"""densenn.wrappers: scikit-learn's own estimator checks, and the estimators in pipelines, searches (in loky
processes too), cross-validation, clone and pickle, with DataFrames, string labels and sample weights, against
the numbers the wrapped model gives itself."""
import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import densenn  # noqa: E402
from densenn import Input, Sequential, layers, utils  # noqa: E402
from densenn.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer  # noqa: E402
from support import using_floatx  # noqa: E402


def build(X, y, hidden=8, loss="categorical_crossentropy", activation="softmax", optimizer="adam"):
    """The model the estimators wrap: its input and output widths from the data, as Keras' examples do."""
    model = Sequential([Input(shape=(X.shape[1],)), layers.Dense(hidden, activation="relu"),
                        layers.Dense(y.shape[1], activation=activation)])
    model.compile(optimizer=optimizer, loss=loss)
    return model


REGRESSION = {"loss": "mse", "activation": None}
QUIET = {"verbose": 0}


def _blobs(n=120, seed=0, labels=np.array(["apple", "banana", "cherry"], dtype=object)):
    """Three well separated clusters in 4 features, with labels of any type."""
    rng = np.random.RandomState(seed)
    k = rng.randint(0, len(labels), n)
    centers = np.array([[2, 0, 0, 1], [0, 2, 0, -1], [0, 0, 2, 0]], dtype=float)
    X = centers[k] + 0.4 * rng.randn(n, 4)
    return X, labels[k]


# Each check that fails, and why; every other check of scikit-learn's passes.
EXPECTED_FAILED_CHECKS = {
    "SKLearnClassifier": {
        "check_sample_weight_equivalence_on_dense_data": (
            "A weight of 2 and a repeated row (or a weight of 0 and a dropped row) give the same loss, exactly so "
            "when one batch holds all the rows (test_sample_weight_zero_and_integer_weights_match_dropped_and_"
            "repeated_rows checks it in float64). The check compares float32 probabilities to rtol=1e-7, and the "
            "repeated rows are summed in another order: rounding differs in the last bits (with floatx float64 the "
            "check passes)."),
    },
    "SKLearnRegressor": {},
    "SKLearnTransformer": {},
}
# Full batches, so that sample weights and repeated rows train alike (see above); two epochs keep it quick.
CHECK_FIT = {"epochs": 2, "batch_size": 1024, "verbose": 0}


@parametrize_with_checks(
    [SKLearnClassifier(build, fit_kwargs=CHECK_FIT, random_state=0),
     SKLearnRegressor(build, model_kwargs=REGRESSION, fit_kwargs=CHECK_FIT, random_state=0),
     SKLearnTransformer(build, model_kwargs=REGRESSION, fit_kwargs=CHECK_FIT, random_state=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS[type(estimator).__name__])
def test_scikit_learn_estimator_checks(estimator, check):
    if "check_array_api_input" in str(check) and not os.environ.get("SCIPY_ARRAY_API"):
        pytest.skip("run by test_array_api_check_in_a_child_process: SCIPY_ARRAY_API must be set before SciPy is "
                    "imported")
    check(estimator)


def test_array_api_check_in_a_child_process():
    """scikit-learn's check that array API dispatch on NumPy inputs changes nothing, which needs SciPy imported
    with SCIPY_ARRAY_API=1."""
    code = """
        from sklearn.utils.estimator_checks import check_estimator
        from test_wrappers import (CHECK_FIT, EXPECTED_FAILED_CHECKS, REGRESSION, SKLearnClassifier,
                                   SKLearnRegressor, SKLearnTransformer, build)
        for estimator in (SKLearnClassifier(build, fit_kwargs=CHECK_FIT, random_state=0),
                          SKLearnRegressor(build, model_kwargs=REGRESSION, fit_kwargs=CHECK_FIT, random_state=0),
                          SKLearnTransformer(build, model_kwargs=REGRESSION, fit_kwargs=CHECK_FIT, random_state=0)):
            results = check_estimator(estimator, on_skip=None,
                                      expected_failed_checks=EXPECTED_FAILED_CHECKS[type(estimator).__name__])
            print(type(estimator).__name__,
                  [r["status"] for r in results if r["check_name"] == "check_array_api_input"])
    """
    path = os.pathsep.join([os.path.dirname(__file__), *sys.path])
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "SCIPY_ARRAY_API": "1", "PYTHONPATH": path})
    assert child.returncode == 0, child.stderr[-3000:]
    assert child.stdout.split("\n")[:3] == [f"{name} ['passed']" for name in EXPECTED_FAILED_CHECKS]


def test_classifier_with_string_labels_learns_and_predict_proba_is_the_models_output():
    X, labels = _blobs()
    clf = SKLearnClassifier(build, model_kwargs={"hidden": 16}, fit_kwargs={"epochs": 40, **QUIET},
                            random_state=0).fit(X[:90], labels[:90])
    assert list(clf.classes_) == ["apple", "banana", "cherry"]
    proba = clf.predict_proba(X[90:])
    np.testing.assert_array_equal(proba, clf.model_.predict(X[90:], verbose=0))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    predicted = clf.predict(X[90:])
    assert predicted.dtype == object and set(predicted) <= {"apple", "banana", "cherry"}
    np.testing.assert_array_equal(predicted, clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X[90:], labels[90:]) == np.mean(predicted == labels[90:]) >= 0.9
    assert clf.history_.keys() == {"loss"} and len(clf.history_["loss"]) == clf.epoch_ == 40
    assert clf.history_["loss"][-1] < clf.history_["loss"][0]


def test_binary_and_integer_labels():
    X, k = _blobs(labels=np.array([3, 7, 7]))
    clf = SKLearnClassifier(build, model_kwargs={"hidden": 16}, fit_kwargs={"epochs": 60, **QUIET},
                            random_state=1).fit(X, k)
    assert list(clf.classes_) == [3, 7] and clf.model_.output_shape == (None, 2)
    assert clf.predict_proba(X).shape == (len(X), 2) and set(clf.predict(X)) <= {3, 7}
    assert clf.score(X, k) > 0.9


def test_dataframes_and_series_train_as_their_arrays():
    X, labels = _blobs(n=60)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    series = pd.Series(labels, dtype="category")
    params = {"model": build, "fit_kwargs": {"epochs": 5, **QUIET}, "random_state": 3}
    from_frame = SKLearnClassifier(**params).fit(frame, series)
    from_array = SKLearnClassifier(**params).fit(X, labels)
    assert list(from_frame.feature_names_in_) == ["a", "b", "c", "d"]
    assert not hasattr(from_array, "feature_names_in_")
    np.testing.assert_array_equal(from_frame.predict_proba(frame), from_array.predict_proba(X))
    with pytest.raises(ValueError, match="feature names should match"):
        from_frame.predict(frame.rename(columns={"a": "z"}))
    regressor = SKLearnRegressor(build, model_kwargs=REGRESSION, fit_kwargs={"epochs": 2, **QUIET}, random_state=0)
    targets = pd.DataFrame({"u": X[:, 0] + X[:, 1], "v": X[:, 2]})
    assert regressor.fit(frame, targets).predict(frame).shape == (60, 2)


def test_sample_weight_zero_and_integer_weights_match_dropped_and_repeated_rows():
    X, labels = _blobs(n=40, seed=5)
    weights = np.random.RandomState(0).randint(0, 4, len(X))
    fit = {"epochs": 5, "batch_size": 1000, "shuffle": False, **QUIET}  # one batch: all rows in each step
    with using_floatx("float64"):
        weighted = SKLearnClassifier(build, fit_kwargs=fit, random_state=2).fit(X, labels, sample_weight=weights)
        repeated = SKLearnClassifier(build, fit_kwargs=fit, random_state=2).fit(
            np.repeat(X, weights, axis=0), np.repeat(labels, weights))
        unweighted = SKLearnClassifier(build, fit_kwargs=fit, random_state=2).fit(X, labels)
        scaled = SKLearnClassifier(build, fit_kwargs=fit, random_state=2).fit(X, labels,
                                                                               sample_weight=np.full(len(X), 7.0))
    assert 0 in weights and weights.max() > 1
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-10, atol=1e-12)
    assert np.abs(weighted.predict_proba(X) - unweighted.predict_proba(X)).max() > 1e-4  # the weights matter
    np.testing.assert_allclose(scaled.predict_proba(X), unweighted.predict_proba(X), rtol=1e-12)  # only ratios


def test_bad_sample_weights_are_refused():
    X, labels = _blobs(n=20)
    clf = SKLearnClassifier(build, fit_kwargs=QUIET)
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        clf.fit(X, labels, sample_weight=np.r_[-1.0, np.ones(19)])
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(3,\), expected \(20,\)"):
        clf.fit(X, labels, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="at least one non-zero"):
        clf.fit(X, labels, sample_weight=np.zeros(20))


@pytest.fixture
def worker_processes():
    """joblib's loky worker processes, shut down after the test (loky keeps them for reuse otherwise)."""
    yield
    from joblib.externals.loky import get_reusable_executor
    get_reusable_executor().shutdown(wait=True)


def test_grid_search_over_a_pipeline_picks_the_same_parameters_in_processes_as_serially(worker_processes):
    X, labels = _blobs(n=90, seed=4)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("clf", SKLearnClassifier(build, fit_kwargs={"epochs": 4, **QUIET}, random_state=0))])
    grid = {"clf__model_kwargs": [{"hidden": 2}, {"hidden": 12}],
            "clf__fit_kwargs": [{"epochs": 1, **QUIET}, {"epochs": 6, **QUIET}]}
    serial = GridSearchCV(pipe, grid, cv=3).fit(X, labels)
    parallel = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, labels)  # joblib's loky processes: pickling
    assert parallel.best_params_ == serial.best_params_
    np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])
    assert len(set(serial.cv_results_["mean_test_score"])) > 1  # the parameters make a difference
    np.testing.assert_array_equal(parallel.predict_proba(X), serial.predict_proba(X))
    assert isinstance(serial.best_estimator_[-1].model_, Sequential)


def test_randomized_search_and_cross_val_score_in_processes(worker_processes):
    X, labels = _blobs(n=60, seed=6)
    clf = SKLearnClassifier(build, fit_kwargs={"epochs": 3, **QUIET}, random_state=5)
    scores = cross_val_score(clf, X, labels, cv=3)
    np.testing.assert_array_equal(cross_val_score(clf, X, labels, cv=3, n_jobs=2), scores)
    search = RandomizedSearchCV(clf, {"model_kwargs": [{"hidden": h} for h in (2, 4, 8, 16)]}, n_iter=3, cv=2,
                                random_state=0)
    parallel = clone(search).set_params(n_jobs=2)
    assert search.fit(X, labels).best_params_ == parallel.fit(X, labels).best_params_


def test_random_state_repeats_fits_and_leaves_the_callers_generators_alone():
    X, labels = _blobs(n=50)
    utils.set_random_seed(11)
    expected_seed, expected_normal = utils.next_seed(), np.random.rand()
    utils.set_random_seed(11)
    first = SKLearnClassifier(build, fit_kwargs={"epochs": 2, **QUIET}, random_state=4).fit(X, labels)
    assert (utils.next_seed(), np.random.rand()) == (expected_seed, expected_normal)
    again = clone(first).fit(X, labels)
    np.testing.assert_array_equal(again.predict_proba(X), first.predict_proba(X))
    other = clone(first).set_params(random_state=5).fit(X, labels)
    assert not np.array_equal(other.predict_proba(X), first.predict_proba(X))


def test_a_model_instance_is_refitted_from_new_weights_and_warm_start_continues():
    X, labels = _blobs(n=50)
    template = build(X, np.zeros((1, 3)))
    template_weights = [w.copy() for w in template.get_weights()]
    clf = SKLearnClassifier(template, fit_kwargs={"epochs": 2, **QUIET}, random_state=0).fit(X, labels)
    assert clf.model_ is not template
    for w, w0 in zip(template.get_weights(), template_weights):  # the argument is left alone
        np.testing.assert_array_equal(w, w0)
    assert not np.array_equal(clf.model_.get_weights()[0], template_weights[0])
    np.testing.assert_array_equal(clone(clf).fit(X, labels).predict_proba(X), clf.predict_proba(X))
    assert clone(clf).model is not template and clone(clf).model.get_config() == template.get_config()

    warm = SKLearnClassifier(build, warm_start=True, fit_kwargs={"epochs": 2, **QUIET}, random_state=0)
    model = warm.fit(X, labels).model_
    after_first = model.get_weights()[0].copy()
    warm.fit(X, labels)
    assert warm.model_ is model and warm.epoch_ == 4 and model.optimizer.iterations == 8
    assert not np.array_equal(model.get_weights()[0], after_first)
    with pytest.raises(ValueError, match="unknown categories"):
        warm.fit(X, np.where(labels == "apple", "durian", labels))


def test_fitted_estimators_pickle_and_go_on_training_alike():
    X, labels = _blobs(n=50)
    clf = SKLearnClassifier(build, warm_start=True, fit_kwargs={"epochs": 2, **QUIET}, random_state=0).fit(X, labels)
    copy_ = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy_.predict_proba(X), clf.predict_proba(X))
    assert list(copy_.classes_) == list(clf.classes_)
    clf.fit(X, labels)
    copy_.fit(X, labels)
    np.testing.assert_array_equal(copy_.predict_proba(X), clf.predict_proba(X))


def test_regressor_learns_and_predicts_in_the_targets_shape():
    rng = np.random.RandomState(0)
    X = rng.rand(200, 3)
    y = X @ [1.0, -2.0, 0.5] + 0.3
    reg = SKLearnRegressor(build, model_kwargs={**REGRESSION, "hidden": 16}, fit_kwargs={"epochs": 150, **QUIET},
                           random_state=0)
    predicted = make_pipeline(StandardScaler(), reg).fit(X, y).predict(X)
    assert predicted.shape == (200,) and predicted.dtype == np.float64
    np.testing.assert_array_equal(predicted, reg.model_.predict(StandardScaler().fit_transform(X), verbose=0)[:, 0])
    assert reg.score(StandardScaler().fit_transform(X), y) > 0.9
    assert SKLearnRegressor(build, model_kwargs=REGRESSION, fit_kwargs=QUIET).fit(X, y[:, None]).predict(X).shape \
        == (200, 1)


def test_transformer_feeds_the_next_step_of_a_pipeline():
    X, labels = _blobs(n=80)
    onehot = (labels[:, None] == np.array(["apple", "banana", "cherry"])).astype(float)
    embed = SKLearnTransformer(build, model_kwargs={**REGRESSION, "hidden": 5}, fit_kwargs={"epochs": 3, **QUIET},
                               random_state=0)
    pipe = make_pipeline(embed, LogisticRegression()).fit(X, onehot.argmax(1))  # y: what both steps train on
    codes = embed.transform(X)
    assert codes.shape == (80, 1)  # the 1-column target y
    np.testing.assert_array_equal(codes, embed.model_.predict(X, verbose=0))
    assert pipe.score(X, onehot.argmax(1)) >= 0
    assert list(embed.get_feature_names_out()) == ["sklearntransformer0"]
    wide = SKLearnTransformer(build, model_kwargs=REGRESSION, fit_kwargs=QUIET).fit(X, onehot)
    assert wide.fit_transform(X, onehot).shape == (80, 3)


def test_errors_say_what_is_wrong():
    X, labels = _blobs(n=20)

    def uncompiled(X, y):
        return Sequential([Input(shape=(X.shape[1],)), layers.Dense(y.shape[1])])

    with pytest.raises(RuntimeError, match="must be compiled"):
        SKLearnClassifier(uncompiled, fit_kwargs=QUIET).fit(X, labels)
    with pytest.raises(TypeError, match="must return a densenn model .* got str"):
        SKLearnClassifier(lambda X, y: "model").fit(X, labels)
    with pytest.raises(TypeError, match="expected a densenn model or a callable"):
        SKLearnClassifier(42).fit(X, labels)
    with pytest.raises(ValueError, match=r"output has shape \(None, 2\).* 3 column\(s\) \(one-hot, one per class\)"):
        SKLearnClassifier(lambda X, y: build(X, y[:, :2]), fit_kwargs=QUIET).fit(X, labels)
    with pytest.raises(ValueError, match=r"y should be a 1d array, got an array of shape \(20, 2\)"):
        SKLearnClassifier(build, fit_kwargs=QUIET).fit(X, np.eye(2, dtype=int)[np.arange(20) % 2])
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        SKLearnClassifier(build).fit(X, np.linspace(0, 1, 20))
    with pytest.raises(ValueError, match="at least two classes"):
        SKLearnClassifier(build).fit(X, np.full(20, "apple"))
    with pytest.raises(ValueError, match="model_kwargs: expected a dict"):
        SKLearnClassifier(build, model_kwargs=[("hidden", 3)]).fit(X, labels)
    with pytest.raises(ValueError, match="warm_start: expected True or False"):
        SKLearnClassifier(build, warm_start="yes").fit(X, labels)
    with pytest.raises(TypeError, match="'sample_weight' is this estimator's fit argument"):
        SKLearnClassifier(build, fit_kwargs={"sample_weight": np.ones(20)}).fit(X, labels)
    with pytest.raises(ValueError, match="model_kwargs: given for a model instance"):
        SKLearnClassifier(build(X, np.zeros((1, 3))), model_kwargs={"hidden": 3}).fit(X, labels)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        SKLearnClassifier(build).predict_proba(X)
    fitted = SKLearnRegressor(build, model_kwargs=REGRESSION, fit_kwargs=QUIET).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="X has 2 features, but SKLearnRegressor is expecting 4 features"):
        fitted.predict(X[:, :2])


def test_fit_keyword_arguments_reach_the_model():
    X, labels = _blobs(n=40)
    clf = SKLearnClassifier(build, fit_kwargs={"epochs": 3, "verbose": 0, "batch_size": 4}, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.fit(X, labels, epochs=2, validation_split=0.25)
    assert clf.epoch_ == 2 and set(clf.history_) == {"loss", "val_loss"}
    assert clf.model_.optimizer.iterations == 2 * 8  # 30 training rows in batches of 4


def test_import_densenn_does_not_import_scikit_learn():
    code = "import sys, densenn; assert 'sklearn' not in sys.modules; densenn.wrappers.SKLearnClassifier; " \
           "assert 'sklearn' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert densenn.wrappers.SKLearnRegressor is SKLearnRegressor
