"""Pictures of a model and of its training: ``plot_model`` and ``model_to_dot`` as in ``keras.utils``, and
``plot_history`` (densenn's), exported from ``densenn.utils``.

plot_model draws with graphviz's `dot` through pydot where both are installed, as Keras does, and otherwise with
matplotlib, so that it always works. The two routes show the same boxes: the layer's name and class, and when
asked, its activation, input and output shapes, output dtype and whether it is trainable. matplotlib is imported
inside the functions; plot_model draws on an Agg canvas of its own and never touches pyplot or its backend.
"""
import html
import math
import os
import warnings

import numpy as np

_RANKDIRS = ("TB", "LR", "BT", "RL")


# --------------------------------------------------------------------------- what a layer's box says

def _format_shape(tensor_attribute, layer):
    try:
        return str(tuple(getattr(layer, tensor_attribute).shape))
    except (ValueError, AttributeError):
        return "?"


def _layer_box(layer, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable):
    """What a layer's box shows, as Keras' model_to_dot labels it: (title, activation line or None, cells).
    A title or line is a list of (text, bold) pieces; a cell is (pieces, background)."""
    class_name = type(layer).__name__
    title = [(layer.name, True), (f"({class_name})", False)] if show_layer_names else [(class_name, True)]
    activation = getattr(layer, "activation", None)
    activation_line = None
    if show_layer_activations and activation is not None:
        activation_line = [("Activation:", False), (getattr(activation, "__name__", str(activation)), True)]
    cells = []
    if show_shapes:
        if class_name != "InputLayer":
            cells.append(([("Input shape:", False), (_format_shape("input", layer), True)], "white"))
        cells.append(([("Output shape:", False), (_format_shape("output", layer), True)], "white"))
    if show_dtype:
        try:
            dtype = layer.output.dtype
        except (ValueError, AttributeError):
            dtype = "?"
        cells.append(([("Output dtype:", False), (str(dtype), True)], "white"))
    if show_trainable and layer.weights:
        cells.append(([("Trainable", True)], "forestgreen") if layer.trainable
                     else ([("Non-trainable", True)], "firebrick"))
    return title, activation_line, cells


def _check_arguments(model, rankdir, dpi, kwargs, what):
    from .sequential import Sequential

    if not isinstance(model, Sequential):
        raise ValueError(f"{what}: expected a densenn model (Sequential or Model), got {model!r}")
    if not model.built:
        raise ValueError("This model has not yet been built. Build the model first by calling `build()` or by "
                         "calling the model on a batch of data.")
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"{what}: rankdir must be one of {', '.join(map(repr, _RANKDIRS))} ('TB': top to bottom, "
                         f"'LR': left to right), got {rankdir!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float, np.integer, np.floating)) or not 0 < dpi < math.inf:
        raise ValueError(f"{what}: dpi must be a positive number, got {dpi!r}")


# --------------------------------------------------------------------------- graphviz (pydot), as Keras

def _graphviz_available():
    """Whether pydot and graphviz's `dot` program are installed: Keras' check, rendering an empty graph."""
    try:
        import pydot
    except ImportError:
        return False
    try:
        pydot.Dot.create(pydot.Dot())
        return True
    except (OSError, pydot.PydotException):
        return False


def _html_label(box, span):
    """A box as the HTML-like graphviz table Keras draws: a black title row, then the activation and cells; the
    rows span `span` columns (Keras': two for the shapes, one each for the dtype and trainable, at least one)."""
    def pieces(parts, size, color=None):
        text = " ".join(f"<b>{html.escape(t)}</b>" if bold else html.escape(t) for t, bold in parts)
        colour = f' color="{color}"' if color else ""
        return f'<font point-size="{size}"{colour}>{text}</font>'

    title, activation_line, cells = box
    rows = [f'<tr><td colspan="{span}" bgcolor="black">{pieces(title, 16, "white")}</td></tr>']
    if activation_line:
        rows.append(f'<tr><td bgcolor="white" colspan="{span}">{pieces(activation_line, 14)}</td></tr>')
    if cells:
        rows.append("<tr>" + "".join(
            f'<td bgcolor="{background}">{pieces(parts, 14, None if background == "white" else "white")}</td>'
            for parts, background in cells) + "</tr>")
    return f'<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">{"".join(rows)}</table>>'


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB", expand_nested=False,
                 dpi=200, subgraph=False, show_layer_activations=False, show_trainable=False, splines="ortho",
                 **kwargs):
    """The model as a ``pydot.Dot`` graph (a ``pydot.Cluster`` with `subgraph`), as Keras' model_to_dot: one
    box per layer, an edge from each layer to the next. Needs pydot (not graphviz: that only draws it).
    densenn models hold no nested models, so `expand_nested` changes nothing."""
    _check_arguments(model, rankdir, dpi, kwargs, "model_to_dot")
    try:
        import pydot
    except ImportError:
        raise ImportError("You must install pydot (`pip install pydot`) for model_to_dot to work.") from None
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    layers = model.layers
    span = max(1, 2 * bool(show_shapes) + bool(show_dtype) + bool(show_trainable))
    for layer in layers:
        box = _layer_box(layer, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable)
        node = pydot.Node(str(id(layer)), label=_html_label(box, span))
        node.set("fontname", "Helvetica")
        node.set("border", "0")
        node.set("margin", "0")
        dot.add_node(node)
    for source, destination in zip(layers, layers[1:]):
        edge = pydot.Edge(str(id(source)), str(id(destination)))
        edge.set("penwidth", "2")
        dot.add_edge(edge)
    return dot


# --------------------------------------------------------------------------- matplotlib, where graphviz is not

_TITLE_SIZE, _BODY_SIZE = 12, 10  # points
_PAD_X, _PAD_Y, _GAP, _MARGIN = 8, 5, 26, 8  # points: inside a cell, between boxes (the arrows), around them


def _model_figure(boxes, rankdir, dpi):
    """A matplotlib Figure of the boxes, joined by arrows in the order of the layers."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import FancyArrowPatch, Rectangle

    figure = Figure(dpi=72)  # measured at 72 dpi, a pixel is a point
    renderer = FigureCanvasAgg(figure).get_renderer()
    fonts = {(size, bold): FontProperties(size=size, weight="bold" if bold else "normal")
             for size in (_TITLE_SIZE, _BODY_SIZE) for bold in (False, True)}
    space = renderer.get_text_width_height_descent("x x", fonts[_BODY_SIZE, False], ismath=False)[0] - \
        renderer.get_text_width_height_descent("xx", fonts[_BODY_SIZE, False], ismath=False)[0]

    def width(pieces, size):
        return sum(renderer.get_text_width_height_descent(text, fonts[size, bold], ismath=False)[0]
                   for text, bold in pieces) + space * (len(pieces) - 1)

    def row_height(size):
        return size * 1.3 + 2 * _PAD_Y

    # Each box's rows: (height, [(width, pieces, size, background)]) with the cells' widths filling the box.
    layouts = []
    for title, activation_line, cells in boxes:
        rows = [(_TITLE_SIZE, [(title, "black")])]
        if activation_line:
            rows.append((_BODY_SIZE, [(activation_line, "white")]))
        if cells:
            rows.append((_BODY_SIZE, cells))
        box_width = max(sum(width(pieces, size) + 2 * _PAD_X for pieces, _ in row) for size, row in rows)
        laid = []
        for size, row in rows:
            natural = [width(pieces, size) + 2 * _PAD_X for pieces, _ in row]
            extra = (box_width - sum(natural)) / len(row)
            laid.append((row_height(size), [(w + extra, pieces, size, background)
                                            for w, (pieces, background) in zip(natural, row)]))
        layouts.append((box_width, sum(height for height, _ in laid), laid))

    # Box positions (lower left corners), in points, along the chosen direction.
    vertical = rankdir in ("TB", "BT")
    order = list(range(len(layouts)))
    if rankdir in ("BT", "RL"):
        order.reverse()
    corners, along = [None] * len(layouts), 0.0
    thickest = max(((w if vertical else h) for w, h, _ in layouts), default=0.0)  # no layers: a blank picture
    for index in order:  # TB/BT: downwards; LR/RL: rightwards
        w, h, _ = layouts[index]
        corners[index] = ((thickest - w) / 2, -along - h) if vertical else (along, (thickest - h) / 2)
        along += (h if vertical else w) + _GAP
    along = max(along - _GAP, 0.0)
    x_low, x_high = (0, thickest) if vertical else (0, along)
    y_low, y_high = (-along, 0) if vertical else (0, thickest)

    figure.set_size_inches((x_high - x_low + 2 * _MARGIN) / 72, (y_high - y_low + 2 * _MARGIN) / 72)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(x_low - _MARGIN, x_high + _MARGIN)
    axes.set_ylim(y_low - _MARGIN, y_high + _MARGIN)
    axes.set_axis_off()
    for (x, y), (box_width, box_height, rows) in zip(corners, layouts):
        top = y + box_height
        for height, cells in rows:
            left = x
            for cell_width, pieces, size, background in cells:
                axes.add_patch(Rectangle((left, top - height), cell_width, height, facecolor=background,
                                         edgecolor="black", linewidth=1))
                colour = "black" if background == "white" else "white"
                cursor = left + (cell_width - width(pieces, size)) / 2
                for text, bold in pieces:
                    axes.text(cursor, top - height / 2, text, fontproperties=fonts[size, bold], color=colour,
                              ha="left", va="center_baseline", parse_math=False)  # a name may hold "$"
                    cursor += width([(text, bold)], size) + space
                left += cell_width
            top -= height
    # An arrow from each layer's box to the next one's.
    for (x0, y0), (w0, h0, _), (x1, y1), (w1, h1, _) in zip(corners, layouts, corners[1:], layouts[1:]):
        if vertical:
            start, end = ((x0 + w0 / 2, y0), (x1 + w1 / 2, y1 + h1)) if rankdir == "TB" else \
                ((x0 + w0 / 2, y0 + h0), (x1 + w1 / 2, y1))
        else:
            start, end = ((x0 + w0, y0 + h0 / 2), (x1, y1 + h1 / 2)) if rankdir == "LR" else \
                ((x0, y0 + h0 / 2), (x1 + w1, y1 + h1 / 2))
        axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, linewidth=2,
                                       color="black", shrinkA=0, shrinkB=1))
    figure.set_dpi(dpi)
    return figure


# --------------------------------------------------------------------------- plot_model

def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False, rankdir="TB",
               expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, splines="ortho",
               **kwargs):
    """Draws the model into `to_file` (format from its suffix: '.png', '.pdf', '.svg', ...; PNG without one),
    one box per layer, arrows in the order data flows; as Keras' plot_model.

    With pydot and graphviz's `dot` installed, graphviz draws it, as in Keras; otherwise matplotlib does (then
    `splines` has no effect: the arrows are straight). Returns an ``IPython.display.Image`` (``SVG`` for an
    '.svg' file) where IPython is installed, which a notebook shows, else None. densenn models hold no nested
    models, so `expand_nested` changes nothing."""
    _check_arguments(model, rankdir, dpi, kwargs, "plot_model")
    if not isinstance(to_file, (str, os.PathLike)):
        raise ValueError(f"plot_model: to_file must be a path (a string or os.PathLike), got {to_file!r}")
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    options = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                   show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    if _graphviz_available():
        dot = model_to_dot(model, rankdir=rankdir, expand_nested=expand_nested, dpi=dpi, splines=splines, **options)
        dot.write(to_file, format=extension)
    else:
        import matplotlib

        boxes = [_layer_box(layer, **options) for layer in model.layers]
        figure = _model_figure(boxes, rankdir, dpi)
        # SVG text stays text (searchable, and smaller than outlines)
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            figure.savefig(to_file, format=extension, dpi=dpi, facecolor="white")
    try:
        from IPython import display
    except ImportError:
        return None
    if extension == "svg":
        return display.SVG(filename=to_file)
    if extension in ("png", "jpg", "jpeg", "gif"):
        with open(to_file, "rb") as f:  # by content: a file without a suffix is a PNG too
            return display.Image(data=f.read(), format="jpeg" if extension == "jpg" else extension)
    return None


# --------------------------------------------------------------------------- plot_history

def _history_series(history):
    """{name: float array} from a History callback or its ``.history`` dict, and the epoch numbers (from 1)."""
    from .callbacks import History

    epochs = None
    if isinstance(history, History):
        epochs, history = list(history.epoch), history.history
    if not isinstance(history, dict):
        raise ValueError("plot_history: expected a History (what fit() returns) or its .history dict, "
                         f"got {history!r}")
    series = {}
    for name, values in history.items():
        try:
            series[name] = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"plot_history: history[{name!r}] must be a list of numbers, got {values!r}") from None
    lengths = {len(values) for name, values in series.items() if not name.startswith("val_")}
    if not lengths or max(lengths) == 0:
        raise ValueError("plot_history: the history holds no epochs to plot (it needs e.g. 'loss': [...]).")
    if len(lengths) > 1:
        raise ValueError(f"plot_history: the training quantities have different numbers of epochs: "
                         f"{ {name: len(v) for name, v in series.items() if not name.startswith('val_')} }")
    count = lengths.pop()
    if epochs is None or len(epochs) != count:
        epochs = range(count)
    return series, np.asarray(epochs) + 1


def plot_history(history, metrics=None, figsize=None):
    """The training curves of a fit: one axis per quantity (the loss, each metric, the learning rate when
    logged), the training values and, where fit validated, the validation ones, against the epoch (from 1).

    `history` is what fit() returns (or its ``.history`` dict); `metrics` names the quantities to draw (default:
    all, the loss first). Returns the matplotlib Figure (made with pyplot: ``plt.show()`` shows it, a notebook
    shows it, ``fig.savefig(path)`` saves it). Validation values logged only every few epochs
    (``validation_freq``) cannot be placed on the epochs from the history alone: they are left out, with a
    warning."""
    series, epochs = _history_series(history)
    available = [name for name in series if not name.startswith("val_")]
    available.sort(key=lambda name: name != "loss")  # the loss first, the rest in the history's order
    if metrics is None:
        names = available
    else:
        names = [metrics] if isinstance(metrics, str) else metrics
        if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"plot_history: metrics must be a name or a list of names, got {metrics!r}")
        for name in names:
            if name not in available:
                hint = f" (validation values are drawn with {name[4:]!r})" if name.startswith("val_") else ""
                raise ValueError(f"plot_history: {name!r} is not in the history{hint}; it has "
                                 f"{', '.join(map(repr, available))}.")
    if figsize is not None and (not isinstance(figsize, (tuple, list)) or len(figsize) != 2
                                or not all(isinstance(v, (int, float)) and v > 0 for v in figsize)):
        raise ValueError(f"plot_history: figsize must be (width, height) in inches, got {figsize!r}")

    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    columns = min(len(names), 3)
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=figsize or (4.6 * columns, 3.4 * rows), squeeze=False,
                                layout="constrained")
    marker = "o" if len(epochs) <= 30 else None
    for axis, name in zip(axes.flat, names):
        axis.plot(epochs, series[name], marker=marker, markersize=4, label="training")
        validation = series.get("val_" + name)
        if validation is not None and len(validation) == len(epochs):
            axis.plot(epochs, validation, marker=marker, markersize=4, linestyle="--", label="validation")
        elif validation is not None:
            warnings.warn(f"plot_history: 'val_{name}' has {len(validation)} values for {len(epochs)} epochs "
                          "(validation_freq > 1?): the history does not say which epochs they belong to, so they "
                          "are not drawn.", stacklevel=2)
        axis.set_title(name, parse_math=False)
        axis.set_xlabel("epoch")
        axis.set_ylabel(name, parse_math=False)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        if len(axis.lines) > 1:
            axis.legend()
    for axis in axes.flat[len(names):]:
        axis.remove()
    return figure
