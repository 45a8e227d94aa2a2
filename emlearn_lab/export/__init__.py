"""Exports of emlearn_lab models to other languages: C99 headers (:func:`export_c`) and their
Cortex-M flash sizes (:func:`c_size`)."""
from .c_build import CSize, c_size
from .c_export import export_c

__all__ = ["export_c", "c_size", "CSize"]
