"""Input rules of LabelSet: numbers of seconds, label text, classes, options, paths, and
whether a label file belongs to the given recording."""
from __future__ import annotations

import math
import numbers
from pathlib import Path

from ..exceptions import LabelError, LabelFileMismatchError
from ..recordings.recording import RecordingInfo
from . import formats


def _read_kwargs(kwargs: dict) -> dict:
    named = {k: kwargs.pop(k, d) for k, d in (("recording", None), ("classes", None),
                                              ("overlap", "forbid"), ("check", "error"))}
    return dict(named, options=kwargs)


def _choice(value, name: str, allowed: tuple) -> str:
    if value not in allowed:
        raise LabelError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def _bindable(path) -> Path:
    p = Path(path)
    formats.format_of(p)
    if not p.parent.is_dir():
        raise LabelError(f"cannot save labels to {str(p)!r}: directory {str(p.parent)!r} does "
                         "not exist; create it first")
    return p


def _recording_info(recording) -> RecordingInfo | None:
    if recording is None or isinstance(recording, RecordingInfo):
        return recording
    info = getattr(recording, "info", None)
    if isinstance(info, RecordingInfo):
        return info
    raise TypeError(f"recording must be a Recording or RecordingInfo, got "
                    f"{type(recording).__name__}")


def _check_same_recording(source: str, in_file: RecordingInfo, given: RecordingInfo,
                          check: str) -> None:
    diffs = []
    if in_file.n_samples != given.n_samples:
        diffs.append(f"n_samples {in_file.n_samples} in the file vs {given.n_samples}")
    if not math.isclose(in_file.samplerate_hz, given.samplerate_hz, rel_tol=1e-9):
        diffs.append(f"samplerate_hz {in_file.samplerate_hz:g} in the file vs "
                     f"{given.samplerate_hz:g}")
    if in_file.sha256 != given.sha256:
        diffs.append(f"sha256 {in_file.sha256} in the file vs {given.sha256}")
    if not diffs or check == "ignore":
        return
    msg = (f"{source} was made for another recording: {'; '.join(diffs)} in this recording")
    if check == "warn":
        formats.warn_caller(msg)
        return
    raise LabelFileMismatchError(f"{msg}. Pass check='warn' to load it anyway, or label this "
                                 "recording in a new file")


def _check_classes(classes) -> tuple[str, ...] | None:
    if classes is None:
        return None
    if isinstance(classes, str):
        raise LabelError(f"classes must be a sequence of str, got the str {classes!r}; "
                         f"write classes=[{classes!r}]")
    names = tuple(_check_text(c, "classes: ") for c in classes)
    if not names:
        raise LabelError("classes is empty, so no label would be allowed; pass classes=None "
                         "for an open set")
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise LabelError(f"classes {list(names)} name {dupes} more than once")
    return names


def _seconds(x, what: str, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise LabelError(f"{where}{what} must be a number of seconds, got {x!r}")
    value = float(x)
    if not math.isfinite(value):
        raise LabelError(f"{where}{what} is {value}; expected a finite number of seconds")
    return value


def _check_text(label, where: str) -> str:
    if not isinstance(label, str):
        raise LabelError(f"{where}a label must be a str, got {type(label).__name__} {label!r}")
    text = str(label)
    if not text.strip():
        raise LabelError(f"{where}label {text!r} is empty; give every interval a name")
    if any(c in text for c in "\t\n\r"):
        raise LabelError(f"{where}label {text!r} contains a tab or line break, which label "
                         "files cannot hold; use spaces")
    if text != text.strip():
        raise LabelError(f"{where}label {text!r} has leading or trailing spaces; use "
                         f"{text.strip()!r}")
    return text


def _check_note(note, where: str) -> str:
    """A region's note: one line of text (label files hold one row per region), may be empty;
    surrounding spaces are dropped."""
    if not isinstance(note, str):
        raise LabelError(f"{where}a note must be a str, got {type(note).__name__} {note!r}")
    if any(c in note for c in "\t\n\r"):
        raise LabelError(f"{where}note {note!r} contains a tab or line break, which label "
                         "files cannot hold; write it on one line")
    return note.strip()
