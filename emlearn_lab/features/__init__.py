"""Portable feature extractors: scikit-learn transformers whose arithmetic is a MicroPython
source that runs unchanged on the host (CPython) and on the device (viper machine code).

>>> fx = eml.features.TimeStats(axes="xyz", magnitude=True)            # doctest: +SKIP
>>> X = fx.fit_transform(win.X)                                        # doctest: +SKIP
>>> dev.check_features(fx, win.X[:200])                                # doctest: +SKIP
"""
from .._lazy import attach

# Imported on first use: the extractors need scikit-learn, and device_src.emlfx_core imports
# features._viper, which must not run audio.py (it imports emlfx_core back).
__getattr__, __dir__ = attach(__name__, {
    "Extractor": ".base", "TimeStats": ".time_stats",
    **dict.fromkeys(["SoundLevel", "FFTBands", "LogMel"], ".audio"),
}, {"_design", "_viper", "audio", "base", "time_stats"})

__all__ = ["Extractor", "TimeStats", "SoundLevel", "FFTBands", "LogMel"]
