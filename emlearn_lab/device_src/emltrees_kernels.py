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
# 18 child base: a child code below it steps forward that many nodes, else it is leaf
# code - base).
# Slot 9 holds leaf_start. The work buffer: keys[n_features], sums[n_outputs],
# leaf reached per tree[n_trees].


# Viper keeps only the first three locals in registers (on x64 and Thumb), arguments first.
# The hot functions therefore take their hot variables as arguments: the caller passes the
# loop counter or node index, and the buffers the inner loop touches most.
#
# The walkers (forest_<layout><threshold bits><leaves>) are generated from
# emltrees_forest.tmpl and appended below by the host, only those the model needs.


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
        elif layout == 2:
            f = int(ptr8(mb + uint(h[5]))[n])
            a = int(ptr8(mb + uint(h[7]))[n])
            b = int(ptr8(mb + uint(h[8]))[n])
        else:
            f = int(ptr8(mb + uint(h[5]))[n])
            a = int(ptr16(mb + uint(h[7]))[n])
            b = int(ptr16(mb + uint(h[8]))[n])
        # Back to absolute: decision n + step (a step of 0 would loop), leaf nn + code - base.
        if a < 0 or b < 0:
            return n
        if a < base:
            a = n + a if a > 0 else n
        else:
            a = nn + a - base
        if b < base:
            b = n + b if b > 0 else n
        else:
            b = nn + b - base
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
