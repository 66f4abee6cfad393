"""A scikit-learn search over densenn models on a Dask cluster (joblib's Dask backend): a two-worker LocalCluster
of processes on loopback, started and closed in a child interpreter that the test bounds in time; the search
picks the same parameters, with the same scores, as the serial one."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("distributed")

CHILD = """
    import json

    import joblib
    import numpy as np
    from distributed import Client, LocalCluster, get_task_stream
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from densenn import Input, Sequential, layers
    from densenn.wrappers import SKLearnClassifier


    def build(X, y, hidden=8):  # defined in __main__: sent to the workers by value
        model = Sequential([Input(shape=(X.shape[1],)), layers.Dense(hidden, activation="relu"),
                            layers.Dense(y.shape[1], activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        return model


    rng = np.random.RandomState(4)
    k = rng.randint(0, 3, 90)
    X = np.array([[2, 0, 0, 1], [0, 2, 0, -1], [0, 0, 2, 0]], dtype=float)[k] + 0.5 * rng.randn(90, 4)
    labels = np.array(["apple", "banana", "cherry"])[k]
    quiet = {"verbose": 0}
    pipe = Pipeline([("scale", StandardScaler()),
                     ("clf", SKLearnClassifier(build, fit_kwargs={"epochs": 4, **quiet}, random_state=0))])
    grid = {"clf__model_kwargs": [{"hidden": 2}, {"hidden": 12}],
            "clf__fit_kwargs": [{"epochs": 2, **quiet}, {"epochs": 10, **quiet}]}

    serial = GridSearchCV(pipe, grid, cv=3).fit(X, labels)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
            on_dask = GridSearchCV(pipe, grid, cv=3, n_jobs=-1).fit(X, labels)
        workers = sorted(client.scheduler_info()["workers"])
        used = sorted({task["worker"] for task in tasks.data})
    print(json.dumps({
        "serial": [serial.best_params_["clf__model_kwargs"], serial.best_params_["clf__fit_kwargs"],
                   serial.cv_results_["mean_test_score"].tolist()],
        "dask": [on_dask.best_params_["clf__model_kwargs"], on_dask.best_params_["clf__fit_kwargs"],
                 on_dask.cv_results_["mean_test_score"].tolist()],
        "workers": workers, "used": used, "tasks": len(tasks.data)}))
"""


def test_grid_search_on_a_two_worker_dask_cluster_matches_the_serial_search():
    # Its own session: should it hang, the child, its scheduler and its worker processes are killed together.
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        out, err = child.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        pytest.fail("the search on the Dask cluster did not finish within 300 s")
    assert child.returncode == 0, err[-4000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["dask"] == result["serial"]  # best parameters and every mean score
    assert len(set(result["serial"][2])) > 1  # the parameters make a difference
    assert len(result["workers"]) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in result["workers"])
    assert result["tasks"] > 0 and set(result["used"]) <= set(result["workers"]) and result["used"]
