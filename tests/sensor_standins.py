"""Stand-ins for sensor hardware, for tests/test_sensors.py: the register files of an MPU-6050
and a LIS3DH as their register maps describe them, an ADC, a timer and an I2S receiver.

They check the drivers' register sequence and sample conversion against the datasheets'
register maps; they are not the real parts (no analogue behaviour, no bus timing, time is
counted in status-register polls). The same file runs under CPython and on the MicroPython
unix port (pushed by the test), so it uses only what both have. The run_* scenarios return
plain literals (dicts of ints, floats, str, lists) that the host reads back with dev.eval.
"""
import array
import struct

try:
    import micropython
    _lock, _unlock = micropython.heap_lock, micropython.heap_unlock
    HEAP_LOCK = True
except (ImportError, AttributeError):  # CPython: nothing to lock
    def _lock():
        pass
    _unlock = _lock
    HEAP_LOCK = False


class _Part:
    """A part on an I2C bus: a register file, one sample latched per ``polls_per_sample`` polls
    of the status register (0: never), no answer (OSError 19, ENODEV) at other addresses."""

    address = 0
    who_am_i = 0

    def __init__(self, samples, address=None, who_am_i=None, polls_per_sample=3):
        self.address = self.address if address is None else address
        self.regs = bytearray(0x80)
        self.samples = samples
        self.produced = 0
        self.polls = 0
        self.since = 0
        self.polls_per_sample = polls_per_sample
        self.writes = []
        self._init(self.who_am_i if who_am_i is None else who_am_i)

    def scan(self):
        return [self.address]

    def _bus(self, addr):
        if addr != self.address:
            raise OSError(19)

    def writeto_mem(self, addr, reg, data):
        self._bus(addr)
        for i in range(len(data)):
            self.regs[reg + i] = data[i]
            self.writes.append((reg + i, data[i]))

    def advance(self, periods):
        """Let sample periods pass without polls (the app busy elsewhere)."""
        for _ in range(periods):
            self._latch()
        self.since = 0

    def _poll(self):
        self.polls += 1
        self.since += 1
        if self.polls_per_sample and self.since >= self.polls_per_sample:
            self.since = 0
            self._latch()

    def _latch(self):
        if self.produced < len(self.samples) and self._running():
            self._store(self.samples[self.produced])
            self.produced += 1


class MPU6050Part(_Part):
    """MPU-6050 (register map rev 4.2): PWR_MGMT_1 resets to SLEEP; a sample is latched into
    ACCEL_XOUT_H..ACCEL_ZOUT_L big-endian; INT_STATUS bit 0 is set only if INT_ENABLE's
    DATA_RDY_EN is, and reading INT_STATUS clears it."""
    address = 0x68
    who_am_i = 0x68

    def _init(self, who_am_i):
        self.regs[0x6B] = 0x40
        self.regs[0x75] = who_am_i

    def _running(self):
        return not self.regs[0x6B] & 0x40

    def _store(self, xyz):
        i = 0
        while i < 3:
            v = xyz[i] & 0xFFFF
            self.regs[0x3B + 2 * i] = v >> 8
            self.regs[0x3C + 2 * i] = v & 0xFF
            i += 1
        if self.regs[0x38] & 0x01:
            self.regs[0x3A] |= 0x01

    def readfrom_mem_into(self, addr, reg, buf):
        self._bus(addr)
        if reg == 0x3A:
            self._poll()
            buf[0] = self.regs[0x3A]
            self.regs[0x3A] &= 0xFE
            return
        i = 0
        while i < len(buf):
            buf[i] = self.regs[reg + i]
            i += 1


class LIS3DHPart(_Part):
    """LIS3DH: CTRL_REG1 resets to power-down (ODR 0); samples latched into OUT_X_L..OUT_Z_H
    little-endian, 12-bit values left-justified; the register address auto-increments only
    with the sub-address MSB set (else a multi-byte read repeats one register); STATUS_REG's
    ZYXDA is set by a new sample, ZYXOR when it overwrites an unread one, both cleared by
    reading OUT_Z_H."""
    address = 0x18
    who_am_i = 0x33

    def _init(self, who_am_i):
        self.regs[0x0F] = who_am_i
        self.regs[0x20] = 0x07

    def _running(self):
        return self.regs[0x20] >> 4 != 0

    def _store(self, xyz):
        i = 0
        while i < 3:
            v = (xyz[i] << 4) & 0xFFFF
            self.regs[0x28 + 2 * i] = v & 0xFF
            self.regs[0x29 + 2 * i] = v >> 8
            i += 1
        status = self.regs[0x27]
        self.regs[0x27] = status | 0x08 | (0x80 if status & 0x08 else 0)

    def readfrom_mem_into(self, addr, reg, buf):
        self._bus(addr)
        increment = reg & 0x80
        reg &= 0x7F
        if reg == 0x27:
            self._poll()
        i = 0
        while i < len(buf):
            r = reg + i if increment else reg
            buf[i] = self.regs[r]
            if r == 0x2D:
                self.regs[0x27] = 0
            i += 1


def _read(sensor, frames, block, lock=False):
    nch = len(sensor.channels)
    buf = array.array(sensor.typecode, bytes(block * nch * (4 if sensor.typecode == "i" else 2)))
    out = []
    while len(out) < frames * nch:
        if lock:
            _lock()
        try:
            sensor.read_into(buf)
        finally:
            if lock:
                _unlock()
        out.extend(buf)
    return out


def _error(make):
    try:
        make()
    except Exception as e:
        return [type(e).__name__, str(e)]
    return None


PARTS = {"MPU6050": MPU6050Part, "LIS3DH": LIS3DHPart}


def run_accel(drivers, part, samples, frames, args=(), block=4, lock=False, late=0,
              **part_kw):
    """Read frames from drivers.<part>(stand-in, *args), block frames per read_into; with
    ``late``, that many sample periods pass between the first two reads; with ``lock``, the
    reads after the first run with the heap locked (MicroPython: any allocation raises)."""
    stand_in = PARTS[part](samples, **part_kw)
    sensor = getattr(drivers, part)(stand_in, stand_in.address, *args)
    out = _read(sensor, block, block)
    stand_in.advance(late)
    out += _read(sensor, frames - block, block, lock)
    sensor.close()
    return {"frames": out, "writes": stand_in.writes, "polls": stand_in.polls,
            "samplerate_hz": sensor.samplerate_hz, "full_scale": sensor.full_scale,
            "overruns": getattr(sensor, "overruns", None), "heap_locked": lock and HEAP_LOCK}


def accel_error(drivers, part, args=(), driver_address=None, frames=1, **part_kw):
    """[exception type, message] from opening (and reading) a sensor, or None."""
    stand_in = PARTS[part]([(1, 2, 3)] * frames, **part_kw)
    address = stand_in.address if driver_address is None else driver_address
    return _error(lambda: _read(getattr(drivers, part)(stand_in, address, *args),
                                frames + 1, 1))


class ADCStandIn:
    """An ADC whose read_u16 returns start, start + step, ... (mod 65536), a periodic timer
    whose callback fires once per ``fires_per_idle`` calls of idle() (0: never)."""
    PERIODIC = 1

    def __init__(self, start=60000, step=997, fires_per_idle=1):
        self.value = start
        self.step = step
        self.reads = 0
        self.fires_per_idle = fires_per_idle
        self.idles = 0
        self.inits = []
        self.callback = None
        self.deinits = 0

    def read_u16(self):
        v = self.value
        self.value = (v + self.step) & 0xFFFF
        self.reads += 1
        return v

    def init(self, freq, mode, callback):
        self.inits.append([freq, mode])
        self.callback = callback

    def deinit(self):
        self.deinits += 1

    def fire(self, n=1):
        for _ in range(n):
            self.callback(self)

    def idle(self):
        self.idles += 1
        if self.fires_per_idle and self.idles % self.fires_per_idle == 0:
            self.callback(self)


def run_adc(drivers, frames, block, rate=1000, ring=16, fires_per_idle=1, burst=0,
            lock=False):
    """Read frames from an ADCSensor on the stand-in; ``burst`` extra timer interrupts fire
    between the first two reads; with ``lock``, the reads after the first (which starts the
    timer) run with the heap locked. Returns the samples and what the timer saw, or the
    error."""
    hw = ADCStandIn(fires_per_idle=fires_per_idle)
    ids = []

    def timer(timer_id):
        ids.append(timer_id)
        return hw

    sensor = drivers.ADCSensor(3, rate, 2, ring, adc=lambda pin: hw, timer=timer, idle=hw.idle)
    inits_before_read = len(hw.inits)
    out = []
    try:
        out = _read(sensor, block, block)
        hw.fire(burst)
        out += _read(sensor, frames - block, block, lock)
    except OSError as e:
        return {"error": str(e), "frames": out}
    sensor.close()
    return {"frames": out, "inits": hw.inits, "timer_ids": ids, "reads": hw.reads,
            "inits_before_read": inits_before_read, "deinits": hw.deinits,
            "heap_locked": lock and HEAP_LOCK}


class I2SStandIn:
    """An I2S receiver in MONO mode: readinto fills at most max_bytes of the buffer with the
    next little-endian slots (int16 or int32) of samples, as the port's DMA buffer would."""

    def __init__(self, samples, bits, max_bytes=100):
        self.samples = samples
        self.at = 0
        self.fmt = "<h" if bits == 16 else "<i"
        self.size = bits // 8
        self.max_bytes = max_bytes
        self.calls = 0

    def readinto(self, buf):
        self.calls += 1
        n = min(len(bytes(buf)), self.max_bytes) // self.size
        for i in range(n):
            struct.pack_into(self.fmt, buf, i * self.size, self.samples[self.at])
            self.at += 1
        return n * self.size

    def deinit(self):
        pass


def run_i2s(drivers, samples, bits, frames, block):
    hw = I2SStandIn(samples, bits)
    sensor = drivers.I2SMicrophone(0, 1, 2, 3, 16000, bits, 4096, i2s=hw)
    out = _read(sensor, frames, block)
    return {"frames": out, "calls": hw.calls, "typecode": sensor.typecode,
            "kind": sensor.kind, "full_scale": sensor.full_scale}


class _I2SClass:
    RX = 1
    MONO = 0

    def __init__(self, calls, samples):
        self.calls = calls
        self.samples = samples

    def __call__(self, i2s_id, sck, ws, sd, mode, bits, format, rate, ibuf):
        self.calls.append(["I2S", i2s_id, sck, ws, sd, mode, bits, format, rate, ibuf])
        return I2SStandIn(self.samples, bits)


class FakeMachine:
    """The machine module as the drivers call it, recording each constructor call: I2C and
    SoftI2C return the given part, ADC and Timer one ADCStandIn, I2S an I2SStandIn, Pin(p) the
    pair ("Pin", p)."""

    def __init__(self, part=None, samples=()):
        self.calls = []
        self.part = part
        self.hw = ADCStandIn()
        self.I2S = _I2SClass(self.calls, list(samples))

    def Pin(self, p):
        return ("Pin", p)

    def I2C(self, bus_id, scl=None, sda=None, freq=None):
        self.calls.append(["I2C", bus_id, scl, sda, freq])
        return self.part

    def SoftI2C(self, scl, sda, freq):
        self.calls.append(["SoftI2C", scl, sda, freq])
        return self.part

    def ADC(self, pin):
        self.calls.append(["ADC", pin])
        return self.hw

    def Timer(self, timer_id):
        self.calls.append(["Timer", timer_id])
        return self.hw

    def idle(self):
        self.hw.idle()


def open_expr(drivers, sensor_module, expr, part=None, part_kw=None, frames=2):
    """Open expr with emlab_sensor.open_sensor while drivers.machine is a FakeMachine (a part
    stand-in behind its I2C bus), read frames, and report what describe() says."""
    samples = [(100 * i - 3, -i, i) for i in range(frames + 1)]
    stand_in = PARTS[part](samples, **(part_kw or {})) if part else None
    fake = FakeMachine(stand_in, [65536 * (i - 3) for i in range(frames + 1)])
    saved = drivers.machine
    drivers.machine = fake
    try:
        sensor = sensor_module.open_sensor(
            expr, namespace={"emlab_drivers": drivers, "emlab_sensor": sensor_module})
        _, channels, units, typecode, kind, full_scale = sensor_module.describe(sensor)
        out = _read(sensor, frames, frames)
        sensor_module.close(sensor)
    finally:
        drivers.machine = saved
    return {"samplerate_hz": sensor.samplerate_hz, "channels": list(channels),
            "units": list(units), "typecode": typecode, "kind": kind,
            "full_scale": full_scale, "calls": fake.calls, "frames": out}
