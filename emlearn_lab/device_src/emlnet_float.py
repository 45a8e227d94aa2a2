# float32 network on the device: exactly the arithmetic of emlearn_lab/nets/float32.py. Each
# operation's result is rounded to float32 by storing it in an array('f') on ports whose
# floats are double precision (the unix port); ports with single-precision floats compute in
# float32 already. Bytecode, except on cores with an FPU, where the dense layers (and ReLU,
# argmax) run as machine code (emlnet_fpu, runtime/thumb_fpu_net.py) with the same roundings,
# and on ARMv7-M cores without one, where they run as integer machine code with those roundings
# written out (emlnet_soft, runtime/thumb_soft_net.py).
import array
import math

try:
    import emlnet_fpu as _fpu
except (ImportError, SyntaxError, ValueError):     # no FPU module (or one for another arch)
    try:
        import emlnet_soft as _fpu                 # the same layers in integer code
    except (ImportError, SyntaxError, ValueError):
        _fpu = None

_R = array.array("f", [0.0])
_DOUBLE = array.array("f", [0.1])[0] != 0.1
# 30-bit floats (MICROPY_OBJ_REPR_C) drop the last mantissa bits of every result.
_LOSSY = not _DOUBLE and (1.0 + 2.0 ** -23) - 1.0 != 2.0 ** -23


def _f32(v):
    _R[0] = v
    return _R[0]


def _bits(u):
    return array.array("f", u.to_bytes(4, "little"))[0]


# The host's float32 constants (emlearn_lab/nets/float32.py), given by their bits: a port with
# single-precision floats parses a decimal literal in float32 arithmetic, and MicroPython's
# parser is not correctly rounded there (LN2_LO came out one ulp high on Cortex-M0/M3, so exp,
# tanh and sigmoid differed from the host on about one row in a hundred).
LOG2E = _bits(0x3FB8AA3B)      # log2(e)
LN2_HI = _bits(0x3F317200)     # ln(2), high 12 bits
LN2_LO = _bits(0x35BFBE8E)     # ln(2) - LN2_HI
POLY = [_bits(u) for u in (0x3AB60B61, 0x3C088889, 0x3D2AAAAB, 0x3E2AAAAB)] + [0.5, 1.0, 1.0]


def pexp(x):
    """The portable float32 exp (emlearn_lab/nets/float32.py)."""
    if x != x:
        return x                    # NaN (from inf - inf upstream) stays NaN
    if x < -80.0:
        x = -80.0
    elif x > 80.0:
        x = 80.0
    r = _R
    r[0] = x * LOG2E
    r[0] = r[0] + 0.5
    k = math.floor(r[0])
    r[0] = k * LN2_HI
    r[0] = x - r[0]
    t = r[0]
    r[0] = k * LN2_LO
    r[0] = t - r[0]
    t = r[0]
    p = POLY[0]
    for c in POLY[1:]:
        r[0] = p * t
        r[0] = r[0] + c
        p = r[0]
    r[0] = math.ldexp(p, k)
    return r[0]


def _activate(z, act):
    r = _R
    if act == 1:
        return z if z > 0 else 0.0
    if act == 2:
        r[0] = 1.0 + pexp(-z)
        r[0] = 1.0 / r[0]
        return r[0]
    if act == 3:
        r[0] = 2.0 * z
        r[0] = pexp(r[0]) + 1.0
        r[0] = 2.0 / r[0]
        r[0] = 1.0 - r[0]
        return r[0]
    return z


def bind(data, nf, no, layers, kind):
    if _LOSSY:
        raise ValueError("this port's floats are 30-bit (MICROPY_OBJ_REPR_C), so float32 "
                         "networks cannot match the host here: convert with weights='int8'")
    params = []
    off = 16 + 8 * len(layers)
    for n_in, n_out, act, _ in layers:
        # One array per layer: the weights (neuron-major), then the biases.
        wb = array.array("f", data[off:off + 4 * (n_in * n_out + n_out)])
        off += 4 * (n_in * n_out + n_out)
        if not _finite(wb):
            raise ValueError("corrupt network file: non-finite (NaN/inf) weight or bias in "
                             "layer %d: convert the model again" % len(params))
        params.append((n_in, n_out, act, wb))
    out = array.array("f", [0.0] * no)
    if _fpu is not None and not _DOUBLE:
        return _fpu.bind(params, out, no, kind, _activate)
    dense = _dense_double if _DOUBLE else _dense_single

    def run(x):
        a = x
        for n_in, n_out, act, wb in params:
            a = dense(a, n_in, n_out, act, wb)
        for j in range(no):
            out[j] = a[j]
        if kind != 0:
            return 0
        if no == 1:
            return 1 if a[0] > 0 else 0
        best = 0
        for j in range(1, no):
            if a[j] > a[best]:
                best = j
        return best

    def scores():
        return out
    return run, scores


def _finite(values):
    # v - v is 0.0 for every finite float, NaN for NaN and +-inf.
    for v in values:
        if v - v != 0.0:
            return False
    return True


def _dense_double(a, n_in, n_out, act, wb):
    r = array.array("f", [0.0, 0.0])
    z = []
    k = 0
    nw = n_in * n_out
    for o in range(n_out):
        acc = wb[nw + o]
        for i in range(n_in):
            r[0] = wb[k] * a[i]
            r[1] = acc + r[0]
            acc = r[1]
            k += 1
        z.append(_activate(acc, act))
    return z


def _dense_single(a, n_in, n_out, act, wb):
    z = []
    k = 0
    nw = n_in * n_out
    for o in range(n_out):
        acc = wb[nw + o]
        for i in range(n_in):
            acc += wb[k] * a[i]
            k += 1
        z.append(_activate(acc, act))
    return z
