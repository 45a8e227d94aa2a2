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
# code - base), 19 quantiser (byte offset), 20 layout | features << 2 | dense << 4,
# 21 .. 23 leaf sum limits for check_leaves (min, max (0: unchecked), 1 if 0 is allowed).
# Slot 9 holds leaf_start. The work buffer: keys[n_features], sums[n_outputs],
# leaf reached per tree[n_trees].


# Viper keeps only the first three locals in registers (on x64 and Thumb), arguments first.
# The hot functions therefore take their hot variables as arguments: the caller passes the
# loop counter or node index, and the buffers the inner loop touches most.
#
# The walkers (forest_<layout><threshold bits><leaves>) are generated from
# emltrees_forest.tmpl and appended below by the host, only those the model needs.


# Load-time validation. After check_nodes, check_leaves (and emlab_quant.check_quantiser for
# learned int16 features) return -1, every walk is bounded and every access is in bounds,
# for every layout, threshold width and leaf encoding:
# - load() checked that the file holds exactly the sections the header sizes, so an index
#   below a section's count reads inside the blob; the work buffer has n_features + n_outputs
#   + n_trees cells, and the row n_features items of the checked type (emlab_common).
# - Roots: r < n_nodes starts a walk on a decision node, else r - n_nodes < n_leaves is a leaf.
# - Decision node n < n_nodes: feature < n_features (key read in the keys); each child code
#   is either a step 1 <= c < base with n + c < n_nodes (a later decision node), or a leaf
#   code c >= base with c - base < n_leaves. So n only grows, stays below n_nodes, and a walk
#   makes at most n_nodes visits before it reaches a leaf < n_leaves.
# - Leaves: sparse offsets run from 0 to n_cells without decreasing, classes < n_outputs
#   (acc[c] in the sums); dense values sit at leaf * n_outputs + c < n_cells = n_leaves *
#   n_outputs (checked in the header). acc[n_outputs + t] < n_outputs + n_trees.
# The checks read each code with the same load as the walker (a 32-bit code >= 2**31 reads
# negative on a 32-bit port and is refused; on a 64-bit port it is too big either way), and
# compare differences, never sums, so no check overflows 32 bits.


@micropython.viper
def check_nodes(m: ptr8, h: ptr32, layout: int) -> int:
    # Returns -1 when every node and root is valid (see above), else the first offending node
    # (or n_nodes + tree for a bad root). layout: 0 small, 1 large, 2 tiny (see emltrees.py).
    nt = h[0]
    nn = h[1]
    nf = h[3]
    nl = h[12]
    base = h[18]
    mb = uint(m)
    n = 0
    if layout == 3:
        n = int(check_packed(m, h))
        if n >= 0:
            return n
        n = nn                  # the nodes are checked: the roots (uint16) follow
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
        # A step of 0 would loop; a step landing at n_nodes or beyond reads past the nodes.
        if f < 0 or f >= nf or a < 1 or b < 1:
            return n
        if a < base:
            if a >= nn - n:
                return n
        elif a - base >= nl:
            return n
        if b < base:
            if b >= nn - n:
                return n
        elif b - base >= nl:
            return n
        n += 1
    t = 0
    while t < nt:
        if layout == 1:
            r = int(ptr32(mb + uint(h[4]))[t])
        else:
            r = int(ptr16(mb + uint(h[4]))[t])
        if r < 0 or (r >= nn and r - nn >= nl):
            return nn + t
        t += 1
    return -1


@micropython.viper
def check_packed(m: ptr8, h: ptr32) -> int:
    # check_nodes for packed files (layout 3; emltrees.check_table checked the threshold
    # table's offsets first). Each node word holds feature f, threshold index i, left code l
    # and right code r (h[28] .. h[30] their widths, h[31] word bytes | table << 8):
    # f < n_features; with a table, i < the feature's run (offsets[f + 1] - offsets[f]);
    # l = 0 steps to n + 1 < n_nodes, else l - 1 < n_leaves; r is a step 1 <= r < base with
    # n + r < n_nodes, or r - base < n_leaves. Every field is masked to its width, so a
    # 64-bit port's sign-extended 32-bit load changes nothing. check_nodes checks the roots.
    nn = h[1]
    nf = h[3]
    nl = h[12]
    base = h[18]
    fb = h[28]
    ts = fb
    ls = ts + h[29]
    rs = ls + h[30]
    fm = (1 << fb) - 1
    tm = (1 << h[29]) - 1
    lm = (1 << h[30]) - 1
    wb = h[31] & 255
    rm = (1 << (8 * wb - rs)) - 1
    mb = uint(m)
    lo16 = ptr16(mb + uint(h[5]))
    lo32 = ptr32(mb + uint(h[5]))
    hi8 = ptr8(mb + uint(h[8]))
    off = ptr16(mb + uint(h[7]))
    table = h[31] >> 8
    n = 0
    while n < nn:
        if wb == 4:
            w = int(lo32[n])
        elif wb == 3:
            w = int(lo16[n]) | (int(hi8[n]) << 16)
        else:
            w = int(lo16[n])
        f = w & fm
        i = (w >> ts) & tm
        a = (w >> ls) & lm
        b = (w >> rs) & rm
        if f >= nf or b < 1:
            return n
        if table:
            if i >= int(off[f + 1]) - int(off[f]):
                return n
        if a == 0:
            if n + 1 >= nn:
                return n
        elif a - 1 >= nl:
            return n
        if b < base:
            if b >= nn - n:
                return n
        elif b - base >= nl:
            return n
        n += 1
    return -1


@micropython.viper
def check_leaves(m: ptr8, h: ptr32, lo: int, hi: int) -> int:
    # Returns -1 when the leaves are well formed, else the first bad leaf (n_leaves: bad
    # offsets). Sparse (h[20] bit 4 clear): offsets start at 0, never decrease and end at
    # n_cells; classes are < n_outputs and increase within a leaf (so no sum gets a value
    # twice per tree); values lie in [lo, hi], read as sign-corrected int32 from two uint16
    # halves (portable). Dense: uint8 values <= hi. If h[22] > 0 (classifiers), a leaf's
    # values sum to 0 (only if h[23]) or to h[21] .. h[22]: probabilities stay within [0, 1]
    # (plus rounding) and a normalising sum is never 0. Sums are compared before they are
    # added to (values are >= 0 there), so they cannot overflow.
    nl = h[12]
    nc = h[17]
    no = h[2]
    smin = h[21]
    smax = h[22]
    mb = uint(m)
    if h[20] & 16:
        lv8 = ptr8(mb + uint(h[16]))
        j = 0
        n = 0
        while n < nl:
            s = 0
            c = 0
            while c < no:
                v = int(lv8[j])
                if v > hi:
                    return n
                s += v
                j += 1
                c += 1
            if s < smin or s > smax:
                return n
            n += 1
        return -1
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
        s = 0
        while a < b:
            c = int(lc[a])
            v = (((int(lv[2 * a + 1]) ^ 0x8000) - 0x8000) << 16) + int(lv[2 * a])
            if c >= no or c <= prev or v < lo or v > hi:
                return n
            if smax > 0:
                if v > smax - s:
                    return n
                s += v
            prev = c
            a += 1
        if smax > 0 and (s < smin or s > smax) and (s != 0 or h[23] == 0):
            return n
        n += 1
    return -1


@micropython.viper
def _address(b) -> uint:
    return uint(ptr8(b))


def bind_predict(kernel, b, c, st):
    # A classifier's predict(x) as a viper closure (emlab_common.bind's st: [last row checked,
    # check, settle, ...]). A bytecode closure costs ~250 instructions more per call on a
    # Cortex-M3; passing the buffers' addresses as small ints, ~220 fewer than the arrays
    # (the callee converts a small int directly, an array through the buffer protocol).
    # The arrays stay referenced by st. Addresses beyond the small-int range (2**30 on
    # 32-bit ports, 2**62 on 64-bit ones) would be heap ints: the arrays are passed then
    # (nothing here builds an int beyond the small ints: a port may have no long ints).
    import sys
    bits = 30 if sys.maxsize >> 31 == 0 else 62
    try:
        bo = _address(b)
        co = _address(c)
        small = bo >> bits == 0 and co >> bits == 0
    except OverflowError:
        small = False
    if not small:
        bo = b
        co = c

    @micropython.viper
    def predict(x) -> int:
        if x is not st[0]:
            st[0] = st[1](x)
        r = int(kernel(0, bo, co, x))
        if r < 0:
            # A near tie the integer sums cannot settle (see emlab_f64).
            r = int(st[2](-1 - r))
        return r
    return predict
