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
    import emlfx_core as core
except ImportError:         # CPython on the host (decided by micropython, not by sys.path)
    from emlearn_lab.features._viper import micropython, ptr16, ptr32, uint
    from emlearn_lab.device_src import emlfx_core as core
import array

try:        # the machine-code twin of _all_series + _emit, sent for Thumb-2 cores only
    import emlfx_time_thumb as _thumb
except (ImportError, SyntaxError, ValueError):     # elsewhere (or an .mpy for another arch)
    _thumb = None

itemsize = core.itemsize

STATS = ("mean", "std", "min", "max", "median", "q1", "q3", "iqr", "rms", "zero_crossings")
_ORDER = (4, 5, 6, 7)        # statistics that need the sorted window


# p, an array('i') shared by the kernels: 0 n_samples, 1 n_channels, 2 n_series, 3 1 if
# order statistics are wanted, 4 n_axes, 5..7 axes, 8.. the series (a channel index, or 255
# for the magnitude), then a block of 13 per series at h = 8 + n_series + 13 * k:
# h+0 sum(u), h+1 sum(v*v) >> 30, h+2 sum(v*v) & (2**30 - 1) (loaded back by Python only),
# h+3+i statistic STATS[i] + 2**24 (std filled in by Python: it needs more than 32 bits). Every
# word the kernels load back is >= 0: a 64-bit port zero-extends ptr32 loads.
# On Thumb-2 cores (Cortex-M3/M4/M7) emlfx_time_thumb (runtime/thumb_time_stats.py) computes the
# same blocks, std included, in machine code and writes the features; this code is the
# reference it is tested against and runs everywhere else.
# u is a series biased to uint16 (u = v + 32768). w: the radix sort's buffer w[0:n], its
# counts w[n:n+257], then _ROOT_Q8 (for the magnitude's square roots) at w[n+257:n+513].
_BIAS = 1 << 24
_ROOT_Q8 = [core.isqrt(t << 16) for t in range(256)]     # floor(256 * sqrt(t)), exact


@micropython.viper
def _all_series(win: ptr16, u: ptr16, w: ptr16, p: ptr32):
    n = int(p[0])
    nc = int(p[1])
    ns = int(p[2])
    root = ptr16(uint(w) + uint(2 * (n + 257)))
    count = ptr16(uint(w) + uint(2 * n))
    series = 0
    while series < ns:
        h = 8 + ns + 13 * series
        ch = int(p[8 + series])
        series += 1
        j = 0
        i = 0
        if ch != 255:
            i = ch
            while j < n:
                u[j] = (int(win[i]) ^ 0x8000) & 0xFFFF
                i += nc
                j += 1
        else:
            na = int(p[4])
            while j < n:
                s = 0
                a = 0
                while a < na:
                    v = (int(win[i + int(p[5 + a])]) ^ 0x8000) - 0x8000
                    s += (v * v) >> 2
                    a += 1
                # isqrt(s), s < 3 * 2**28: a guess from the top 8 bits' table, one Newton
                # step, then exact correction.
                e = 0
                if s >= 1 << 24:
                    e = 16
                elif s >= 1 << 16:
                    e = 8
                t = s >> e
                if t >= 1 << 12:
                    e += 4
                    t = t >> 4
                if t >= 1 << 10:
                    e += 2
                    t = t >> 2
                if t >= 1 << 8:
                    e += 2
                    t = t >> 2
                r = (int(root[t]) << (e >> 1)) >> 8
                if e and r:
                    r = (r + s // r) >> 1
                while r * r > s:
                    r -= 1
                while (r + 1) * (r + 1) <= s:
                    r += 1
                u[j] = r + 32768
                i += nc
                j += 1
        total = 0
        hi = 0
        lo = 0
        least = 65535
        most = 0
        j = 0
        while j < n:
            x = int(u[j])
            total += x                  # n <= 16384: below 2**30
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
        sv = total - (n << 15)          # sum of v; floor(256 * sv / n) without overflow:
        q = sv // n
        p[h] = total
        p[h + 1] = hi
        p[h + 2] = lo
        p[h + 3] = (q << 8) + (((sv - q * n) << 8) // n) + (1 << 24)
        p[h + 5] = ((least - 32768) << 8) + (1 << 24)
        p[h + 6] = ((most - 32768) << 8) + (1 << 24)
        p[h + 12] = crossings + (1 << 24)
        # rms = isqrt(floor(65536 * sum(v*v) / n)) in 32-bit words: long division of the
        # two-limb sum by n (<= 2**14) in 15-bit steps gives m = floor(sum / n) and the 16-bit
        # fraction; then the square root rt digit by digit (two input bits per step), whose
        # remainder stays below 2 * rt + 1 < 2**25.
        q = hi // n
        t = ((hi - q * n) << 15) | (lo >> 15)
        q1 = t // n
        t = ((t - q1 * n) << 15) | (lo & 0x7FFF)
        q2 = t // n
        frac = ((t - q2 * n) << 16) // n
        m = (q << 30) | (q1 << 15) | q2
        rt = 0
        rem = 0
        k = 32                          # bit pairs of m, then of frac (two loops: a branch
        while k > 0:                    # per pair costs more than the loop)
            k -= 2
            rem = (rem << 2) | ((m >> k) & 3)
            trial = (rt << 2) | 1
            rt = rt << 1
            if rem >= trial:
                rem -= trial
                rt |= 1
        k = 16
        while k > 0:
            k -= 2
            rem = (rem << 2) | ((frac >> k) & 3)
            trial = (rt << 2) | 1
            rt = rt << 1
            if rem >= trial:
                rem -= trial
                rt |= 1
        p[h + 11] = rt + (1 << 24)
        if int(p[3]) == 0:
            continue
        # Sort u - least: LSD radix through w[0:n] with counts w[n:n+257]; one 8-bit pass for
        # a range below 256, two 7-bit ones below 2**14, else two 8-bit ones.
        spread = most - least
        bits = 8
        passes = 2
        if spread < 256:
            passes = 1
        elif spread < 16384:
            bits = 7
        bins = 1 << bits
        mask = bins - 1
        shift = 0
        step = 0
        while step < passes:
            src = u if step == 0 else w
            dst = w if step == 0 else u
            b = 0
            while b <= bins:
                count[b] = 0
                b += 1
            j = 0
            if step == 0:
                while j < n:
                    x = int(src[j]) - least
                    src[j] = x
                    d = (x & mask) + 1
                    count[d] = int(count[d]) + 1
                    j += 1
            else:
                while j < n:
                    d = ((int(src[j]) >> shift) & mask) + 1
                    count[d] = int(count[d]) + 1
                    j += 1
            b = 1
            while b <= bins:
                count[b] = int(count[b]) + int(count[b - 1])
                b += 1
            j = 0
            while j < n:
                x = int(src[j])
                d = (x >> shift) & mask
                k = int(count[d])
                dst[k] = x
                count[d] = k + 1
                j += 1
            shift += bits
            step += 1
        out = w if passes == 1 else u
        k = 0
        while k < 3:
            pos = 2 * (n - 1)           # 4 * position: median 2(n-1), q1 n-1, q3 3(n-1)
            if k == 1:
                pos = n - 1
            elif k == 2:
                pos = 3 * (n - 1)
            i = pos >> 2
            f = pos & 3
            lo = int(out[i]) + least - 32768
            v = lo << 8
            if f:
                v = ((lo << 2) + f * (int(out[i + 1]) - int(out[i]))) << 6
            p[h + 7 + k] = v + (1 << 24)
            k += 1
        p[h + 10] = int(p[h + 9]) - int(p[h + 8]) + (1 << 24)


@micropython.viper
def _emit(p: ptr32, out: ptr32, sel: ptr16):
    # out[at:] = for each series, the statistics sel[2:] (unbiased); sel[0] their count,
    # sel[1] = at.
    m = int(sel[0])
    at = int(sel[1])
    ns = int(p[2])
    series = 0
    while series < ns:
        h = 8 + ns + 13 * series + 3
        k = 0
        while k < m:
            out[at] = int(p[h + int(sel[2 + k])]) - (1 << 24)
            at += 1
            k += 1
        series += 1


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
        self.series = list(self.axes) + ([255] if self.magnitude else [])
        ordered = 0
        for s in self.stats:
            if s in _ORDER:
                ordered = 1
        self.std = 1 in self.stats
        ns = len(self.series)
        self.out = None               # the last out array and offset checked
        self.at = 0
        if _thumb is not None:        # its work array replaces u, w and sel
            self.scratch = _thumb.scratch(n, self.stats, self.std)
        else:
            self.u = array.array("H", bytes(2 * n))
            self.w = array.array("H", bytes(2 * (n + 257)) + bytes(array.array("H", _ROOT_Q8)))
            self.sel = array.array("H", [len(self.stats), 0] + list(self.stats))
        self.p = array.array("i", [n, nc, ns, ordered, len(self.axes)] + list(self.axes)
                             + [0] * (3 - len(self.axes)) + self.series + [0] * (13 * ns))
        self.blocks = [8 + ns + 13 * k for k in range(ns)]

    def transform(self, window, out, at=0):
        """Write the n_features statistics of window into out[at:] (an array('i'))."""
        if out is not self.out or at != self.at:   # checked once per buffer and offset
            if len(out) < at + self.n_features or itemsize(out) != 4:
                raise ValueError("out must be an array('i') with room for %d features at %d"
                                 % (self.n_features, at))
            self.out = out
            self.at = at
        p = self.p
        if _thumb is not None:
            s = self.scratch
            s[_thumb.AT] = at
            _thumb.stats(self.input.prepare(window), p, s, out)
            return at + self.n_features
        _all_series(self.input.prepare(window), self.u, self.w, p)
        if self.std:                  # the only statistic needing more than 32 bits
            n = self.input.n_samples
            for h in self.blocks:
                total = p[h] - (n << 15)
                squares = (p[h + 1] << 30) + p[h + 2]
                p[h + 4] = core.isqrt(((n * squares - total * total) << 16) // (n * n)) + _BIAS
        self.sel[1] = at
        _emit(p, out, self.sel)
        return at + self.n_features
