"""Readers for NumPy ``.npy`` and ``.npz`` recordings, and two helpers the other readers share
(channel selection by name, NaN rows)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..exceptions import RecordingError
from .recording import Recording

_META_KEYS = ("samplerate_hz", "channels", "units")


def nan_rows(data: np.ndarray) -> np.ndarray:
    """Indices of the samples (rows) of ``data`` that hold NaN in any channel."""
    if data.dtype.kind != "f":
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(np.isnan(data).reshape(len(data), -1).any(axis=1))


def pick_channels(names: list[str], wanted: list[str] | None, source: str) -> list[int]:
    """Column indices of the channel names ``wanted`` among ``names`` (all when ``wanted`` is
    None), in the order asked."""
    if wanted is None:
        return list(range(len(names)))
    missing = [w for w in wanted if w not in names]
    if missing:
        raise RecordingError(f"{source} has no channel {missing[0]!r}; its channels are "
                             f"{names}. Pass channels= names from that list.")
    if len(set(wanted)) != len(wanted):
        raise RecordingError(f"channels= names a channel twice: {wanted}")
    return [names.index(w) for w in wanted]


def _check_shape(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype.kind not in "iuf":
        raise RecordingError(f"{name} holds {arr.dtype} values; a recording needs integers or "
                             "floats. Save a numeric array.")
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise RecordingError(f"{name} holds an array of shape {arr.shape}; expected "
                             "(n_samples,) or (n_samples, n_channels) with at least one sample")
    return arr


def _finish(arr, rate, names, wanted, units, path: Path):
    """Select/name channels and build the Recording; ``names`` are the file's names or None."""
    n_ch = 1 if arr.ndim == 1 else arr.shape[1]
    if names is not None:
        cols = pick_channels(names, wanted, path.name)
        if arr.ndim == 2:
            arr = arr[:, cols]
        names = [names[i] for i in cols]
    else:
        if wanted is not None and len(wanted) != n_ch:
            raise RecordingError(f"{len(wanted)} channel names {wanted} for the {n_ch} columns "
                                 f"of {path.name}; pass one name per column")
        names = wanted
    rec = Recording(arr, rate, channels=names, units=units, source=str(path))
    return rec, nan_rows(rec.data)


def read_npy(path: Path, *, samplerate_hz=None, channels=None, units=None):
    """Read an ``.npy`` array of shape (n,) or (n, ch); the rate must be passed."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise RecordingError(f"cannot read {path.name} as a NumPy .npy file (numpy said: {e}). "
                             "Save it again with numpy.save().") from e
    arr = _check_shape(arr, path.name)
    if samplerate_hz is None:
        raise RecordingError(f"unknown sample rate for {path.name}: a .npy file stores only "
                             "samples. Pass samplerate_hz=, or save an .npz with a "
                             "'samplerate_hz' entry.")
    return _finish(arr, samplerate_hz, None, channels, units, path)


def read_npz(path: Path, *, samplerate_hz=None, channels=None, units=None):
    """Read an ``.npz`` with the samples under ``data`` (or as its only array) and optional
    ``samplerate_hz``, ``channels`` and ``units`` entries."""
    try:
        with np.load(path, allow_pickle=False) as z:
            entries = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise RecordingError(f"cannot read {path.name} as a NumPy .npz file (numpy said: {e}). "
                             "Save it again with numpy.savez().") from e
    if "data" in entries:
        key = "data"
    else:
        arrays = [k for k in entries if k not in _META_KEYS]
        if len(arrays) != 1:
            raise RecordingError(f"{path.name} holds arrays {sorted(entries)}; expected the "
                                 "samples under 'data' (or a single array). Save with "
                                 "numpy.savez(path, data=samples, samplerate_hz=rate).")
        key = arrays[0]
    arr = _check_shape(entries[key], f"{path.name}[{key!r}]")
    rate = samplerate_hz
    if "samplerate_hz" in entries:
        stored = entries["samplerate_hz"]
        try:
            file_rate = float(stored)
        except (TypeError, ValueError) as e:
            raise RecordingError(f"{path.name}: 'samplerate_hz' must be one number, got "
                                 f"{stored!r}") from e
        if samplerate_hz is not None and not np.isclose(file_rate, samplerate_hz, rtol=1e-9):
            raise RecordingError(f"{path.name} says samplerate_hz={file_rate:g} but "
                                 f"samplerate_hz={samplerate_hz:g} was passed; leave it out to "
                                 "use the file's rate")
        rate = file_rate
    if rate is None:
        raise RecordingError(f"unknown sample rate for {path.name}: it has no 'samplerate_hz' "
                             "entry. Pass samplerate_hz=.")
    n_ch = 1 if arr.ndim == 1 else arr.shape[1]
    names = None
    if "channels" in entries:
        names = [str(c) for c in np.atleast_1d(entries["channels"])]
        if len(names) != n_ch:
            raise RecordingError(f"{path.name}: {len(names)} channel names {names} for "
                                 f"{n_ch} channels")
    file_units = None
    if "units" in entries:
        u = entries["units"]
        file_units = str(u) if u.ndim == 0 else [str(x) for x in u]
        if names is not None and channels is not None and isinstance(file_units, list):
            if len(file_units) != n_ch:
                raise RecordingError(f"{path.name}: {len(file_units)} units for {n_ch} "
                                     "channels")
            file_units = [file_units[i] for i in pick_channels(names, channels, path.name)]
    return _finish(arr, rate, names, channels, units if units is not None else file_units,
                   path)
