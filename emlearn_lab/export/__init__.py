"""Exports of emlearn_lab models to other languages: C99 headers (:func:`export_c`), their
Cortex-M flash sizes from a real build (:func:`c_size`) or estimated without a compiler
(:func:`c_flash_estimate`)."""
from .c_build import CSize, c_size
from .c_estimate import CFlashEstimate, c_flash_estimate
from .c_export import export_c

__all__ = ["export_c", "c_size", "CSize", "c_flash_estimate", "CFlashEstimate"]
