"""densenn itself, through its Keras-shaped API."""
from .base import Runner, epoch_times_keras_shaped


class DensennRunner(Runner):
    def __init__(self, name):
        super().__init__(name)
        from ... import Input, Sequential, layers, optimizers
        self.model = Sequential([Input(shape=(self.sizes[0],))]
                                + [layers.Dense(n, activation=a) for n, a in zip(self.sizes[1:-1], self.hidden)]
                                + [layers.Dense(self.sizes[-1], activation=self.out_act)])
        self.model.compile(optimizer=optimizers.get(self.opt).__class__(**self.opt_kwargs), loss=self.loss)
        self.model.set_weights(self.weights)

    def epoch(self, data, shuffle=True):
        self.model.fit(*data, batch_size=self.batch, epochs=1, verbose=0, shuffle=shuffle)

    def epoch_times(self, data, epochs):
        from ... import callbacks
        return epoch_times_keras_shaped(self.model, callbacks.Callback, *data, self.batch, epochs)

    def predict_calls(self):
        m = self.model
        return {"predict()": lambda x: m.predict(x, batch_size=len(x), verbose=0),
                "predict_on_batch()": m.predict_on_batch}

    @staticmethod
    def versions():
        from ... import __version__, build_info
        info = build_info()
        return {"densenn": f"{__version__} ({info['isa']}, {info['openmp_threads']} OpenMP threads)"}
