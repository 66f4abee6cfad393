"""Functional models, as ``keras.Model(inputs=..., outputs=...)``, for chains of layers: one ``Input()``, each
layer called on the previous layer's output, outputs taken at any layers of the chain. A chain is a Sequential
model with input and output tensors, so the same C++ core runs it; graphs that branch, merge or take several
inputs are refused with a ValueError."""
from . import data_adapter, saving
from ._summary import format_shape
from .layers import InputLayer, KerasTensor, unique_name
from .sequential import Sequential, copy_weights, new_core, weight_slices

_RUNS = "densenn runs chains of layers: one Input(), each layer called on the previous layer's output"


def _tensor_list(tensors, argument):
    """The tensors given as `inputs` or `outputs`: one KerasTensor, or a list or tuple of them."""
    items = [tensors] if isinstance(tensors, KerasTensor) else tensors
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(t, KerasTensor) for t in items):
        raise ValueError(f"Model: {argument} must be a tensor (from Input() or a layer call) or a list of them, "
                         f"got {tensors!r}")
    return list(items)


def _path(tensor):
    """The Input() tensor that `tensor` comes from, and the layers called between them, in call order."""
    layers = []
    layer, inbound = tensor._history
    while inbound is not None:
        layers.append(layer)
        tensor = inbound
        layer, inbound = tensor._history
    return tensor, layers[::-1]


def _chain(input_tensor, outputs):
    """The layers from the input to the deepest output, and how many of them each output follows."""
    paths = []
    for i, output in enumerate(outputs):
        origin, path = _path(output)
        if origin is not input_tensor:
            raise ValueError(f"Model: output {i} ({output.name}) comes from input {origin.name}, not from the model's "
                             f"input {input_tensor.name}; {_RUNS}.")
        if not path:
            raise ValueError(f"Model: output {i} is the model's input itself; each output must follow a layer.")
        paths.append(path)
    chain = max(paths, key=len)
    for i, path in enumerate(paths):
        fork = next((k for k, (a, b) in enumerate(zip(path, chain)) if a is not b), None)
        if fork is not None:
            raise ValueError(f"Model: output {i} branches off at layer {path[fork].name!r} (the chain to the deepest "
                             f"output goes through {chain[fork].name!r}); {_RUNS}, without branches.")
    names = [layer.name for layer in chain]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f'The name "{name}" is used {names.count(name)} times in the model. All operation names '
                             "should be unique (densenn holds one set of weights per layer of a model).")
    return chain, [len(path) for path in paths]


class Functional(Sequential):
    """``Model(inputs=x, outputs=y)`` for ``x = Input(shape=(4,)); h = Dense(8)(x); y = Dense(1)(h)``.

    One C++ core runs the layers from the input to the deepest output, as a Sequential model's. Layers in no
    model become this model's (a layer called on arrays brings its weights). Layers of another model keep their
    weights there: this model copies them before each computation, so its predictions follow that model's
    training, and it does not train them itself. With several outputs predict returns a list, one array per
    output; training needs one output."""

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True):
        if inputs is None or outputs is None:
            raise ValueError(f"Model: pass inputs= and outputs=, e.g. Model(inputs=x, outputs=y) with x = Input(...); "
                             f"{_RUNS} (subclassed models with a call() method are not supported).")
        input_list, output_list = _tensor_list(inputs, "inputs"), _tensor_list(outputs, "outputs")
        if len(input_list) != 1:
            raise ValueError(f"Model: got {len(input_list)} inputs; {_RUNS}.")
        input_layer = input_list[0]._history[0]
        if not isinstance(input_layer, InputLayer):
            raise ValueError(f"Model: inputs must be an Input() tensor, got the output of layer {input_layer.name!r}.")
        chain, self._output_depths = _chain(input_list[0], output_list)
        for layer in chain:
            if layer._model is not None and not layer._model.built:
                raise ValueError(f"Model: layer {layer.name!r} belongs to model {layer._model.name!r}, which is not "
                                 "built yet (it has no input shape), so the layer has no weights to share.")
        super().__init__(name=name or unique_name("functional"), trainable=trainable)
        self._inputs, self._outputs = input_list, output_list
        self._input_layer, self._input_shape = input_layer, input_layer.shape
        # Layers that another model holds stay there; the others become this model's.
        self._shared = [layer for layer in chain if layer._model is not None and not layer._model._holds_called_layer]
        homes = {id(layer): layer._model for layer in chain}
        for layer in chain:
            if layer not in self._shared:
                self._take(layer)
        self._layers = chain
        self._segments = None  # (the core they copy, [(depth, core)]) for several outputs
        try:
            self._build()
        except ValueError:  # e.g. too large: the layers stay where they were
            for layer in chain:
                layer._model = homes[id(layer)]
            raise

    @classmethod
    def _of_layers(cls, model):
        """The functional chain of an unbuilt Sequential model's layers, which move to it (loading a chain)."""
        inputs = outputs = InputLayer(shape=model._input_shape).output
        for layer in model._layers:
            layer._model = None
            outputs = layer._call_symbolic(outputs)
        return cls(inputs, outputs, name=model.name, trainable=model.trainable)

    def __reduce__(self):
        """pickle and copy.deepcopy, as a Sequential model's (densenn's model format); the copy holds all its
        layers' weights, also those another model holds here."""
        self._require_one_output("pickle")
        self._pull_shared()
        return saving.native.model_from_bytes, (saving.native.model_to_bytes(self), True)

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        return [self._input_layer, *self._layers]  # as Keras, a functional model lists its InputLayer

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    def _output_shapes(self):
        shapes = [self._input_shape, *self._layer_output_shapes()]
        return [(None, *shapes[depth]) for depth in self._output_depths]

    @property
    def output_shape(self):
        shapes = self._output_shapes()
        return shapes[0] if len(shapes) == 1 else shapes

    def _summary_input_rows(self):
        return [(self._input_layer.name, "InputLayer", format_shape((None, *self._input_shape)), "0")]

    def add(self, layer):
        raise TypeError("add: a functional model's layers are those called between its inputs and outputs; "
                        "call the new layer on model.output and make a new Model.")

    def pop(self):
        raise TypeError("pop: a functional model's layers are those called between its inputs and outputs; "
                        "make a new Model(inputs=model.input, outputs=model.layers[-2].output).")

    # ------------------------------------------------------------------ layers held by other models
    def _build(self):
        super()._build()
        self._pull_shared()

    def _pull_shared(self):
        """Copies the current weights of the layers other models hold into this model's core."""
        for layer in self._shared:
            if layer.built:  # (one removed from its model since keeps the weights it had)
                self._set_layer_weights(layer, layer.get_weights())

    def _push_shared(self):
        for layer in self._shared:
            if layer.built:
                layer.set_weights(self._layer_weights(layer))

    def _require_trainable(self, what):
        if len(self._outputs) > 1:
            raise ValueError(f"{what}: densenn trains models with one output, this one has {len(self._outputs)}: "
                             "train a Model with the last output alone; this one's predictions follow it.")
        if self._shared:
            homes = sorted({layer._model.name for layer in self._shared})
            raise ValueError(f"{what}: layers {[layer.name for layer in self._shared]} hold their weights in "
                             f"model(s) {homes}, where densenn trains them: train that model (this model's "
                             "predictions follow it), or build this one from new layers.")

    def compile(self, *args, **kwargs):
        self._require_trainable("compile")
        super().compile(*args, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        self._pull_shared()
        return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks)

    def predict_on_batch(self, x):
        self._pull_shared()
        return super().predict_on_batch(x)

    def get_weights(self):
        self._pull_shared()
        return super().get_weights()

    def _weights_by_layer(self):
        self._pull_shared()
        return super()._weights_by_layer()

    def set_weights(self, weights):
        super().set_weights(weights)
        self._push_shared()

    def load_weights(self, filepath):
        super().load_weights(filepath)
        self._push_shared()

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Saves the chain as the Sequential model of the same layers (which is what load_model returns)."""
        self._require_one_output("save")
        self._pull_shared()
        super().save(filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        self._pull_shared()
        super().save_weights(filepath, overwrite=overwrite)

    def export(self, filepath, format=None, opset=17, **kwargs):
        self._require_one_output("export")
        self._pull_shared()
        super().export(filepath, format=format, opset=opset, **kwargs)

    def to_json(self, **kwargs):
        """The chain as the JSON of the Sequential model of the same layers."""
        self._require_one_output("to_json")
        return super().to_json(**kwargs)

    def _require_one_output(self, what):
        if len(self._outputs) > 1:
            raise ValueError(f"{what}: densenn writes a functional chain as the Sequential model of its layers, "
                             f"which has one output; this model has {len(self._outputs)}.")

    # ------------------------------------------------------------------ several outputs
    def _predicts_lean(self):
        return len(self._outputs) == 1 and super()._predicts_lean()

    def _forward(self, x, check_finite=False):
        if len(self._outputs) == 1:
            return super()._forward(x, check_finite)
        if check_finite and not data_adapter.all_finite(x):
            raise data_adapter.NonFiniteInput("x contains NaN or Inf values")
        outputs = {}
        for depth, core in self._segment_cores():
            x = outputs[depth] = core.predict(x)
        return [outputs[depth] for depth in self._output_depths]

    def _segment_cores(self):
        """A core for each run of layers between two outputs, with this model's current weights: the outputs
        are computed one run after the other, each layer once."""
        if self._segments is None or self._segments[0] is not self._core:
            shapes, start, segments = [self._input_shape, *self._layer_output_shapes()], 0, []
            for depth in sorted(set(self._output_depths)):
                segments.append((depth, new_core(shapes[start], self._layers[start:depth], 0, like=self._core)))
                start = depth
            self._segments = (self._core, segments)
        slices, start = self._weight_slices(), 0
        for depth, core in self._segments[1]:
            copy_weights(self._core, [s for layer in slices[start:depth] for s in layer],
                         core, [s for layer in weight_slices(core) for s in layer])
            start = depth
        return self._segments[1]
