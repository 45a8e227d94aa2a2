"""The C export as firmware compiles it, run on emulated Cortex-M4F and Cortex-M3 cores.

One bare-metal program per (core, flag set) holds every case: float32 trees (table and
inline), a compressed int16 forest, a forest regressor, an int8 and a float32 network, an
IsolationForest, Gaussian detectors (full, diag, envelope) and nearest neighbours (float32
distance weights, int16 manhattan). It is
built with arm-none-eabi-gcc and the flags of a firmware project (Arduino, Zephyr, CMSIS,
-ffast-math), run by qemu with ARM semihosting (emlearn_lab/export/c_mcu.py), and every
row's predict, scores and values must equal the host reference bit for bit. The x86-64
tests cannot see what these see: a Cortex-M4F has a fused multiply-add, which GCC uses
for a*b + c under -std=gnu* and in C++ unless the header turns contraction off.

Needs qemu-system-arm and arm-none-eabi-gcc: skips where either is absent, fails under CI.
"""
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from _require import skip_or_fail
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import emlearn_lab as eml
from emlearn_lab.export.c_mcu import build_mcu, mcu_case, run_mcu

pytestmark = [pytest.mark.toolchain, pytest.mark.slow]

# The flags firmware projects compile with (besides the core's -mcpu/-mfpu/-mfloat-abi).
FLAG_SETS = {
    "cmsis": ("-std=c99", "-O2"),
    "zephyr": ("-std=gnu11", "-Os", "-ffunction-sections", "-fdata-sections"),
    "arduino": ("-std=gnu++17", "-Os", "-fno-exceptions", "-fno-rtti",
                "-ffunction-sections", "-fdata-sections"),
    "arduino-gnu++11": ("-std=gnu++11", "-Os", "-fno-exceptions"),
    "c++11": ("-std=c++11", "-O2"),
    "fast-math": ("-std=gnu11", "-O2", "-ffast-math"),
    "fast-math-c++": ("-std=gnu++17", "-Os", "-ffast-math"),
}
CPUS = ("cortex-m4f", "cortex-m3")
ROWS = 120
# Inputs that trip quantisers and float paths: signed zeros, subnormals, halves, huge values.
ADVERSARIAL = [0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 0.49999997, 0.5, -0.5, 1.5, -2.5,
               3.4e38, -3.4e38, 1e10, -1e10, 126.49, 127.5, -128.5, 7.0, 16.0]


def _need_tools() -> None:
    missing = [t for t in ("qemu-system-arm", "arm-none-eabi-gcc") if shutil.which(t) is None]
    if missing:
        what = (f"{' and '.join(missing)} (apt-get install qemu-system-arm gcc-arm-none-eabi "
                "libnewlib-arm-none-eabi)")
        skip_or_fail(f"the C export's core checks need {what}")


def _mlp(X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(random_state=0, **kw).fit(X, y)


@pytest.fixture(scope="module")
def cases(classification_data, regression_data, digits_forest):
    """[(case, model, rows)]: every conversion path firmware would compile."""
    forest, X_digits = digits_forest
    X_train, _, y_train, _ = classification_data["digits"]
    X_rows = X_digits[:ROWS]
    rng = np.random.default_rng(0)
    X_adv = np.vstack([X_rows[:80], rng.choice(ADVERSARIAL, (40, X_rows.shape[1]))])
    trees = eml.convert(forest)
    c16 = eml.compress(forest, leaves_per_class=8, features="int16", X_calib=X_train)
    Xr_train, Xr_test, yr_train, _ = regression_data["friedman"]
    reg = eml.convert(RandomForestRegressor(n_estimators=5, max_leaf_nodes=60,
                                            random_state=0).fit(Xr_train, yr_train))
    scale = X_train.std(axis=0) + 1.0
    f32 = eml.convert(_mlp(X_train / scale, y_train, hidden_layer_sizes=(24, 12),
                           activation="tanh", max_iter=60))
    i8 = eml.convert(_mlp(X_train, y_train, hidden_layer_sizes=(20, 10),
                          activation="logistic", max_iter=60),
                     weights="int8", X_calib=X_train)
    out = [(mcu_case(trees, "rf_table"), trees, X_rows),
           (mcu_case(trees, "rf_inline", "inline"), trees, X_rows),
           (mcu_case(c16, "rf16_inline", "inline"), c16, X_rows),
           (mcu_case(c16, "rf16_table"), c16, X_rows),
           (mcu_case(reg, "reg_table"), reg, Xr_test[:ROWS]),
           (mcu_case(i8, "net_i8"), i8, X_adv),
           (mcu_case(f32, "net_f32"), f32, np.vstack([X_rows[:80] / scale, X_adv[80:]]))]
    out += _detectors_and_neighbours(rng)
    return [(c, m, m.check_X(X)) for c, m, X in out]


def _detectors_and_neighbours(rng):
    """IsolationForest, Gaussian detectors and nearest neighbours (float32 distance weights,
    int16 manhattan) on 8 features, with adversarial rows (the float paths' +-0, subnormals,
    huge values) and exact distance ties (duplicated examples, midpoints)."""
    from sklearn.covariance import EllipticEnvelope
    from sklearn.ensemble import IsolationForest
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KNeighborsClassifier
    X = np.round(np.vstack([rng.normal(0, 10, (150, 8)), rng.normal(20, 5, (50, 8))]))
    X[20:24] = X[0]
    y = (X[:, 0] > 5).astype(int) + (X[:, 1] > 5)
    rows = np.vstack([X[:60], np.round((X[60:80] + X[80:100]) / 2),
                      rng.choice(ADVERSARIAL, (40, 8))])
    det_if = eml.convert(IsolationForest(n_estimators=20, random_state=0).fit(X))
    gm_full = eml.convert(GaussianMixture(3, covariance_type="full", random_state=0).fit(X))
    gm_diag = eml.convert(GaussianMixture(3, covariance_type="diag", random_state=0).fit(X))
    env = eml.convert(EllipticEnvelope(random_state=0).fit(X))
    knn = eml.convert(KNeighborsClassifier(5, weights="distance").fit(X, y))
    knn16 = eml.convert(KNeighborsClassifier(4, metric="manhattan").fit(X, y), features="int16")
    return [(mcu_case(det_if, "iforest"), det_if, rows),
            (mcu_case(gm_full, "gm_full"), gm_full, rows),
            (mcu_case(gm_diag, "gm_diag"), gm_diag, rows),
            (mcu_case(env, "envelope"), env, rows),
            (mcu_case(knn, "knn_f32"), knn, rows),
            (mcu_case(knn16, "knn_i16"), knn16, np.round(rows[:80]))]


def _assert_exact(case, model, X, got, where):
    msg = f"{case.name} on {where}"
    want = model.scores(X)
    if case.st == "float":
        g, w = got.scores.astype("<f4"), want.astype("<f4")
        same = (g.view("<u4") == w.view("<u4")) | (np.isnan(g) & np.isnan(w))
        assert same.all(), f"{msg}: {(~same).sum()} scores differ"
        if case.value == "float":
            np.testing.assert_array_equal(got.values.view("<u4"),
                                          model.values(want).astype("<f4").view("<u4"),
                                          err_msg=msg)
    else:
        np.testing.assert_array_equal(got.scores, want, err_msg=msg)
    if model.kind == "classifier":
        np.testing.assert_array_equal(got.index, model.predict_index(X), err_msg=msg)
    elif case.value == "double":
        np.testing.assert_array_equal(got.values.view("<u8"),
                                      model.predict(X).astype("<f8").view("<u8"), err_msg=msg)
    elif case.st == "int32_t" and case.value == "float":
        np.testing.assert_array_equal(got.values.view("<u4"),
                                      model.values(want).astype("<f4").view("<u4"),
                                      err_msg=msg)


@pytest.mark.parametrize("flag_set", list(FLAG_SETS))
@pytest.mark.parametrize("cpu", CPUS)
def test_c_export_exact_on_core(cases, tmp_path, cpu, flag_set):
    """Every case, every row: predict, scores and values bit for bit the host's, compiled
    warning-free (-Wall -Wextra -Werror -pedantic) with the project's flags."""
    _need_tools()
    flags = FLAG_SETS[flag_set]
    only = [c for c, _, _ in cases]
    elf = build_mcu(only, tmp_path, cpu, flags)
    got = run_mcu(elf, only, {c.name: X for c, _, X in cases}, cpu)
    for case, model, X in cases:
        r = got[case.name]
        assert len(r.index) == len(X), case.name
        _assert_exact(case, model, X, r, f"{cpu} {' '.join(flags)}")
        # The count is an instruction count: a predict is more than a loop iteration.
        assert r.instructions_per_predict > 20, case.name


def test_instruction_count_is_exact(tmp_path):
    """The timer reads instructions: two programs whose predict loops differ by a known
    number of instructions per row differ by exactly that count (x 40-instruction ticks)."""
    _need_tools()
    from emlearn_lab.export.c_mcu import McuCase
    counts = {}
    for nops in (100, 500):
        body = "__asm__ volatile(\"" + "nop\\n\\t" * nops + "\");"
        header = ("#include <stdint.h>\n"
                  "#define NOP_N_FEATURES 1\n#define NOP_N_OUTPUTS 1\n"
                  "__attribute__((noinline)) static int32_t nop_predict(const int16_t *x)\n"
                  f"{{\n    {body}\n    return x[0];\n}}\n"
                  "static inline void nop_scores(const int16_t *x, int32_t *s)\n"
                  "{\n    s[0] = x[0];\n}\n")
        case = McuCase("nop", header, "eml_lab_trees.h", "int16_t", "int32_t", 1, 1, "")
        elf = build_mcu([case], tmp_path / str(nops), "cortex-m3")
        r = run_mcu(elf, [case], {"nop": np.arange(1000, dtype=np.int16)[:, None]},
                    "cortex-m3")["nop"]
        np.testing.assert_array_equal(r.index, np.arange(1000))
        counts[nops] = r.instructions_per_predict
    assert counts[500] - counts[100] == pytest.approx(400, abs=0.1)


@pytest.mark.parametrize("std", ["gnu11", "gnu++17"])
def test_exact_region_is_closed(tmp_path, std):
    """The runtimes switch contraction off for their own code only: the project's code after
    the include keeps its flags (here GCC's default fusion into vfma.f32 on the M4F), while
    the runtime's float loop has none."""
    _need_tools()
    from emlearn_lab.export.c_build import find_compiler
    from emlearn_lab.export.c_export import runtime_header_path
    from emlearn_lab.export.c_mcu import MCUS
    for runtime in ("eml_lab_net.h", "eml_lab_trees.h"):
        (tmp_path / runtime).write_text(runtime_header_path(runtime).read_text())
    (tmp_path / "unit.c").write_text(
        '#include "eml_lab_net.h"\n#include "eml_lab_trees.h"\n'
        "float user_madd(float a, float b, float c);\n"
        "float user_madd(float a, float b, float c)\n{\n    return a * b + c;\n}\n"
        "void run(const eml_lab_net_f32_layer *l, const float *x, float *a, float *b, "
        "float *s);\n"
        "void run(const eml_lab_net_f32_layer *l, const float *x, float *a, float *b, "
        "float *s)\n{\n    eml_lab_net_run_f32(l, 2, x, a, b, s);\n}\n")
    asm = tmp_path / "unit.s"
    subprocess.run([find_compiler("arm-none-eabi-gcc"), *MCUS["cortex-m4f"].flags,
                    *(("-x", "c++") if "++" in std else ()), f"-std={std}", "-O2",
                    "-Wall", "-Wextra", "-Werror", "-pedantic", "-S", "-o", str(asm),
                    str(tmp_path / "unit.c")], check=True)
    functions = {}
    for block in asm.read_text().split("\t.type\t")[1:]:
        functions[block.split(",", 1)[0].split("(")[0].strip()] = block
    user = next(b for n, b in functions.items() if "user_madd" in n)
    assert "vfma.f32" in user
    assert not any("vfma" in b or "vfnma" in b for n, b in functions.items()
                   if "user_madd" not in n)
