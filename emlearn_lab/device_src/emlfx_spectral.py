# Band energies of a window's spectrum in centi-decibels (FFT bands, mel bands), in integers.
# Runs on the device (viper) and on the host (CPython): see emlfx_core.py for the rules.
#
# Per channel and frame (frame f starts at sample f * hop; samples past the window are 0):
# x * hann (Q15) >> 1 -> radix-2 complex FFT (decimation in time) in 32-bit words with block
# floating point: before each stage every value is shifted right (rounding) until all fit
# [-2**15, 2**15), and the shifts are counted, so that the Q15 twiddle products fit 31 bits;
# power per bin re^2 + im^2 after a final shift to |v| <= 2**14; the band sums
# sum(weight_q15 * power) exact in 30-bit limbs; then 4096 * log2 with the block exponent
# added back (emlfx_core.log2q), in centi-dB (emlfx_core.centi_db).
#
# Level reference: 0 dB is the energy a full-scale sine puts into the bins 0..n_fft/2
# (3 * n_fft**2 * 2**30 / 32 with the ideal periodic Hann window): a sine of amplitude A
# wholly inside a band with weights 1 reads 20 * log10(A / 32768) dB. Full scale is 32768
# for int16 windows, 1.0 for float windows. FLOOR_CDB for silence, and the floor of every
# value. Twiddles are Q15 round(32768 * cos / sin), made here from exact integer arithmetic
# (no floats), so host and device use the same table. FFT words are stored + 2**29
# (0x20000000 in the kernels): ptr32 loads must be >= 0.
# Accuracy against a float64 FFT with the same tables: a bin's error is about 80 dB below
# the frame's strongest bin (15-bit block floating point), so bands above -60 dB are within
# 0.02 dB if within 20 dB of the strongest band, 0.1 dB if within 40 dB.
try:
    import micropython
    import emlfx_core as core
except ImportError:         # CPython on the host (decided by micropython, not by sys.path)
    from emlearn_lab.features._viper import micropython, ptr16, ptr32
    from emlearn_lab.device_src import emlfx_core as core
import array

FLOOR_CDB = -15000          # -150 dB
POOLS = ("none", "mean", "max")
MAX_BANDS = 256
_CDB_BIAS = 16384           # band levels are stored + 16384 (>= 0 above FLOOR_CDB)
_LOG2_3_Q12 = 6492          # round(4096 * log2(3))
_PI_Q62 = 14488038916154245684      # floor(pi * 2**62)
_log2q = core.log2q


@micropython.viper
def _frame(win: ptr16, buf: ptr32, hann: ptr16, p: ptr32) -> int:
    # p: n_fft, n_channels, index of the frame's first sample, samples left in the window.
    # buf (interleaved re, im) = x * hann >> 1 in bit-reversed order. Returns the bit
    # length of the largest magnitude (OR of v ^ (v >> 31): exact for power-of-two limits).
    n = int(p[0])
    nc = int(p[1])
    src = int(p[2])
    avail = int(p[3])
    m = 0
    i = 0
    j = 0
    while i < n:
        v = 0
        if i < avail:
            v = (((int(win[src]) ^ 0x8000) - 0x8000) * int(hann[i])) >> 1
            src += nc
        buf[2 * j] = v + 0x20000000
        buf[2 * j + 1] = 0x20000000
        m = m | (v ^ (v >> 31))
        bit = n >> 1
        while j & bit:
            j = j ^ bit
            bit = bit >> 1
        j = j | bit
        i += 1
    b = 0
    while m >> b:
        b += 1
    return b


@micropython.viper
def _stage(buf: ptr32, tw: ptr16, n: int, code: int) -> int:
    # One radix-2 stage of butterflies h apart, twiddle k at k * step (code: h << 16 |
    # step << 4 | s); inputs are shifted right by s with rounding. |in| <= 2**15 and
    # |twiddle| <= 32767 keep br * wr + bi * wi < 2**31. Returns the outputs' bit length.
    h = code >> 16
    step = (code >> 4) & 0xFFF
    s = code & 15
    bmr = 0x20000000 - ((1 << s) >> 1)
    span = h << 1
    m = 0
    i = 0
    while i < n:                        # twiddle 1: no multiply
        a = i << 1
        b = (i + h) << 1
        ar = (int(buf[a]) - bmr) >> s
        ai = (int(buf[a + 1]) - bmr) >> s
        br = (int(buf[b]) - bmr) >> s
        bi = (int(buf[b + 1]) - bmr) >> s
        xr = ar + br
        xi = ai + bi
        yr = ar - br
        yi = ai - bi
        buf[a] = xr + 0x20000000
        buf[a + 1] = xi + 0x20000000
        buf[b] = yr + 0x20000000
        buf[b + 1] = yi + 0x20000000
        m = m | (xr ^ (xr >> 31)) | (xi ^ (xi >> 31)) | (yr ^ (yr >> 31)) | (yi ^ (yi >> 31))
        i += span
    j = 1
    while j < h:
        k = (j * step) << 1
        wr = (int(tw[k]) ^ 0x8000) - 0x8000
        wi = (int(tw[k + 1]) ^ 0x8000) - 0x8000
        i = j
        while i < n:
            a = i << 1
            b = (i + h) << 1
            br = (int(buf[b]) - bmr) >> s
            bi = (int(buf[b + 1]) - bmr) >> s
            tr = (br * wr + bi * wi + 0x4000) >> 15         # b * (wr - i wi)
            ti = (bi * wr - br * wi + 0x4000) >> 15
            ar = (int(buf[a]) - bmr) >> s
            ai = (int(buf[a + 1]) - bmr) >> s
            xr = ar + tr
            xi = ai + ti
            yr = ar - tr
            yi = ai - ti
            buf[a] = xr + 0x20000000
            buf[a + 1] = xi + 0x20000000
            buf[b] = yr + 0x20000000
            buf[b + 1] = yi + 0x20000000
            m = m | (xr ^ (xr >> 31)) | (xi ^ (xi >> 31)) | (yr ^ (yr >> 31)) | (yi ^ (yi >> 31))
            i += span
        j += 1
    b = 0
    while m >> b:
        b += 1
    return b


@micropython.viper
def _bands(buf: ptr32, tab: ptr16, res: ptr32, code: int):
    # Band levels of the FFT in buf into res[b] (centi-dB + _CDB_BIAS). tab (uint16):
    # n_bands, (first bin, n_bins) per band, then every band's Q15 weights in order.
    # code: offset << 4 | s, offset (Q12 log2) the block exponent and reference, s the
    # shift that brings every |re|, |im| to <= 2**14 (power <= 2**29).
    s = code & 15
    off = code >> 4
    bmr = 0x20000000 - ((1 << s) >> 1)
    nb = int(tab[0])
    w = 1 + 2 * nb
    band = 0
    while band < nb:
        k = int(tab[1 + 2 * band]) << 1
        end = k + (int(tab[2 + 2 * band]) << 1)
        hi = 0
        lo = 0
        while k < end:
            xr = (int(buf[k]) - bmr) >> s
            xi = (int(buf[k + 1]) - bmr) >> s
            pw = xr * xr + xi * xi
            q = int(tab[w])
            lo += (pw & 0x7FFF) * q                  # pw * q = (pw >> 15) * q * 2**15 + ...
            hi += lo >> 30
            lo = lo & 0x3FFFFFFF
            pw = (pw >> 15) * q
            lo += (pw & 0x7FFF) << 15
            hi += (lo >> 30) + (pw >> 15)
            lo = lo & 0x3FFFFFFF
            k += 2
            w += 1
        v = -15000
        if hi | lo:
            q = int(_log2q(hi, lo)) + off
            v = (q * 301 + ((q * 1966) >> 16)) >> 12        # emlfx_core.centi_db
            if v < -15000:
                v = -15000
        res[band] = v + 16384
        band += 1


@micropython.viper
def _pool(res: ptr32, acc: ptr32, nb: int, code: int):
    # code: at << 2 | pool. none: acc[at:at+nb] = res; mean: acc += res; max: acc = max.
    pool = code & 3
    at = code >> 2
    b = 0
    while b < nb:
        v = int(res[b])
        if pool == 0:
            acc[at + b] = v
        elif pool == 1:
            acc[b] = int(acc[b]) + v
        elif v > int(acc[b]):
            acc[b] = v
        b += 1


def _cos_q15(n):
    """round(32768 * cos(2 pi k / n)) for k in 0..n/4, in exact integers: cos and sin of
    2 pi / n by their series in Q40, then rotation by that angle (error ~ n * 2**-40)."""
    one = 1 << 40
    t = (_PI_Q62 * 2 // n) >> 22
    c = 0
    s = 0
    term = one
    i = 0
    while term:
        r = i & 3
        if r == 0:
            c += term
        elif r == 1:
            s += term
        elif r == 2:
            c -= term
        else:
            s -= term
        i += 1
        term = term * t // (i * one)
    out = []
    ck = one
    sk = 0
    for k in range(n // 4 + 1):
        out.append((ck * 32768 + (one >> 1)) >> 40)
        ck, sk = (ck * c - sk * s) >> 40, (sk * c + ck * s) >> 40
    return out


def twiddles(n):
    """array('h') of (cos, sin)(2 pi k / n) in Q15 for k in 0..n/2-1, clamped to 32767."""
    cq = _cos_q15(n)
    q = n // 4
    tw = array.array("h", bytes(2 * n))
    for k in range(n // 2):
        if k <= q:
            c, s = cq[k], cq[q - k]
        else:
            c, s = -cq[n // 2 - k], cq[k - q]
        tw[2 * k] = c if c < 32767 else 32767
        tw[2 * k + 1] = s if s < 32767 else 32767
    return tw


class Spectral:
    """Device side of eml.features.FFTBands and LogMel. params: the Input fields, n_fft (a
    power of two in [16, 4096]), hop, n_frames ((n_frames - 1) * hop < n_samples), hann
    (n_fft Q15 ints), bands (first bin, n_bins per band, within 0..n_fft/2), weights (the
    bands' Q15 weights, concatenated), pool (0 none: n_frames * n_bands values per channel,
    frame-major; 1 the floored mean over frames; 2 the max)."""

    def __init__(self, params):
        self.input = core.Input(params)
        n = self.input.n_samples
        nfft = core.param(params, "n_fft", 16, 4096)
        if nfft & (nfft - 1):
            raise ValueError("feature spec: 'n_fft' must be a power of two, got %d" % nfft)
        self.n_fft = nfft
        self.hop = core.param(params, "hop", 1, 16384)
        self.n_frames = core.param(params, "n_frames", 1, 16384)
        if (self.n_frames - 1) * self.hop >= n:
            raise ValueError("feature spec: %d frames %d apart start past the window's %d "
                             "samples" % (self.n_frames, self.hop, n))
        self.hann = array.array("H", core.int_list(params, "hann", nfft, nfft, 0, 32767))
        nbins = nfft // 2 + 1
        bands = core.int_list(params, "bands", 2, 2 * MAX_BANDS, 0, nbins)
        nb = len(bands) // 2
        total = 0
        for b in range(nb):
            first, count = bands[2 * b], bands[2 * b + 1]
            if len(bands) % 2 or count < 1 or first + count > nbins:
                raise ValueError("feature spec: 'bands' must hold (first bin, n_bins >= 1) "
                                 "pairs within the %d bins" % nbins)
            total += count
        weights = core.int_list(params, "weights", total, total, 0, 32768)
        self.pool = core.param(params, "pool", 0, 2)
        self.n_bands = nb
        self.tab = array.array("H", [nb] + bands + weights)
        self.tw = twiddles(nfft)
        self.buf = array.array("i", bytes(8 * nfft))
        self.res = array.array("i", bytes(4 * nb))
        self.acc = array.array("i", bytes(4 * nb * (self.n_frames if self.pool == 0 else 1)))
        self.p = array.array("i", [nfft, self.input.n_channels, 0, 0])
        self.n_features = self.input.n_channels * len(self.acc)
        # Level offset (Q12 log2) before the block exponent: x * hann is stored * 2**14 and
        # the weights are Q15 (2**-43 in power), the reference 3 * 2**(2 log2(n_fft) + 25),
        # and full scale: 2**15 counts, or 1.0 = 2**shift counts for float windows.
        full = [15] * self.input.n_channels
        if self.input.dtype == "f":
            full = list(params["shifts"])
        log2n = 0
        while (1 << log2n) < nfft:
            log2n += 1
        self.offsets = [((30 - 2 * f - 68 - 2 * log2n) << core.LOG2_Q) - _LOG2_3_Q12
                        for f in full]

    def transform(self, window, out, at=0):
        """Write the n_features band levels (centi-dB) of window into out[at:]."""
        win = self.input.prepare(window)
        nc = self.input.n_channels
        n = self.input.n_samples
        nfft = self.n_fft
        nb = self.n_bands
        nf = self.n_frames
        buf, tw, acc, res, p = self.buf, self.tw, self.acc, self.res, self.p
        for c in range(nc):
            if self.pool:
                for b in range(nb):
                    acc[b] = 0
            for f in range(nf):
                start = f * self.hop
                p[2] = start * nc + c
                p[3] = n - start
                bits = _frame(win, buf, self.hann, p)
                e = 0
                h = 1
                step = nfft >> 1
                while h < nfft:
                    s = bits - 15 if bits > 15 else 0
                    e += s
                    bits = _stage(buf, tw, nfft, (h << 16) | (step << 4) | s)
                    h = h << 1
                    step = step >> 1
                s = bits - 14 if bits > 14 else 0
                e += s
                _bands(buf, self.tab, res, ((self.offsets[c] + (e << 13)) << 4) | s)
                _pool(res, acc, nb, ((f * nb) << 2) | self.pool)
            if self.pool == 1:
                for b in range(nb):
                    out[at] = (acc[b] - _CDB_BIAS * nf) // nf
                    at += 1
            else:
                for b in range(len(acc)):
                    out[at] = acc[b] - _CDB_BIAS
                    at += 1
        return at
