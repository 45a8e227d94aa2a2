"""dev.playback / dev.record: a recording played back by the device's sensor and streamed back
must come back bit for bit, from its first sample, wrapping at its end."""
import math
import struct
import time

import numpy as np
import pytest

import emlearn_lab as eml
from emlearn_lab.device.record import PLAYBACK_PATH, playback_bytes
from emlearn_lab.device_src import emlab_sensor
from emlearn_lab.exceptions import (
    DeviceDisconnectedError,
    DeviceError,
    DeviceRuntimeError,
    InputError,
)
from emlearn_lab.recordings.recording import Recording


def _audio(seed=0, n=4000, rate=16000):
    rng = np.random.default_rng(seed)
    x = rng.integers(-32768, 32768, n, dtype=np.int16)
    x[:3] = (-32768, 32767, 0)
    return Recording(x, rate, channels=["mic"], units="FS", kind="audio", full_scale=32768)


def _accel(seed=1, n=50, rate=100.0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(dtype)
    x[1] = (np.nan, -0.0, np.inf)
    x[2, 0] = np.finfo(np.float32).tiny / 4  # subnormal
    return Recording(x, rate, channels=("x", "y", "z"), units=("g", "g", "m/s²"))


def _looped(data, n):
    return data[np.arange(n) % len(data)]


def _bits(a):
    a = np.asarray(a)
    return a.view(np.uint32) if a.dtype == np.float32 else a


# -- host only: the file format, read back by the device module under CPython ---------------
def _play_cpython(tmp_path, rec, n_frames, block_frames=7):
    path = tmp_path / "p.bin"
    path.write_bytes(playback_bytes(rec))
    sensor = emlab_sensor.PlaybackSensor(str(path), realtime=False)
    out = []
    nch = len(sensor.channels)
    import array
    while sum(len(b) for b in out) < n_frames * nch:
        buf = array.array(sensor.typecode, [0] * (block_frames * nch))
        sensor.read_into(buf)
        out.append(np.frombuffer(buf, {"h": "<i2", "i": "<i4", "f": "<f4"}[sensor.typecode]))
    sensor.close()
    return sensor, np.concatenate(out).reshape(-1, nch)[:n_frames]


def test_playback_file_read_back_by_device_module_in_cpython(tmp_path):
    rec = _accel()
    sensor, got = _play_cpython(tmp_path, rec, 123)
    np.testing.assert_array_equal(_bits(got), _bits(_looped(rec.data, 123)))
    assert sensor.channels == ("x", "y", "z") and sensor.units == ("g", "g", "m/s²")
    assert sensor.samplerate_hz == 100.0 and sensor.kind == "signal"
    assert sensor.full_scale is None
    sensor, got = _play_cpython(tmp_path, _audio(n=100), 250, block_frames=33)
    np.testing.assert_array_equal(got[:, 0], _looped(_audio(n=100).data[:, 0], 250))
    assert (sensor.typecode, sensor.full_scale, sensor.kind) == ("h", 32768.0, "audio")


@pytest.mark.parametrize("dtype,typecode", [(np.int8, "h"), (np.uint8, "h"), (np.int16, "h"),
                                            (np.uint16, "i"), (np.int32, "i"),
                                            (np.float16, "f"), (np.float32, "f"),
                                            (np.float64, "f")])
def test_playback_dtypes(dtype, typecode):
    data = playback_bytes(Recording(np.arange(10).astype(dtype), 10))
    assert chr(data[5]) == typecode


def test_playback_rejects_what_it_cannot_send():
    with pytest.raises(InputError, match="outside int32"):
        playback_bytes(Recording(np.array([0, 2**40]), 10))
    with pytest.raises(InputError, match="cannot be played back"):
        playback_bytes(Recording(np.zeros(3), 0.0001))
    with pytest.raises(InputError, match="full_scale must be a positive"):
        playback_bytes(Recording(np.zeros(3), 10, full_scale=-1))
    with pytest.raises(InputError, match="at most 255"):
        playback_bytes(Recording(np.zeros(3), 10, channels=["é" * 200]))
    with pytest.raises(InputError, match="needs an emlearn_lab Recording"):
        playback_bytes(np.zeros(3))


def _corruptions(good: bytes) -> dict:
    head = list(struct.unpack(emlab_sensor.HEADER, good[:emlab_sensor.HEADER_BYTES]))

    def with_header(**changes):
        h = head.copy()
        names = ["magic", "version", "typecode", "n_channels", "n_frames", "rate", "num", "den",
                 "full_scale", "meta_bytes"]
        for k, v in changes.items():
            h[names.index(k)] = v
        return struct.pack(emlab_sensor.HEADER, *h) + good[emlab_sensor.HEADER_BYTES:]

    return {
        "bad magic": (b"XXXX" + good[4:], "is not a playback file"),
        "empty": (b"", "is not a playback file"),
        "short header": (good[:20], "shorter than its 38-byte header"),
        "truncated samples": (good[:-3], "header says"),
        "trailing bytes": (good + b"\0\0", "header says"),
        "future version": (with_header(version=9), "format version 9"),
        "typecode": (with_header(typecode=ord("d")), "sample typecode"),
        "no channels": (with_header(n_channels=0), "0 channels"),
        "huge frame count": (with_header(n_frames=2**32 - 1), "header says"),
        "nan rate": (with_header(rate=math.nan), "sample rate"),
        "pace": (with_header(den=0), "pace"),
        "meta overrun": (good[:38] + b"\xc8" + good[39:], "metadata strings overrun"),
        "bad kind": (good[:39] + b"X" + good[40:], "kind 'Xignal'"),
        "huge meta": (with_header(meta_bytes=60000), "bytes of metadata"),
    }


CORRUPTIONS = list(_corruptions(playback_bytes(_accel())))


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_corrupt_playback_file_raises_in_cpython(tmp_path, case):
    data, message = _corruptions(playback_bytes(_accel()))[case]
    (tmp_path / "bad.bin").write_bytes(data)
    with pytest.raises(ValueError, match=message):
        emlab_sensor.PlaybackSensor(str(tmp_path / "bad.bin"))


# -- on the device ---------------------------------------------------------------------------
@pytest.mark.device
def test_record_int16_audio_exact_and_paced(device):
    rec = _audio(n=4000)                       # 0.25 s at 16 kHz
    device.playback(rec)
    assert device.playback(rec) is False      # unchanged: not sent again
    calls = []
    t0 = time.monotonic()
    got = device.record(0.6, progress=lambda n, total: calls.append((n, total)))
    elapsed = time.monotonic() - t0
    n = round(0.6 * 16000)
    assert got.data.dtype == np.int16 and got.data.shape == (n, 1)
    np.testing.assert_array_equal(got.data, _looped(rec.data, n))   # 2.4 loops from the start
    assert (got.samplerate_hz, got.channels, got.units, got.kind, got.full_scale) == \
        (16000.0, ("mic",), ("FS",), "audio", 32768.0)
    assert elapsed >= 0.8 * 0.6                # samples arrive at the real rate
    assert calls[-1] == (n, n) and [c[0] for c in calls] == sorted(c[0] for c in calls)
    # A second record starts again from the first sample.
    np.testing.assert_array_equal(device.record(0.01).data, rec.data[:160])


@pytest.mark.device
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_record_float_accel_bit_exact(device, dtype):
    rec = _accel(n=50, rate=100.0, dtype=dtype)
    device.playback(rec)
    got = device.record(1.23)
    assert got.data.dtype == np.float32 and got.data.shape == (123, 3)
    want = _looped(rec.data.astype(np.float32), 123)
    np.testing.assert_array_equal(_bits(got.data), _bits(want))
    assert got.channels == ("x", "y", "z") and got.units == ("g", "g", "m/s²")
    assert got.samplerate_hz == 100.0 and got.full_scale is None and got.kind == "signal"


@pytest.mark.device
@pytest.mark.parametrize("rate,seconds", [(10.0, 0.25), (12.5, 0.4), (100 / 3, 0.3),
                                          (64, 0.1)])
def test_record_count_and_exact_rate(device, rate, seconds):
    rec = Recording(np.arange(7, dtype=np.int32) - 3, rate)
    device.playback(rec, path=PLAYBACK_PATH)
    got = device.record(seconds, block_frames=2)
    assert got.samplerate_hz == rate          # the float64 rate, bit for bit
    assert got.n_samples == round(seconds * rate)
    np.testing.assert_array_equal(got.data[:, 0], _looped(rec.data[:, 0], got.n_samples))


@pytest.mark.device
def test_custom_sensor_expression(device):
    device.exec("import array\n"
                "class Counter:\n"
                " samplerate_hz = 1000\n"
                " channels = ('a', 'b')\n"
                " units = 'count'\n"
                " typecode = 'i'\n"
                " def __init__(self):\n  self.n = 0\n"
                " def read_into(self, buf):\n"
                "  for i in range(len(buf)):\n   buf[i] = self.n\n   self.n += 1\n")
    got = device.record(0.05, sensor="Counter()", block_frames=16)
    np.testing.assert_array_equal(got.data.reshape(-1), np.arange(100, dtype=np.int32))
    assert got.channels == ("a", "b") and got.units == ("count", "count")
    assert got.source == "device sensor Counter()"


@pytest.mark.device
@pytest.mark.parametrize("seconds", [0, -1, math.nan, math.inf, "2s", None])
def test_bad_seconds(device, seconds):
    with pytest.raises(InputError, match="seconds must be a positive finite number"):
        device.record(seconds)
    with pytest.raises(ValueError):
        device.record(seconds)


@pytest.mark.device
def test_bad_block_frames_and_sensor_type(device):
    with pytest.raises(InputError, match="block_frames must be a positive int"):
        device.record(1, block_frames=0)
    with pytest.raises(InputError, match="sensor must be None"):
        device.record(1, sensor=42)


@pytest.mark.device
def test_no_playback_file(device):
    try:
        device.remove(PLAYBACK_PATH)
    except DeviceError:
        pass
    with pytest.raises(DeviceRuntimeError, match=r"call dev.playback\(recording\) first"):
        device.record(0.1)
    assert device.eval("1 + 1") == 2


@pytest.mark.device
def test_sensor_expression_that_raises(device):
    with pytest.raises(DeviceRuntimeError, match="ZeroDivisionError") as e:
        device.record(0.1, sensor="1 / 0")
    assert "Traceback" in str(e.value)
    with pytest.raises(DeviceRuntimeError, match="NameError"):
        device.record(0.1, sensor="no_such_module.IMU()")
    assert device.eval("1 + 1") == 2


@pytest.mark.device
def test_object_that_is_not_a_sensor(device):
    device.exec("class Half:\n samplerate_hz = 10\n channels = ('a',)\n")
    with pytest.raises(DeviceRuntimeError, match="lacks units, typecode, read_into"):
        device.record(0.1, sensor="Half()")
    with pytest.raises(DeviceRuntimeError, match="lacks samplerate_hz"):
        device.record(0.1, sensor="'not a sensor'")


@pytest.mark.device
@pytest.mark.parametrize("case", ["bad magic", "short header", "truncated samples",
                                  "future version", "huge frame count", "meta overrun"])
def test_corrupt_playback_file_raises_on_device(device, case):
    data, message = _corruptions(playback_bytes(_accel()))[case]
    device.write_file(PLAYBACK_PATH, data, skip_unchanged=False)
    with pytest.raises(DeviceRuntimeError, match=message) as e:
        device.record(0.1)
    assert PLAYBACK_PATH in str(e.value)
    assert device.eval("1 + 1") == 2


@pytest.mark.device
def test_progress_that_raises_stops_the_device(device):
    device.playback(_audio())
    calls = []

    def stop(n, total):
        calls.append(n)
        raise KeyboardInterrupt

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        device.record(300, progress=stop)
    assert len(calls) == 1                     # the first progress call stopped it
    # interrupted, not played to the end (which takes 300 s: a bound no load reaches)
    assert time.monotonic() - t0 < 150
    assert device.eval("1 + 1") == 2
    assert device.record(0.01).n_samples == 160


@pytest.mark.device
def test_sensor_that_prints_is_reported(device):
    device.exec("import array\n"
                "class Chatty:\n"
                " samplerate_hz = 100\n channels = ('a',)\n units = ''\n typecode = 'h'\n"
                " def read_into(self, buf):\n  print('debug!')\n")
    with pytest.raises(DeviceError, match="unexpected output from the device"):
        device.record(0.5, sensor="Chatty()")
    assert device.eval("1 + 1") == 2


@pytest.mark.device
def test_disconnect_mid_record():
    dev = eml.connect("virtual")
    try:
        dev.playback(_audio())

        def unplug(n, total):
            dev.virtual.kill()

        with pytest.raises(DeviceDisconnectedError, match="during record"):
            dev.record(5, progress=unplug)
        assert dev.eval("1 + 1") == 2          # reconnects (restarts the virtual device)
    finally:
        dev.close()
