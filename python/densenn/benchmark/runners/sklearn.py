"""scikit-learn's MLPClassifier: one partial_fit per epoch (alpha=0, constant learning rate, epsilon=1e-7)."""
import numpy as np

from .base import Runner


class SklearnRunner(Runner):
    def __init__(self, name):
        super().__init__(name)
        from sklearn.neural_network import MLPClassifier
        act = {"sigmoid": "logistic"}.get(self.hidden[0], self.hidden[0])
        self.approx = len(set(self.hidden)) > 1  # one activation for all hidden layers
        self.model = MLPClassifier(
            hidden_layer_sizes=tuple(self.sizes[1:-1]), activation=act, solver=self.opt, alpha=0.0,
            batch_size=self.batch, learning_rate="constant",
            learning_rate_init=self.opt_kwargs.get("learning_rate", 0.01 if self.opt == "sgd" else 1e-3),
            momentum=0.0, nesterovs_momentum=False, epsilon=1e-7, shuffle=True, random_state=0)
        classes = np.arange(max(2, self.sizes[-1]))
        # partial_fit on one row creates the parameters; then ours go in, in place (its optimizer holds
        # references to them), and a fresh optimizer starts at step 1 on the next call.
        self.model.partial_fit(np.zeros((1, self.sizes[0]), np.float32), classes[:1], classes=classes)
        for i, layer in enumerate(self.model.coefs_):
            layer[...] = self.weights[2 * i]
            self.model.intercepts_[i][...] = self.weights[2 * i + 1]
        del self.model._optimizer

    def prepare(self, x, y):
        return x, (y[:, 0].astype(np.int64) if y.shape[1] == 1 else y.argmax(1))

    def epoch(self, data, shuffle=True):
        self.model.shuffle = shuffle
        self.model.partial_fit(*data)

    def predict_calls(self):
        proba = self.model.predict_proba
        if self.sizes[-1] == 1:
            return {"predict_proba()": lambda x: proba(x)[:, 1:]}
        return {"predict_proba()": proba}

    @staticmethod
    def versions():
        import sklearn
        return {"scikit-learn": sklearn.__version__}
