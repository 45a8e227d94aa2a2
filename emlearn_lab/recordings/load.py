"""load_recording: read a recording file (CSV, NumPy, WAV, FLAC) into a :class:`Recording`.

This module only dispatches by extension and checks the arguments shared by every format; the
per-format readers live in ``_csv``, ``_numpy`` and ``_audio``.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

from ..exceptions import RecordingError
from . import _audio, _csv, _numpy
from .recording import Recording

__all__ = ["load_recording", "SUPPORTED_EXTENSIONS"]

#: Extension (lower case) -> reader; ``.txt`` and ``.tsv`` are read as CSV (delimiter sniffed).
_READERS = {
    ".csv": _csv.read_csv, ".tsv": _csv.read_csv, ".txt": _csv.read_csv,
    ".npy": _numpy.read_npy, ".npz": _numpy.read_npz,
    ".wav": _audio.read_audio, ".wave": _audio.read_audio, ".flac": _audio.read_audio,
}
SUPPORTED_EXTENSIONS = tuple(_READERS)
_GAP_MODES = ("error", "nan")


def load_recording(path: str | os.PathLike, *, samplerate_hz: float | None = None,
                   time_column: str | int | bool | None = None, channels=None, units=None,
                   gaps: str = "error") -> Recording:
    """Read a recording file into a :class:`Recording`, choosing the reader by extension.

    Parameters
    ----------
    path : str or path-like
        A ``.csv``/``.tsv``/``.txt`` table, a ``.npy``/``.npz`` NumPy file, or a
        ``.wav``/``.flac`` audio file.
    samplerate_hz : float, optional
        Samples per second. Required for ``.npy`` files and for tables without a time column.
        For a table with a time column, the recording gets this rate and the time column must
        agree with it within 1 %. For audio and ``.npz`` files that store a rate, it must match.
    time_column : str, int, bool or None
        Tables only. The column holding each row's time: a header name (case-insensitive) or a
        0-based column index; ``None`` (default) detects columns named ``time``, ``t``,
        ``timestamp``, ``seconds``, ``time_s``, ``time_ms``, ``timestamp_ms``, ``ms``, ... ;
        ``True`` requires such a column; ``False`` means the file has none. The unit comes
        from the header (``time [ms]``, ``time (us)``) or the name's suffix (``_ms``, ``_us``,
        ``_ns``), else seconds. The rate is the number of sample periods the rows span divided
        by the time they span (rounded to whole Hz within 0.05 %); each row lands
        ``round(step * rate)`` samples after the previous one, so jitter below half a period
        is absorbed, while rows closer than half a period raise.
    channels : str or sequence of str, optional
        Where the file names its channels (a table header, an ``.npz`` ``channels`` key) these
        select and order the channels to load. Otherwise they name the channels, one per column.
        A single string is one name.
    units : str or sequence of str, optional
        Unit of each channel, replacing units read from the file (a header's ``acc_x [g]``).
        One string applies to every channel.
    gaps : {"error", "nan"}
        Tables with a time column only: what to do where rows are missing (a time step longer
        than 1.5 sample periods). ``"error"`` raises; ``"nan"`` inserts NaN samples.

    Returns
    -------
    Recording
        Tables give float64 samples (``kind="signal"``); NumPy files keep their dtype; audio
        gives ``kind="audio"`` with integer samples kept as integers (see Notes).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    RecordingError
        Unknown extension, empty or corrupt file, unknown sample rate, timestamps that go
        backwards, repeat or leave gaps (with ``gaps="error"``), non-numeric cells, or arguments
        that disagree with the file. Every message names the file and the remedy.

    Warns
    -----
    RuntimeWarning
        Samples hold NaN (empty cells): plots show gaps there and feature extraction refuses
        windows that contain NaN. Also a ``.wav`` whose header declares more sample data than
        the file holds (a truncated recording): the frames present are loaded, since they are
        intact (libsndfile would silently return them alone); with no frames present it
        raises. A truncated or damaged FLAC fails to decode and raises.

    Notes
    -----
    Audio sample types: 16-bit PCM loads as int16 (``full_scale=32768``); 24-bit PCM as int32
    holding the 24-bit value (``full_scale=2**23``); 32-bit PCM as int32 (``full_scale=2**31``);
    8-bit PCM (unsigned in WAV, signed in FLAC) and A-law/mu-law as int16 scaled to the 16-bit
    range (``value * 256`` for 8-bit, ``full_scale=32768``), so a 16-bit pipeline sees them
    unchanged; float WAV (32 or 64 bit) and compressed codecs as float32 in full-scale units
    (``units="FS"``, ``full_scale=None``). Integer audio has ``units=""``: the samples are
    counts, and ``Recording.as_float()`` scales them to full scale.

    Examples
    --------
    >>> from emlearn_lab.recordings.load import load_recording
    >>> rec = load_recording("walk.csv")                     # doctest: +SKIP
    >>> rec = load_recording("imu.csv", samplerate_hz=52)    # no time column  # doctest: +SKIP
    >>> rec = load_recording("clap.wav")                     # doctest: +SKIP
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no recording file {str(p)!r}; check the path (relative paths "
                                f"start in {os.getcwd()!r})")
    if p.is_dir():
        raise RecordingError(f"{str(p)!r} is a directory; pass the path of one recording file")
    ext = p.suffix.lower()
    reader = _READERS.get(ext)
    if reader is None:
        raise RecordingError(f"cannot read {p.name!r}: unknown extension {p.suffix!r}. Supported "
                             f"extensions: {', '.join(SUPPORTED_EXTENSIONS)}. Convert the file "
                             "to one of these (CSV for sensor logs, WAV for audio).")
    if p.stat().st_size == 0:
        raise RecordingError(f"{p.name} is empty (0 bytes); record or export it again")
    if samplerate_hz is not None:
        try:
            rate = float(samplerate_hz)
        except (TypeError, ValueError):
            rate = math.nan
        if not math.isfinite(rate) or rate <= 0:
            raise RecordingError(f"samplerate_hz must be a positive number, got "
                                 f"{samplerate_hz!r}")
        samplerate_hz = rate
    if gaps not in _GAP_MODES:
        raise RecordingError(f"gaps must be one of {_GAP_MODES}, got {gaps!r}")
    if time_column is not None and reader is not _csv.read_csv:
        raise RecordingError(f"time_column= applies to CSV tables only, not to {p.name}; "
                             "leave it out")
    if isinstance(channels, str):
        channels = [channels]
    elif channels is not None:
        channels = [str(c) for c in channels]
    if reader is _csv.read_csv:
        rec, nan_rows = reader(p, samplerate_hz=samplerate_hz, time_column=time_column,
                               channels=channels, units=units, gaps=gaps)
    else:
        rec, nan_rows = reader(p, samplerate_hz=samplerate_hz, channels=channels, units=units)
    if len(nan_rows):
        warnings.warn(
            f"{p.name}: {len(nan_rows)} of {rec.n_samples} samples hold NaN (empty or 'nan' "
            f"values), the first at {nan_rows[0] / rec.samplerate_hz:g} s. Plots show gaps "
            "there and feature extraction refuses windows that contain NaN; fill or drop them "
            "if you need those windows.", RuntimeWarning, stacklevel=2)
    return rec

