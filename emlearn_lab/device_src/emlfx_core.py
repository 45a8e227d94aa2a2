# Shared by the feature extractors (emlfx_*.py): spec checks, the window input stage (float32
# -> int16 quantisation) and integer square roots.
#
# One source for the device (the viper functions are compiled to machine code by mpy-cross) and
# the host (CPython imports it; emlearn_lab/features/_viper.py stands in for the viper
# built-ins). Both compute the same integers because the viper code keeps to these rules:
# - every intermediate value fits a signed 32-bit word (a 32-bit port wraps silently, CPython
#   never does; the tests run every kernel under _viper.checked(), which raises instead);
# - ptr32 loads only of values in [0, 2**31) (64-bit ports zero-extend a ptr32 load); int16
#   samples are read as uint16 and sign-extended with (v ^ 0x8000) - 0x8000;
# - stores are masked to the pointer's width; no literal above 0x3fffffff (viper boxes larger
#   ones on 32-bit targets); at most 4 arguments per viper function;
# - no float arithmetic in anything that must match: floats are single precision on most
#   boards and double on the host. Floats only seed integer iterations (isqrt).
# Python-level code (outside viper) uses Python ints, which are exact on both.
try:
    import micropython
except ImportError:
    from emlearn_lab.features._viper import micropython, ptr16
import array

FORMAT_VERSION = 1


def param(params, key, lo, hi):
    """params[key] as an int in [lo, hi], else ValueError naming the key (a corrupt or
    hand-edited spec must raise here, not crash a kernel)."""
    v = params.get(key) if isinstance(params, dict) else None
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or v > hi:
        raise ValueError("feature spec: %r must be an int in [%d, %d], got %r"
                         % (key, lo, hi, v))
    return v


def int_list(params, key, n_min, n_max, lo, hi):
    """params[key] as a list of n_min..n_max ints in [lo, hi], else ValueError."""
    v = params.get(key) if isinstance(params, dict) else None
    ok = isinstance(v, list) and n_min <= len(v) <= n_max
    if ok:
        for x in v:
            if not isinstance(x, int) or isinstance(x, bool) or x < lo or x > hi:
                ok = False
                break
    if not ok:
        raise ValueError("feature spec: %r must be a list of %d..%d ints in [%d, %d]"
                         % (key, n_min, n_max, lo, hi))
    return v


def itemsize(x):
    """Bytes per item of a bytes-like window (array('h') 2, array('f') 4, bytes 1)."""
    return len(bytes(memoryview(x)[:1])) if len(x) else 1


@micropython.viper
def _quantise(src: ptr16, dst: ptr16, p: ptr16, c: int) -> int:
    # Channel c of an interleaved float32 window (read as uint16 halves) into the int16
    # window: round(x * 2**shift) half to even, saturated to int16. p: n_samples,
    # n_channels, then shift + 64 per channel. Returns the number of NaNs (stored as 0).
    nc = int(p[1])
    s = int(p[2 + c]) - 64
    end = int(p[0]) * nc
    nan = 0
    i = c
    while i < end:
        hi = int(src[2 * i + 1])
        e = (hi >> 7) & 0xFF
        m = ((hi & 0x7F) << 16) | int(src[2 * i])
        if e == 0:
            e = 1                               # subnormal: no implicit bit
        else:
            m = m | 0x800000
        r = 0
        if e == 255:
            if m & 0x7FFFFF:
                nan += 1
            else:
                r = 32768                       # +-inf saturate
        else:
            k = 150 - e - s                     # |x| * 2**shift = m / 2**k
            if k <= 8:
                r = 32768                       # m >= 2**23: at least 2**15
            elif k < 25:
                r = m >> k
                rem = m & ((1 << k) - 1)
                half = 1 << (k - 1)
                if rem > half or (rem == half and (r & 1)):
                    r += 1
        if hi >> 15:
            r = 0 - r
            if r < -32768:
                r = -32768
        elif r > 32767:
            r = 32767
        dst[i] = r & 0xFFFF
        i += nc
    return nan


class Input:
    """The window format an extractor reads: n_samples x n_channels interleaved, either int16
    (dtype 'h') or float32 (dtype 'f', quantised per channel by 2**shift to int16)."""

    def __init__(self, params):
        self.n_samples = param(params, "n_samples", 1, 16384)
        self.n_channels = param(params, "n_channels", 1, 64)
        self.dtype = params.get("dtype")
        if self.dtype not in ("h", "f"):
            raise ValueError("feature spec: 'dtype' must be 'h' or 'f', got %r" % (self.dtype,))
        self.n_items = self.n_samples * self.n_channels
        self.nbytes = self.n_items * (2 if self.dtype == "h" else 4)
        self.checked = None
        if self.dtype == "f":
            shifts = int_list(params, "shifts", self.n_channels, self.n_channels, -48, 48)
            self.p = array.array("h", [self.n_samples, self.n_channels] +
                                 [s + 64 for s in shifts])
            self.buf = array.array("h", bytes(2 * self.n_items))

    def prepare(self, window):
        """The int16 samples of window (a bytes-like object, e.g. array('h'/'f'))."""
        if window is not self.checked and len(window) * itemsize(window) != self.nbytes:
            raise ValueError("expected a window of %d samples x %d channels of %s (%d bytes), "
                             "got %d bytes" % (self.n_samples, self.n_channels,
                                               "int16" if self.dtype == "h" else "float32",
                                               self.nbytes, len(window) * itemsize(window)))
        self.checked = window         # the size check allocates: once per buffer object
        if self.dtype == "h":
            return window
        nan = 0
        for c in range(self.n_channels):
            nan += _quantise(window, self.buf, self.p, c)
        if nan:
            raise ValueError("window has %d NaN samples" % nan)
        return self.buf


def isqrt(v):
    """floor(sqrt(v)) of a non-negative int. Below 2**48 a float square root (single or
    double precision: off by at most 2 then) corrected in exact integers; above, Newton's
    iteration from above in integers."""
    if v <= 0:
        return 0
    try:
        r = int(v ** 0.5) if v < (1 << 48) else 0
    except TypeError:                         # a port without floats
        r = 0
    if r == 0:
        r = 1 << ((len(bin(v)) - 1) // 2)     # >= sqrt(v); bin(v) is '0b' + bits
        while True:
            y = (r + v // r) >> 1
            if y >= r:
                return r
            r = y
    while r * r > v:
        r -= 1
    while (r + 1) * (r + 1) <= v:
        r += 1
    return r


# Integer logarithms for levels in decibels (emlfx_iir, emlfx_spectral). Levels are computed
# as 4096 * log2 of a power ratio ("Q12 log2"), then converted to centi-decibels with
# centi_db; both sides run these same integer steps, so they agree exactly.
LOG2_Q = 12


@micropython.viper
def log2q(hi: int, lo: int) -> int:
    # 4096 * log2(hi * 2**30 + lo) for hi, lo in [0, 2**30), -1 for zero. The top 15 bits
    # are the mantissa m in [2**14, 2**15); squaring it 12 times gives the fraction bits
    # (m*m < 2**30). Truncation makes it low by at most 0.0006, i.e. 0.002 dB.
    e = 30
    if hi == 0:
        if lo == 0:
            return -1
        hi = lo
        lo = 0
        e = 0
    b = 0
    while hi >> b:
        b += 1
    if b >= 15:
        m = hi >> (b - 15)
    else:
        m = (hi << (15 - b)) | (lo >> (15 + b))
    f = 0
    k = 0
    while k < 12:
        m = (m * m) >> 14
        f = f << 1
        if m >= 32768:
            m = m >> 1
            f = f | 1
        k += 1
    return ((b + e - 1) << 12) | f


def log2q_int(v):
    """4096 * log2(v) (as log2q) of a non-negative int of any size, -1 for 0."""
    e = 0
    while v >= 1 << 60:
        v = v >> 1
        e += 1
    return log2q(v >> 30, v & 0x3FFFFFFF) + (e << 12) if v else -1


def centi_db(q):
    """floor(100 * 10 * log10(2**(q / 4096))): a Q12 log2 power ratio in centi-decibels.
    1000 * log10(2) / 4096 = (301 + 1966 / 65536) / 4096 to 1e-8; the kernels inline the same
    expression, exact in 32 bits for |q| < 2**18."""
    return (q * 301 + ((q * 1966) >> 16)) >> 12
