"""``optimizers.legacy``, as in Keras 3: the names exist so that older course code imports, and constructing one
explains what to use instead (Keras 3 removed them too)."""

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "Adagrad", "Ftrl"]


class _LegacyOptimizer:
    def __init__(self, *args, **kwargs):
        name = type(self).__name__
        instead = f"densenn.optimizers.{name}" if name not in ("Optimizer", "Ftrl") else "densenn.optimizers"
        raise ImportError(f"`optimizers.legacy` is not supported in Keras 3, nor in densenn: use {instead}, which "
                          "takes Keras 3's arguments (e.g. learning_rate=... where legacy code wrote lr=...).")


Optimizer = type("Optimizer", (_LegacyOptimizer,), {"__doc__": "Keras 2's optimizer base class: not supported."})
SGD = type("SGD", (_LegacyOptimizer,), {"__doc__": "Keras 2's legacy SGD: use densenn.optimizers.SGD."})
Adam = type("Adam", (_LegacyOptimizer,), {"__doc__": "Keras 2's legacy Adam: use densenn.optimizers.Adam."})
RMSprop = type("RMSprop", (_LegacyOptimizer,), {"__doc__": "Keras 2's legacy RMSprop: use densenn.optimizers.RMSprop."})
Adagrad = type("Adagrad", (_LegacyOptimizer,), {"__doc__": "Keras 2's legacy Adagrad: use densenn.optimizers.Adagrad."})
Ftrl = type("Ftrl", (_LegacyOptimizer,), {"__doc__": "Keras 2's Ftrl, which densenn does not have."})
