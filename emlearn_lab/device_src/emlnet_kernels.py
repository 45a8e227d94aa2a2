# The int8 network kernel (viper): one call per predict runs every layer. It computes exactly
# what emlearn_lab/nets/int8.py computes on the host, with integer operations only.
#
# Viper loads bytes unsigned, so int8 weights and activations are stored biased by 128 and the
# products are corrected per neuron: sum (w+128)(a+128) = sum w*a + 128 sum w + 128 sum a +
# 16384 n, so acc = sum wu*au + const - 128 * sum au, with const = bias - 128 sum wu +
# 16384 n from the file. int32 constants are read as two uint16 halves, which keeps the sign
# right on 64-bit ports (viper loads 32-bit words zero-extended there).
#
# work: int32 scores[n_outputs], then activation buffers A and B (bytes). h: the layout table
# (see emlnet_int8.layout). x: array('f') features. Returns the class index (classifiers).
import micropython


@micropython.viper
def net8(work: ptr32, blob: ptr8, h: ptr32, x: ptr32) -> int:
    mb = uint(blob)
    wb = uint(work)
    nl = h[0]
    n = h[1]
    cur = ptr8(wb + uint(h[3]))
    nxt = ptr8(wb + uint(h[4]))
    sh = ptr8(mb + uint(h[2]))
    # Input: q = clip(floor(x * 2**(s+1)) + 1 >> 1, -128, 127), from the float32's bits.
    j = 0
    while j < n:
        b = int(x[j])
        e = (b >> 23) & 0xFF
        m = b & 0x7FFFFF
        if e == 0:
            e = 1                       # subnormal: no implicit bit
        else:
            m = m | 0x800000
        s = int(sh[j])
        if s > 127:
            s = s - 256
        p = e - 149 + s                 # |x| * 2**(s+1) = m * 2**p
        if e == 255 or p >= 7:
            v = 512                     # saturates (inf/nan never reach here: host checks)
            frac = 0
        elif p >= 0:
            v = m << p
            frac = 0
        elif p > -25:
            v = m >> (0 - p)
            frac = m & ((1 << (0 - p)) - 1)
        else:
            v = 0
            frac = m
        if (b >> 31) & 1:
            v = 0 - v
            if frac:
                v = v - 1               # floor of a negative value with a fraction
        v = (v + 1) >> 1
        if v < -128:
            v = -128
        elif v > 127:
            v = 127
        cur[j] = v + 128
        j += 1
    top = 0
    best = 0
    layer = 0
    while layer < nl:
        d = 8 + 8 * layer
        n_in = h[d]
        n_out = h[d + 1]
        w = ptr8(mb + uint(h[d + 2]))
        c = ptr16(mb + uint(h[d + 3]))
        sh = ptr8(mb + uint(h[d + 4]))
        lut_off = h[d + 5]
        act = h[d + 6]
        last = layer == nl - 1
        lo = 0 if act == 1 else -128
        sa = 0
        j = 0
        while j < n_in:
            sa += cur[j]
            j += 1
        sa = sa << 7
        base = 0
        o = 0
        while o < n_out:
            acc = 0
            j = 0
            while j < n_in:
                acc += w[base + j] * cur[j]
                j += 1
            base += n_in
            acc = acc + (((int(c[2 * o + 1]) ^ 0x8000) - 0x8000) << 16) + int(c[2 * o]) - sa
            if last:
                if act == 1 and acc < 0:
                    acc = 0
                work[o] = acc
                # First maximum wins, as numpy.argmax does (signed: compare the machine int,
                # not the stored word, which 64-bit ports read back zero-extended).
                if o == 0 or acc > top:
                    top = acc
                    best = o
            else:
                r = int(sh[o])
                if r:
                    acc = (acc + (1 << (r - 1))) >> r
                if lut_off:
                    if acc < -128:
                        acc = -128
                    elif acc > 127:
                        acc = 127
                    nxt[o] = ptr8(mb + uint(lut_off))[acc + 128]
                else:
                    if acc < lo:
                        acc = lo
                    elif acc > 127:
                        acc = 127
                    nxt[o] = acc + 128
            o += 1
        t = cur
        cur = nxt
        nxt = t
        layer += 1
    if not h[6]:
        return 0
    if h[7] == 1:
        return 1 if top > 0 else 0
    return best
