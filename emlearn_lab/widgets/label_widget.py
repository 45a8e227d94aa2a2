"""LabelWidget: label a recording in the notebook; the view draws, Python decides.

The browser reports gestures (a drag that makes a region, a key that relabels one, a pan
that needs new samples) as small JSON messages; Python applies them to the LabelSet, which
validates and autosaves, and answers with the new regions (a synced trait) or with a tile of
samples as little-endian bytes. The view never edits labels on its own, so what the kernel and
the label file hold is what is drawn.
"""
from __future__ import annotations

import pathlib

import anywidget
import numpy as np
import traitlets

from ..exceptions import EmlearnLabError
from ..labels import LabelSet
from ..recordings.recording import Recording
from . import _tiles

__all__ = ["LabelWidget"]

_STATIC = pathlib.Path(__file__).parent / "static"
_MAX_PLAY_S = 120.0


class LabelWidget(anywidget.AnyWidget):
    """Interactive labelling of one recording (see :func:`emlearn_lab.label`)."""

    _esm = _STATIC / "label.js"
    _css = _STATIC / "label.css"

    meta = traitlets.Dict().tag(sync=True)
    overview = traitlets.Bytes().tag(sync=True)
    regions = traitlets.List().tag(sync=True)
    classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    current_class = traitlets.Unicode("").tag(sync=True)
    selected_id = traitlets.Int(-1).tag(sync=True)
    view_start_s = traitlets.Float(0.0).tag(sync=True)
    view_end_s = traitlets.Float(0.0).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    can_undo = traitlets.Bool(False).tag(sync=True)
    can_redo = traitlets.Bool(False).tag(sync=True)

    def __init__(self, recording: Recording, labels: LabelSet, *, classes=(), **kwargs):
        self._recording = recording
        self._offered = [str(c) for c in classes]      # picker: these first, then the set's
        self._pyramid = _tiles.Pyramid(recording.data)
        self._spectrogram = (_tiles.Spectrogram(self._pyramid.samples,
                                                recording.samplerate_hz, recording.full_scale)
                             if recording.kind == "audio" else None)
        n_cols, overview = _tiles.overview(self._pyramid)
        meta = {"duration_s": recording.duration_s, "samplerate_hz": recording.samplerate_hz,
                "n_samples": recording.n_samples, "channels": list(recording.channels),
                "units": list(recording.units), "kind": recording.kind,
                "overview_cols": n_cols, "source": recording.source or "",
                "saving_to": str(labels.path) if labels.path else ""}
        super().__init__(meta=meta, overview=overview, view_start_s=0.0,
                         view_end_s=recording.duration_s, **kwargs)
        self._labels = None
        self.labels = labels
        if not labels.path:
            self.message = ("labels are kept in memory only: pass labels='file.labels.csv' "
                            "to save every change")
        self.on_msg(self._on_message)

    # -- the LabelSet, synced both ways -----------------------------------------------------
    @property
    def labels(self) -> LabelSet:
        """The LabelSet this widget edits; changes made in Python show in the view."""
        return self._labels

    @labels.setter
    def labels(self, labels: LabelSet) -> None:
        if not isinstance(labels, LabelSet):
            raise TypeError(f"labels must be a LabelSet, got {type(labels).__name__}")
        if self._labels is not None:
            self._unobserve()
        self._labels = labels
        self._unobserve = labels.observe(self._sync_regions)
        self.classes = self._offered + [c for c in labels.classes if c not in self._offered]
        if self.current_class not in self.classes:
            self.current_class = self.classes[0] if self.classes else ""
        self._sync_regions(labels)

    def _sync_regions(self, labels: LabelSet) -> None:
        self.regions = labels.to_records()
        new = [c for c in labels.classes if c not in self.classes]
        if new:
            self.classes = self.classes + new
        if self.selected_id not in labels:
            self.selected_id = -1
        self.can_undo, self.can_redo = labels.can_undo, labels.can_redo

    # -- Python side conveniences -----------------------------------------------------------
    def show(self, start_s: float, end_s: float) -> None:
        """Move the view to ``[start_s, end_s]`` seconds."""
        if not end_s > start_s:
            raise ValueError(f"show() needs end_s > start_s, got {start_s}, {end_s}")
        self.view_start_s, self.view_end_s = float(start_s), float(end_s)

    # -- gestures from the view -------------------------------------------------------------
    def _on_message(self, _widget, content: dict, _buffers) -> None:
        kind = content.get("type")
        try:
            if kind == "view":
                self._send_tile(content)
            elif kind == "play":
                self._send_audio(content)
            else:
                self._apply(kind, content)
        except EmlearnLabError as e:
            self.message = str(e)
            self._sync_regions(self._labels)     # the view drops its unaccepted draft
        except (KeyError, TypeError, ValueError) as e:
            self.message = f"ignored a malformed {kind!r} message from the view: {e}"

    def _on_sample(self, t_s) -> float:
        """A time from the view (a pixel position) moved to the nearest sample boundary."""
        rate = self._recording.samplerate_hz
        return float(np.round(float(t_s) * rate) / rate)

    def _apply(self, kind: str, c: dict) -> None:
        labels = self._labels
        if kind == "add":
            label = labels.add(self._on_sample(c["start_s"]), self._on_sample(c["end_s"]),
                               str(c["label"]))
            self.selected_id = label.id
            self.message = f"added {_describe(label)}"
        elif kind == "update":
            changes = {k: (str(c[k]) if k == "label" else self._on_sample(c[k]))
                       for k in ("start_s", "end_s", "label") if c.get(k) is not None}
            label = labels.update(int(c["id"]), **changes)
            self.message = f"changed {_describe(label)}"
        elif kind == "remove":
            label = labels.remove(int(c["id"]))
            self.message = f"deleted {_describe(label)}"
        elif kind in ("undo", "redo"):
            done = labels.undo() if kind == "undo" else labels.redo()
            self.message = f"{kind} done" if done else f"nothing to {kind}"
        else:
            raise ValueError(f"unknown message type {kind!r}")

    def _send_tile(self, c: dict) -> None:
        header, buffers = _tiles.tile(self._pyramid, self._spectrogram,
                                      self._recording.samplerate_hz, float(c["start_s"]),
                                      float(c["end_s"]), int(c["width_px"]))
        header.update(type="tile", req=c.get("req"))
        self.send(header, buffers)

    def _send_audio(self, c: dict) -> None:
        rec = self._recording
        start_s = max(0.0, float(c["start_s"]))
        end_s = min(float(c["end_s"]), rec.duration_s, start_s + _MAX_PLAY_S)
        i0, i1 = int(start_s * rec.samplerate_hz), int(np.ceil(end_s * rec.samplerate_hz))
        pcm = self._pyramid.samples[i0:i1].mean(axis=1)      # float32, only the range
        if rec.full_scale:
            pcm = pcm / np.float32(rec.full_scale)
        pcm = np.nan_to_num(pcm, nan=0.0)
        peak = float(np.max(np.abs(pcm))) if pcm.size else 0.0
        if rec.full_scale is None and peak > 1.0:     # not audio in full-scale units
            pcm = pcm / peak
        samples = np.clip(np.round(pcm * 32767.0), -32768, 32767).astype("<i2")
        self.send({"type": "audio", "samplerate_hz": rec.samplerate_hz, "start_s": start_s,
                   "end_s": end_s}, [samples.tobytes()])
        clipped = " (first 120 s)" if end_s < float(c["end_s"]) - 1e-9 else ""
        self.message = f"playing {start_s:.2f}–{end_s:.2f} s{clipped}"


def _describe(label) -> str:
    return f"'{label.label}' {label.start_s:.3f}–{label.end_s:.3f} s"
