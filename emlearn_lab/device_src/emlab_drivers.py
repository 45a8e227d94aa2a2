# Sensor drivers for apps running on a board: two I2C accelerometers (MPU6050, LIS3DH), an
# ADC sampled by a timer and an I2S microphone. Each is a sensor as emlab_sensor.py defines it
# (samplerate_hz, channels, units, typecode, read_into(buf) blocking until the frames have been
# sampled), paced by the hardware: the accelerometers' data-ready flag, the ADC's timer
# interrupt, the I2S clock. Nothing here sleeps to pace.
#
# Pure Python, MicroPython and CPython: the host imports this module for its rate tables and
# runs the drivers in unit tests against register-file stand-ins. Only i2c_bus() and the
# default ADC, timer and I2S objects need the machine module.
import array

try:
    import machine
except ImportError:  # CPython (host unit tests)
    machine = None
try:
    from time import ticks_diff as _ticks_diff
    from time import ticks_us as _ticks_us
except ImportError:  # CPython
    import time

    def _ticks_us():
        return time.monotonic_ns() // 1000

    def _ticks_diff(a, b):
        return a - b

RANGES_G = (2, 4, 8, 16)
# MPU6050 (register map rev 4.2): the accelerometer outputs 1 kHz; with the DLPF on
# (DLPF_CFG 1..6) the gyro does too, and the sample rate is 1 kHz / (1 + SMPLRT_DIV).
MPU6050_BASE_HZ = 1000
MPU6050_MAX_DIV = 255
MPU6050_DLPF_HZ = (184, 94, 44, 21, 10, 5)   # accelerometer bandwidth of DLPF_CFG 1..6
LIS3DH_ODR_HZ = (1, 10, 25, 50, 100, 200, 400)  # CTRL_REG1 ODR codes 1..7
# Counts per g, the sensors' full_scale, so that data / full_scale is in g (as
# Recording.as_float() divides): MPU6050 datasheet 6.2 (16384 LSB/g at +-2 g); LIS3DH datasheet
# table 4, high-resolution mode, after the >> 4 (1, 2, 4 and 12 mg/digit: +-16 g is 12, not 8).
MPU6050_COUNTS_PER_G = {2: 16384, 4: 8192, 8: 4096, 16: 2048}
LIS3DH_COUNTS_PER_G = {2: 1000, 4: 500, 8: 250, 16: 1000 / 12}
# The data-ready wait gives up after 100 sample periods plus this start-up allowance.
_STARTUP_US = 100000


def _near(a, b):
    return abs(a - b) <= 1e-5 * b   # a rate passed through a 32-bit float still matches


def _is_rate(rate):
    return isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 < rate < 1e9


def mpu6050_divider(rate):
    """SMPLRT_DIV making rate exactly, or None."""
    if not _is_rate(rate):
        return None
    k = int(MPU6050_BASE_HZ / rate + 0.5)
    if 1 <= k <= MPU6050_MAX_DIV + 1 and _near(MPU6050_BASE_HZ / k, rate):
        return k - 1
    return None


def mpu6050_nearest(rate):
    """The one or two MPU6050 rates either side of rate, ascending."""
    q = int(MPU6050_BASE_HZ / rate)
    ks = [min(max(k, 1), MPU6050_MAX_DIV + 1) for k in (q + 1, q)]
    return sorted(set(MPU6050_BASE_HZ / k for k in ks))


def lis3dh_nearest(rate):
    """The one or two LIS3DH output data rates either side of rate, ascending."""
    below = [r for r in LIS3DH_ODR_HZ if r <= rate]
    above = [r for r in LIS3DH_ODR_HZ if r >= rate]
    return sorted(set(below[-1:] + above[:1]))


def _hz(rates):
    return " or ".join("%g Hz" % r for r in rates)


def i2c_bus(bus_id=0, sda=None, scl=None, freq=400000):
    """machine.I2C(bus_id) on pins sda, scl (numbers or names; None: the port's default pins),
    or a bit-banged machine.SoftI2C when bus_id is "soft". 400 kHz: both parts' fast mode."""
    if machine is None:
        raise OSError("i2c_bus needs the machine module (a board's MicroPython)")
    if (sda is None) != (scl is None):
        raise ValueError("i2c_bus: give both sda and scl pins or neither, got sda=%r scl=%r"
                         % (sda, scl))
    if bus_id == "soft":
        if sda is None:
            raise ValueError("i2c_bus('soft') needs sda and scl pins")
        return machine.SoftI2C(scl=machine.Pin(scl), sda=machine.Pin(sda), freq=freq)
    if sda is None:
        return machine.I2C(bus_id, freq=freq)
    return machine.I2C(bus_id, scl=machine.Pin(scl), sda=machine.Pin(sda), freq=freq)


def _scan(i2c):
    try:
        return "[%s]" % ", ".join("0x%02x" % a for a in i2c.scan())
    except Exception:
        return "unknown"


def _range_code(part, range_g):
    if range_g not in RANGES_G:
        raise ValueError("%s range_g=%r: expected one of 2, 4, 8, 16 (g)" % (part, range_g))
    return RANGES_G.index(range_g)


class _I2CAccel:
    """What the two accelerometers share: the register file over I2C, the identity check and
    the bounded data-ready wait. read_into allocates nothing (preallocated 1- and 6-byte
    buffers, while loops), so a frame costs two or more short I2C reads and no GC pressure."""
    typecode = "h"
    units = "g"
    kind = "signal"
    part = ""
    who_am_i = (0, 0)   # (register, value the part reads)
    addresses = ""      # which address pin setting gives which address, for messages

    def _open(self, i2c, address, channels, rate):
        channels = tuple(channels)
        if len(channels) != 3:
            raise ValueError("%s channels=%r: expected three names, for x, y and z"
                             % (self.part, channels))
        self.channels = channels
        self.address = address
        self.samplerate_hz = rate
        self._i2c = i2c
        self._one = bytearray(1)
        self._raw = bytearray(6)
        self._timeout_us = int(100 * 1000000 / rate) + _STARTUP_US
        reg, want = self.who_am_i
        try:
            got = self._read(reg)
        except OSError as e:
            raise OSError("%s: no answer at I2C address 0x%02x (%s); devices on the bus: %s. "
                          "Check the wiring, the pull-ups and the address (%s)"
                          % (self.part, address, e, _scan(i2c), self.addresses))
        if got != want:
            raise OSError("%s at I2C address 0x%02x: WHO_AM_I (register 0x%02x) reads 0x%02x, "
                          "expected 0x%02x: another part answers at this address"
                          % (self.part, address, reg, got, want))

    def _read(self, reg):
        self._i2c.readfrom_mem_into(self.address, reg, self._one)
        return self._one[0]

    def _write(self, reg, value):
        self._one[0] = value
        self._i2c.writeto_mem(self.address, reg, self._one)

    def _wait(self, reg, mask):
        # Polls the status register until a bit of mask is set; returns the status byte.
        status = self._read(reg)
        if status & mask:
            return status
        t0 = _ticks_us()
        while True:
            status = self._read(reg)
            if status & mask:
                return status
            if _ticks_diff(_ticks_us(), t0) > self._timeout_us:
                raise OSError("%s at I2C address 0x%02x: no new sample within %d ms (100 "
                              "sample periods + start-up): status register 0x%02x never "
                              "flagged data ready. Was the part reset or reconfigured?"
                              % (self.part, self.address, self._timeout_us // 1000, reg))

    def _check_buf(self, buf):
        n = len(buf)
        if n % 3:
            raise ValueError("buffer of %d samples is not whole frames of 3 channels" % n)
        return n


class MPU6050(_I2CAccel):
    """InvenSense MPU-6050 accelerometer: 3 channels of raw int16 counts ('h'); full_scale is
    the counts per g (data / full_scale is in g). samplerate_hz must be 1000 / k Hz, k in
    1..256. The DLPF is set to the widest bandwidth below half the rate (5 Hz at least)."""
    part = "MPU6050"
    who_am_i = (0x75, 0x68)
    addresses = "AD0 low: 0x68, high: 0x69"

    def __init__(self, i2c, address=0x68, samplerate_hz=100, range_g=2,
                 channels=("x", "y", "z")):
        div = mpu6050_divider(samplerate_hz)
        if div is None:
            raise ValueError("MPU6050 samplerate_hz=%r: the part samples at 1000 Hz / (1 + "
                             "SMPLRT_DIV), SMPLRT_DIV 0..255; nearest rates: %s"
                             % (samplerate_hz, _hz(mpu6050_nearest(samplerate_hz))
                                if _is_rate(samplerate_hz) else "1000 Hz / k"))
        afs = _range_code(self.part, range_g)
        rate = MPU6050_BASE_HZ / (div + 1)
        self._open(i2c, address, channels, rate)
        self.full_scale = MPU6050_COUNTS_PER_G[range_g]
        dlpf = len(MPU6050_DLPF_HZ)
        for i, bw in enumerate(MPU6050_DLPF_HZ):
            if bw <= rate / 2:
                dlpf = i + 1
                break
        self._write(0x6B, 0x01)       # PWR_MGMT_1: wake (clear SLEEP), clock from the X gyro's
        #                               PLL, which the register map recommends over the 8 MHz
        #                               oscillator for accuracy
        self._write(0x19, div)        # SMPLRT_DIV
        self._write(0x1A, dlpf)       # CONFIG: DLPF_CFG (FSYNC off)
        self._write(0x1C, afs << 3)   # ACCEL_CONFIG: AFS_SEL in bits 4:3
        self._write(0x38, 0x01)       # INT_ENABLE: DATA_RDY_EN, so INT_STATUS flags samples
        self._read(0x3A)              # INT_STATUS clears on read: drop a flag set before now

    def read_into(self, buf):
        n = self._check_buf(buf)
        i2c, address, raw = self._i2c, self.address, self._raw
        j = 0
        while j < n:
            self._wait(0x3A, 0x01)    # INT_STATUS.DATA_RDY_INT (cleared by this read)
            i2c.readfrom_mem_into(address, 0x3B, raw)   # ACCEL_XOUT_H .. ACCEL_ZOUT_L
            # Big-endian int16s: X_H, X_L, Y_H, Y_L, Z_H, Z_L.
            v = raw[0] << 8 | raw[1]
            buf[j] = v - 65536 if v & 0x8000 else v
            v = raw[2] << 8 | raw[3]
            buf[j + 1] = v - 65536 if v & 0x8000 else v
            v = raw[4] << 8 | raw[5]
            buf[j + 2] = v - 65536 if v & 0x8000 else v
            j += 3

    def close(self):
        self._write(0x6B, 0x41)       # PWR_MGMT_1: SLEEP


class LIS3DH(_I2CAccel):
    """ST LIS3DH accelerometer in high-resolution mode: 3 channels of 12-bit counts in int16
    ('h'), -2048..2047; full_scale is the counts per g. samplerate_hz one of 1, 10, 25, 50,
    100, 200, 400. overruns counts the times the part flagged a sample overwritten before it
    was read (ZYXOR): at least one frame was lost each time, as read_into was called late."""
    part = "LIS3DH"
    who_am_i = (0x0F, 0x33)
    addresses = "SDO/SA0 low: 0x18, high: 0x19"

    def __init__(self, i2c, address=0x18, samplerate_hz=100, range_g=2,
                 channels=("x", "y", "z")):
        if samplerate_hz not in LIS3DH_ODR_HZ:
            raise ValueError("LIS3DH samplerate_hz=%r: the part's output data rates are 1, 10, "
                             "25, 50, 100, 200 and 400 Hz; nearest: %s"
                             % (samplerate_hz, _hz(lis3dh_nearest(samplerate_hz))
                                if _is_rate(samplerate_hz) else "100 Hz"))
        fs = _range_code(self.part, range_g)
        self._open(i2c, address, channels, samplerate_hz)
        self.full_scale = LIS3DH_COUNTS_PER_G[range_g]
        self.overruns = 0
        odr = LIS3DH_ODR_HZ.index(samplerate_hz) + 1
        self._write(0x20, odr << 4 | 0x07)   # CTRL_REG1: ODR, LPen 0 (not low-power), ZYX on
        # CTRL_REG4: BDU (a sample's low and high bytes come from the same sample), FS, HR.
        self._write(0x23, 0x80 | fs << 4 | 0x08)

    def read_into(self, buf):
        n = self._check_buf(buf)
        i2c, address, raw = self._i2c, self.address, self._raw
        j = 0
        while j < n:
            if self._wait(0x27, 0x08) & 0x80:    # STATUS_REG: ZYXDA; ZYXOR
                self.overruns += 1
            # OUT_X_L with the sub-address MSB set: the address auto-increments over 6 bytes.
            i2c.readfrom_mem_into(address, 0x28 | 0x80, raw)
            # Little-endian int16s (BLE 0) holding the 12-bit high-resolution value
            # left-justified (the datasheet's output registers are left-justified two's
            # complement): an arithmetic shift right by 4 gives the signed 12-bit count.
            v = raw[0] | raw[1] << 8
            buf[j] = (v - 65536 if v & 0x8000 else v) >> 4
            v = raw[2] | raw[3] << 8
            buf[j + 1] = (v - 65536 if v & 0x8000 else v) >> 4
            v = raw[4] | raw[5] << 8
            buf[j + 2] = (v - 65536 if v & 0x8000 else v) >> 4
            j += 3

    def close(self):
        self._write(0x20, 0x07)       # CTRL_REG1: ODR 0, power-down


def _pin(p):
    return machine.Pin(p) if isinstance(p, (int, str)) else p


def _no_machine(who, instead):
    return OSError("%s needs the machine module (a board's MicroPython), or pass %s"
                   % (who, instead))


MAX_ADC_HZ = 20000   # one Python timer callback per sample: ports manage a few kHz to 20 kHz


class ADCSensor:
    """machine.ADC(pin).read_u16() sampled by a machine.Timer at samplerate_hz (an int).
    typecode 'i': read_u16 spans 0..65535, which int16 cannot hold. The timer callback stores
    each sample in a ring of buffer_frames (allocating nothing, so a hard interrupt may run it)
    and read_into copies them out, waiting with idle() for the next interrupt when the ring is
    empty. The timer starts at the first read_into. If the ring fills, the samples that do not
    fit are lost and read_into raises OSError saying how many.

    pin: an ADC id or pin number for machine.ADC, or a pin name (str, made a machine.Pin).
    timer_id: machine.Timer id (-1: a virtual timer where the port has them; ESP32: 0..3).
    adc(pin), timer(timer_id) and idle(): factories replacing machine.ADC, machine.Timer and
    machine.idle, for tests off the board."""
    typecode = "i"
    channels = ("adc",)
    units = "counts"
    kind = "signal"
    full_scale = None

    def __init__(self, pin, samplerate_hz, timer_id=-1, buffer_frames=64, adc=None,
                 timer=None, idle=None):
        if not (isinstance(samplerate_hz, int) and 1 <= samplerate_hz <= MAX_ADC_HZ):
            raise ValueError("ADCSensor samplerate_hz=%r: expected an int in 1..%d (Hz)"
                             % (samplerate_hz, MAX_ADC_HZ))
        if not (isinstance(buffer_frames, int) and buffer_frames >= 2):
            raise ValueError("ADCSensor buffer_frames=%r: expected an int >= 2"
                             % (buffer_frames,))
        if machine is None and None in (adc, timer, idle):
            raise _no_machine("ADCSensor", "adc, timer and idle factories")
        self.samplerate_hz = samplerate_hz
        self.timer_id = timer_id
        if adc is None:   # a str names a pin; an int is what the port's ADC() takes
            adc = machine.ADC
            pin = machine.Pin(pin) if isinstance(pin, str) else pin
        self._adc = adc(pin)
        self._make_timer = timer or machine.Timer
        self._idle = idle or machine.idle
        self._timer = None
        # Ring indices run modulo 2 * n (full and empty differ); the callback writes only
        # _head and _lost, read_into only _tail: no update races with the other.
        self._n = buffer_frames
        self._wrap = 2 * buffer_frames
        self._ring = array.array("H", bytes(2 * buffer_frames))
        self._head = self._tail = self._lost = self._lost_seen = 0
        self._timeout_us = int(100 * 1000000 / samplerate_hz) + _STARTUP_US
        self._callback = self._sample   # one bound method, made here and not per interrupt

    def _sample(self, _timer):
        h = self._head
        if (h - self._tail) % self._wrap >= self._n:
            self._lost += 1
            return
        self._ring[h % self._n] = self._adc.read_u16()
        self._head = (h + 1) % self._wrap

    def _check_lost(self):
        lost = self._lost
        if lost != self._lost_seen:
            missed = lost - self._lost_seen
            self._lost_seen = lost
            raise OSError("ADCSensor: the ring of %d frames was full and %d samples were "
                          "lost; call read_into more often (smaller blocks), or pass a larger "
                          "buffer_frames or a lower samplerate_hz" % (self._n, missed))

    def read_into(self, buf):
        if self._timer is None:
            t = self._make_timer(self.timer_id)
            t.init(freq=self.samplerate_hz, mode=t.PERIODIC, callback=self._callback)
            self._timer = t
        self._check_lost()
        n = len(buf)
        ring, size, wrap = self._ring, self._n, self._wrap   # (3 names: no tuple allocated)
        i = 0
        while i < n:
            t = self._tail
            if t == self._head:
                t0 = _ticks_us()
                while t == self._head:
                    self._idle()
                    if _ticks_diff(_ticks_us(), t0) > self._timeout_us:
                        raise OSError("ADCSensor: no sample from timer %r within %d ms (100 "
                                      "sample periods + start-up): is its callback running?"
                                      % (self.timer_id, self._timeout_us // 1000))
            buf[i] = ring[t % size]
            self._tail = (t + 1) % wrap
            i += 1
        self._check_lost()

    def close(self):
        if self._timer is not None:
            self._timer.deinit()
            self._timer = None


class I2SMicrophone:
    """A mono I2S microphone, machine.I2S(id, ..., mode=RX, format=MONO), as int16 samples
    ('h', full_scale 32768). bits=16 reads the samples straight into the caller's buffer;
    bits=32 (24-bit MEMS parts such as the INMP441 send 32-bit slots) reads a preallocated
    bytearray a chunk at a time and keeps the upper 16 bits of each little-endian slot (the
    24-bit sample's 16 most significant bits). Paced by the I2S clock: readinto blocks until
    the DMA has the samples. ibuf: the port's internal buffer, in bytes. Which slot MONO reads
    depends on the port: silence means flipping the microphone's L/R select pin. i2s: an
    opened object with readinto(buf), replacing machine.I2S, for tests off the board."""
    typecode = "h"
    channels = ("mic",)
    units = ""
    kind = "audio"
    full_scale = 32768
    _CHUNK = 256   # 32-bit slots converted per readinto

    def __init__(self, id, sck, ws, sd, samplerate_hz=16000, bits=16, ibuf=8192, i2s=None):
        if bits not in (16, 32):
            raise ValueError("I2SMicrophone bits=%r: expected 16 or 32 (the I2S slot width)"
                             % (bits,))
        if not (isinstance(samplerate_hz, int) and samplerate_hz > 0):
            raise ValueError("I2SMicrophone samplerate_hz=%r: expected a positive int (Hz)"
                             % (samplerate_hz,))
        if i2s is None:
            if machine is None:
                raise _no_machine("I2SMicrophone", "an i2s object")
            i2s = machine.I2S(id, sck=_pin(sck), ws=_pin(ws), sd=_pin(sd),
                              mode=machine.I2S.RX, bits=bits, format=machine.I2S.MONO,
                              rate=samplerate_hz, ibuf=ibuf)
        self.samplerate_hz = samplerate_hz
        self.bits = bits
        self._i2s = i2s
        self._raw = bytearray(4 * self._CHUNK) if bits == 32 else None
        self._mv = memoryview(self._raw) if bits == 32 else None

    def _fill(self, mv):
        got = self._i2s.readinto(mv)
        if not got:
            raise OSError("I2SMicrophone: the I2S read returned no data")
        return got

    def read_into(self, buf):
        n = len(buf)
        i = 0
        if self.bits == 16:
            mv = memoryview(buf)
            while i < n:
                i += self._fill(mv[i:]) // 2
            return
        raw = self._raw
        while i < n:
            k = min(n - i, self._CHUNK)
            k = self._fill(self._mv[:4 * k]) // 4
            s = 0
            while s < k:
                v = raw[4 * s + 2] | raw[4 * s + 3] << 8
                buf[i + s] = v - 65536 if v & 0x8000 else v
                s += 1
            i += k

    def close(self):
        self._i2s.deinit()
