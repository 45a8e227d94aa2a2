"""A model's predictions as labelling suggestions: where it thinks each class is, how sure it
is, and which unlabelled stretch a person should look at next.

Predictions arrive one per window (its centre time, a class, a confidence in [0, 1]). Each
covers a *slot* of the timeline, from halfway to the previous window's centre to halfway to
the next one, so the slots tile the recording without overlapping; consecutive slots of one
class merge into a *segment*, the unit a person accepts or corrects. Active learning picks
the segment the model is least sure of among those not yet labelled: a person's answer
there teaches the most, and the confident ones can be accepted quickly afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import LabelError

__all__ = ["Predictions", "from_windows", "predict_recording", "segments", "free_pieces",
           "least_confident_unlabelled"]


@dataclass(frozen=True)
class Predictions:
    """One prediction per slot, slots sorted and tiling ``[start_s[0], end_s[-1])``."""

    start_s: np.ndarray           # float, slot starts
    end_s: np.ndarray             # float, slot ends (== the next slot's start)
    classes: np.ndarray           # str, the predicted class of each slot
    confidence: np.ndarray        # float in [0, 1]

    def __len__(self) -> int:
        return len(self.start_s)


def from_windows(times_s, classes, confidence=None, *, duration_s: float,
                 window_s: float | None = None) -> Predictions:
    """Slots from per-window predictions.

    Parameters
    ----------
    times_s : array-like of float
        The centre time of each window, seconds (any order; sorted here).
    classes : array-like of str
        The predicted class of each window.
    confidence : array-like of float, optional
        In [0, 1] (e.g. the top ``predict_proba``); default 1 for every window.
    duration_s : float
        The recording's length: slots are clipped to ``[0, duration_s]``.
    window_s : float, optional
        The window length: the first and last slots reach half a window beyond their centres
        (the samples those windows saw). Default: the median spacing of the times.

    Raises
    ------
    LabelError
        Lengths that differ, no prediction, a time that is not finite or outside the
        recording, a confidence outside [0, 1], an empty class name.
    """
    t = _floats(times_s, "times_s")
    names = np.asarray(classes, dtype=object).ravel()
    conf = np.ones(len(t)) if confidence is None else _floats(confidence, "confidence")
    if not (len(t) == len(names) == len(conf)):
        raise LabelError(f"show_predictions needs one class and confidence per time: got "
                         f"{len(t)} times, {len(names)} classes, {len(conf)} confidences")
    if len(t) == 0:
        raise LabelError("no predictions given: pass at least one time, class and "
                         "confidence")
    if np.any(t < 0) or np.any(t > duration_s):
        raise LabelError(f"prediction times must lie within the recording [0, "
                         f"{duration_s:g}] s; got {t.min():g} to {t.max():g} s (pass window "
                         "centres in seconds from the first sample)")
    if np.any(conf < 0) or np.any(conf > 1):
        raise LabelError(f"confidence must lie in [0, 1], got {conf.min():g} to "
                         f"{conf.max():g}; pass predict_proba(...).max(axis=1)")
    text = np.array([str(c).strip() for c in names], dtype=str)
    if np.any(text == ""):
        raise LabelError("a predicted class is empty; every window needs a class name")
    order = np.argsort(t, kind="stable")
    t, text, conf = t[order], text[order], conf[order]
    spacing = float(np.median(np.diff(t))) if len(t) > 1 else duration_s
    half = (window_s if window_s is not None else spacing) / 2
    mids = (t[1:] + t[:-1]) / 2
    start = np.concatenate([[max(0.0, t[0] - half)], mids])
    end = np.concatenate([mids, [min(duration_s, t[-1] + half)]])
    return Predictions(start, end, text, conf)


def _floats(values, name: str) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise LabelError(f"{name} must be numbers, got {values!r:.80}") from None
    if not np.all(np.isfinite(x)):
        raise LabelError(f"{name} holds NaN or infinite values; pass finite numbers")
    return x


def predict_recording(model, recording, *, window_s: float, hop_s: float | None = None):
    """Run a fitted classifier (or feature Pipeline) over every window of ``recording``.

    Windows are cut as :func:`emlearn_lab.windows` cuts them for training, so pass the same
    ``window_s`` / ``hop_s``. Confidence is the top ``predict_proba`` where the model has it,
    else 1.

    Returns
    -------
    times_s, classes, confidence : numpy.ndarray
        Window centres (s), predicted classes, confidences.
    """
    from ..windowing import windows
    if not hasattr(model, "predict"):
        raise LabelError(f"expected a fitted classifier or Pipeline with predict(), got "
                         f"{type(model).__name__}; fit it first (pipe.fit(win.X, win.y))")
    win = windows(recording, window_s=window_s, hop_s=hop_s)
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(win.X))
        classes = np.asarray(model.classes_)[proba.argmax(axis=1)]
        confidence = proba.max(axis=1)
    else:
        classes = np.asarray(model.predict(win.X))
        confidence = np.ones(len(classes))
    return win.start_s + win.window_s / 2, classes, confidence


def segments(pred: Predictions) -> list[dict]:
    """Runs of touching slots of one class: ``{start_s, end_s, label, confidence}`` (the
    mean of its slots), in time order."""
    out = []
    for i in range(len(pred)):
        last = out[-1] if out else None
        if last and last["label"] == pred.classes[i] and \
                abs(last["end_s"] - pred.start_s[i]) < 1e-9:
            last["end_s"] = float(pred.end_s[i])
            last["_conf"].append(float(pred.confidence[i]))
        else:
            out.append({"start_s": float(pred.start_s[i]), "end_s": float(pred.end_s[i]),
                        "label": str(pred.classes[i]), "_conf": [float(pred.confidence[i])]})
    for seg in out:
        seg["confidence"] = float(np.mean(seg.pop("_conf")))
    return out


def free_pieces(start_s: float, end_s: float, labels, min_s: float = 0.0) -> list:
    """The parts of ``[start_s, end_s)`` no label covers, each at least ``min_s`` long, as
    ``(start_s, end_s)`` pairs in time order."""
    pieces, at = [], start_s
    for lab in sorted(labels, key=lambda lab: lab.start_s):
        if lab.end_s <= at or lab.start_s >= end_s:
            continue
        if lab.start_s > at:
            pieces.append((at, lab.start_s))
        at = max(at, lab.end_s)
    if at < end_s:
        pieces.append((at, end_s))
    return [(a, b) for a, b in pieces if b - a >= min_s and b > a]


def least_confident_unlabelled(segs: list[dict], labels, min_s: float) -> dict | None:
    """The segment with the lowest confidence that still has an unlabelled piece of at least
    ``min_s`` seconds (earliest first on ties), with its ``free`` pieces; None when every
    segment is labelled."""
    best = None
    for seg in segs:
        free = free_pieces(seg["start_s"], seg["end_s"], labels, min_s)
        if free and (best is None or seg["confidence"] < best["confidence"]):
            best = dict(seg, free=free)
    return best
