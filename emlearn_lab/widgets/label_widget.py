"""LabelWidget: label a recording in the notebook; the view draws, Python decides.

The browser reports gestures (a drag that makes a region, a key that relabels one, a pan
that needs new samples) as small JSON messages; Python applies them to the LabelSet, which
validates and autosaves, and answers with the new regions (a synced trait) or with a tile of
samples as little-endian bytes. The view never edits labels on its own, so what the kernel and
the label file hold is what is drawn.

A model's predictions can be laid over the timeline (:meth:`LabelWidget.predict`,
:meth:`LabelWidget.show_predictions`): the view then offers the least confident unlabelled
stretch next (key N) and turns a predicted stretch into labels with one key (A).

A video of the session can play beside the plot (``video=``, :attr:`LabelWidget.video`):
video time = recording time + :attr:`LabelWidget.video_offset_s`; the playhead drives the
video and the playing video drives the playhead; the offset is set by aligning one event
(:meth:`LabelWidget.align_video`, or key V in the view).
"""
from __future__ import annotations

import pathlib

import anywidget
import numpy as np
import traitlets

from ..exceptions import EmlearnLabError
from ..labels import LabelSet
from ..labels import suggest
from ..recordings.recording import Recording
from . import _tiles
from . import _video

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
    message_id = traitlets.Int(0).tag(sync=True)      # bumped per message: repeats show too
    y_scale = traitlets.Enum(("channel", "shared"), "channel").tag(sync=True)
    channel_gain = traitlets.List(traitlets.Float()).tag(sync=True)
    predictions = traitlets.Dict().tag(sync=True)     # {"segments": [...], "slots": [...]}
    suggestion = traitlets.Dict().tag(sync=True)      # the segment offered next, or {}
    video_info = traitlets.Dict().tag(sync=True)      # the video the view fetches, or {}
    video_offset_s = traitlets.Float(0.0).tag(sync=True)   # video time - recording time

    def __init__(self, recording: Recording, labels: LabelSet, *, classes=(), video=None,
                 video_offset_s: float = 0.0, **kwargs):
        video_info = _video.describe(video, 1) if video is not None else {}
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
        if self._spectrogram is not None:
            meta["spec_band_hz"] = [float(f) for f in self._spectrogram.band_hz]
        super().__init__(meta=meta, overview=overview, view_start_s=0.0,
                         view_end_s=recording.duration_s,
                         channel_gain=[1.0] * len(recording.channels),
                         video_info=video_info, video_offset_s=float(video_offset_s), **kwargs)
        self._labels = None
        self._predictions: suggest.Predictions | None = None
        self._segments: list[dict] = []
        self.labels = labels
        if not labels.path:
            self._say("labels are kept in memory only: pass labels='file.labels.csv' to save "
                      "every change")
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

    def _say(self, text: str) -> None:
        """The status line under the plot: the outcome of the latest gesture."""
        with self.hold_sync():
            self.message = text
            self.message_id += 1

    # -- a video beside the plot ------------------------------------------------------------
    @property
    def video(self) -> str | None:
        """The video file shown beside the plot (a path), or None; set a path to show one,
        None to remove it. The offset (:attr:`video_offset_s`) is kept."""
        return self.video_info.get("path") if self.video_info else None

    @video.setter
    def video(self, path) -> None:
        serial = int(self.video_info.get("serial", 0)) + 1 if self.video_info else 1
        self.video_info = _video.describe(path, serial) if path is not None else {}

    def align_video(self, video_s: float, signal_s: float) -> float:
        """Set the offset so that ``video_s`` in the video shows ``signal_s`` in the recording
        (the same event seen in both): offset = video time - recording time. Returns it."""
        offset_s = round(float(video_s) - float(signal_s), 6)
        self.video_offset_s = offset_s
        self._say(f"video offset {offset_s:+.3f} s: video {float(video_s):.3f} s shows "
                  f"recording {float(signal_s):.3f} s")
        return offset_s

    def _send_video_chunk(self, c: dict) -> None:
        info = self.video_info
        if not info or int(c["serial"]) != info["serial"]:
            return                                  # asked for a video since replaced
        index = int(c["index"])
        self.send({"type": "video_chunk", "serial": info["serial"], "index": index},
                  [_video.read_chunk(info, index)])

    # -- model-assisted labelling -----------------------------------------------------------
    def predict(self, model, *, window_s: float, hop_s: float | None = None):
        """Run a fitted classifier or feature Pipeline over the recording and show what it
        predicts, and how sure it is, above the labels.

        Windows are cut like :func:`emlearn_lab.windows` cuts them (use the training
        ``window_s`` / ``hop_s``). Then N jumps to the least confident unlabelled stretch, A
        accepts it as labels, 1–9 correct its class.

        Returns
        -------
        times_s, classes, confidence : numpy.ndarray
            What was shown (window centres in s, classes, top class probability).
        """
        times_s, classes, confidence = suggest.predict_recording(
            model, self._recording, window_s=window_s, hop_s=hop_s)
        self.show_predictions(times_s, classes, confidence, window_s=window_s)
        return times_s, classes, confidence

    def show_predictions(self, times_s, classes, confidence=None, *,
                         window_s: float | None = None) -> None:
        """Show per-window predictions above the labels.

        Parameters
        ----------
        times_s : array-like of float
            Each window's centre, seconds from the first sample.
        classes : array-like of str
            The predicted class per window.
        confidence : array-like of float, optional
            In [0, 1], e.g. ``pipe.predict_proba(win.X).max(axis=1)``; default 1.
        window_s : float, optional
            The window length (how far the first and last predictions reach).

        Raises
        ------
        LabelError
            Mismatched lengths, times outside the recording, confidence outside [0, 1].
        """
        pred = suggest.from_windows(times_s, classes, confidence,
                                    duration_s=self._recording.duration_s, window_s=window_s)
        self._predictions = pred
        self._segments = suggest.segments(pred)
        new = [c for c in dict.fromkeys(pred.classes.tolist()) if c not in self.classes]
        if new:
            self.classes = self.classes + new
        with self.hold_sync():
            self.suggestion = {}
            self.predictions = {
                "segments": self._segments,
                "slots": [[round(float(a), 6), round(float(b), 6), round(float(c), 4)]
                          for a, b, c in zip(pred.start_s, pred.end_s, pred.confidence)]}
        low = min(self._segments, key=lambda s: s["confidence"])
        self._say(f"showing {len(pred)} predictions in {len(self._segments)} stretches; the "
                  f"least sure is {low['confidence']:.0%}: press N to go there, A to accept")

    def clear_predictions(self) -> None:
        """Remove the predictions from the view."""
        self._predictions, self._segments = None, []
        with self.hold_sync():
            self.predictions, self.suggestion = {}, {}

    def next_suggestion(self) -> dict | None:
        """Offer (and show) the least confident predicted stretch not yet labelled; None when
        every stretch is labelled."""
        if self._predictions is None:
            raise EmlearnLabError("no predictions to suggest from: call w.predict(pipe, "
                                  "window_s=...) or w.show_predictions(times_s, classes) first")
        min_s = 0.5 * float(np.median(self._predictions.end_s - self._predictions.start_s))
        best = suggest.least_confident_unlabelled(self._segments, self._labels, min_s)
        if best is None:
            self.suggestion = {}
            self._say("every predicted stretch is labelled")
            return None
        best["free"] = [list(p) for p in best["free"]]
        a, b = best["free"][0][0], best["free"][-1][1]
        span = max(self.view_end_s - self.view_start_s, 1.0)
        if b - a > 0.8 * span:
            span = (b - a) * 1.5
        centre = (a + b) / 2
        start = min(max(0.0, centre - span / 2), max(0.0, self._recording.duration_s - span))
        with self.hold_sync():
            self.suggestion = best
            self.selected_id = -1
            self.show(start, min(start + span, self._recording.duration_s))
        self._say(f"model: '{best['label']}' {a:.2f}–{b:.2f} s, {best['confidence']:.0%} sure;"
                  " A accepts, 1–9 then correct the class")
        return best

    def suggest_at(self, t_s: float) -> dict | None:
        """Offer the predicted stretch at ``t_s`` seconds (a click on the model's strip)."""
        if self._predictions is None:
            raise EmlearnLabError("no predictions shown: call w.predict(pipe, window_s=...) "
                                  "first")
        seg = next((g for g in self._segments if g["start_s"] <= t_s < g["end_s"]), None)
        free = suggest.free_pieces(seg["start_s"], seg["end_s"], self._labels) if seg else []
        if not free:
            self.suggestion = {}
            self._say(f"nothing to offer at {t_s:.2f} s: it is labelled already")
            return None
        self.suggestion = dict(seg, free=[list(p) for p in free])
        self._say(f"model: '{seg['label']}' {free[0][0]:.2f}–{free[-1][1]:.2f} s, "
                  f"{seg['confidence']:.0%} sure; A accepts")
        return self.suggestion

    def accept_suggestion(self) -> list:
        """Label the unlabelled parts of the offered stretch with its predicted class (one undo
        step); the first new label is selected, so 1–9 correct it. Returns the new Labels."""
        seg = self.suggestion
        if not seg:
            raise EmlearnLabError("no suggestion to accept: press N (or w.next_suggestion()) "
                                  "to be offered the least confident stretch first")
        pieces = [(self._on_sample(a), self._on_sample(b), seg["label"])
                  for a, b in seg["free"]]
        added = self._labels.extend([p for p in pieces if p[1] > p[0]])
        with self.hold_sync():
            self.suggestion = {}
            if added:
                self.selected_id = added[0].id
                self.current_class = added[0].label
        self._say(f"accepted {', '.join(_describe(lab) for lab in added)} from the model")
        return added

    # -- gestures from the view -------------------------------------------------------------
    def _on_message(self, _widget, content: dict, _buffers) -> None:
        kind = content.get("type")
        try:
            if kind == "view":
                self._send_tile(content)
            elif kind == "play":
                self._send_audio(content)
            elif kind == "video_chunk":
                self._send_video_chunk(content)
            else:
                self._apply(kind, content)
        except EmlearnLabError as e:
            self._say(str(e).split("\n")[0])
            self._sync_regions(self._labels)     # the view drops its unaccepted draft
        except (KeyError, TypeError, ValueError) as e:
            self._say(f"ignored a malformed {kind!r} message from the view: {e}")

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
            self._say(f"added {_describe(label)}")
        elif kind == "update":
            changes = {k: (str(c[k]) if k in ("label", "note") else self._on_sample(c[k]))
                       for k in ("start_s", "end_s", "label", "note") if c.get(k) is not None}
            label = labels.update(int(c["id"]), **changes)
            self._say(f"noted {_describe(label)}: {label.note!r}" if set(changes) == {"note"}
                      else f"changed {_describe(label)}")
        elif kind == "remove":
            label = labels.remove(int(c["id"]))
            self._say(f"deleted {_describe(label)}")
        elif kind in ("undo", "redo"):
            done = labels.undo() if kind == "undo" else labels.redo()
            self._say(f"{kind} done" if done else f"nothing to {kind}")
        elif kind == "add_class":
            self.add_class(str(c["name"]))
        elif kind == "next":
            self.next_suggestion()
        elif kind == "accept":
            self.accept_suggestion()
        elif kind == "suggest_at":
            self.suggest_at(float(c["t_s"]))
        elif kind == "align":
            self.align_video(float(c["video_s"]), float(c["signal_s"]))
        else:
            raise ValueError(f"unknown message type {kind!r}")

    def add_class(self, name: str) -> None:
        """Offer one more class in the picker (and allow it in the LabelSet, saved at once).

        Raises
        ------
        LabelError
            An empty or malformed name, or one offered already.
        """
        name = str(name).strip()
        if name in self.classes:
            from ..exceptions import LabelError
            raise LabelError(f"class {name!r} is offered already; pick it in the picker")
        self._labels.add_class(name)             # its observer may offer it already
        self._offered.append(name)
        with self.hold_sync():
            if name not in self.classes:
                self.classes = self.classes + [name]
            self.current_class = name
        self._say(f"added class {name!r} (key {len(self.classes)})" if len(self.classes) <= 9
                  else f"added class {name!r} (click it in the picker)")

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
        loop = " in a loop" if c.get("loop") else ""
        self._say(f"playing {start_s:.2f}–{end_s:.2f} s{clipped}{loop}")


def _describe(label) -> str:
    return f"'{label.label}' {label.start_s:.3f}–{label.end_s:.3f} s"
