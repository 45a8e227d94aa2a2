"""The integer float32 multiply-add of emlnet_soft (runtime/thumb_soft_net.py), bit for bit
against numpy on the emulated Cortex-M3 (marker ``mcu``, as tests/test_mcu.py).

``soft_mac_source()`` wraps the very instructions dense() runs per input (the fast paths and
the general routines) in ``mac(buf, n)``: acc = acc + w * a over (acc, w, a) triples. A product
is checked as -0.0 + w * a (exactly w * a for every w * a), a sum as x + y * 1.0 (exactly
x + y), and both together on random triples. The operands come from every class where an
integer implementation goes wrong: random bit patterns, each exponent, subnormals, products
and sums exactly half an ulp from two floats (ties to even) or just beside it (sticky bits),
overflow to inf, underflow to subnormal and zero, cancellation to +0 and -0, inf and NaN.
The expected bits travel with the operands and the device returns the indices that differ
(a NaN matches any NaN, as in tests/test_mcu.py).
"""
import numpy as np
import pytest
from test_mcu import board, boards, on_boards  # noqa: F401 (fixtures)

U32 = np.uint32
NEG_ZERO = 0x80000000
ONE = 0x3F800000
SPECIAL_BITS = np.array([0, NEG_ZERO, 1, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x00800000,
                         0x80800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000,
                         0x7FC00000, 0xFFC00000, 0x7F800001, ONE, 0xBF800000, 0x3F000000,
                         0x3F7FFFFF, 0x3F800001, 0x4B000000, 0x33800000, 0x34000000], U32)


def _bits(rng, n, exponents=None):
    """n random float32 bit patterns: uniform, or with exponents drawn from `exponents`."""
    if exponents is None:
        return rng.integers(0, 2**32, n, dtype=np.uint64).astype(U32)
    sign = rng.integers(0, 2, n).astype(U32) << U32(31)
    exp = rng.choice(np.asarray(exponents), n).astype(U32) << U32(23)
    return sign | exp | rng.integers(0, 2**23, n).astype(U32)


def _f(bits):
    return np.asarray(bits, U32).view(np.float32)


def _near_ties(rng, x, y, op, n):
    """Of candidate pairs (x, y) the n whose exact result lies exactly half an ulp between
    two float32 (ties) or one float64 step beside that point (sticky), found in float64,
    where a product or sum of two float32 with exponents this close is exact."""
    with np.errstate(all="ignore"):
        exact = op(_f(x).astype(np.float64), _f(y).astype(np.float64))
        rounded = exact.astype(np.float32).astype(np.float64)
        ulp = np.spacing(np.abs(exact.astype(np.float32))).astype(np.float64)
        off = np.abs(exact - rounded) / ulp
    keep = np.isfinite(off) & (np.abs(off - 0.5) < 1e-6) & (exact != 0)
    idx = np.flatnonzero(keep)[:n]
    return x[idx], y[idx]


def _mul_operands(rng):
    """(w, a) pairs for products."""
    normal = list(range(1, 255))
    pairs = [(_bits(rng, 300), _bits(rng, 300)),                        # any bits
             (_bits(rng, 254, normal), _bits(rng, 254, normal)),          # every exponent
             (_bits(rng, 150, [0]), _bits(rng, 150, range(0, 140))),      # subnormal inputs
             (_bits(rng, 200, range(40, 90)), _bits(rng, 200, range(40, 90))),  # underflow
             (_bits(rng, 100, range(60, 64)), _bits(rng, 100, range(60, 64))),  # near 2**-126
             (_bits(rng, 100, range(190, 255)), _bits(rng, 100, range(190, 255)))]  # overflow
    s = SPECIAL_BITS
    pairs.append((np.repeat(s, len(s)), np.tile(s, len(s))))              # specials x specials
    # Few significant bits make exact ties common: keep those within 1e-6 of half an ulp.
    few = ((_bits(rng, 200000, range(100, 150)) >> U32(12)) << U32(12))
    few2 = ((_bits(rng, 200000, range(100, 150)) >> U32(12)) << U32(12)) | U32(1 << 11)
    pairs.append(_near_ties(rng, few, few2, np.multiply, 300))
    # Ties in the subnormal range (the shift below 2**-126 with its sticky bits).
    tiny = ((_bits(rng, 200000, range(20, 40)) >> U32(16)) << U32(16))
    tiny2 = ((_bits(rng, 200000, range(80, 100)) >> U32(16)) << U32(16))
    pairs.append(_near_ties(rng, tiny, tiny2, np.multiply, 150))
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def _add_operands(rng):
    """(x, y) pairs for sums."""
    normal = list(range(1, 255))
    x = _bits(rng, 200, normal)
    ulp = np.spacing(np.abs(_f(x))).astype(np.float32)
    half = (ulp * np.float32(0.5)).view(U32)
    # y = +-(k + 1/2) ulp of x: exact ties; and one float step beside them (sticky).
    k = rng.integers(0, 4, 200).astype(np.float32)
    tie = ((k + np.float32(0.5)) * ulp).astype(np.float32).view(U32) ^ \
        (rng.integers(0, 2, 200).astype(U32) << U32(31))
    beside = (tie.astype(np.int64) + rng.choice([-1, 1], 200)).astype(U32)
    same = _bits(rng, 150, normal)
    pairs = [(_bits(rng, 300), _bits(rng, 300)),
             (x, half), (x, half ^ U32(NEG_ZERO)), (x, tie), (x, beside),
             (same, same ^ U32(NEG_ZERO)),                               # x + (-x) = +0
             (same, (same.astype(np.int64) + 1).astype(U32) ^ U32(NEG_ZERO)),  # cancellation
             (_bits(rng, 254, normal), _bits(rng, 254, normal)),
             (_bits(rng, 200, [0, 1, 2]), _bits(rng, 200, [0, 1, 2])),    # subnormal in/out
             (_bits(rng, 100, [253, 254]), _bits(rng, 100, [253, 254]))]  # overflow
    s = SPECIAL_BITS
    pairs.append((np.repeat(s, len(s)), np.tile(s, len(s))))
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def mac_cases(seed=11):
    """(acc, w, a) triples as uint32 bits and the host's acc + w * a (float32 steps)."""
    rng = np.random.default_rng(seed)
    w, a = _mul_operands(rng)
    x, y = _add_operands(rng)
    n = 300
    acc = np.concatenate([np.full(len(w), NEG_ZERO, U32), x, _bits(rng, n),
                          _bits(rng, n, range(110, 140))])
    ws = np.concatenate([w, y, _bits(rng, n), _bits(rng, n, range(110, 140))])
    As = np.concatenate([a, np.full(len(x), ONE, U32), _bits(rng, n),
                         _bits(rng, n, range(110, 140))])
    with np.errstate(all="ignore"):
        want = _f(acc) + _f(ws) * _f(As)
    return np.stack([acc, ws, As], axis=1).astype("<u4"), want.view(U32)


def test_cases_cover_the_classes():
    """The operands include ties, NaN and subnormal results (a generator change that lost
    them would leave the device test weaker without failing)."""
    triples, want = mac_cases()
    f = want.view(np.float32)
    assert 4000 <= len(triples) <= 6000
    assert np.isnan(f).sum() > 50 and np.isinf(f).sum() > 50
    sub = (want & U32(0x7F800000)) == 0
    assert (sub & (want << U32(1) != 0)).sum() > 100               # subnormal results
    assert (want == 0).sum() > 20 and (want == NEG_ZERO).sum() > 5  # zeros of both signs


@on_boards
@pytest.mark.parametrize("board", ["cortex-m3"], indirect=True)
def test_soft_float_mac_equals_numpy_on_the_core(board):
    from emlearn_lab.runtime.build import compile_source
    from emlearn_lab.runtime.thumb_soft_net import soft_mac_source
    triples, want = mac_cases()
    board.write_file("softmac.mpy", compile_source(soft_mac_source(), "softmac.py",
                                                   board.target, native=True))
    board.put_data("mac.bin", triples.tobytes() + want.astype("<u4").tobytes())
    bad = board.exec(f"""
import softmac
from struct import unpack_from
n = {len(triples)}
t = bytearray(12 * n)
w = bytearray(4 * n)
with open('mac.bin', 'rb') as f:
    f.readinto(t)
    f.readinto(w)
softmac.mac(t, n)
bad = []
for i in range(n):
    g = unpack_from('<I', t, 12 * i)[0]
    e = unpack_from('<I', w, 4 * i)[0]
    if g != e and not ((g << 1) & 0xFFFFFFFF > 0xFF000000 and (e << 1) & 0xFFFFFFFF > 0xFF000000):
        bad.append(i)
print(bad[:50], len(bad))
t = w = None
""", timeout_s=300)
    first, count = bad.strip().rsplit(" ", 1)
    idx = eval(first)
    detail = [(hex(triples[i][0]), hex(triples[i][1]), hex(triples[i][2]), hex(want[i]))
              for i in idx[:5]]
    assert int(count) == 0, f"{count} of {len(triples)} differ from numpy; first {detail}"


@on_boards
@pytest.mark.parametrize("board", ["cortex-m3"], indirect=True)
def test_relu_classifier_float32_exact_and_allocation_free_on_the_core(board,
                                                                       classification_data):
    """A several-class ReLU MLP in float32 on the M3: emlnet_soft's layers and argmax give the
    host's scores bit for bit (rows with zeros, subnormals and +-3.4e38 among them), and a
    predict allocates nothing (no boxed floats: the layers write their arrays in place)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from test_mcu import _exact, _heap_growth, _special_rows

    import emlearn_lab as eml
    X_train, X_test, y_train, _ = classification_data["wine"]
    scale = X_train.std(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_layer_sizes=(16, 8), activation="relu", max_iter=300,
                            random_state=0).fit(X_train / scale, y_train)
    X = np.vstack([X_test[:16] / scale,
                   _special_rows(X_test.shape[1], np.random.default_rng(3))])
    report = board.deploy(eml.convert(est, weights="float32"), X, name="mcu", repeats=1)
    assert report.native and report.n_rows == len(X), str(report)
    _exact(report, "ReLU MLP float32 (emlnet_soft)")
    # The first measurement's exec adds its variables to the REPL's globals (48 bytes once,
    # the M4F's FPU layers alike); from the second on, growth is the predicts' own.
    _heap_growth(board, "mcu", 2)
    assert _heap_growth(board, "mcu", 200) == 0
