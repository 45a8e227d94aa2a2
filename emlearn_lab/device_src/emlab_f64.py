# IEEE-754 double arithmetic on integers, for the rare near-tie path of forest classifiers.
#
# scikit-learn averages per-tree class probabilities in float64: sum in tree order, then divide
# by n_trees, then argmax (first maximum). When the device's integer sums leave two classes
# within rounding distance, this module repeats exactly that float64 arithmetic with Python
# integers (most microcontroller ports have single-precision floats only). Inputs are
# non-negative finite doubles given as their 64-bit patterns; results are correctly rounded
# (round half to even), so they equal numpy's bit for bit. Needs arbitrary-precision ints.

_MANT = 1 << 52
_MASK = _MANT - 1


def _decode(bits):
    e = bits >> 52
    m = bits & _MASK
    if e:
        return m | _MANT, e
    return m, 1  # subnormal


def _bit_length(m):
    # int.bit_length() is missing from MicroPython.
    n = 0
    while m >> (n + 32):
        n += 32
    while m >> n:
        n += 1
    return n


def _encode(m, e):
    """m * 2**(e - 1075) with m exact (any size) -> nearest double's bits."""
    if m == 0:
        return 0
    shift = _bit_length(m) - 53
    if e + shift < 1:              # result is subnormal
        shift = 1 - e
    if shift > 0:
        rest = m & ((1 << shift) - 1)
        m >>= shift
        half = 1 << (shift - 1)
        if rest > half or (rest == half and m & 1):
            m += 1
        e += shift
        if m >> 53:                # rounding carried into a new bit
            m >>= 1
            e += 1
    elif shift < 0:
        m <<= -shift
        e += shift
    if m < _MANT:                  # subnormal: exponent field 0
        return m
    return ((e) << 52) | (m & _MASK)


def add(a, b):
    """a + b for non-negative doubles (bit patterns)."""
    ma, ea = _decode(a)
    mb, eb = _decode(b)
    if ea < eb:
        ma, ea, mb, eb = mb, eb, ma, ea
    if ea - eb > 60:
        # b is below a quarter ulp of a: a + b rounds to a. Keep a sticky bit so that exact
        # halves are never mistaken.
        return _encode((ma << 62) | 1, ea - 62)
    return _encode((ma << (ea - eb)) + mb, eb)


def div_int(a, n):
    """a / n for a non-negative double and a positive integer."""
    m, e = _decode(a)
    if m == 0:
        return 0
    m <<= 64
    q, r = divmod(m, n)
    q = (q << 1) | (1 if r else 0)  # sticky bit for exact rounding
    return _encode(q, e - 65)


def mean_argmax(rows, n_outputs):
    """rows: per tree, the bit patterns of that tree's probabilities of n_outputs classes (all
    of them, or the candidates in class order). Returns the index of the first maximum of
    (sum over trees) / n_trees, as scikit-learn computes."""
    acc = [0] * n_outputs
    for row in rows:
        for j in range(n_outputs):
            acc[j] = add(acc[j], row[j])
    n = len(rows)
    best = 0
    best_v = -1
    for j in range(n_outputs):
        v = div_int(acc[j], n)
        if v > best_v:
            best, best_v = j, v
    return best
