"""Recording: samples of one or more channels on a regular time axis, in seconds."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..exceptions import RecordingError

__all__ = ["Recording", "RecordingInfo"]

_AUDIO_KINDS = ("audio", "signal")


@dataclass(frozen=True)
class RecordingInfo:
    """What a label file records about its recording, to detect a label file made for another
    one: length, sample rate and a content hash."""

    n_samples: int
    samplerate_hz: float
    sha256: str

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.samplerate_hz


class Recording:
    """Samples on a regular time axis: ``data[i, c]`` is channel ``c`` at ``i / samplerate_hz``
    seconds after the first sample.

    Parameters
    ----------
    data : array_like, shape (n_samples,) or (n_samples, n_channels)
        Integer or float samples; kept in their dtype (16-bit audio stays int16, so features
        computed on a device from the same integers match). Float data may hold NaN for gaps.
    samplerate_hz : float
        Samples per second, > 0.
    channels : sequence of str, optional
        One name per channel (default ``ch0, ch1, ...``).
    units : str or sequence of str, optional
        Physical unit per channel (e.g. ``"g"``, ``"deg/s"``; ``"FS"`` for audio scaled to
        full scale). One string applies to every channel.
    kind : {"signal", "audio"}
        ``"audio"`` recordings get a spectrogram view and playback in the label widget.
    full_scale : float, optional
        For integer audio, the value of full scale (32768 for 16-bit); ``data / full_scale``
        is in [-1, 1).
    start_time_s : float
        Time of the first sample in the source's clock (e.g. a CSV time column); labels and
        windows are relative to the first sample, so this is informative only.
    source : str, optional
        Where the samples came from (a path), for messages.

    Raises
    ------
    RecordingError
        Empty data, more than two dimensions, a non-numeric dtype, a sample rate that is not
        a positive finite number, or channel names/units that do not match the channels.

    Examples
    --------
    >>> import numpy as np, emlearn_lab as eml
    >>> rec = eml.Recording(np.zeros((500, 3)), samplerate_hz=50, channels="xyz", units="g")
    >>> rec.duration_s, rec.channels
    (10.0, ('x', 'y', 'z'))
    """

    def __init__(self, data, samplerate_hz: float, *, channels=None, units=None,
                 kind: str = "signal", full_scale: float | None = None,
                 start_time_s: float = 0.0, source: str | None = None):
        arr = np.asarray(data)
        where = f" ({source})" if source else ""
        if arr.dtype.kind not in "iuf":
            raise RecordingError(f"recording samples must be integers or floats, got dtype "
                                 f"{arr.dtype}{where}")
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise RecordingError(f"recording data must be (n_samples,) or (n_samples, "
                                 f"n_channels), got shape {arr.shape}{where}")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise RecordingError(f"recording has no samples (shape {arr.shape}){where}")
        try:
            rate = float(samplerate_hz)
        except (TypeError, ValueError):
            rate = float("nan")
        if not np.isfinite(rate) or rate <= 0:
            raise RecordingError(f"samplerate_hz must be a positive number, got "
                                 f"{samplerate_hz!r}{where}. Pass samplerate_hz= the rate the "
                                 "samples were taken at.")
        if kind not in _AUDIO_KINDS:
            raise RecordingError(f"kind must be one of {_AUDIO_KINDS}, got {kind!r}")
        n_ch = arr.shape[1]
        names = tuple(f"ch{i}" for i in range(n_ch)) if channels is None else tuple(
            str(c) for c in channels)
        if len(names) != n_ch:
            raise RecordingError(f"{len(names)} channel names {names} for {n_ch} channels"
                                 f"{where}")
        if units is None or isinstance(units, str):
            unit_t = (units or "",) * n_ch
        else:
            unit_t = tuple(str(u) for u in units)
        if len(unit_t) != n_ch:
            raise RecordingError(f"{len(unit_t)} units for {n_ch} channels{where}")
        self.data = np.ascontiguousarray(arr)
        self.data.flags.writeable = False
        self.samplerate_hz = rate
        self.channels = names
        self.units = unit_t
        self.kind = kind
        self.full_scale = None if full_scale is None else float(full_scale)
        self.start_time_s = float(start_time_s)
        self.source = source
        self._sha256 = None

    @property
    def n_samples(self) -> int:
        return self.data.shape[0]

    @property
    def n_channels(self) -> int:
        return self.data.shape[1]

    @property
    def duration_s(self) -> float:
        """``n_samples / samplerate_hz``: the time span the samples cover."""
        return self.n_samples / self.samplerate_hz

    @property
    def times_s(self) -> np.ndarray:
        """Time of each sample, seconds after the first."""
        return np.arange(self.n_samples) / self.samplerate_hz

    @property
    def nan_count(self) -> int:
        return int(np.isnan(self.data).sum()) if self.data.dtype.kind == "f" else 0

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the sample rate, shape, dtype and samples (cached)."""
        if self._sha256 is None:
            h = hashlib.sha256()
            h.update(repr((self.samplerate_hz, self.data.shape, self.data.dtype.str)).encode())
            h.update(self.data.tobytes())
            self._sha256 = h.hexdigest()
        return self._sha256

    @property
    def info(self) -> RecordingInfo:
        return RecordingInfo(self.n_samples, self.samplerate_hz, self.sha256)

    def index_of(self, t_s: float) -> int:
        """Index of the sample at or just before ``t_s``, clipped to the recording."""
        return int(min(max(np.floor(t_s * self.samplerate_hz), 0), self.n_samples - 1))

    def slice_s(self, start_s: float, end_s: float) -> Recording:
        """The samples in ``[start_s, end_s)`` as a new Recording."""
        i0 = int(np.ceil(max(start_s, 0.0) * self.samplerate_hz - 1e-9))
        i1 = int(np.ceil(min(end_s, self.duration_s) * self.samplerate_hz - 1e-9))
        if i1 <= i0:
            raise RecordingError(f"no samples in [{start_s}, {end_s}) s of a "
                                 f"{self.duration_s:g} s recording")
        return Recording(self.data[i0:i1], self.samplerate_hz, channels=self.channels,
                         units=self.units, kind=self.kind, full_scale=self.full_scale,
                         start_time_s=self.start_time_s + i0 / self.samplerate_hz,
                         source=self.source)

    def as_float(self) -> np.ndarray:
        """Samples as float32, integer audio scaled by ``full_scale`` to [-1, 1)."""
        x = self.data.astype(np.float32)
        if self.full_scale:
            x /= np.float32(self.full_scale)
        return x

    def __repr__(self) -> str:
        src = f", source={self.source!r}" if self.source else ""
        return (f"Recording({self.n_samples} samples × {self.n_channels} channels "
                f"{list(self.channels)}, {self.samplerate_hz:g} Hz, {self.duration_s:.3f} s, "
                f"{self.kind}, {self.data.dtype}{src})")
