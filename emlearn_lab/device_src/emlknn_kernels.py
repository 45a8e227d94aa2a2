# The int16 nearest-neighbour search (viper): integer distances from a row to every example
# and the k nearest by (distance, index), exactly as emlearn_lab/neighbors/exact.py.
#
# ex: array('h') of the examples (row by row); q: array('h') row; acc: 0 (an argument only to
# keep the accumulator in a register); p (array('i')): n_examples, n_features, metric (0
# squared euclidean, 1 manhattan), k, max_abs, then the k nearest distances ascending and
# their k example indices (written here). Viper loads 16-bit values unsigned: (u ^ 0x8000)
# is the value biased by 32768, and differences of biased values are the differences of the
# values. ex and q walk as pointers (arguments are the locals kept in registers: about 46
# instructions per term on Cortex-M3, against 61 with indexed loads). Once k examples are
# held, a distance stops being summed when it reaches the k-th best (every term is >= 0, so
# that example cannot enter: exact, and 25-45% fewer instructions on digits). Returns 0, or
# -1 when a feature of the row is beyond max_abs (the bound that keeps distances within an
# int32; the host refuses such rows too). Every value stored is >= 0, so 64-bit ports, which load
# 32-bit words zero-extended, read them back unchanged.
# ruff: noqa: F821  (ptr16, ptr32, uint: viper builtins)
import micropython


@micropython.viper
def nearest(ex: ptr16, q: ptr16, acc: int, p: ptr32) -> int:
    n = p[0]
    nf = p[1]
    metric = p[2]
    k = p[3]
    bound = p[4]
    j = 0
    while j < nf:
        v = int(q[j] ^ 0x8000) - 32768
        if v > bound or 0 - v > bound:
            return -1
        j += 1
    row = 2 * nf
    qend = uint(q) + uint(row)
    filled = 0
    i = 0
    # 2**31 - 1 built at run time: a literal that big is an object on 32-bit ports
    worst = 1 << 29
    worst = worst + worst
    worst = (worst - 1) + worst
    while i < n:
        acc = 0
        start = uint(ex)
        if metric == 0:
            while uint(q) < qend:
                d = int(ex[0] ^ 0x8000) - int(q[0] ^ 0x8000)
                acc += d * d
                if acc >= worst:
                    break
                ex = ptr16(uint(ex) + 2)
                q = ptr16(uint(q) + 2)
        else:
            while uint(q) < qend:
                d = int(ex[0] ^ 0x8000) - int(q[0] ^ 0x8000)
                if d < 0:
                    d = 0 - d
                acc += d
                if acc >= worst:
                    break
                ex = ptr16(uint(ex) + 2)
                q = ptr16(uint(q) + 2)
        ex = ptr16(start + uint(row))
        q = ptr16(qend - uint(row))
        pos = -1
        if filled < k:
            pos = filled
            filled += 1
        elif acc < p[5 + k - 1]:
            pos = k - 1
        if pos >= 0:
            while pos > 0 and p[4 + pos] > acc:
                p[5 + pos] = p[4 + pos]
                p[5 + k + pos] = p[4 + k + pos]
                pos -= 1
            p[5 + pos] = acc
            p[5 + k + pos] = i
            if filled == k:
                worst = p[5 + k - 1]
        i += 1
    return 0
