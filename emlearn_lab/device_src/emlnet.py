# emlearn_lab network runtime for MicroPython: loads a network file (format version 1, see
# emlearn_lab/nets/netfile.py) and returns a model with predict(x), scores(x), predict_proba(x).
# x is array('f') of n_features raw features, for both weight types.
# Everything read from the file is checked before use: a corrupt file raises ValueError here,
# it never crashes or hangs the device.
import struct

from emlab_common import check_features

MAGIC = b"EMLN"
FORMAT_VERSION = 1
HEADER = "<4sBBBBHHHh"
LAYER = "<HHBB2x"
OUT_SOFTMAX = 0
OUT_SIGMOID = 1
ACT_RELU = 1
ACT_SIGMOID = 2
ACT_TANH = 3
# int8 layers: |sum w*a| <= 128 * 128 * n_in must leave room for the bias in an int32 (the
# host's MAX_INPUTS, emlearn_lab/nets/int8.py).
MAX_INT8_INPUTS = 32768


class NetFileError(ValueError):
    pass


def _align4(n):
    return (n + 3) & ~3


def _parse(data):
    """(header fields, [(n_in, n_out, act, lut)], expected file size)."""
    if len(data) < 16:
        raise NetFileError("network file is %d bytes, shorter than the header" % len(data))
    magic, version, kind, weights, output, nf, no, nl, shift = struct.unpack_from(HEADER, data, 0)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise NetFileError("not an emlearn_lab network file version %d" % FORMAT_VERSION)
    if kind > 1 or weights > 1 or output > 3 or nl == 0 or nf == 0 or no == 0:
        raise NetFileError("corrupt network file: bad kind/weights/output byte or zero size")
    # float32 scores are not scaled; int8 ones are logits * 2**shift (the writer's shifts are
    # far inside this range, which keeps 1 << shift a small number on every port).
    if not (-126 <= shift <= 126 if weights else shift == 0):
        raise NetFileError("corrupt network file: output shift %d (expected %s)"
                           % (shift, "-126..126" if weights else "0 for float32 weights"))
    if len(data) < 16 + 8 * nl:
        raise NetFileError("network file truncated in the layer table")
    layers = []
    size = 16 + 8 * nl + (_align4(nf) if weights else 0)
    prev = nf
    for i in range(nl):
        n_in, n_out, act, lut = struct.unpack_from(LAYER, data, 16 + 8 * i)
        last = i == nl - 1
        if n_in != prev or n_out == 0 or act > 3 or lut > 1 or (last and n_out != no) \
                or (weights and n_in > MAX_INT8_INPUTS):
            raise NetFileError("corrupt network file: layer %d does not chain (%d -> %d)"
                               % (i, n_in, n_out))
        if (last and (act > ACT_RELU or lut)) or (weights == 0 and lut) \
                or (weights and lut != (act >= ACT_SIGMOID)):
            raise NetFileError("corrupt network file: bad activation of layer %d" % i)
        if weights:
            size += _align4(n_in * n_out) + 4 * n_out + _align4(n_out) + 256 * lut
        else:
            size += 4 * n_in * n_out + 4 * n_out
        layers.append((n_in, n_out, act, lut))
        prev = n_out
    if size != len(data):
        raise NetFileError("network file is %d bytes, its header says %d" % (len(data), size))
    return (kind, weights, output, nf, no, shift), layers


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (kind, weights, output, nf, no, shift), layers = _parse(data)
    if weights:
        import emlnet_int8
        run, scores_of = emlnet_int8.bind(data, nf, no, layers, kind)
    else:
        import emlnet_float
        run, scores_of = emlnet_float.bind(data, nf, no, layers, kind)
        data = None
    return Net(nf, no, kind, output, weights, shift, run, scores_of)


class Net:
    """A loaded network. predict(x): class index (classifiers: first maximum, or logit > 0
    for one output) or the value (regressors; a list for several outputs). scores(x): the
    exact last-layer outputs the host compares (float32, or int32 = value * 2**shift)."""

    def __init__(self, n_features, n_outputs, kind, output, weights, shift, run, scores_of):
        self.n_features = n_features
        self.n_outputs = n_outputs
        self.features = 0
        self.kind = kind
        self.output = output
        self.weights = weights
        self.shift = shift
        self._checked = check_features  # never a row: the first call is checked, even None
        self._run = run
        self._scores_of = scores_of

    def _check(self, x):
        if x is not self._checked:
            check_features(x, self.n_features, 0)
            self._checked = x

    def predict(self, x):
        self._check(x)
        r = self._run(x)
        if self.kind == 0:
            return r
        v = self._values()
        return v[0] if self.n_outputs == 1 else v

    def scores(self, x):
        self._check(x)
        self._run(x)
        return self._scores_of()

    def _values(self):
        s = self._scores_of()
        if not self.weights:
            return list(s)
        if self.shift >= 0:
            return [v / (1 << self.shift) for v in s]
        return [v * (1 << -self.shift) for v in s]

    def predict_proba(self, x):
        """Class probabilities (classifiers) from the scores, in the port's float precision."""
        import math
        self._check(x)
        self._run(x)
        s = self._values()
        if self.n_outputs == 1:
            # exp of a large |logit| overflows: take it of the non-positive side only.
            v = s[0]
            if v >= 0:
                p = 1 / (1 + math.exp(-v))
            else:
                e = math.exp(v)
                p = e / (1 + e)
            return [1 - p, p]
        m = max(s)
        e = [math.exp(v - m) for v in s]
        t = sum(e)
        return [v / t for v in e]
