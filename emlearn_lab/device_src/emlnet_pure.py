# Bytecode twin of emlnet_kernels.net8 for ports without native code: the same integer
# arithmetic (see that file and emlearn_lab/nets/int8.py), plain MicroPython.
import struct


def _quantise8(bits, s):
    """clip(floor(x * 2**(s+1)) + 1 >> 1, -128, 127) for the float32 with these bits."""
    e = (bits >> 23) & 0xFF
    m = bits & 0x7FFFFF
    if e == 0:
        e = 1
    else:
        m |= 0x800000
    p = e - 149 + s
    frac = 0
    if e == 255 or p >= 7:
        v = 512
    elif p >= 0:
        v = m << p
    elif p > -25:
        v = m >> -p
        frac = m & ((1 << -p) - 1)
    else:
        v = 0
        frac = m
    if bits >> 31:
        v = -v - (1 if frac else 0)
    v = (v + 1) >> 1
    return -128 if v < -128 else 127 if v > 127 else v


def net8(work, blob, h, x):
    nl, n = h[0], h[1]
    bits = struct.unpack("<%dI" % n, x)
    sh = blob[h[2]:h[2] + n]
    a = [_quantise8(bits[j], sh[j] - 256 if sh[j] > 127 else sh[j]) + 128 for j in range(n)]
    top = best = 0
    for layer in range(nl):
        d = 8 + 8 * layer
        n_in, n_out, w_off, c_off, s_off, lut_off, act = h[d:d + 7]
        last = layer == nl - 1
        lo = 0 if act == 1 else -128
        sa = sum(a) << 7
        nxt = []
        for o in range(n_out):
            row = blob[w_off + o * n_in:w_off + (o + 1) * n_in]
            acc = 0
            for j in range(n_in):
                acc += row[j] * a[j]
            acc += struct.unpack_from("<i", blob, c_off + 4 * o)[0] - sa
            if last:
                if act == 1 and acc < 0:
                    acc = 0
                work[o] = acc
                if o == 0 or acc > top:
                    top, best = acc, o
                continue
            r = blob[s_off + o]
            if r:
                acc = (acc + (1 << (r - 1))) >> r
            if lut_off:
                acc = -128 if acc < -128 else 127 if acc > 127 else acc
                nxt.append(blob[lut_off + acc + 128])
            else:
                acc = lo if acc < lo else 127 if acc > 127 else acc
                nxt.append(acc + 128)
        a = nxt
    if not h[6]:
        return 0
    if h[7] == 1:
        return 1 if top > 0 else 0
    return best
