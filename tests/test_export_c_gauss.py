"""C export of Gaussian detectors: the generated header + csrc/eml_lab_gauss.h (+
eml_lab_net.h), compiled with gcc (C99) and g++ (C++11), computes the host reference's float32
score bit for bit and the same decision on every row, adversarial rows included; and it fits
the c_size figures for a Cortex-M0+."""
import subprocess

import numpy as np
import pytest
from c_harness import HARNESS
from sklearn.covariance import EllipticEnvelope
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import emlearn_lab as eml
from emlearn_lab.export.c_build import compile_host

pytestmark = pytest.mark.toolchain

C_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wshadow",
           "-Wdouble-promotion", "-Wcast-qual", "-Wundef", "-Wstrict-prototypes")
# gnu++ contracts a*b + c into fused multiply-adds by default: the header switches that off.
# (-ffast-math is left out: linked on x86 it sets flush-to-zero for the whole program, which
# no header can undo; the headers say so.)
CXX_FLAGS = ("-x", "c++", "-std=gnu++17", "-O2", "-Wall", "-Wextra", "-Werror")
ADVERSARIAL = [0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 3.4e38, -3.4e38, np.inf, -np.inf,
               1e10, -1e10, 0.5, 7.0]


def _data(n=300, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n, d)), rng.normal(3, 0.5, size=(n // 2, d))])
    return X


def _rows(X, seed=1):
    rng = np.random.default_rng(seed)
    extra = rng.choice(ADVERSARIAL, size=(40, X.shape[1]))
    return np.vstack([X, extra, rng.normal(0, 30, size=(40, X.shape[1]))])


def _run_c(det, rows, folder, cxx):
    folder.mkdir(parents=True, exist_ok=True)
    written = eml.export_c(det, folder / "det.h", name="det")
    assert [p.name for p in written] == ["det.h", "eml_lab_gauss.h", "eml_lab_net.h"]
    (folder / "main.c").write_text(HARNESS % {"name": "det", "N": "DET", "xt": "float",
                                              "st": "float", "value": ""})
    exe = compile_host({}, "main.c", folder / "harness", compiler="g++" if cxx else "gcc",
                       flags=CXX_FLAGS if cxx else C_FLAGS)
    X32 = rows.astype("<f4")
    (folder / "x.bin").write_bytes(X32.tobytes())
    subprocess.run([str(exe), str(folder / "x.bin"), str(folder / "y.bin")], check=True)
    out = np.fromfile(folder / "y.bin", dtype=np.dtype([("p", "<i4"), ("s", "<f4", (1,))]))
    assert len(out) == len(X32)
    return out


@pytest.mark.parametrize("make", [
    lambda: GaussianMixture(3, covariance_type="full", random_state=0),
    lambda: GaussianMixture(3, covariance_type="tied", random_state=0),
    lambda: GaussianMixture(3, covariance_type="diag", random_state=0),
    lambda: GaussianMixture(3, covariance_type="spherical", random_state=0),
    lambda: GaussianMixture(1, covariance_type="full", random_state=0),
    lambda: BayesianGaussianMixture(n_components=3, covariance_type="diag", random_state=0),
    lambda: EllipticEnvelope(random_state=0),
], ids=["full", "tied", "diag", "spherical", "one", "bayesian", "envelope"])
def test_c_equals_host_bit_for_bit(make, tmp_path):
    X = _data()
    det = eml.convert(make().fit(X))
    rows = _rows(X)
    host = det.scores(rows)[:, 0]
    for cxx in (False, True):
        out = _run_c(det, rows, tmp_path / ("cxx" if cxx else "c"), cxx)
        s = out["s"][:, 0]
        same = (s.view("<u4") == host.view("<u4")) | (np.isnan(s) & np.isnan(host))
        assert same.all(), f"{(~same).sum()} rows differ (cxx={cxx})"
        np.testing.assert_array_equal(out["p"], det.predict_index(rows))
    assert np.isnan(host).any() or np.isinf(host).any()      # the adversarial rows bite


def test_a_new_threshold_is_in_the_header(tmp_path):
    X = _data()
    det = eml.convert(GaussianMixture(2, random_state=0).fit(X))
    det.threshold = eml.anomaly.pick_threshold(det, X, fpr=0.3)
    out = _run_c(det, X, tmp_path, False)
    np.testing.assert_array_equal(out["p"], det.predict_index(X))
    flagged = int((out["p"] == 0).sum())
    assert 0.2 * len(X) < flagged <= 0.3 * len(X) + 1e-9


def test_c_size_counts_both_runtime_headers():
    det = eml.convert(GaussianMixture(2, covariance_type="diag", random_state=0).fit(_data()))
    size = eml.c_size(det, cpu="cortex-m0plus")
    floats = 4 * (det.means.size + det.consts.size + det.factor.size)
    assert size.text_bytes + size.data_bytes > floats
