"""Reader for sensor logs as delimited text (CSV): a header row of channel names, an optional
time column, one row per sample.

The time column only places rows on the regular grid a :class:`Recording` needs: the rate is
estimated from it, each row lands ``round(step_s * rate)`` samples after the previous one (1
for a regular step, more across a gap: a step longer than 1.5 periods), and rows closer than
half a period are refused.
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

from ..exceptions import RecordingError
from ._numpy import nan_rows, pick_channels
from .recording import Recording

_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none"})
_DELIMITERS = (",", ";", "\t")
_TIME_UNITS = {"s": 1.0, "sec": 1.0, "secs": 1.0, "seconds": 1.0, "ms": 1e-3, "msec": 1e-3,
               "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "usec": 1e-6, "ns": 1e-9}
# column names taken as the time column when time_column is not given, with the unit implied
_TIME_NAMES = {"time": "s", "t": "s", "timestamp": "s", "seconds": "s", "sec": "s",
               "secs": "s", "ms": "ms", "millis": "ms", "us": "us", "micros": "us"}
_TIME_SUFFIX = re.compile(r"^(?:time|t|timestamp)_(s|ms|us|ns)$")
_HEADER_UNIT = re.compile(r"^(?P<name>.*?)\s*(?:\[(?P<a>[^\]]*)\]|\((?P<b>[^)]*)\))$")
_SEP_LINE = re.compile(r'^\s*"?sep=(.)"?\s*$')
_GAP_PERIODS = 1.5       # a time step longer than this many sample periods means missing rows
_RATE_TOLERANCE = 0.01   # a passed samplerate_hz may differ this much from the time column's


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):      # "Unicode text" exports of spreadsheets
        return raw.decode("utf-16")
    if b"\x00" in raw[:4096]:
        raise RecordingError(f"{path.name} is not a text table (it holds NUL bytes). Export "
                             "it as CSV, or give it the extension of its real format.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")               # e.g. '°/s' written by an old spreadsheet


def _split_header(cell: str) -> tuple[str, str]:
    """``'acc_x [g]'`` or ``'acc_x (g)'`` -> ``('acc_x', 'g')``; ``'acc_x'`` -> ``('acc_x', '')``.
    """
    cell = cell.strip()
    m = _HEADER_UNIT.match(cell)
    if m and m.group("name"):
        return m.group("name").strip(), (m.group("a") or m.group("b") or "").strip()
    return cell, ""


def _number(cell: str, decimal_comma: bool) -> float | None:
    """The cell as a float (NaN for an empty/missing cell), or None if it is not a number."""
    c = cell.strip().strip('"').strip()
    if c.lower() in _MISSING:
        return math.nan
    try:
        return float(c)
    except ValueError:
        pass
    if decimal_comma and c.count(",") == 1 and "." not in c:
        try:
            return float(c.replace(",", "."))
        except ValueError:
            return None
    return None


def _cells(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter, skipinitialspace=True))


def _parse_rows(rows, delimiter, n_cols, header_names, drop_last, path):
    """Parse data rows to a float64 array, naming the line and column of the first bad cell."""
    lines = [text for _, text in rows]
    if not drop_last:
        try:   # fast path: well-formed numeric rows (any problem falls back to the slow path)
            arr = np.loadtxt(lines, delimiter=delimiter, dtype=np.float64, ndmin=2,
                             comments=None, quotechar='"')
            if arr.shape == (len(lines), n_cols):
                return arr
        except ValueError:
            pass
    out = np.empty((len(rows), n_cols), dtype=np.float64)
    for r, (lineno, text) in enumerate(rows):
        cells = _cells(text, delimiter)
        if drop_last and len(cells) == n_cols + 1 and not cells[-1].strip():
            cells = cells[:-1]
        if len(cells) != n_cols:
            raise RecordingError(f"{path.name} line {lineno} has {len(cells)} cells but the "
                                 f"header has {n_cols} columns; every row needs one value per "
                                 "column (leave a cell empty for a missing value)")
        for c, cell in enumerate(cells):
            value = _number(cell, delimiter == ";")
            if value is None:
                raise RecordingError(
                    f"{path.name} line {lineno}, column {header_names[c]!r}: {cell.strip()!r} "
                    "is not a number. Fix or delete that cell (empty cells load as NaN).")
            out[r, c] = value
    return out


def _find_time_column(time_column, names, raw_header, has_header, path):
    """Index of the time column (or None) and its unit's scale to seconds."""
    if time_column is False:
        return None, 1.0
    if time_column is None or time_column is True:
        if not has_header:
            if time_column is True:
                raise RecordingError(f"{path.name} has no header row to find the time column "
                                     "in; pass time_column= its 0-based index")
            return None, 1.0
        for i, name in enumerate(names):
            lower = name.lower()
            if lower in _TIME_NAMES or _TIME_SUFFIX.match(lower):
                return i, _time_scale(i, names, raw_header, path)
        if time_column is True:
            raise RecordingError(f"{path.name} has no column named like a time "
                                 f"({', '.join(sorted(_TIME_NAMES))}, time_ms, ...); its "
                                 f"columns are {names}. Pass time_column= its name.")
        return None, 1.0
    if isinstance(time_column, (int, np.integer)):
        i = int(time_column)
        if not 0 <= i < len(names):
            raise RecordingError(f"time_column={i} but {path.name} has {len(names)} columns "
                                 f"(0..{len(names) - 1})")
        return i, _time_scale(i, names, raw_header, path)
    if not has_header:
        raise RecordingError(f"{path.name} has no header row, so time_column="
                             f"{time_column!r} cannot be found by name; pass its 0-based index")
    want = str(time_column).strip().lower()
    for i, (name, raw) in enumerate(zip(names, raw_header)):
        if want in (name.lower(), raw.strip().lower()):
            return i, _time_scale(i, names, raw_header, path)
    raise RecordingError(f"{path.name} has no column {time_column!r}; its columns are "
                         f"{names}. Pass time_column= one of these, or False for none.")


def _time_scale(i, names, raw_header, path) -> float:
    """Seconds per unit of time column ``i``: from the header unit, the name, else seconds."""
    unit = _split_header(raw_header[i])[1] if raw_header else ""
    if unit:
        if unit.lower() not in _TIME_UNITS and unit not in _TIME_UNITS:
            raise RecordingError(f"time column {raw_header[i]!r} of {path.name} is in "
                                 f"{unit!r}; expected one of s, ms, us, ns. Convert the column "
                                 "or name its unit in the header, e.g. 'time [ms]'.")
        return _TIME_UNITS.get(unit, _TIME_UNITS.get(unit.lower()))
    lower = names[i].lower()
    m = _TIME_SUFFIX.match(lower)
    if m:
        return _TIME_UNITS[m.group(1)]
    return _TIME_UNITS[_TIME_NAMES.get(lower, "s")]


def _nice_rate(rate: float) -> float:
    """A rate estimated from timestamps, rounded to a whole number of Hz when within 0.05 %
    (a '100 Hz' logger measures 99.9996 Hz), else to 6 significant digits."""
    whole = round(rate)
    if whole > 0 and abs(rate - whole) <= 5e-4 * rate:
        return float(whole)
    return float(f"{rate:.6g}")


def _grid(t_s, rows, samplerate_hz, gaps, time_name, path):
    """Place rows on the sample grid: (positions, nominal rate)."""
    dt = np.diff(t_s)
    bad = np.flatnonzero(dt <= 0)
    if bad.size:
        i = int(bad[0])
        (la, _), (lb, _) = rows[i], rows[i + 1]
        if dt[i] == 0:
            raise RecordingError(
                f"{path.name}: repeated timestamp in column {time_name!r} at lines {la} and "
                f"{lb} ({t_s[i] - t_s[0]:g} s after the first row); each row must be a new "
                "sample. Drop the duplicate rows (keep one per timestamp).")
        raise RecordingError(
            f"{path.name}: time goes backwards in column {time_name!r} at line {lb} "
            f"({t_s[i + 1] - t_s[0]:g} s after the first row, line {la} had "
            f"{t_s[i] - t_s[0]:g} s); rows must be in time order. Sort the file by its time "
            "column.")
    period = float(np.median(dt))
    short = np.flatnonzero(dt < 0.5 * period)
    if short.size:
        i = int(short[0])
        raise RecordingError(
            f"{path.name}: lines {rows[i][0]} and {rows[i + 1][0]} fall on the same sample "
            f"(timestamps {dt[i]:g} s apart, less than half the typical step of {period:g} s): "
            "the rows come in bursts or jitter by more than half a sample period. Resample the "
            "file to a regular rate, or pass time_column=False and samplerate_hz= to take rows "
            "as consecutive samples.")
    # Each step spans a whole number of periods (1, or more across a gap); the rate is the
    # periods counted over the time spanned, refined once. Not 1 / median step: timestamps
    # rounded to whole ms put a 52 Hz logger's median step at 19 or 20 ms.
    step = np.maximum(1, np.rint(dt / period)).astype(np.int64)
    clock_rate = float(step.sum() / (t_s[-1] - t_s[0]))
    step = np.maximum(1, np.rint(dt * clock_rate)).astype(np.int64)
    clock_rate = float(step.sum() / (t_s[-1] - t_s[0]))
    if samplerate_hz is None:
        rate = _nice_rate(clock_rate)
    else:
        rate = samplerate_hz
        off = abs(clock_rate - rate) / rate
        if off > _RATE_TOLERANCE:
            raise RecordingError(
                f"{path.name}: the time column {time_name!r} says {clock_rate:.6g} Hz but "
                f"samplerate_hz={rate:g} was passed ({off:.1%} apart, more than "
                f"{_RATE_TOLERANCE:.0%}). Leave samplerate_hz out to use the time column's "
                "rate, or pass time_column=False to ignore the time column.")
    # Row i+1 sits round(step * rate) samples after row i, measured on the timestamps' own
    # clock: jitter does not accumulate, and a passed nominal rate that differs slightly from
    # the logger's clock does not drift rows onto the same or skipped grid points.
    pos = np.concatenate([[0], np.cumsum(step)])
    gap_at = np.flatnonzero(step > 1)
    if gap_at.size and gaps == "error":
        worst = int(gap_at[np.argmax(dt[gap_at])])
        missing = int((step[gap_at] - 1).sum())
        raise RecordingError(
            f"{path.name}: {gap_at.size} gap(s) in time column {time_name!r} "
            f"({missing} missing samples at {rate:g} Hz; a gap is a step longer than "
            f"{_GAP_PERIODS:g} sample periods). The largest is {dt[worst]:g} s, after "
            f"{t_s[worst] - t_s[0]:g} s (line {rows[worst][0]}). Pass gaps='nan' to insert NaN "
            "rows for the missing samples, or fix the recording.")
    return pos, rate


def read_csv(path: Path, *, samplerate_hz=None, time_column=None, channels=None, units=None,
             gaps="error"):
    """Read a delimited text table (delimiter ``,`` ``;`` or tab, sniffed from the header)."""
    text = _decode(path)
    rows = [(n, line) for n, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise RecordingError(f"{path.name} holds no rows (only blank or '#' comment lines)")
    delimiter = None
    m = _SEP_LINE.match(rows[0][1])
    if m:                                           # Excel's "sep=;" first line
        delimiter = m.group(1)
        rows = rows[1:]
        if not rows:
            raise RecordingError(f"{path.name} holds no rows after its 'sep=' line")
    if delimiter is None:
        counts = [rows[0][1].count(d) for d in _DELIMITERS]
        delimiter = _DELIMITERS[int(np.argmax(counts))] if max(counts) else ","
    first = _cells(rows[0][1], delimiter)
    has_header = any(_number(c, delimiter == ";") is None for c in first)
    drop_last = len(first) > 1 and not first[-1].strip()   # "a,b,c," rows: trailing delimiter
    if drop_last:
        first = first[:-1]
    n_cols = len(first)
    if has_header:
        raw_header = [c.strip() for c in first]
        split = [_split_header(c) for c in raw_header]
        names = [name or f"ch{i}" for i, (name, _) in enumerate(split)]
        header_units = [u for _, u in split]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise RecordingError(f"{path.name}: the header names column(s) {dupes} more than "
                                 "once; give each column its own name")
        rows = rows[1:]
        if not rows:
            raise RecordingError(f"{path.name} has a header but no data rows")
    else:
        raw_header, names, header_units = [], [f"ch{i}" for i in range(n_cols)], [""] * n_cols
    values = _parse_rows(rows, delimiter, n_cols, names, drop_last, path)

    t_col, scale = _find_time_column(time_column, names, raw_header, has_header, path)
    data_cols = [i for i in range(n_cols) if i != t_col]
    if not data_cols:
        raise RecordingError(f"{path.name} has no data columns besides its time column "
                             f"{names[t_col]!r}")
    data_names = [names[i] for i in data_cols]
    if has_header:
        picked = pick_channels(data_names, channels, path.name)
        out_names = [data_names[i] for i in picked]
    else:
        if channels is not None and len(channels) != len(data_cols):
            raise RecordingError(f"{len(channels)} channel names {channels} for the "
                                 f"{len(data_cols)} data columns of {path.name}; pass one "
                                 "name per column")
        picked = list(range(len(data_cols)))
        out_names = channels if channels is not None else data_names
    cols = [data_cols[i] for i in picked]
    data = values[:, cols]
    out_units = units if units is not None else [header_units[i] for i in cols]

    start_s, pos = 0.0, None
    if t_col is None:
        if samplerate_hz is None:
            raise RecordingError(
                f"unknown sample rate for {path.name}: it has no time column (columns "
                f"{names}). Pass samplerate_hz=, or time_column= the column that holds time.")
        rate = samplerate_hz
    else:
        t_s = values[:, t_col] * scale
        blank = np.flatnonzero(~np.isfinite(t_s))
        if blank.size:
            raise RecordingError(f"{path.name} line {rows[blank[0]][0]}: the time column "
                                 f"{names[t_col]!r} is empty or not finite; every row needs a "
                                 "time. Fill it in or delete the row.")
        start_s = float(t_s[0])
        if len(t_s) < 2:
            if samplerate_hz is None:
                raise RecordingError(f"unknown sample rate for {path.name}: one row is too "
                                     "few to measure it from the time column. Pass "
                                     "samplerate_hz=.")
            rate = samplerate_hz
        else:
            pos, rate = _grid(t_s, rows, samplerate_hz, gaps, names[t_col], path)
            if pos[-1] + 1 != len(pos):            # gaps="nan": NaN at the missing samples
                full = np.full((int(pos[-1]) + 1, data.shape[1]), np.nan)
                full[pos] = data
                data = full
    file_nan = nan_rows(values[:, cols])
    if pos is not None:
        file_nan = pos[file_nan]
    rec = Recording(data, rate, channels=out_names, units=out_units, start_time_s=start_s,
                    source=str(path))
    return rec, file_nan
