"""IsolationForest as a detector (emlearn_lab/anomaly/isolation.py): the fixed-point host
reference against scikit-learn, the threshold in device units, and the device (virtual, and
an emulated Cortex-M3) computing the same integer sums and decisions bit for bit."""
import numpy as np
import pytest
from conftest import _tricky
from sklearn.datasets import make_blobs
from sklearn.ensemble import IsolationForest

import emlearn_lab as eml
from emlearn_lab.anomaly.isolation import SUM_MAX, IsolationModel, path_length_c
from emlearn_lab.exceptions import InputError, NotFittedError
from emlearn_lab.protocol import is_model


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    X, _ = make_blobs(500, n_features=5, centers=3, random_state=seed)
    return np.vstack([X, rng.uniform(-15, 15, size=(30, 5))])


def _random(seed=0):
    return np.random.default_rng(seed).normal(size=(800, 8))


DATA = {"blobs": _blobs, "random": _random, "tricky": lambda: _tricky()[0]}
CASES = {
    "auto": {},
    "contamination": {"contamination": 0.05},
    "max_features": {"contamination": 0.05, "max_features": 0.5},
    "bootstrap": {"max_features": 0.6, "bootstrap": True, "max_samples": 100},
}


def _test_rows(X, seed=1):
    """The training rows plus wider ones (more outliers)."""
    rng = np.random.default_rng(seed)
    return np.vstack([X, X[:200] * rng.uniform(-3, 3, size=(min(200, len(X)), 1))])


@pytest.fixture(scope="module")
def fitted():
    X = _blobs()
    est = IsolationForest(n_estimators=40, contamination=0.05, max_features=0.8,
                          random_state=0).fit(X)
    return est, eml.convert(est), _test_rows(X)


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("case", sorted(CASES))
def test_predict_and_scores_match_sklearn(data, case):
    X = DATA[data]()
    est = IsolationForest(n_estimators=50, random_state=3, **CASES[case]).fit(X)
    det = eml.convert(est)
    assert isinstance(det, IsolationModel) and is_model(det)
    Xt = _test_rows(X)
    result = det.compare(est, Xt)
    assert result["predict_agreement"] == 1.0
    assert result["max_score_error"] < 1e-7
    assert result["n_rows"] == len(Xt)


def test_feature_subsets_are_remapped_to_the_columns_of_X():
    # max_features < n_features: each tree reads its own columns; ignoring that breaks scores
    X = _random()
    est = IsolationForest(n_estimators=20, max_features=3, random_state=0).fit(X)
    assert any(list(f) != list(range(3)) for f in est.estimators_features_)
    det = eml.convert(est)
    Xt = X.astype(np.float32)
    np.testing.assert_allclose(det.score_samples(Xt), est.score_samples(Xt), atol=1e-7, rtol=0)


def test_the_host_reference_is_a_function_of_the_integer_sum(fitted):
    est, det, Xt = fitted
    S = det.scores(Xt)
    assert S.shape == (len(Xt), 1) and S.dtype == np.int64 and det.score_dtype == np.int32
    assert 0 <= S.min() and S.max() <= det.sum_max < SUM_MAX
    shift, n_trees = det.trees.leaf_shift, det.n_trees
    c = path_length_c([est.max_samples_])[0]
    want = -2.0 ** (-(S[:, 0] / 2.0 ** shift / n_trees) / c)
    np.testing.assert_array_equal(det.score_samples(Xt), want)
    assert det.trees.kind == "regressor" and det.n_outputs == 1


def test_path_length_matches_scikit_learn():
    from sklearn.ensemble._iforest import _average_path_length
    n = np.arange(0, 3000)
    np.testing.assert_array_equal(path_length_c(n), _average_path_length(n))


def test_default_threshold_is_the_estimators_offset_snapped_to_device_units(fitted):
    est, det, Xt = fitted
    u = det.threshold_units
    offset = est.offset_ - det.score_error_bound
    assert det.score_of([u])[0] >= offset > det.score_of([u - 1])[0]
    assert det.threshold == det.score_of([u])[0]
    # decisions on the host are those of the device sums and of score_samples alike
    s = det.score_samples(Xt)
    np.testing.assert_array_equal(det.predict_index(Xt), (det.scores(Xt)[:, 0] >= u))
    np.testing.assert_array_equal(det.predict(Xt), np.where(s >= det.threshold, 1, -1))
    np.testing.assert_array_equal(det.decision_function(Xt), s - det.threshold)
    assert set(np.unique(det.predict(Xt))) == {-1, 1}
    np.testing.assert_array_equal(det.decode(det.predict_index(Xt), det.scores(Xt)),
                                  det.predict(Xt))
    assert det.kind == "classifier" and det.task == "anomaly"
    assert list(det.classes_) == [-1, 1]


def test_threshold_setter_snaps_and_round_trips(fitted):
    _, det, Xt = fitted
    det = IsolationModel(**{k: getattr(det, k) for k in ("trees", "c_max_samples",
                                                         "max_samples", "offset")})
    s = np.sort(det.score_samples(Xt))
    for t in (s[10], (s[10] + s[11]) / 2, s[len(s) // 2], -0.5):
        det.threshold = t
        u = det.threshold_units
        assert det.score_of([u])[0] >= t > det.score_of([u - 1])[0]
        assert det.threshold >= t
        det.threshold = det.threshold                 # a device value maps to itself
        assert det.threshold_units == u
        assert (det.predict(Xt) == 1).sum() == (det.score_samples(Xt) >= t).sum()
    det.threshold = -np.inf
    assert det.threshold_units == 0 and (det.predict(Xt) == 1).all()
    det.threshold = 0.0                               # above every reachable score
    assert det.threshold_units == det.sum_max + 1 and (det.predict(Xt) == -1).all()
    for bad in (np.nan, "high", None):
        with pytest.raises(InputError, match="threshold must be a number"):
            det.threshold = bad


def test_refuses_unfitted_estimators_and_other_features():
    with pytest.raises(NotFittedError, match="not fitted"):
        eml.convert(IsolationForest())
    est = IsolationForest(n_estimators=3, random_state=0).fit(_random())
    with pytest.raises(InputError, match="float32"):
        eml.convert(est, features="int16")
    with pytest.raises(InputError, match="NaN"):
        eml.convert(est).predict(np.full((1, 8), np.nan))


def test_one_training_sample_scores_like_scikit_learn():
    X = _random()[:5]
    est = IsolationForest(n_estimators=3, max_samples=1, random_state=0).fit(X)
    det = eml.convert(est)
    np.testing.assert_array_equal(det.score_samples(X), est.score_samples(X))
    assert det.compare(est, X)["predict_agreement"] == 1.0


# -- the virtual device --------------------------------------------------------------------
@pytest.mark.device
@pytest.mark.parametrize("form", ["loadable", "inline"])
def test_device_decides_and_scores_bit_for_bit(device, fitted, form):
    est, det, Xt = fitted
    report = device.deploy(det, Xt, form=form, name="iso", repeats=3)
    assert report.form == form and report.agreement == 1.0 and report.n_rows == len(Xt)
    got = device.predict(Xt, name="iso")
    np.testing.assert_array_equal(got, det.predict(Xt))
    np.testing.assert_array_equal(got, est.predict(Xt.astype(np.float32)))
    assert any(p.startswith("emlab_detect.") for p, *_ in report.files)
    assert device.eval("_emlab_models['iso'].direct") is True     # the walker called directly


@pytest.mark.device
def test_the_general_path_decides_alike(device, fitted):
    # an inline module whose sum cannot be found (index out of range): predict via scores()
    _, det, Xt = fitted
    device.deploy(det, None, form="inline", name="iso")
    rows = [list(map(float, r)) for r in det.check_X(Xt)[::25]]
    got = device.eval(
        "(lambda d, g: (d.direct, [(d.predict(x), g.predict(x)) for x in "
        f"[__import__('array').array('f', r) for r in {rows!r}]]))"
        "(__import__('emlab_detect').load_trees("
        f"{det.threshold_units}, 'iso_inline', 'load', 10**6), _emlab_models['iso'])")
    direct, pairs = got
    assert direct is False
    assert [a for a, _ in pairs] == [b for _, b in pairs] == list(det.predict_index(Xt[::25]))


@pytest.mark.device
def test_a_new_threshold_reaches_the_device_on_the_next_deploy(device, fitted):
    _, det, Xt = fitted
    before = det.threshold
    try:
        det.threshold = np.median(det.score_samples(Xt))
        report = device.deploy(det, Xt, form="loadable", name="iso", repeats=2)
        assert report.agreement == 1.0
        got = device.predict(Xt, name="iso")
        np.testing.assert_array_equal(got, det.predict(Xt))
        assert 0.4 < (got == 1).mean() < 0.6
    finally:
        det.threshold = before


@pytest.mark.device
def test_a_corrupt_model_file_is_refused_and_the_device_answers(device, fitted):
    from emlearn_lab.trees.modelfile import to_bytes
    _, det, _ = fitted
    device.deploy(det, None, form="loadable", name="iso")
    data = bytearray(to_bytes(det.trees))
    data[16] ^= 1                                     # a bit of the header's node count
    device.write_file("iso_bad.eml", bytes(data), skip_unchanged=False)
    call = "import emlab_detect\nemlab_detect.load_trees({}, 'emltrees', 'load', -1, 'iso_bad.eml')"
    with pytest.raises(eml.DeviceRuntimeError, match="corrupt model file"):
        device.exec(call.format(det.threshold_units))
    with pytest.raises(eml.DeviceRuntimeError, match="threshold and sum index must be ints"):
        device.exec(call.format("'high'"))
    assert device.eval("1 + 1") == 2
    device.exec("import emlab_detect\n_d = emlab_detect.load_trees("
                f"{det.threshold_units}, 'emltrees', 'load', -1, 'iso.eml')")
    assert device.eval("(_d.n_outputs, _d.kind)") == (1, 0)


# -- an emulated Cortex-M3 (single-precision floats, Thumb-2 walkers) ------------------------
def _adversarial_rows(est, X, n=30):
    """Rows at the trees' own thresholds (just below, at, just above in float32), the float32
    extremes, subnormals, signed zeros and plain rows."""
    rng = np.random.default_rng(5)
    f32 = np.float32
    tree = est.estimators_[0].tree_
    cols = (est.estimators_features_[0] if est._max_features != X.shape[1]
            else np.arange(X.shape[1]))
    rows = []
    for node in np.flatnonzero(tree.children_left >= 0)[:6]:
        t = f32(tree.threshold[node])
        for v in (np.nextafter(t, f32(-np.inf)), t, np.nextafter(t, f32(np.inf))):
            r = X[node % len(X)].astype(f32)
            r[cols[tree.feature[node]]] = v
            rows.append(r)
    m = np.finfo(f32).max
    tiny = np.finfo(f32).smallest_subnormal
    for v in (m, -m, tiny, -tiny, 0.0, -0.0, 1e30, -1e30):
        rows.append(np.full(X.shape[1], v, dtype=f32))
    rows.append(np.array([(m, -m, tiny, -0.0)[j % 4] for j in range(X.shape[1])], dtype=f32))
    rows += list(X[rng.integers(0, len(X), n - len(rows))].astype(f32))
    return np.array(rows[:n], dtype=f32)


@pytest.fixture(scope="module")
def m3():
    from test_emulated import _need
    _need("cortex-m3")
    dev = eml.connect("emulated:cortex-m3")
    yield dev
    dev.close()


@pytest.mark.device
@pytest.mark.mcu
@pytest.mark.slow
@pytest.mark.parametrize("form", ["loadable", "inline"])
def test_cortex_m3_agrees_bit_for_bit_on_adversarial_rows(m3, form):
    X = _blobs()
    est = IsolationForest(n_estimators=10, max_samples=64, max_features=0.8,
                          contamination=0.1, random_state=1).fit(X)
    det = eml.convert(est)
    rows = _adversarial_rows(est, X)
    report = m3.deploy(det, rows, form=form, name="iso", repeats=2)
    assert report.form == form and report.agreement == 1.0 and report.n_rows == len(rows)
    assert m3.eval("_emlab_models['iso'].direct") is True
    got = m3.predict(rows, name="iso")
    np.testing.assert_array_equal(got, det.predict(rows))
    np.testing.assert_array_equal(got, est.predict(rows))
    assert set(got) == {-1, 1}


# -- C export ------------------------------------------------------------------------------
@pytest.mark.toolchain
@pytest.mark.parametrize("form", ["table", "inline"])
def test_c_export_decides_and_scores_like_the_host(fitted, tmp_path, form):
    import subprocess

    from c_harness import HARNESS

    from emlearn_lab.export import export_c
    from emlearn_lab.export.c_build import compile_host
    from emlearn_lab.export.c_export import runtime_header_path
    est, det, Xt = fitted
    rows = np.vstack([det.check_X(Xt), _adversarial_rows(est, _blobs())])
    header, runtime = export_c(est, tmp_path / "iso.h", name="iso", form=form)
    assert runtime.read_text() == runtime_header_path().read_text()
    files = {"iso.h": header.read_text(), "eml_lab_trees.h": runtime.read_text(),
             "harness.c": HARNESS % {"name": "iso", "N": "ISO", "xt": "float", "st": "int32_t",
                                     "value": ""}}
    (tmp_path / "x.bin").write_bytes(rows.astype("<f4").tobytes())
    flags = {"gcc": ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"),
             "g++": ("-x", "c++", "-std=c++11", "-O2", "-Wall", "-Wextra", "-Werror")}
    for cc, cflags in flags.items():
        exe = compile_host(files, "harness.c", tmp_path / f"h_{cc}", compiler=cc, flags=cflags)
        subprocess.run([str(exe), str(tmp_path / "x.bin"), str(tmp_path / "y.bin")], check=True)
        out = np.frombuffer((tmp_path / "y.bin").read_bytes(),
                            np.dtype([("p", "<i4"), ("s", "<i4", (1,))]))
        np.testing.assert_array_equal(out["s"], det.scores(rows), err_msg=cc)
        np.testing.assert_array_equal(out["p"], det.predict_index(rows), err_msg=cc)
        np.testing.assert_array_equal(det.classes_[out["p"]], est.predict(rows), err_msg=cc)


def test_scores_stay_within_the_error_bound_and_a_row_at_offset_can_be_kept():
    # 501 rows, contamination 0.05: offset_ is exactly the 26th lowest training score
    X = _blobs()[:501]
    est = IsolationForest(n_estimators=50, contamination=0.05, random_state=0).fit(X)
    det = eml.convert(est)
    X32 = X.astype(np.float32)
    err = np.abs(det.score_samples(X32) - est.score_samples(X32))
    assert 0 < err.max() <= det.score_error_bound < 1e-7
    assert (est.score_samples(X32) == est.offset_).sum() == 1
    # the default threshold keeps it an inlier, as scikit-learn does
    assert det.threshold == pytest.approx(est.offset_ - det.score_error_bound, abs=1e-9)
    np.testing.assert_array_equal(det.predict(X32), est.predict(X32))
    det.threshold = est.offset_          # exactly offset_: that row may fall either side
    assert det.compare(est, X32)["predict_agreement"] >= 1 - 1 / len(X)


def test_board_estimate_counts_the_detector_module(fitted):
    _, det, Xt = fitted
    est = eml.estimate(det, "rp2040-pico", X=Xt[:20])
    names = [p for p, _ in est.files]
    assert "emlab_detect.mpy" in names and any(p.endswith(".eml") for p in names)
    assert est.flash_bytes == sum(n for _, n in est.files)
    assert est.model == repr(det) and est.latency is not None
    assert any("emlab_detect" in n for n in est.notes)
