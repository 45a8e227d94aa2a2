"""The sensor an app reads on the board, described on the host.

Each class knows the sensor's sample rate, channels, sample type and units before anything
runs on the board, so an app's windows and features can be planned on the host, and writes
the expression the device evaluates (``emlab_sensor.open_sensor(sensor.device_expr())``) to
construct it. ``modules`` names the ``device_src`` modules the device needs for it.

The drivers are in ``device_src/emlab_drivers.py``; their rate tables are shared with the
checks here, so the host refuses exactly what the device would.
"""
from __future__ import annotations

import ast
from importlib import resources

from ..device_src import emlab_drivers as _drv
from ..device_src import emlab_sensor as _fmt
from ..validate import int_in, invalid, number_in, one_of
from ._sensor_base import SensorBase, check_names, check_pin, driver_call, hz_list

__all__ = ["Playback", "Accelerometer", "ADC", "Microphone", "Custom"]

_TYPECODES = tuple(_fmt.TYPECODES)
# part -> (driver class, addresses, address pin hint, counts per g by range)
_PARTS = {
    "mpu6050": ("MPU6050", (0x68, 0x69), "AD0 low: 0x68, high: 0x69",
                _drv.MPU6050_COUNTS_PER_G),
    "lis3dh": ("LIS3DH", (0x18, 0x19), "SDO/SA0 low: 0x18, high: 0x19",
               _drv.LIS3DH_COUNTS_PER_G),
}


class Playback(SensorBase):
    """The recording pushed with ``dev.playback(recording)``, played at its sample rate and
    looping (the virtual device's sensor; on a board, it tests an app without the hardware).

    Parameters
    ----------
    realtime : bool
        False delivers samples as fast as the file is read (for throughput tests).

    Attributes ``samplerate_hz``, ``channels``, ``typecode``, ``units``, ``kind`` and
    ``full_scale`` are None until the recording is known: build with :meth:`of`.

    Examples
    --------
    >>> import numpy as np, emlearn_lab as eml
    >>> from emlearn_lab.app.sensors import Playback
    >>> s = Playback.of(eml.Recording(np.zeros((10, 3), np.int16), 50, channels="xyz"))
    >>> s.samplerate_hz, s.channels, s.typecode
    (50.0, ('x', 'y', 'z'), 'h')
    >>> s.device_expr()
    "emlab_sensor.PlaybackSensor('emlab_playback.bin', True)"
    """
    modules = ("emlab_sensor",)
    _params = ("realtime",)

    def __init__(self, realtime: bool = True):
        if not isinstance(realtime, bool):
            raise invalid("realtime", realtime, "a bool", owner="Playback")
        self.realtime = realtime
        self.recording = None
        self.samplerate_hz = self.channels = self.typecode = None
        self.units = self.kind = self.full_scale = None

    @classmethod
    def of(cls, recording, realtime: bool = True) -> "Playback":
        """The playback sensor for ``recording``, with its rate, channels and sample type
        (the dtype the device plays it in: int16, int32 or float32; see
        ``device.record.playback_bytes``). Raises InputError if it cannot be played back."""
        from ..device.record import _pace, _typecode
        from ..recordings.recording import Recording
        if not isinstance(recording, Recording):
            raise invalid("recording", recording, "an emlearn_lab Recording",
                          owner="Playback.of",
                          remedy="Wrap arrays with eml.Recording(data, samplerate_hz=...).")
        sensor = cls(realtime)
        _pace(recording.samplerate_hz)
        sensor.recording = recording
        sensor.typecode = _typecode(recording.data)
        sensor.samplerate_hz = float(recording.samplerate_hz)
        sensor.channels, sensor.units = tuple(recording.channels), tuple(recording.units)
        sensor.kind, sensor.full_scale = recording.kind, recording.full_scale
        return sensor

    def device_expr(self) -> str:
        from ..device.record import PLAYBACK_PATH
        return f"emlab_sensor.PlaybackSensor({PLAYBACK_PATH!r}, {self.realtime!r})"

    def __repr__(self) -> str:
        if self.recording is None:
            return super().__repr__()
        return f"Playback.of({self.recording!r}, realtime={self.realtime!r})"


class Accelerometer(SensorBase):
    """A 3-axis I2C accelerometer: raw int16 counts ('h'), channels x, y, z, units "g";
    ``full_scale`` is the counts per g, so ``data / full_scale`` is in g.

    Parameters
    ----------
    part : {"mpu6050", "lis3dh"}
        MPU6050: rates 1000 / k Hz (k in 1..256), 16-bit counts. LIS3DH: rates 1, 10, 25,
        50, 100, 200, 400 Hz, 12-bit counts (high-resolution mode).
    i2c_id : int or "soft"
        Hardware I2C bus id, or "soft" for a bit-banged bus (needs both pins).
    sda, scl : int or str, optional
        Pins (numbers or names); None for both: the port's default pins for the bus.
    address : int, optional
        I2C address; default the part's (0x68; 0x18), the other one with its address pin high.
    samplerate_hz : float
    range_g : {2, 4, 8, 16}
        Full-scale range, +- g.

    Raises
    ------
    InputError
        A value the part cannot take, e.g. a rate the MPU6050 cannot make exactly (the
        message names the nearest ones).

    Examples
    --------
    >>> Accelerometer("mpu6050", 0, sda=4, scl=5, samplerate_hz=100).device_expr()
    'emlab_drivers.MPU6050(emlab_drivers.i2c_bus(0, 4, 5), 104, 100.0, 2)'
    """
    typecode = "h"
    channels = ("x", "y", "z")
    units = "g"
    _params = ("part", "i2c_id", "sda", "scl", "address", "samplerate_hz", "range_g")

    def __init__(self, part: str = "mpu6050", i2c_id: int | str = 0, sda=None, scl=None,
                 address: int | None = None, samplerate_hz: float = 100, range_g: int = 2):
        owner = "Accelerometer"
        self.part = one_of("part", part, tuple(_PARTS), owner=owner)
        driver, addresses, pins, counts_per_g = _PARTS[part]
        if i2c_id != "soft":    # (ints made plain int: a numpy int's repr is np.int64(0))
            i2c_id = int(int_in("i2c_id", i2c_id, 0, owner=owner,
                                remedy="Or 'soft' for a bit-banged bus (machine.SoftI2C)."))
        self.i2c_id = i2c_id
        self.sda = check_pin("sda", sda, owner, optional=True)
        self.scl = check_pin("scl", scl, owner, optional=True)
        if (sda is None) != (scl is None):
            missing, given = ("scl", "sda") if scl is None else ("sda", "scl")
            raise invalid(missing, None, f"a pin when {given} is given", owner=owner,
                          remedy="Give both sda and scl, or neither for the bus's default "
                          "pins.")
        if i2c_id == "soft" and sda is None:
            raise invalid("sda", None, "a pin when i2c_id is 'soft'", owner=owner,
                          remedy="A bit-banged bus has no default pins: give sda and scl.")
        where = f"The {driver} answers at {pins}."
        self.address = addresses[0] if address is None else one_of(
            "address", int(int_in("address", address, 0, 127, owner=owner, remedy=where)),
            addresses, owner=owner, remedy=where)
        rate = float(number_in("samplerate_hz", samplerate_hz, 0, low_open=True, owner=owner))
        if part == "mpu6050":
            div = _drv.mpu6050_divider(rate)
            if div is None:
                raise invalid("samplerate_hz", samplerate_hz, "1000 Hz / k for an int k in "
                              "[1, 256] (the MPU6050's sample-rate divider)", owner=owner,
                              remedy=f"Nearest: {hz_list(_drv.mpu6050_nearest(rate))}.")
            self.samplerate_hz = _drv.MPU6050_BASE_HZ / (div + 1)
        else:
            if rate not in _drv.LIS3DH_ODR_HZ:
                one_of("samplerate_hz", samplerate_hz, _drv.LIS3DH_ODR_HZ, owner=owner,
                       remedy=f"Nearest: {hz_list(_drv.lis3dh_nearest(rate))}.")
            self.samplerate_hz = rate
        self.range_g = int(one_of("range_g", range_g, _drv.RANGES_G, owner=owner))
        self.full_scale = float(counts_per_g[range_g])
        self._driver = driver

    def device_expr(self) -> str:
        pins = () if self.sda is None else (self.sda, self.scl)
        bus = driver_call("i2c_bus", self.i2c_id, *pins)
        rate = self.samplerate_hz if self.part == "mpu6050" else int(self.samplerate_hz)
        return (f"emlab_drivers.{self._driver}({bus}, {self.address!r}, {rate!r}, "
                f"{self.range_g!r})")


class ADC(SensorBase):
    """An analogue input read with ``machine.ADC(pin).read_u16()`` at ``samplerate_hz``,
    paced by a ``machine.Timer`` interrupt: one channel "adc" of counts 0..65535 in int32
    ('i', as int16 cannot hold them).

    Parameters
    ----------
    pin : int or str
        What the port's ``machine.ADC()`` takes as an int (an ADC channel or GPIO number), or a
        pin name.
    samplerate_hz : int
        1 to 20000; one Python callback per sample, so high rates cost CPU time.
    timer_id : int
        ``machine.Timer`` id: -1 (a virtual timer: RP2, ESP8266, STM32) or, on ESP32, 0..3.
    buffer_frames : int
        Samples buffered between ``read_into`` calls; if it fills, the device raises OSError
        (samples were lost).

    Examples
    --------
    >>> ADC(26, 1000).device_expr()
    'emlab_drivers.ADCSensor(26, 1000, -1, 64)'
    """
    typecode = "i"
    channels = ("adc",)
    units = "counts"
    _params = ("pin", "samplerate_hz", "timer_id", "buffer_frames")

    def __init__(self, pin, samplerate_hz: int, *, timer_id: int = -1,
                 buffer_frames: int = 64):
        self.pin = check_pin("pin", pin, "ADC")
        self.samplerate_hz = int(int_in("samplerate_hz", samplerate_hz, 1, _drv.MAX_ADC_HZ,
                                        owner="ADC"))
        self.timer_id = int(int_in("timer_id", timer_id, -1, owner="ADC"))
        self.buffer_frames = int(int_in("buffer_frames", buffer_frames, 2, 65536,
                                        owner="ADC"))

    def device_expr(self) -> str:
        return driver_call("ADCSensor", self.pin, self.samplerate_hz, self.timer_id,
                     self.buffer_frames)


class Microphone(SensorBase):
    """A mono I2S microphone (``machine.I2S`` in RX mode): int16 samples ('h'), kind "audio",
    ``full_scale`` 32768.

    Parameters
    ----------
    i2s_id : int
    sck, ws, sd : int or str
        Bit clock, word select and data pins.
    samplerate_hz : int
        8000 to 96000.
    bits : {16, 32}
        I2S slot width; 32 for 24-bit MEMS microphones (e.g. INMP441): the device keeps the
        upper 16 bits of each slot.
    ibuf : int
        The port's internal sample buffer, in bytes.

    Examples
    --------
    >>> Microphone(0, sck=32, ws=25, sd=33, bits=32).device_expr()
    'emlab_drivers.I2SMicrophone(0, 32, 25, 33, 16000, 32, 8192)'
    """
    typecode = "h"
    channels = ("mic",)
    kind = "audio"
    full_scale = 32768.0
    _params = ("i2s_id", "sck", "ws", "sd", "samplerate_hz", "bits", "ibuf")

    def __init__(self, i2s_id: int, sck, ws, sd, samplerate_hz: int = 16000, *,
                 bits: int = 16, ibuf: int = 8192):
        owner = "Microphone"
        self.i2s_id = int(int_in("i2s_id", i2s_id, 0, owner=owner))
        self.sck, self.ws, self.sd = (check_pin(n, v, owner) for n, v in
                                      (("sck", sck), ("ws", ws), ("sd", sd)))
        self.samplerate_hz = int(int_in("samplerate_hz", samplerate_hz, 8000, 96000,
                                        owner=owner))
        self.bits = int(one_of("bits", bits, (16, 32), owner=owner))
        self.ibuf = int(int_in("ibuf", ibuf, 1024, owner=owner))

    def device_expr(self) -> str:
        return driver_call("I2SMicrophone", self.i2s_id, self.sck, self.ws, self.sd,
                     self.samplerate_hz, self.bits, self.ibuf)


class Custom(SensorBase):
    """A sensor from any driver: ``expr`` is evaluated on the device like
    ``emlab_sensor.open_sensor(expr)`` (its leading module name is imported) and must return
    an object with ``samplerate_hz``, ``channels``, ``units``, ``typecode`` and
    ``read_into(buf)`` (see ``device_src/emlab_sensor.py``). What it will report is told here,
    so the host can plan the app without the board.

    Parameters
    ----------
    expr : str
        E.g. ``"mysensors.IMU(rate=52)"``; your module must already be on the device. Only
        the leading name is imported, so other modules (``machine``) belong inside your
        module's code, or use ``emlab_drivers.i2c_bus(...)`` for a bus.
    samplerate_hz : float
    channels : sequence of str
    typecode : {"h", "i", "f"}
        int16, int32 or float32 samples.
    units : str or sequence of str
    kind : {"signal", "audio"}
    full_scale : float, optional
    modules : sequence of str
        ``device_src`` modules the expression needs pushed, e.g. ``("emlab_drivers",)`` to
        build on ``emlab_drivers.i2c_bus``.

    Examples
    --------
    >>> Custom("mysensors.IMU()", samplerate_hz=52, channels=("x", "y"), typecode="f")
    Custom(expr='mysensors.IMU()', samplerate_hz=52.0, channels=('x', 'y'), typecode='f', \
units='', kind='signal', full_scale=None, modules=())
    """
    _params = ("expr", "samplerate_hz", "channels", "typecode", "units", "kind",
               "full_scale", "modules")

    def __init__(self, expr: str, *, samplerate_hz: float, channels, typecode: str,
                 units="", kind: str = "signal", full_scale: float | None = None,
                 modules=()):
        owner = "Custom"
        if not (isinstance(expr, str) and expr.strip()):
            raise invalid("expr", expr, "a Python expression (str)", owner=owner,
                          remedy="E.g. 'mysensors.IMU()'.")
        try:
            ast.parse(expr.strip(), mode="eval")
        except SyntaxError as e:
            raise invalid("expr", expr, "a Python expression", owner=owner,
                          remedy=f"It does not parse: {e.msg}.") from None
        self.expr = expr.strip()
        self.samplerate_hz = float(number_in("samplerate_hz", samplerate_hz, 0, 1e12,
                                             low_open=True, owner=owner))
        self.channels = check_names("channels", channels, owner, _fmt.MAX_CHANNELS)
        self.typecode = one_of("typecode", typecode, _TYPECODES, owner=owner,
                               remedy="'h': int16, 'i': int32, 'f': float32.")
        if not (isinstance(units, str) or (
                isinstance(units, (list, tuple)) and len(units) == len(self.channels)
                and all(isinstance(u, str) for u in units))):
            raise invalid("units", units, f"a str or {len(self.channels)} str (one per "
                          "channel)", owner=owner)
        self.units = units if isinstance(units, str) else tuple(units)
        self.kind = one_of("kind", kind, _fmt.KINDS, owner=owner)
        self.full_scale = None if full_scale is None else float(number_in(
            "full_scale", full_scale, 0, low_open=True, owner=owner))
        self.modules = check_names("modules", modules, owner, 64, allow_empty=True)
        src = resources.files("emlearn_lab.device_src")
        for name in self.modules:
            if not (name.isidentifier() and src.joinpath(name + ".py").is_file()):
                raise invalid("modules", modules, "names of emlearn_lab device_src modules "
                              "(e.g. 'emlab_drivers')", owner=owner,
                              remedy=f"{name!r} is not one: copy your own modules to the "
                              "device (dev.write_file) and leave them out of modules.")

    def device_expr(self) -> str:
        return self.expr

