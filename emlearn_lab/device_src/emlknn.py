# emlearn_lab nearest neighbours for MicroPython: loads an examples file (format version 1, see
# emlearn_lab/neighbors/knnfile.py) and the store of examples learned on the device, and returns
# a model with predict(x), scores(x) and learn(x, y). The arithmetic is exactly that of
# emlearn_lab/neighbors/exact.py: float32 distances one rounded operation at a time (through an
# array('f') on ports whose floats are double precision), or integer distances (int16 rows, in
# the viper kernel emlknn_kernels when the port runs native code).
#
# The store (store_path) holds the learned examples, in the same format; learn() writes the
# whole store plus the new example to store_path + ".tmp" and renames it over the store, so a
# power cut leaves the old store or the new one. Where the filesystem cannot rename over a
# file (FAT), the old store is removed first; load() then finds no store but a complete
# temporary file, and takes it. At most `capacity` examples are learned: learn() refuses more
# (ValueError), it never drops an example.
#
# Everything read from a file is checked before use: a corrupt or hostile file raises
# ValueError here, it never crashes or hangs the device.
import array
import math
import os
import struct

from emlab_common import check_features

try:
    import emlknn_kernels as _kern
except (ImportError, SyntaxError, ValueError):     # no native code on this port
    _kern = None

MAGIC = b"EMLK"
FORMAT_VERSION = 1
HEADER = "<4sBBBBBxHHHHI2x"
HEADER_BYTES = 24
INT32_MAX = 2147483647
MAX_CAPACITY = 65535

_R = array.array("f", [0.0])
_DOUBLE = array.array("f", [0.1])[0] != 0.1
# 30-bit floats (MICROPY_OBJ_REPR_C) drop the last mantissa bits of every result.
_LOSSY = not _DOUBLE and (1.0 + 2.0 ** -23) - 1.0 != 2.0 ** -23
INF = float("inf")


class KNNFileError(ValueError):
    pass


def _f32(v):
    _R[0] = v
    return _R[0]


def _align4(n):
    return (n + 3) & ~3


def _sizes(head, n):
    """(bytes of the rows, with padding; bytes of the targets, with padding) of n examples."""
    kind, features, _, _, _, nf, _, _ = head
    return _align4(n * nf * (2 if features else 4)), _align4(n * (4 if kind else 2))


def _bound_ok(metric, nf, max_abs):
    """Whether int16 values of |v| <= max_abs keep every distance within a signed int32."""
    term = 4 * max_abs * max_abs if metric == 0 else 2 * max_abs
    return max_abs <= 32767 and term * nf <= INT32_MAX


def _header(f, what):
    """(head fields, n_examples) of an open examples file, checked."""
    data = f.read(HEADER_BYTES)
    if len(data) < HEADER_BYTES:
        raise KNNFileError("%s is %d bytes, shorter than the header" % (what, len(data)))
    magic, version, kind, features, metric, weights, k, nf, no, max_abs, n = \
        struct.unpack(HEADER, data)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise KNNFileError("%s is not an emlearn_lab examples file version %d"
                           % (what, FORMAT_VERSION))
    if kind > 1 or features > 1 or metric > 1 or weights > 1 or k == 0 or nf == 0 \
            or no == 0 or (kind == 1 and no != 1):
        raise KNNFileError("corrupt %s: bad kind/features/metric/weights byte or zero size"
                           % what)
    if (features == 0 and max_abs) or (features and not (0 < max_abs
                                                         and _bound_ok(metric, nf, max_abs))):
        raise KNNFileError("corrupt %s: int16 bound %d does not fit 32-bit distances"
                           % (what, max_abs))
    return (kind, features, metric, weights, k, nf, no, max_abs), n


def _file_size(path):
    return os.stat(path)[6]


class KNN:
    """A loaded nearest-neighbour model. predict(x): class index (classifiers: the first
    maximum of the votes) or the value (regressors). scores(x): the votes (array('i') counts
    or array('f') weight sums) or array('f', [value]). learn(x, y): appends an example (y: a
    class index, or a value) to the store; returns the number learned."""

    def __init__(self, head, n_base, capacity, store_path):
        kind, features, metric, weights, k, nf, no, max_abs = head
        self.kind = kind
        self.features = features
        self.metric = metric
        self.weights = weights
        self.k = k
        self.n_features = nf
        self.n_outputs = no
        self.max_abs = max_abs
        self.capacity = capacity
        self.count = 0                  # examples learned
        self.store_path = store_path
        self._head = head
        self._nb = n_base
        total = n_base + capacity
        self._ex = array.array("h" if features else "f", bytearray(total * nf * (2 if features
                                                                                else 4)))
        self._ty = array.array("f" if kind else "H", bytearray(total * (4 if kind else 2)))
        self._checked = check_features  # never a row: the first call is checked
        self._bd = [0] * k              # neighbour distances, ascending
        self._bi = [0] * k              # their example indices
        self._w = [0.0] * k
        # the viper kernel's [n_examples, n_features, metric, k, max_abs, k distances, k
        # indices]
        self._p = array.array("i", [n_base, nf, metric, k, max_abs] + [0] * (2 * k))
        if kind:
            self._out = array.array("f", [0.0])
        else:
            self._out = array.array("f" if weights else "i", bytearray(4 * no))

    # -- reading files ---------------------------------------------------------------------
    def _read(self, f, start, n, what):
        """Read n examples from f (after its header) into slots start.. and check them."""
        nf = self.n_features
        item = 2 if self.features else 4
        rows, _ = _sizes(self._head, n)
        if f.readinto(memoryview(self._ex)[start * nf:(start + n) * nf]) != n * nf * item:
            raise KNNFileError("%s truncated in its examples" % what)
        f.read(rows - n * nf * item)
        if f.readinto(memoryview(self._ty)[start:start + n]) != n * (4 if self.kind else 2):
            raise KNNFileError("%s truncated in its targets" % what)
        ex = self._ex
        if self.features:
            m = self.max_abs
            for i in range(start * nf, (start + n) * nf):
                v = ex[i]
                if v > m or v < -m:
                    raise KNNFileError("corrupt %s: example value %d beyond the model's bound "
                                       "%d" % (what, v, m))
        else:
            for i in range(start * nf, (start + n) * nf):
                v = ex[i]
                if v - v != 0.0:
                    raise KNNFileError("corrupt %s: non-finite example value" % what)
        ty = self._ty
        for i in range(start, start + n):
            v = ty[i]
            if (self.kind and v - v != 0.0) or (not self.kind and v >= self.n_outputs):
                raise KNNFileError("corrupt %s: target %r of example %d out of range"
                                   % (what, v, i - start))

    def _load_store(self):
        path = self.store_path
        tmp = path + ".tmp"
        try:
            size = _file_size(path)
        except OSError:
            size = -1
        try:
            tmp_size = _file_size(tmp)
        except OSError:
            tmp_size = -1
        if size < 0 and tmp_size >= 0:
            # FAT: the old store was removed, the new one not yet renamed: take it when whole.
            try:
                self._read_store(tmp, tmp_size)
            except ValueError:
                os.remove(tmp)
                return
            os.rename(tmp, path)
            return
        if tmp_size >= 0:
            os.remove(tmp)              # a write cut short: the store is the old one
        if size >= 0:
            try:
                self._read_store(path, size)
            except KNNFileError as e:
                raise KNNFileError("%s; deploy the model again (it writes the host's copy of "
                                   "the store) or remove %s to start without it"
                                   % (e.args[0], path))

    def _read_store(self, path, size):
        what = "store file " + path
        with open(path, "rb") as f:
            head, n = _header(f, what)
            if head != self._head:
                raise KNNFileError("%s belongs to another model (its header differs)" % what)
            if n > self.capacity:
                raise KNNFileError("%s holds %d examples, more than the capacity %d (set "
                                   "model.capacity >= %d)" % (what, n, self.capacity, n))
            rows, targets = _sizes(head, n)
            if size != HEADER_BYTES + rows + targets:
                raise KNNFileError("corrupt %s: %d bytes, its header says %d"
                                   % (what, size, HEADER_BYTES + rows + targets))
            self._read(f, self._nb, n, what)
        self.count = n
        self._p[0] = self._nb + n

    # -- predicting ------------------------------------------------------------------------
    def _check(self, x):
        if x is not self._checked:
            check_features(x, self.n_features, self.features)
            self._checked = x

    def _search(self, x):
        """Fill _bd/_bi with the k nearest examples of x by (distance, index)."""
        self._check(x)
        n = self._nb + self.count
        if self.features:
            if _kern is not None:
                p = self._p
                if _kern.nearest(self._ex, x, 0, p) < 0:
                    self._range_error()
                k = self.k
                for i in range(k):
                    self._bd[i] = p[5 + i]
                    self._bi[i] = p[5 + k + i]
                return
            _nearest_int(self, x, n)
        elif _DOUBLE:
            _nearest_double(self, x, n)
        else:
            _nearest_single(self, x, n)

    def _range_error(self):
        raise ValueError("int16 features must lie in [-%d, %d] (distances fit 32-bit "
                         "integers)" % (self.max_abs, self.max_abs))

    def _weights(self):
        """Neighbour weights (weights="distance"), exactly as emlearn_lab/neighbors/exact.py."""
        w = self._w
        r = _R
        anyinf = False
        allzero = True
        for i in range(self.k):
            s = self._bd[i]
            if self.features:
                r[0] = float(s)
                s = r[0]
            if self.metric == 0:
                r[0] = math.sqrt(s)
                s = r[0]
            if s == 0:
                v = INF
            else:
                r[0] = 1.0 / s
                v = r[0]
            if v == INF:
                anyinf = True
            if v != 0:
                allzero = False
            w[i] = v
        if anyinf:
            for i in range(self.k):
                w[i] = 1.0 if w[i] == INF else 0.0
        elif allzero:
            for i in range(self.k):
                w[i] = 1.0
        return w

    def _run(self, x):
        self._search(x)
        out = self._out
        ty = self._ty
        bi = self._bi
        k = self.k
        if self.kind == 0:
            for j in range(self.n_outputs):
                out[j] = 0
            if self.weights:
                w = self._weights()
                for i in range(k):
                    c = ty[bi[i]]
                    out[c] = out[c] + w[i]      # rounded to float32 by the array
            else:
                for i in range(k):
                    out[ty[bi[i]]] += 1
            best = 0
            for j in range(1, self.n_outputs):
                if out[j] > out[best]:
                    best = j
            return best
        r = _R
        num = array.array("f", [0.0, 0.0])      # sum of (w *) y, sum of w
        if self.weights:
            w = self._weights()
            for i in range(k):
                r[0] = w[i] * ty[bi[i]]
                num[0] = num[0] + r[0]
                num[1] = num[1] + w[i]
            out[0] = num[0] / num[1]
        else:
            for i in range(k):
                num[0] = num[0] + ty[bi[i]]
            out[0] = num[0] / k
        return out[0]

    def predict(self, x):
        return self._run(x)

    def scores(self, x):
        self._run(x)
        return self._out

    # -- learning --------------------------------------------------------------------------
    def learn(self, x, y):
        """Append the example (x, y) to the store (file first, then RAM). y: a class index
        (classifiers) or a value (regressors). Returns the number of examples learned."""
        check_features(x, self.n_features, self.features)
        if self.count >= self.capacity:
            raise ValueError("the store is full: %d examples learned, capacity %d (set "
                             "model.capacity higher and deploy again)"
                             % (self.count, self.capacity))
        nf = self.n_features
        if self.features:
            for v in x:
                if v > self.max_abs or v < -self.max_abs:
                    self._range_error()
        else:
            for v in x:
                if v - v != 0.0:
                    raise ValueError("learn: x has NaN/inf: an example must be finite")
        slot = self._nb + self.count
        if self.kind:
            r = _R
            r[0] = y
            if r[0] - r[0] != 0.0:
                raise ValueError("learn: y must be a finite float32 value, got %r" % y)
            self._ty[slot] = r[0]
        else:
            if not isinstance(y, int) or y < 0 or y >= self.n_outputs:
                raise ValueError("learn: y must be a class index in 0..%d, got %r"
                                 % (self.n_outputs - 1, y))
            self._ty[slot] = y
        ex = self._ex
        for j in range(nf):
            ex[slot * nf + j] = x[j]
        self._write_store(self.count + 1)
        self.count += 1
        self._p[0] = self._nb + self.count
        return self.count

    def _write_store(self, count):
        path = self.store_path
        tmp = path + ".tmp"
        nb = self._nb
        nf = self.n_features
        rows, targets = _sizes(self._head, count)
        row_bytes = count * nf * (2 if self.features else 4)
        target_bytes = count * (4 if self.kind else 2)
        with open(tmp, "wb") as f:
            f.write(struct.pack(HEADER, MAGIC, FORMAT_VERSION, *(self._head + (count,))))
            f.write(memoryview(self._ex)[nb * nf:(nb + count) * nf])
            f.write(bytes(rows - row_bytes))
            f.write(memoryview(self._ty)[nb:nb + count])
            f.write(bytes(targets - target_bytes))
        try:
            os.rename(tmp, path)
        except OSError:                 # FAT: no rename over a file (load() recovers)
            try:
                os.remove(path)
            except OSError:
                pass
            os.rename(tmp, path)


def _nearest_double(m, x, n):
    """float32 distances on a double-precision port: each operation rounded by the array."""
    ex = m._ex
    nf = m.n_features
    k = m.k
    bd = m._bd
    bi = m._bi
    r = array.array("f", [0.0, 0.0])
    filled = 0
    base = 0
    manhattan = m.metric
    worst = INF
    for i in range(n):
        r[1] = 0.0
        for j in range(nf):
            r[0] = x[j] - ex[base + j]
            d = r[0]
            if manhattan:
                r[1] = r[1] + (d if d >= 0 else -d)
            else:
                r[0] = d * d
                r[1] = r[1] + r[0]
            if r[1] >= worst:
                break                   # cannot enter the k best (see _insert)
        base += nf
        filled = _insert(bd, bi, k, filled, r[1], i)
        if filled == k:
            worst = bd[k - 1]


def _nearest_single(m, x, n):
    """float32 distances on a single-precision port: its float arithmetic is float32."""
    ex = m._ex
    nf = m.n_features
    k = m.k
    bd = m._bd
    bi = m._bi
    filled = 0
    base = 0
    manhattan = m.metric
    worst = INF
    for i in range(n):
        acc = 0.0
        for j in range(nf):
            d = x[j] - ex[base + j]
            if manhattan:
                acc += d if d >= 0 else -d
            else:
                acc += d * d
            if acc >= worst:
                break
        base += nf
        filled = _insert(bd, bi, k, filled, acc, i)
        if filled == k:
            worst = bd[k - 1]


def _nearest_int(m, x, n):
    """Integer distances in bytecode (ports without native code)."""
    ex = m._ex
    nf = m.n_features
    k = m.k
    bd = m._bd
    bi = m._bi
    bound = m.max_abs
    for v in x:
        if v > bound or v < -bound:
            m._range_error()
    filled = 0
    base = 0
    manhattan = m.metric
    worst = 1 << 31                     # above every distance
    for i in range(n):
        acc = 0
        for j in range(nf):
            d = x[j] - ex[base + j]
            acc += (d if d >= 0 else -d) if manhattan else d * d
            if acc >= worst:
                break
        base += nf
        filled = _insert(bd, bi, k, filled, acc, i)
        if filled == k:
            worst = bd[k - 1]


def _insert(bd, bi, k, filled, acc, i):
    """Insert (acc, i) into the ascending k best (after equal distances: lower index first).
    Returns how many are filled. Once k are held, an example enters only when its distance is
    below the k-th: the searches stop summing a distance that reaches it (the terms are >= 0
    and a rounded sum of them never decreases, so the whole sum would reach it too)."""
    if filled < k:
        pos = filled
        filled += 1
    elif acc < bd[k - 1]:
        pos = k - 1
    else:
        return filled
    while pos > 0 and bd[pos - 1] > acc:
        bd[pos] = bd[pos - 1]
        bi[pos] = bi[pos - 1]
        pos -= 1
    bd[pos] = acc
    bi[pos] = i
    return filled


def load(path, store_path, capacity):
    """The model of examples file `path` with the examples learned so far (`store_path`, if
    it exists); `capacity`: how many examples it may learn."""
    if _LOSSY:
        raise ValueError("this port's floats are 30-bit (MICROPY_OBJ_REPR_C): nearest "
                         "neighbours cannot match the host here")
    if not isinstance(capacity, int) or capacity < 0 or capacity > MAX_CAPACITY:
        raise ValueError("capacity must be 0..%d examples, got %r" % (MAX_CAPACITY, capacity))
    what = "examples file " + path
    size = _file_size(path)
    with open(path, "rb") as f:
        head, n = _header(f, what)
        rows, targets = _sizes(head, n)
        if size != HEADER_BYTES + rows + targets:
            raise KNNFileError("%s is %d bytes, its header says %d"
                               % (what, size, HEADER_BYTES + rows + targets))
        # Every class has an example (scikit-learn's classes come from the training labels):
        # which also bounds the votes array by the file's size.
        if n < head[4] or (head[0] == 0 and n < head[6]):
            raise KNNFileError("corrupt %s: %d examples for %d neighbours and %d classes"
                               % (what, n, head[4], head[6]))
        model = KNN(head, n, capacity, store_path)
        model._read(f, 0, n, what)
    model._load_store()
    return model
