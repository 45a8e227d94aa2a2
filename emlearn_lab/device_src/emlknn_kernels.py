# The int16 nearest-neighbour search (viper): integer distances from a row to every example
# and the k nearest by (distance, index), exactly as emlearn_lab/neighbors/exact.py.
#
# ex: array('h') of the examples (row by row); q: array('h') row. best (array('i')): the k
# distances ascending, then their k example indices, then n_features cells of scratch for the
# row. p (array('i')): n_examples, n_features, metric (0 squared euclidean, 1 manhattan), k,
# max_abs. Viper loads 16-bit values unsigned: (u ^ 0x8000) is the value biased by 32768, and
# differences of biased values are the differences of the values. Returns 0, or -1 when a
# feature of the row is beyond max_abs (the bound that keeps distances within an int32; the
# host refuses such rows too). Every value stored is >= 0, so 64-bit ports, which load
# 32-bit words zero-extended, read them back unchanged.
import micropython


@micropython.viper
def nearest(ex: ptr16, q: ptr16, best: ptr32, p: ptr32) -> int:
    n = p[0]
    nf = p[1]
    metric = p[2]
    k = p[3]
    bound = p[4]
    qa = 2 * k
    j = 0
    while j < nf:
        v = int(q[j] ^ 0x8000)
        if v - 32768 > bound or 32768 - v > bound:
            return -1
        best[qa + j] = v
        j += 1
    filled = 0
    i = 0
    base = 0
    while i < n:
        acc = 0
        j = 0
        if metric == 0:
            while j < nf:
                d = int(ex[base + j] ^ 0x8000) - best[qa + j]
                acc += d * d
                j += 1
        else:
            while j < nf:
                d = int(ex[base + j] ^ 0x8000) - best[qa + j]
                if d < 0:
                    d = 0 - d
                acc += d
                j += 1
        base += nf
        pos = -1
        if filled < k:
            pos = filled
            filled += 1
        elif acc < best[k - 1]:
            pos = k - 1
        if pos >= 0:
            while pos > 0 and best[pos - 1] > acc:
                best[pos] = best[pos - 1]
                best[k + pos] = best[k + pos - 1]
                pos -= 1
            best[pos] = acc
            best[k + pos] = i
        i += 1
    return 0
