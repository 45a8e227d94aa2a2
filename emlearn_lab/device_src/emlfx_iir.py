# Sound level of a window after an IIR filter (e.g. A-weighting), in integers.
# Runs on the device (viper) and on the host (CPython): see emlfx_core.py for the rules.
#
# The filter is a cascade of up to 3 second-order sections, direct form I, each
#   y[t] = ((x[t] + b1 x[t-1] + b2 x[t-2] + r) >> shift) - (a1 y[t-1] + a2 y[t-2])
# with small integer numerators (zeros at z = +-1, exact: A-, C-weighting and Butterworth
# band filters all have them) and a1, a2 in Q28. The overall gain the sections leave out
# (including 2**shift) is added to the level in the log domain (gain_q12), exactly.
# Signal words carry 10 fraction bits (input << 10); the host picks the shifts so that the
# filter's worst-case gain (L1 norm) keeps every section output below 2**27. The feedback
# a1*y1 + a2*y2 is summed from 32-bit partial products (y = yh * 2**13 + yl,
# a = ah * 2**14 + al) with error feedback of its rounding (see _level).
# Filter state starts at zero for every window (no carry-over between windows).
# Accuracy (A-weighting, 4..192 kHz, tones at 100 Hz..4 kHz and noise, -6..-60 dBFS): the
# level is within 0.015 dB of scipy.signal.sosfilt in float64 with the unquantised sections
# (the floor to centi-dB included); the filter's own error is ~1 unit of 2**-10 counts.
#
# Output per channel: floor(100 * 10 * log10(mean(y^2) / full_scale^2)), centi-dB relative
# to int16 full scale (32768) for int16 windows, to 1.0 for float windows (their
# quantisation shift is added back); FLOOR_CDB for silence, and the floor of every level.
# mean(y^2) is summed from (|y| + 16) >> 5 (5 fraction bits) as three exact partial sums.
try:
    import micropython
    import emlfx_core as core
except ImportError:         # CPython on the host (decided by micropython, not by sys.path)
    from emlearn_lab.features._viper import micropython, ptr16, ptr32
    from emlearn_lab.device_src import emlfx_core as core
import array

FLOOR_CDB = -15000          # -150 dB: silence
MAX_SECTIONS = 3
FRACTION_BITS = 10          # of the filter's words
_SQUARE_BITS = 10           # the squares are of (|y| + 16) >> 5: units of 2**-10 counts**2
_SECTION = 5                # b1, b2, shift, a1, a2 per section in params["sections"]
_CO = 7                     # per section in the kernel's table: b1, b2, shift, a1h, a1l, a2h, a2l
_Q28 = 1 << 28


@micropython.viper
def _level(win: ptr16, co: ptr16, res: ptr32, c: int):
    # Channel c through the 3 sections of co (n_samples, n_channels, then _CO per section,
    # int16), sums of squares into res: 3 partial sums as (hi, lo) 30-bit limbs each.
    n = int(co[0])
    nc = int(co[1])
    b11 = (int(co[2]) ^ 0x8000) - 0x8000
    b12 = (int(co[3]) ^ 0x8000) - 0x8000
    k1 = int(co[4])
    c1h = (int(co[5]) ^ 0x8000) - 0x8000
    c1l = int(co[6])
    d1h = (int(co[7]) ^ 0x8000) - 0x8000
    d1l = int(co[8])
    b21 = (int(co[9]) ^ 0x8000) - 0x8000
    b22 = (int(co[10]) ^ 0x8000) - 0x8000
    k2 = int(co[11])
    c2h = (int(co[12]) ^ 0x8000) - 0x8000
    c2l = int(co[13])
    d2h = (int(co[14]) ^ 0x8000) - 0x8000
    d2l = int(co[15])
    b31 = (int(co[16]) ^ 0x8000) - 0x8000
    b32 = (int(co[17]) ^ 0x8000) - 0x8000
    k3 = int(co[18])
    c3h = (int(co[19]) ^ 0x8000) - 0x8000
    c3l = int(co[20])
    d3h = (int(co[21]) ^ 0x8000) - 0x8000
    d3l = int(co[22])
    r1 = (1 << k1) >> 1
    r2 = (1 << k2) >> 1
    r3 = (1 << k3) >> 1
    # a*y / 2**28 in units of 2**-15 of an output unit is m = 2 * ah * yl + al * yh +
    # (al * yl >> 13) (each < 2**28) plus ah * yh * 2**14 (kept apart: it would overflow).
    # The feedback is floored and the remainder f carried into the next sample's m:
    # first-order error feedback, which shapes the rounding noise by 1 - z**-1 and so
    # cancels most of its gain through poles near z = 1 (A-weighting's 20.6 Hz pair).
    f1 = 0
    f2 = 0
    f3 = 0
    x1 = 0
    x2 = 0
    p1 = 0
    p2 = 0
    q1 = 0
    q2 = 0
    z1 = 0
    z2 = 0
    shh = 0
    shl = 0
    sll = 0
    hh_hi = 0
    hh_lo = 0
    hl_hi = 0
    hl_lo = 0
    ll_hi = 0
    ll_lo = 0
    i = c
    end = n * nc
    while i < end:
        stop = i + 256 * nc             # 256 squares of < 2**22 per partial sum < 2**30
        if stop > end:
            stop = end
        while i < stop:
            x = ((int(win[i]) ^ 0x8000) - 0x8000) << 10
            u = (x + b11 * x1 + b12 * x2 + r1) >> k1
            x2 = x1
            x1 = x
            h1 = p1 >> 13
            h2 = p2 >> 13
            l1 = p1 & 0x1FFF
            l2 = p2 & 0x1FFF
            m = (((c1h * l1 + d1h * l2) << 1) + c1l * h1 + d1l * h2
                 + ((c1l * l1 + d1l * l2) >> 13) + f1)
            h1 = c1h * h1 + d1h * h2 + (m >> 14)
            f1 = ((h1 & 1) << 14) + (m & 0x3FFF)
            y = u - (h1 >> 1)
            u = (y + b21 * p1 + b22 * p2 + r2) >> k2
            p2 = p1
            p1 = y
            h1 = q1 >> 13
            h2 = q2 >> 13
            l1 = q1 & 0x1FFF
            l2 = q2 & 0x1FFF
            m = (((c2h * l1 + d2h * l2) << 1) + c2l * h1 + d2l * h2
                 + ((c2l * l1 + d2l * l2) >> 13) + f2)
            h1 = c2h * h1 + d2h * h2 + (m >> 14)
            f2 = ((h1 & 1) << 14) + (m & 0x3FFF)
            y = u - (h1 >> 1)
            u = (y + b31 * q1 + b32 * q2 + r3) >> k3
            q2 = q1
            q1 = y
            h1 = z1 >> 13
            h2 = z2 >> 13
            l1 = z1 & 0x1FFF
            l2 = z2 & 0x1FFF
            m = (((c3h * l1 + d3h * l2) << 1) + c3l * h1 + d3l * h2
                 + ((c3l * l1 + d3l * l2) >> 13) + f3)
            h1 = c3h * h1 + d3h * h2 + (m >> 14)
            f3 = ((h1 & 1) << 14) + (m & 0x3FFF)
            y = u - (h1 >> 1)
            z2 = z1
            z1 = y
            if y < 0:
                y = 0 - y
            y = (y + 16) >> 5
            h1 = y >> 11
            y = y & 0x7FF
            shh += h1 * h1
            shl += h1 * y
            sll += y * y
            i += nc
        hh_lo += shh
        hh_hi += hh_lo >> 30
        hh_lo = hh_lo & 0x3FFFFFFF
        hl_lo += shl
        hl_hi += hl_lo >> 30
        hl_lo = hl_lo & 0x3FFFFFFF
        ll_lo += sll
        ll_hi += ll_lo >> 30
        ll_lo = ll_lo & 0x3FFFFFFF
        shh = 0
        shl = 0
        sll = 0
    res[0] = hh_hi
    res[1] = hh_lo
    res[2] = hl_hi
    res[3] = hl_lo
    res[4] = ll_hi
    res[5] = ll_lo


class SoundLevel:
    """Device side of eml.features.SoundLevel. params: the Input fields, sections (a flat
    list of b1, b2, shift, a1, a2 per section, at most 3: numerator [1, b1, b2], b1 in
    [-2, 2], b2 in [-1, 1], shift in [0, 7], a1 and a2 in Q28 within the stability triangle;
    [] for no filter) and gain_q12 (4096 * log2 of the power gain the sections leave out).
    The range checks keep a corrupt spec from crashing; that the filter's gain keeps its
    words below 2**27 is the host's design (features/_design.py, iir_params)."""

    def __init__(self, params):
        self.input = core.Input(params)
        sec = core.int_list(params, "sections", 0, MAX_SECTIONS * _SECTION,
                            -(_Q28 * 2 - 1), _Q28 * 2 - 1)
        if len(sec) % _SECTION:
            raise ValueError("feature spec: 'sections' must hold %d ints per section, got %d"
                             % (_SECTION, len(sec)))
        self.gain = core.param(params, "gain_q12", -(1 << 20), 1 << 20)
        co = [self.input.n_samples, self.input.n_channels]
        for s in range(MAX_SECTIONS):
            if s * _SECTION < len(sec):
                b1, b2, k, a1, a2 = sec[s * _SECTION:(s + 1) * _SECTION]
            else:
                b1, b2, k, a1, a2 = 0, 0, 0, 0, 0       # identity: y = x exactly
            # Stable (poles inside the unit circle): |a2| < 1 and |a1| < 1 + a2.
            if (not -2 <= b1 <= 2 or not -1 <= b2 <= 1 or not 0 <= k <= 7
                    or not -_Q28 < a2 < _Q28 or not -(_Q28 + a2) < a1 < _Q28 + a2):
                raise ValueError("feature spec: section %d of 'sections' is out of range or "
                                 "unstable: %r" % (s, sec[s * _SECTION:(s + 1) * _SECTION]))
            co += [b1, b2, k, a1 >> 14, a1 & 0x3FFF, a2 >> 14, a2 & 0x3FFF]
        self.co = array.array("h", co)
        # Level offset (Q12 log2): the filter gain, the units of the squares, full scale
        # squared and the mean's 1/n.
        # Full scale: 2**15 counts, or 1.0 = 2**shift counts for float windows.
        full = [15] * self.input.n_channels
        if self.input.dtype == "f":
            full = list(params["shifts"])
        mean = core.log2q(0, self.input.n_samples)
        self.offsets = [self.gain - ((_SQUARE_BITS + 2 * f) << core.LOG2_Q) - mean
                        for f in full]
        self.res = array.array("i", bytes(4 * 6))
        self.n_features = self.input.n_channels

    def transform(self, window, out, at=0):
        """Write the level of each channel of window (centi-dB) into out[at:]."""
        win = self.input.prepare(window)
        r = self.res
        for c in range(self.input.n_channels):
            _level(win, self.co, r, c)
            total = ((((r[0] << 30) + r[1]) << 22) + (((r[2] << 30) + r[3]) << 12)
                     + (r[4] << 30) + r[5])
            level = FLOOR_CDB
            if total:
                level = core.centi_db(core.log2q_int(total) + self.offsets[c])
                if level < FLOOR_CDB:
                    level = FLOOR_CDB
            out[at] = level
            at += 1
        return at
