# Feature quantisation on the device: float32 features -> int16, exactly as the host's
# emlearn_lab/trees/quantise.py computes q = clip(floor(x * 2**shift) - offset, -32768, 32767).
# Integer operations on the float32's bits only, so the result does not depend on whether the
# port's floats are single or double precision. The bytecode twin is emltrees_pure.quantise.
import micropython


@micropython.viper
def quantise(x: ptr32, out: ptr16, q: ptr16, n: int):
    # q: int32 offset[n] (read as two uint16 halves: portable sign handling on 64-bit ports),
    # then int8 shift[n].
    sh = ptr8(uint(q) + (uint(n) << 2))
    j = 0
    while j < n:
        b = int(x[j])
        e = (b >> 23) & 0xFF
        m = b & 0x7FFFFF
        neg = (b >> 31) & 1
        if e == 0:
            e = 1                       # subnormal: no implicit bit
        else:
            m = m | 0x800000
        s = int(sh[j])
        if s > 127:
            s = s - 256
        p = e - 150 + s                 # |x| * 2**shift = m * 2**p
        if e == 255 or p >= 7:
            # |x| * 2**shift >= 2**30 (or inf/nan): beyond any offset, saturates.
            r = -32768 if neg else 32767
        else:
            frac = 0
            if p >= 0:
                v = m << p
            elif p > -25:
                v = m >> (0 - p)
                frac = m & ((1 << (0 - p)) - 1)
            else:
                v = 0
                frac = m
            if neg:
                v = 0 - v
                if frac:
                    v = v - 1           # floor of a negative value with a fraction
            o = (((int(q[2 * j + 1]) ^ 0x8000) - 0x8000) << 16) + int(q[2 * j])
            r = v - o
            if r < -32768:
                r = -32768
            elif r > 32767:
                r = 32767
        out[j] = r
        j += 1


@micropython.viper
def check_quantiser(m: ptr8, h: ptr32, lim: int, shifts: int) -> int:
    # At load (emltrees; m the model blob, h its layout table): -1 when every feature's
    # |offset| <= lim and |shift| <= shifts (what trees/quantise.py writes; quantise's 32-bit
    # arithmetic cannot overflow then), else the first bad feature.
    n = h[3]
    q = ptr16(uint(m) + uint(h[19]))
    sh = ptr8(uint(q) + (uint(n) << 2))
    j = 0
    while j < n:
        o = (((int(q[2 * j + 1]) ^ 0x8000) - 0x8000) << 16) + int(q[2 * j])
        s = int(sh[j])
        if s > 127:
            s = s - 256
        if o < 0 - lim or o > lim or s < 0 - shifts or s > shifts:
            return j
        j += 1
    return -1
