"""LiveWidget: a live host-vs-device comparison drawn as it runs; the view only draws.

Python decides everything drawn: which items are shown (the latest ``SHOWN_ITEMS``), the
running agreement curve (downsampled to ``CURVE_POINTS``), every axis range, the status line.
They travel as three traits updated together (one message): ``status`` and
``frame_layout`` (small JSON) and ``frame`` (little-endian float32 arrays, laid out as
``frame_layout`` says), at most ``MAX_UPDATES_PER_S`` times a second however fast the batches
come. The view reports two
gestures, start and stop.
"""
from __future__ import annotations

import math
import pathlib
import threading
import time

import anywidget
import numpy as np
import traitlets

from ..exceptions import EmlearnLabError

__all__ = ["LiveWidget"]

_STATIC = pathlib.Path(__file__).parent / "static"
SHOWN_ITEMS = 240
CURVE_POINTS = 300
MAX_UPDATES_PER_S = 5.0


class LiveWidget(anywidget.AnyWidget):
    """The view of a :class:`emlearn_lab.live.LiveComparison` (see :func:`emlearn_lab.live`).

    Per model, side by side: the prediction timeline (host vs device class, disagreements
    marked), the running agreement, and the device's microseconds per prediction (one scale
    for all models, so that they compare at a glance); start/stop buttons and a status line.
    """

    _esm = _STATIC / "live.js"
    _css = _STATIC / "live.css"

    status = traitlets.Dict().tag(sync=True)
    # Not "layout": that is ipywidgets' own trait (the DOM layout); shadowing it breaks the
    # front end's child views and `w.layout.width = ...`.
    frame_layout = traitlets.Dict().tag(sync=True)
    frame = traitlets.Bytes(b"").tag(sync=True)

    def __init__(self, comparison, **kwargs):
        super().__init__(**kwargs)
        self.comparison = comparison
        self.pushes = 0                      # updates sent (tests pin the rate with it)
        self._push_lock = threading.Lock()
        self._last_push = -math.inf
        self._timer = None
        self._closed = False
        self._push()
        self._unsubscribe = comparison.on_update(self._on_update)
        self.on_msg(self._on_message)

    # -- Python side ----------------------------------------------------------------------
    def start(self) -> None:
        """Start or resume the comparison (the view's start button)."""
        self.comparison.start()

    def stop(self) -> None:
        """Stop it after the batch in progress (the view's stop button)."""
        self.comparison.stop()
        self._push()

    def close(self) -> None:
        """Close the view; the comparison goes on (stop it with ``w.stop()``)."""
        self._closed = True
        self._unsubscribe()
        with self._push_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        super().close()

    # -- updates, throttled ----------------------------------------------------------------
    def _on_update(self, _comparison) -> None:
        with self._push_lock:
            wait_s = self._last_push + 1.0 / MAX_UPDATES_PER_S - time.monotonic()
            if wait_s > 0:
                if self._timer is None:       # the latest state goes out when due
                    self._timer = threading.Timer(wait_s, self._deferred)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self._push()

    def _deferred(self) -> None:
        with self._push_lock:
            self._timer = None
        self._push()

    def _push(self) -> None:
        if self._closed:
            return
        with self._push_lock:
            status, layout, frame = build_frame(self.comparison)
            with self.hold_sync():
                self.status, self.frame_layout, self.frame = status, layout, frame
            self._last_push = time.monotonic()
            self.pushes += 1

    # -- gestures from the view ------------------------------------------------------------
    def _on_message(self, _widget, content: dict, _buffers) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "start":
                self.start()
            elif kind == "stop":
                self.stop()
        except EmlearnLabError as e:
            self.status = dict(self.status, text=f"{type(e).__name__}: {e}")


def _f32(a) -> bytes:
    return np.asarray(a, dtype="<f4").tobytes()


def _nice(v: float) -> float:
    """The next 1, 2 or 5 times a power of ten at or above v."""
    p = 10.0 ** math.floor(math.log10(v))
    return next(m * p for m in (1, 2, 5, 10) if m * p >= v * (1 - 1e-9))


def _status_text(eng, summary) -> str:
    of = f"/{summary.total}" if summary.total is not None else ""
    head = {"idle": "stopped" if summary.n_items else "ready",
            "running": "running", "disconnected": "disconnected, reconnecting",
            "done": "done", "error": "error"}[eng.state]
    parts = [head, f"{summary.n_items}{of} items"]
    for label, m in summary.models.items():
        if m["n"]:
            parts.append(f"{label}: {100 * m['agreement']:.1f}% agree"
                         f"{'' if not m['disagreements'] else ' (%d differ)' % m['disagreements']}"
                         f", {m['device_us_median']:.0f} µs median")
    if summary.disconnects:
        parts.append(f"{summary.disconnects} disconnect{'s' * (summary.disconnects != 1)}")
    if eng.state in ("disconnected", "error"):
        parts.append(eng.message)
    return " · ".join(parts)


def _clock(seconds: float) -> str:
    """A time in a recording: "42.0 s" under a minute, "4:02.0" (m:ss.s) from one on."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes:.0f}:{rest:04.1f}"


def _x_labels(start_s: np.ndarray, first: int, last: int) -> list:
    """Labels of an x axis from item `first` to item `last`: the windows' start times in
    their recording when known, else item numbers."""
    if last < len(start_s) and np.isfinite(start_s[first]) and np.isfinite(start_s[last]):
        return [_clock(float(start_s[first])), _clock(float(start_s[last]))]
    return [str(first), f"item {last}"]


def _latency_top(us_shown: list) -> float:
    """Top of the latency axis, shared by the models: over 90% of each model's calls and at
    least three times its median call (never above its slowest), rounded up to 1, 2 or
    5 x 10^n. The rare slow calls (a collection, the host OS scheduling the unix port away)
    are drawn clipped at the top rather than scaling the bulk into a strip at the bottom."""
    tops = [min(float(np.max(us)), max(3.0 * float(np.median(us)),
                                       float(np.percentile(us, 90))))
            for us in us_shown if len(us)]
    return _nice(max(tops)) if tops and max(tops) > 0 else 1.0


def build_frame(eng) -> tuple:
    """(status, layout, frame) for the view, from the comparison's results so far."""
    summary = eng.summary()
    cols = {label: eng.columns(label) for label in eng.labels}
    # the columns only grow, except when a finished comparison starts afresh meanwhile
    n = min([summary.n_items] + [len(c["agree"]) for c in cols.values()])
    k0 = max(0, n - SHOWN_ITEMS)
    first = cols[eng.labels[0]]
    x = first["index"][k0:n]
    points = np.unique(np.linspace(0, n - 1, min(n, CURVE_POINTS)).round().astype(int)) \
        if n else np.zeros(0, int)
    truth = eng.has_truth
    parts = [_f32(x), _f32(points)]
    models, agree_lo = [], 0.9
    for label in eng.labels:
        c, info = cols[label], eng.info(label)
        agree = c["agree"][:n]
        curve = np.cumsum(agree)[points] / (points + 1) if n else np.zeros(0)
        host, device = c["host_value"][k0:n], c["device_value"][k0:n]
        if len(curve):
            agree_lo = min(agree_lo, math.floor(float(np.min(curve)) * 10) / 10)
        if info["kind"] == "classifier":
            y = [-0.5, max(len(info["classes"]), 1) - 0.5]
        else:
            both = np.concatenate([host, device]) if n else np.zeros(1)
            if info["threshold"] is not None and math.isfinite(info["threshold"]):
                both = np.append(both, info["threshold"])
            both = both[np.isfinite(both)] if np.isfinite(both).any() else np.zeros(1)
            lo, hi = float(np.min(both)), float(np.max(both))
            pad = 0.05 * (hi - lo) or 0.5
            y = [lo - pad, hi + pad]
        parts += [_f32(host), _f32(device), _f32(agree[k0:n]), _f32(c["device_us"][k0:n])]
        if truth:
            known = c["truth_class"][k0:n]
            if info["kind"] == "anomaly":   # 1 where the device's decision is the label
                known = np.where(known < 0, -1, known == c["device_class"][k0:n])
            parts.append(_f32(known))
        parts.append(_f32(curve))
        m = summary[label]
        known = c["truth_class"][:n] >= 0
        models.append({"label": label, "kind": info["kind"], "form": info["form"],
                       "threshold": info["threshold"],
                       "classes": info["classes"][:64], "y": y, "n": m["n"],
                       "agreement": None if not m["n"] else m["agreement"],
                       "disagreements": m["disagreements"],
                       "us_median": None if not m["n"] else m["device_us_median"],
                       "us_p95": None if not m["n"] else m["device_us_p95"],
                       "n_truth": int(np.count_nonzero(known)),
                       "accuracy": None if not known.any() else float(np.mean(
                           c["device_class"][:n][known] == c["truth_class"][:n][known]))})
    us_top = _latency_top([cols[label]["device_us"][k0:n] for label in eng.labels])
    layout = {"k": int(len(x)), "m": int(len(points)), "x": [int(k0), int(max(n, k0 + 1))],
              "x_labels": _x_labels(first["start_s"], k0, max(n - 1, k0)),
              "curve_labels": _x_labels(first["start_s"], 0, max(n - 1, 0)),
              "total": summary.total, "us_max": us_top, "agree_lo": agree_lo,
              "truth": truth, "models": models}
    status = {"state": eng.state, "text": _status_text(eng, summary), "n": n,
              "disconnects": summary.disconnects, "source": summary.source}
    return status, layout, b"".join(parts)
