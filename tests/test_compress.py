"""Tree compression: semantics on the host, exactness on the device, the sweep and report."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score

import emlearn_lab as eml
from emlearn_lab.trees.modelfile import from_bytes, rewrite_header, to_bytes
from emlearn_lab.trees.quantise import fit_quantiser


@pytest.fixture(scope="module")
def forest(classification_data):
    X_train, X_test, y_train, y_test = classification_data["breast_cancer"]
    clf = RandomForestClassifier(n_estimators=20, min_samples_leaf=3, random_state=0)
    return clf.fit(X_train, y_train), X_train, X_test, y_test


def _auc(model, X, y):
    p = model.predict_proba(X)
    return roc_auc_score(y, p[:, 1] if p.shape[1] == 2 else p, multi_class="ovo",
                         average="weighted")


# -- the quantiser ----------------------------------------------------------------------------

def _adversarial_floats(n=4000, seed=0):
    """Random float32 bit patterns (every exponent, subnormals), signed zeros, infinities,
    values at and around powers of two and integers."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32).copy()
    x = x[np.isfinite(x)]
    special = np.array([0.0, -0.0, np.inf, -np.inf, 1e-45, -1e-45, 1.0, -1.0, 0.5, -0.5,
                        2.0**20, -(2.0**20), 3.4e38, -3.4e38, 1 - 2**-24, -(1 - 2**-24)],
                       dtype=np.float32)
    grid = (np.arange(-400, 400) / 8.0).astype(np.float32)
    return np.concatenate([special, grid, np.nextafter(grid, np.float32(1)), x,
                           rng.standard_normal(500).astype(np.float32) * 30])


def test_quantiser_is_floor_of_power_of_two_scale():
    x = _adversarial_floats()
    X = np.column_stack([x, x, x])
    q = fit_quantiser(np.column_stack([np.linspace(-3, 5, 50), np.linspace(0, 1e-3, 50),
                                       np.linspace(1e6, 1e6 + 10, 50)]), quantile=0.0)
    got = q.transform(X)
    with np.errstate(over="ignore", invalid="ignore"):
        want = np.floor(X.astype(np.float64) * 2.0 ** q.shift) - q.offset
    np.testing.assert_array_equal(got, np.clip(np.nan_to_num(want, posinf=1e9, neginf=-1e9),
                                               -32768, 32767))
    lo, hi = q.range()
    assert lo[0] <= -3 and hi[0] >= 5 and (hi[0] - lo[0]) <= 2 * 8   # at most 1 bit wasted
    assert np.all(np.abs(q.offset) <= 2**29)


def test_learned_int16_thresholds_as_float32_keys(forest):
    """The machine-code inline form (trees/inline_thumb.py) never quantises a row: each node's
    int16 test q(x) <= t becomes key(x) <= K on the float32's key. Both must agree on every
    float32, NaNs of both signs (the device saturates them by sign) and values one ulp
    around each quantiser step included."""
    from emlearn_lab.trees.inline_thumb import threshold_keys
    from emlearn_lab.trees.keys import float32_keys
    clf, X_train, _, _ = forest
    model = eml.compress(clf, features="int16", X_calib=X_train)
    K = threshold_keys(model)
    f, t = model.feature.astype(int), model.threshold.astype(np.int64) - 32768
    quant = model.quantiser
    x = _adversarial_floats()
    steps = ((t[:, None] + quant.offset[f][:, None] + np.arange(-1, 3)[None, :])
             * 2.0 ** -quant.shift[f][:, None]).astype(np.float32)
    for node in range(0, model.n_nodes, max(1, model.n_nodes // 60)):
        v = np.concatenate([x, steps[node], np.nextafter(steps[node], np.float32(np.inf)),
                            np.nextafter(steps[node], np.float32(-np.inf)),
                            np.array([np.nan, -np.nan], np.float32)])
        X = np.zeros((len(v), model.n_features), np.float32)
        X[:, f[node]] = v
        q = quant.transform(np.where(np.isnan(X), np.copysign(np.inf, X), X))[:, f[node]]
        np.testing.assert_array_equal(float32_keys(v) <= K[node], q <= t[node])


def test_device_threshold_key_equals_the_bisection():
    """The loadable Thumb walkers get each node's float32 key from emlab_common.threshold_key
    (closed form, in 16-bit halves, computed on the device at load): equal to the host's
    bisection over the 2**32 keys for the quantisers' extremes (offsets ±2**29, shifts ±120,
    thresholds at both ends) and random ones."""
    from emlearn_lab.device_src.emlab_common import threshold_key
    from emlearn_lab.trees.inline_thumb import threshold_keys
    from emlearn_lab.trees.quantise import FeatureQuantiser
    rng = np.random.default_rng(3)
    grid = [(t, o, s) for t in (0, 1, 32766, 32767, 32768, 65534, 65535)
            for o in (0, 1, -1, 2**29, -2**29, 32767, -32768)
            for s in (0, 1, -1, 23, -23, 24, 120, -120)]
    grid += [(int(rng.integers(65536)), int(rng.integers(-2**29, 2**29 + 1)),
              int(rng.integers(-120, 121))) for _ in range(400)]
    t, o, s = (np.array(c, np.int64) for c in zip(*grid))
    # One single-split "model" per case: the host's bisection reads these fields only.
    node = type("Nodes", (), {"quantiser": FeatureQuantiser(s, o), "threshold": t,
                              "feature": np.arange(len(t))})
    want = threshold_keys(node)
    got = [(hi << 16) | lo for hi, lo in (threshold_key(*c) for c in grid)]
    np.testing.assert_array_equal(got, want)


def test_quantiser_rejects_bad_calibration():
    with pytest.raises(eml.InputError, match="NaN"):
        fit_quantiser(np.array([[1.0], [np.nan]]))
    with pytest.raises(eml.InputError, match="2-D"):
        fit_quantiser(np.zeros(5))


@pytest.mark.device
@pytest.mark.parametrize("module", ["emlab_quant", "emltrees_pure"])
def test_device_quantiser_equals_host_bit_for_bit(device, module):
    """The viper and the bytecode quantiser on the device against the host, on adversarial
    float32 values (subnormals, ±0, ±inf, every exponent) and several scales."""
    from emlearn_lab.runtime.build import compile_source
    from emlearn_lab.device_src import device_source
    x = _adversarial_floats(1500)
    with np.errstate(over="ignore"):
        X = np.column_stack([x, -x, x * np.float32(3), x])
    q = fit_quantiser(np.column_stack([np.linspace(-3, 5, 50), np.linspace(0, 1e-30, 50),
                                       np.linspace(1e6, 1e6 + 10, 50),
                                       np.linspace(-1e30, 1e30, 50)]))
    native = module == "emlab_quant"
    device.write_file(module + ".mpy", compile_source(device_source(module + ".py"),
                                                      module + ".py", device.target, native))
    device.write_file("qx.bin", X.astype("<f4").tobytes())
    device.write_file("qp.bin", q.to_bytes())
    device.exec(
        f"import array\nfrom {module} import quantise\n"
        "p = bytearray(open('qp.bin', 'rb').read())\nx = array.array('f', [0.0] * 4)\n"
        "o = array.array('h', [0] * 4)\nout = open('qy.bin', 'wb')\n"
        "with open('qx.bin', 'rb') as f:\n"
        "    while f.readinto(x) == 16:\n"
        "        quantise(x, o, p, 4)\n"
        "        out.write(o)\n"
        "out.close()", timeout_s=120)
    got = np.frombuffer(device.read_file("qy.bin"), "<i2").reshape(-1, 4)
    np.testing.assert_array_equal(got, q.transform(X.astype(np.float32)))


# -- compression on the host ------------------------------------------------------------------

def test_hard_votes_are_majority_voting(forest):
    clf, _, X_test, _ = forest
    small = eml.compress(clf, leaf_bits=0)
    votes = np.stack([t.predict_proba(X_test.astype(np.float32)).argmax(axis=1)
                      for t in clf.estimators_], axis=1)
    counts = np.stack([(votes == c).sum(axis=1) for c in range(2)], axis=1)
    np.testing.assert_array_equal(small.scores(X_test), counts)
    np.testing.assert_array_equal(small.predict(X_test), clf.classes_[counts.argmax(axis=1)])
    assert small.n_leaves == 2


def test_full_precision_compression_keeps_every_score(forest):
    """No clustering, no quantisation: only exact de-dup and pruning of identical subtrees,
    so every integer score is kept, with fewer nodes."""
    clf, _, X_test, _ = forest
    base = eml.convert(clf)
    same = eml.compress(base, leaf_bits=None)
    np.testing.assert_array_equal(same.scores(X_test), base.scores(X_test))
    assert same.n_nodes <= base.n_nodes


def test_leaf_clustering_is_small_and_close(classification_data):
    X_train, X_test, y_train, y_test = classification_data["digits"]
    clf = RandomForestClassifier(n_estimators=10, min_samples_leaf=2, random_state=0)
    clf.fit(X_train, y_train)
    base = eml.convert(clf)
    small = eml.compress(clf, leaves_per_class=4, leaf_bits=4, features="int16",
                         X_calib=X_train)
    assert small.n_leaves <= 4 * 10
    assert small.size_bytes <= 0.5 * base.size_bytes
    assert _auc(small, X_test, y_test) >= _auc(base, X_test, y_test) - 0.01
    assert small.leaves.max() <= 15
    # Same settings, same model: k-means is seeded.
    again = eml.compress(clf, leaves_per_class=4, leaf_bits=4, features="int16",
                         X_calib=X_train)
    assert to_bytes(again) == to_bytes(small)


def test_int16_features_follow_the_float_thresholds(forest):
    clf, X_train, X_test, _ = forest
    base = eml.convert(clf)
    q = eml.compress(base, leaf_bits=None, features="int16", X_calib=X_train)
    assert q.features == "int16" and q.quantiser is not None
    assert (q.predict(X_test) == base.predict(X_test)).mean() >= 0.99
    # The host takes raw features and quantises them as the device does.
    np.testing.assert_array_equal(q.quantise(X_test), q.quantiser.transform(
        X_test.astype(np.float32)))


def test_regressor_leaves_are_clustered(regression_data):
    X_train, X_test, y_train, y_test = regression_data["diabetes"]
    reg = RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0).fit(X_train,
                                                                                   y_train)
    small = eml.compress(reg, leaves_per_class=16, features="int16", X_calib=X_train)
    assert small.n_leaves <= 16 and small.leaf_bits is None
    err = np.abs(small.predict(X_test) - reg.predict(X_test)).mean()
    assert err < 0.1 * np.abs(y_test - y_test.mean()).mean()


@pytest.mark.parametrize("kwargs,message", [
    ({"leaf_bits": 9}, r"^The 'leaf_bits' parameter of eml\.compress must be an int in the "
                       r"range \[0, 8\] or None\. Got 9 instead\. 0: one vote .*hard voting"),
    ({"leaf_bits": 2.5}, r"^The 'leaf_bits' parameter of eml\.compress must be an int in the "
                         r"range \[0, 8\] or None\. Got 2\.5 instead\."),
    ({"leaves_per_class": 0}, r"^The 'leaves_per_class' parameter of eml\.compress must be an "
                              r"int in the range \[1, inf\) or None\. Got 0 instead\."),
    ({"features": "int8"}, r"^The 'features' parameter of eml\.compress must be 'float32' or "
                           r"'int16'\. Got 'int8' instead\.$"),
    ({"features": "int16"}, r"^The 'X_calib' parameter of eml\.compress must be rows of "
                            r"training features when features='int16'\. Got None instead\. "
                            r".*pass e\.g\. X_calib=X_train"),
])
def test_bad_settings_are_explained(forest, kwargs, message):
    with pytest.raises(eml.InputError, match=message):
        eml.compress(forest[0], **kwargs)


def test_regressor_leaf_bits_and_double_compression_are_explained(forest, regression_data):
    X_train, _, y_train, _ = regression_data["diabetes"]
    reg = RandomForestRegressor(n_estimators=3, max_depth=3).fit(X_train, y_train)
    with pytest.raises(eml.InputError, match=r"^The 'leaf_bits' parameter of eml\.compress "
                                             r"must be None for a regressor\. Got 4 instead\. "
                                             r"Regression leaves stay 32-bit"):
        eml.compress(reg, leaf_bits=4)
    with pytest.raises(eml.InputError, match="already compressed"):
        eml.compress(eml.compress(forest[0]))


def test_compressed_model_file_roundtrip(forest):
    clf, X_train, X_test, _ = forest
    for kw in ({"leaf_bits": 0}, {"leaves_per_class": 2, "leaf_bits": 3, "features": "int16"}):
        small = eml.compress(clf, X_calib=X_train, **kw)
        back = from_bytes(to_bytes(small), classes=small.classes_)
        np.testing.assert_array_equal(back.scores(X_test), small.scores(X_test))
        assert len(to_bytes(small)) == small.size_bytes


def test_compressed_trees_estimator(forest):
    clf, X_train, X_test, y_test = forest
    est = eml.CompressedTrees(RandomForestClassifier(n_estimators=5, random_state=0),
                              leaves_per_class=2, leaf_bits=4, features="int16")
    scores = cross_val_score(est, X_train, forest[0].predict(X_train), cv=3)
    assert scores.mean() > 0.8
    fitted = clone(est).fit(X_train, clf.predict(X_train))
    assert fitted.size_bytes == fitted.model_.size_bytes
    assert fitted.predict_proba(X_test).shape == (len(X_test), 2)
    with pytest.raises(eml.InputError, match=r"The 'leaf_bits' parameter .* Got 12 instead"):
        clone(est).set_params(leaf_bits=12).fit(X_train, clf.predict(X_train))


# -- the sweep --------------------------------------------------------------------------------

def test_sweep_table_plot_and_best(forest):
    import matplotlib
    matplotlib.use("Agg")
    clf, X_train, X_test, y_test = forest
    sweep = eml.compression_sweep(clf, X_test, y_test, leaves_per_class=(None, 4, 1),
                                  leaf_bits=(8, 0), features=("float32", "int16"), n_jobs=2)
    assert len(sweep.rows) == 12
    for row, model in zip(sweep.rows, sweep.models):
        assert row["bytes"] == model.size_bytes
        assert row["drop"] == pytest.approx(sweep.baseline["metric"] - _auc(model, X_test,
                                                                             y_test))
    best = sweep.best(max_drop=0.01)
    ok = [r for r in sweep.rows if r["drop"] <= 0.01]
    assert best.size_bytes == min(r["bytes"] for r in ok)
    assert "pareto" in str(sweep.table()) and "<table>" in sweep.table()._repr_html_()
    fig = sweep.plot()
    assert fig.axes[0].get_xscale() == "log"
    assert_sweep_plot_readable(sweep, fig)
    with pytest.raises(eml.InputError, match="no setting is within"):
        sweep.best(max_drop=0.01, budget_bytes=10)
    with pytest.raises(eml.InputError, match=r"^The 'metric' parameter of "
                                             r"eml\.compression_sweep must be one of "
                                             r"'roc_auc_ovo_weighted', .* or a callable "
                                             r"metric\(model, X, y\) -> float\. Got 'auc' "):
        eml.compression_sweep(clf, X_test, y_test, metric="auc")


def assert_sweep_plot_readable(sweep, fig, max_drop: float = 0.01) -> None:
    """The points fill most of the height (the max_drop line far below them does not squash
    them into a strip), the log axis has more than two labelled ticks, and the plot is a
    Figure (an Axes would print a stray <Axes: ...> line in a notebook)."""
    from matplotlib.figure import Figure
    assert isinstance(fig, Figure) and hasattr(fig, "_repr_png_")
    ax = fig.axes[0]
    metrics = [r["metric"] for r in sweep.rows] + [sweep.baseline["metric"]]
    bottom, top = ax.get_ylim()
    assert (max(metrics) - min(metrics)) / (top - bottom) > 0.5
    assert bottom <= min(metrics) and top >= max(metrics)
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert len(ticks) > 2, ticks
    limit = sweep.baseline["metric"] - max_drop
    labels = ax.get_legend_handles_labels()[1]
    if limit >= bottom:
        assert any(label.startswith("max_drop") for label in labels)
    else:
        assert any("max_drop line" in t.get_text() for t in ax.texts)


def test_sweep_plot_keeps_a_far_limit_off_the_axis(forest):
    """Settings all within 0.001 of each other, the max_drop line 0.01 below: the axis keeps
    to the settings and a note says where the line is (it squashed them into the top 5%)."""
    clf, X_train, X_test, y_test = forest
    sweep = eml.compression_sweep(clf, X_test, y_test, leaves_per_class=(None, 4, 2),
                                  leaf_bits=(8,), features=("float32",), n_jobs=1)
    metrics = [r["metric"] for r in sweep.rows] + [sweep.baseline["metric"]]
    spread = max(metrics) - min(metrics)
    assert spread > 0
    max_drop = sweep.baseline["metric"] - min(metrics) + 10 * spread
    fig = sweep.plot(max_drop=max_drop)
    assert_sweep_plot_readable(sweep, fig, max_drop)
    assert any("below every setting" in t.get_text() for t in fig.axes[0].texts)


def test_sweep_on_a_dask_cluster(forest):
    """Users who outgrow one machine: the same sweep through joblib's dask backend."""
    pytest.importorskip("dask.distributed", reason="dask[distributed] is a test dependency")
    import joblib
    from dask.distributed import Client, LocalCluster
    clf, _, X_test, y_test = forest
    local = eml.compression_sweep(clf, X_test, y_test, leaves_per_class=(4, 1),
                                  leaf_bits=(4, 0), features=("float32",))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        with joblib.parallel_config(backend="dask"):
            remote = eml.compression_sweep(clf, X_test, y_test, leaves_per_class=(4, 1),
                                           leaf_bits=(4, 0), features=("float32",))
        assert len(client.scheduler_info()["workers"]) == 2
    assert remote.rows == local.rows


# -- on the device ----------------------------------------------------------------------------

@pytest.mark.device
@pytest.mark.parametrize("form", ["loadable", "inline"])
@pytest.mark.parametrize("setting", [
    {"leaf_bits": 0},
    {"leaves_per_class": 4, "leaf_bits": 4, "features": "int16"},
    {"leaves_per_class": 2, "leaf_bits": 8},
    {"leaf_bits": None, "features": "int16"},
], ids=lambda setting: ",".join(f"{k}={v}" for k, v in setting.items()))
def test_compressed_models_agree_on_the_device(device, classification_data, form, setting):
    X_train, X_test, y_train, _ = classification_data["tricky"]
    clf = ExtraTreesClassifier(n_estimators=8, min_samples_leaf=2, random_state=0)
    small = eml.compress(clf.fit(X_train, y_train), X_calib=X_train, **setting)
    report = device.deploy(small, X_test[:300], form=form, repeats=5)
    assert report.agreement == 1.0, report.disagreements[:3]
    assert report.form == form


@pytest.mark.device
def test_compressed_regressor_on_the_device(device, regression_data):
    X_train, X_test, y_train, _ = regression_data["friedman"]
    reg = RandomForestRegressor(n_estimators=6, max_depth=8, random_state=0).fit(X_train,
                                                                                  y_train)
    small = eml.compress(reg, leaves_per_class=32, features="int16", X_calib=X_train)
    for form in ("loadable", "inline"):
        report = device.deploy(small, X_test[:200], form=form, repeats=5)
        assert report.agreement == 1.0
    np.testing.assert_allclose(device.predict(X_test[:20]), small.predict(X_test[:20]))


@pytest.mark.device
def test_device_takes_raw_floats_or_int16(device, forest):
    clf, X_train, X_test, _ = forest
    small = eml.compress(clf, leaves_per_class=2, leaf_bits=4, features="int16",
                         X_calib=X_train)
    device.deploy(small, X_test[:20], form="loadable", repeats=2)
    rows = small.quantise(X_test[:20])
    device.write_file("q16.bin", rows.astype("<i2").tobytes())
    got = device.eval(
        "[_emlab_models['model'].predict(x) for x in [__import__('array').array('h', "
        f"__import__('struct').unpack('<{small.n_features}h', r)) for r in "
        f"[open('q16.bin','rb').read()[i * {2 * small.n_features}:(i + 1) * "
        f"{2 * small.n_features}] for i in range(20)]]]")
    np.testing.assert_array_equal(got, small.predict_index(X_test[:20]))
    with pytest.raises(eml.DeviceRuntimeError, match=r"array.array\('f' or 'h'\)"):
        device.exec("import array\n_emlab_models['model'].predict(array.array('b', [0] * 30))")


@pytest.mark.device
def test_corrupt_compressed_file_raises_on_device(device, forest):
    clf, X_train, X_test, _ = forest
    small = eml.compress(clf, leaf_bits=4)
    device.deploy(small, X_test[:5], form="loadable", repeats=2)
    good = to_bytes(small)
    n_cells = small.leaves.size
    for field, value, message in (("leaf_bits", 9, "leaf_bits byte"),
                                  ("n_cells", n_cells + 2, "dense leaves"),
                                  ("features", 3, "features")):
        device.write_file("bad.eml", rewrite_header(good, **{field: value}),
                          skip_unchanged=False)
        with pytest.raises(eml.DeviceRuntimeError, match=message):
            device.exec("import emltrees\nemltrees.load('bad.eml')")
    assert device.eval("1 + 1") == 2


def test_mostly_constant_feature_keeps_its_split():
    """A feature that is zero in 99.9% of rows: its robust range is one value, so the full
    range is kept and the split on the rare non-zero values survives int16 quantisation."""
    from sklearn.tree import DecisionTreeClassifier
    X = np.zeros((5000, 2))
    X[:4, 0] = 1.0
    X[:, 1] = np.arange(5000) % 7
    y = (X[:, 0] > 0).astype(int)
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    small = eml.compress(tree, leaf_bits=None, features="int16", X_calib=X)
    np.testing.assert_array_equal(small.predict(X), y)
    q = fit_quantiser(X)
    low, high = q.transform(np.float32([[0, 0], [1, 0]]))[:, 0]
    assert low == -32768 and high > low + 30000
