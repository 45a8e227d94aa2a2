# Sensors for dev.record(): the playback sensor (a recording file played at its sample rate,
# the virtual device's sensor) and the loop that streams a sensor's samples to the host.
#
# A sensor is any object with:
#   samplerate_hz  samples per second per channel
#   channels       tuple of channel names
#   units          one str, or one str per channel
#   typecode       array typecode of a sample: 'h' (int16), 'i' (int32) or 'f' (float32)
#   read_into(buf) fill array(typecode) buf with len(buf) // n_channels frames, interleaved,
#                  blocking until they have been sampled
# and optionally kind ("signal" or "audio"), full_scale (a number or None) and close().
#
# Pure Python (no viper), MicroPython and CPython (the host imports this module for the file
# format constants and unit tests).
import array
import sys
import time

try:
    import struct
except ImportError:
    import ustruct as struct
try:
    import binascii
except ImportError:
    import ubinascii as binascii

try:
    _ticks_us = time.ticks_us
    _ticks_diff = time.ticks_diff
    _ticks_add = time.ticks_add
    _sleep_us = time.sleep_us
except AttributeError:  # CPython (host unit tests)
    def _ticks_us():
        return time.monotonic_ns() // 1000

    def _ticks_diff(a, b):
        return a - b

    def _ticks_add(a, b):
        return a + b

    def _sleep_us(us):
        time.sleep(us / 1e6)

# Playback file: little-endian header, metadata strings, then interleaved samples.
#   magic "EMLS", version, typecode (ord 'h'/'i'/'f'), n_channels, n_frames,
#   samplerate_hz (float64, the exact rate), pace_num, pace_den (the rate as the fraction
#   pace_num / pace_den that paces playback, den <= MAX_PACE_DEN), full_scale (float64, NaN:
#   none), meta_bytes; then meta_bytes of strings (kind, the channel names, the units), each a
#   uint8 length + UTF-8 bytes.
MAGIC = b"EMLS"
VERSION = 1
HEADER = "<4sBBHIdIIdH"
HEADER_BYTES = 38
TYPECODES = "hif"
ITEM_BYTES = {"h": 2, "i": 4, "f": 4}
KINDS = ("signal", "audio")
MAX_CHANNELS = 255
MAX_META_BYTES = 4096
# ticks_add accepts at most half the ticks period (2**29 us on 30-bit ports): a pace interval
# of den seconds must stay below that.
MAX_PACE_DEN = 500
REQUIRED = ("samplerate_hz", "channels", "units", "typecode", "read_into")
END = "EMLS_END"


class PlaybackSensor:
    """A recording file played back at its sample rate, looping at its end. Reads the file a
    block at a time: RAM use is one header plus the caller's buffer. realtime=False delivers
    samples as fast as they are read (for throughput tests)."""

    def __init__(self, path="emlab_playback.bin", realtime=True):
        self.path = path
        self.realtime = realtime
        try:
            f = open(path, "rb")
        except OSError as e:
            if e.args and e.args[0] == 2:
                raise OSError("no playback file %r on the device: call dev.playback(recording) "
                              "first" % path)
            raise
        try:
            self._open(f)
        except Exception:
            f.close()
            raise
        self._f = f
        self._t0 = None
        self._due = 0

    def _bad(self, what):
        return ValueError("playback file %r is corrupt: %s. Write it again with "
                          "dev.playback(recording)" % (self.path, what))

    def _open(self, f):
        head = f.read(HEADER_BYTES)
        if len(head) < 4 or head[:4] != MAGIC:
            raise ValueError("%r is not a playback file (magic %r, expected %r)"
                             % (self.path, bytes(head[:4]), MAGIC))
        if len(head) < HEADER_BYTES:
            raise self._bad("%d bytes, shorter than its %d-byte header"
                            % (len(head), HEADER_BYTES))
        (_, version, tc, nch, nframes, rate, num, den, full_scale,
         meta_bytes) = struct.unpack(HEADER, head)
        if version != VERSION:
            raise ValueError("playback file %r has format version %d; this runtime reads "
                             "version %d" % (self.path, version, VERSION))
        tc = chr(tc)
        if tc not in TYPECODES:
            raise self._bad("sample typecode %r" % tc)
        if not 1 <= nch <= MAX_CHANNELS:
            raise self._bad("%d channels" % nch)
        if nframes < 1:
            raise self._bad("no samples")
        if not 0.0 < rate < 1e12:
            raise self._bad("sample rate %r" % rate)
        if num < 1 or not 1 <= den <= MAX_PACE_DEN or abs(num / den - rate) > 1e-3 * rate:
            raise self._bad("pace %d/%d for rate %r" % (num, den, rate))
        if full_scale == full_scale and not 0.0 < full_scale < 1e300:
            raise self._bad("full scale %r" % full_scale)
        if meta_bytes > MAX_META_BYTES:
            raise self._bad("%d bytes of metadata" % meta_bytes)
        size = f.seek(0, 2)
        want = HEADER_BYTES + meta_bytes + nframes * nch * ITEM_BYTES[tc]
        if size != want:
            raise self._bad("header says %d bytes, file has %d" % (want, size))
        f.seek(HEADER_BYTES)
        meta = f.read(meta_bytes)
        strings = []
        at = 0
        for _ in range(1 + 2 * nch):
            if at >= meta_bytes or at + 1 + meta[at] > meta_bytes:
                raise self._bad("metadata strings overrun")
            try:
                strings.append(str(meta[at + 1:at + 1 + meta[at]], "utf-8"))
            except UnicodeError:
                raise self._bad("metadata is not UTF-8")
            at += 1 + meta[at]
        if at != meta_bytes:
            raise self._bad("%d stray metadata bytes" % (meta_bytes - at))
        if strings[0] not in KINDS:
            raise self._bad("kind %r" % strings[0])
        self.typecode = tc
        self.samplerate_hz = rate
        # The exact float64 rate, for ports whose float is 32-bit.
        self.samplerate_bits = bytes(head[12:20])
        self.channels = tuple(strings[1:1 + nch])
        self.units = tuple(strings[1 + nch:])
        self.kind = strings[0]
        self.full_scale = full_scale if full_scale == full_scale else None
        self.n_frames = nframes
        self._num = num
        self._den = den
        self._nch = nch
        self._size = ITEM_BYTES[tc]
        self._data_at = HEADER_BYTES + meta_bytes
        self._items = nframes * nch
        self._left = self._items
        f.seek(self._data_at)

    def _wait(self, frames):
        # Frame k is due k * den / num seconds after the first read; every num frames are
        # exactly den seconds, so the reference moves on then and the ticks never wrap.
        if self._t0 is None:
            self._t0 = _ticks_us()
        self._due += frames
        while self._due >= self._num:
            self._due -= self._num
            self._t0 = _ticks_add(self._t0, self._den * 1000000)
        due_us = self._due * self._den * 1000000 // self._num
        while True:
            left = due_us - _ticks_diff(_ticks_us(), self._t0)
            if left <= 0:
                return
            _sleep_us(min(left, 50000))

    def read_into(self, buf):
        n = len(buf)
        if n % self._nch:
            raise ValueError("buffer of %d samples is not whole frames of %d channels"
                             % (n, self._nch))
        if self.realtime:
            self._wait(n // self._nch)
        if n < self._left:
            # The usual case, one read: no memoryview objects (an installed app calls this
            # for every hop and should not feed the garbage collector).
            if self._f.readinto(buf) != n * self._size:
                raise ValueError("playback file %r changed while playing" % self.path)
            self._left -= n
            return
        mv = memoryview(buf)
        i = 0
        while i < n:
            take = min(n - i, self._left)
            got = self._f.readinto(mv[i:i + take])
            if not got or got % self._size:
                raise ValueError("playback file %r changed while playing" % self.path)
            i += got // self._size
            self._left -= got // self._size
            if not self._left:
                self._f.seek(self._data_at)
                self._left = self._items

    def close(self):
        self._f.close()


def _global_name(expr):
    # The leading identifier of "mysensors.IMU(...)": imported if the caller has no such name.
    i = 0
    while i < len(expr) and (expr[i].isalpha() or expr[i].isdigit() or expr[i] == "_"):
        i += 1
    return expr[:i]


def open_sensor(expr=None, path="emlab_playback.bin", namespace=None):
    """The playback sensor (expr None), or the value of the expression expr evaluated in
    namespace (the REPL's globals), importing its leading module name if not defined.
    Raises TypeError naming what a sensor object lacks."""
    if expr is None:
        return PlaybackSensor(path)
    g = {} if namespace is None else namespace
    name = _global_name(expr)
    if name and name not in g:
        try:
            g[name] = __import__(name)
        except ImportError:
            pass
    sensor = eval(expr, g)
    missing = [a for a in REQUIRED if not hasattr(sensor, a)]
    if missing:
        raise TypeError("sensor %s (a %s) lacks %s; a sensor has samplerate_hz, channels, "
                        "units, typecode ('h', 'i' or 'f') and read_into(buf)"
                        % (expr, type(sensor).__name__, ", ".join(missing)))
    return sensor


def describe(sensor):
    """(float64 rate bytes, channels, units, typecode, kind, full_scale), validated."""
    tc = sensor.typecode
    if tc not in TYPECODES:
        raise ValueError("sensor typecode %r: expected one of 'h', 'i', 'f'" % (tc,))
    channels = tuple(str(c) for c in sensor.channels)
    if not channels:
        raise ValueError("sensor has no channels")
    units = sensor.units
    units = (units,) * len(channels) if isinstance(units, str) else tuple(units)
    if len(units) != len(channels):
        raise ValueError("sensor has %d units for %d channels" % (len(units), len(channels)))
    rate = sensor.samplerate_hz
    if not 0 < rate < 1e12:
        raise ValueError("sensor samplerate_hz %r: expected a positive number" % (rate,))
    kind = getattr(sensor, "kind", "signal")
    if kind not in KINDS:
        raise ValueError("sensor kind %r: expected 'signal' or 'audio'" % (kind,))
    bits = getattr(sensor, "samplerate_bits", None) or struct.pack("<d", rate)
    return (bits, channels, units, tc, kind, getattr(sensor, "full_scale", None))


def _zeros(tc, n):
    return array.array(tc, [0] * n)


def stream(sensor, n_frames, block_frames):
    """Write n_frames from the sensor to stdout: one base64 line per block of block_frames
    (little-endian interleaved samples), then "EMLS_END <frames> <elapsed_us>"."""
    if sys.byteorder != "little":
        raise ValueError("record streams little-endian samples; this port is big-endian")
    out = getattr(sys.stdout, "buffer", sys.stdout)
    tc = sensor.typecode
    nch = len(sensor.channels)
    buf = _zeros(tc, block_frames * nch)
    done = 0
    t0 = _ticks_us()
    while done < n_frames:
        k = n_frames - done
        if k < block_frames:
            buf = _zeros(tc, k * nch)
        else:
            k = block_frames
        sensor.read_into(buf)
        out.write(binascii.b2a_base64(buf))
        done += k
    out.write(("%s %d %d\n" % (END, done, _ticks_diff(_ticks_us(), t0))).encode())


def close(sensor):
    if hasattr(sensor, "close"):
        sensor.close()
