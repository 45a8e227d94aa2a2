"""Portable feature extractors: scikit-learn transformers whose arithmetic is a MicroPython
source that runs unchanged on the host (CPython) and on the device (viper machine code).

>>> fx = eml.features.TimeStats(axes="xyz", magnitude=True)            # doctest: +SKIP
>>> X = fx.fit_transform(win.X)                                        # doctest: +SKIP
>>> dev.check_features(fx, win.X[:200])                                # doctest: +SKIP
"""
from .audio import FFTBands, LogMel, SoundLevel
from .base import Extractor
from .time_stats import TimeStats

__all__ = ["Extractor", "TimeStats", "SoundLevel", "FFTBands", "LogMel"]
