"""DeviceApp: the pipeline as an application that runs on the board on its own.

sensor -> sliding windows -> feature extractors -> model -> post-processing -> actions. The
host's :meth:`DeviceApp.simulate` runs the same steps over a recording with the device's own
arithmetic (the extractors' and the model's host references are exact, post-processing is the
device's source), so the events it returns are the events the installed app produces.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..exceptions import InputError
from ..validate import identifier, invalid, number_in
from . import post as _post
from .actions import as_actions

__all__ = ["DeviceApp", "AppRun"]

_OWNER = "eml.DeviceApp"


@dataclass
class AppRun:
    """What an app did over a recording (simulated, or run on the device).

    Attributes
    ----------
    events : list of Event
    index : numpy.ndarray
        The model's class index per window (classifiers; 0 for regressors).
    scores : numpy.ndarray, shape (n_windows, n_outputs)
        The model's scores per window, as the device computes them.
    decisions : numpy.ndarray
        Per window, the class after the per-window post-processing (-1: no event).
    window_start_s : numpy.ndarray
    """

    events: list
    index: np.ndarray
    scores: np.ndarray
    decisions: np.ndarray
    window_start_s: np.ndarray
    labels: tuple = field(default=())

    @property
    def n_windows(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        shown = ", ".join(f"{e.label} {e.start_s:g}-{e.end_s:g} s" for e in self.events[:5])
        more = f", ... ({len(self.events)} in all)" if len(self.events) > 5 else ""
        return f"AppRun({self.n_windows} windows, {len(self.events)} events: {shown}{more})"

    def plot(self, labels=None, recording=None):
        """The events on a timeline, above them ``labels`` and ``recording`` when given
        (see :func:`emlearn_lab.app.plot.plot_events`). Returns the Axes of the events."""
        from .plot import plot_events
        return plot_events(self, labels, recording)


class DeviceApp:
    """A fitted feature pipeline as a standalone application for the board.

    Parameters
    ----------
    pipe : sklearn.pipeline.Pipeline
        Fitted: eml.features extractor(s), then a model (as ``dev.deploy`` takes).
    sensor : eml.sensors sensor, optional
        Where samples come from on the board. Default ``eml.sensors.Playback()``: the
        recording sent with ``dev.playback`` (the virtual and emulated boards' sensor).
    window_s, hop_s : float
        Window length and the distance between window starts, seconds. ``window_s`` must
        make the number of samples the extractors were fitted on; ``hop_s`` (default
        ``window_s``) at most ``window_s``.
    post : eml.post stages joined with |, optional
        Default: every window's class is an event (consecutive windows of a class merge).
    on_event : eml.actions joined with |, optional
        Default ``eml.actions.Print()``.
    samplerate_hz : float, optional
        The sensor's rate when it does not say (Playback: taken from the recording at
        :meth:`simulate` or from the board's playback file at install).
    safe_pin : int or str, optional
        A pin that, held low at boot, keeps the app from starting (besides the file
        ``emlab_app.off``, which always does).
    name : str
        Device file names of the app's model derive from it.

    Examples
    --------
    >>> app = eml.DeviceApp(pipe, window_s=2.0, hop_s=0.5,
    ...                     post=eml.post.Smooth(votes=5) | eml.post.MinDuration(1.0))
    >>> run = app.simulate(recording)          # the events the board will produce
    >>> dev.install(app)                       # doctest: +SKIP
    """

    def __init__(self, pipe, sensor=None, *, window_s: float, hop_s: float | None = None,
                 post=None, on_event=None, samplerate_hz: float | None = None,
                 safe_pin=None, name: str = "app"):
        from ..features.pipeline import device_pipeline
        from .sensors import Playback
        extractors, model = device_pipeline(pipe)
        self.pipe, self.extractors, self.model = pipe, extractors, model
        self.sensor = Playback() if sensor is None else sensor
        self.window_s = number_in("window_s", window_s, 0, 1e6, low_open=True, owner=_OWNER)
        self.hop_s = self.window_s if hop_s is None else number_in(
            "hop_s", hop_s, 0, self.window_s, low_open=True, owner=_OWNER,
            remedy="Windows overlap or touch: a hop longer than the window would skip samples")
        self.post = _post.as_chain(post)
        self.on_event = as_actions(on_event)
        if samplerate_hz is not None:
            number_in("samplerate_hz", samplerate_hz, 0, 1e7, low_open=True, owner=_OWNER)
        self.samplerate_hz = samplerate_hz
        self.safe_pin = safe_pin
        self.name = identifier("name", name, owner=_OWNER)
        self.labels = (tuple(str(c) for c in model.classes_) if model.kind == "classifier"
                       else ("value",))
        self._check_sensor()
        self.post_spec(self.hop_s)          # bad stages fail here, not at install
        self.on_event.spec(self.labels)

    def _check_sensor(self) -> None:
        """InputError when the sensor's samples (where it says) are not what the extractors
        were fitted on: the board would refuse the app at install."""
        e, s = self.extractors[0], self.sensor
        names = {"h": "int16", "i": "int32", "f": "float32"}
        if s.typecode is not None and s.typecode != e.input_dtype_:
            raise InputError(f"the sensor {s!r} gives {names[s.typecode]} samples; the "
                             f"extractors were fitted on {names[e.input_dtype_]} windows: fit "
                             "them on windows of what the sensor gives (record with it)")
        if s.channels is not None and len(s.channels) != e.n_channels_:
            raise InputError(f"the sensor {s!r} gives {len(s.channels)} channels; the "
                             f"extractors were fitted on {e.n_channels_}")

    # -- the numbers both sides use ------------------------------------------------------
    def rate_hz(self, fallback: float | None = None) -> float:
        """The sensor's sample rate: the sensor's own, else samplerate_hz, else fallback."""
        rate = getattr(self.sensor, "samplerate_hz", None) or self.samplerate_hz or fallback
        if rate is None:
            raise InputError("the app does not know its sensor's sample rate: pass "
                             "samplerate_hz=... to eml.DeviceApp, or play a recording with "
                             "dev.playback(recording) before dev.install(app)")
        return float(rate)

    def samples(self, rate_hz: float) -> tuple:
        """(window, hop) in samples at rate_hz, checked against the extractors."""
        want = self.extractors[0].n_samples_
        n = round(self.window_s * rate_hz)
        if n != want:
            raise InputError(f"window_s={self.window_s:g} at {rate_hz:g} Hz is {n} samples; "
                             f"the extractors were fitted on windows of {want} samples: use "
                             f"window_s={want / rate_hz:g}")
        hop = round(self.hop_s * rate_hz)
        if not 1 <= hop <= n:
            raise InputError(f"hop_s={self.hop_s:g} at {rate_hz:g} Hz is {hop} samples; it "
                             f"must be 1..{n} (the window)")
        return n, hop

    def post_spec(self, hop_s: float) -> list:
        return self.post.spec(self.model, self.window_s, hop_s)

    # -- host -----------------------------------------------------------------------------
    def windows_of(self, recording) -> tuple:
        """(windows as the board sees them, (n, hop), rate) for a recording."""
        from ..device.record import sample_dtype
        from ..recordings.recording import Recording
        if not isinstance(recording, Recording):
            raise invalid("recording", recording, "an eml.Recording", owner=f"{_OWNER}.simulate")
        rate = self.rate_hz(recording.samplerate_hz)
        if abs(rate - recording.samplerate_hz) > 1e-9 * rate:
            raise InputError(f"the recording is at {recording.samplerate_hz:g} Hz, the app's "
                             f"sensor at {rate:g} Hz: resample the recording")
        n, hop = self.samples(rate)
        want = self.extractors[0].n_channels_
        if recording.n_channels != want:
            raise InputError(f"the recording has {recording.n_channels} channels, the "
                             f"extractors take {want}: select them with recording.select(...)")
        # The samples as the board's playback file holds them (float64 -> float32, ...).
        data = np.ascontiguousarray(recording.data, dtype=sample_dtype(recording.data))
        if len(data) < n:
            raise InputError(f"the recording has {len(data)} samples, shorter than one window "
                             f"({n})")
        W = sliding_window_view(data, (n, data.shape[1]))[::hop, 0]
        return self.extractors[0].check_windows(W), (n, hop), rate

    def simulate(self, recording) -> AppRun:
        """The windows, predictions and events the installed app produces from a recording
        played from its first sample (the board drops the tail shorter than a hop).

        Raises
        ------
        InputError
            A recording at another rate, with other channels, or shorter than a window.
        """
        return self.run_post(*self.outputs(recording))

    def outputs(self, recording) -> tuple:
        """(scores, index, hop_s, window_s): the model's output per window of a recording,
        what :meth:`run_post` takes (to try many post-processing chains on one computation)."""
        W, (n, hop), rate = self.windows_of(recording)
        features = np.hstack([e.transform(W) for e in self.extractors])
        return (self.model.scores(features), self.model_index(features), hop / rate,
                n / rate)

    def model_index(self, features) -> np.ndarray:
        if self.model.kind != "classifier":
            return np.zeros(len(features), dtype=np.int64)
        return np.asarray(self.model.predict_index(features), dtype=np.int64)

    def run_post(self, scores, index, hop_s: float, window_s: float, post=None) -> AppRun:
        """Post-processing (this app's, or ``post``) over the model's per-window output."""
        chain = self.post if post is None else _post.as_chain(post)
        spec = chain.spec(self.model, window_s, hop_s)
        n_classes = len(self.labels) if self.model.kind == "classifier" else 0
        decisions, raw = _post.run(spec, self.model.n_outputs, index, scores, n_classes)
        events = [_post.Event.of_windows(a, b, self.labels[c], hop_s, window_s)
                  for a, b, c in raw]
        start = np.arange(len(index)) * hop_s
        return AppRun(events, np.asarray(index), np.asarray(scores), decisions, start,
                      self.labels)

    def with_post(self, post) -> DeviceApp:
        """A copy of this app with another post-processing chain (model and sensor shared)."""
        app = copy.copy(self)
        app.post = _post.as_chain(post)
        app.post_spec(app.hop_s)
        return app

    def __repr__(self) -> str:
        return (f"DeviceApp({self.name!r}, {self.model!r}, sensor={self.sensor!r}, "
                f"window_s={self.window_s:g}, hop_s={self.hop_s:g}, post={self.post!r}, "
                f"on_event={self.on_event!r})")
