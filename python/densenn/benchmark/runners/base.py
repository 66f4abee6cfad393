"""What every runner shares: the workload's settings and initial weights, and the epoch timing."""
import time

from ..workloads import WORKLOADS, initial_weights


def epoch_times_keras_shaped(model, callback_base, x, y, batch, epochs):
    """Per-epoch seconds from an epoch callback inside one fit(): excludes fit()'s own set-up."""
    class Timer(callback_base):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    timer = Timer()
    model.fit(x, y, batch_size=batch, epochs=1 + epochs, verbose=0, shuffle=True, callbacks=[timer])
    return timer.seconds[1:]  # the first is the warm-up


class Runner:
    """One framework's model for a workload. prepare() converts the data outside the timed region."""
    approx = False

    def __init__(self, name):
        _, self.sizes, self.hidden, self.out_act, self.loss, self.opt, self.opt_kwargs, self.batch, _ = \
            WORKLOADS[name]
        self.weights = initial_weights(name)

    def prepare(self, x, y):
        return x, y

    def epoch_times(self, data, epochs):
        self.epoch(data)  # warm-up: first-touch allocations, thread pool start
        times = []
        for _ in range(epochs):
            start = time.perf_counter()
            self.epoch(data)
            times.append(time.perf_counter() - start)
        return times

    def predict_calls(self):
        """{name: callable(x) -> probabilities as NumPy}; the first is used for batch inference."""
        raise NotImplementedError

    @staticmethod
    def versions():
        return {}
