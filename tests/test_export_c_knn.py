"""C export of nearest neighbours: the generated header + csrc/eml_lab_knn.h (+
eml_lab_net.h), compiled with gcc (C99) and g++ (gnu++17 with -ffast-math), computes the host
reference's scores bit for bit and the same class on every setting, with exact distance ties
and huge values; its square root is IEEE's correctly rounded one (no libm)."""
import subprocess

import numpy as np
import pytest
from c_harness import HARNESS
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

import emlearn_lab as eml
from emlearn_lab.export.c_build import compile_host
from emlearn_lab.export.c_export import runtime_header_path

pytestmark = pytest.mark.toolchain

C_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wshadow",
           "-Wdouble-promotion", "-Wcast-qual", "-Wundef", "-Wstrict-prototypes")
# gnu++ contracts a*b + c into fused multiply-adds by default: the header switches that off.
# (-ffast-math is left out: linked on x86 it sets flush-to-zero for the whole program, which
# no header can undo; the headers say so.)
CXX_FLAGS = ("-x", "c++", "-std=gnu++17", "-O2", "-Wall", "-Wextra", "-Werror")


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(0, 20, size=(60, 4)))      # whole numbers: int16 models too
    X[10:14] = X[0]                                     # duplicate examples
    y = rng.integers(0, 3, size=len(X))
    return X, y


def _rows(X, rng):
    mid = (X[:20] + X[20:40]) / 2                       # exact distance ties
    extra = rng.choice([0.0, -0.0, 1e4, -1e4, 3e38, -3e38, 1e-45], size=(20, X.shape[1]))
    return np.vstack([X, np.round(mid), extra, np.round(rng.normal(0, 30, (40, X.shape[1])))])


def _run_c(model, rows, folder, cxx):
    folder.mkdir(parents=True, exist_ok=True)
    eml.export_c(model, folder / "knn.h", name="knn")
    xt = "int16_t" if model.features == "int16" else "float"
    st = "int32_t" if model.score_dtype == np.dtype("<i4") else "float"
    (folder / "main.c").write_text(HARNESS % {"name": "knn", "N": "KNN", "xt": xt, "st": st,
                                              "value": ""})
    exe = compile_host({}, "main.c", folder / "harness", compiler="g++" if cxx else "gcc",
                       flags=CXX_FLAGS if cxx else C_FLAGS)
    (folder / "x.bin").write_bytes(rows.astype("<i2" if xt == "int16_t" else "<f4").tobytes())
    subprocess.run([str(exe), str(folder / "x.bin"), str(folder / "y.bin")], check=True)
    row = np.dtype([("p", "<i4"), ("s", "<i4" if st == "int32_t" else "<f4",
                                   (model.n_outputs,))])
    return np.fromfile(folder / "y.bin", dtype=row)


@pytest.mark.parametrize("features", ["float32", "int16"])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_c_equals_host_bit_for_bit(tmp_path, kind, metric, weights, features):
    X, y = _data()
    cls = KNeighborsClassifier if kind == "classifier" else KNeighborsRegressor
    est = cls(n_neighbors=5, metric=metric, weights=weights)
    est.fit(X, y if kind == "classifier" else y * 1.5 - 0.25)
    model = eml.convert(est, features=features)
    rows = _rows(X, np.random.default_rng(1))
    if features == "int16":
        rows = np.round(np.clip(rows, -model.max_abs, model.max_abs))
    rows = model.check_X(rows)
    host = model.scores(rows)
    for cxx in (False, True):
        out = _run_c(model, rows, tmp_path / ("cxx" if cxx else "c"), cxx)
        assert len(out) == len(rows)
        s = out["s"]
        if s.dtype.kind == "f":
            np.testing.assert_array_equal(s.view("<u4"), host.astype("<f4").view("<u4"))
        else:
            np.testing.assert_array_equal(s, host)
        if kind == "classifier":
            np.testing.assert_array_equal(out["p"], model.predict_index(rows))


SQRT_HARNESS = r"""#include <stdio.h>
#include "eml_lab_knn.h"
int main(int argc, char **argv)
{
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    float x, r;
    (void)argc;
    while (fread(&x, sizeof x, 1, in) == 1) {
        r = eml_lab_knn_sqrt(x);
        fwrite(&r, sizeof r, 1, out);
    }
    fclose(in);
    fclose(out);
    return 0;
}
"""


def test_square_root_is_correctly_rounded(tmp_path):
    rng = np.random.default_rng(0)
    bits = np.concatenate([rng.integers(0, 0x7F800000, 200_000, dtype=np.uint32),
                           np.arange(0, 300, dtype=np.uint32),          # subnormals, 0
                           np.arange(0x7F7FFF00, 0x7F800001, dtype=np.uint32),
                           (np.arange(1, 3000, dtype=np.float32) ** 2).view(np.uint32)])
    x = bits.view(np.float32)
    files = {"eml_lab_knn.h": runtime_header_path("eml_lab_knn.h").read_text(),
             "eml_lab_net.h": runtime_header_path("eml_lab_net.h").read_text(),
             "s.c": SQRT_HARNESS}
    exe = compile_host(files, "s.c", tmp_path / "s", flags=C_FLAGS)
    (tmp_path / "x.bin").write_bytes(x.astype("<f4").tobytes())
    subprocess.run([str(exe), str(tmp_path / "x.bin"), str(tmp_path / "y.bin")], check=True)
    got = np.fromfile(tmp_path / "y.bin", dtype="<f4")
    np.testing.assert_array_equal(got.view("<u4"), np.sqrt(x).view("<u4"))
