"""Where the items of a live comparison come from, a batch at a time.

``ArraySource``: rows or windows given up front (X), or a recording cut into windows; paced
at the recording's own speed when ``realtime``. ``SensorSource``: the device's playback
sensor, recorded in short chunks while the comparison runs and cut into windows as they
complete, so predictions follow the sensor live.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..exceptions import InputError

# Chunks of the sensor stream: short enough that a window is predicted soon after its last
# sample and that stop() is prompt, long enough that a chunk's round trips stay cheap.
_SENSOR_CHUNK_S = 0.25
SENSOR_NAME = "_emlab_live_sensor"


@dataclass
class Batch:
    """Items at stream positions ``positions``, as each model's device reads them."""
    positions: np.ndarray      # int64, increasing
    start_s: np.ndarray        # float64, the window's start in its recording (NaN: rows)
    items: dict                # label -> validated items
    truth: np.ndarray | None = None   # the items' true labels, when known


class ArraySource:
    """Items known up front; ``ready_s[i]``: seconds after the start when item i exists (the
    end of its window), for ``realtime`` pacing; ``period_s``: one pass, for ``loop``."""

    def __init__(self, kind: str, inputs: dict, start_s: np.ndarray, *, loop: bool = False,
                 realtime: bool = False, ready_s=None, period_s: float | None = None,
                 recording=None, truth=None):
        self.kind, self.inputs, self.start_s = kind, inputs, start_s
        self.truth = truth          # true label per item, or None
        self.n = len(start_s)
        self.loop, self.realtime = loop, realtime
        self.ready_s, self.period_s = ready_s, period_s
        self.recording = recording
        self.k = 0          # next stream position
        self._t0 = None     # monotonic time of position 0's stream start (realtime)

    @property
    def total(self) -> int | None:
        return None if self.loop else self.n

    def open(self, dev) -> None:
        """(Re)starting: a realtime stream re-anchors its clock at the next item."""
        self._t0 = None

    def rewind(self) -> None:
        self.k, self._t0 = 0, None

    def _ready(self, k) -> np.ndarray:
        k = np.asarray(k)
        return (k // self.n) * self.period_s + self.ready_s[k % self.n]

    def next_batch(self, dev, size: int, stop) -> Batch | None:
        """Up to ``size`` items; None at the end, or when ``stop`` was set while waiting."""
        if not self.loop and self.k >= self.n:
            return None
        count = size if self.loop else min(size, self.n - self.k)
        if self.realtime:
            if self._t0 is None:
                self._t0 = time.monotonic() - float(self._ready(self.k))
            while True:
                wait_s = float(self._ready(self.k)) - (time.monotonic() - self._t0)
                if wait_s <= 0:
                    break
                if stop.wait(min(wait_s, 0.2)):
                    return None
            elapsed = time.monotonic() - self._t0
            count = max(1, int(np.count_nonzero(
                self._ready(np.arange(self.k, self.k + count)) <= elapsed)))
        positions = np.arange(self.k, self.k + count, dtype=np.int64)
        idx = positions % self.n
        self.k += count
        return Batch(positions, self.start_s[idx],
                     {label: items[idx] for label, items in self.inputs.items()},
                     None if self.truth is None else self.truth[idx])


def rows_source(models, X, *, loop: bool, y=None) -> ArraySource:
    inputs = {m.label: m.check(X) for m in models}
    n = len(next(iter(inputs.values())))       # one X: every model has as many items
    if n == 0:
        raise InputError("X has no items to stream: pass rows (or windows, for pipelines)")
    start = getattr(X, "start_s", None)        # an eml.windows() result
    start_s = np.asarray(start, dtype=np.float64) if start is not None else \
        np.full(n, np.nan)
    truth = getattr(X, "y", None) if y is None else y      # eml.windows() labels its items
    if truth is not None:
        truth = np.asarray(truth).reshape(-1)
        if len(truth) != n:
            raise InputError(f"y has {len(truth)} labels for {n} items of X: pass one label "
                             "per row (or window)")
    return ArraySource("rows", inputs, start_s, loop=loop, truth=truth)


def window_lengths(models, samplerate_hz: float, window_s, hop_s) -> tuple:
    """(window_s, hop_s) for a recording: window_s defaults to the extractors' window."""
    lengths = {m.extractors[0].n_samples_ for m in models}
    if window_s is None:
        if len(lengths) != 1:
            raise InputError(f"the pipelines were fitted on windows of {sorted(lengths)} "
                             "samples; pass window_s, or compare pipelines of one window")
        window_s = lengths.pop() / samplerate_hz
    return window_s, window_s if hop_s is None else hop_s


def _need_pipelines(models, what: str) -> None:
    rows = [m.label for m in models if not m.is_pipeline]
    if rows:
        raise InputError(f"{what} is cut into windows, which only feature pipelines take; "
                         f"model(s) {rows} take feature rows: pass them rows as X=, or "
                         "Pipeline(eml.features extractor, model)")


def recording_source(models, recording, window_s, hop_s, *, loop: bool,
                     realtime: bool) -> ArraySource:
    from ..recordings.recording import Recording
    from ..windowing import windows
    if not isinstance(recording, Recording):
        raise InputError(f"recording must be an eml.Recording, got "
                         f"{type(recording).__name__}; for arrays of windows pass X=")
    _need_pipelines(models, "a recording")
    window_s, hop_s = window_lengths(models, recording.samplerate_hz, window_s, hop_s)
    win = windows(recording, window_s=window_s, hop_s=hop_s)
    inputs = {m.label: m.check(win.X) for m in models}
    start_s = np.asarray(win.start_s, dtype=np.float64)
    return ArraySource("recording", inputs, start_s, loop=loop, realtime=realtime,
                       ready_s=start_s + win.window_s,
                       period_s=recording.n_samples / recording.samplerate_hz,
                       recording=recording)


class SensorSource:
    """The device's playback sensor, recorded ``seconds`` in chunks while predicting."""

    kind = "sensor"
    truth = None                    # a live sensor's windows carry no labels

    def __init__(self, models, seconds, window_s, hop_s):
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds > 0):
            raise InputError(f"sensor_seconds must be a positive number of seconds, got "
                             f"{seconds!r}")
        _need_pipelines(models, "the device's sensor")
        self.models, self.seconds = models, seconds
        self.window_s, self.hop_s = window_s, hop_s
        self.chunks = []            # recorded samples, for .recording
        self.meta = None            # (rate, channels, units, kind, full_scale)
        self.rewind()

    def rewind(self) -> None:
        self.frames = 0             # frames recorded so far (the stream's clock)
        self.buf = None             # samples from frame buf_at on
        self.buf_at = 0
        self.next_start = 0         # frame where the next window starts
        self.k = 0
        self.chunks = []

    total = None                    # unknown until the sample rate is

    def open(self, dev) -> None:
        """A fresh hold on the playback sensor (after a reconnect it starts from the top of
        the file; windows never straddle the gap)."""
        from ..device.record import PLAYBACK_PATH, _push_runtime, parse_description
        _push_runtime(dev)
        text = dev.exec(f"import emlab_stream, emlab_sensor\n"
                        f"{SENSOR_NAME} = emlab_stream.Held(emlab_sensor.PlaybackSensor("
                        f"{PLAYBACK_PATH!r}))\n"
                        f"print(repr(emlab_sensor.describe({SENSOR_NAME})))").strip()
        rate, channels, units, _, kind, full_scale = parse_description(
            text, "its playback sensor")
        if self.meta is None:
            self.meta = (rate, channels, units, kind, full_scale)
            window_s, hop_s = window_lengths(self.models, rate, self.window_s, self.hop_s)
            self.n_win = max(1, round(window_s * rate))
            self.hop = max(1, round(hop_s * rate))
            self.total_frames = max(1, round(self.seconds * rate))
            self.chunk = max(1, min(self.hop, round(_SENSOR_CHUNK_S * rate)))
            last = (self.total_frames - self.n_win) // self.hop + 1
            self.total = max(0, last)
            if self.total == 0:
                raise InputError(f"sensor_seconds={self.seconds:g} s is shorter than one "
                                 f"window ({self.n_win / rate:g} s)")
        self.buf, self.buf_at = None, self.frames
        self.next_start = max(self.next_start, self.frames)
        # windows are cut at hop multiples of the stream clock
        self.next_start = -(-self.next_start // self.hop) * self.hop

    @property
    def recording(self):
        from ..recordings.recording import Recording
        if not self.chunks:
            return None
        rate, channels, units, kind, full_scale = self.meta
        return Recording(np.concatenate(self.chunks), rate, channels=channels, units=units,
                         kind=kind, full_scale=full_scale,
                         source="device playback sensor (live comparison)")

    def _windows_ready(self) -> int:
        end = self.buf_at + (0 if self.buf is None else len(self.buf))
        if self.next_start + self.n_win > end:
            return 0
        return (end - self.n_win - self.next_start) // self.hop + 1

    def next_batch(self, dev, size: int, stop) -> Batch | None:
        while self._windows_ready() == 0:
            if self.frames >= self.total_frames or self.next_start + self.n_win > \
                    self.total_frames or stop.is_set():
                return None
            want = min(self.chunk, self.total_frames - self.frames)
            rate = self.meta[0]
            rec = dev.record(want / rate, sensor=SENSOR_NAME)
            data = rec.data
            self.chunks.append(data)
            self.buf = data if self.buf is None else np.concatenate([self.buf, data])
            self.frames += len(data)
        count = min(size, self._windows_ready())
        starts = self.next_start + self.hop * np.arange(count)
        at = starts - self.buf_at
        W = np.stack([self.buf[a:a + self.n_win] for a in at])
        self.next_start = int(starts[-1]) + self.hop
        drop = min(self.next_start, self.buf_at + len(self.buf)) - self.buf_at
        self.buf, self.buf_at = self.buf[drop:], self.buf_at + drop
        positions = np.arange(self.k, self.k + count, dtype=np.int64)
        self.k += count
        return Batch(positions, starts / self.meta[0],
                     {m.label: m.check(W) for m in self.models})
