# emlearn_lab Gaussian detector runtime for MicroPython: loads a Gaussian file (format version
# 1, see emlearn_lab/gauss/gaussfile.py) and returns a detector with predict(x) -> 1 (inlier:
# score >= threshold) or 0 (outlier) and scores(x) -> array('f', [score]). x is array('f') of
# n_features raw features. The score is exactly the host's (emlearn_lab/gauss/float32.py):
# every operation is rounded to float32, by storing it in an array('f') on ports whose floats
# are double precision (the unix port); ports with single-precision floats compute in float32
# already. Bytecode, except the products y = P^T d of full and tied covariances on ARMv7-M
# cores, which run as the network runtime's dense layer in machine code (emlnet_fpu on an FPU,
# emlnet_soft in integer code), with the same roundings in the same order (see _native).
# Everything read from the file is checked before use: a corrupt file raises ValueError here,
# it never crashes or hangs the device.
import array
import math
import struct

from emlab_common import check_features

MAGIC = b"EMLG"
FORMAT_VERSION = 1
HEADER = "<4sBBBBHH"
HEADER_BYTES = 12
COV_FULL = 0
COV_TIED = 1
COV_DIAG = 2

_R = array.array("f", [0.0])
_DOUBLE = array.array("f", [0.1])[0] != 0.1
# 30-bit floats (MICROPY_OBJ_REPR_C) drop the last mantissa bits of every result.
_LOSSY = not _DOUBLE and (1.0 + 2.0 ** -23) - 1.0 != 2.0 ** -23


class GaussFileError(ValueError):
    pass


def _bits(u):
    return struct.unpack("<f", struct.pack("<I", u))[0]


# Constants by their bits: a port with single-precision floats parses decimal literals in
# float32 arithmetic, not always correctly rounded (see emlnet_float).
INF = _bits(0x7F800000)
NINF = _bits(0xFF800000)
NAN = _bits(0x7FC00000)
# exp: emlearn_lab/nets/float32.py's pexp
LOG2E = _bits(0x3FB8AA3B)
LN2_HI = _bits(0x3F317200)
LN2_LO = _bits(0x35BFBE8E)
EXP_POLY = [_bits(u) for u in (0x3AB60B61, 0x3C088889, 0x3D2AAAAB, 0x3E2AAAAB)] + [0.5, 1.0,
                                                                                     1.0]
# log: emlearn_lab/gauss/float32.py's plog (LOG_BITS)
SQRT2 = _bits(0x3FB504F3)
LOG_POLY = [_bits(u) for u in (0x3E3A2E8C, 0x3E638E39, 0x3E924925, 0x3ECCCCCD, 0x3F2AAAAB)]
TWO25 = _bits(0x4C000000)
MIN_NORMAL = _bits(0x00800000)


def pexp(x):
    """The portable float32 exp (emlearn_lab/nets/float32.py)."""
    if x != x:
        return x
    if x < -80.0:
        x = -80.0
    elif x > 80.0:
        x = 80.0
    r = _R
    r[0] = x * LOG2E
    r[0] = r[0] + 0.5
    k = math.floor(r[0])
    r[0] = k * LN2_HI
    r[0] = x - r[0]
    t = r[0]
    r[0] = k * LN2_LO
    r[0] = t - r[0]
    t = r[0]
    p = EXP_POLY[0]
    for c in EXP_POLY[1:]:
        r[0] = p * t
        r[0] = r[0] + c
        p = r[0]
    r[0] = math.ldexp(p, k)
    return r[0]


def plog(x):
    """The portable float32 log (emlearn_lab/gauss/float32.py)."""
    if x != x or x < 0.0:
        return NAN
    if x == 0.0:
        return NINF
    if x == INF:
        return x
    r = _R
    e = -127
    if x < MIN_NORMAL:
        r[0] = x * TWO25
        x = r[0]
        e = -152
    b = struct.unpack("<I", struct.pack("<f", x))[0]
    e += (b >> 23) & 0xFF
    m = struct.unpack("<f", struct.pack("<I", (b & 0x7FFFFF) | 0x3F800000))[0]
    if m > SQRT2:
        r[0] = m * 0.5
        m = r[0]
        e += 1
    r[0] = m - 1.0
    f = r[0]
    r[0] = 2.0 + f
    r[0] = f / r[0]
    s = r[0]
    r[0] = s * s
    z = r[0]
    p = LOG_POLY[0]
    for c in LOG_POLY[1:]:
        r[0] = p * z
        r[0] = r[0] + c
        p = r[0]
    r[0] = s * z
    r[0] = r[0] * p
    t = r[0]
    r[0] = s + s
    r[0] = r[0] + t
    lg = r[0]
    r[0] = e * LN2_LO
    r[0] = r[0] + lg
    lg = r[0]
    r[0] = e * LN2_HI
    r[0] = lg + r[0]
    return r[0]


def _fail(what):
    raise GaussFileError("corrupt Gaussian file: %s: convert and deploy the model again" % what)


def _parse(data):
    """(estimator, covariance, n_features, n_components, triangle size): the header checked
    against the file's size (no product is formed before it is known to be small)."""
    if len(data) < HEADER_BYTES:
        raise GaussFileError("Gaussian file is %d bytes, shorter than the header" % len(data))
    magic, version, est, cov, zero, n, k = struct.unpack_from(HEADER, data, 0)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise GaussFileError("not an emlearn_lab Gaussian file version %d" % FORMAT_VERSION)
    if est > 1 or cov > 3 or zero or n == 0 or k == 0 or (est == 1 and (k != 1 or cov)):
        _fail("bad estimator/covariance byte or zero size")
    body = len(data) - HEADER_BYTES
    avail = body // 4
    if body % 4 or k > avail or n > avail // k:
        _fail("%d bytes do not hold %d components of %d features" % (len(data), k, n))
    tri = 0
    if cov <= COV_TIED:
        if n > (2 * avail) // (n + 1):
            _fail("%d bytes do not hold a %dx%d precision factor" % (len(data), n, n))
        tri = n * (n + 1) // 2
        if cov == COV_FULL and tri > avail // k:
            _fail("%d bytes do not hold %d precision factors" % (len(data), k))
    nf = (k * tri if cov == COV_FULL else tri if cov == COV_TIED
          else k * n if cov == COV_DIAG else k)
    size = HEADER_BYTES + 4 * (k * n + k + nf)
    if size != len(data):
        raise GaussFileError("Gaussian file is %d bytes, its header says %d"
                             % (len(data), size))
    return est, cov, n, k, tri


def _finite(values):
    # v - v is 0.0 for every finite float, NaN for NaN and +-inf.
    for v in values:
        if v - v != 0.0:
            return False
    return True


def load(path, threshold_bits):
    """The detector in ``path``; inlier iff score >= the float32 whose bits are
    threshold_bits (an int 0 .. 2**32-1, not a NaN)."""
    if _LOSSY:
        raise ValueError("this port's floats are 30-bit (MICROPY_OBJ_REPR_C), so float32 "
                         "Gaussian detectors cannot match the host here")
    if not isinstance(threshold_bits, int) or threshold_bits < 0 \
            or threshold_bits > 0xFFFFFFFF:
        raise ValueError("threshold_bits must be the float32 bits of the threshold "
                         "(0 .. 2**32-1), got %r" % (threshold_bits,))
    threshold = _bits(threshold_bits)
    if threshold != threshold:
        raise ValueError("the threshold is NaN: set det.threshold to a number")
    with open(path, "rb") as f:
        data = f.read()
    est, cov, n, k, tri = _parse(data)
    o = HEADER_BYTES
    means = array.array("f", data[o:o + 4 * k * n])
    o += 4 * k * n
    consts = array.array("f", data[o:o + 4 * k])
    o += 4 * k
    factor = array.array("f", data[o:])
    data = None
    if not (_finite(means) and _finite(consts) and _finite(factor)):
        _fail("non-finite (NaN/inf) parameter")
    return Gauss(n, _bind(est, cov, n, k, tri, means, consts, factor), threshold)


def _bind(est, cov, n, k, tri, means, consts, factor):
    """score(x): the float32 score of a row (the host's, bit for bit)."""
    d = array.array("f", [0.0] * n)
    lp = array.array("f", [0.0] * k)
    maha = _maha_double if _DOUBLE else _maha_single
    layers = _layers() if cov <= COV_TIED and not _DOUBLE else None
    if layers is not None:
        maha = _native(layers.dense, n, k if cov == COV_FULL else 1, tri, factor, maha)
    r = _R

    def score(x):
        for c in range(k):
            mo = c * n
            for i in range(n):
                d[i] = x[i] - means[mo + i]      # rounded by the store
            m = maha(d, n, cov, factor, c * tri if cov == COV_FULL else 0 if cov == COV_TIED
                     else c * n if cov == COV_DIAG else c)
            if est:
                return -m
            r[0] = 0.5 * m
            r[0] = consts[c] - r[0]
            lp[c] = r[0]
        if k == 1:
            return lp[0]
        mx = lp[0]
        for c in range(1, k):
            if lp[c] > mx:
                mx = lp[c]
        if mx == NINF:
            return mx
        acc = 0.0
        for c in range(k):
            r[0] = lp[c] - mx
            r[0] = acc + pexp(r[0])
            acc = r[0]
        r[0] = mx + plog(acc)
        return r[0]
    return score


def _layers():
    """The network runtime's machine-code layer module (emlnet_fpu on an FPU, emlnet_soft in
    integer code), or None. Imported only for the covariances that use it: a diagonal
    detector leaves a module a network deploy put on the device out of its heap."""
    try:
        import emlnet_fpu
        return emlnet_fpu
    except (ImportError, SyntaxError, ValueError):  # none (or one for another arch)
        pass
    try:
        import emlnet_soft
        return emlnet_soft
    except (ImportError, SyntaxError, ValueError):
        return None


def _native(dense, n, k, tri, factor, bytecode):
    """maha() for full (k factors) and tied (one) covariances with the products in machine
    code: the network runtime's dense(p, a, wb, out) computes out_j = 0 + sum_i W[j][i] * a_i,
    one rounded product and one rounded sum at a time in increasing i, which is the host's
    y_j = 0 + sum_{i <= j} d_i * P[i, j] followed by terms 0 * d_i for i > j. Those add +-0,
    which changes nothing (y_j of either sign of zero squares to +0) unless d_i is infinite:
    0 * inf is NaN. A NaN sum is therefore computed again in bytecode, which is then the
    host's (NaN or not). m = 0 + sum_j y_j * y_j is a second dense layer whose weights are y
    itself and whose bias is the zero after it."""
    wbs = []
    for c in range(k):
        wb = array.array("f", bytes(4 * (n * n + n)))       # W (neuron-major), zero biases
        q = c * tri
        for j in range(n):
            for i in range(j + 1):
                wb[j * n + i] = factor[q]
                q += 1
        wbs.append(wb)
    shapes = (array.array("i", [n, n, 0]), array.array("i", [n, 1, 0]))
    y = array.array("f", [0.0] * (n + 1))                  # y, then the bias 0.0 of m
    out = array.array("f", [0.0])

    def maha(d, n_, cov, factor_, q):
        dense(shapes[0], d, wbs[q // tri if len(wbs) > 1 else 0], y)
        dense(shapes[1], y, y, out)
        m = out[0]
        return m if m == m else bytecode(d, n_, cov, factor_, q)
    return maha


def _maha_double(d, n, cov, factor, q):
    """sum_j y_j * y_j, y = P^T d, each operation rounded to float32 through _R."""
    r = _R
    m = 0.0
    if cov <= COV_TIED:
        for j in range(n):
            acc = 0.0
            for i in range(j + 1):
                r[0] = d[i] * factor[q]
                r[0] = acc + r[0]
                acc = r[0]
                q += 1
            r[0] = acc * acc
            r[0] = m + r[0]
            m = r[0]
        return m
    if cov == COV_DIAG:
        for i in range(n):
            r[0] = d[i] * factor[q + i]
            y = r[0]
            r[0] = y * y
            r[0] = m + r[0]
            m = r[0]
        return m
    p = factor[q]
    for i in range(n):
        r[0] = d[i] * p
        y = r[0]
        r[0] = y * y
        r[0] = m + r[0]
        m = r[0]
    return m


def _maha_single(d, n, cov, factor, q):
    """_maha_double where floats are float32 already (every result is rounded)."""
    m = 0.0
    if cov <= COV_TIED:
        for j in range(n):
            acc = 0.0
            for i in range(j + 1):
                acc += d[i] * factor[q]
                q += 1
            m += acc * acc
        return m
    if cov == COV_DIAG:
        for i in range(n):
            y = d[i] * factor[q + i]
            m += y * y
        return m
    p = factor[q]
    for i in range(n):
        y = d[i] * p
        m += y * y
    return m


class Gauss:
    """A loaded detector: predict(x) -> 1 (inlier) / 0 (outlier), scores(x) -> the score."""

    def __init__(self, n_features, score, threshold):
        self.n_features = n_features
        self.features = 0
        self.kind = 0
        self.n_outputs = 1
        self.threshold = threshold
        self._score = score
        self._out = array.array("f", [0.0])
        self._checked = check_features  # never a row: the first call is checked, even None

    def _check(self, x):
        if x is not self._checked:
            check_features(x, self.n_features, 0)
            self._checked = x

    def predict(self, x):
        self._check(x)
        return 1 if self._score(x) >= self.threshold else 0

    def scores(self, x):
        self._check(x)
        self._out[0] = self._score(x)
        return self._out
