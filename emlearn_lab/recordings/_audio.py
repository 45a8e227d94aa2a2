"""Reader for WAV and FLAC audio through ``soundfile`` (libsndfile).

Integer audio stays integer so that features computed here match the ones a device computes
from the same samples; the subtype in the file header decides the dtype (see ``_READ_AS``).
"""
from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np

from ..exceptions import RecordingError
from ._numpy import nan_rows
from .recording import Recording

# subtype -> (dtype soundfile reads, right shift applied, stored dtype, full_scale, units).
# libsndfile scales every PCM width to the requested integer type by shifting left, so a
# 24-bit sample read as int32 is value << 8 (shift back by 8), and an 8-bit one read as int16
# is value << 8 (kept: the 16-bit range is what a 16-bit pipeline expects). WAV 8-bit is
# unsigned (offset 128); libsndfile removes the offset, so both 8-bit kinds come out signed.
_READ_AS = {
    "PCM_16": ("int16", 0, np.int16, 32768.0, ""),
    "PCM_24": ("int32", 8, np.int32, float(2 ** 23), ""),
    "PCM_32": ("int32", 0, np.int32, float(2 ** 31), ""),
    "PCM_U8": ("int16", 0, np.int16, 32768.0, ""),
    "PCM_S8": ("int16", 0, np.int16, 32768.0, ""),
    "ULAW": ("int16", 0, np.int16, 32768.0, ""),
    "ALAW": ("int16", 0, np.int16, 32768.0, ""),
}
_FLOAT = ("float32", 0, np.float32, None, "FS")   # FLOAT, DOUBLE and compressed codecs


def _soundfile():
    try:
        import soundfile
    except ImportError as e:     # an install problem, not a file problem: say how to fix it
        raise RecordingError("reading WAV/FLAC needs the 'soundfile' package: "
                             "pip install soundfile") from e
    return soundfile


def _default_names(n_ch: int) -> list[str]:
    if n_ch == 1:
        return ["mono"]
    if n_ch == 2:
        return ["left", "right"]
    return [f"ch{i}" for i in range(n_ch)]


def wav_truncation(path: Path) -> tuple[int, int, int] | None:
    """``(declared_bytes, present_bytes, block_align)`` when the ``data`` chunk of a RIFF WAV
    file declares more bytes than the file holds after it; None when complete or not a plain
    RIFF file (RF64 and streamed files with size 0 or 0xFFFFFFFF are not checked)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RIFX"):
            return None
        endian = "<" if head[:4] == b"RIFF" else ">"
        pos, block_align = 12, 0
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack(endian + "4sI", f.read(8))
            if chunk_id == b"fmt " and chunk_size >= 14:
                block_align = struct.unpack(endian + "H", f.read(14)[12:14])[0]
            if chunk_id == b"data":
                present = size - pos - 8
                if chunk_size in (0, 0xFFFFFFFF) or chunk_size <= present:
                    return None
                return chunk_size, present, block_align
            pos += 8 + chunk_size + (chunk_size & 1)   # chunks are padded to even sizes
    return None


def read_audio(path: Path, *, samplerate_hz=None, channels=None, units=None):
    """Read a WAV or FLAC file into an audio Recording.

    A WAV whose header declares more sample bytes than the file holds (a recorder stopped
    mid-write) loads with a RuntimeWarning rather than an error: libsndfile reads the frames
    present, which are intact and often worth keeping, and the warning says how much is missing.
    """
    sf = _soundfile()
    remedy = ("Re-export or convert the file (e.g. `sox in.wav -b 16 out.wav` or Audacity's "
              "Export) and load the new one.")
    try:
        info = sf.info(str(path))
        spec = _READ_AS.get(info.subtype, _FLOAT)
        raw, file_rate = sf.read(str(path), dtype=spec[0], always_2d=True)
    except (RuntimeError, ValueError, TypeError) as e:
        # soundfile raises LibsndfileError (a RuntimeError) for corrupt headers and data
        raise RecordingError(f"cannot read {path.name} as audio: soundfile said "
                             f"{str(e).strip()!r}. {remedy}") from e
    cut = wav_truncation(path) if path.suffix.lower() in (".wav", ".wave") else None
    if cut is not None:
        declared, present, align = cut
        frames = f" ({declared // align} frames)" if align else ""
        truncated = (f"{path.name} is truncated: its header declares {declared} bytes of "
                     f"samples{frames} but the file holds {present}")
    if raw.shape[0] == 0:
        why = f"; {truncated}" if cut is not None else ""
        raise RecordingError(f"{path.name} has a valid {info.format} header but no "
                             f"samples{why}. {remedy}")
    if cut is not None:
        warnings.warn(f"{truncated}; loaded the {raw.shape[0]} frames present "
                      f"({raw.shape[0] / file_rate:g} s). {remedy}", RuntimeWarning,
                      stacklevel=3)
    if samplerate_hz is not None and not np.isclose(samplerate_hz, file_rate, rtol=1e-9):
        raise RecordingError(f"{path.name} is sampled at {file_rate} Hz but samplerate_hz="
                             f"{samplerate_hz:g} was passed; audio is not resampled on load. "
                             "Leave samplerate_hz out, or resample the file first.")
    _, shift, dtype, full_scale, default_units = spec
    data = raw >> shift if shift else raw
    data = data.astype(dtype, copy=False)
    n_ch = data.shape[1]
    if channels is not None and len(channels) != n_ch:
        raise RecordingError(f"{len(channels)} channel names {channels} for the {n_ch} "
                             f"channels of {path.name}; pass one name per channel")
    names = channels if channels is not None else _default_names(n_ch)
    rec = Recording(data, file_rate, channels=names,
                    units=default_units if units is None else units, kind="audio",
                    full_scale=full_scale, source=str(path))
    return rec, nan_rows(rec.data)
