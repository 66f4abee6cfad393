"""Data sets shipped inside the package (no download): ``mnist`` and ``banknote``."""
from . import banknote, mnist

__all__ = ["mnist", "banknote"]
