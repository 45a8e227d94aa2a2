"""Gaussian detectors (GaussianMixture, BayesianGaussianMixture, EllipticEnvelope): the host
reference's properties and its agreement with scikit-learn, and on real MicroPython (the
virtual device; a small case on the emulated Cortex-M3) every row's score bit for bit, corrupt
files refused, estimates bounding what the device measures."""
import struct
import warnings

import numpy as np
import pytest
from sklearn.covariance import EllipticEnvelope
from sklearn.datasets import load_wine
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import emlearn_lab as eml
from emlearn_lab.gauss import float32 as gf
from emlearn_lab.gauss.estimate import RAM_MARGIN
from emlearn_lab.gauss.gaussfile import HEADER, HEADER_BYTES, from_bytes, to_bytes
from emlearn_lab.gauss.model import GaussModel

COVS = ("full", "tied", "diag", "spherical")
MIXTURES = (GaussianMixture, BayesianGaussianMixture)
device = pytest.mark.device


@pytest.fixture(scope="module")
def wine():
    X = load_wine(return_X_y=True)[0]
    return (X - X.mean(axis=0)) / X.std(axis=0)


def _fit(cls, X, cov, k=3):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(n_components=k, covariance_type=cov, random_state=0, max_iter=200).fit(X)


def _envelope(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return EllipticEnvelope(random_state=0).fit(X)


def _adversarial(X, seed=0):
    """Rows the float32 arithmetic must agree on too: huge values (overflow to inf), ±inf,
    subnormals, signed zeros, far outliers."""
    rng = np.random.default_rng(seed)
    values = [0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 3.4e38, -3.4e38, 1e20, -1e20, 1e300,
              np.inf, -np.inf, 5.0, -7.5]
    extra = rng.choice(values, size=(30, X.shape[1]))
    return np.vstack([X, extra, X[:4] * 1e18, X[:4] * 40])


# -- host --------------------------------------------------------------------------------------
def test_plog_is_a_few_ulps_from_log_and_handles_special_values():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(1, 64, 20000), np.exp(rng.uniform(-103, 88, 20000)),
                        [1.0, 2.0, 1e-45, 1.1754942e-38, 3.4e38]]).astype(np.float32)
    ours = gf.plog(x).astype(np.float64)
    exact = np.log(x.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(ours - exact) / np.maximum(ulp, 1e-45)) < 3
    assert gf.plog(np.float32([1.0]))[0] == 0.0
    special = gf.plog(np.float32([0.0, -0.0, -1.0, np.inf, np.nan, -np.inf]))
    assert special[0] == -np.inf and special[1] == -np.inf
    assert np.isnan(special[2]) and special[3] == np.inf and np.isnan(special[4])
    assert np.isnan(special[5])


@pytest.mark.parametrize("cls", MIXTURES)
@pytest.mark.parametrize("cov", COVS)
def test_mixture_agrees_with_sklearn(wine, cls, cov):
    est = _fit(cls, wine, cov)
    det = eml.convert(est)
    assert isinstance(det, GaussModel) and det.covariance_type == cov
    cmp = det.compare(est, wine)
    assert cmp["predict_agreement"] == 1.0
    assert cmp["max_score_error"] < 1e-4
    s = det.scores(wine)
    assert s.shape == (len(wine), 1) and s.dtype == np.float32
    ss = det.score_samples(wine)
    np.testing.assert_array_equal(ss, s[:, 0].astype(np.float64))
    np.testing.assert_array_equal(det.decision_function(wine), ss - det.threshold)
    np.testing.assert_array_equal(det.predict_index(wine), (ss >= det.threshold).astype(int))
    assert set(det.predict(wine)) <= {-1, 1}
    np.testing.assert_array_equal(det.decode(det.predict_index(wine), s), det.predict(wine))
    assert det.kind == "classifier" and det.task == "anomaly" and det.n_outputs == 1
    assert list(det.classes_) == [-1, 1]


def test_envelope_agrees_with_sklearn_and_keeps_its_offset(wine):
    est = _envelope(wine)
    det = eml.convert(est)
    cmp = det.compare(est, wine)
    assert cmp["predict_agreement"] == 1.0 and cmp["max_score_error"] < 1e-3
    assert det.threshold >= est.offset_
    assert det.threshold == float(np.float32(det.threshold))
    assert det.threshold - est.offset_ <= abs(np.spacing(np.float32(est.offset_)))
    np.testing.assert_array_equal(det.predict(wine), est.predict(wine.astype(np.float32)))


def test_envelope_with_a_singular_covariance(wine):
    """A duplicated feature makes the covariance singular (precision by pinvh): the factor
    comes from the eigen decomposition, the distances still match scikit-learn's."""
    X = np.column_stack([wine[:, :5], wine[:, 0]])
    est = _envelope(X)
    det = eml.convert(est)
    cmp = det.compare(est, X)
    assert cmp["predict_agreement"] == 1.0
    assert cmp["max_score_error"] < 1e-3 * max(1.0, np.abs(est.score_samples(X)).max())


def test_one_component_skips_the_log_sum_exp(wine):
    est = _fit(GaussianMixture, wine, "full", k=1)
    det = eml.convert(est)
    X32 = det.check_X(wine)
    m = gf.mahalanobis(X32, det.means, det.factor, "full", 0)
    np.testing.assert_array_equal(det.scores(wine)[:, 0], det.consts[0] - np.float32(0.5) * m)
    assert det.compare(est, wine)["max_score_error"] < 1e-4


def test_threshold_snaps_to_float32_and_drives_predict(wine):
    det = eml.convert(_fit(GaussianMixture, wine, "diag"))
    s = det.score_samples(wine)
    det.threshold = float(np.median(s))
    assert det.threshold == float(np.float32(det.threshold))
    assert det.predict_index(wine).mean() == pytest.approx(0.5, abs=0.02)
    det.threshold = 0.1               # not a float32: snaps up to the next one
    assert det.threshold >= 0.1 and det.threshold - 0.1 < 1e-8
    assert det.threshold_bits == int(np.float32(det.threshold).view(np.uint32))
    det.threshold = -np.inf
    assert (det.predict(wine) == 1).all()
    with pytest.raises(eml.InputError, match="NaN"):
        det.threshold = float("nan")


def test_default_mixture_threshold_flags_about_one_percent(wine):
    est = _fit(GaussianMixture, wine, "full")
    det = eml.convert(est)
    assert "quantile" in det.meta["threshold_basis"]
    draws = est.sample(20000)[0]
    assert 0.003 < np.mean(det.predict(draws) == -1) < 0.03
    assert eml.convert(est).threshold == det.threshold        # deterministic


def test_rows_nan_refused_inf_accepted(wine):
    det = eml.convert(_fit(GaussianMixture, wine, "full"))
    bad = wine[:3].copy()
    bad[1, 2] = np.nan
    with pytest.raises(eml.InputError, match="NaN/inf value.*row 1, column 2.*impute"):
        det.scores(bad)
    with pytest.raises(eml.InputError, match=r"shape \(n_rows, 13\).*fitted on 13"):
        det.scores(wine[:, :5])
    inf = wine[:2].copy()
    inf[0, 0], inf[1, 3] = np.inf, 1e300
    s = det.scores(inf)[:, 0]
    assert not np.isfinite(s).any() or (s < det.threshold).all()
    assert (det.predict(inf) == -1).all()


def test_file_round_trip(wine):
    for est in [_fit(GaussianMixture, wine, c) for c in COVS] + [_envelope(wine)]:
        det = eml.convert(est)
        data = to_bytes(det)
        assert len(data) == det.size_bytes
        back = from_bytes(data)
        np.testing.assert_array_equal(back.scores(wine), det.scores(wine))
        with pytest.raises(eml.ModelFileError):
            from_bytes(data[:-4])


def test_errors_unfitted_unsupported_and_dispatch(wine):
    with pytest.raises(eml.NotFittedError, match="not fitted"):
        eml.convert(GaussianMixture(2))
    with pytest.raises(eml.NotFittedError, match="not fitted"):
        eml.convert(EllipticEnvelope())
    est = _fit(GaussianMixture, wine, "diag")
    est.covariance_type = "banana"
    with pytest.raises(eml.UnsupportedModelError, match="covariance_type='banana'"):
        eml.convert(est)
    with pytest.raises(eml.UnsupportedModelError, match="float32 features"):
        eml.convert(_fit(GaussianMixture, wine, "diag"), features="int16")
    from emlearn_lab.conversion import convertible
    assert convertible(GaussianMixture()) and convertible(EllipticEnvelope())


def test_estimates(wine):
    det = eml.convert(_fit(GaussianMixture, wine[:, :8], "full", k=4))
    est = eml.estimate(det, "emulated:cortex-m3")
    assert est.flash_bytes == sum(n for _, n in est.files)
    assert any(p.endswith(".emg") and n == det.size_bytes for p, n in est.files)
    # the products in machine code on the M3 (emlnet_soft): measured 225 000 (463 000 in
    # bytecode, which the Cortex-M0 runs)
    assert 190_000 < est.latency.instructions < 260_000
    assert any("emlnet_soft" in p for p, _ in est.files)
    assert est.fits
    pico = eml.estimate(det, "rp2040-pico")
    assert pico.latency is not None and pico.latency.core == "cortex-m0"
    assert any("bytecode" in n for n in pico.notes)
    esp = eml.estimate(det, "esp32-devkitc")
    assert esp.latency is None and any("no estimate" in n for n in esp.notes)


# -- the virtual device --------------------------------------------------------------------------
@device
@pytest.mark.parametrize("cls", MIXTURES)
@pytest.mark.parametrize("cov", COVS)
def test_mixture_on_device_bit_for_bit(device, wine, cls, cov):
    det = eml.convert(_fit(cls, wine, cov))
    X = _adversarial(wine[:60])
    report = device.deploy(det, X, repeats=2)
    assert report.agreement == 1.0, report.disagreements
    assert report.n_rows == len(X)
    np.testing.assert_array_equal(device.predict(wine[:20]), det.predict(wine[:20]))


@device
def test_envelope_and_one_component_on_device(device, wine):
    for est in (_envelope(wine), _fit(GaussianMixture, wine, "full", k=1),
                _fit(BayesianGaussianMixture, wine, "spherical", k=1)):
        det = eml.convert(est)
        report = device.deploy(det, _adversarial(wine[:40], seed=1), repeats=2)
        assert report.agreement == 1.0, report.disagreements


@device
def test_threshold_change_reloads(device, wine):
    det = eml.convert(_fit(GaussianMixture, wine, "diag"))
    det.threshold = float(np.median(det.score_samples(wine)))
    device.deploy(det, wine[:5], name="gthr", repeats=1)
    np.testing.assert_array_equal(device.predict(wine, name="gthr"), det.predict(wine))
    det.threshold = float(np.quantile(det.score_samples(wine), 0.9))
    device.deploy(det, wine[:5], name="gthr", repeats=1)
    np.testing.assert_array_equal(device.predict(wine, name="gthr"), det.predict(wine))
    assert (det.predict(wine) == -1).mean() == pytest.approx(0.9, abs=0.02)


@device
def test_portable_exp_and_log_on_device_bit_for_bit(device, wine):
    """plog and pexp alone over wide ranges (the detectors reach log in [1, K] only)."""
    from emlearn_lab.nets.float32 import pexp
    device.deploy(eml.convert(_fit(GaussianMixture, wine, "diag")), wine[:2], name="gfn",
                  repeats=1)
    rng = np.random.default_rng(3)
    x = np.concatenate([np.exp(rng.uniform(-103, 88, 600)), rng.uniform(1, 40, 300),
                        [0.0, 1.0, 2.0, 1e-45, 3.4e38, np.inf]]).astype(np.float32)
    e = np.concatenate([rng.uniform(-90, 90, 300), [0.0, -np.inf, np.inf]]).astype(np.float32)
    device.exec("import emlgauss, struct\n"
                "_f = lambda u: struct.unpack('<f', struct.pack('<I', u))[0]\n"
                "_b = lambda v: struct.unpack('<I', struct.pack('<f', v))[0]\n")

    def on_device(fn, values):          # in chunks: a board's heap holds a short list only
        out = []
        for i in range(0, len(values), 60):
            bits = [int(b) for b in values[i:i + 60].view(np.uint32)]
            out += device.eval(f"[_b(emlgauss.{fn}(_f(u))) for u in {bits!r}]")
        return np.array(out, dtype=np.uint32)
    got_log = on_device("plog", x)
    got_exp = on_device("pexp", e)
    np.testing.assert_array_equal(got_log, gf.plog(x).view(np.uint32))
    np.testing.assert_array_equal(got_exp, pexp(e).view(np.uint32))


@pytest.fixture(scope="module")
def good_gauss(device, wine):
    det = eml.convert(_fit(GaussianMixture, wine[:, :6], "full"))
    device.deploy(det, wine[:3, :6], name="goodgauss", repeats=1)
    return to_bytes(det)


def _corrupt(good: bytes) -> dict:
    head = list(struct.unpack(HEADER, good[:HEADER_BYTES]))

    def header(i, v):
        h = head.copy()
        h[i] = v
        return struct.pack(HEADER, *h) + good[HEADER_BYTES:]
    nan = good[:HEADER_BYTES] + struct.pack("<f", float("nan")) + good[HEADER_BYTES + 4:]
    return {"truncated": (good[:-4], "header says"), "trailing": (good + b"\0" * 4, "header says"),
            "odd size": (good + b"\0", "do not hold"), "short": (good[:7], "shorter than"),
            "magic": (b"EMLN" + good[4:], "not an emlearn_lab Gaussian"),
            "version": (header(1, 9), "version 1"), "estimator": (header(2, 7), "estimator"),
            "covariance": (header(3, 4), "covariance"), "reserved": (header(4, 1), "covariance"),
            "envelope of 3": (header(2, 1), "estimator"),
            "huge features": (header(5, 65535), "do not hold"),
            "huge components": (header(6, 65535), "do not hold"),
            "zero features": (header(5, 0), "zero size"), "NaN mean": (nan, "non-finite")}


@device
@pytest.mark.parametrize("case", list(_corrupt(b"\0" * 64)))
def test_corrupt_file_raises_on_device(device, good_gauss, case):
    data, message = _corrupt(good_gauss)[case]
    device.write_file("bad.emg", data, skip_unchanged=False)
    with pytest.raises(eml.DeviceRuntimeError, match=f"ValueError.*{message}|{message}"):
        device.exec("import emlgauss\nemlgauss.load('bad.emg', 0)")
    assert device.eval("1 + 1") == 2


@device
def test_bad_threshold_and_rows_raise_on_device(device, good_gauss):
    device.write_file("ok.emg", good_gauss, skip_unchanged=False)
    for bits, message in ((0x7FC00000, "NaN"), (-1, "threshold_bits"), (2**32, "threshold_bits"),
                          ("0", "threshold_bits")):
        with pytest.raises(eml.DeviceRuntimeError, match=message):
            device.exec(f"import emlgauss\nemlgauss.load('ok.emg', {bits!r})")
    with pytest.raises(eml.DeviceRuntimeError, match=r"array.array\('f'\) of 6 features"):
        device.exec("import emlgauss, array\nm = emlgauss.load('ok.emg', 0)\n"
                    "m.predict(array.array('f', [0.0] * 5))")
    assert device.eval("1 + 1") == 2


@device
def test_random_corruptions_never_crash_the_device(device, good_gauss):
    rng = np.random.default_rng(0)
    mutants = []
    for _ in range(300):
        d = bytearray(good_gauss)
        for pos in rng.integers(0, len(d), size=rng.integers(1, 4)):
            d[pos] = int(rng.integers(0, 256))
        mutants.append(bytes(d))
    device.write_file("gmutants.bin", b"".join(mutants), skip_unchanged=False)
    device.exec(f"""
import emlgauss, array
n = {len(good_gauss)}
x = array.array('f', [3.0] * 6)
loaded = failed = 0
with open('gmutants.bin', 'rb') as f:
    for i in range({len(mutants)}):
        with open('one.emg', 'wb') as g:
            g.write(f.read(n))
        try:
            m = emlgauss.load('one.emg', 0)
            if m.n_features == 6:
                assert m.predict(x) in (0, 1) and len(m.scores(x)) == 1
            loaded += 1
        except ValueError:
            failed += 1
""", timeout_s=120)
    loaded, failed = device.eval("(loaded, failed)")
    assert loaded + failed == len(mutants) and failed > 0 and loaded > 0
    assert device.eval("1 + 1") == 2


@device
def test_ram_estimate_bounds_a_fresh_load(wine):
    """On a freshly started device (qstrs not yet interned: the first load's figure) the
    estimate is at least what gc.mem_alloc() measures and at most RAM_MARGIN above it."""
    for cov, k in (("full", 4), ("diag", 2), ("spherical", 6)):
        det = eml.convert(_fit(GaussianMixture, wine, cov, k=k))
        with eml.connect("virtual") as dev:
            report = dev.deploy(det, wine[:3], repeats=1)
        measured = report.runtime_ram_bytes + report.model_ram_bytes
        estimated = eml.estimate(det, "virtual").ram_bytes
        assert measured <= estimated <= (1 + RAM_MARGIN) * measured, (cov, measured, estimated)


# -- the emulated Cortex-M3 (single-precision floats) ---------------------------------------------
@pytest.mark.mcu
@pytest.mark.device
@pytest.mark.slow
def test_cortex_m3_full_and_diag_bit_for_bit(wine):
    from test_emulated import _need
    _need("cortex-m3")
    X = _adversarial(wine[:12], seed=2)[:30]
    dets = [eml.convert(_fit(GaussianMixture, wine[:, :8], cov, k=4)) for cov in ("full", "diag")]
    with eml.connect("emulated:cortex-m3") as m3:
        for det in dets:
            report = m3.deploy(det, X[:, :8], repeats=2)
            assert report.agreement == 1.0, report.disagreements
            measured = report.runtime_ram_bytes + report.model_ram_bytes
            estimate = eml.estimate(det, "emulated:cortex-m3")
            # the runtime is already loaded for the second model: its figure is a reload's
            assert measured <= estimate.ram_bytes <= (1 + RAM_MARGIN) * measured + 2700
            instructions = report.us_per_predict_median * 1000
            assert abs(estimate.latency.instructions - instructions) < 0.15 * instructions


# -- with the rest of the workbench --------------------------------------------------------------
@device
def test_threshold_pipeline_and_live_comparison(device):
    """pick_threshold's threshold reaches the device; the detector deploys as a Pipeline's last
    step with its feature extractor; the live comparison streams its score bit for bit."""
    from sklearn.pipeline import make_pipeline

    from emlearn_lab.live.engine import LiveComparison
    rng = np.random.default_rng(0)
    W = rng.normal(size=(90, 32, 3)).astype("f4")
    W[80:] *= 3                                   # the last ten windows are anomalies
    y = np.array([1] * 80 + [-1] * 10)
    fx = eml.features.TimeStats().fit(W[:60])
    F = fx.transform(W)
    det = eml.convert(_fit(GaussianMixture, F[:60], "diag", k=2))
    det.threshold = eml.anomaly.pick_threshold(det, F, y, metric="balanced_accuracy")
    assert np.mean(det.predict(F) == y) > 0.9
    report = device.deploy(make_pipeline(fx, det), W, name="gpipe", repeats=1)
    assert report.agreement == 1.0
    np.testing.assert_array_equal(device.predict(W[75:85], name="gpipe"), det.predict(F[75:85]))
    eng = LiveComparison(device, {"det": det}, F, y=y, batch=32)
    eng.start()
    assert eng.wait(300) == "done", eng.message
    r = eng.results["det"]
    assert r["agree"].all()
    np.testing.assert_array_equal(r["host_score"], det.score_samples(F))
    np.testing.assert_array_equal(r["device_score"], r["host_score"])
    assert eng.info("det")["kind"] == "anomaly"
    assert eng.info("det")["threshold"] == det.threshold
