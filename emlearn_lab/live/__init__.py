"""Live comparison: the same items through host and device models, prediction by prediction.

>>> from emlearn_lab.live import LiveComparison, live
>>> eng = LiveComparison(dev, {"full": forest}, X_test)               # doctest: +SKIP
>>> eng.start(); eng.wait(); print(eng.summary())                      # doctest: +SKIP
>>> live(dev, {"full": forest, "small": small}, X_test)  # the widget  # doctest: +SKIP
"""
from .engine import STATES, LiveComparison
from .summary import LiveSummary

__all__ = ["LiveComparison", "LiveSummary", "STATES", "live"]


def live(dev, models, X=None, **kwargs):
    """The live comparison widget (see :func:`emlearn_lab.widgets.live`)."""
    from ..widgets import live as _live
    return _live(dev, models, X, **kwargs)
