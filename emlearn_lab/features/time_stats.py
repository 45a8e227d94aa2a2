"""TimeStats: time-domain statistics per axis and of the vector magnitude."""
from ..device_src.emlfx_time import STATS
from ..exceptions import InputError
from .base import Extractor

__all__ = ["TimeStats"]


class TimeStats(Extractor):
    """Time-domain statistics of each window: mean, std, min, max, median, quartiles, IQR,
    RMS and mean crossings, per axis and of the vector magnitude.

    Computed in integers by ``device_src/emlfx_time.py``, the same source on the host and on
    the device, so both give identical features. Statistics are in 1/256 of an int16 input
    count (float windows are quantised by ``2**input_shifts_`` first): divide by
    ``256 * 2**shift`` for input units. ``zero_crossings`` counts sign changes around the
    floored mean. The magnitude is half the vector length (three full-scale int16 axes
    still fit 16 bits).

    Parameters
    ----------
    axes : None, str or sequence of int
        Channels to describe. None: all. A string names the first ``len(axes)`` channels by
        one letter each (``"xyz"``: channels 0, 1, 2, features ``x_mean``...). A sequence of
        ints picks channels by index (features ``ch3_mean``...).
    magnitude : bool
        Also describe the vector length over the axes (2 or 3 of them).
    stats : sequence of str, optional
        Which of ``TimeStats.STATS`` to compute, in that order; default all.

    Examples
    --------
    >>> fx = TimeStats(axes="xyz", magnitude=True).fit(win.X)       # doctest: +SKIP
    >>> fx.get_feature_names_out()[:3]                               # doctest: +SKIP
    array(['x_mean', 'x_std', 'x_min'], dtype=object)
    """
    STATS = STATS
    _module = "emlfx_time"
    _class = "TimeStats"

    def __init__(self, axes=None, magnitude=False, stats=None):
        self.axes = axes
        self.magnitude = magnitude
        self.stats = stats

    def _axes(self, n_channels: int) -> tuple:
        """(indices, names) of the described channels."""
        axes = self.axes
        if axes is None:
            return list(range(n_channels)), [f"ch{i}" for i in range(n_channels)]
        if isinstance(axes, str):
            if not axes or len(set(axes)) != len(axes) or len(axes) > n_channels:
                raise InputError(
                    f"The 'axes' parameter of TimeStats must name up to {n_channels} channels "
                    f"(the windows have {n_channels}) with distinct letters, got {axes!r}")
            return list(range(len(axes))), list(axes)
        try:
            index = [int(a) for a in axes]
        except (TypeError, ValueError):
            index = None
        if (not index or index != list(axes) or len(set(index)) != len(index)
                or not all(0 <= a < n_channels for a in index)):
            raise InputError(f"The 'axes' parameter of TimeStats must be None, a string of "
                             f"channel letters or distinct channel indices in [0, "
                             f"{n_channels - 1}], got {axes!r}")
        return index, [f"ch{i}" for i in index]

    def _stats(self) -> list:
        stats = STATS if self.stats is None else self.stats
        if isinstance(stats, str) or not len(stats) or any(s not in STATS for s in stats) \
                or len(set(stats)) != len(stats):
            raise InputError(f"The 'stats' parameter of TimeStats must be distinct names "
                             f"from {STATS}, got {self.stats!r}")
        return list(stats)

    def _params(self, n_samples, n_channels):
        index, _ = self._axes(n_channels)
        if self.magnitude and not 2 <= len(index) <= 3:
            raise InputError(f"TimeStats(magnitude=True) is the vector length of 2 or 3 axes, "
                             f"got {len(index)} axes: pass axes='xyz' or axes=[0, 1, 2]")
        return {"axes": index, "magnitude": int(bool(self.magnitude)),
                "stats": [STATS.index(s) for s in self._stats()]}

    def _names(self):
        _, names = self._axes(self.n_channels_)
        names = names + (["mag"] if self.magnitude else [])
        return [f"{a}_{s}" for a in names for s in self._stats()]
