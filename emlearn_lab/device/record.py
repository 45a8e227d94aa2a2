"""Record a device sensor into a Recording; play a Recording back as the device's sensor.

``playback`` writes a recording to a file on the device; the device's playback sensor
(``emlab_sensor.PlaybackSensor``) plays it at its sample rate, looping, which is what the
virtual device records from. ``record`` streams any sensor object on the device to the host:
one program runs on the device and prints a base64 line per block of samples, which the host
reads as it arrives, so a long recording never waits on one exec timeout.
"""
from __future__ import annotations

import ast
import binascii
import math
import struct
from fractions import Fraction

import numpy as np

from ..device_src import emlab_sensor as _fmt
from ..exceptions import DeviceError, DeviceRuntimeError, InputError
from ..progress import bar
from ..recordings.recording import Recording
from ..runtime.artifacts import module_artifact

__all__ = ["playback", "record", "playback_bytes", "sample_dtype", "PLAYBACK_PATH"]

PLAYBACK_PATH = "emlab_playback.bin"
_DTYPES = {"h": np.dtype("<i2"), "i": np.dtype("<i4"), "f": np.dtype("<f4")}
# Blocks of about 50 ms (progress and interruption stay prompt) and at most 2 KiB (a block is
# one buffer and its base64 copy in the device's heap).
_BLOCK_S = 0.05
_BLOCK_MAX_BYTES = 2048


def _typecode(data: np.ndarray) -> str:
    kind, size = data.dtype.kind, data.dtype.itemsize
    if kind == "f":
        return "f"
    if (kind == "i" and size <= 2) or (kind == "u" and size == 1):
        return "h"
    if (kind == "i" and size == 4) or (kind == "u" and size == 2):
        return "i"
    lo, hi = (int(data.min()), int(data.max())) if data.size else (0, 0)
    if -2**31 <= lo and hi < 2**31:
        return "i"
    raise InputError(f"recording samples of dtype {data.dtype} range over [{lo}, {hi}], "
                     "outside int32, the widest integer the device plays back. Scale them "
                     "into int32 or convert them to float32.")


def sample_dtype(data: np.ndarray) -> np.dtype:
    """The little-endian dtype the playback file (and so the device's sensor) gives these
    samples (see playback_bytes)."""
    return _DTYPES[_typecode(data)]


def _pace(rate_hz: float) -> tuple:
    frac = Fraction(rate_hz).limit_denominator(_fmt.MAX_PACE_DEN)
    if frac.numerator < 1 or frac.numerator >= 2**32 or \
            abs(float(frac) - rate_hz) > 1e-4 * rate_hz:
        raise InputError(f"samplerate_hz={rate_hz!r} cannot be played back: the device paces "
                         f"playback at a rate num/den with den <= {_fmt.MAX_PACE_DEN} "
                         "(rates from 0.01 Hz up)")
    return frac.numerator, frac.denominator


def _text(value: str, what: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > 255:
        raise InputError(f"{what} {value[:40]!r}... is {len(raw)} bytes in UTF-8; the "
                         "playback file holds at most 255")
    return bytes([len(raw)]) + raw


def playback_bytes(recording: Recording) -> bytes:
    """The playback file for a recording (format in ``device_src/emlab_sensor.py``).

    Samples keep their dtype where the device has it: int16 and int32 as they are, int8 and
    uint8 widened to int16, uint16 to int32, other integers to int32 when their values fit;
    float32 as it is, float64 (and float16) as float32.

    Raises
    ------
    InputError
        Integers outside int32, more than 255 channels, names or units over 255 bytes, a
        sample rate that cannot be paced (below 0.01 Hz), a full scale that is not positive.
    """
    if not isinstance(recording, Recording):
        raise InputError(f"playback needs an emlearn_lab Recording, got "
                         f"{type(recording).__name__}. Wrap arrays with eml.Recording(data, "
                         "samplerate_hz=...)")
    data = recording.data
    tc = _typecode(data)
    n_frames, n_ch = data.shape
    if n_ch > _fmt.MAX_CHANNELS:
        raise InputError(f"the playback file holds at most {_fmt.MAX_CHANNELS} channels, "
                         f"the recording has {n_ch}")
    if n_frames >= 2**32:
        raise InputError(f"the playback file holds fewer than 2**32 frames, the recording "
                         f"has {n_frames}")
    num, den = _pace(recording.samplerate_hz)
    fs = recording.full_scale
    if fs is not None and not (math.isfinite(fs) and fs > 0):
        raise InputError(f"full_scale must be a positive number or None, got {fs!r}")
    meta = _text(recording.kind, "kind") + b"".join(
        _text(c, "channel name") for c in recording.channels) + b"".join(
        _text(u, "unit") for u in recording.units)
    if len(meta) > _fmt.MAX_META_BYTES:
        raise InputError(f"channel names and units take {len(meta)} bytes; the playback file "
                         f"holds at most {_fmt.MAX_META_BYTES}")
    head = struct.pack(_fmt.HEADER, _fmt.MAGIC, _fmt.VERSION, ord(tc), n_ch, n_frames,
                       recording.samplerate_hz, num, den,
                       float("nan") if fs is None else fs, len(meta))
    return head + meta + np.ascontiguousarray(data, dtype=_DTYPES[tc]).tobytes()


def _push_runtime(dev) -> None:
    """emlab_sensor on the device (compiled for it); a changed file is imported afresh."""
    notes: list = []
    art = module_artifact("emlab_sensor", dev.target, False, notes)
    if dev.write_file(art.path, art.data):
        dev.exec("import sys\nsys.modules.pop('emlab_sensor', None)")


def playback(dev, recording: Recording, *, path: str = PLAYBACK_PATH) -> bool:
    """Make a recording the device's playback sensor: ``record()`` with ``sensor=None`` then
    streams it at its sample rate, looping at its end.

    Parameters
    ----------
    dev : Device
    recording : Recording
        Sent in its dtype; float64 samples are sent (and so recorded back) as float32, int8,
        uint8 and uint16 widened to int16/int32 (see :func:`playback_bytes`).
    path : str
        File on the device. On a real board the playback sensor works too (it reads the file
        from the board's filesystem), which tests a pipeline without the physical sensor.

    Returns
    -------
    bool
        False if the device already had exactly this file (nothing was sent).

    Raises
    ------
    InputError
        The recording cannot be played back (see :func:`playback_bytes`).
    DeviceError
        The write failed (e.g. the filesystem is full).

    Examples
    --------
    >>> import numpy as np, emlearn_lab as eml
    >>> with eml.connect("virtual") as dev:
    ...     rec = eml.Recording(np.arange(100, dtype=np.int16), samplerate_hz=100)
    ...     dev.playback(rec)
    ...     dev.record(0.5).data[:3, 0].tolist()
    True
    [0, 1, 2]
    """
    data = playback_bytes(recording)
    _push_runtime(dev)
    return dev.write_file(path, data)


class _Receiver:
    """Consumes the stream byte by byte (mpremote's data_consumer) into a sample array."""

    def __init__(self, total: int, n_ch: int, dtype, block_frames: int, progress):
        self.samples = np.empty((total, n_ch), dtype=dtype)
        self.flat = self.samples.reshape(-1).view(np.uint8)
        self.frame_bytes = n_ch * dtype.itemsize
        self.total, self.block, self.progress = total, block_frames, progress
        self.frames = 0
        self.end = None        # (frames, elapsed_us) from the end line
        self.line = bytearray()

    def __call__(self, byte: bytes) -> None:
        if byte == b"\n":
            self._line(bytes(self.line).rstrip(b"\r"))
            self.line.clear()
        elif byte != b"\x04":  # the program's end: the end line said it all
            self.line += byte

    def _line(self, line: bytes) -> None:
        if self.end is not None:
            raise DeviceError(f"unexpected output after the end of the stream: {line[:80]!r}")
        if line.startswith(_fmt.END.encode()):
            frames, elapsed_us = (int(v) for v in line.split()[1:3])
            self.end = (frames, elapsed_us)
            return
        want = min(self.block, self.total - self.frames) * self.frame_bytes
        try:
            block = binascii.a2b_base64(line)
        except binascii.Error:
            block = b""
        if not want or len(block) != want:
            raise DeviceError(f"unexpected output from the device during record (a sensor "
                              f"that prints?): {line[:80]!r}")
        at = self.frames * self.frame_bytes
        self.flat[at:at + want] = np.frombuffer(block, np.uint8)
        self.frames += want // self.frame_bytes
        if self.progress is not None:
            self.progress(self.frames, self.total)


def parse_description(text: str, what: str) -> tuple:
    """(rate_hz, channels, units, typecode, kind, full_scale) from what
    emlab_sensor.describe() printed; DeviceError if it is unreadable."""
    try:
        bits, channels, units, tc, kind, full_scale = ast.literal_eval(text)
        (rate_hz,) = struct.unpack("<d", bits)
        if tc not in _DTYPES:
            raise ValueError(tc)
    except (ValueError, SyntaxError, TypeError, struct.error):
        raise DeviceError(f"the device described {what} unreadably: {text[:200]!r}") from None
    return rate_hz, channels, units, tc, kind, full_scale


def record(dev, seconds: float, *, sensor: str | None = None, block_frames: int | None = None,
           progress=None) -> Recording:
    """Record ``seconds`` of samples from a sensor on the device.

    Parameters
    ----------
    dev : Device
    seconds : float
        Duration; exactly ``round(seconds * samplerate_hz)`` frames are recorded. The call
        takes about that long: samples stream as the sensor produces them.
    sensor : str, optional
        None: the playback sensor (the file :func:`playback` wrote; the virtual device's
        sensor). Otherwise an expression evaluated on the device, in the REPL's globals, that
        returns a sensor object, e.g. ``"mysensors.IMU()"`` (its leading module is imported if
        needed): it needs ``samplerate_hz``, ``channels``, ``units``, ``typecode`` ('h', 'i'
        or 'f') and ``read_into(buf)``, and may have ``kind``, ``full_scale`` and ``close()``
        (see ``device_src/emlab_sensor.py``).
    block_frames : int, optional
        Frames per block sent; default about 50 ms of samples, at most 2 KiB.
    progress : callable, optional
        ``progress(frames_so_far, total_frames)`` after each block. If it raises, the device
        is stopped and the exception propagates. Default: a progress bar on stderr when it
        is a terminal (progress.py).

    Returns
    -------
    Recording
        Samples exactly as the sensor produced them, in its typecode's dtype (int16, int32 or
        float32), with its rate, channel names, units, kind and full scale.

    Raises
    ------
    InputError
        ``seconds`` not a positive finite number, or a bad ``block_frames``.
    DeviceRuntimeError
        No playback file (remedy: ``dev.playback(recording)``), a corrupt one (named), a
        sensor expression that raised (with the device traceback) or an object that is not a
        sensor (what it lacks).
    DeviceDisconnectedError
        The link was lost mid-recording.

    Examples
    --------
    >>> rec = dev.record(2.0, progress=lambda n, total: print(n, "/", total))  # doctest: +SKIP
    """
    try:
        seconds_f = float(seconds)
    except (TypeError, ValueError):
        seconds_f = float("nan")
    if not (math.isfinite(seconds_f) and seconds_f > 0):
        raise InputError(f"seconds must be a positive finite number, got {seconds!r}")
    if block_frames is not None and (isinstance(block_frames, bool) or
                                     not isinstance(block_frames, (int, np.integer)) or
                                     block_frames < 1):
        raise InputError(f"block_frames must be a positive int or None, got {block_frames!r}")
    if sensor is not None and not (isinstance(sensor, str) and sensor.strip()):
        raise InputError(f"sensor must be None (the playback sensor) or an expression string "
                         f"evaluated on the device, got {sensor!r}")
    _push_runtime(dev)
    what = "playback" if sensor is None else repr(sensor)
    # The sensor is opened and described by one exec, streamed by a second: errors in the
    # expression or the file surface as an ordinary exec error, and the host knows the rate
    # (so the frame count) before the stream starts.
    text = dev.exec(f"import emlab_sensor\n"
                    f"_emlab_rec = emlab_sensor.open_sensor({sensor!r}, {PLAYBACK_PATH!r}, "
                    f"globals())\n"
                    f"try:\n print(repr(emlab_sensor.describe(_emlab_rec)))\n"
                    f"except Exception:\n emlab_sensor.close(_emlab_rec)\n raise").strip()
    rate_hz, channels, units, tc, kind, full_scale = parse_description(text, f"sensor {what}")
    dtype = _DTYPES[tc]
    total = round(seconds_f * rate_hz)
    if total < 1:
        dev.exec("emlab_sensor.close(_emlab_rec)\ndel _emlab_rec")
        raise InputError(f"{seconds!r} s at {rate_hz:g} Hz is less than one sample")
    frame_bytes = len(channels) * dtype.itemsize
    block = int(block_frames) if block_frames is not None else max(
        1, min(round(rate_hz * _BLOCK_S), _BLOCK_MAX_BYTES // frame_bytes))
    shown = bar(total, f"recording {seconds_f:g} s from sensor {what}", "frame")
    if progress is None:
        progress = (lambda frames, _total: shown.update(frames - shown.n))
    receiver = _Receiver(total, len(channels), dtype, block, progress)
    # Between two characters the device waits at most one block for its sensor.
    timeout_s = 10.0 + 2.0 * block / rate_hz
    code = (f"try:\n emlab_sensor.stream(_emlab_rec, {total}, {block})\n"
            "finally:\n emlab_sensor.close(_emlab_rec)\n del _emlab_rec\n")
    with shown:
        # If progress (the receiver) raises, exec_streaming stops the device's program.
        dev.exec_streaming(code, receiver, idle_timeout_s=timeout_s,
                           runs_for_s=total / rate_hz, what=f"record from sensor {what}")
    if receiver.end is None or receiver.frames != total or receiver.end[0] != total:
        raise DeviceRuntimeError(f"record from sensor {what} ended after {receiver.frames} of "
                                 f"{total} frames without an error")
    source = f"device sensor {sensor}" if sensor is not None else \
        f"device playback {PLAYBACK_PATH}"
    return Recording(receiver.samples, rate_hz, channels=channels, units=units, kind=kind,
                     full_scale=full_scale, source=source)
