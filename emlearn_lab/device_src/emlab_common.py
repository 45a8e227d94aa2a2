# Shared by the loadable (emltrees) and inline model modules on the device.
import array

FEATURES_F32 = 0
FEATURES_I16 = 1
FEATURES_Q16 = 2    # int16 with learned scales: raw array('f') (quantised here) or array('h')
KIND_CLASSIFIER = 0
KIND_REGRESSOR = 1


def check_features(x, n_features, features):
    """Raise ValueError unless x is array('f') (float32 model) or array('h') (int16 model;
    either for learned-scale int16) of n_features items: the kernels read exactly that many
    items of that type from its buffer. Returns the item size.

    The type is read from the repr of an empty slice, "array('f')": MicroPython's arrays have
    no .typecode, and item sizes alone would take array('i') rows as float bits. It allocates,
    so callers check once per input object (see _UNSEEN)."""
    code = repr(x[:0])[7:-2] if isinstance(x, array.array) else ""
    want = "f" if features == FEATURES_F32 else "h" if features == FEATURES_I16 else "fh"
    if len(code) != 1 or code not in want or len(x) != n_features:
        got = ("array('%s') of %d items" % (code, len(x)) if code
               else type(x).__name__)
        raise ValueError("expected array.array('%s') of %d features, got %s: build the row "
                         "with array.array('%s', values)"
                         % ("' or '".join(want), n_features, got, want[0]))
    return 4 if code == "f" else 2


def threshold_key(t, offset, shift):
    """The float32 key K of a learned-scale int16 node, as (high 16 bits, low 16 bits): a
    float32 row value x goes left exactly when key(x) <= K, where the node tests q(x) <= t
    (t: the stored uint16 threshold, q biased by 32768) and key(x) is the order-preserving
    uint32 of the float's bits (bits | 2**31 for a clear sign bit, else ~bits). So the walker
    compares the row's float keys and never quantises (trees/inline_thumb.threshold_keys
    computes the same K by bisection on the host).
    q(x) = clip(floor(x * 2**shift) - offset, -32768, 32767) + 32768 for finite x, ±inf and
    NaN saturate by their sign. For t < 65535, q(x) <= t exactly when floor(x * 2**shift) <=
    t + offset - 32768, i.e. x < y = n * 2**-shift with n = t + offset - 32767: K is the
    key of the largest float32 (-inf included) below y. Halves keep every int small: a port
    without long ints computes it too. Needs |offset| <= 2**29 and |shift| <= 120 (checked
    at load), so y is 0 or a normal float32 magnitude, or beyond the largest."""
    if t >= 65535:
        return 0xFFFF, 0xFFFF                   # every x goes left, NaNs included
    n = t + offset - 32767
    if n > 0:
        hi, lo, exact = _round_down_bits(n, shift)
        if exact:                               # y is a float: the one below it
            hi, lo = (hi, lo - 1) if lo else (hi - 1, 0xFFFF)
        return hi | 0x8000, lo
    # y <= 0: -(the smallest float above |y|), whose key is 0x7FFFFFFF ^ its magnitude bits
    hi, lo, _ = _round_down_bits(-n, shift) if n else (0, 0, True)
    hi, lo = (hi, lo + 1) if lo < 0xFFFF else (hi + 1, 0)
    return 0x7FFF ^ hi, 0xFFFF ^ lo


def _round_down_bits(n, shift):
    """(high 16 bits, low 16 bits, exact) of the largest float32 <= n * 2**-shift for
    0 < n < 2**30, |shift| <= 120 (a normal magnitude, or beyond the largest float32: then
    the largest, not exact)."""
    length = 0
    v = n
    while v:
        v >>= 1
        length += 1
    e = length - 1 - shift + 127                # biased exponent of the leading bit
    if e > 254:
        return 0x7F7F, 0xFFFF, False
    k = length - 24
    if k > 0:
        m = n >> k
        exact = n & ((1 << k) - 1) == 0
    else:
        m = n << -k
        exact = True
    return (e << 7) | ((m >> 16) & 0x7F), m & 0xFFFF, exact


# The row check cache starts with an object no caller holds: starting with None would skip
# the check for predict(None). The cache is by identity: an array keeps its buffer (a slice
# assignment that shortens it does not reallocate), so a checked row stays safe to read.
_UNSEEN = object()


def quantiser(n_features, params):
    """q(x) -> the int16 features for raw float32 x (array('f')), in one reused buffer;
    array('h') input is taken as already quantised."""
    try:
        from emlab_quant import quantise
    except (ImportError, SyntaxError, ValueError):
        from emltrees_pure import quantise
    out = array.array("h", [0] * n_features)
    checked = [_UNSEEN]

    def q(x):
        if x is not checked[0]:
            size = check_features(x, n_features, FEATURES_Q16)
            checked[0] = x if size == 4 else _UNSEEN
            if size == 2:
                return x
        quantise(x, out, params, n_features)
        return out
    return q


def tie_resolver(ties_path, n_outputs, n_trees, n_leaves, work, first_leaf, native=None):
    """settle(best) for kernels that flag a near tie: re-run scikit-learn's float64 average
    over the leaves recorded in work[first_leaf:first_leaf + n_trees], with the per-leaf
    probabilities from ties_path, for the classes whose integer sum (in the n_outputs cells
    before the leaves) is within the near-tie margin of the best one. The others lose in
    float64 too: the margin is what the kernels trust for every row they do not flag
    (TreeModel.tie_margin, n_trees + 1). native: settle_f64 (machine code, ARMv7-M), used
    with the probabilities in RAM when they take at most _NATIVE_TIES_BYTES and there are at
    most 255 trees; where it cannot be exact (it returns -2) the bytecode path runs."""
    import os
    import struct
    row_bytes = 8 * n_outputs
    if os.stat(ties_path)[6] != n_leaves * row_bytes:
        raise ValueError("tie file %s does not match the model (%d leaves x %d outputs): "
                         "deploy the model again" % (ties_path, n_leaves, n_outputs))
    bad = _bad_probability(ties_path)
    if bad >= 0:
        raise ValueError("corrupt tie file %s: value %d is not a probability in [0, 1] "
                         "(NaN, inf or out of range): deploy the model again"
                         % (ties_path, bad))
    sums = first_leaf - n_outputs
    row = bytearray(row_bytes)

    def settle(best):
        import emlab_f64
        top = work[sums + best]
        near = [j for j in range(n_outputs) if top - work[sums + j] <= n_trees + 1]
        rows = []
        with open(ties_path, "rb") as f:
            for t in range(n_trees):
                f.seek(work[first_leaf + t] * row_bytes)
                f.readinto(row)
                rows.append([struct.unpack_from("<Q", row, 8 * j)[0] for j in near])
        return near[emlab_f64.mean_argmax(rows, len(near))]
    if native is None or n_leaves * row_bytes > _NATIVE_TIES_BYTES or n_trees > 255:
        return settle
    ties = read_ties(ties_path, n_leaves * row_bytes)
    p = array.array("i", [0, sums, first_leaf, n_outputs, n_trees, n_trees + 1])
    s = array.array("i", [0] * 12)
    st = [native, work, ties, settle]

    def settle_native(best):
        p[0] = best
        r = st[0](st[1], st[2], p, s)
        return st[3](best) if r < 0 else r
    return settle_native


# trees/ties_thumb.py's MAX_TIES_BYTES (board_fit/memory.py counts them).
_NATIVE_TIES_BYTES = 16384


def read_ties(path, nbytes):
    """The float64 probabilities file (checked by tie_resolver) in RAM, for settle_f64."""
    ties = bytearray(nbytes)
    with open(path, "rb") as f:
        if f.readinto(ties) != nbytes:
            raise ValueError("tie file %s is shorter than %d bytes: deploy the model again"
                             % (path, nbytes))
    return ties


def _bad_probability(path):
    """Index of the first float64 in the file outside [0.0, 1.0] (negative, NaN and inf
    included), else -1: emlab_f64 takes non-negative finite doubles. As bits, those are the
    patterns 0 .. 0x3ff00000_00000000; the high words are read as uint32 halves (small ints
    on 32-bit ports, where a 64-bit value would allocate)."""
    import struct
    one = 0x3FF00000
    chunk = bytearray(512)
    done = 0
    with open(path, "rb") as f:
        while True:
            n = f.readinto(chunk)
            if not n:
                return -1
            words = struct.unpack_from("<%dI" % (n // 4), chunk)
            for i in range(1, n // 4, 2):
                w = words[i]
                if w >= one and (w > one or words[i - 1]):
                    return done + i // 2
            done += n // 8


def bind(n_features, features, kind, n_outputs, n_trees, leaf_shift, kernel, b, c, work,
         sums, settle=None, quant=None, native=None):
    """predict(x) and scores(x) closures around kernel(0, b, c, x) -> class index, which
    leaves the integer sums in work[sums:sums + n_outputs]. Closures calling the kernel
    directly, not methods or wrappers: each extra Python-level call or attribute lookup costs
    about as much as walking a tree, and these run once per sample. Each closes over at most
    four values: MicroPython calls a closure with up to five values (closed-over plus
    arguments) from the stack, beyond that through a heap block allocated and freed per call
    (about 700 instructions on a Cortex-M3). Four kernel arguments: the most an
    inline-assembler kernel takes. A negative kernel result flags a near tie, settled by
    settle() (see tie_resolver). quant: the quantiser parameters of a learned-scale int16
    model; its closures quantise raw float32 input first. A learned-scale model without
    quant: the kernel quantises float32 rows itself when work[13] is 2 (the Thumb walker).
    native: a factory of the same classifier predict() in native code (emltrees_kernels.
    bind_predict), where the port has one; it closes over `st` below."""
    if features == FEATURES_Q16 and quant is not None:
        return _bind_quantised(n_features, kind, n_outputs, n_trees, leaf_shift, kernel,
                               b, c, work, sums, settle, quantiser(n_features, quant), native)

    def check(x):
        size = check_features(x, n_features, features)
        if features == FEATURES_Q16:
            work[13] = 2 if size == 4 else 1    # float32: quantise; int16: as it is
        return x

    # [last row checked (by identity: the check allocates, so it runs once per input
    # object), check, settle, first sum, end of the sums, divisor, the buffers (kept
    # referenced for a native predict that holds only their addresses), the work buffer]
    div = n_trees * (1 << leaf_shift) if leaf_shift >= 0 else n_trees / (1 << -leaf_shift)
    st = [_UNSEEN, check, settle or (lambda best: best), sums, sums + n_outputs, div, b, c,
          work]

    def scores(x):
        """The exact integer sums behind predict(): one per class, or one (regressor)."""
        if x is not st[0]:
            st[0] = st[1](x)
        kernel(0, b, c, x)
        return st[8][st[3]:st[4]]

    if kind == KIND_CLASSIFIER and native is not None:
        predict = native(kernel, b, c, st)
    elif kind == KIND_CLASSIFIER:
        def predict(x):
            """Class index (0 .. n_outputs-1) for one row of features."""
            if x is not st[0]:
                st[0] = st[1](x)
            r = kernel(0, b, c, x)
            if r < 0:
                # A near tie the integer sums cannot settle (see emlab_f64).
                r = st[2](-1 - r)
            return r
    else:
        def predict(x):
            """Predicted value for one row of features: a new float (a heap object on
            most ports; the closure itself allocates nothing)."""
            if x is not st[0]:
                st[0] = st[1](x)
            kernel(0, b, c, x)
            return st[8][st[3]] / st[5]
    return predict, scores


def _bind_quantised(n_features, kind, n_outputs, n_trees, leaf_shift, kernel, b, c, work,
                    sums, settle, q, native):
    predict16, scores16 = bind(n_features, FEATURES_I16, kind, n_outputs, n_trees, leaf_shift,
                               kernel, b, c, work, sums, settle, None, native)

    def predict(x):
        return predict16(q(x))

    def scores(x):
        return scores16(q(x))
    return predict, scores


class Model:
    """A loaded model: predict(x), scores(x), predict_proba(x) and its sizes."""

    def __init__(self, n_features, features, kind, n_outputs, n_trees, leaf_shift, predict,
                 scores, normalise=False):
        self.n_features = n_features
        self.features = features
        self.kind = kind
        self.n_outputs = n_outputs
        self.n_trees = n_trees
        self.leaf_shift = leaf_shift
        self.predict = predict
        self.scores = scores
        self.normalise = normalise

    def predict_proba(self, x):
        """Class probabilities (classifiers): the integer sums over 2**leaf_shift * n_trees,
        or (compressed leaves) over their sum."""
        s = self.scores(x)
        total = sum(s) if self.normalise else (1 << self.leaf_shift) * self.n_trees
        return [v / total for v in s]
