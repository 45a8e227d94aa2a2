"""C export: oracle tests compiled with gcc (C99) and g++ (C++11), errors, Cortex-M sizes.

Every model is exported, compiled into a small harness that reads rows from a binary file and
writes predict / scores (/ predict_value) to another, and the results must equal the host
reference (TreeModel) bit for bit on every row, and scikit-learn's predict for uncompressed
float32 models. The tests marked ``toolchain`` need gcc, g++ and arm-none-eabi-gcc (CI
installs them: a missing compiler fails these tests rather than skipping them); the others run
anywhere (``pytest -m "not toolchain"``).
"""
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from c_harness import HARNESS
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import emlearn_lab as eml
from emlearn_lab.export import CSize, c_size, export_c
from emlearn_lab.export._c_layout import FEATURES
from emlearn_lab.export.c_build import compile_host, firmware_size
from emlearn_lab.export.c_export import runtime_header_path
from emlearn_lab.export.c_trees import Layout, input_ctype, tree_header

C_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
CXX_FLAGS = ("-x", "c++", "-std=c++11", "-O2", "-Wall", "-Wextra", "-Werror")
STRICT = ("-Wconversion", "-Wsign-conversion", "-Wshadow", "-Wdouble-promotion", "-Wcast-qual",
          "-Wcast-align", "-Wundef", "-Wstrict-prototypes", "-Wfloat-equal")

def run_c(model, X, folder, form="table", compilers=("gcc", "g++"), extra=(), **kw):
    """Predictions of the exported model compiled by each compiler: {compiler: (index,
    scores, value or None)}. One build and one run per compiler, in parallel."""
    name = f"m_{form}"
    xt = input_ctype(model)
    value = ("double v = %s_predict_value(x);\n        fwrite(&v, sizeof v, 1, out);" % name
             if model.kind == "regressor" else "")
    files = {f"{name}.h": tree_header(model, name, form, **kw),
             "eml_lab_trees.h": runtime_header_path().read_text(),
             "harness.c": HARNESS % {"name": name, "N": name.upper(), "xt": xt,
                                     "st": "int32_t", "value": value}}
    rows = model.check_X(X)
    (folder / "x.bin").write_bytes(np.ascontiguousarray(
        rows, dtype="<i2" if xt == "int16_t" else "<f4").tobytes())
    dtype = np.dtype([("p", "<i4"), ("s", "<i4", (model.n_outputs,))]
                     + ([("v", "<f8")] if value else []))

    def build_and_run(cc):
        flags = C_FLAGS if cc == "gcc" else CXX_FLAGS
        exe = compile_host(files, "harness.c", folder / f"h_{cc}", compiler=cc,
                           flags=flags + tuple(extra))
        out = folder / f"y_{cc}.bin"
        subprocess.run([str(exe), str(folder / "x.bin"), str(out)], check=True)
        r = np.frombuffer(out.read_bytes(), dtype)
        return cc, (r["p"], r["s"], r["v"] if value else None)

    with ThreadPoolExecutor(len(compilers)) as pool:
        return dict(pool.map(build_and_run, compilers))


def assert_c_equals_host(model, X, folder, form="table", sklearn_est=None, **kw):
    want_index = model.predict_index(X)
    want_scores = model.scores(X)
    for cc, (index, scores, value) in run_c(model, X, folder, form, **kw).items():
        assert len(index) == len(X), cc
        np.testing.assert_array_equal(scores, want_scores, err_msg=cc)
        np.testing.assert_array_equal(index, want_index, err_msg=cc)
        if model.kind == "regressor":
            np.testing.assert_array_equal(value, model.predict(X), err_msg=cc)  # bit for bit
        elif sklearn_est is not None:
            np.testing.assert_array_equal(model.classes_[index],
                                          sklearn_est.predict(model.check_X(X)), err_msg=cc)


# -- float32 models: equal to scikit-learn ----------------------------------------------------

CLASSIFIERS = {
    "tree": lambda: DecisionTreeClassifier(random_state=0),
    "forest": lambda: RandomForestClassifier(n_estimators=10, random_state=0),
    # On "tricky" this forest has a row whose integer sums and scikit-learn's float64
    # average pick different classes: the near-tie path must settle it.
    "leafy": lambda: RandomForestClassifier(n_estimators=7, max_leaf_nodes=100,
                                            min_samples_leaf=3, random_state=0),
    "extra": lambda: ExtraTreesClassifier(n_estimators=10, random_state=0),
}
FLOAT32_CASES = [("digits", "forest"), ("digits", "extra"), ("tricky", "leafy"),
                 ("tricky", "tree"), ("tricky", "extra"), ("breast_cancer", "forest"),
                 ("wine", "extra"), ("iris", "tree")]


@pytest.mark.toolchain
@pytest.mark.parametrize("form", ["table", "inline"])
@pytest.mark.parametrize("data,est", FLOAT32_CASES)
def test_float32_classifier_equals_sklearn(classification_data, tmp_path, data, est, form):
    X_train, X_test, y_train, _ = classification_data[data]
    clf = CLASSIFIERS[est]().fit(X_train, y_train)
    X = np.vstack([X_test, X_train])
    assert_c_equals_host(eml.convert(clf), X, tmp_path, form, sklearn_est=clf)


def test_tie_path_changes_a_prediction(classification_data):
    """Guards the test above: without the float64 path one "tricky" row would differ."""
    X_train, X_test, y_train, _ = classification_data["tricky"]
    model = eml.convert(CLASSIFIERS["leafy"]().fit(X_train, y_train))
    X = np.vstack([X_test, X_train])
    assert (model.scores(X).argmax(axis=1) != model.predict_index(X)).any()


F64_HARNESS = r"""#include <stdio.h>
#include "eml_lab_trees.h"

/* Records of 16 doubles and a uint32 divisor: the native float64 sum in order and its
 * quotient, then the integer emulation's, as bits. */
static uint64_t bits_of(eml_lab_trees_f64 v)
{
    return v.m ? ((uint64_t)(v.e + 1075) << 52) | (v.m & 0xFFFFFFFFFFFFFull) : 0u;
}

int main(int argc, char **argv)
{
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    double p[16];
    uint32_t n;
    (void)argc;
    while (fread(p, sizeof p[0], 16, in) == 16 && fread(&n, sizeof n, 1, in) == 1) {
        double s = 0.0, d;
        eml_lab_trees_f64 e = eml_lab_trees_f64_from(0.0);
        uint64_t r[4];
        int j;
        for (j = 0; j < 16; j++) {
            s += p[j];
            e = eml_lab_trees_f64_add(e, eml_lab_trees_f64_from(p[j]));
        }
        d = s / (double)n;
        memcpy(&r[0], &s, 8);
        memcpy(&r[1], &d, 8);
        r[2] = bits_of(e);
        r[3] = bits_of(eml_lab_trees_f64_div(e, n));
        fwrite(r, sizeof r[0], 4, out);
    }
    fclose(in);
    fclose(out);
    return 0;
}
"""


@pytest.mark.toolchain
def test_float64_emulation_equals_ieee(tmp_path):
    """The tie path's integer float64 sum and division equal IEEE double arithmetic bit for
    bit: probabilities as fractions, random mantissas at every scale, exact halfway cases."""
    rng = np.random.default_rng(0)
    n_rows = 60000
    P = np.zeros((n_rows, 16))
    kind = rng.integers(0, 4, n_rows)
    frac = rng.integers(0, 50, (n_rows, 16)) / rng.integers(1, 60, (n_rows, 1))
    P[kind == 0] = np.minimum(frac[kind == 0], 1.0)
    P[kind == 1] = rng.random((np.sum(kind == 1), 16))
    P[kind == 2] = rng.random((np.sum(kind == 2), 16)) * 2.0 ** -rng.integers(
        0, 900, (np.sum(kind == 2), 16))
    P[kind == 3] = rng.random((np.sum(kind == 3), 16)) * (rng.random(
        (np.sum(kind == 3), 16)) < 0.3)                     # many exact zeros
    ulp = 2.0 ** -53
    halfway = [[1.0, ulp], [1.0 + 2 * ulp, ulp], [0.5, ulp / 2, ulp / 2], [1.0, ulp, ulp],
               [1 - ulp / 2, ulp / 4], [0.75, 0.25 + 2 * ulp, ulp]]
    for i, h in enumerate(halfway):
        P[i] = 0.0
        P[i, :len(h)] = h
    n = rng.choice([1, 2, 3, 7, 10, 100, 255, 1000, 65535, 2**31 - 1, 2**32 - 1], n_rows)
    rec = np.zeros(n_rows, dtype=[("p", "<f8", (16,)), ("n", "<u4")])
    rec["p"], rec["n"] = P, n
    (tmp_path / "x.bin").write_bytes(rec.tobytes())
    files = {"eml_lab_trees.h": runtime_header_path().read_text(), "f.c": F64_HARNESS}
    exe = compile_host(files, "f.c", tmp_path / "f", flags=C_FLAGS + (
        "-fsanitize=undefined", "-fno-sanitize-recover=all"))
    subprocess.run([str(exe), str(tmp_path / "x.bin"), str(tmp_path / "y.bin")], check=True)
    r = np.frombuffer((tmp_path / "y.bin").read_bytes(), "<u8").reshape(-1, 4)
    assert len(r) == n_rows
    np.testing.assert_array_equal(r[:, 2], r[:, 0])     # sums
    np.testing.assert_array_equal(r[:, 3], r[:, 1])     # quotients
    want = np.zeros(n_rows)
    for j in range(16):                                  # numpy agrees with the native sums
        want += P[:, j]
    np.testing.assert_array_equal(r[:, 0], want.view("<u8"))


@pytest.mark.toolchain
def test_tie_settled_by_float64_division(tmp_path):
    """Class 1's float64 sum is one ulp above class 0's, but both quotients by n_trees round
    to the same double: scikit-learn's first maximum is class 0. A synthetic 3-tree model
    (one leaf per tree) makes the integer sums equal, so the row takes the tie path."""
    ulp = 2.0 ** -52
    proba = np.array([[0.5, 0.5], [0.5, 0.5], [0.5 + ulp, 0.5 + 2 * ulp]])
    s = np.zeros(2)
    for row in proba:
        s += row
    assert s[0] < s[1] and s[0] / 3 == s[1] / 3
    empty = np.zeros(0, dtype=np.int64)
    model = eml.TreeModel(
        kind="classifier", features="float32", n_features=1, feature=empty, threshold=empty,
        left=empty, right=empty, roots=np.arange(3), leaves=np.rint(proba * 2**29).astype(
            np.int64), leaf_shift=29, classes_=np.array([0, 1]), leaf_proba=proba)
    X = np.zeros((1, 1))
    assert model.predict_index(X)[0] == 0
    for form in ("table", "inline"):
        assert_c_equals_host(model, X, tmp_path, form)


@pytest.mark.toolchain
@pytest.mark.parametrize("layout", [
    Layout(nodes="split", thresholds="direct", values="direct", keys=False),
    Layout(nodes="split", thresholds="index", values="dict", keys=True),
    Layout(nodes="packed", values="direct", keys=True),
    Layout(nodes="packed", values="dict", keys=False)], ids=repr)
def test_table_layouts_agree(classification_data, tmp_path, layout):
    """Every array layout of the table form, keys precomputed or computed at each node."""
    X_train, X_test, y_train, _ = classification_data["tricky"]
    clf = CLASSIFIERS["leafy"]().fit(X_train, y_train)
    model = eml.convert(clf)
    header = tree_header(model, "m", layout=layout)
    assert f"{ {'split': 0, 'packed': 1}[layout.nodes]} /* layout */" in header
    assert f"{int(layout.values == 'dict')} /* value_index */" in header
    assert f"{int(layout.keys)} /* features */" in header
    if layout.nodes == "split":
        assert ("m_tindex" in header) == (layout.thresholds == "index")
    assert_c_equals_host(model, np.vstack([X_test, X_train]), tmp_path, "table",
                         sklearn_est=clf, layout=layout)


def test_layout_errors():
    with pytest.raises(eml.InputError, match="Layout nodes must be one of"):
        Layout(nodes="tiny")
    model = eml.convert(DecisionTreeRegressor(random_state=0).fit(
        np.random.default_rng(0).standard_normal((5000, 2)), np.arange(5000.0)))
    with pytest.raises(eml.UnsupportedModelError, match="more than 32: use Layout"):
        tree_header(model, "m", layout=Layout(nodes="packed"))


@pytest.mark.toolchain
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # sklearn, 3e38
@pytest.mark.parametrize("form,keys", [("table", False), ("table", True), ("inline", None)])
def test_float32_comparisons_on_adversarial_inputs(classification_data, tmp_path, form, keys):
    """Keys (table form) and sign-chosen comparisons of the bits (inline form) on every kind of
    float32: both signs, ±0, subnormals, huge values, exact thresholds and their neighbours."""
    X_train, X_test, y_train, _ = classification_data["tricky"]
    clf = CLASSIFIERS["extra"]().fit(X_train, y_train)
    model = eml.convert(clf)
    rng = np.random.default_rng(1)
    X = rng.choice(adversarial_floats(20000), size=(3000, model.n_features))
    t = _thresholds(model)
    for j, (f, v) in enumerate(zip(model.feature[:600], t[:600])):   # at and around splits
        X[j, f] = v
        X[600 + j, f] = np.nextafter(v, np.float32(np.inf))
        X[1200 + j, f] = np.nextafter(v, np.float32(-np.inf))
    assert_c_equals_host(model, X, tmp_path, form, sklearn_est=clf, layout=Layout(keys=keys))


@pytest.mark.toolchain
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # sklearn, 3e38
def test_float32_bits_on_adversarial_inputs(classification_data, tmp_path):
    """Every threshold >= +0: the table form compares float32 bits as int32, no keys; inputs of
    both signs, ±0, subnormals and the thresholds' neighbours must still split exactly."""
    X_train, X_test, y_train, _ = classification_data["tricky"]
    clf = CLASSIFIERS["extra"]().fit(np.abs(X_train), y_train)
    model = eml.convert(clf)
    assert f"{FEATURES['bits']} /* features */" in tree_header(model, "m")
    rng = np.random.default_rng(2)
    X = rng.choice(adversarial_floats(20000, seed=2), size=(3000, model.n_features))
    for j, (f, v) in enumerate(zip(model.feature[:600], _thresholds(model)[:600])):
        X[j, f] = v
        X[600 + j, f] = np.nextafter(v, np.float32(np.inf))
        X[1200 + j, f] = -v
    assert_c_equals_host(model, X, tmp_path, "table", sklearn_est=clf)


def _thresholds(model):
    """float32 thresholds from their keys."""
    k = model.threshold.astype(np.uint32)
    bits = np.where(k & np.uint32(0x80000000), k & np.uint32(0x7FFFFFFF), ~k)
    return bits.astype(np.uint32).view(np.float32)


@pytest.mark.toolchain
@pytest.mark.parametrize("case", ["tie", "int16", "quantised", "dense", "regressor"])
def test_inline_small_variant(classification_data, regression_data, tmp_path, case):
    """EML_LAB_TREES_SMALL=1 (the default under -Os): leaves return their reference and one
    loop adds the values from the leaf tables; the same sums and classes as in place."""
    X_train, X_test, y_train, _ = classification_data["tricky"]
    X = np.vstack([X_test, X_train]).astype(np.float32)
    if case == "tie":
        model = eml.convert(CLASSIFIERS["leafy"]().fit(X_train, y_train))
    elif case == "int16":
        Xd, _, yd, _ = classification_data["digits"]
        model = eml.convert(CLASSIFIERS["forest"]().fit(Xd, yd), features="int16")
        X = Xd.astype(np.int16)
    elif case == "regressor":
        X_r, X_rt, y_r, _ = regression_data["diabetes"]
        model = eml.convert(REGRESSORS["forest"]().fit(X_r, y_r))
        X = X_rt
    else:
        clf = CLASSIFIERS["forest"]().fit(X_train, y_train)
        model = (eml.compress(clf, leaf_bits=4, features="int16", X_calib=X_train)
                 if case == "quantised" else eml.compress(clf, leaf_bits=4))
    header = tree_header(model, "m", "inline")
    assert "EML_LAB_TREES_SMALL" in header
    # Forests with probabilities: the loop derives the int32 values from them (no values[]).
    assert case not in ("tie", "int16") or "m_values[" not in header
    assert_c_equals_host(model, X, tmp_path, "inline", extra=("-DEML_LAB_TREES_SMALL=1",))


def test_leaf_values_kept_unless_derivable(classification_data):
    """values[] is dropped only when every value is rint(proba * 2**leaf_shift)."""
    from emlearn_lab.export._c_layout import leaf_tables
    X_train, _, y_train, _ = classification_data["tricky"]
    model = eml.convert(CLASSIFIERS["leafy"]().fit(X_train, y_train))
    assert "values" not in leaf_tables(model, derive_values=True).arrays
    assert "values" in leaf_tables(model).arrays
    model.leaves = model.leaves.copy()
    r, c = np.argwhere(model.leaves > 0)[0]
    model.leaves[r, c] += 1
    assert "values" in leaf_tables(model, derive_values=True).arrays


@pytest.mark.toolchain
def test_inline_split_into_functions(classification_data, tmp_path):
    X_train, X_test, y_train, _ = classification_data["digits"]
    clf = CLASSIFIERS["forest"]().fit(X_train, y_train)
    model = eml.convert(clf)
    header = tree_header(model, "m", "inline", max_nodes_per_function=20, max_nesting=4)
    assert "m__part40(" in header
    assert_c_equals_host(model, X_test, tmp_path, "inline", sklearn_est=clf,
                         max_nodes_per_function=20, max_nesting=4)


@pytest.mark.toolchain
def test_wide_models(tmp_path):
    """300 features (2-byte feature indices, keys computed at each node; inline too) and a
    deep tree with over 65535 child codes (4-byte children)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 300))
    y = (X[:, 0] + X[:, 299] > 0).astype(int) + (X[:, 150] > 1)
    clf = RandomForestClassifier(n_estimators=3, max_depth=12, random_state=0).fit(X, y)
    model = eml.convert(clf)
    header = tree_header(model, "m")
    assert "static const uint16_t m_nodes[" in header and "eml_lab_trees_keys" not in header
    assert_c_equals_host(model, X[:500], tmp_path, "table", sklearn_est=clf)
    assert_c_equals_host(model, X[:500], tmp_path, "inline", sklearn_est=clf)
    Xd = rng.standard_normal((50000, 2))
    deep = DecisionTreeRegressor(random_state=0).fit(Xd, rng.standard_normal(len(Xd)))
    model = eml.convert(deep)      # ~50000 distinct leaves
    assert "static const uint32_t m_left[" in tree_header(model, "m")
    assert_c_equals_host(model, Xd[::5], tmp_path, "table")


@pytest.mark.toolchain
def test_single_leaf_model(tmp_path):
    """One class: every tree is a lone leaf (no decision nodes, empty arrays)."""
    X = np.arange(12.0).reshape(6, 2)
    model = eml.convert(DecisionTreeClassifier().fit(X, np.full(6, 7)))
    assert model.n_nodes == 0
    for form in ("table", "inline"):
        assert_c_equals_host(model, X, tmp_path, form)


# -- int16 features ---------------------------------------------------------------------------

@pytest.mark.toolchain
@pytest.mark.parametrize("form", ["table", "inline"])
@pytest.mark.parametrize("est", ["tree", "forest"])
def test_int16_classifier(classification_data, tmp_path, est, form):
    X_train, X_test, y_train, _ = classification_data["digits"]
    Xi_train = (X_train * 1000 - 8000).astype(np.int16)   # negative and positive integers
    Xi_test = (X_test * 1000 - 8000).astype(np.int16)
    clf = CLASSIFIERS[est]().fit(Xi_train, y_train)
    extremes = np.array([[-32768] * 64, [32767] * 64, [0] * 64], dtype=np.int16)
    X = np.vstack([Xi_test, extremes])
    assert_c_equals_host(eml.convert(clf, features="int16"), X, tmp_path, form,
                         sklearn_est=clf)


# -- compressed models: int16 with learned scales, dense leaves -------------------------------

def adversarial_floats(n, seed=0):
    """Finite float32 values: random bit patterns (every exponent, subnormals), ±0, huge and
    tiny values, small integers and halves."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, 2 * n, dtype=np.uint64).astype(np.uint32)
    pool = bits.view(np.float32)
    special = np.array([0.0, -0.0, 1e-45, -1e-45, 1.2e-38, -1.2e-38, 3.4e38, -3.4e38, 1e30,
                        -1e30, 1e-30, 0.5, -0.5, 1.0, -1.0, 2.0**29, -(2.0**29)], np.float32)
    grid = (np.arange(-64, 64) / 4.0).astype(np.float32)
    pool = np.concatenate([special, grid, pool[np.isfinite(pool)],
                           rng.standard_normal(n).astype(np.float32)])
    return pool[:n] if len(pool) >= n else np.resize(pool, n)


def adversarial_rows(model, n=3000, seed=0):
    """Rows that stress a quantised model: adversarial values in every column, and the
    clipping edges of each feature with their float32 neighbours."""
    rng = np.random.default_rng(seed)
    X = rng.choice(adversarial_floats(4 * n, seed), size=(n, model.n_features))
    lo, hi = model.quantiser.range()
    edges = []
    for v in (lo, hi, lo / 2 + hi / 2):
        v32 = v.astype(np.float32)
        edges += [v32, np.nextafter(v32, np.float32(np.inf)),
                  np.nextafter(v32, np.float32(-np.inf))]
    return np.vstack([X, np.array(edges, dtype=np.float32)]).astype(np.float32)


@pytest.fixture(scope="module")
def cancer_forest(classification_data):
    X_train, X_test, y_train, _ = classification_data["breast_cancer"]
    clf = RandomForestClassifier(n_estimators=20, min_samples_leaf=3, random_state=0)
    return clf.fit(X_train, y_train), X_train, X_test


@pytest.fixture(scope="module")
def tricky_forest(classification_data):
    """Features of both signs at scales from 1e-30 to 1e30: every quantiser branch."""
    X_train, X_test, y_train, _ = classification_data["tricky"]
    clf = RandomForestClassifier(n_estimators=10, min_samples_leaf=2, random_state=0)
    return clf.fit(X_train, y_train), X_train, X_test


@pytest.mark.toolchain
@pytest.mark.parametrize("form", ["table", "inline"])
@pytest.mark.parametrize("leaf_bits", [0, 4, 8])
def test_compressed_int16_quantiser(tricky_forest, tmp_path, leaf_bits, form):
    clf, X_train, X_test = tricky_forest
    model = eml.compress(clf, leaves_per_class=4, leaf_bits=leaf_bits, features="int16",
                         X_calib=X_train)
    assert model.quantiser is not None and model.leaf_bits == leaf_bits
    X = np.vstack([X_test.astype(np.float32), adversarial_rows(model, 1000, seed=leaf_bits)])
    assert_c_equals_host(model, X, tmp_path, form)


QUANTISE_HARNESS = r"""#include <stdio.h>
#include "eml_lab_trees.h"

static const int32_t shifts[%(k)d] = {%(shifts)s};
static const int32_t offsets[%(k)d] = {%(offsets)s};

int main(int argc, char **argv)
{
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    float x[%(k)d];
    int16_t q[%(k)d];
    int j;
    (void)argc;
    while (fread(x, sizeof x[0], %(k)d, in) == %(k)d) {
        for (j = 0; j < %(k)d; j++) {
            q[j] = eml_lab_trees_quantise_one(x[j], shifts[j], offsets[j]);
        }
        fwrite(q, sizeof q[0], %(k)d, out);
    }
    fclose(in);
    fclose(out);
    return 0;
}
"""


@pytest.mark.toolchain
def test_quantiser_bit_exact_under_sanitizers(tmp_path):
    """The C quantiser equals the host's on adversarial float32 values at scales from 2**-120
    to 2**20 and offsets up to 2**29; UB (shifts, signed overflow) aborts the run."""
    from emlearn_lab.trees.quantise import FeatureQuantiser, fit_quantiser
    calib = np.column_stack([np.linspace(-3, 5, 50), np.linspace(0, 1e-3, 50),
                             np.linspace(1e6, 1e6 + 10, 50), np.linspace(-1e30, 1e30, 50),
                             np.linspace(-1e-30, 0, 50), np.full(50, -7.0)])
    q = fit_quantiser(calib)
    q = FeatureQuantiser(np.append(q.shift, [120, -120, 20]),
                         np.append(q.offset, [-2**29, 2**29, 12345]))
    x = adversarial_floats(40000)
    X = np.column_stack([x] + [np.roll(x, j) for j in range(1, q.n_features)])
    k = q.n_features
    files = {"eml_lab_trees.h": runtime_header_path().read_text(),
             "q.c": QUANTISE_HARNESS % {"k": k, "shifts": ", ".join(map(str, q.shift)),
                                        "offsets": ", ".join(map(str, q.offset))}}
    exe = compile_host(files, "q.c", tmp_path / "q", flags=C_FLAGS + (
        "-fsanitize=undefined,address", "-fno-sanitize-recover=all"))
    (tmp_path / "x.bin").write_bytes(X.astype("<f4").tobytes())
    subprocess.run([str(exe), str(tmp_path / "x.bin"), str(tmp_path / "q.bin")], check=True)
    got = np.frombuffer((tmp_path / "q.bin").read_bytes(), "<i2").reshape(-1, k)
    np.testing.assert_array_equal(got, q.transform(X))


@pytest.mark.toolchain
@pytest.mark.parametrize("form,leaves", [("table", "dense"), ("table", "sparse"),
                                         ("inline", "auto")])
@pytest.mark.parametrize("leaf_bits", [0, 4])
def test_compressed_float32_leaves(classification_data, tmp_path, leaf_bits, form, leaves):
    """Compressed leaves as uint8 rows or as cells, on a 10-class model."""
    X_train, X_test, y_train, _ = classification_data["digits"]
    clf = CLASSIFIERS["forest"]().fit(X_train, y_train)
    model = eml.compress(clf, leaves_per_class=2, leaf_bits=leaf_bits)
    header = tree_header(model, "m", form, layout=Layout(leaves=leaves))
    if form == "table":
        assert ("m_dense" in header) == (leaves == "dense")
    assert_c_equals_host(model, X_test, tmp_path, form, layout=Layout(leaves=leaves))


# -- regressors -------------------------------------------------------------------------------

REGRESSORS = {
    "tree": lambda: DecisionTreeRegressor(max_depth=8, random_state=0),
    "forest": lambda: RandomForestRegressor(n_estimators=10, random_state=0),
    "extra": lambda: ExtraTreesRegressor(n_estimators=10, random_state=0),
}


@pytest.mark.toolchain
@pytest.mark.parametrize("form", ["table", "inline"])
@pytest.mark.parametrize("data,est", [("diabetes", "forest"), ("friedman", "extra"),
                                      ("diabetes", "tree")])
def test_regressor(regression_data, tmp_path, data, est, form):
    X_train, X_test, y_train, _ = regression_data[data]
    model = eml.convert(REGRESSORS[est]().fit(X_train, y_train))
    assert_c_equals_host(model, np.vstack([X_test, X_train]), tmp_path, form)


@pytest.mark.toolchain
def test_compressed_regressor_quantised(regression_data, tmp_path):
    X_train, X_test, y_train, _ = regression_data["friedman"]
    reg = REGRESSORS["forest"]().fit(X_train, y_train)
    model = eml.compress(reg, leaves_per_class=16, features="int16", X_calib=X_train)
    X = np.vstack([X_test.astype(np.float32), adversarial_rows(model, 500)])
    for form in ("table", "inline"):
        assert_c_equals_host(model, X, tmp_path, form)


@pytest.mark.toolchain
@pytest.mark.parametrize("form", ["table", "inline"])
def test_pruned_models(classification_data, regression_data, tmp_path, form):
    """Selected, cost-complexity pruned and refined forests (eml.compress with X_train):
    refined 32-bit leaves, hard votes on int16 features, a refined regressor."""
    X_train, X_test, y_train, _ = classification_data["breast_cancer"]
    clf = CLASSIFIERS["forest"]().fit(X_train, y_train)
    X_r, X_rt, y_r, _ = regression_data["friedman"]
    reg = REGRESSORS["forest"]().fit(X_r, y_r)
    cases = [(eml.compress(clf, n_trees=3, ccp_alpha=0.003, leaf_bits=None, X_train=X_train,
                           y_train=y_train), X_test),
             (eml.compress(clf, n_trees=2, leaf_bits=0, features="int16", X_train=X_train,
                           y_train=y_train), X_test),
             (eml.compress(reg, n_trees=4, ccp_alpha=0.05, X_train=X_r, y_train=y_r), X_rt)]
    for i, (model, X) in enumerate(cases):
        extra = (adversarial_rows(model, 300) if model.quantiser is not None else
                 adversarial_floats(300 * model.n_features)[:300 * model.n_features]
                 .reshape(300, -1))
        X = np.vstack([X.astype(np.float32), extra])
        folder = tmp_path / str(i)
        folder.mkdir()
        assert_c_equals_host(model, X, folder, form)


# -- warnings, errors, export_c ---------------------------------------------------------------

@pytest.mark.toolchain
def test_headers_compile_with_strict_warnings(cancer_forest, regression_data, tmp_path):
    """Every variant, both forms, warning-free with extra warnings users often enable."""
    clf, X_train, _ = cancer_forest
    X_r, _, y_r, _ = regression_data["diabetes"]
    models = [eml.convert(clf), eml.convert(clf, features="int16"),
              eml.compress(clf, leaf_bits=4, features="int16", X_calib=X_train),
              eml.convert(REGRESSORS["tree"]().fit(X_r, y_r))]
    for i, model in enumerate(models):
        for form in ("table", "inline"):
            name = f"m{i}_{form}"
            files = {f"{name}.h": tree_header(model, name, form),
                     "eml_lab_trees.h": runtime_header_path().read_text(),
                     "unit.c": f'#include "{name}.h"\nint32_t f(const {input_ctype(model)} '
                               f'*x);\nint32_t f(const {input_ctype(model)} *x)\n'
                               f'{{\n    return {name}_predict(x);\n}}\n'}
            for cc, flags in (("gcc", C_FLAGS + STRICT), ("g++", CXX_FLAGS)):
                for small in ("0", "1"):
                    compile_host(files, "unit.c", tmp_path / f"{name}_{cc}_{small}.o",
                                 compiler=cc, flags=flags + ("-c", "-DEML_LAB_TREES_SMALL="
                                                             + small))


def test_export_c_writes_self_contained_headers(digits_forest, tmp_path):
    clf, X_test = digits_forest
    paths = export_c(clf, tmp_path / "gesture.h", name="gesture", form="inline")
    assert [p.name for p in paths] == ["gesture.h", "eml_lab_trees.h"]
    text = paths[0].read_text()
    assert "gesture_predict(const float *x)" in text and "#define GESTURE_N_FEATURES 64" in text
    assert "RandomForestClassifier" in text and "EML_LAB_MODEL_GESTURE_H" in text
    assert paths[1].read_text() == runtime_header_path().read_text()


def test_export_c_errors(digits_forest, tmp_path):
    clf, _ = digits_forest
    with pytest.raises(eml.InputError, match=r"^The 'name' parameter of export_c must be a C "
                                             r"identifier .*\. Got '2fast' instead\. .*"
                                             r"e\.g\. name='gesture_model'"):
        export_c(clf, tmp_path / "m.h", name="2fast")
    with pytest.raises(eml.InputError, match=r"must be a C identifier .*and not a reserved "
                                             r"word\. Got 'int' instead\. C and C\+\+ keywords "
                                             r"are reserved"):
        export_c(clf, tmp_path / "m.h", name="int")
    with pytest.raises(eml.InputError, match=r"^The 'form' parameter of export_c must be "
                                             r"'table' or 'inline'\. Got 'loadable' instead\. "
                                             r"'table' is smallest, 'inline' fastest\.$"):
        export_c(clf, tmp_path / "m.h", form="loadable")
    with pytest.raises(eml.InputError, match=r"^The 'path' parameter of export_c must be in an "
                                             r"existing directory\. Got '.*m\.h' instead\. "
                                             r"Directory '.*missing' does not exist; create it"):
        export_c(clf, tmp_path / "missing" / "m.h")
    with pytest.raises(eml.InputError, match=r"^The 'path' parameter of export_c must be a C "
                                             r"header ending in '\.h' \(other than "
                                             r"'eml_lab_trees\.h', 'eml_lab_net\.h', "
                                             r"'eml_lab_gauss\.h' or 'eml_lab_knn\.h'\)\. Got "
                                             r"'.*m\.c' instead\.$"):
        export_c(clf, tmp_path / "m.c")
    X = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(eml.UnsupportedModelError, match="got LogisticRegression: convert"):
        export_c(LogisticRegression().fit(X, X[:, 0] > 0), tmp_path / "m.h")
    assert not (tmp_path / "m.h").exists()


# -- Cortex-M sizes (arm-none-eabi-gcc) -------------------------------------------------------

@pytest.mark.toolchain
def test_c_size_both_cpus(classification_data):
    X_train, _, y_train, _ = classification_data["digits"]
    small = eml.convert(RandomForestClassifier(n_estimators=3, max_depth=4,
                                               random_state=0).fit(X_train, y_train))
    big = eml.convert(RandomForestClassifier(n_estimators=10, max_leaf_nodes=100,
                                             random_state=0).fit(X_train, y_train))
    for cpu in ("cortex-m0plus", "cortex-m4f"):
        sizes = {(m, form): c_size(model, cpu=cpu, form=form)
                 for m, model in (("small", small), ("big", big))
                 for form in ("table", "inline")}
        for s in sizes.values():
            assert isinstance(s, CSize) and s.cpu == cpu
            assert s.text_bytes > 0 and s.data_bytes >= 0 and s.bss_bytes >= 0
            assert "arm-none-eabi-gcc" in s.compiler and "-Os" in s.flags
        for form in ("table", "inline"):
            assert sizes["big", form].text_bytes > sizes["small", form].text_bytes
        # The big model's tables alone exceed the small model's whole firmware.
        assert sizes["big", "table"].text_bytes > 5000
        assert f"CSize({cpu}, form='table': text" in repr(sizes["big", "table"])


@pytest.mark.toolchain
def test_c_size_every_variant(cancer_forest, regression_data):
    """Every feature and leaf encoding builds warning-free for both Cortex-M CPUs."""
    clf, X_train, _ = cancer_forest
    X_r, _, y_r, _ = regression_data["diabetes"]
    models = [eml.convert(clf, features="int16"),
              eml.compress(clf, leaf_bits=4, features="int16", X_calib=X_train),
              eml.compress(clf, leaf_bits=0),
              eml.convert(REGRESSORS["forest"]().fit(X_r, y_r))]
    for model in models:
        for cpu in ("cortex-m0plus", "cortex-m4f"):
            for form in ("table", "inline"):
                assert c_size(model, cpu=cpu, form=form).text_bytes > 0


@pytest.mark.toolchain
def test_c_size_errors_and_generic_core(tmp_path):
    model = eml.convert(DecisionTreeClassifier(random_state=0).fit(
        np.arange(20.0).reshape(10, 2), np.arange(10) % 2))
    with pytest.raises(eml.InputError, match="unknown cpu 'cortex-m7'.*cortex-m0plus"):
        c_size(model, cpu="cortex-m7")
    # The generic core takes any header and call: e.g. a network model's export.
    s = firmware_size({"net.h": "static inline int32_t net_run(const float *x)\n"
                                "{\n    return x[0] > 0.0f;\n}\n"},
                      "net.h", "*(int32_t *)output = net_run((const float *)input);",
                      cpu="cortex-m0plus")
    assert 0 < s.text_bytes < 2000   # the soft-float compare helper included
