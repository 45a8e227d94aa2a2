# Hot loops of the tree runtime, under the viper emitter.
#
# Portability rules (the same source is compiled for x64, ARM, Xtensa, RISC-V):
# - Features are compared as biased uint32 "keys" (see emltrees.py). Both sides of every
#   comparison come from ptr32 loads and are compared as uint: a 64-bit port may zero- or
#   sign-extend a ptr32 load, but it does so to both operands alike, so the unsigned order of
#   the low 32 bits is kept.
# - No integer literal above 0x3fffffff: viper turns those into Python objects on 32-bit
#   targets. 2**31 is built at run time as 1 << 31.
# - Accumulators are ptr32 cells: adding zero- or sign-extended int32 leaves and storing the
#   low 32 bits gives the exact two's complement sum as long as the true sum fits int32.
import micropython

# Offsets into the layout table `h` (an array('i')) shared with emltrees.py.
# 0 n_trees, 1 n_nodes, 2 n_outputs, 3 n_features, 4 roots, 5 feature, 6 threshold,
# 7 left, 8 right, 9 leaves, 10 keys, 11 acc  (4..9 byte offsets into the blob,
# 10..11 cell offsets into the work buffer, 12 n_leaves, 13 1 if int16 features,
# 14 near-tie margin (0: none), 15 leaf_class, 16 leaf_value (byte offsets), 17 n_cells,
# 18 child base of the tiny layout).
# Slot 9 holds leaf_start. The work buffer: keys[n_features], sums[n_outputs],
# leaf reached per tree[n_trees].


# Viper keeps only the first three locals in registers (on x64 and Thumb), arguments first.
# The hot functions therefore take their hot variables as arguments: the caller passes the
# loop counter or node index, and the buffers the inner loop touches most.


@micropython.viper
def forest_small(n: int, key: ptr32, feat: ptr8, h: ptr32, x: ptr32) -> int:
    # Layout "small": feature uint8, child/root uint16; children >= n_nodes are leaves.
    # Called with n = 0, key = work buffer (keys then sums), feat = the model blob, h = the
    # layout table, x = the features (float32 or int16 by h[13]).
    mb = uint(feat)
    nt = h[0]
    nn = h[1]
    no = h[2]
    acc = ptr32(uint(key) + (uint(h[11]) << 2))
    thr = ptr32(mb + uint(h[6]))
    left = ptr16(mb + uint(h[7]))
    right = ptr16(mb + uint(h[8]))
    roots = ptr16(mb + uint(h[4]))
    lstart = ptr32(mb + uint(h[9]))
    lclass = ptr16(mb + uint(h[15]))
    lvalue = ptr32(mb + uint(h[16]))
    feat = ptr8(mb + uint(h[5]))
    # Features -> keys. float32: order-preserving uint32 (negative floats bit-inverted, others
    # with the sign bit set; -0.0 sorts one below +0.0, and the host never writes a -0.0
    # threshold). int16: x + 32768. Both in the same unsigned order as the thresholds.
    j = h[3]
    if h[13]:
        x16 = ptr16(x)
        while j > 0:
            j -= 1
            key[j] = int(x16[j]) ^ 0x8000
    else:
        top = uint(1) << 31
        while j > 0:
            j -= 1
            b = uint(x[j])
            if b >> 31:
                key[j] = b ^ -1
            else:
                key[j] = b + top
    j = 0
    while j < no:
        acc[j] = 0
        j += 1
    t = 0
    while t < nt:
        n = int(roots[t])
        while n < nn:
            if uint(key[feat[n]]) <= uint(thr[n]):
                n = int(left[n])
            else:
                n = int(right[n])
        n = n - nn
        acc[no + t] = n  # leaf reached, for the exact near-tie path (emlab_f64)
        j = int(lstart[n])
        n = int(lstart[n + 1])
        while j < n:
            c = int(lclass[j])
            acc[c] = acc[c] + lvalue[j]
            j += 1
        t += 1
    # First maximum wins, as numpy.argmax does; class sums are non-negative and < 2**31.
    n = 0
    j = 1
    while j < no:
        if int(acc[j]) > int(acc[n]):
            n = j
        j += 1
    # Near tie: another class within h[14] of the best. The host's float64 average could
    # order them either way, so the caller settles it exactly (returned as -1 - best).
    t = h[14]
    if t:
        j = 0
        while j < no:
            if j != n and int(acc[n]) - int(acc[j]) <= t:
                return -1 - n
            j += 1
    return n


@micropython.viper
def forest_large(n: int, key: ptr32, feat: ptr16, h: ptr32, x: ptr32) -> int:
    # Layout "large": feature uint16, child/root uint32 (forests past 65 535 entries).
    # A copy of forest_small with wider pointer types: viper pointer types are static.
    mb = uint(feat)
    nt = h[0]
    nn = h[1]
    no = h[2]
    acc = ptr32(uint(key) + (uint(h[11]) << 2))
    thr = ptr32(mb + uint(h[6]))
    left = ptr32(mb + uint(h[7]))
    right = ptr32(mb + uint(h[8]))
    roots = ptr32(mb + uint(h[4]))
    lstart = ptr32(mb + uint(h[9]))
    lclass = ptr16(mb + uint(h[15]))
    lvalue = ptr32(mb + uint(h[16]))
    feat = ptr16(mb + uint(h[5]))
    # Features -> keys. float32: order-preserving uint32 (negative floats bit-inverted, others
    # with the sign bit set; -0.0 sorts one below +0.0, and the host never writes a -0.0
    # threshold). int16: x + 32768. Both in the same unsigned order as the thresholds.
    j = h[3]
    if h[13]:
        x16 = ptr16(x)
        while j > 0:
            j -= 1
            key[j] = int(x16[j]) ^ 0x8000
    else:
        top = uint(1) << 31
        while j > 0:
            j -= 1
            b = uint(x[j])
            if b >> 31:
                key[j] = b ^ -1
            else:
                key[j] = b + top
    j = 0
    while j < no:
        acc[j] = 0
        j += 1
    t = 0
    while t < nt:
        n = int(roots[t])
        while n < nn:
            if uint(key[feat[n]]) <= uint(thr[n]):
                n = int(left[n])
            else:
                n = int(right[n])
        n = n - nn
        acc[no + t] = n  # leaf reached, for the exact near-tie path (emlab_f64)
        j = int(lstart[n])
        n = int(lstart[n + 1])
        while j < n:
            c = int(lclass[j])
            acc[c] = acc[c] + lvalue[j]
            j += 1
        t += 1
    n = 0
    j = 1
    while j < no:
        if int(acc[j]) > int(acc[n]):
            n = j
        j += 1
    # Near tie: another class within h[14] of the best. The host's float64 average could
    # order them either way, so the caller settles it exactly (returned as -1 - best).
    t = h[14]
    if t:
        j = 0
        while j < no:
            if j != n and int(acc[n]) - int(acc[j]) <= t:
                return -1 - n
            j += 1
    return n


@micropython.viper
def forest_tiny(n: int, key: ptr32, feat: ptr8, h: ptr32, x: ptr32) -> int:
    # Layout "tiny": feature uint8, root uint16, child uint8: below h[18] the offset of a
    # decision child from its parent, else h[18] + leaf. A copy of forest_small with other
    # pointer types and the relative step: viper pointer types are static.
    mb = uint(feat)
    nt = h[0]
    nn = h[1]
    no = h[2]
    acc = ptr32(uint(key) + (uint(h[11]) << 2))
    thr = ptr32(mb + uint(h[6]))
    left = ptr8(mb + uint(h[7]))
    right = ptr8(mb + uint(h[8]))
    roots = ptr16(mb + uint(h[4]))
    base = h[18]
    lstart = ptr32(mb + uint(h[9]))
    lclass = ptr16(mb + uint(h[15]))
    lvalue = ptr32(mb + uint(h[16]))
    feat = ptr8(mb + uint(h[5]))
    # Features -> keys. float32: order-preserving uint32 (negative floats bit-inverted, others
    # with the sign bit set; -0.0 sorts one below +0.0, and the host never writes a -0.0
    # threshold). int16: x + 32768. Both in the same unsigned order as the thresholds.
    j = h[3]
    if h[13]:
        x16 = ptr16(x)
        while j > 0:
            j -= 1
            key[j] = int(x16[j]) ^ 0x8000
    else:
        top = uint(1) << 31
        while j > 0:
            j -= 1
            b = uint(x[j])
            if b >> 31:
                key[j] = b ^ -1
            else:
                key[j] = b + top
    j = 0
    while j < no:
        acc[j] = 0
        j += 1
    t = 0
    while t < nt:
        n = int(roots[t])
        if n < nn:
            # One comparison per visit: the child code itself says leaf or offset.
            while True:
                if uint(key[feat[n]]) <= uint(thr[n]):
                    c = int(left[n])
                else:
                    c = int(right[n])
                if c >= base:
                    break
                n = n + c
            n = c - base
        else:
            n = n - nn
        acc[no + t] = n  # leaf reached, for the exact near-tie path (emlab_f64)
        j = int(lstart[n])
        n = int(lstart[n + 1])
        while j < n:
            c = int(lclass[j])
            acc[c] = acc[c] + lvalue[j]
            j += 1
        t += 1
    n = 0
    j = 1
    while j < no:
        if int(acc[j]) > int(acc[n]):
            n = j
        j += 1
    # Near tie: another class within h[14] of the best. The host's float64 average could
    # order them either way, so the caller settles it exactly (returned as -1 - best).
    t = h[14]
    if t:
        j = 0
        while j < no:
            if j != n and int(acc[n]) - int(acc[j]) <= t:
                return -1 - n
            j += 1
    return n


@micropython.viper
def check_nodes(m: ptr8, h: ptr32, layout: int) -> int:
    # Returns -1 when every index is in range and every child lies after its parent (so no
    # walk can loop or run past n_nodes steps), else the first offending node (or
    # n_nodes + tree for a bad root). layout: 0 small, 1 large, 2 tiny (see emltrees.py).
    nt = h[0]
    nn = h[1]
    nf = h[3]
    base = h[18]
    mb = uint(m)
    limit = nn + h[12]
    n = 0
    while n < nn:
        if layout == 1:
            f = int(ptr16(mb + uint(h[5]))[n])
            a = int(ptr32(mb + uint(h[7]))[n])
            b = int(ptr32(mb + uint(h[8]))[n])
        else:
            f = int(ptr8(mb + uint(h[5]))[n])
            if layout == 2:
                a = int(ptr8(mb + uint(h[7]))[n])
                b = int(ptr8(mb + uint(h[8]))[n])
                # Back to absolute: decision n + offset, leaf nn + (code - base).
                if a < base:
                    a = n + a if a > 0 else n
                else:
                    a = nn + a - base
                if b < base:
                    b = n + b if b > 0 else n
                else:
                    b = nn + b - base
            else:
                a = int(ptr16(mb + uint(h[7]))[n])
                b = int(ptr16(mb + uint(h[8]))[n])
        if f >= nf or a <= n or b <= n or a >= limit or b >= limit or a < 0 or b < 0:
            return n
        n += 1
    t = 0
    while t < nt:
        if layout == 1:
            r = int(ptr32(mb + uint(h[4]))[t])
        else:
            r = int(ptr16(mb + uint(h[4]))[t])
        if r < 0 or r >= limit:
            return nn + t
        t += 1
    return -1


@micropython.viper
def check_leaves(m: ptr8, h: ptr32, lo: int, hi: int) -> int:
    # Returns -1 when the sparse leaves are well formed, else the first bad leaf: offsets start
    # at 0, never decrease and end at n_cells; classes are < n_outputs and increase within a
    # leaf (so no sum gets a value twice per tree); values lie in [lo, hi]. Values are read as
    # sign-corrected int32 from two uint16 halves (portable).
    nl = h[12]
    nc = h[17]
    no = h[2]
    mb = uint(m)
    ls = ptr32(mb + uint(h[9]))
    lc = ptr16(mb + uint(h[15]))
    lv = ptr16(mb + uint(h[16]))
    if int(ls[0]) != 0 or int(ls[nl]) != nc:
        return nl
    n = 0
    while n < nl:
        a = int(ls[n])
        b = int(ls[n + 1])
        if a < 0 or b < a or b > nc:
            return n
        prev = -1
        while a < b:
            c = int(lc[a])
            v = (((int(lv[2 * a + 1]) ^ 0x8000) - 0x8000) << 16) + int(lv[2 * a])
            if c >= no or c <= prev or v < lo or v > hi:
                return n
            prev = c
            a += 1
        n += 1
    return -1
