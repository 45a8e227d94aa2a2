"""Sensors for DeviceApp: the host classes of emlearn_lab/app/sensors.py (expressions built
with repr, validation messages) and the drivers of device_src/emlab_drivers.py.

The drivers run against the stand-ins of tests/sensor_standins.py, which model each part's
register file as its datasheet's register map describes it: WHO_AM_I, a data-ready flag set
after a count of status-register polls (the stand-ins' clock), data registers in the part's
byte order and justification. This checks the register sequence and the sample conversion
against the datasheets' register maps, not a real part: bus timing, analogue behaviour and
the parts' real sample clocks are not tested here. Every scenario runs twice with the same
stand-in: under CPython (the driver module imports there) and on the MicroPython unix port
(the virtual device), where the frame loops also run with the heap locked, which proves they
allocate nothing.
"""
import re
from pathlib import Path

import numpy as np
import pytest

import emlearn_lab as eml
import sensor_standins
from emlearn_lab.app.sensors import ADC, Accelerometer, Custom, Microphone, Playback
from emlearn_lab.device.record import PLAYBACK_PATH, parse_description, playback_bytes
from emlearn_lab.device_src import emlab_drivers, emlab_sensor
from emlearn_lab.exceptions import InputError
from emlearn_lab.runtime.artifacts import module_artifact

STANDINS = Path(__file__).with_name("sensor_standins.py")


@pytest.fixture(scope="module")
def pushed(device):
    """The device with emlab_drivers, emlab_sensor and the stand-ins imported afresh."""
    notes: list = []
    for name in ("emlab_drivers", "emlab_sensor"):
        art = module_artifact(name, device.target, False, notes)
        device.write_file(art.path, art.data)
    device.write_file("sensor_standins.py", STANDINS.read_bytes())
    device.exec("import sys\nfor m in ('emlab_drivers', 'emlab_sensor', 'sensor_standins'):\n"
                " sys.modules.pop(m, None)\nimport emlab_drivers, emlab_sensor, sensor_standins")
    return device


class _Side:
    """Runs a sensor_standins scenario under CPython or on the device, with the same args."""

    def __init__(self, name, dev=None):
        self.name, self.dev = name, dev

    def __call__(self, scenario, *args, **kw):
        if self.dev is None:
            return getattr(sensor_standins, scenario)(emlab_drivers, *args, **kw)
        return self.dev.eval(f"sensor_standins.{scenario}(emlab_drivers, *{args!r}, **{kw!r})",
                             timeout_s=30)


@pytest.fixture(params=["cpython", pytest.param("device", marks=pytest.mark.device)])
def run(request):
    if request.param == "cpython":
        return _Side("cpython")
    return _Side("device", request.getfixturevalue("pushed"))


def _flat(samples):
    return [v for frame in samples for v in frame]


# -- MPU6050 ------------------------------------------------------------------------------
MPU_SAMPLES = [(-32768, 32767, -1), (256, -256, 1), (0x1234, -0x1234, 0x00FF),
               (-2, 0x7F00, -0x7F00)] + [
    tuple(int(v) for v in row)
    for row in np.random.default_rng(0).integers(-32768, 32768, (8, 3))]


def test_mpu6050_frames_follow_the_register_map(run):
    """Big-endian int16 from ACCEL_XOUT_H, one new sample per data-ready flag, every sample
    in order (a driver that skips the data-ready wait reads stale duplicates), with the
    datasheet's configuration writes; on the device the reads allocate nothing."""
    got = run("run_accel", "MPU6050", MPU_SAMPLES, 12, (100, 4), lock=True)
    assert got["frames"] == _flat(MPU_SAMPLES)
    assert got["writes"] == [(0x6B, 0x01), (0x19, 9), (0x1A, 3), (0x1C, 0x08), (0x38, 0x01),
                             (0x6B, 0x41)]
    assert got["polls"] >= 3 * 12          # the stand-in latches a sample every 3 polls
    assert (got["samplerate_hz"], got["full_scale"]) == (100.0, 8192)
    assert got["heap_locked"] == (run.name == "device")


@pytest.mark.parametrize("rate,div,dlpf", [(1000, 0, 1), (500, 1, 1), (100, 9, 3),
                                           (50, 19, 4), (1000 / 9, 8, 3), (10, 99, 6),
                                           (1000 / 256, 255, 6)])
def test_mpu6050_divider_and_filter(run, rate, div, dlpf):
    """Sample rate = 1 kHz / (1 + SMPLRT_DIV) with the DLPF on; the DLPF's bandwidth is the
    widest below half the rate."""
    got = run("run_accel", "MPU6050", MPU_SAMPLES[:4], 4, (rate, 16))
    assert got["writes"][1:4] == [(0x19, div), (0x1A, dlpf), (0x1C, 0x18)]
    assert got["samplerate_hz"] == pytest.approx(1000 / (div + 1), rel=1e-6)
    assert got["full_scale"] == 2048


# -- LIS3DH -------------------------------------------------------------------------------
LIS_SAMPLES = [(-2048, 2047, -1), (1, -16, 16), (0x123, -0x123, 0x7F), (-300, 600, -900)] + [
    tuple(int(v) for v in row)
    for row in np.random.default_rng(1).integers(-2048, 2048, (8, 3))]


def test_lis3dh_frames_follow_the_register_map(run):
    """Little-endian, left-justified 12-bit values read with the auto-increment bit (without
    it the part repeats OUT_X_L) and shifted right by 4, sign kept."""
    got = run("run_accel", "LIS3DH", LIS_SAMPLES, 12, (100, 2), lock=True)
    assert got["frames"] == _flat(LIS_SAMPLES)
    assert got["writes"] == [(0x20, 0x57), (0x23, 0x88), (0x20, 0x07)]
    assert (got["samplerate_hz"], got["full_scale"], got["overruns"]) == (100, 1000, 0)
    assert got["heap_locked"] == (run.name == "device")


@pytest.mark.parametrize("rate,range_g,ctrl1,ctrl4,counts_per_g", [
    (1, 2, 0x17, 0x88, 1000), (400, 16, 0x77, 0xB8, 1000 / 12), (25, 8, 0x37, 0xA8, 250)])
def test_lis3dh_odr_and_range(run, rate, range_g, ctrl1, ctrl4, counts_per_g):
    got = run("run_accel", "LIS3DH", LIS_SAMPLES[:4], 4, (rate, range_g))
    assert got["writes"][:2] == [(0x20, ctrl1), (0x23, ctrl4)]
    assert got["full_scale"] == pytest.approx(counts_per_g)


def test_lis3dh_counts_overruns_when_read_late(run):
    """Three sample periods pass between reads: the part overwrote two samples (ZYXOR); the
    driver counts it and goes on from the newest."""
    got = run("run_accel", "LIS3DH", LIS_SAMPLES, 8, (100, 2), late=3)
    assert got["frames"] == _flat(LIS_SAMPLES[:4] + LIS_SAMPLES[6:10])
    assert got["overruns"] == 1


# -- opening errors -----------------------------------------------------------------------
@pytest.mark.parametrize("part,args,kw,error,match", [
    ("MPU6050", (104, 2), {}, "ValueError",
     r"MPU6050 samplerate_hz=104: .*nearest rates: 100 Hz or 111\.111 Hz"),
    ("MPU6050", (100, 3), {}, "ValueError", r"range_g=3: expected one of 2, 4, 8, 16"),
    ("MPU6050", (100, 2), {"who_am_i": 0x70}, "OSError",
     r"MPU6050 at I2C address 0x68: WHO_AM_I \(register 0x75\) reads 0x70, expected 0x68"),
    ("MPU6050", (100, 2), {"driver_address": 0x69}, "OSError",
     r"MPU6050: no answer at I2C address 0x69 .*devices on the bus: \[0x68\].*AD0 low"),
    ("MPU6050", (1000, 2), {"polls_per_sample": 0}, "OSError",
     r"MPU6050 at I2C address 0x68: no new sample within 200 ms"),
    ("LIS3DH", (30, 2), {}, "ValueError", r"LIS3DH samplerate_hz=30: .*nearest: 25 Hz or 50"),
    ("LIS3DH", (100, 2), {"who_am_i": 0x32}, "OSError",
     r"LIS3DH at I2C address 0x18: WHO_AM_I \(register 0x0f\) reads 0x32, expected 0x33"),
    ("LIS3DH", (400, 2), {"polls_per_sample": 0}, "OSError",
     r"LIS3DH at I2C address 0x18: no new sample within 350 ms"),
])
def test_accelerometer_errors(run, part, args, kw, error, match):
    got = run("accel_error", part, args, **kw)
    assert got is not None and got[0] == error
    assert re.search(match, got[1]), got[1]


# -- ADC ----------------------------------------------------------------------------------
def _adc_values(n, start=60000, step=997):
    return [(start + step * i) & 0xFFFF for i in range(n)]


@pytest.mark.parametrize("fires_per_idle", [1, 3])
def test_adc_samples_come_from_the_timer_callback(run, fires_per_idle):
    """Each timer interrupt reads the ADC once into the ring; read_into waits (idle) until
    the frames are there and copies them in order, across the ring's wrap. The timer starts
    at the first read, at samplerate_hz, and stops at close()."""
    got = run("run_adc", 20, 5, fires_per_idle=fires_per_idle, lock=True)
    assert got["frames"] == _adc_values(20)
    assert got["reads"] == 20
    assert got["inits"] == [[1000, 1]] and got["timer_ids"] == [2]
    assert (got["inits_before_read"], got["deinits"]) == (0, 1)
    assert got["heap_locked"] == (run.name == "device")


def test_adc_lost_samples_and_a_silent_timer_raise(run):
    got = run("run_adc", 20, 5, burst=40)
    assert got["frames"] == _adc_values(5)
    assert got["error"].startswith("ADCSensor: the ring of 16 frames was full and 24 "
                                   "samples were lost")
    got = run("run_adc", 3, 1, fires_per_idle=0)
    assert got["error"].startswith("ADCSensor: no sample from timer 2 within 200 ms")


# -- I2S ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [16, 32])
def test_i2s_microphone_keeps_the_upper_16_bits(run, bits):
    """16-bit slots arrive as they are; 32-bit slots give their upper 16 bits (the sign kept).
    The stand-in hands over at most 100 bytes a call, so the reads loop."""
    rng = np.random.default_rng(bits)
    lo, hi = (-2**15, 2**15) if bits == 16 else (-2**31, 2**31)
    raw = [lo, hi - 1, -1, 0, 0x7FFF, -0x8000] + [int(v) for v in rng.integers(lo, hi, 122)]
    got = run("run_i2s", raw, bits, 128, 64)
    want = np.array(raw, np.int64) >> (16 if bits == 32 else 0)
    assert got["frames"] == want.astype(np.int16).tolist()
    assert got["calls"] >= -(-128 * bits // 8 // 100)   # 100 bytes a call at most: it looped
    assert (got["typecode"], got["kind"], got["full_scale"]) == ("h", "audio", 32768)


# -- host classes: the expressions, opened by emlab_sensor.open_sensor ---------------------
OPENED = [
    (Accelerometer("mpu6050", 0, sda=4, scl=5, samplerate_hz=1000 / 9, range_g=8),
     "emlab_drivers.MPU6050(emlab_drivers.i2c_bus(0, 4, 5), 104, 111.11111111111111, 8)",
     "MPU6050", {}, [["I2C", 0, ["Pin", 5], ["Pin", 4], 400000]]),
    (Accelerometer(),
     "emlab_drivers.MPU6050(emlab_drivers.i2c_bus(0), 104, 100.0, 2)",
     "MPU6050", {}, [["I2C", 0, None, None, 400000]]),
    (Accelerometer("lis3dh", "soft", sda="GP4", scl="GP5", address=0x19, samplerate_hz=400,
                   range_g=16),
     "emlab_drivers.LIS3DH(emlab_drivers.i2c_bus('soft', 'GP4', 'GP5'), 25, 400, 16)",
     "LIS3DH", {"address": 0x19}, [["SoftI2C", ["Pin", "GP5"], ["Pin", "GP4"], 400000]]),
    (ADC(26, 1000), "emlab_drivers.ADCSensor(26, 1000, -1, 64)", None, {},
     [["ADC", 26], ["Timer", -1]]),
    (ADC("A0", 50, timer_id=1, buffer_frames=8), "emlab_drivers.ADCSensor('A0', 50, 1, 8)",
     None, {}, [["ADC", ["Pin", "A0"]], ["Timer", 1]]),
    (Microphone(0, sck=32, ws=25, sd=33, bits=32),
     "emlab_drivers.I2SMicrophone(0, 32, 25, 33, 16000, 32, 8192)", None, {},
     [["I2S", 0, ["Pin", 32], ["Pin", 25], ["Pin", 33], 1, 32, 0, 16000, 8192]]),
    (Custom("emlab_drivers.LIS3DH(emlab_drivers.i2c_bus(1, 21, 22), 24, 50, 4)",
            samplerate_hz=50, channels=("x", "y", "z"), typecode="h", units="g",
            full_scale=500, modules=("emlab_drivers",)),
     "emlab_drivers.LIS3DH(emlab_drivers.i2c_bus(1, 21, 22), 24, 50, 4)", "LIS3DH", {},
     [["I2C", 1, ["Pin", 22], ["Pin", 21], 400000]]),
]


def _lists(x):
    return [_lists(v) for v in x] if isinstance(x, (list, tuple)) else x


@pytest.mark.parametrize("sensor,expr,part,part_kw,calls", OPENED,
                         ids=[type(s).__name__ for s, *_ in OPENED])
def test_device_expr_opens_the_sensor_the_host_describes(run, sensor, expr, part, part_kw,
                                                         calls):
    """The expression, evaluated by emlab_sensor.open_sensor with a stand-in machine module,
    constructs the driver with the pins routed as given, and the sensor describes itself on
    the device exactly as the host class does."""
    assert sensor.device_expr() == expr
    assert "emlab_drivers" in sensor.modules
    expr_kw = {"part_kw": part_kw} if part_kw else {}
    if run.dev is None:
        got = sensor_standins.open_expr(emlab_drivers, emlab_sensor, expr, part, **expr_kw)
    else:
        got = run.dev.eval(f"sensor_standins.open_expr(emlab_drivers, emlab_sensor, {expr!r}, "
                           f"{part!r}, **{expr_kw!r})")
    assert _lists(got["calls"]) == calls
    units = (sensor.units,) * len(sensor.channels) if isinstance(sensor.units, str) \
        else sensor.units
    assert got["samplerate_hz"] == pytest.approx(sensor.samplerate_hz, rel=1e-9)
    assert (tuple(got["channels"]), tuple(got["units"]), got["typecode"], got["kind"],
            got["full_scale"]) == (sensor.channels, units, sensor.typecode, sensor.kind,
                                   sensor.full_scale)
    assert len(got["frames"]) == 2 * len(sensor.channels)


def _recording(n=40):
    data = np.arange(3 * n, dtype=np.int16).reshape(n, 3)
    return eml.Recording(data, 50, channels=("ax", "ay", "az"), units="m/s2")


def test_playback_describes_its_recording(tmp_path, monkeypatch):
    rec = _recording()
    sensor = Playback.of(rec, realtime=False)
    assert sensor.device_expr() == "emlab_sensor.PlaybackSensor('emlab_playback.bin', False)"
    assert sensor.modules == ("emlab_sensor",) and sensor.recording is rec
    monkeypatch.chdir(tmp_path)
    (tmp_path / PLAYBACK_PATH).write_bytes(playback_bytes(rec))
    got = sensor_standins.open_expr(emlab_drivers, emlab_sensor, sensor.device_expr())
    assert (got["samplerate_hz"], tuple(got["channels"]), tuple(got["units"]),
            got["typecode"]) == (50.0, ("ax", "ay", "az"), ("m/s2",) * 3, "h")
    assert got["frames"] == list(range(6))
    assert (Playback().samplerate_hz, Playback().typecode) == (None, None)


@pytest.mark.device
def test_playback_expr_on_the_device(pushed):
    rec = _recording()
    sensor = Playback.of(rec)
    pushed.playback(rec)
    text = pushed.exec(f"s = emlab_sensor.open_sensor({sensor.device_expr()!r})\n"
                       "print(repr(emlab_sensor.describe(s)))\ns.close()")
    rate, channels, units, tc, kind, full_scale = parse_description(text, "playback")
    assert (rate, channels, units, tc, kind, full_scale) == (
        sensor.samplerate_hz, sensor.channels, sensor.units, sensor.typecode, sensor.kind,
        sensor.full_scale)


# -- host classes: parameters ---------------------------------------------------------------
def test_numpy_scalars_become_plain_numbers_in_the_expression():
    s = Accelerometer(i2c_id=np.int64(1), sda=np.int32(4), scl=np.int32(5),
                      address=np.int64(0x69), samplerate_hz=np.float64(200),
                      range_g=np.int64(4))
    assert s.device_expr() == ("emlab_drivers.MPU6050(emlab_drivers.i2c_bus(1, 4, 5), 105, "
                               "200.0, 4)")
    m = Microphone(np.int64(1), 1, 2, 3, np.int64(8000), bits=np.int64(16), ibuf=np.int64(4096))
    assert "np." not in m.device_expr() + ADC(np.int64(3), np.int64(100)).device_expr()


@pytest.mark.parametrize("make,match", [
    (lambda: Accelerometer("bmi160"),
     r"The 'part' parameter of Accelerometer must be 'mpu6050' or 'lis3dh'. Got 'bmi160'"),
    (lambda: Accelerometer(samplerate_hz=104),
     r"The 'samplerate_hz' parameter of Accelerometer must be 1000 Hz / k for an int k in "
     r"\[1, 256\] \(the MPU6050's sample-rate divider\). Got 104 instead. "
     r"Nearest: 100 Hz or 111\.111 Hz\."),
    (lambda: Accelerometer(samplerate_hz=2000),
     r"'samplerate_hz' .* must be 1000 Hz / k .* Got 2000 instead. Nearest: 1000 Hz\."),
    (lambda: Accelerometer("lis3dh", samplerate_hz=30),
     r"'samplerate_hz' parameter of Accelerometer must be one of 1, 10, 25, 50, 100, 200, "
     r"400. Got 30 instead. Nearest: 25 Hz or 50 Hz\."),
    (lambda: Accelerometer(samplerate_hz=-1), r"'samplerate_hz' .* range \(0, inf\)"),
    (lambda: Accelerometer(range_g=3), r"'range_g' .* must be one of 2, 4, 8, 16. Got 3"),
    (lambda: Accelerometer("lis3dh", address=0x68),
     r"'address' .* must be 24 or 25. Got 104 instead. The LIS3DH answers at SDO/SA0 low: "
     r"0x18, high: 0x19\."),
    (lambda: Accelerometer(sda=4),
     r"The 'scl' parameter of Accelerometer must be a pin when sda is given. Got None"),
    (lambda: Accelerometer(i2c_id="soft"),
     r"'sda' .* must be a pin when i2c_id is 'soft'.*has no default pins"),
    (lambda: Accelerometer(i2c_id="hw"),
     r"'i2c_id' .* must be an int in the range \[0, inf\). Got 'hw' instead. Or 'soft'"),
    (lambda: Accelerometer(sda=-1, scl=2), r"'sda' .* must be a pin number \(int >= 0\)"),
    (lambda: ADC(26, 50000), r"'samplerate_hz' parameter of ADC must be an int in the range "
                             r"\[1, 20000\]. Got 50000"),
    (lambda: ADC(26, 100.5), r"'samplerate_hz' .* int .* Got 100.5"),
    (lambda: ADC(None, 100), r"'pin' parameter of ADC must be a pin number"),
    (lambda: Microphone(0, 1, 2, 3, bits=24), r"'bits' .* must be 16 or 32. Got 24"),
    (lambda: Microphone(0, 1, None, 3), r"'ws' parameter of Microphone must be a pin"),
    (lambda: Custom("IMU(", samplerate_hz=1, channels=("a",), typecode="h"),
     r"'expr' parameter of Custom must be a Python expression. Got 'IMU\(' instead. It does "
     r"not parse"),
    (lambda: Custom("m.IMU()", samplerate_hz=1, channels="xyz", typecode="h"),
     r"'channels' .* must be a list or tuple of 1 to 255 non-empty str. Got 'xyz'"),
    (lambda: Custom("m.IMU()", samplerate_hz=1, channels=("x",), typecode="d"),
     r"'typecode' .* must be one of 'h', 'i', 'f'. Got 'd' instead. 'h': int16"),
    (lambda: Custom("m.IMU()", samplerate_hz=1, channels=("x", "y"), typecode="h",
                    units=("g",)), r"'units' .* must be a str or 2 str \(one per channel\)"),
    (lambda: Custom("m.IMU()", samplerate_hz=1, channels=("x",), typecode="h",
                    modules=("mysensors",)),
     r"'modules' .* Got \('mysensors',\) instead. 'mysensors' is not one: copy your own"),
    (lambda: Playback(realtime="yes"), r"'realtime' parameter of Playback must be a bool"),
    (lambda: Playback.of(np.zeros(5)),
     r"'recording' parameter of Playback.of must be an emlearn_lab Recording.*eml.Recording"),
])
def test_bad_parameters_are_refused_with_the_remedy(make, match):
    with pytest.raises(InputError, match=match):
        make()


def test_host_rate_checks_agree_with_the_driver():
    """The host refuses exactly the MPU6050 rates the driver refuses (one rate table)."""
    for rate in [1000 / k for k in range(1, 257)] + [104, 3.9, 999, 0.5, 1500]:
        host_ok = True
        try:
            Accelerometer(samplerate_hz=rate)
        except InputError:
            host_ok = False
        assert host_ok == (emlab_drivers.mpu6050_divider(rate) is not None), rate


def test_repr_shows_the_parameters():
    assert repr(Accelerometer("lis3dh", samplerate_hz=50)) == (
        "Accelerometer(part='lis3dh', i2c_id=0, sda=None, scl=None, address=24, "
        "samplerate_hz=50.0, range_g=2)")
    assert repr(ADC(4, 10)) == "ADC(pin=4, samplerate_hz=10, timer_id=-1, buffer_frames=64)"
    assert repr(Playback()) == "Playback(realtime=True)"
    assert repr(Playback.of(_recording())).startswith("Playback.of(Recording(40 samples")


def test_sensor_parts_are_listed_for_packaging():
    """emlab_drivers ships with device_src (listed in its docstring) and is outside the model
    runtime whose hash calibration.toml pins."""
    from emlearn_lab.board_fit import memory
    from emlearn_lab.device_src import __doc__ as listing
    assert "emlab_drivers.py" in listing
    assert "emlab_drivers.py" in memory._NOT_MODEL_RUNTIME
