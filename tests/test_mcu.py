"""Every conversion path, bit for bit, on emulated microcontroller cores (marker ``mcu``).

Real MicroPython v1.28 firmware under qemu (``eml.connect("emulated:BOARD")``): the Cortex-M0
(armv6m, soft float: the RP2040's core) and RISC-V rv32imc run every path the converter has --
float32 and int16 trees (RandomForest, ExtraTrees; eml.convert does not take GradientBoosting),
loadable and inline, compressed (k-means leaves, leaf_bits, learned int16 features), regressors,
scikit-learn MLPs in float32 and int8, feature extractors (TimeStats, SoundLevel, LogMel) and a
Pipeline -- on rows where float32 handling goes wrong: ±0, subnormals, ±3.4e38, values on and one
ulp beside tree thresholds and int16 quantiser steps. Every row must equal the host reference
bit for bit (``report.agreement == 1.0``, no disagreement; a NaN score matches a NaN of
either sign, which IEEE 754 leaves to the hardware). The Cortex-M4F, the one board whose
float32 arithmetic is the FPU's (every board here is a single-precision port), runs the networks,
and so does the Cortex-M3 in float32, whose layers run in integer machine code (emlnet_soft;
tests/test_soft_float.py checks its multiply-add operation by operation).
Keras networks are not run here: they convert to the same network file and device code as the
MLPs, and importing jax costs more than the rest of a case (tests/test_device_nets.py has them).

``python3 -m pytest -m mcu`` runs only these; the plain ``python3 -m pytest`` (CI) includes them.
One qemu per board for the module (a module-scoped fixture); the UART carries ~4 kB/s, so each
case sends some tens of rows of a few features. Without qemu or the firmware they skip, and fail
under CI (as tests/test_emulated.py does).
"""
import warnings

import numpy as np
import pytest
from sklearn.ensemble import (ExtraTreesClassifier, RandomForestClassifier,
                              RandomForestRegressor)
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from test_emulated import _need

import emlearn_lab as eml
from emlearn_lab.features import LogMel, SoundLevel, TimeStats


def on_boards(test):
    """Marks of a test that runs on the emulated boards: mcu, device and slow."""
    return pytest.mark.mcu(pytest.mark.device(pytest.mark.slow(test)))


BOARDS = ["cortex-m0", "rv32imc"]
# Networks: both weight kinds on each board; float32 also on the M4F, whose FPU computes it,
# and on the M3, where integer machine code does (emlnet_soft).
NET_CASES = [(b, w) for b in BOARDS for w in ("float32", "int8")] + [
    ("cortex-m4f", "float32"), ("cortex-m3", "float32")]
FORMS = ["loadable", "inline"]

F32_MAX = float(np.finfo(np.float32).max)
# One float32 each: zeros of both signs, the smallest and largest subnormals, the smallest
# normal, the largest finite values, rounding edges (0.5 - ulp, halves) and plain ones.
SPECIAL = np.array([0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, -1.1754942e-38, 1.1754944e-38,
                    F32_MAX, -F32_MAX, 0.49999997, 0.5, -0.5, 1.5, -2.5, 1.0, -1.0, 127.5,
                    -128.5, 1e10, -1e10], np.float32)


@pytest.fixture(scope="module")
def boards():
    """Board name -> its Device, connected on first use: one qemu per board for the module
    (an idle board costs no host CPU)."""
    connected = {}

    def get(name):
        if name not in connected:
            _need(name)
            connected[name] = eml.connect("emulated:" + name)
        return connected[name]
    yield get
    for dev in connected.values():
        dev.close()


@pytest.fixture
def board(request, boards):
    """The board a test is parametrized with (indirect=True)."""
    return boards(request.param)


def _exact(report, what):
    """Every row's device result equals the host reference, bit for bit."""
    assert report.agreement == 1.0 and report.n_disagreements == 0, (
        f"{what} on {report.device}: {report.n_disagreements} of {report.n_rows} rows differ "
        f"from the host; first: {report.disagreements[:3]}")


def test_a_nan_score_equals_a_nan_of_any_sign():
    """IEEE 754 leaves a NaN result's sign and payload to the hardware: inf - inf is
    0xffc00000 on x86 (the host, the unix port), 0x7fc00000 on the Arm and RISC-V boards (a
    float32 MLP fed +3.4e38 differed in that bit only). A NaN score equals any NaN; every other
    float32 still compares by its bits (-0.0 != 0.0, NaN != inf)."""
    from emlearn_lab.device.session import same_rows as _same_rows
    bits = np.array([0xffc00000, 0x7fc00000, 0x80000000, 0, 0x7f800000], "<u4").view("<f4")
    host, device = bits[[0, 0, 3, 4, 0]], bits[[1, 0, 2, 1, 4]]
    assert _same_rows(device[:, None], host[:, None]).tolist() == [True, True, False, False,
                                                                   False]
    assert _same_rows(np.zeros((2, 1), "<i4"), np.array([[0], [1]])).tolist() == [True, False]


# -- rows -----------------------------------------------------------------------------------
def _f32_at_or_below(t: float) -> np.float32:
    """The largest float32 not above t (what the device stores for threshold t)."""
    with np.errstate(over="ignore"):        # beyond float32: inf, then the largest finite
        t32 = np.float32(t)
    return np.nextafter(t32, np.float32(-np.inf)) if float(t32) > t else t32


def _threshold_rows(estimator, base, rng, n=8, every=(0, 1, 2)) -> np.ndarray:
    """Rows of ``base`` with one feature set on a split threshold of the fitted forest (the
    float32 the device stores for it) and on the next float32 above it: both sides of the
    split. Every split on the features ``every``, and ``n`` others at random."""
    trees = getattr(estimator, "estimators_", [estimator])
    pairs = sorted({(int(f), float(t)) for tree in trees
                    for f, t in zip(tree.tree_.feature, tree.tree_.threshold) if f >= 0})
    chosen = [p for p in pairs if p[0] in every]
    others = [p for p in pairs if p[0] not in every]
    chosen += [others[i] for i in rng.choice(len(others), min(n, len(others)), replace=False)]
    rows = []
    for f, t in chosen:
        below = _f32_at_or_below(t)
        for v in (below, np.nextafter(below, np.float32(np.inf))):
            if np.isfinite(v):
                row = base[rng.integers(len(base))].astype(np.float32)
                row[f] = v
                rows.append(row)
    return np.array(rows, np.float32)


# Thresholds scikit-learn never learns (it does not split between values under 1e-7 apart)
# but that the device's float32 comparison must still get right, set on a fitted forest:
# at and between both zeros and the smallest subnormals, at and beyond the float32 limits.
EDGE_THRESHOLDS = {
    0: [0.0, -0.0, 7e-46, -7e-46, 1.401298464324817e-45, 2.1e-45, -2.1e-45, 1.1754942e-38],
    1: [0.0, 7e-46, -7e-46, -1.401298464324817e-45, 1e-300, -1e-300],
    2: [3.4028234663852886e38, -3.4028234663852886e38, 3.5e38, -3.5e38, 1e38, -1e-40]}
# ... and for int16 features: beyond the int16 range, on its ends, whole and negative zero.
EDGE_THRESHOLDS_INT16 = {0: [-32768.5, 32767.5, -1e9, 1e9, 0.0, -0.0, -0.5, 32766.0],
                         1: [-32768.0, 32767.0, -32767.5, 100.25]}


def _set_thresholds(forest, edges) -> None:
    """Give the splits on the features of ``edges`` those thresholds in turn (in place;
    scikit-learn predicts with them as with learned ones)."""
    used = dict.fromkeys(edges, 0)
    for tree in forest.estimators_:
        for node in np.flatnonzero(np.isin(tree.tree_.feature, list(edges))):
            f = int(tree.tree_.feature[node])
            tree.tree_.threshold[node] = edges[f][used[f] % len(edges[f])]
            used[f] += 1
    assert all(used.values()), f"the forest splits on none of some features: {used}"


def _special_rows(n_features, rng, n_mixed=8) -> np.ndarray:
    """One row per SPECIAL value in every feature, then rows mixing them at random."""
    same = np.repeat(SPECIAL[[0, 1, 2, 3, 6, 7, 8]][:, None], n_features, axis=1)
    return np.vstack([same, rng.choice(SPECIAL, size=(n_mixed, n_features))]).astype(np.float32)


def _quantiser_rows(model, base, rng, n=6, n_nodes=12) -> np.ndarray:
    """For a learned-int16 model: values exactly on an int16 step boundary and one float32
    below it, at both clipping ends and inside the range; then, for nodes at random, the
    first value whose q passes the node's threshold and the float32 just below it (where a
    walker comparing float keys with the nodes' keys must turn the other way)."""
    q = model.quantiser
    edges = []
    for _ in range(n):
        f = int(rng.integers(q.n_features))
        edges += [(f, k) for k in (-32768, 32767, int(rng.integers(-32768, 32767)))]
    internal = np.flatnonzero(model.threshold.astype(np.int64) < 65535)
    for node in rng.choice(internal, size=min(n_nodes, len(internal)), replace=False):
        edges.append((int(model.feature[node]), int(model.threshold[node]) - 32768 + 1))
    rows = []
    for f, k in edges:
        edge = np.float32(np.clip(np.ldexp(float(k + q.offset[f]), -int(q.shift[f])),
                                  -F32_MAX, F32_MAX))
        for v in (edge, np.nextafter(edge, np.float32(-np.inf))):
            row = base[rng.integers(len(base))].astype(np.float32)
            row[f] = v
            rows.append(row)
    return np.array(rows, np.float32)


# -- trees ----------------------------------------------------------------------------------
def _edge_data(seed=0, n=600):
    """Features at float32's edges, labels that make trees split there: magnitudes from the
    smallest subnormal to 1 (splits between subnormals), values around zero (both zeros, the
    smallest subnormals), magnitudes near the largest float32, integers with ties and -0.0,
    plain values and values not exact in float32. scikit-learn does not split a feature whose
    range is under 1e-7, so a feature of subnormals alone would never be tested."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([
        rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-45, 0, n),
        rng.choice([-1.0, -2.8e-45, -1.4e-45, -0.0, 0.0, 1.4e-45, 2.8e-45, 1.0], n),
        rng.standard_normal(n) * 1e38,
        rng.integers(-2, 3, n).astype(float),
        rng.standard_normal(n),
        np.round(rng.standard_normal(n) * 1000) / 7.0,
    ])
    X[::5, 3] = -0.0
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0) + (X[:, 2] > 0) + (X[:, 3] < 0)
    y_reg = X[:, 4] * 3 + 4 * (X[:, 0] > 0) + X[:, 5] / 100 + 2 * (X[:, 1] > 0) + (X[:, 2] > 0)
    return X[:400], X[400:], y[:400], y_reg[:400]


@pytest.fixture(scope="module")
def tree_cases():
    """name -> (TreeModel, rows to verify, sklearn estimator or None)."""
    # Features near ±3.4e38 overflow scikit-learn's sums (its finite checks), and
    # EDGE_THRESHOLDS lie beyond float32: no warning is news here.
    with np.errstate(over="ignore", invalid="ignore"):
        return _tree_cases()


def _tree_cases():
    X_train, X_test, y, y_reg = _edge_data()
    rng = np.random.default_rng(1)
    rf = RandomForestClassifier(n_estimators=4, max_leaf_nodes=16, random_state=0)
    _set_thresholds(rf.fit(X_train, y), EDGE_THRESHOLDS)
    et = ExtraTreesClassifier(n_estimators=4, max_leaf_nodes=16, random_state=0).fit(X_train, y)
    reg = RandomForestRegressor(n_estimators=3, max_leaf_nodes=16, random_state=0)
    _set_thresholds(reg.fit(X_train, y_reg), EDGE_THRESHOLDS)

    def rows(est, extra=(), every=(0, 1, 2)):
        return np.vstack([X_test[:20].astype(np.float32),
                          _threshold_rows(est, X_test, rng, every=every),
                          _special_rows(X_test.shape[1], rng), *extra])

    cases = {"rf": (eml.convert(rf), rows(rf), rf),
             "extratrees": (eml.convert(et), rows(et, every=()), et),
             "rf-regressor": (eml.convert(reg), rows(reg), None)}
    # int16 features: whole numbers over the whole int16 range, thresholds at x.5.
    Xi = rng.integers(-32768, 32768, (500, 4)).astype(np.int16)
    Xi[::9, 1] = rng.choice([-32768, -1, 0, 32767], size=len(Xi[::9]))
    yi = (Xi[:, 0] > 1000).astype(int) + (Xi[:, 1] > -5) + (Xi[:, 2] > Xi[:, 3])
    rfi = RandomForestClassifier(n_estimators=4, max_leaf_nodes=16, random_state=0)
    _set_thresholds(rfi.fit(Xi[:400], yi[:400]), EDGE_THRESHOLDS_INT16)
    ti = np.clip(_threshold_rows(rfi, Xi[400:], rng, every=(0, 1)), -32768, 32767)
    ti = np.vstack([np.floor(ti), np.ceil(ti),
                    np.repeat([[-32768], [32767], [0], [-1]], 4, axis=1)])
    cases["rf-int16"] = (eml.convert(rfi, features="int16"),
                         np.vstack([Xi[400:420], ti]).astype(np.int16), rfi)
    # Compressed: k-means leaves, few leaf bits, int16 features learned from X_calib.
    small = eml.compress(rf, leaves_per_class=4, leaf_bits=4, features="int16",
                         X_calib=X_train)
    cases["compressed-int16"] = (small, rows(rf, [_quantiser_rows(small, X_test, rng)]), None)
    votes = eml.compress(rf, leaves_per_class=2, leaf_bits=0)
    cases["compressed-votes"] = (votes, rows(rf), None)
    small_reg = eml.compress(reg, leaves_per_class=8, features="int16", X_calib=X_train)
    cases["compressed-regressor"] = (small_reg, rows(reg, [_quantiser_rows(small_reg, X_test,
                                                                           rng)]), None)
    return cases


@on_boards
@pytest.mark.parametrize("case,form", [
    (case, form) for case in ("rf", "rf-int16", "rf-regressor", "compressed-int16",
                              "compressed-votes", "compressed-regressor") for form in FORMS] +
    [("extratrees", "loadable")])       # its thresholds differ, not its code: one form
@pytest.mark.parametrize("board", BOARDS, indirect=True)
def test_trees_exact_on_the_core(board, tree_cases, case, form):
    model, X, sklearn_est = tree_cases[case]
    if sklearn_est is not None:     # the host reference is scikit-learn's own answer
        with np.errstate(over="ignore", invalid="ignore"):  # its finite check sums ±3.4e38
            np.testing.assert_array_equal(model.predict(X), sklearn_est.predict(X))
    report = board.deploy(model, X, form=form, name="mcu", repeats=1)
    assert (report.form, report.native, report.n_rows) == (form, True, len(X)), str(report)
    _exact(report, f"{case} ({form})")


@on_boards
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("board", ["cortex-m3"], indirect=True)
def test_pruned_forests_exact_on_the_core(board, form):
    """Tree selection, cost-complexity pruning and leaf refinement (eml.compress with
    X_train) on the edge-case data: refined 32-bit leaves on float32 features, and a pruned
    regressor on learned int16 features, every row bit for bit."""
    X_train, X_test, y, y_reg = _edge_data()
    rng = np.random.default_rng(4)
    with np.errstate(over="ignore", invalid="ignore"):
        rf = RandomForestClassifier(n_estimators=12, random_state=0).fit(X_train, y)
        reg = RandomForestRegressor(n_estimators=8, random_state=0).fit(X_train, y_reg)
        clf_model = eml.compress(rf, n_trees=4, ccp_alpha=0.002, leaf_bits=None,
                                 X_train=X_train, y_train=y)
        reg_model = eml.compress(reg, n_trees=3, ccp_alpha=0.01, features="int16",
                                 X_train=X_train, y_train=y_reg)
        rows = np.vstack([X_test[:60], _special_rows(X_test.shape[1], rng)])
        for model, X in ((clf_model, rows),
                         (reg_model, np.vstack([rows, _quantiser_rows(reg_model, X_test,
                                                                      rng)]))):
            report = board.deploy(model, X, form=form, name="mcu", repeats=1)
            _exact(report, f"pruned {model.kind} ({form})")


# -- networks -------------------------------------------------------------------------------
def _mlp(cls, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(random_state=0, **kw).fit(X, y)


@pytest.fixture(scope="module")
def net_data(classification_data, regression_data):
    rng = np.random.default_rng(2)
    out = {}
    X_train, X_test, y_train, _ = classification_data["wine"]
    scale = X_train.std(axis=0)
    out["classifier"] = (_mlp(MLPClassifier, X_train / scale, y_train, hidden_layer_sizes=(8, 6),
                              activation="tanh", max_iter=300), X_train / scale, X_test / scale)
    X_train, X_test, y_train, _ = classification_data["breast_cancer"]
    scale = X_train[:, :8].std(axis=0)
    X_train, X_test = X_train[:, :8] / scale, X_test[:, :8] / scale
    out["binary"] = (_mlp(MLPClassifier, X_train, y_train, hidden_layer_sizes=(6,),
                          activation="relu", max_iter=300), X_train, X_test)
    X_train, X_test, y_train, _ = regression_data["diabetes"]
    out["regressor"] = (_mlp(MLPRegressor, X_train * 10, y_train, hidden_layer_sizes=(6, 4),
                             activation="logistic", max_iter=400), X_train * 10, X_test * 10)
    return {name: (est, X_calib, np.vstack([X_test[:16], _special_rows(X_test.shape[1], rng)]))
            for name, (est, X_calib, X_test) in out.items()}


@on_boards
@pytest.mark.parametrize("case", ["classifier", "binary", "regressor"])
@pytest.mark.parametrize("board,weights", NET_CASES, indirect=["board"])
def test_networks_exact_on_the_core(board, net_data, case, weights):
    est, X_calib, X = net_data[case]
    net = eml.convert(est, weights=weights, X_calib=X_calib if weights == "int8" else None)
    report = board.deploy(net, X, name="mcu", repeats=1)
    # Native: the int8 kernel, or the float32 layers on the M4F's FPU (emlnet_fpu) or in the
    # M3's integer code (emlnet_soft).
    from emlearn_lab.runtime.thumb_fpu_net import FPU_ARCHS
    from emlearn_lab.runtime.thumb_soft_net import SOFT_ARCHS
    native = weights == "int8" or board.target.arch in FPU_ARCHS | SOFT_ARCHS
    assert report.n_rows == len(X) and report.native == native, str(report)
    _exact(report, f"{case} MLP {weights}")
    if native and case == "binary":     # ReLU and a logit: a predict allocates nothing
        assert _heap_growth(board, "mcu", 200) == 0


@on_boards
@pytest.mark.parametrize("board", BOARDS, indirect=True)
def test_float32_exp_equals_the_host_on_the_core(board, net_data):
    """The portable exp behind sigmoid and tanh, on 400 inputs across its range, bit for bit.
    Its constants once came from decimal literals, which a single-precision port parses one ulp
    off (LN2_LO): a 64-24-12-10 tanh MLP then differed on one row in a hundred."""
    from emlearn_lab.nets.float32 import pexp
    est, _, X = net_data["classifier"]
    board.deploy(eml.convert(est, weights="float32"), X[:2], name="mcu", repeats=1)
    rng = np.random.default_rng(9)
    # Inputs whose result a one-ulp change of LN2_LO flips (6 in 2 million uniform in +-80,
    # found on the host), then a sweep and random ones.
    flips = [57.5241584777832, 69.3065414428711, 17.326244354248047, 69.3228759765625,
             -34.651790618896484, -69.32682037353516]
    xs = np.concatenate([flips, np.linspace(-88, 88, 300), rng.normal(0, 3, 94)]).astype("<f4")
    board.write_file("_mcu_exp.bin", xs.tobytes(), skip_unchanged=False)
    # In place and as hex: a small heap holds no list of 400 results.
    text = board.exec("import array, binascii, emlnet_float\n"
                      "a = array.array('f', open('_mcu_exp.bin', 'rb').read())\n"
                      "for i in range(len(a)):\n a[i] = emlnet_float.pexp(a[i])\n"
                      "print(binascii.hexlify(a).decode())\ndel a", timeout_s=120)
    got = np.frombuffer(bytes.fromhex(text.strip()), dtype="<u4")
    want = pexp(xs).view("<u4")
    bad = np.flatnonzero(got != want)
    assert len(bad) == 0, f"{len(bad)} of {len(xs)} differ, first at x={xs[bad[0]]!r}"


# -- feature extractors and a Pipeline --------------------------------------------------------
def _motion_windows(n=10, samples=24, seed=3):
    """int16 windows at the range's edges (constant, alternating full scale) and noise."""
    rng = np.random.default_rng(seed)
    W = rng.integers(-32768, 32768, (n, samples, 3)).astype(np.int16)
    W[0], W[1], W[2] = -32768, 32767, 0
    W[3, ::2], W[3, 1::2] = -32768, 32767
    W[4] = (rng.normal(size=(samples, 3)) * 3).astype(np.int16)
    return W


def _float_windows(n=10, samples=24, seed=4):
    """float32 windows with ±0, subnormals, and values far beyond the fitted peak."""
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((n, samples, 3)) * 2.0).astype(np.float32)
    W[0] = rng.choice(SPECIAL[:7], size=(samples, 3))
    W[1, ::3] = F32_MAX
    W[2, ::2] = -F32_MAX
    W[3] = rng.choice(SPECIAL, size=(samples, 3))
    return W


def _audio_windows(n=6, samples=256, rate=16000, seed=5):
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    W = np.empty((n, samples, 1), np.int16)
    W[0, :, 0] = 32767
    W[1, :, 0] = np.where(np.arange(samples) % 2, 32767, -32768)
    W[2, :, 0] = 0
    W[3, :, 0] = np.round(32767 * np.sin(2 * np.pi * 1000 * t))
    W[4, :, 0] = rng.integers(-32768, 32768, samples)
    W[5, :, 0] = rng.integers(-3, 4, samples)
    return W


@on_boards
@pytest.mark.parametrize("board", BOARDS, indirect=True)
def test_time_stats_exact_on_the_core(board):
    W = _motion_windows()
    check = board.check_features(TimeStats(magnitude=True).fit(W), W, repeats=0)
    assert check.exact and check.n_windows == len(W), str(check)
    F = _float_windows()
    fx = TimeStats(axes=[0, 2], magnitude=True).fit(F[4:])     # peak from the plain windows
    check = board.check_features(fx, F, repeats=0)
    assert fx.input_dtype_ == "f" and check.exact, str(check)


def _order_windows(samples, seed=7) -> np.ndarray:
    """int16 3-axis windows for TimeStats' machine code (runtime/thumb_time_stats.py): every
    radix case (a spread below 256: one pass; 256, below 2**14 and from 2**14 up to 65535:
    two), ties, the range's edges, constant and alternating full-scale windows, and an
    outlier that makes the spread large while the quartiles sit in a few counts."""
    rng = np.random.default_rng(seed)
    n = samples
    W = np.empty((14, n, 3), np.int64)
    W[0], W[1], W[2] = 0, -32768, 32767
    W[3, ::2], W[3, 1::2] = -32768, 32767
    W[4] = rng.integers(-100, 100, (n, 3)) + [-32600, 0, 32600]         # spread < 256
    W[5] = rng.choice([0, 255], (n, 3)) + [-32768, 7, 32512]             # spread 255
    W[6] = rng.choice([0, 256], (n, 3)) + [-32768, -3, 32511]            # spread 256
    W[7] = rng.integers(-8000, 8000, (n, 3))                              # < 2**14
    W[8] = rng.choice([-8192, 8191], (n, 3))                              # 2**14 - 1
    W[9] = rng.choice([-8192, 8192], (n, 3))                              # 2**14
    W[10] = rng.integers(-32768, 32768, (n, 3))                           # >= 2**14
    W[11] = rng.choice([-32768, 32767], (n, 3))                           # 65535
    W[12] = rng.integers(-3, 4, (n, 3))
    W[12, n // 2] = [32767, -32768, 32767]                                # outliers
    W[13] = rng.choice(rng.integers(-20000, 20000, 5), (n, 3))            # ties
    return W.astype(np.int16)


@on_boards
def test_time_stats_machine_code_exact_on_the_cortex_m3(boards):
    """TimeStats' Thumb-2 machine code (emlfx_time_thumb, imported on this core) equals the
    host's reference for every adversarial window: each radix case, odd, even, tiny and long
    windows, the magnitude of 2 and 3 axes, subsets of the statistics (with and without
    order statistics and std), float32 windows quantised by prepare."""
    board = boards("cortex-m3")
    all_stats = TimeStats(magnitude=True)
    cases = [(all_stats, _order_windows(200)), (all_stats, _order_windows(201)),
             (all_stats, _order_windows(1)), (all_stats, _order_windows(2)),
             (all_stats, _order_windows(3)), (all_stats, _order_windows(2000)[[3, 7, 10, 12]]),
             (TimeStats(axes=[0, 2], magnitude=True), _order_windows(65)),
             (TimeStats(axes=[2, 1], stats=["mean", "rms", "zero_crossings", "max"]),
              _order_windows(64)),
             (TimeStats(stats=["q3", "std", "median"]), _order_windows(33)),
             (TimeStats(magnitude=True, stats=["iqr", "min"]), _order_windows(34))]
    for fx, W in cases:
        check = board.check_features(fx.fit(W), W, repeats=0)
        assert check.exact and check.n_windows == len(W), f"{fx!r}, n={W.shape[1]}: {check}"
    F = _float_windows(samples=50)
    fx = TimeStats(axes=[0, 2], magnitude=True).fit(F[4:])
    check = board.check_features(fx, F, repeats=0)
    assert fx.input_dtype_ == "f" and check.exact, str(check)
    assert "emlfx_time_thumb" in board.eval("repr(__import__('emlfx_time')._thumb)")


@on_boards
@pytest.mark.parametrize("fx", [SoundLevel("A", samplerate_hz=16000),
                                LogMel(n_mels=8, n_fft=128, pool="mean", samplerate_hz=16000)],
                         ids=["dBA", "logmel"])
@pytest.mark.parametrize("board", BOARDS, indirect=True)
def test_audio_features_exact_on_the_core(board, fx):
    W = _audio_windows()
    check = board.check_features(fx.fit(W), W, repeats=0)
    assert check.exact and check.n_windows == len(W), str(check)


@on_boards
@pytest.mark.parametrize("board", BOARDS, indirect=True)
def test_pipeline_exact_on_the_core(board):
    rng = np.random.default_rng(6)
    W = (rng.standard_normal((120, 20, 3)) * rng.uniform(0.2, 3, (120, 1, 3))).astype(np.float32)
    y = (W[:, :, 0].std(axis=1) > 1.2).astype(int) + (W[:, :, 2].mean(axis=1) > 0)
    pipe = make_pipeline(TimeStats(axes=[0, 1, 2], magnitude=True),
                         RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0))
    pipe.fit(W[:100], y[:100])
    X = np.concatenate([W[100:108], _float_windows(n=4, samples=20)])
    report = board.deploy(pipe, X, form="loadable", name="mcu", repeats=1)
    _exact(report, "TimeStats + RandomForest Pipeline")
    assert report.feature_check.exact and report.sklearn_agreement == 1.0, str(report)


@on_boards
@pytest.mark.parametrize("case", ["rf", "rf-regressor", "extratrees", "compressed-votes",
                                  "compressed-int16", "compressed-regressor", "two-functions"])
@pytest.mark.parametrize("board", ["cortex-m3", "cortex-m4f"], indirect=True)
def test_thumb_inline_exact_on_the_core(board, tree_cases, case):
    """float32 rows in the inline form are Thumb-2 machine code on ARMv7-M cores
    (trees/inline_thumb.py: raw float bits compared against each threshold, signed or unsigned
    by its sign; learned int16 thresholds turned into float32 ones): every row, including ±0,
    subnormals, ±3.4e38 and values one ulp beside the thresholds and quantiser steps, gives
    the host's exact scores. "two-functions": more decision nodes than one
    machine-code function takes (MAX_NODES_PER_FUNCTION), so predict chains two."""
    from emlearn_lab.trees.inline import MAX_NODES_PER_FUNCTION, inline_source
    if case == "two-functions":
        X_train, X_test, _, _ = _edge_data()
        noise = np.random.default_rng(3).integers(0, 3, len(X_train))   # trees grow full
        with np.errstate(over="ignore", invalid="ignore"):   # features near ±3.4e38
            rf = RandomForestClassifier(n_estimators=24, max_leaf_nodes=80, max_features=1,
                                        random_state=0).fit(X_train, noise)
        model, X = eml.convert(rf), X_test[:40].astype(np.float32)
        assert model.n_nodes > MAX_NODES_PER_FUNCTION, model
    else:
        model, X, _ = tree_cases[case]
    source = inline_source(model, arch=board.target.arch)
    assert "@micropython.asm_thumb" in source
    assert ("_t1(" in source) == (case == "two-functions")
    report = board.deploy(model, X, form="inline", name="mcu", repeats=1)
    assert (report.form, report.native, report.n_rows) == ("inline", True, len(X)), str(report)
    _exact(report, f"{case} (Thumb inline)")


@on_boards
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("board", ["cortex-m3"], indirect=True)
def test_near_ties_settled_on_the_core(board, classification_data, form):
    """The tie path behind the machine-code walker and the Thumb-2 inline form: rows whose
    float64 average picks another class than the integer sums give scikit-learn's class."""
    from test_device_deploy import near_tie_case
    model, X = near_tie_case(classification_data)
    report = board.deploy(model, X, form=form, name="mcu", repeats=1)
    assert report.form == form and report.n_rows == len(X), str(report)
    _exact(report, f"near ties ({form})")


def _f64_cases(rng, n):
    """Probabilities that exercise float64 rounding: uniform, every exponent (subnormals
    included), k/W fractions, values one ulp apart, halves; and sums landing exactly half
    an ulp between two doubles (round to even, both ways)."""
    out = [np.array([1.0, 2.0**-53]), np.array([1.0 + 2.0**-52, 2.0**-53]),
           np.array([0.75, 2.0**-54, 2.0**-54]), np.array([0.5, 0.5, 0.5, 1e-320]),
           np.array([2.0**-1074] * 3), np.array([1e-310, 1e-310]), np.zeros(4),
           # exactly half an ulp plus a bit below it: up (shifted by 53, and by 30)
           np.array([1.0, 2.0**-53 + 2.0**-83]), np.array([1.0, 2.0**-30 + 2.0**-53 + 2.0**-70])]
    for i in range(n):
        k = int(rng.choice([1, 2, 3, 7, 10, 31, 100, 255, 256]))
        kind = i % 5
        if kind == 0:
            p = rng.random(k)
        elif kind == 1:
            bits = (rng.integers(0, 1023, k).astype(np.uint64) << np.uint64(52)) \
                | rng.integers(0, 2**52, k, dtype=np.uint64)
            p = bits.view(np.float64)
        elif kind == 2:
            w = int(rng.integers(1, 200))
            p = rng.integers(0, w + 1, k) / w
        elif kind == 3:
            p = np.nextafter(rng.random(), np.where(rng.random(k) > 0.5, 2.0, -1.0))
        else:
            p = np.where(rng.random(k) < 0.5, 0.5, rng.random(k))
        out.append(np.clip(p, 0.0, 1.0))
    return out


@on_boards
@pytest.mark.parametrize("board", ["cortex-m3"], indirect=True)
def test_settle_f64_rounds_as_numpy_on_the_core(board):
    """The near-tie path's float64 arithmetic in Thumb-2 machine code (trees/ties_thumb.py):
    one class, one leaf per tree, so the winner's quotient is the float64 mean of the given
    probabilities summed in order: bit for bit numpy's, or -2 (the bytecode path) exactly
    where its fixed-width arithmetic cannot be exact (more than 255 trees, a subnormal sum)."""
    import struct

    from emlearn_lab.runtime.build import compile_source
    from emlearn_lab.trees.ties_thumb import settle_f64_source
    cases = _f64_cases(np.random.default_rng(5), 240)
    board.write_file("f64t.mpy", compile_source("import micropython\n" + settle_f64_source(),
                                                "f64t.py", board.target, native=True))
    board.put_data("cases.bin", b"".join(struct.pack("<I", len(p)) + p.astype("<f8").tobytes()
                                         for p in cases))
    board.exec("""
import array, struct, f64t
_f64 = []
_s = array.array('i', [0] * 12)
with open('cases.bin', 'rb') as f:
    while True:
        h = f.read(4)
        if len(h) < 4:
            break
        nt = struct.unpack('<I', h)[0]
        ties = bytearray(f.read(8 * nt))
        r = f64t.settle_f64(array.array('i', [0] + list(range(nt))), ties,
                            array.array('i', [0, 0, 1, 1, nt, 1 << 30]), _s)
        _f64.append((r, _s[7] & 0xFFFFFFFF, _s[8] & 0xFFFFFFFF))
""", timeout_s=300)
    got = board.eval("_f64")
    tiny = np.finfo(np.float64).tiny
    fallbacks = 0
    for p, (r, hi, lo) in zip(cases, got):
        total = 0.0
        for v in p:
            total += v
        mean = total / len(p)
        if r == -2:
            fallbacks += 1
            assert len(p) > 255 or 0 < total < tiny or 0 < mean < tiny, p
            continue
        assert r == 0 and (hi << 32 | lo) == int(np.float64(mean).view(np.uint64)), (p, mean)
    assert 0 < fallbacks < len(cases) // 4


@on_boards
@pytest.mark.parametrize("board", BOARDS, indirect=True)
def test_every_walker_exact_on_the_core(board, tree_cases):
    """Each walker (three split node layouts and packed nodes of 2, 3 or 4 bytes with table or
    offset thresholds, x float32/int16 thresholds x sparse/dense leaves) walks its model
    file exactly as the host: the Thumb machine code on the Cortex-M0
    (the M3/M4 run the same Thumb-1 code), the RISC-V machine code on rv32imc. Scores compared
    bit for bit."""
    _every_walker_exact(board, tree_cases)


@pytest.mark.device
def test_every_walker_exact_on_the_virtual_device(device, tree_cases):
    """The same for the viper walkers (x64 here; Xtensa and other cores run them too)."""
    _every_walker_exact(device, tree_cases)


def _every_walker_exact(board, tree_cases):
    from emlearn_lab.runtime.build import compile_source
    from emlearn_lab.device.session import HELPERS as _HELPERS, run_rows as _run_rows
    from emlearn_lab.runtime.kernels import kernels_source
    from emlearn_lab.trees.modelfile import file_kernel_name
    cases = {name: tree_cases[name][:2] for name in
             ("rf", "rf-int16", "rf-regressor", "compressed-int16", "compressed-votes")}
    files = {name: _layout_files(model) for name, (model, X) in cases.items()}
    walkers = {file_kernel_name(d) for fs in files.values() for d in fs.values()}
    packed = {w[len("forest_packed"):len("forest_packed") + 3] for w in walkers}
    assert len(walkers) >= 12 + 11 and {"16t", "24t", "32t", "32r"} <= packed, sorted(walkers)
    model, X = cases["rf"]
    board.deploy(model, X[:4], form="loadable", name="mcu", repeats=1)
    board.write_file("emltrees_kernels.mpy", compile_source(
        kernels_source(walkers, board.target.arch), "emltrees_kernels.py", board.target))
    if any(m.quantiser is not None for m, _ in cases.values()):
        from emlearn_lab.runtime.artifacts import quantiser_files
        for art in quantiser_files(cases["compressed-int16"][0], board.target, []):
            board.write_file(art.path, art.data)
    board.reset()
    board.exec(_HELPERS)
    for name, (model, X) in cases.items():
        for layout, data in files[name].items():
            board.write_file("walk.eml", data, skip_unchanged=False)
            board.exec("import emltrees\n_emlab_models['walk'] = emltrees.load('walk.eml')")
            index, scores = _run_rows(board, model, model.check_X(X), "walk")
            what = f"{name} in the {layout} layout ({file_kernel_name(data)})"
            np.testing.assert_array_equal(scores, model.scores(X), err_msg=what)
            if model.kind == "classifier" and model.leaf_proba is None:
                np.testing.assert_array_equal(index, model.predict_index(X), err_msg=what)
            if model.quantiser is not None:
                _same_scores_quantised_or_not(board, model, X[:6], what)
            if model.kind == "classifier":
                assert _heap_growth(board, "walk", 200) == 0, f"{what} allocates per predict"
            else:       # its result, a float: one GC block (4 words) per predict at most
                block = 4 * (8 if board.eval("__import__('sys').maxsize > 2**32") else 4)
                assert _heap_growth(board, "walk", 200) <= 200 * block, \
                    f"{what} allocates more than its result per predict"
    board.exec("_emlab_models.pop('walk', None)\nimport gc\ngc.collect()")


@pytest.mark.device
def test_bytecode_kernels_walk_every_layout(device, tree_cases):
    """The bytecode kernels (emltrees_pure: ports without native code) walk every layout,
    packed nodes included, to the same scores as the host."""
    from emlearn_lab.device.session import HELPERS as _HELPERS, run_rows as _run_rows
    from emlearn_lab.trees.modelfile import file_kernel_name
    model, X = tree_cases["rf"][:2]
    device.deploy(model, X[:4], form="loadable", name="mcu", repeats=1)
    device.exec(_HELPERS)
    for name in ("rf", "rf-int16", "compressed-votes", "rf-regressor"):
        model, X = tree_cases[name][:2]
        for layout, data in _layout_files(model).items():
            device.write_file("walk.eml", data, skip_unchanged=False)
            device.exec("import emltrees, emltrees_pure\nk = emltrees._k\n"
                        "emltrees._k = emltrees_pure\n"
                        "try:\n _emlab_models['walk'] = emltrees.load('walk.eml')\n"
                        "finally:\n emltrees._k = k")
            index, scores = _run_rows(device, model, model.check_X(X[:40]), "walk")
            np.testing.assert_array_equal(scores, model.scores(X[:40]),
                                          err_msg=f"{name}, {layout} ({file_kernel_name(data)})")
    device.exec("_emlab_models.pop('walk', None)")


def _layout_files(model) -> dict:
    """Layout name -> the model's file in it, for every layout it fits; the packed layout
    in each node word size and threshold encoding it fits ("packed 3t": 3-byte words,
    thresholds from the per-feature table; "r": offsets from the smallest threshold)."""
    from emlearn_lab.trees.modelfile import LAYOUTS, to_bytes
    files = {}
    for layout in LAYOUTS[:3]:
        try:
            files[layout] = to_bytes(model, layout=layout)
        except eml.ModelFileError:          # too large for this layout
            pass
    for word in (2, 3, 4):
        for table in (False, True):
            try:
                files[f"packed {word}{'t' if table else 'r'}"] = to_bytes(
                    model, layout="packed", word_bytes=word, table=table)
            except eml.ModelFileError:
                pass
    return files


def _same_scores_quantised_or_not(board, model, X, what):
    """A learned-scale int16 model takes float32 rows (quantised on the device) or the int16
    rows model.quantise() gives: the same scores, the host's."""
    want = model.scores(X).tolist()
    for typecode, rows in (("f", model.check_X(X).astype("<f4")),
                           ("h", model.quantise(X).astype("<i2"))):
        fmt = f"<{rows.shape[1]}{typecode}"
        got = [board.eval(f"list(_emlab_models['walk'].scores(__import__('array').array("
                          f"{typecode!r}, __import__('struct').unpack({fmt!r}, "
                          f"{row.tobytes()!r}))))") for row in rows]
        assert got == want, f"{what}, array({typecode!r}) rows"


def _heap_growth(board, name, calls):
    """gc.mem_alloc() growth over `calls` predicts of one row: no collection runs in between
    unless the loop allocates, so any allocation per predict shows."""
    board.exec(f"""
import array, gc
m = _emlab_models[{name!r}]
x = array.array('h' if m.features == 1 else 'f', [0] * m.n_features)
m.predict(x)
gc.collect()
a0 = gc.mem_alloc()
n = {calls}
while n:
    m.predict(x)
    n -= 1
growth = gc.mem_alloc() - a0
m = x = None
""")
    return board.eval("growth")


def _detectors_and_neighbours(rng):
    """name -> (model, rows): nearest neighbours (float32 both metrics and both weights, a
    regressor, int16), an IsolationForest and a Gaussian mixture, on whole-number features
    with duplicated examples, exact distance ties (midpoints) and the float edge values."""
    from sklearn.ensemble import IsolationForest
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    X = np.round(rng.normal(0, 20, (60, 5)))
    X[10:14] = X[0]
    y = rng.integers(0, 3, 60)
    rows = np.vstack([X[:14], np.round((X[20:26] + X[30:36]) / 2),
                      rng.choice(SPECIAL, (8, 5))])
    i16 = eml.convert(KNeighborsClassifier(5).fit(X, y), features="int16")
    return {
        "knn float32 euclidean distance": (eml.convert(KNeighborsClassifier(
            5, weights="distance").fit(X, y)), rows),
        "knn float32 manhattan": (eml.convert(KNeighborsClassifier(
            4, metric="manhattan").fit(X, y)), rows),
        "knn regressor distance": (eml.convert(KNeighborsRegressor(
            3, weights="distance").fit(X, y * 0.7)), rows),
        "knn int16": (i16, np.round(np.clip(rows, -i16.max_abs, i16.max_abs))),
        "isolation forest": (eml.convert(IsolationForest(n_estimators=8,
                                                         random_state=0).fit(X)), rows),
        "gaussian mixture full": (eml.convert(GaussianMixture(2, random_state=0).fit(X)),
                                  rows),
    }


@on_boards
@pytest.mark.parametrize("board", BOARDS + ["cortex-m4f"], indirect=True)
def test_detectors_and_neighbours_exact_on_the_core(board):
    """The Cortex-M3 cases are in test_anomaly_*.py and test_device_neighbors.py; here the
    other cores: soft-float M0 and RV32, the M4F's FPU."""
    for i, (what, (model, rows)) in enumerate(
            _detectors_and_neighbours(np.random.default_rng(8)).items()):
        _exact(board.deploy(model, rows, name=f"dn{i}", repeats=1), what)
