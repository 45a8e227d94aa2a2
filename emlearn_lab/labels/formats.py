"""Label files: the native CSV, Audacity label tracks and Label Studio JSON exports.

Pure functions between text and a :class:`LabelTable` (rows of ``(start_s, end_s, label)`` plus
what the file says about its recording). They check the syntax of a file and say on which line
it is wrong; whether the intervals make sense for a recording is the LabelSet's job.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import LabelError
from ..recordings.recording import RecordingInfo

__all__ = ["LabelTable", "format_of", "format_number", "parse_csv", "format_csv",
           "parse_audacity", "format_audacity", "parse_label_studio", "format_label_studio",
           "warn_caller"]

Row = tuple[float, float, str]

_CSV_MAGIC = re.compile(r"#\s*emlearn_lab labels v(\d+)\s*$")
_CSV_VERSION = 1
_RECORDING_KEY = "emlearn_lab_recording"     # where format_label_studio keeps RecordingInfo
_EXTENSIONS = {".csv": "csv", ".txt": "audacity", ".tsv": "audacity", ".json": "label_studio"}
_POINTS = ("error", "skip")
_LS_TYPES = {"timeseries": "timeserieslabels", "audio": "labels"}
# Keys JSON_MIN adds to each record besides the task data and the regions.
_JSON_MIN_META = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time",
                  "agreement"}


@dataclass
class LabelTable:
    """What a label file holds.

    Attributes
    ----------
    rows : list of (float, float, str)
        ``(start_s, end_s, label)`` in file order.
    where : list of str
        For each row, where it came from (``"line 4"``, ``"task 0, result 2"``), for messages.
    recording : RecordingInfo or None
        The recording the file says it was made for.
    classes : tuple of str or None
        The classes the file declares.
    label_studio : dict or None
        For Label Studio files, the task data and tag names, so writing back keeps them.
    notes : list of str
        For each row, its free-text note (``""`` when the file has none: files written
        before notes existed, and Audacity tracks, which cannot hold them).
    """

    rows: list[Row] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    recording: RecordingInfo | None = None
    classes: tuple[str, ...] | None = None
    label_studio: dict | None = None


def warn_caller(message: str, category=UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside this package, however deep
    the call (``load``, ``open`` and ``from_*`` reach the readers at different depths)."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 2
    while frame is not None and os.path.dirname(
            os.path.abspath(frame.f_code.co_filename)) == here:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def format_of(path) -> str:
    """``"csv"``, ``"audacity"`` or ``"label_studio"``, from the extension of ``path``.

    Raises
    ------
    LabelError
        An extension other than .csv, .txt, .tsv or .json.
    """
    ext = os.path.splitext(os.fspath(path))[1].lower()
    try:
        return _EXTENSIONS[ext]
    except KeyError:
        raise LabelError(f"cannot tell the label file format of {os.fspath(path)!r} from its "
                         f"extension {ext!r}: use .csv (emlearn_lab), .txt or .tsv (Audacity "
                         "label track) or .json (Label Studio export)") from None


def format_number(x: float) -> str:
    """Shortest text that reads back as the same float, without exponent (``0``, ``2.5``)."""
    return np.format_float_positional(float(x) + 0.0, unique=True, trim="-")


def _number(text, what: str, where: str) -> float:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise LabelError(f"{where}: {what} {text!r} is not a number")
    try:
        return float(text.strip() if isinstance(text, str) else text)
    except ValueError:
        raise LabelError(f"{where}: {what} {text!r} is not a number") from None


def _point(start_s: float, label: str, where: str, points: str, remedy: str) -> None:
    msg = (f"{where}: point label {label!r} at {format_number(start_s)} s (start == end): a "
           f"LabelSet holds intervals, not points. {remedy}, or read with points='skip' to "
           "drop point labels")
    if points == "error":
        raise LabelError(msg)
    warn_caller(f"{msg}; skipped it")


def _check_points(points: str) -> None:
    if points not in _POINTS:
        raise LabelError(f"points must be one of {_POINTS}, got {points!r}")


# -- native CSV ------------------------------------------------------------------------------

def format_csv(rows, *, recording: RecordingInfo | None = None, classes=None,
               notes=None) -> str:
    """The native CSV: ``#`` header lines, then ``start_s,end_s,label`` rows.

    ``notes`` (one str per row) adds a fourth column, ``note``, only when one is not empty:
    files without notes stay byte for byte what earlier versions wrote, and earlier readers,
    which ignore extra columns, still read files with notes.

    Examples
    --------
    >>> print(format_csv([(0.0, 2.5, "walk")], classes=["walk", "run"]), end="")
    # emlearn_lab labels v1
    # classes: walk,run
    start_s,end_s,label
    0,2.5,walk
    """
    out = io.StringIO()
    out.write(f"# emlearn_lab labels v{_CSV_VERSION}\n")
    if recording is not None:
        out.write(f"# recording: n_samples={recording.n_samples} "
                  f"samplerate_hz={format_number(recording.samplerate_hz)} "
                  f"sha256={recording.sha256}\n")
    writer = csv.writer(out, lineterminator="\n")
    if classes is not None:
        out.write("# classes: ")
        writer.writerow(list(classes))
    rows = list(rows)
    notes = list(notes) if notes is not None else [""] * len(rows)
    with_notes = any(notes)
    writer.writerow(["start_s", "end_s", "label"] + ["note"] * with_notes)
    for (start_s, end_s, label), note in zip(rows, notes):
        writer.writerow([format_number(start_s), format_number(end_s), label] +
                        [note] * with_notes)
    return out.getvalue()


def parse_csv(text: str, *, source: str = "") -> LabelTable:
    """Read the native CSV (also without ``#`` lines, with an ``id`` or other extra columns,
    or without a header row when it has exactly ``start, end, label`` columns). A ``note``
    column, when present, fills :attr:`LabelTable.notes`.

    Raises
    ------
    LabelError
        A newer format version, a malformed ``#`` line, a missing column, a time that is not
        a number; the message gives the line number.
    """
    src = f"{source} " if source else ""
    table = LabelTable()
    columns, note_col = None, None
    for lineno, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        where = f"{src}line {lineno}"
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            _parse_csv_comment(line.strip(), table, where)
            continue
        row = next(csv.reader([line]))
        if columns is None:
            columns = _csv_columns(row, where)
            if columns is not None:
                names = [c.strip().lower() for c in row]
                note_col = names.index("note") if "note" in names else None
                continue
            columns = (0, 1, 2)      # no header row: start, end, label
        need = max(columns) + 1
        if len(row) < need:
            raise LabelError(f"{where}: expected at least {need} columns (start_s, end_s, "
                             f"label), got {len(row)}: {line!r}")
        start_s = _number(row[columns[0]], "start_s", where)
        end_s = _number(row[columns[1]], "end_s", where)
        table.rows.append((start_s, end_s, row[columns[2]].strip()))
        table.where.append(where)
        table.notes.append(row[note_col].strip() if note_col is not None and
                           note_col < len(row) else "")
    return table


def _csv_columns(row: list[str], where: str):
    names = [c.strip().lower() for c in row]
    try:
        float(names[0])
    except (ValueError, IndexError):
        pass
    else:
        if len(row) == 3:
            return None
    found = []
    for want in (("start_s", "start"), ("end_s", "end"), ("label",)):
        hits = [i for i, n in enumerate(names) if n in want]
        if not hits:
            raise LabelError(f"{where}: header {row} has no {want[0]!r} column; expected "
                             "start_s,end_s,label (an id column and other columns are "
                             "ignored)")
        found.append(hits[0])
    return tuple(found)


def _parse_csv_comment(line: str, table: LabelTable, where: str) -> None:
    magic = _CSV_MAGIC.match(line)
    if magic:
        version = int(magic.group(1))
        if version > _CSV_VERSION:
            raise LabelError(f"{where}: label file format v{version} is newer than this "
                             f"emlearn_lab reads (v{_CSV_VERSION}); upgrade emlearn_lab")
        return
    body = line[1:].strip()
    if body.startswith("recording:"):
        fields = dict(part.split("=", 1) for part in body[len("recording:"):].split()
                      if "=" in part)
        try:
            table.recording = RecordingInfo(int(fields["n_samples"]),
                                            float(fields["samplerate_hz"]),
                                            fields["sha256"])
        except (KeyError, ValueError):
            raise LabelError(f"{where}: expected '# recording: n_samples=<int> "
                             f"samplerate_hz=<number> sha256=<hex>', got {line!r}") from None
    elif body.startswith("classes:"):
        rest = body[len("classes:"):].strip()
        names = next(csv.reader([rest])) if rest else []
        table.classes = tuple(n.strip() for n in names)


# -- Audacity label track --------------------------------------------------------------------

def format_audacity(rows) -> str:
    """An Audacity label track: ``start<TAB>end<TAB>label`` per line.

    Times are written as the shortest text that reads back exactly (Audacity itself writes 6
    decimals and reads either).

    Examples
    --------
    >>> format_audacity([(0.0, 2.5, "walk")])
    '0\\t2.5\\twalk\\n'
    """
    return "".join(f"{format_number(s)}\t{format_number(e)}\t{label}\n" for s, e, label in rows)


def parse_audacity(text: str, *, source: str = "", points: str = "error") -> LabelTable:
    """Read an Audacity label track exported with *File > Export > Export Labels*.

    Spectral-selection lines (starting with a backslash) are ignored. Point labels
    (start == end) raise, or with ``points="skip"`` are dropped with a warning.

    Raises
    ------
    LabelError
        A line without two tab-separated times, a time that is not a number, a point label.
    """
    _check_points(points)
    src = f"{source} " if source else ""
    table = LabelTable()
    for lineno, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        where = f"{src}line {lineno}"
        if not line.strip() or line.startswith("\\"):
            continue
        fields = line.split("\t")
        if len(fields) < 2 or len(fields) > 3:
            raise LabelError(f"{where}: expected start<TAB>end<TAB>label, got {line!r}")
        start_s = _number(fields[0], "start", where)
        end_s = _number(fields[1], "end", where)
        label = fields[2].strip() if len(fields) == 3 else ""
        if start_s == end_s:
            _point(start_s, label, where, points, "Drag it into a region in Audacity")
            continue
        table.rows.append((start_s, end_s, label))
        table.where.append(where)
        table.notes.append("")
    return table


# -- Label Studio ----------------------------------------------------------------------------

def format_label_studio(rows, *, data_key: str = "csv", data_value: str = "",
                        from_name: str = "label", to_name: str = "ts",
                        kind: str = "timeseries", recording: RecordingInfo | None = None,
                        task_data: dict | None = None, notes=None) -> str:
    """A Label Studio JSON export with one task holding one annotation.

    Regions are ``timeserieslabels`` (``kind="timeseries"``) or audio ``labels``
    (``kind="audio"``) with start and end in seconds. ``task_data`` (other data fields of the
    task) is kept; the recording info goes in the data field ``emlearn_lab_recording``. A
    non-empty note (``notes``, one per row) goes where Label Studio keeps a region's meta
    text, ``meta: {"text": [note]}``.
    """
    if kind not in _LS_TYPES:
        raise LabelError(f"kind must be one of {tuple(_LS_TYPES)}, got {kind!r}")
    rtype = _LS_TYPES[kind]
    result = []
    rows = list(rows)
    notes = list(notes) if notes is not None else [""] * len(rows)
    for i, ((start_s, end_s, label), note) in enumerate(zip(rows, notes)):
        value = {"start": float(start_s), "end": float(end_s)}
        value.update({"instant": False} if kind == "timeseries" else {"channel": 0})
        value[rtype] = [label]
        region = {"id": f"emlab{i}", "from_name": from_name, "to_name": to_name,
                  "type": rtype, "origin": "manual", "value": value}
        if note:
            region["meta"] = {"text": [note]}
        result.append(region)
    data = dict(task_data or {})
    data[data_key] = data_value
    if recording is not None:
        data[_RECORDING_KEY] = {"n_samples": recording.n_samples,
                                "samplerate_hz": recording.samplerate_hz,
                                "sha256": recording.sha256}
    tasks = [{"data": data, "annotations": [{"result": result}]}]
    return json.dumps(tasks, indent=2, ensure_ascii=False) + "\n"


def parse_label_studio(text: str, *, source: str = "", task: int | None = None,
                       annotation: int | None = None, from_name: str | None = None,
                       points: str = "error") -> LabelTable:
    """Read a Label Studio export: the full JSON format or JSON_MIN.

    Regions of type ``timeserieslabels`` and ``labels`` (audio) are read, with start and end
    as numbers in seconds; cancelled annotations and predictions are not read.

    Parameters
    ----------
    task : int, optional
        Which task of a multi-task export (required when there are several).
    annotation : int, optional
        Which of a task's (not cancelled) annotations (required when there are several).
    from_name : str, optional
        Read only the regions of this labels tag (default: all).
    points : {"error", "skip"}
        What to do with instant regions (start == end).

    Raises
    ------
    LabelError
        Not JSON, no or several tasks or annotations without ``task=``/``annotation=``, a
        start or end that is a date-time string or not a number, a region without a label.
    """
    _check_points(points)
    src = source or "Label Studio export"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise LabelError(f"{src}: not JSON ({e}); expected a Label Studio JSON export") from None
    tasks = [doc] if isinstance(doc, dict) else doc
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise LabelError(f"{src}: expected a list of tasks (Label Studio JSON export), got "
                         f"{type(doc).__name__}")
    if not tasks:
        raise LabelError(f"{src}: the export holds no tasks")
    task = _pick(tasks, task, "task", src, "the one for this recording")
    chosen = tasks[task]
    where = f"{src} task {task}"
    if any(k in chosen for k in ("annotations", "completions", "predictions", "data")):
        regions, names, data = _full_task(chosen, where, annotation, from_name)
    else:
        regions, names, data = _json_min_record(chosen, where, from_name)
    table = LabelTable()
    info = data.pop(_RECORDING_KEY, None)
    if isinstance(info, dict):
        try:
            table.recording = RecordingInfo(int(info["n_samples"]),
                                            float(info["samplerate_hz"]), str(info["sha256"]))
        except (KeyError, TypeError, ValueError):
            raise LabelError(f"{where}: malformed data field {_RECORDING_KEY!r}: {info!r}; "
                             "expected n_samples, samplerate_hz and sha256") from None
    for rwhere, rtype, value, note in regions:
        start_s = _ls_time(value.get("start"), "start", rwhere)
        end_s = _ls_time(value.get("end"), "end", rwhere)
        names_ = value.get(rtype)
        if not isinstance(names_, list) or not names_ or not isinstance(names_[0], str):
            raise LabelError(f"{rwhere}: region has no label ({rtype}: {names_!r})")
        if len(names_) > 1:
            warn_caller(f"{rwhere}: region has {len(names_)} labels {names_}; kept the first, "
                        f"{names_[0]!r}")
        if start_s == end_s:
            _point(start_s, names_[0], rwhere, points, "Give it a duration in Label Studio")
            continue
        table.rows.append((start_s, end_s, names_[0].strip()))
        table.where.append(rwhere)
        table.notes.append(note)
    table.label_studio = dict(names, task_data=data)
    return table


def _full_task(task: dict, where: str, annotation, from_name):
    anns = task.get("annotations")
    if anns is None:
        anns = task.get("completions") or []      # Label Studio < 1.0 called them completions
    anns = [a for a in anns if isinstance(a, dict)
            and not (a.get("was_cancelled") or a.get("skipped"))]
    data = dict(task.get("data") or {})
    if not anns:
        warn_caller(f"{where} has no annotations (predictions are not read); no labels")
        return [], {}, data
    annotation = _pick(anns, annotation, "annotation", where, "one")
    regions, names = [], {}
    for i, r in enumerate(anns[annotation].get("result") or []):
        rtype = r.get("type") if isinstance(r, dict) else None
        if rtype not in _LS_TYPES.values():
            continue
        if from_name is not None and r.get("from_name") != from_name:
            continue
        if not names:
            names = {"from_name": r.get("from_name"), "to_name": r.get("to_name"),
                     "kind": "timeseries" if rtype == "timeserieslabels" else "audio"}
        regions.append((f"{where}, result {i}", rtype, r.get("value") or {},
                        _ls_note(r.get("meta"))))
    return regions, names, data


def _json_min_record(record: dict, where: str, from_name):
    regions, names, data = [], {}, {}
    for key, val in record.items():
        items = [val] if isinstance(val, dict) else val
        is_regions = (isinstance(items, list) and items
                      and all(isinstance(v, dict) and "start" in v and "end" in v
                              and ("timeserieslabels" in v or "labels" in v) for v in items))
        if not is_regions:
            if key not in _JSON_MIN_META:
                data[key] = val
            continue
        if from_name is not None and key != from_name:
            continue
        for i, v in enumerate(items):
            rtype = "timeserieslabels" if "timeserieslabels" in v else "labels"
            if not names:
                names = {"from_name": key,
                         "kind": "timeseries" if rtype == "timeserieslabels" else "audio"}
            regions.append((f"{where}, {key}[{i}]", rtype, v, ""))
    return regions, names, data


def _ls_note(meta) -> str:
    """A region's note from Label Studio's ``meta: {"text": [...]}`` (lines joined by a
    space: label files hold one line per note), or ``""``."""
    text = meta.get("text") if isinstance(meta, dict) else None
    if isinstance(text, str):
        text = [text]
    if not isinstance(text, list):
        return ""
    return " ".join(" ".join(str(t).split()) for t in text if str(t).strip())


def _ls_time(value, what: str, where: str) -> float:
    if isinstance(value, str):
        raise LabelError(f"{where}: {what} is the date-time {value!r}; time axes of dates and "
                         "times are not supported. Export from a Label Studio project whose "
                         "TimeSeries timeColumn holds numeric seconds from the first sample")
    x = _number(value, what, where)
    if not math.isfinite(x):
        raise LabelError(f"{where}: {what} is {value!r}, expected a finite number of seconds")
    return x


def _pick(items: list, index, noun: str, where: str, which: str) -> int:
    """The index of the task / annotation to read: the only one, or the one asked for."""
    if index is None:
        if len(items) > 1:
            raise LabelError(f"{where} holds {len(items)} {noun}s; pass {noun}=<index> (0 to "
                             f"{len(items) - 1}) to choose {which}")
        return 0
    if not -len(items) <= index < len(items):
        raise LabelError(f"{noun}={index} but {where} holds {len(items)} {noun}s")
    return index
