"""Keras 3, on whatever backend is installed (the benchmark picks JAX when present)."""
from .base import Runner, epoch_times_keras_shaped


class KerasRunner(Runner):
    def __init__(self, name):
        super().__init__(name)
        import keras
        self.keras = keras
        layers = [keras.Input(shape=(self.sizes[0],))]
        layers += [keras.layers.Dense(n, activation=a) for n, a in zip(self.sizes[1:-1], self.hidden)]
        layers += [keras.layers.Dense(self.sizes[-1], activation=self.out_act)]
        self.model = keras.Sequential(layers)
        opt = (keras.optimizers.SGD(**self.opt_kwargs) if self.opt == "sgd"
               else keras.optimizers.Adam(**self.opt_kwargs))
        self.model.compile(optimizer=opt, loss=self.loss)
        self.model.set_weights(self.weights)

    def epoch(self, data, shuffle=True):
        self.model.fit(*data, batch_size=self.batch, epochs=1, verbose=0, shuffle=shuffle)

    def epoch_times(self, data, epochs):
        return epoch_times_keras_shaped(self.model, self.keras.callbacks.Callback, *data, self.batch, epochs)

    def predict_calls(self):
        m, to_numpy = self.model, self.keras.ops.convert_to_numpy
        return {"model(x)": lambda x: to_numpy(m(x, training=False)),
                "predict_on_batch()": m.predict_on_batch,
                "predict()": lambda x: m.predict(x, batch_size=len(x), verbose=0)}

    @staticmethod
    def versions():
        import keras
        return {"Keras": f"{keras.__version__} (backend {keras.backend.backend()})"}
