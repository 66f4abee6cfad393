"""``densenn.models``, as ``keras.models``: the model classes and the functions that make models from files
and JSON (the layer stack lives in sequential.py, functional chains in functional.py, training in trainer.py,
files in the saving package)."""
import json

from . import saving
from .functional import Functional
from .sequential import Sequential

Model = Functional  # Model(inputs=..., outputs=...), as keras.Model

__all__ = ["Sequential", "Model", "model_from_json", "load_model"]


def load_model(filepath, compile=True, custom_objects=None, safe_mode=True):
    """A model saved by ``model.save``: from a '.dnn' file (densenn's native format), or from a Keras
    '.keras'/'.h5' file where this densenn reads them. With compile=True the model comes back compiled,
    with its optimizer's state, so that fit() continues exactly where it stopped."""
    return saving.load_model(filepath, compile=compile, custom_objects=custom_objects, safe_mode=safe_mode)


def model_from_json(json_string):
    """The (untrained) model a ``to_json()`` string describes."""
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model_from_json: not valid JSON ({e})") from None
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        raise ValueError("model_from_json: densenn reads Sequential models only")
    return Sequential.from_config(config.get("config", {}))
