"""Saving and loading models: densenn's native ``.dnn`` files (native.py, which also picks the format by the
path's suffix), Keras 3 ``.keras`` and legacy ``.h5`` files (keras_files.py), ONNX export (onnx.py), and atomic
file writes (atomic.py). The package imports the model class only inside the functions that create one, so
``densenn.sequential`` can import it at the top."""
from .native import ModelFileError, load_model, load_weights, save_model, save_weights
from .onnx import export_onnx

__all__ = ["ModelFileError", "save_model", "load_model", "save_weights", "load_weights", "export_onnx"]
