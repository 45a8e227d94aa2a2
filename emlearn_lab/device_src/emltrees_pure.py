# Bytecode fallback for emltrees_kernels: the same functions without the viper emitter, for
# ports built without native code or devices whose mpy version no mpy-cross matches.
# Roughly 20-50x slower; the results are identical (tested against the viper kernels).
import struct

_M32 = 0xFFFFFFFF


def _u32(w, i):
    return w[i] & _M32


def _put(w, i, v):
    # w is array('i'): store the low 32 bits as a signed value.
    v &= _M32
    w[i] = v - 0x100000000 if v & 0x80000000 else v


def _keys(x, w, h):
    k = h[10]
    if h[13]:
        for i in range(h[3]):
            _put(w, k + i, x[i] + 0x8000)
        return
    for i, b in enumerate(struct.unpack("<%dI" % h[3], x)):
        _put(w, k + i, (b ^ _M32) if b & 0x80000000 else (b | 0x80000000))


# (feature, root, child) struct codes and widths per layout: small, large, tiny (packed files,
# layout 3, have the tiny layout's uint16 roots; their nodes are read by packed_node).
_CODES = ((("<B", 1), ("<H", 2), ("<H", 2)), (("<H", 2), ("<I", 4), ("<I", 4)),
          (("<B", 1), ("<H", 2), ("<B", 1)))


def _child(m, h, side, n, layout):
    (cc, cw) = _CODES[layout][2]
    c = struct.unpack_from(cc, m, h[side] + n * cw)[0]
    return n + c if c < h[18] else h[1] + c - h[18]


def _packed_fields(m, h, n):
    # Packed node n's fields: feature, threshold index, left code, right code.
    fb, tb, lb, wb = h[28], h[29], h[30], h[31] & 255
    if wb == 4:
        w = struct.unpack_from("<I", m, h[5] + 4 * n)[0]
    else:
        w = struct.unpack_from("<H", m, h[5] + 2 * n)[0]
        if wb == 3:
            w |= m[h[8] + n] << 16
    return (w & ((1 << fb) - 1), (w >> fb) & ((1 << tb) - 1),
            (w >> (fb + tb)) & ((1 << lb) - 1), w >> (fb + tb + lb))


def packed_node(m, h, n):
    """Decision node n of a checked packed file (layout 3, see emltrees_kernels.check_packed):
    (feature, threshold key, left code, right code)."""
    f, i, a, b = _packed_fields(m, h, n)
    tc, tw = ("<H", 2) if h[13] else ("<I", 4)
    if h[31] >> 8:
        t = struct.unpack_from(tc, m, h[6] + tw * (struct.unpack_from("<H", m, h[7] + 2 * f)[0]
                                                    + i))[0]
    else:
        t = (struct.unpack_from(tc, m, h[6])[0] + i) & _M32
    return f, t, a, b


def _walk_packed(m, w, h, n):
    nn, key = h[1], h[10]
    while True:
        f, t, a, b = packed_node(m, h, n)
        if _u32(w, key + f) <= t:
            if a:
                return nn + a - 1
            n += 1
        elif b >= h[18]:
            return nn + b - h[18]
        else:
            n += b


def forest(n, w, m, x):
    """Every layout: h[20] = layout | features << 2 | dense leaves << 4 (see emltrees.py).
    w is the work buffer, headed by the layout table h."""
    h = w
    layout, thr16, dense = h[20] & 3, (h[20] >> 2) & 3, h[20] >> 4
    _keys(x, w, h)
    nt, nn, no = h[0], h[1], h[2]
    (fc, fw), (ic, iw), _ = _CODES[2 if layout == 3 else layout]
    tc, tw = ("<H", 2) if thr16 else ("<I", 4)
    unpack = struct.unpack_from
    key, acc = h[10], h[11]
    sums = [0] * no
    for t in range(nt):
        n = unpack(ic, m, h[4] + t * iw)[0]
        if layout == 3 and n < nn:
            n = _walk_packed(m, w, h, n)
        while n < nn:
            f = unpack(fc, m, h[5] + n * fw)[0]
            go_left = _u32(w, key + f) <= unpack(tc, m, h[6] + tw * n)[0]
            n = _child(m, h, 7 if go_left else 8, n, layout)
        n -= nn
        _put(w, acc + no + t, n)
        if dense:
            for j in range(no):
                sums[j] += m[h[16] + n * no + j]
            continue
        a, b = unpack("<2I", m, h[9] + 4 * n)
        for k in range(a, b):
            sums[unpack("<H", m, h[15] + 2 * k)[0]] += unpack("<i", m, h[16] + 4 * k)[0]
    for j in range(no):
        _put(w, acc + j, sums[j])
    return argmax(w, h)


def quantise(x, out, q, n):
    """emlab_quant.quantise without native code (same integer steps, Python ints)."""
    offsets = struct.unpack_from("<%di" % n, q, 0)
    shifts = struct.unpack_from("<%db" % n, q, 4 * n)
    for j in range(n):
        b = struct.unpack("<I", struct.pack("<f", x[j]))[0]
        e, m, neg = (b >> 23) & 0xFF, b & 0x7FFFFF, b >> 31
        if e == 0:
            e = 1
        else:
            m |= 0x800000
        p = e - 150 + shifts[j]
        if e == 255 or p >= 7:
            out[j] = -32768 if neg else 32767
            continue
        if p >= 0:
            v, frac = m << p, 0
        else:
            v, frac = m >> -p, m & ((1 << -p) - 1)
        if neg:
            v = -v - (1 if frac else 0)
        out[j] = min(max(v - offsets[j], -32768), 32767)


def argmax(w, h):
    acc = h[11]
    best = 0
    for j in range(1, h[2]):
        if w[acc + j] > w[acc + best]:
            best = j
    if h[14]:
        for j in range(h[2]):
            if j != best and w[acc + best] - w[acc + j] <= h[14]:
                return -1 - best
    return best


def check_nodes(m, h, layout):
    """The same rules as the viper check_nodes (see the proof in emltrees_kernels.py)."""
    nt, nn, nf, nl, base = h[0], h[1], h[3], h[12], h[18]
    (fc, fw), (rc, rw), (cc, cw) = _CODES[2 if layout == 3 else layout]
    unpack = struct.unpack_from
    for n in range(nn if layout == 3 else 0):
        f, i, a, b = _packed_fields(m, h, n)
        if f >= nf or b < 1 or (h[31] >> 8 and i >= unpack("<H", m, h[7] + 2 * f + 2)[0]
                                - unpack("<H", m, h[7] + 2 * f)[0]):
            return n
        if (n + 1 >= nn) if a == 0 else (a - 1 >= nl):
            return n
        if (b >= nn - n) if b < base else (b - base >= nl):
            return n
    for n in range(0 if layout == 3 else nn):
        if unpack(fc, m, h[5] + n * fw)[0] >= nf:
            return n
        for side in (7, 8):
            c = unpack(cc, m, h[side] + n * cw)[0]
            if c < 1 or (c < base and c >= nn - n) or (c >= base and c - base >= nl):
                return n
    for t in range(nt):
        if unpack(rc, m, h[4] + t * rw)[0] >= nn + nl:
            return nn + t
    return -1


def check_leaves(m, h, lo, hi):
    """The same rules as the viper check_leaves."""
    nl, nc, no, smin, smax = h[12], h[17], h[2], h[21], h[22]
    if h[20] & 16:
        for n in range(nl):
            row = m[h[16] + n * no:h[16] + (n + 1) * no]
            s = sum(row)
            if max(row) > hi or s < smin or s > smax:
                return n
        return -1
    start = struct.unpack_from("<%dI" % (nl + 1), m, h[9])
    if start[0] != 0 or start[nl] != nc:
        return nl
    cls = struct.unpack_from("<%dH" % nc, m, h[15])
    val = struct.unpack_from("<%di" % nc, m, h[16])
    for n in range(nl):
        a, b = start[n], start[n + 1]
        if b < a or b > nc:
            return n
        prev = -1
        for k in range(a, b):
            if cls[k] >= no or cls[k] <= prev or val[k] < lo or val[k] > hi:
                return n
            prev = cls[k]
        if smax > 0:
            s = sum(val[a:b])
            if (s < smin or s > smax) and (s != 0 or not h[23]):
                return n
    return -1


def check_quantiser(m, h, lim, shifts):
    """The same rules as the viper check_quantiser."""
    n = h[3]
    offsets = struct.unpack_from("<%di" % n, m, h[19])
    scales = struct.unpack_from("<%db" % n, m, h[19] + 4 * n)
    for j in range(n):
        if not (-lim <= offsets[j] <= lim and -shifts <= scales[j] <= shifts):
            return j
    return -1
