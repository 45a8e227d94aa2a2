"""LabelSet: labelled time intervals of one recording, validated, with undo and autosave."""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import LabelError
from ..recordings.recording import RecordingInfo
from . import formats
from ._rules import (
    _bindable,
    _check_classes,
    _check_note,
    _check_same_recording,
    _check_text,
    _choice,
    _read_kwargs,
    _recording_info,
    _seconds,
)
from .atomic import atomic_write_text, remove_stale_temp_files

__all__ = ["Label", "LabelSet", "HISTORY_DEPTH"]

_log = logging.getLogger(__name__)

HISTORY_DEPTH = 500             # undo steps kept; each is a tuple of shared Label objects
_OVERLAP_TOLERANCE_S = 1e-9     # float noise from a drag that snaps two edges together
_OVERLAPS = ("forbid", "allow")
_CHECKS = ("error", "warn", "ignore")


@dataclass(frozen=True)
class Label:
    """One labelled interval ``[start_s, end_s)`` of a recording; ``id`` is unique within its
    LabelSet and kept when the interval is moved, resized or relabelled. ``note`` is free
    text about it (one line; ``""`` for none), saved with it in .csv and .json files."""

    id: int
    start_s: float
    end_s: float
    label: str
    note: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def __repr__(self) -> str:
        note = f", note={self.note!r}" if self.note else ""
        return (f"Label(id={self.id!r}, start_s={self.start_s!r}, end_s={self.end_s!r}, "
                f"label={self.label!r}{note})")


class LabelSet:
    """Labelled time intervals of one recording.

    Every change is validated first (a rejected change leaves the set as it was), can be
    undone, is saved atomically when the set has a ``path``, and is then reported to the
    callbacks registered with :meth:`observe`.

    Parameters
    ----------
    labels : iterable, optional
        ``(start_s, end_s, label)`` tuples, :class:`Label` objects or dicts with those keys
        (and optionally ``note``). Ids are assigned afresh, 1, 2, ... in the order given.
    classes : sequence of str, optional
        The allowed labels. None: any label (an open set; :attr:`classes` then lists the
        labels in use, in the order they were created).
    recording : Recording or RecordingInfo, optional
        Intervals must lie within ``[0, duration_s]`` of it (to half a sample period), and
        saved files record its length, rate and hash.
    overlap : {"forbid", "allow"}
        ``"forbid"``: no two intervals may overlap by more than 1e-9 s (touching is fine).
    path : str or os.PathLike, optional
        Autosave target for every change (including undo/redo); the format follows the
        extension: .csv (native), .txt/.tsv (Audacity), .json (Label Studio). It must not
        exist yet: use :meth:`open` to continue a file.

    Raises
    ------
    LabelError
        An invalid interval, an unknown class, an overlap, bad ``classes``/``overlap``, or a
        ``path`` that exists already or whose directory does not.

    Examples
    --------
    >>> ls = LabelSet([(0, 2.5, "walk")], classes=["walk", "run"])
    >>> ls.add(2.5, 4, "run")
    Label(id=2, start_s=2.5, end_s=4.0, label='run')
    >>> ls.at([1.0, 3.0, 9.0]).tolist()
    ['walk', 'run', '']
    >>> ls.undo(), len(ls)
    (True, 1)
    """

    def __init__(self, labels=(), *, classes=None, recording=None, overlap: str = "forbid",
                 path=None):
        self._overlap = _choice(overlap, "overlap", _OVERLAPS)
        self._classes = _check_classes(classes)
        self._info = _recording_info(recording)
        self._recording_kind = getattr(recording, "kind", None)
        self._recording_source = getattr(recording, "source", None)
        self._label_studio: dict | None = None   # tag names and task data read from a file
        self._observers: list = []
        self._undo: deque = deque(maxlen=HISTORY_DEPTH)
        self._redo: list = []
        self._labels: tuple[Label, ...] = ()
        self._by_id: dict[int, Label] = {}
        self._next_id = 1
        self._path: Path | None = None
        items = list(labels)
        self._initial([_coerce(item, f"labels[{i}]: ") for i, item in enumerate(items)],
                      [f"labels[{i}]" for i in range(len(items))])
        if path is not None:
            p = _bindable(path)
            if p.exists():
                raise LabelError(f"{str(p)!r} exists already; autosaving to it would overwrite "
                                 f"it. Use LabelSet.open({str(p)!r}) to continue it, or choose "
                                 "another path")
            self._path = p

    # -- reading -------------------------------------------------------------------------------
    @property
    def classes(self) -> tuple[str, ...]:
        """The allowed labels, or for an open set the labels in use in creation order."""
        if self._classes is not None:
            return self._classes
        return tuple(dict.fromkeys(lab.label for lab in sorted(self._labels,
                                                               key=lambda lab: lab.id)))

    @property
    def recording_info(self) -> RecordingInfo | None:
        return self._info

    @property
    def overlap(self) -> str:
        return self._overlap

    @property
    def path(self) -> Path | None:
        """The autosave target. Setting a path saves there at once (like *Save As*); setting
        None stops autosaving."""
        return self._path

    @path.setter
    def path(self, path) -> None:
        if path is None:
            self._path = None
            return
        p = _bindable(path)
        self.save(p)
        self._path = p

    def __len__(self) -> int:
        return len(self._labels)

    def __iter__(self):
        """Labels sorted by ``(start_s, id)``."""
        return iter(self._labels)

    def __getitem__(self, id: int) -> Label:
        try:
            return self._by_id[id]
        except (KeyError, TypeError):
            ids = f"ids {min(self._by_id)} to {max(self._by_id)}" if self._by_id else "no ids"
            raise KeyError(f"no label with id {id!r} in this LabelSet ({len(self)} labels, "
                           f"{ids})") from None

    def __contains__(self, id) -> bool:
        try:
            return id in self._by_id
        except TypeError:
            return False

    def __eq__(self, other) -> bool:
        """Same intervals and labels (ids, classes, recording and path are not compared)."""
        if not isinstance(other, LabelSet):
            return NotImplemented
        return sorted(self._rows()) == sorted(other._rows())

    __hash__ = None

    def __repr__(self) -> str:
        cls = list(self.classes)
        cls_s = repr(cls) if len(cls) <= 6 else f"[{', '.join(map(repr, cls[:6]))}, ...]"
        rec = f", {self._info.duration_s:g} s recording" if self._info else ""
        path = f", path={str(self._path)!r}" if self._path else ""
        return f"LabelSet({len(self)} labels, classes={cls_s}{rec}{path})"

    def at(self, times_s) -> np.ndarray:
        """The label at each time (``''`` where unlabelled), intervals being ``[start, end)``;
        where intervals overlap the one that starts latest wins.

        Returns
        -------
        numpy.ndarray of str
            Same shape as ``times_s``.
        """
        try:
            t = np.asarray(times_s, dtype=float)
        except (TypeError, ValueError):
            raise LabelError(f"at() needs times in seconds (numbers), got {times_s!r}") from None
        width = max((len(lab.label) for lab in self._labels), default=1)
        flat = t.ravel()
        order = np.argsort(flat, kind="stable")
        sorted_t = flat[order]
        found = np.full(flat.shape, "", dtype=f"<U{width}")
        for lab in self._labels:            # by start: a later start overwrites an earlier one
            lo = np.searchsorted(sorted_t, lab.start_s, side="left")
            hi = np.searchsorted(sorted_t, lab.end_s, side="left")
            found[lo:hi] = lab.label
        out = np.empty_like(found)
        out[order] = found
        return out.reshape(t.shape)

    def slice_s(self, start_s: float, end_s: float, *, recording=None) -> LabelSet:
        """The labels of ``[start_s, end_s)`` as a new, unbound LabelSet whose times start at
        ``start_s`` (a label crossing an edge is cut at it), for ``recording.slice_s(start_s,
        end_s)``; pass that part as ``recording`` to bind the new set to it. The classes
        stay those of this set.

        Examples
        --------
        >>> LabelSet([(0, 4, "walk"), (4, 9, "run")]).slice_s(2, 6).to_records()[1]
        {'id': 2, 'start_s': 2.0, 'end_s': 4.0, 'label': 'run'}
        """
        if not (isinstance(start_s, (int, float)) and isinstance(end_s, (int, float))
                and start_s < end_s):
            raise LabelError(f"slice_s needs start_s < end_s in seconds, got {start_s!r}, "
                             f"{end_s!r}")
        cut = [(max(lab.start_s, start_s) - start_s, min(lab.end_s, end_s) - start_s,
                lab.label) for lab in self._labels
               if lab.end_s > start_s and lab.start_s < end_s]
        return LabelSet(cut, classes=self.classes, recording=recording,
                        overlap=self._overlap)

    def to_records(self) -> list[dict]:
        """``[{"id", "start_s", "end_s", "label"}, ...]`` sorted by ``(start_s, id)``, with
        a ``"note"`` key in the records of labels that have one."""
        return [{"id": lab.id, "start_s": lab.start_s, "end_s": lab.end_s, "label": lab.label,
                 **({"note": lab.note} if lab.note else {})} for lab in self._labels]

    # -- changing ------------------------------------------------------------------------------
    def add(self, start_s: float, end_s: float, label: str) -> Label:
        """Add the interval ``[start_s, end_s)`` labelled ``label``; returns it with a new id.

        Raises
        ------
        LabelError
            Invalid times or label, an unknown class, outside the recording, an overlap.
        """
        new = self._make(start_s, end_s, label, self._next_id, "")
        self._commit(self._labels + (new,))
        self._next_id += 1
        return new

    def update(self, id: int, *, start_s: float | None = None, end_s: float | None = None,
               label: str | None = None, note: str | None = None) -> Label:
        """Move, resize, relabel or annotate the label ``id`` (it keeps its id); returns the
        new Label. A note change is saved and undone like any other change.

        Raises
        ------
        KeyError
            No label with that id.
        LabelError
            The changed label is invalid (as for :meth:`add`), or the note holds a line break.
        """
        old = self[id]
        new = self._make(old.start_s if start_s is None else start_s,
                         old.end_s if end_s is None else end_s,
                         old.label if label is None else label, old.id, "",
                         old.note if note is None else note)
        if new != old:
            self._commit(tuple(new if lab.id == old.id else lab for lab in self._labels))
        return new

    def remove(self, id: int) -> Label:
        """Delete the label ``id``; returns it. Raises KeyError if there is none."""
        old = self[id]
        self._commit(tuple(lab for lab in self._labels if lab.id != old.id))
        return old

    def extend(self, items) -> list[Label]:
        """Add several intervals as one undo step; returns them in the order given."""
        items = list(items)
        rows = [_coerce(item, f"items[{i}]: ") for i, item in enumerate(items)]
        new = [self._make(*row[:3], self._next_id + i, f"items[{i}]: ", *row[3:])
               for i, row in enumerate(rows)]
        if new:
            self._commit(self._labels + tuple(new))
            self._next_id += len(new)
        return new

    def add_class(self, name: str) -> None:
        """Allow one more label, ``name`` (saved with the file's classes at once).

        For an open set (``classes=None``) there is nothing to allow: any label is accepted.
        Not an undo step: undoing labels never takes a class away from under them.

        Raises
        ------
        LabelError
            An empty name, one with a tab, line break or surrounding spaces, or one already
            in :attr:`classes`.
        """
        text = _check_text(name, "add_class: ")
        if text in self.classes:
            raise LabelError(f"class {text!r} exists already ({list(self.classes)}); pick it "
                             "instead of adding it")
        if self._classes is None:
            return
        old = self._classes
        self._classes = old + (text,)
        if self._path is not None:
            try:
                self.save()
            except BaseException as e:
                self._classes = old
                e.add_note(f"autosave to {str(self._path)!r} failed, so class {text!r} was "
                           "not added")
                raise
        self._notify()

    def clear(self) -> None:
        """Delete every label, as one undo step."""
        if self._labels:
            self._commit(())

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        """Go back one change; False if there is none."""
        return self._step(self._undo, self._redo, "undo")

    def redo(self) -> bool:
        """Re-apply the last undone change; False if there is none."""
        return self._step(self._redo, self._undo, "redo")

    def observe(self, callback):
        """Call ``callback(labelset)`` after every change (after it is autosaved).

        An exception in a callback is reported as a warning; the change stays.

        Returns
        -------
        callable
            Call it with no arguments to stop observing.
        """
        self._observers.append(callback)

        def unobserve() -> None:
            if callback in self._observers:
                self._observers.remove(callback)
        return unobserve

    # -- files ---------------------------------------------------------------------------------
    def save(self, path=None) -> None:
        """Write atomically to ``path`` (format from its extension) or to the bound path.

        Raises
        ------
        LabelError
            No path given and none bound, or an unknown extension.
        OSError
            The write failed; the file keeps its previous contents.
        """
        target = path if path is not None else self._path
        if target is None:
            raise LabelError("this LabelSet has no path: call save(path), or make it with "
                             "LabelSet.open(path) to autosave")
        fmt = formats.format_of(target)
        if fmt == "csv":
            self.to_csv(target)
        elif fmt == "audacity":
            self.to_audacity(target)
        else:
            self.to_label_studio(target)

    def to_csv(self, path) -> None:
        """Write the native CSV (with recording info and classes when known), atomically."""
        atomic_write_text(path, formats.format_csv(self._rows(), recording=self._info,
                                                   classes=self._classes,
                                                   notes=self._notes()))

    def to_audacity(self, path) -> None:
        """Write an Audacity label track (importable with *File > Import > Labels*).

        Raises
        ------
        LabelError
            A label has a note, which an Audacity track cannot hold (nothing is written, so
            an autosave never drops a note silently).
        """
        noted = next((lab for lab in self._labels if lab.note), None)
        if noted is not None:
            raise LabelError(f"{_describe(noted)} has a note, which an Audacity label track "
                             "cannot hold; save to a .csv or .json label file to keep notes")
        atomic_write_text(path, formats.format_audacity(self._rows()))

    def to_label_studio(self, path, *, data_key: str | None = None,
                        data_value: str | None = None, from_name: str | None = None,
                        to_name: str | None = None, kind: str | None = None) -> None:
        """Write a Label Studio JSON export (one task, one annotation) to import there.

        Unset arguments keep what the file this set was read from said, else default to
        ``data_key="csv"``, ``data_value`` = the recording's source (pass the URL Label
        Studio loads the samples from), ``from_name="label"``, ``kind="timeseries"`` (or
        ``"audio"`` for an audio recording) and ``to_name="ts"`` (``"audio"`` for audio).
        """
        ls = self._label_studio or {}
        kind = kind or ls.get("kind") or ("audio" if self._recording_kind == "audio"
                                          else "timeseries")
        task_data = ls.get("task_data") or {}
        data_key = data_key or (next(iter(task_data)) if task_data else "csv")
        if data_value is None:
            data_value = task_data.get(data_key, self._recording_source or "")
        atomic_write_text(path, formats.format_label_studio(
            self._rows(), data_key=data_key, data_value=data_value,
            from_name=from_name or ls.get("from_name") or "label",
            to_name=to_name or ls.get("to_name") or ("audio" if kind == "audio" else "ts"),
            kind=kind, recording=self._info, task_data=task_data, notes=self._notes()))

    @classmethod
    def load(cls, path, *, recording=None, classes=None, overlap: str = "forbid",
             check: str = "error", **options) -> LabelSet:
        """Read a label file (format from the extension); the result is not bound to ``path``.

        Parameters
        ----------
        path : str or os.PathLike
            .csv (native), .txt/.tsv (Audacity), .json (Label Studio).
        recording : Recording or RecordingInfo, optional
            The recording the labels are for; intervals are checked against it. Without it,
            the recording info in the file (if any) is kept.
        classes : sequence of str, optional
            Allowed labels (default: the classes the file declares, else an open set).
        overlap : {"forbid", "allow"}
        check : {"error", "warn", "ignore"}
            What to do when the file was made for another recording than ``recording``.
        **options
            For Audacity ``points``; for Label Studio ``task``, ``annotation``,
            ``from_name``, ``points`` (see :func:`formats.parse_label_studio`).

        Raises
        ------
        LabelFileMismatchError
            The file's recording differs from ``recording`` and ``check="error"``.
        LabelError
            A malformed file (with the line) or an invalid interval in it.
        """
        return cls._read(path, formats.format_of(path), recording, classes, overlap, check,
                         options)

    @classmethod
    def open(cls, path, *, recording=None, classes=None, overlap: str = "forbid",
             check: str = "error", **options) -> LabelSet:
        """:meth:`load` ``path`` if it exists, else start empty; either way autosave to it."""
        p = _bindable(path)
        remove_stale_temp_files(p)          # left by autosaves that were killed mid-write
        if p.exists():
            labelset = cls.load(p, recording=recording, classes=classes, overlap=overlap,
                                check=check, **options)
        else:
            _choice(check, "check", _CHECKS)
            labelset = cls(classes=classes, recording=recording, overlap=overlap)
        labelset._path = p
        return labelset

    @classmethod
    def from_csv(cls, path, **kwargs) -> LabelSet:
        """:meth:`load` a native CSV whatever its extension."""
        return cls._read(path, "csv", **_read_kwargs(kwargs))

    @classmethod
    def from_audacity(cls, path, **kwargs) -> LabelSet:
        """:meth:`load` an Audacity label track whatever its extension."""
        return cls._read(path, "audacity", **_read_kwargs(kwargs))

    @classmethod
    def from_label_studio(cls, path, **kwargs) -> LabelSet:
        """:meth:`load` a Label Studio JSON (or JSON_MIN) export whatever its extension."""
        return cls._read(path, "label_studio", **_read_kwargs(kwargs))

    # -- machinery -----------------------------------------------------------------------------
    @classmethod
    def _read(cls, path, fmt, recording, classes, overlap, check, options) -> LabelSet:
        _choice(check, "check", _CHECKS)
        source = str(path)
        remove_stale_temp_files(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise LabelError(f"{source} is not UTF-8 text ({e}); expected a label file") from None
        parse = {"csv": formats.parse_csv, "audacity": formats.parse_audacity,
                 "label_studio": formats.parse_label_studio}[fmt]
        table = parse(text, source=source, **options)
        given = _recording_info(recording)
        if given is not None and table.recording is not None:
            _check_same_recording(source, table.recording, given, check)
        labelset = cls(classes=classes if classes is not None else table.classes,
                       recording=recording if recording is not None else table.recording,
                       overlap=overlap)
        labelset._label_studio = table.label_studio
        notes = table.notes or [""] * len(table.rows)
        labelset._initial([(s, e, lab, note) for (s, e, lab), note in zip(table.rows, notes)],
                          table.where)
        return labelset

    def _initial(self, rows, wheres) -> None:
        """The first state, from ``(start_s, end_s, label[, note])`` rows."""
        labels = [self._make(*row[:3], i + 1, f"{where}: ", *row[3:])
                  for i, (row, where) in enumerate(zip(rows, wheres))]
        state = tuple(sorted(labels, key=_order))
        self._check_overlaps(state, lambda lab: f"{_describe(lab)} ({wheres[lab.id - 1]})")
        self._set(state)
        self._next_id = len(labels) + 1

    def _make(self, start_s, end_s, label, id: int, where: str, note: str = "") -> Label:
        start = _seconds(start_s, "start_s", where)
        end = _seconds(end_s, "end_s", where)
        if not start < end:
            raise LabelError(f"{where}start_s {start:g} is not before end_s {end:g}; an "
                             "interval needs start_s < end_s")
        text = _check_text(label, where)
        if self._classes is not None and text not in self._classes:
            raise LabelError(f"{where}label {text!r} is not one of the classes "
                             f"{list(self._classes)}; use one of them, or add it to classes=")
        new = Label(id, start, end, text, _check_note(note, where))
        info = self._info
        if info is not None:
            tol = 0.5 / info.samplerate_hz
            if start < -tol or end > info.duration_s + tol:
                edge = "starts before" if start < -tol else "ends after"
                raise LabelError(f"{where}{_describe(new)} {edge} the recording: labels must "
                                 f"lie within [0, {info.duration_s:g}] s (the recording has "
                                 f"{info.n_samples} samples at {info.samplerate_hz:g} Hz)")
        return new

    def _check_overlaps(self, state, describe=None) -> None:
        if self._overlap == "allow" or not state:
            return
        describe = describe or (lambda lab: f"{_describe(lab)} (id {lab.id})")
        reach = state[0]                   # the label reaching furthest right so far
        for lab in state[1:]:
            amount = min(reach.end_s, lab.end_s) - lab.start_s
            if amount > _OVERLAP_TOLERANCE_S:
                raise LabelError(f"{describe(lab)} overlaps {describe(reach)} by {amount:g} s; "
                                 "overlaps are forbidden in this LabelSet: move one, or make "
                                 "the LabelSet with overlap='allow'")
            if lab.end_s > reach.end_s:
                reach = lab

    def _commit(self, labels) -> None:
        state = tuple(sorted(labels, key=_order))
        self._check_overlaps(state)
        if state == self._labels:
            return
        old = self._labels
        self._switch(state, "the change was not applied")
        self._undo.append(old)
        self._redo.clear()
        self._notify()

    def _step(self, source: list, target: list, what: str) -> bool:
        if not source:
            return False
        state = source.pop()
        old = self._labels
        try:
            self._switch(state, f"{what} was not applied")
        except BaseException:
            source.append(state)
            raise
        target.append(old)
        self._notify()
        return True

    def _switch(self, state, note: str) -> None:
        old = self._labels
        self._set(state)
        if self._path is None:
            return
        try:
            self.save()
        except BaseException as e:
            self._set(old)         # memory and file stay the same: the change did not happen
            e.add_note(f"autosave to {str(self._path)!r} failed, so {note}")
            raise

    def _set(self, state) -> None:
        self._labels = state
        self._by_id = {lab.id: lab for lab in state}

    def _notify(self) -> None:
        for callback in list(self._observers):
            try:
                callback(self)
            except Exception as e:
                _log.debug("LabelSet observer %r failed", callback, exc_info=True)
                formats.warn_caller(f"LabelSet observer {callback!r} raised "
                                    f"{type(e).__name__}: {e}; the change to the labels was "
                                    "kept", RuntimeWarning)

    def _rows(self) -> list[tuple[float, float, str]]:
        return [(lab.start_s, lab.end_s, lab.label) for lab in self._labels]

    def _notes(self) -> list[str]:
        return [lab.note for lab in self._labels]


def _order(lab: Label):
    return (lab.start_s, lab.id)


def _describe(lab: Label) -> str:
    return (f"label {lab.label!r} [{formats.format_number(lab.start_s)}, "
            f"{formats.format_number(lab.end_s)}) s")


def _coerce(item, where: str):
    if isinstance(item, Label):
        return item.start_s, item.end_s, item.label, item.note
    if isinstance(item, Mapping):
        try:
            return item["start_s"], item["end_s"], item["label"], item.get("note", "")
        except KeyError:
            raise LabelError(f"{where}expected a dict with keys start_s, end_s, label; got "
                             f"keys {sorted(map(str, item))}") from None
    if isinstance(item, (tuple, list)) and len(item) == 3:
        return tuple(item)
    raise LabelError(f"{where}expected (start_s, end_s, label), a Label or a dict with those "
                     f"keys; got {item!r}")
