# Device side of bench/fuzz_device.py (sent as emlab_fuzz.mpy; not used by the package).
#
# The host sends each base file once and then batches of compact mutation descriptors. For
# every case this module rebuilds the mutated file in RAM (a tiny in-memory filesystem
# mounted at /fz, so nothing is written to a board's flash), loads it with the real loader,
# runs a few rows and prints one short line: "<case> L" (loaded, every result bounded),
# "<case> V" (ValueError), "<case> U <what>" (loaded, a result out of bounds) or
# "<case> E <type> <message>" (any other exception). A hang or a crash prints nothing more:
# the host sees the output stop and knows the case from the last line.
#
# Descriptor record (little-endian): uint32 case, uint8 n_splices, then per splice uint32
# offset, uint16 bytes removed, uint16 n inserted, the inserted bytes. Splices apply in order
# to a copy of the base file: a bit flip or byte set is a 1-for-1 splice, a truncation removes
# the tail, trailing bytes insert at the end.
import array
import gc
import io
import os
import struct
import sys

MOUNT = "/fz"


class _RamFS:
    """The VFS protocol, just enough for open(..., 'rb'/'r') and os.stat of whole files."""

    def __init__(self):
        self.files = {}

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def _get(self, path):
        data = self.files.get(path.lstrip("/"))
        if data is None:
            raise OSError(2)
        return data

    def open(self, path, mode):
        return io.BytesIO(self._get(path))

    def stat(self, path):
        return (0x8000, 0, 0, 0, 0, 0, len(self._get(path)), 0, 0, 0)

    def ilistdir(self, path):
        return iter([(n, 0x8000, 0, len(d)) for n, d in self.files.items()])


_fs = None


def _mount():
    global _fs
    if _fs is None:
        _fs = _RamFS()
        try:
            os.umount(MOUNT)
        except OSError:
            pass
        os.mount(_fs, MOUNT)
    return _fs


class _Quant:
    # Stands in for the native emlab_quant module under the bytecode runtime.
    pass


def runtime(native):
    """Point the tree and int8 network runtimes at the viper kernels (native=1) or at their
    bytecode twins (native=0), as a port without native code would run them."""
    import emltrees
    import emltrees_pure
    import emlnet_int8
    import emlnet_pure
    sys.modules.pop("emlab_quant", None)
    if native:
        import emltrees_kernels
        import emlnet_kernels
        emltrees._k = emltrees_kernels
        emlnet_int8.net8 = emlnet_kernels.net8
    else:
        emltrees._k = emltrees_pure
        emlnet_int8.net8 = emlnet_pure.net8
        q = _Quant()
        q.quantise = emltrees_pure.quantise
        sys.modules["emlab_quant"] = q
    _knn_runtime(native)


def _knn_runtime(native):
    """The int16 neighbour search in the viper kernel or in bytecode."""
    import emlknn
    emlknn._kern = None
    if native:
        import emlknn_kernels
        emlknn._kern = emlknn_kernels


def _knn_one(kind, path):
    """Load an examples file (kind 'knn') or a store of the model file model.knn ('knns',
    capacity 4) and run rows within the model's bound: None or what was out of bounds."""
    import emlknn
    if kind == "knns":
        m = emlknn.load(MOUNT + "/model.knn", path, 4)
    else:
        m = emlknn.load(path, MOUNT + "/none.knns", 2)
    n = m.n_features
    if n > 4096:
        return None
    if m.features:
        b = m.max_abs
        rows = [array.array("h", [v] * n) for v in (0, b, -b, b // 3)]
    else:
        rows = [array.array("f", [v] * n) for v in (0.0, 1.0, -3.5e4, 3.4e38)]
    for x in rows:
        p = m.predict(x)
        s = m.scores(x)
        if len(s) != m.n_outputs:
            return "scores of %d for %d outputs" % (len(s), m.n_outputs)
        if m.kind == 0 and not (isinstance(p, int) and 0 <= p < m.n_outputs):
            return "class %r of %d" % (p, m.n_outputs)
        if m.kind == 1 and not isinstance(p, float):
            return "value %r" % p
    return None


def _cases(path):
    # Read one record at a time: a board's heap may not hold the whole batch.
    with open(path, "rb") as f:
        while True:
            head = f.read(5)
            if len(head) < 5:
                return
            case, n = struct.unpack("<IB", head)
            splices = []
            for _ in range(n):
                off, cut, k = struct.unpack("<IHH", f.read(8))
                splices.append((off, cut, f.read(k)))
            yield case, splices


def _apply(base, splices):
    d = base
    for off, cut, ins in splices:
        if off > len(d):
            off = len(d)
        d = d[:off] + ins + d[off + cut:]
    return d


def _rows(n, features):
    """A few rows of n features in each type the model takes: zeros, ones, large, mixed."""
    out = []
    if features != 1:
        for v in (0.0, 1.0, -3.5e4, 7.25):
            out.append(array.array("f", [v] * n))
        if n > 1:
            out[-1][0] = -1.0
    if features != 0:
        for v in (0, 1000, -32768, 32767):
            out.append(array.array("h", [v] * n))
    return out


def _finite(v):
    return isinstance(v, (int, float)) and v - v == 0


def _check_model(m, floats_may_be_nan):
    """None if every result on every row is bounded, else what was not."""
    n = m.n_features
    if n > 4096:
        return None     # a valid file may declare unused features; rows that big are not built
    classifier = m.kind == 0
    for x in _rows(n, getattr(m, "features", 0)):
        p = m.predict(x)
        s = m.scores(x)
        if len(s) != m.n_outputs:
            return "scores of %d for %d outputs" % (len(s), m.n_outputs)
        if classifier:
            if not isinstance(p, int) or not 0 <= p < max(m.n_outputs, 2):
                return "class %r of %d" % (p, m.n_outputs)
            pr = m.predict_proba(x)
            for v in pr:
                if not (-1e-6 <= v <= 1 + 1e-6) and not (floats_may_be_nan and v != v):
                    return "probability %r" % v
        else:
            for v in (p if isinstance(p, list) else [p]):
                if not _finite(v) and not floats_may_be_nan:
                    return "value %r" % v
    return None


def _check_features(fx):
    n = fx.n_features
    if n > 4096 or fx.nbytes > 65536:
        return "n_features %d, window %d bytes" % (n, fx.nbytes)
    w = fx.window()
    for fill in (0, 1):
        if fill:
            for i in range(len(w)):
                w[i] = (i * 7919) % 2001 - 1000
        out = fx.transform(w)
        if len(out) != n:
            return "%d features of %d" % (len(out), n)
    return None


def _check_gauss(path):
    """Load a Gaussian detector file (threshold 0.0) and run it: None (predict 0 or 1, one
    float score: any float, -inf and NaN included) or what was out of bounds."""
    import emlgauss
    m = emlgauss.load(path, 0)
    if m.n_features > 4096:
        return None
    for x in _rows(m.n_features, 0):
        p = m.predict(x)
        s = m.scores(x)
        if p not in (0, 1) or len(s) != 1 or m.n_outputs != 1:
            return "predict %r, %d scores" % (p, len(s))
    return None


def _one(kind, name, data, extra):
    """Load the mutated file and run it: None (bounded) or what was out of bounds."""
    fs = _fs
    if kind == "probe":
        # The host's own check of its hang and crash detection (tests/test_fuzz_device.py).
        if data == b"hang":
            while True:
                pass
        if data == b"segv":
            import uctypes
            uctypes.bytearray_at(0, 4)[0] = 1     # SIGSEGV on the unix port
        return None if data == b"ok" else "probe %r" % data
    fs.files[name] = data
    path = MOUNT + "/" + name
    if kind in ("knn", "knns"):
        return _knn_one(kind, path)
    if kind == "tree" or kind == "ties":
        import emltrees
        ties = None
        if extra:
            ties = MOUNT + "/" + extra
        m = emltrees.load(path, ties)
        return _check_model(m, False)
    if kind == "gauss":
        return _check_gauss(path)
    if kind == "net":
        import emlnet
        m = emlnet.load(path)
        return _check_model(m, m.weights == 0)
    import emlfx
    return _check_features(emlfx.load(path))


def run(kind, base_path, cases_path, name, extra=None, extra_path=None):
    """Run every case of cases_path against the base file: kind 'tree', 'net', 'fx', or
    'ties' (the mutated file is the tie file `extra` of the tree model at extra_path)."""
    fs = _mount()
    with open(base_path, "rb") as f:
        base = f.read()
    if kind == "ties":
        with open(extra_path, "rb") as f:
            fs.files["model.eml"] = f.read()
    if kind == "knns":
        with open(extra_path, "rb") as f:
            fs.files["model.knn"] = f.read()
    for case, splices in _cases(cases_path):
        data = _apply(base, splices)
        try:
            if kind == "ties":
                fs.files[name] = data
                bad = _one("tree", "model.eml", fs.files["model.eml"], name)
            else:
                bad = _one(kind, name, data, extra)
            line = "L" if bad is None else "U " + bad
        except ValueError:
            line = "V"
        except Exception as e:  # noqa: BLE001 - every other type is what the fuzzer reports
            line = "E %s %s" % (type(e).__name__, str(e)[:60].replace("\n", " "))
        fs.files.pop(name, None)
        data = None
        gc.collect()
        print(case, line)
    print("END")
