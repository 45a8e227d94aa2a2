"""LiveComparison: the same items through host and device models, side by side, live.

A background thread takes items a batch at a time (rows, windows of a recording, or windows
of the device's own sensor), runs every model on the device (each prediction timed there with
``time.ticks_us``), computes the host reference and compares them exactly as deploy does. The
thread holds ``dev.lock`` for one batch at a time, so the notebook can use the device between
batches. A lost device is retried every second; once back, the models are loaded again and
the batch that failed is run again.
"""
from __future__ import annotations

import threading
import warnings
import weakref

import numpy as np

from ..exceptions import (
    DeviceBusyError,
    DeviceDisconnectedError,
    DeviceError,
    DeviceNotFoundError,
    InputError,
)
from ..device.budget import remove_scratch
from ..device.session import row_bytes
from . import _sources
from ._columns import Columns
from ._models import (
    OUT_PATH,
    X_PATH,
    LiveModel,
    ModelNotLoaded,
    device_names,
    push_stream_module,
)
from .summary import LiveSummary, model_summary

__all__ = ["LiveComparison", "STATES"]

STATES = ("idle", "running", "disconnected", "done", "error")
RECONNECT_S = 1.0
# The comparison streaming on each device: starting another stops it (a notebook cell run
# again makes a new comparison; the old one would otherwise keep the device busy).
_ACTIVE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_COLUMNS = {"index": np.int64, "host_class": np.int64, "device_class": np.int64,
            "host_value": np.float64, "device_value": np.float64, "agree": bool,
            "device_us": np.float64, "start_s": np.float64, "truth_class": np.int64}


class LiveComparison:
    """Stream items to host models and their deployed twins, compare every prediction.

    Parameters
    ----------
    dev : Device
    models : dict of {str: model}
        Label -> a fitted scikit-learn estimator, eml TreeModel / NetModel, or a fitted
        ``Pipeline(eml.features extractor, model)``. Each is deployed under ``name=label``
        (a label that is not a Python identifier is made one) unless ``dev.deployments``
        already holds this very object under that name; deployed without verification, since
        the comparison verifies every item.
    X : array-like, optional
        Rows (windows for pipelines, e.g. an ``eml.windows()`` result) to stream.
    recording : Recording, optional
        Cut into windows of ``window_s`` every ``hop_s`` seconds, for pipelines.
    window_s, hop_s : float, optional
        Windows of a recording or of the sensor; default the pipelines' own window length and
        no overlap.
    realtime : bool
        Pace a recording at its own speed: a window is predicted once its last sample would
        have been recorded. (The sensor is real time by nature.)
    sensor_seconds : float, optional
        Record this long from the device's playback sensor (see ``dev.playback``), in short
        chunks, and predict each window as it completes.
    batch : int
        Items per round trip to the device: larger is faster, smaller more live.
    loop : bool
        Start again at the first item after the last, until stopped (X and recording).
    y : array-like, optional
        The true label of each item of X (default: ``X.y`` when X is an ``eml.windows()``
        result). Classifiers' predictions are then also checked against it (``truth_class``
        in the results; the view draws a ground-truth row), so that agreement between host
        and device is not taken for accuracy.

    Attributes
    ----------
    state : {"idle", "running", "disconnected", "done", "error"}
    message : str
        One line on what is happening ("reconnecting (attempt 3)...").
    error : Exception or None
        What stopped the comparison, in state "error".
    disconnects : int
        Times the device was lost and found again (or not yet).

    Raises
    ------
    InputError
        Not exactly one source, items the models cannot take, a recording for row models.
    NotFittedError, UnsupportedModelError
        Before anything is sent.
    DeviceError
        A deploy failed (e.g. DeviceMemoryError: the models do not fit together).

    Examples
    --------
    >>> eng = LiveComparison(dev, {"full": forest, "small": eml.compress(forest,
    ...                      leaves_per_class=4)}, X_test)                  # doctest: +SKIP
    >>> eng.start(); eng.wait(30); print(eng.summary())                     # doctest: +SKIP
    """

    def __init__(self, dev, models, X=None, *, recording=None, window_s=None, hop_s=None,
                 realtime: bool = False, sensor_seconds=None, batch: int = 16,
                 loop: bool = False, y=None):
        if not isinstance(models, dict) or not models:
            raise InputError("models must be a dict {label: fitted model}, e.g. "
                             f"{{'full': forest}}, got {type(models).__name__}"
                             f"{' (empty)' if isinstance(models, dict) else ''}")
        bad = [k for k in models if not isinstance(k, str) or not k]
        if bad:
            raise InputError(f"model labels must be non-empty strings, got {bad!r}")
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise InputError(f"batch must be a positive int, got {batch!r}")
        given = [n for n, v in (("X", X), ("recording", recording),
                                ("sensor_seconds", sensor_seconds)) if v is not None]
        if len(given) != 1:
            raise InputError("pass exactly one source: X= (rows or windows), recording= or "
                             f"sensor_seconds=; got {given or 'none'}")
        if X is not None and (window_s is not None or hop_s is not None):
            raise InputError("window_s and hop_s cut a recording or the sensor into windows; "
                             "X is streamed as it is")
        if realtime and X is not None:
            raise InputError("realtime=True paces a recording at its sample rate; X has no "
                             "time axis: pass recording=, or realtime=False")
        if sensor_seconds is not None and loop:
            raise InputError("loop=True repeats X or a recording; for a longer sensor run "
                             "raise sensor_seconds")
        self.dev = dev
        self.models = dict(models)
        self.batch = int(batch)
        self.realtime, self.loop = bool(realtime), bool(loop)
        names = device_names(list(models))
        self._models = [LiveModel(label, host, names[label]) for label, host in models.items()]
        for m in self._models:                 # host side only: fails before sending
            m.convert(dev)
        if y is not None and X is None:
            raise InputError("y labels the items of X; a recording or the sensor has none "
                             "(pass X=eml.windows(recording, labels), whose y is used)")
        if X is not None:
            self._source = _sources.rows_source(self._models, X, loop=self.loop, y=y)
        elif recording is not None:
            self._source = _sources.recording_source(self._models, recording, window_s, hop_s,
                                                     loop=self.loop, realtime=self.realtime)
        else:
            self._source = _sources.SensorSource(self._models, sensor_seconds, window_s, hop_s)
        with dev.lock:
            for m in self._models:
                m.deploy(dev)
            if self._source.kind == "sensor":
                # a missing playback file fails here, with its remedy, not in the thread;
                # and the sensor's rate tells how many windows there will be
                push_stream_module(dev)
                self._source.open(dev)
        self._lock = threading.Lock()          # results, state, callbacks
        self._columns = {m.label: Columns(_COLUMNS) for m in self._models}
        self._callbacks = []
        self._warned = set()
        self._stop = threading.Event()
        self._thread = None
        self._pending = None                   # the batch in progress (retried on reconnect)
        self.state, self.message = "idle", "ready: call start()"
        self.error = None
        self.disconnects = 0

    # -- what is compared -----------------------------------------------------------------
    @property
    def labels(self) -> list:
        return [m.label for m in self._models]

    @property
    def has_truth(self) -> bool:
        """Whether the items have true labels (``y``): truth_class is then filled."""
        return self._source.truth is not None

    @property
    def source(self) -> str:
        """"rows", "recording" or "sensor"."""
        return self._source.kind

    @property
    def total(self) -> int | None:
        """Items in one pass (None: looping, or the sensor before its rate is known)."""
        return self._source.total

    @property
    def recording(self):
        """The recording streamed (for the sensor: what it has recorded so far), or None."""
        return self._source.recording if self.source != "rows" else None

    def info(self, label: str) -> dict:
        """kind ("classifier", "regressor" or "anomaly": a detector), classes, device name
        and form of one model, and a detector's threshold (in score_samples units)."""
        m = self._model(label)
        return {"kind": "anomaly" if m.detector else m.model.kind, "classes": m.classes,
                "name": m.name, "form": "pipeline" if m.is_pipeline else m.deployed.form,
                "threshold": float(m.model.threshold) if m.detector else None}

    def _model(self, label: str) -> LiveModel:
        for m in self._models:
            if m.label == label:
                return m
        raise KeyError(f"no model labelled {label!r}; the labels are {self.labels}")

    # -- control ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or resume after stop()) in a background thread; after "done" or "error",
        start again from the first item. A comparison already streaming on this device is
        stopped first: one at a time per device."""
        if self.dev.closed:
            raise DeviceError(f"{self.dev!r} was closed: connect again with eml.connect() and "
                              "make a new comparison on it")
        other = _ACTIVE.get(self.dev, lambda: None)()
        if other is not None and other is not self:
            other.stop()
        _ACTIVE[self.dev] = weakref.ref(self)
        thread = self._thread
        if thread is not None and thread.is_alive():
            if not self._stop.is_set():
                return
            thread.join()                       # a stop() still finishing its batch
        with self._lock:
            if self.state in ("done", "error"):
                for cols in self._columns.values():
                    cols.clear()
                self._source.rewind()
                self._pending, self.error, self.disconnects = None, None, 0
            self._stop.clear()
            self.state, self.message = "running", "starting"
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"emlab-live-{id(self):x}")
            self._thread.start()
        self._notify()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the batch in progress (a few ms to a few hundred); start() resumes."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def wait(self, timeout_s: float | None = None) -> str:
        """Wait until the comparison ends (done, stopped or failed), at most ``timeout_s``.

        Returns
        -------
        str
            The state then ("running" or "disconnected" if the time ran out).

        Raises
        ------
        Exception
            What stopped the comparison, in state "error".
        """
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        if self.state == "error" and self.error is not None:
            raise self.error
        return self.state

    def on_update(self, callback):
        """Call ``callback(comparison)`` after each batch and each change of state, from the
        comparison's thread (keep it short). Returns a function that removes it."""
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)
        return remove

    # -- results ----------------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        """Items compared so far (every model has run each of them)."""
        with self._lock:
            return min(c.n for c in self._columns.values())

    @property
    def results(self) -> dict:
        """Per label, numpy arrays over the items compared so far: ``index`` (position in the
        stream), ``host`` and ``device`` (predictions as ``model.predict`` gives them),
        ``agree`` (scores bit-for-bit equal and same class), ``device_us`` (microseconds per
        prediction, timed on the device), ``host_class``/``device_class`` (class index; -1
        for regressors), ``truth_class`` (the true label's class index; -1 without labels,
        for a label the model does not know, and for regressors) and ``start_s`` (the
        window's start in its recording; NaN for rows). Detectors also have ``host_score``
        and ``device_score`` (score_samples, from the scores each side computed)."""
        with self._lock:
            cols = {label: {k: c.take(k) for k in _COLUMNS}
                    for label, c in self._columns.items()}
        out = {}
        for m in self._models:
            c = cols[m.label]
            if m.classifier:
                host = m.predictions(None, c["host_class"])
                device = m.predictions(None, c["device_class"])
            else:
                host, device = c["host_value"], c["device_value"]
            out[m.label] = {"index": c["index"], "host": host, "device": device,
                            "agree": c["agree"], "device_us": c["device_us"],
                            "host_class": c["host_class"], "device_class": c["device_class"],
                            "truth_class": c["truth_class"], "start_s": c["start_s"]}
            if m.detector:
                out[m.label].update(host_score=c["host_value"], device_score=c["device_value"])
        return out

    def columns(self, label: str, start: int = 0) -> dict:
        """Raw result columns of one model from item ``start`` on (for plots): index,
        host_class, device_class, host_value, device_value, agree, device_us, start_s,
        truth_class."""
        with self._lock:
            c = self._columns[label]
            return {k: c.take(k, start) for k in _COLUMNS}

    def summary(self) -> LiveSummary:
        """Agreement and device latency per model so far; ``str()`` is a table."""
        with self._lock:
            per = {label: model_summary(c.take("agree"), c.take("device_us"))
                   for label, c in self._columns.items()}
            n = min(c.n for c in self._columns.values())
        return LiveSummary(self.state, self.source, repr(self.dev), n, self.total,
                           self.disconnects, per)

    def __repr__(self) -> str:
        return (f"LiveComparison({', '.join(map(repr, self.labels))}, {self.source}, "
                f"{self.state}, {self.n_items} items)")

    # -- the thread -------------------------------------------------------------------------
    def _set(self, state: str | None = None, message: str | None = None) -> None:
        with self._lock:
            if state is not None:
                self.state = state
            if message is not None:
                self.message = message
        self._notify()

    def _notify(self) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for cb in callbacks:
            try:
                cb(self)
            except Exception as e:          # a broken callback must not stop the stream
                if id(cb) not in self._warned:
                    self._warned.add(id(cb))
                    warnings.warn(f"live comparison: update callback {cb!r} raised {e!r}",
                                  RuntimeWarning, stacklevel=2)

    def _setup(self) -> None:
        """Everything the device needs in memory: after start and after a reconnect."""
        with self.dev.lock:
            push_stream_module(self.dev)
            for m in self._models:
                m.load(self.dev)
            self._source.open(self.dev)

    def _run(self) -> None:
        try:
            setup = True
            while not self._stop.is_set() and not self.dev.closed:
                try:
                    if setup:
                        self._setup()
                        setup = False
                        self._set(message="running")
                    if self._pending is None:
                        self._pending = self._source.next_batch(self.dev, self.batch,
                                                                self._stop)
                        if self._pending is None:
                            break
                    self._run_batch(self._pending)
                    self._pending = None
                except (DeviceDisconnectedError, DeviceNotFoundError, DeviceBusyError) as e:
                    # lost mid-batch, or still gone when start() resumed after a stop
                    if not self._reconnect(e):
                        break
                    setup = False
        except Exception as e:
            if self.dev.closed:             # dev.close() mid-batch: a stop, not a failure
                self._stop.set()
            else:
                self.error = e
                self._remove_scratch()
                self._set("error", f"{type(e).__name__}: {str(e).splitlines()[0]}")
                return
        self._remove_scratch()
        n = self.n_items
        if self.dev.closed:
            self._set("idle", f"stopped after {n} items: the device was closed")
        elif self._stop.is_set():
            of = f" of {self.total}" if self.total is not None else ""
            self._set("idle", f"stopped after {n}{of} items; start() resumes")
        else:
            self._set("done", f"done: {n} items")

    def _remove_scratch(self) -> None:
        """The batch files stay on the device only while streaming."""
        if not self.dev.closed:
            with self.dev.lock:
                remove_scratch(self.dev, (X_PATH, OUT_PATH))

    def _reconnect(self, lost: Exception) -> bool:
        """Retry every second until the device is back (True) or stop() (False)."""
        with self._lock:
            self.disconnects += 1
        first = str(lost).split(" (")[0]
        self._set("disconnected", f"{first}; reconnecting every {RECONNECT_S:g} s")
        attempt = 0
        while not self._stop.wait(RECONNECT_S) and not self.dev.closed:
            attempt += 1
            try:
                with self.dev.lock:
                    self.dev.ensure_connected()
                    self._setup()
            except (DeviceDisconnectedError, DeviceNotFoundError, DeviceBusyError) as e:
                self._set(message=f"reconnecting (attempt {attempt}): "
                                  f"{str(e).splitlines()[0]}")
                continue
            self._set("running", f"reconnected after {attempt} attempt"
                                 f"{'s' * (attempt != 1)}; resuming")
            return True
        return False

    def _run_batch(self, batch) -> None:
        dev = self.dev
        outputs = {}
        with dev.lock:
            sent = None
            for m in self._models:
                items = batch.items[m.label]
                data = row_bytes(items)
                try:
                    outputs[m.label] = m.run(dev, items, None if data == sent else data)
                except ModelNotLoaded:
                    m.load(dev)                  # and run again, once
                    outputs[m.label] = m.run(dev, items, data)
                sent = data if m.holds_all else None
        for m in self._models:                 # the host reference, outside the device lock
            host = m.reference(batch.items[m.label])
            device = outputs[m.label]
            agree = m.agree(host, device)
            # what the plots draw: a detector's score (score_samples units), the class
            # index, or a regressor's (first) output
            host_value, device_value = (
                (m.model.score_values(r[0]) if m.detector else
                 r[1] if m.classifier else m.predictions(*r[:2]))
                .astype(np.float64).reshape(len(agree), -1)[:, 0] for r in (host, device))
            with self._lock:
                self._columns[m.label].append(
                    index=batch.positions, host_class=host[1], device_class=device[1],
                    host_value=host_value, device_value=device_value, agree=agree,
                    device_us=device[2], start_s=batch.start_s,
                    truth_class=m.class_indices(batch.truth, len(agree)))
        self._notify()
