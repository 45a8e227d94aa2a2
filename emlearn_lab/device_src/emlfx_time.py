# Time-domain statistics of a window, per channel and of the vector magnitude, in integers.
# Runs on the device (viper) and on the host (CPython): see emlfx_core.py for the rules.
#
# Units: every statistic except zero_crossings is in 1/256 of an input count (int16 sample
# units; float input is quantised by 2**shift first), exact: mean = floor(256 * sum / n),
# std = floor(256 * sqrt(var)) (population variance), rms = floor(256 * sqrt(sum(v*v) / n)),
# quantiles interpolate linearly between order statistics (numpy's default), which at
# q = 1/4, 1/2, 3/4 lands on quarter positions, so 256 * q is a whole number. The largest
# magnitude, 65535 * 256, is below 2**24: every feature is exact as a float32 too.
# zero_crossings counts the sign changes of (v - floor(mean)): a window of n samples has at
# most n - 1. The magnitude series is floor(sqrt(sum over axes of (v*v >> 2))): half the
# vector length, so that three full-scale axes still fit a 16-bit sample.
try:
    import micropython
except ImportError:
    from emlearn_lab.features._viper import micropython, ptr16, ptr32
try:
    import emlfx_core as core
except ImportError:
    from emlearn_lab.device_src import emlfx_core as core
import array

STATS = ("mean", "std", "min", "max", "median", "q1", "q3", "iqr", "rms", "zero_crossings")
_ORDER = (2, 3, 4, 5, 6, 7)        # statistics that need the sorted window


@micropython.viper
def _gather(win: ptr16, u: ptr16, n: int, sc: int):
    # Channel sc & 0xff of a window with sc >> 8 channels into u, biased to uint16 (v + 32768).
    nc = sc >> 8
    i = sc & 0xFF
    j = 0
    while j < n:
        u[j] = (int(win[i]) ^ 0x8000) & 0xFFFF
        i += nc
        j += 1


@micropython.viper
def _magnitude(win: ptr16, u: ptr16, n: int, p: ptr16):
    # u[j] = isqrt(sum over the axes of (v*v >> 2)) + 32768. p: n_channels, n_axes, axes...
    nc = int(p[0])
    na = int(p[1])
    j = 0
    i = 0
    while j < n:
        s = 0
        a = 0
        while a < na:
            v = (int(win[i + int(p[2 + a])]) ^ 0x8000) - 0x8000
            s += (v * v) >> 2
            a += 1
        r = 0
        bit = 1 << 28
        while bit > s:
            bit = bit >> 2
        while bit:
            if s >= r + bit:
                s = s - r - bit
                r = (r >> 1) + bit
            else:
                r = r >> 1
            bit = bit >> 2
        u[j] = r + 32768
        i += nc
        j += 1


@micropython.viper
def _moments(u: ptr16, n: int, r: ptr32):
    # r = sum(u), sum(v*v) >> 30, sum(v*v) & (2**30 - 1), min(u), max(u), crossings of the
    # floored mean; u biased by 32768, v = u - 32768. n <= 16384 keeps sum(u) below 2**30.
    total = 0
    hi = 0
    lo = 0
    least = 65535
    most = 0
    j = 0
    while j < n:
        x = int(u[j])
        total += x
        v = x - 32768
        lo += v * v
        hi += lo >> 30
        lo = lo & 0x3FFFFFFF
        if x < least:
            least = x
        if x > most:
            most = x
        j += 1
    mean = total // n
    crossings = 0
    above = 0
    if int(u[0]) > mean:
        above = 1
    j = 1
    while j < n:
        now = 0
        if int(u[j]) > mean:
            now = 1
        if now != above:
            crossings += 1
            above = now
        j += 1
    r[0] = total
    r[1] = hi
    r[2] = lo
    r[3] = least
    r[4] = most
    r[5] = crossings


@micropython.viper
def _sort(u: ptr16, tmp: ptr16, count: ptr16, n: int):
    # LSD radix sort of n uint16 in place (two byte passes through tmp); count: 257 uint16.
    shift = 0
    while shift < 16:
        src = u if shift == 0 else tmp
        dst = tmp if shift == 0 else u
        b = 0
        while b < 257:
            count[b] = 0
            b += 1
        j = 0
        while j < n:
            d = (int(src[j]) >> shift) & 0xFF
            count[d + 1] = int(count[d + 1]) + 1
            j += 1
        b = 1
        while b < 257:
            count[b] = int(count[b]) + int(count[b - 1])
            b += 1
        j = 0
        while j < n:
            x = int(src[j])
            d = (x >> shift) & 0xFF
            k = int(count[d])
            dst[k] = x
            count[d] = k + 1
            j += 1
        shift += 8


class TimeStats:
    """Device side of eml.features.TimeStats. params: the Input fields (n_samples,
    n_channels, dtype, shifts), axes (channel indices), magnitude (0/1), stats (indices
    into STATS)."""

    def __init__(self, params):
        self.input = core.Input(params)
        nc = self.input.n_channels
        n = self.input.n_samples
        self.axes = core.int_list(params, "axes", 1, nc, 0, nc - 1)
        self.magnitude = core.param(params, "magnitude", 0, 1)
        if self.magnitude and not 2 <= len(self.axes) <= 3:
            raise ValueError("feature spec: magnitude needs 2 or 3 axes, got %d"
                             % len(self.axes))
        self.stats = core.int_list(params, "stats", 1, len(STATS), 0, len(STATS) - 1)
        self.n_features = (len(self.axes) + self.magnitude) * len(self.stats)
        self.u = array.array("H", bytes(2 * n))
        self.sorted = False
        for s in self.stats:
            if s in _ORDER:
                self.sorted = True
        if self.sorted:
            self.tmp = array.array("H", bytes(2 * n))
            self.count = array.array("H", bytes(2 * 257))
        self.r = array.array("i", bytes(4 * 6))
        self.mag = array.array("h", [nc, len(self.axes)] + list(self.axes))

    def transform(self, window, out, at=0):
        """Write the n_features statistics of window into out[at:] (e.g. an array('i'))."""
        win = self.input.prepare(window)
        n = self.input.n_samples
        sc = self.input.n_channels << 8
        for a in self.axes:
            _gather(win, self.u, n, sc | a)
            at = self._stats(out, at)
        if self.magnitude:
            _magnitude(win, self.u, n, self.mag)
            at = self._stats(out, at)
        return at

    def _stats(self, out, at):
        n = self.input.n_samples
        u = self.u
        r = self.r
        _moments(u, n, r)
        if self.sorted:
            _sort(u, self.tmp, self.count, n)
        total = r[0] - 32768 * n
        squares = (r[1] << 30) + r[2]
        for s in self.stats:
            if s == 0:
                v = (total << 8) // n
            elif s == 1:
                v = core.isqrt(((n * squares - total * total) << 16) // (n * n))
            elif s == 2:
                v = (r[3] - 32768) << 8
            elif s == 3:
                v = (r[4] - 32768) << 8
            elif s == 8:
                v = core.isqrt((squares << 16) // n)
            elif s == 9:
                v = r[5]
            elif s == 7:
                v = self._quantile(3) - self._quantile(1)
            else:
                v = self._quantile(2 if s == 4 else 1 if s == 5 else 3)
            out[at] = v
            at += 1
        return at

    def _quantile(self, quarters):
        # 256 * the (quarters / 4) quantile, linear interpolation: position quarters * (n-1) / 4.
        pos = quarters * (self.input.n_samples - 1)
        i = pos >> 2
        f = pos & 3
        lo = self.u[i] - 32768
        if f == 0:
            return lo << 8
        return ((lo << 2) + f * (self.u[i + 1] - 32768 - lo)) << 6
