"""The Sequential model, as in ``keras.Sequential``: a stack of layers bound to a C++ core that holds their
weights (the layer stack, weights, summary and config here; training in trainer.py)."""
import json
import math

import numpy as np

from . import config, data_adapter, distribution, saving, utils
from ._core import core, module_for
from ._summary import default_line_length, format_count, format_shape, format_summary
from .layers import InputLayer, KerasTensor, Layer, deserialize, sample_shape, serialize, unique_name
from .trainer import Trainer


def _check_widths(input_shape, layers, specs, max_width):
    """Refuses widths the C++ core's integers cannot take (a Python int may have any size). Every other limit
    (the model's size against densenn's limit and the memory there is, Maxout's pieces, initial values) is the
    core's, checked in its constructor before it allocates; this front only names the layer it reports."""
    width = math.prod(input_shape)
    if width > max_width:
        raise ValueError(f"input shape {(None, *input_shape)}: {width} features per sample is more than densenn's "
                         f"limit of {max_width} (2**31 - 1)")
    for layer, spec in zip(layers, specs):
        if spec.get("units", 0) > max_width:
            raise ValueError(f"{type(layer).__name__} {layer.name!r}: {spec['units']} units is more than densenn's "
                             f"limit of {max_width} (2**31 - 1)")


def core_specs(input_shape, layers):
    """The C++ core's layer configurations for this chain on inputs of this per-sample shape (what a core is
    built from and a model file stores)."""
    specs, shape = [], input_shape
    for layer in layers:
        specs.append(layer._core_config(shape))
        shape = layer._output_shape(shape)
    return specs


def new_core(input_shape, layers, seed, like=None):
    """A C++ core for this chain of layers on inputs of this per-sample shape, its weights initialised from
    seed; of the same build and float type as the core `like` (so that the two compute the same numbers), or
    for the current floatx."""
    specs = core_specs(input_shape, layers)
    if like is not None:
        model_class = type(like)
    else:
        module = module_for(max((spec.get("units", 0) for spec in specs), default=0))
        model_class = module.SequentialF64 if config.floatx() == "float64" else module.SequentialF32
    _check_widths(input_shape, layers, specs, core.max_width)
    try:
        return model_class(math.prod(input_shape), specs, seed)
    except ValueError as e:
        if getattr(e, "layer_index", None) is None:
            raise
        layer = layers[e.layer_index]
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: {e}") from None


def weight_slices(core):
    """For each layer of a core, its weights as (buffer, offset, shape): the trainable ones in the core's
    parameter buffer, then the non-trainable ones (moving statistics) in its state buffer."""
    offsets, slices = {"params": 0, "state": 0}, []
    for trainable, state in zip(core.weight_shapes(), core.state_shapes()):
        layer = []
        for buffer, shapes in (("params", trainable), ("state", state)):
            for shape in shapes:
                layer.append((buffer, offsets[buffer], tuple(shape)))
                offsets[buffer] += int(np.prod(shape))
        slices.append(layer)
    return slices


def copy_weights(source, source_slices, target, target_slices):
    """Copies weights from one core to another (slices of the same shapes, in order), read together under the
    source's lock."""
    copies = source.read([(b, o, int(np.prod(shape))) for b, o, shape in source_slices])
    target.write([(b, o, c) for (b, o, _), c in zip(target_slices, copies)])


def call_on_array(layer, x):
    """``layer(x)`` on an array: the layer's output, computed in the C++ core with the layer's weights. A layer
    with weights that is in no model builds them on its first call, as Keras does, in a one-layer model that
    holds them until the layer joins a model (which takes them along)."""
    x = data_adapter.numeric_array(x, f"Layer {layer.name!r} input")
    if x.ndim < 2 or 0 in x.shape:
        raise ValueError(f"Layer {layer.name!r}: expected a batch of shape (batch, features), got an array of shape "
                         f"{x.shape}")
    shape = tuple(int(d) for d in x.shape[1:])
    home = layer._model
    if home is None and layer._weight_names():
        home = Sequential([InputLayer(shape=shape, name=f"{layer.name}_input"), layer], name=f"{layer.name}_weights")
        home._holds_called_layer = True
    if home is not None and not home.built:
        raise ValueError(f"Layer {layer.name!r} belongs to model {home.name!r}, which is not built yet (it has no "
                         "input shape), so the layer has no weights to compute with.")
    layer._check_input_shape(shape)
    if home is not None and home._holds_called_layer:
        core = home._core
    else:  # weightless, or in a model: a core for this layer alone (seed 0: its weights are copied or none)
        core = new_core(shape, [layer], 0, like=None if home is None else home._core)
        if home is not None:
            copy_weights(home._core, home._weight_slices()[home._layers.index(layer)], core, weight_slices(core)[0])
    x = data_adapter.converted(x, core.params.dtype, f"Layer {layer.name!r} input")
    return core.predict(data_adapter.flat(x)).reshape(len(x), *layer._output_shape(shape))


class Sequential(Trainer):
    """``Sequential([Input(shape=(784,)), Dense(100, activation='sigmoid'), Dense(10, activation='softmax')])``."""

    _defer_build = False  # from_config adds every layer, then builds once
    _called_batch_size = None  # the batch size summary() shows: set when a call on data built the model
    _holds_called_layer = False  # True for the one-layer model of a layer called on arrays (call_on_array)

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__()
        self.name = name or unique_name("sequential")
        self._layers = []
        self.trainable = trainable
        self._input_shape = None  # per-sample shape, e.g. (784,) or (28, 28), once known
        self._input_layer = None  # the InputLayer given, or made when the symbolic tensors are first asked for
        self._symbolic = None  # (the chain they were made for, [input tensor, each layer's output tensor])
        self._core = None
        self._lean_predict = None  # the core's predict_ready while the model's small predicts may take it
        self._core_layers = []  # the layers the current core was built for
        self._carried = {}  # id(layer): the weights a layer called on arrays brings, written at the next build
        if layers is not None and not isinstance(layers, (list, tuple)):
            raise ValueError(f"Sequential: expected a list of layers, got {layers!r}")
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        return list(self._layers)

    @property
    def built(self):
        return self._core is not None

    @property
    def input_shape(self):
        return None if self._input_shape is None else (None, *self._input_shape)

    @property
    def output_shape(self):
        shapes = self._layer_output_shapes()
        return None if shapes is None else (None, *(shapes[-1] if shapes else self._input_shape))

    def get_layer(self, name=None, index=None):
        """A layer by name, or by its index in ``layers``."""
        if name is not None and index is not None:
            raise ValueError(f"Provide only a layer name or a layer index. Received: index={index}, name={name}.")
        layers = self.layers
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise ValueError(f"get_layer: index must be an integer, got {index!r}")
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only has {len(layers)} "
                                 "layers.")
            return layers[index]
        if name is not None:
            for layer in layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name}. Existing layers are: {[layer.name for layer in layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    # ------------------------------------------------------------------ symbolic tensors (functional API)
    def _symbolic_tensors(self):
        """The model's input tensor and each layer's output tensor, made when first asked for (as Keras'
        Sequential calls its layers on its input), so that ``Model(model.inputs, [l.output for l in
        model.layers])`` runs the same layers."""
        chain = (self._input_shape, [id(layer) for layer in self._layers])
        if self._symbolic is None or self._symbolic[0] != chain:
            if self._input_layer is None or self._input_layer.shape != self._input_shape:
                self._input_layer = InputLayer(shape=self._input_shape)
            tensors = [self._input_layer.output]
            for layer in self._layers:
                tensors.append(layer._call_symbolic(tensors[-1]))
            self._symbolic = (chain, tensors)
        return self._symbolic[1]

    def _defined(self, what):
        if not self.built:
            raise AttributeError(f"Sequential model {self.name!r} has no defined {what} yet.")

    @property
    def inputs(self):
        self._defined("inputs")
        return [self._symbolic_tensors()[0]]

    @property
    def outputs(self):
        self._defined("outputs")
        return [self._symbolic_tensors()[-1]]

    @property
    def input(self):
        return self.inputs[0]

    @property
    def output(self):
        outputs = self.outputs
        return outputs[0] if len(outputs) == 1 else outputs

    def add(self, layer):
        """Appends a layer (or sets the input with an ``Input()``/``InputLayer``). A layer called on arrays before
        brings its weights along."""
        self._refuse_while_running("Sequential.add")
        if isinstance(layer, KerasTensor):
            origin = layer._history[0]
            if not isinstance(origin, InputLayer):
                raise ValueError(f"Sequential.add: expected a layer or an Input() tensor, got the output tensor of "
                                 f"layer {origin.name!r} (use a functional Model for tensors).")
            layer = origin
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("Sequential.add: an InputLayer can only be the first layer of the model.")
            self._input_shape = layer.shape
            self._input_layer = layer
            if not self._defer_build:
                self._build()
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Sequential.add: expected a densenn layer, got {layer!r}")
        home = layer._model
        if home is not None and home is not self and not home._holds_called_layer:
            raise ValueError(f"Sequential.add: layer {layer.name!r} already belongs to another model.")
        if home is self:
            raise ValueError(f"Sequential.add: layer {layer.name!r} is already in this model.")
        if not self._defer_build and any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Sequential.add: all layers must have unique names; {layer.name!r} is taken.")
        previous_shape = self._input_shape
        first_shape = getattr(layer, "_input_shape", None)
        if first_shape is not None and not self._layers and self._input_shape is None:
            self._input_shape = first_shape
        self._layers.append(layer)
        self._take(layer)
        if self._input_shape is not None and not self._defer_build:
            try:
                self._build()
            except ValueError:  # the layer does not fit: the model stays as it was
                self._layers.pop()
                layer._model = home
                self._carried.pop(id(layer), None)
                self._input_shape = previous_shape
                raise

    def _take(self, layer):
        """Makes this model hold the layer's weights; a layer called on arrays brings the weights it has."""
        if layer._model is not None:
            self._carried[id(layer)] = layer._model._layer_weights(layer)
        layer._model = self

    def pop(self):
        self._refuse_while_running("Sequential.pop")
        if not self._layers:
            raise ValueError("Sequential.pop: there are no layers to remove.")
        layer = self._layers.pop()
        layer._model = None
        if self._input_shape is not None:
            self._build()
        return layer

    def build(self, input_shape=None):
        """Builds the model for inputs of shape (None, *sample_shape)."""
        self._refuse_while_running("build")
        if input_shape is not None:
            if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 2:
                raise ValueError(f"build: expected input_shape=(None, features), got {input_shape!r}")
            self._build_for(sample_shape(tuple(input_shape)[1:], "build input_shape"))
        elif self._input_shape is None:
            raise ValueError("build: the model has no input shape; pass input_shape=(None, features).")
        else:
            self._build()

    def _build_for(self, input_shape):
        """Builds for this per-sample input shape, or leaves the model as it was when the layers refuse it."""
        previous = self._input_shape
        self._input_shape = input_shape
        try:
            self._build()
        except ValueError:
            self._input_shape = previous
            raise

    def _layer_output_shapes(self):
        """Each layer's per-sample output shape (None until the input shape is known)."""
        if self._input_shape is None:
            return None
        shapes, shape = [], self._input_shape
        for layer in self._layers:
            shape = layer._output_shape(shape)
            shapes.append(shape)
        return shapes

    def _build(self):
        """(Re)creates the C++ model for the current layers, keeping the weights of layers it already had and
        those that layers called on arrays bring."""
        kept = {}
        if self._core is not None:  # the slices computed once: per layer, rebuilding a deep model was cubic
            kept = {id(layer): self._read_weights(slices)
                    for layer, slices in zip(self._core_layers, self._weight_slices())}
        core = new_core(self._input_shape, self._layers, utils.next_seed())
        slices_by_layer = weight_slices(core)
        for layer, slices in zip(self._layers, slices_by_layer):  # checked before the model changes
            carried = self._carried.get(id(layer))
            if carried is not None and [w.shape for w in carried] != [shape for _, _, shape in slices]:
                raise ValueError(f"Input of layer {layer.name!r} is incompatible with the layer: its weights have "
                                 f"shapes {[w.shape for w in carried]}, this model's input to it needs "
                                 f"{[shape for _, _, shape in slices]}.")
        self._core = core
        self._lean_predict = core.predict_ready if self._predicts_lean() else None
        self._core_layers = list(self._layers)
        self._dtype = np.float64 if config.floatx() == "float64" else np.float32
        for layer, slices in zip(self._layers, slices_by_layer):
            if id(layer) in self._carried:
                self._write_weights(slices, self._carried.pop(id(layer)), f"Layer {layer.name!r}")
            elif kept.get(id(layer)):
                try:
                    self._write_weights(slices, kept[id(layer)], f"Layer {layer.name!r}")
                except ValueError:  # its input width changed: it keeps the fresh weights
                    pass
        if self._compile_args is not None:
            self._compile_core()

    def _ensure_built(self, x):
        if self._core is None:
            if not self._layers:
                raise ValueError("The model has no layers: add layers before training or predicting.")
            self._build_for(tuple(x.shape[1:]))

    # ------------------------------------------------------------------ weights
    def _weight_slices(self):
        return weight_slices(self._core)

    def _read_weights(self, slices):
        """Copies, taken together under the core's lock: never half of one training step and half of another."""
        copies = self._core.read([(b, o, int(np.prod(s))) for b, o, s in slices])
        return [c.reshape(s) for c, (_, _, s) in zip(copies, slices)]

    def _write_weights(self, slices, weights, owner):
        arrays = self._checked_weights(weights, [s for _, _, s in slices], owner)  # all checked before any write
        # Written together under the core's lock: a fit in another thread waits, then goes on from them.
        self._core.write([(b, o, a.ravel()) for (b, o, _), a in zip(slices, arrays)])

    def _layer_weights(self, layer):
        return self._read_weights(self._weight_slices()[self._layers.index(layer)])

    def _layer_weight_shapes(self, layer):
        return [shape for _, _, shape in self._weight_slices()[self._layers.index(layer)]]

    def _layer_input_shape(self, layer):
        i = self._layers.index(layer)
        return self._input_shape if i == 0 else self._layer_output_shapes()[i - 1]

    def _set_layer_weights(self, layer, weights):
        self._write_weights(self._weight_slices()[self._layers.index(layer)], weights, f"Layer {layer.name!r}")

    def _checked_weights(self, weights, shapes, owner):
        """Validates a list of weight arrays against the expected shapes before anything is written."""
        if isinstance(weights, np.ndarray) or not hasattr(weights, "__len__"):
            raise ValueError(f"{owner}: set_weights expects a list of arrays, got {type(weights).__name__}")
        if len(weights) != len(shapes):
            raise ValueError(f"{owner}: expected {len(shapes)} weight arrays, got {len(weights)}.")
        arrays = []
        for i, (w, shape) in enumerate(zip(weights, shapes)):
            w = data_adapter.numeric_array(w, f"{owner} weight {i}")
            if w.shape != shape:
                raise ValueError(f"{owner}: weight {i} has shape {w.shape}, expected shape {shape}.")
            arrays.append(data_adapter.converted(w, self._dtype, f"{owner}: weight {i}"))
        return arrays

    def get_weights(self):
        """All weights, layer by layer (Dense: kernel (in, units), then bias (units,))."""
        if self._core is None:
            return []
        return self._read_weights([s for layer in self._weight_slices() for s in layer])

    def _weights_by_layer(self):
        """Each layer's weights, all read under one lock (one consistent set while another thread trains)."""
        slices = self._weight_slices()
        flat = iter(self._read_weights([s for layer in slices for s in layer]))
        return [[next(flat) for _ in layer] for layer in slices]

    @property
    def weights(self):
        """Every layer's weights as Variables (``.numpy()``, ``.shape``, ``.name``), in get_weights' order."""
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable(self):
        """Whether fit() updates the model's weights. Setting it sets every layer's (as Keras 3 does); a layer
        can then be frozen or unfrozen on its own. A change takes effect at the next compile."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = data_adapter.flag(value, f"{type(self).__name__} {self.name!r}: trainable")
        for layer in self._layers:
            layer.trainable = self._trainable

    @property
    def trainable_weights(self):
        return [w for layer in self._layers for w in layer.trainable_weights] if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    def set_weights(self, weights):
        if self._core is None:
            raise ValueError("set_weights: the model is not built yet (give it an input shape first).")
        self._write_weights([s for layer in self._weight_slices() for s in layer], weights, "Sequential")

    def count_params(self):
        """All weights, trainable or not (as Keras counts them)."""
        if self._core is None:
            raise ValueError("count_params: the model is not built yet (give it an input shape first).")
        return int(self._core.params.size + self._core.state.size)

    # ------------------------------------------------------------------ summary
    def summary(self, line_length=None, print_fn=None):
        """Prints the model's layers, output shapes and parameter counts exactly as Keras 3 does."""
        if line_length is not None:
            data_adapter.positive_int(line_length, "line_length")
        if print_fn is not None and not callable(print_fn):
            raise ValueError(f"print_fn: expected a function such as print, got {print_fn!r}")
        shapes = self._layer_output_shapes()
        counts = None
        if self._core is not None:
            counts = [sum(int(np.prod(s)) for s in trainable + state)
                      for trainable, state in zip(self._core.weight_shapes(), self._core.state_shapes())]
        rows = self._summary_input_rows()
        for i, layer in enumerate(self._layers):
            shape = (self._called_batch_size, *shapes[i]) if shapes is not None else None
            params = format_count(counts[i]) if counts is not None else "0 (unbuilt)"
            rows.append((layer.name, type(layer).__name__, format_shape(shape), params))
        trainable = sum(int(np.prod(w.shape)) for w in self.trainable_weights)
        non_trainable = self.count_params() - trainable if self._core is not None else 0
        optimizer_params = None
        if self._core is not None and self.compiled and self._optimizer_built:
            # Keras counts the optimizer's variables: its state for the trainable weights (the core keeps slots
            # for all of them), iterations, and learning_rate unless a schedule gives it.
            params = int(self._core.params.size)
            per_param, extra = divmod(int(self._core.optimizer_state.size), params) if params else (0, 0)
            scheduled = callable(self.optimizer._learning_rate)
            optimizer_params = per_param * trainable + extra + (1 if scheduled else 2)
        text = format_summary(
            self.name, rows, trainable + non_trainable + (optimizer_params or 0), trainable, non_trainable,
            optimizer_params=optimizer_params, line_length=line_length or default_line_length(),
        )
        (print_fn or print)(text)

    def _summary_input_rows(self):
        return []  # Keras lists a Sequential model's layers without its InputLayer

    def get_config(self):
        """The architecture as Keras 3 describes a Sequential model (an InputLayer first when the input
        shape is known)."""
        layers = [serialize(layer) for layer in self._layers]
        if self._input_shape is not None:
            layers.insert(0, serialize(InputLayer(batch_shape=(None, *self._input_shape), name="input_layer")))
        config = {"name": self.name, "trainable": self.trainable, "layers": layers}
        if self._input_shape is not None:
            config["build_input_shape"] = [None, *self._input_shape]
        return config

    @classmethod
    def from_config(cls, config):
        """A new (untrained) model with the architecture `config` describes."""
        model = cls._unbuilt_from_config(config)
        if model._input_shape is not None:
            model._build()
        return model

    @classmethod
    def _unbuilt_from_config(cls, config):
        """from_config's model with its layers and input shape, its core not built yet (so that it is built
        once, not after each layer, and so that loading can check what it describes before allocating)."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("Sequential.from_config: expected a dict with a 'layers' list")
        model = cls._unbuilt([deserialize(layer_config) for layer_config in config["layers"]],
                             name=config.get("name"), trainable=config.get("trainable", True))
        if model._input_shape is None and config.get("build_input_shape"):
            model._input_shape = sample_shape(tuple(config["build_input_shape"])[1:], "build input_shape")
        return model

    @classmethod
    def _unbuilt(cls, layers, name=None, trainable=True, input_shape=None):
        """A model of these layers (an InputLayer first sets the input shape) whose core is not built yet: the
        caller builds it once, after checking what the layers describe."""
        model = cls(name=name, trainable=trainable)
        model._defer_build = True
        for layer in layers:
            model.add(layer)
        del model._defer_build
        names = [layer.name for layer in model._layers]  # add's check of each name, once for all (linear time)
        if len(set(names)) != len(names):
            taken = next(name for name in names if names.count(name) > 1)
            raise ValueError(f"Sequential.add: all layers must have unique names; {taken!r} is taken.")
        if input_shape is not None:
            model._input_shape = input_shape
        return model

    def to_json(self, **kwargs):
        """The architecture as JSON, in Keras' layout (``models.model_from_json`` reads it back)."""
        return json.dumps({"module": "keras", "class_name": "Sequential", "config": self.get_config(),
                           "registered_name": None}, **kwargs)

    # ------------------------------------------------------------------ saving (the saving package)
    def export(self, filepath, format=None, opset=17, **kwargs):
        """Writes the model for other runtimes: ``export('m.onnx', format='onnx')`` (ONNX opset 13-17, batch
        dimension symbolic; needs the `onnx` package). Keras' other formats (TF SavedModel, ...) do not apply."""
        if kwargs:
            raise TypeError(f"export: unsupported arguments {sorted(kwargs)}")
        if format is None and str(filepath).endswith(".onnx"):
            format = "onnx"
        if format != "onnx":
            raise ValueError(f"export: densenn exports format='onnx' only, got format={format!r}")
        saving.export_onnx(self, filepath, opset=opset)

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Saves architecture, weights and (include_optimizer) the compile configuration and optimizer state
        to a '.dnn' file (densenn's native format, readable from C/C++); atomic. Under data parallelism, rank 0
        writes it (the others have the same weights)."""
        if not distribution.writes_files():
            return
        saving.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        """Saves the weights (and moving statistics) to a '.dnn' file, or to a Keras 3 '.weights.h5' file that
        Keras' load_weights reads. Under data parallelism, rank 0 writes it."""
        if not distribution.writes_files():
            return
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath):
        """Loads weights into this model (shapes must match): from a '.dnn' file written by save_weights or save,
        from Keras' '.weights.h5' and '.keras' files, or from a legacy Keras '.h5' file."""
        saving.load_weights(self, filepath)

    def __reduce__(self):
        """pickle and copy.deepcopy go through densenn's own model format (saving.native.model_to_bytes): the
        copy has the same weights, compile configuration and optimizer state, and ``fit`` goes on in it exactly
        as in the original; unpickling builds it as load_model does, from bytes and JSON only."""
        return saving.native.model_from_bytes, (saving.native.model_to_bytes(self),)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
