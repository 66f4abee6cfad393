"""The pure-NumPy implementation of the same maths (densenn.benchmark.reference)."""
import numpy as np

from .base import Runner


class NumpyRunner(Runner):
    def __init__(self, name):
        super().__init__(name)
        from ..reference import ReferenceModel
        spec = [("dense", a, True) for a in self.hidden] + [("dense", self.out_act, True)]
        self.model = ReferenceModel(spec, self.weights, self.loss, self.opt, dtype=np.float32, **self.opt_kwargs)
        self.rng = np.random.default_rng(1)

    def epoch(self, data, shuffle=True):
        x, y = data
        self.model.train_epoch(x, y, self.batch, order=self.rng.permutation(len(x)) if shuffle else None)

    def predict_calls(self):
        return {"predict()": self.model.predict}

    @staticmethod
    def versions():
        info = {"NumPy": np.__version__}
        try:  # which BLAS kernels NumPy uses here (threadpoolctl comes with scikit-learn)
            from threadpoolctl import threadpool_info
            blas = [i for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]]
            if blas:
                info["NumPy"] += f" ({blas[0]['internal_api']} {blas[0]['version']}, {blas[0]['architecture']})"
        except ImportError:
            pass
        return info
