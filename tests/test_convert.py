"""Oracle tests of the host reference: it must predict exactly what scikit-learn predicts."""
from dataclasses import replace

import numpy as np
import pytest
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier,
                              RandomForestRegressor)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import emlearn_lab as eml
from emlearn_lab.trees import keys

CLASSIFIERS = {
    "tree": lambda: DecisionTreeClassifier(random_state=0),
    "forest": lambda: RandomForestClassifier(n_estimators=10, random_state=0),
    "forest_leafy": lambda: RandomForestClassifier(n_estimators=7, max_leaf_nodes=100,
                                                   min_samples_leaf=3, random_state=0),
    "extra": lambda: ExtraTreesClassifier(n_estimators=10, random_state=0),
}
REGRESSORS = {
    "tree": lambda: DecisionTreeRegressor(max_depth=8, random_state=0),
    "forest": lambda: RandomForestRegressor(n_estimators=10, random_state=0),
    "extra": lambda: ExtraTreesRegressor(n_estimators=10, random_state=0),
}


@pytest.mark.parametrize("est", CLASSIFIERS)
@pytest.mark.parametrize("data", ["digits", "iris", "breast_cancer", "wine", "tricky"])
def test_classifier_float32_equals_sklearn(classification_data, data, est):
    X_train, X_test, y_train, _ = classification_data[data]
    clf = CLASSIFIERS[est]().fit(X_train, y_train)
    model = eml.convert(clf)
    for X in (X_test, X_train):
        np.testing.assert_array_equal(model.predict(X), clf.predict(X.astype(np.float32)))
    proba = clf.predict_proba(X_test.astype(np.float32))
    np.testing.assert_allclose(model.predict_proba(X_test), proba, atol=1e-6)


@pytest.mark.parametrize("est", REGRESSORS)
@pytest.mark.parametrize("data", ["diabetes", "friedman"])
def test_regressor_float32_matches_sklearn(regression_data, data, est):
    X_train, X_test, y_train, _ = regression_data[data]
    reg = REGRESSORS[est]().fit(X_train, y_train)
    model = eml.convert(reg)
    expected = reg.predict(X_test.astype(np.float32))
    # Leaves are fixed point with 2**leaf_shift steps: the error bound is half a step per tree.
    step = 2.0 ** -model.leaf_shift
    np.testing.assert_allclose(model.predict(X_test), expected, rtol=0, atol=step)
    # ... and the same leaf is reached in every tree (the tree walk itself is exact).
    np.testing.assert_array_equal(
        np.array([t.apply(X_test.astype(np.float32)) for t in _estimators(reg)]).T.shape,
        model.apply(X_test).shape)


def _estimators(est):
    return getattr(est, "estimators_", [est])


def test_int16_features_exact_for_integer_inputs(classification_data):
    X_train, X_test, y_train, _ = classification_data["digits"]
    Xi_train = (X_train * 1000 - 8000).astype(np.int16)   # negative and positive integers
    Xi_test = (X_test * 1000 - 8000).astype(np.int16)
    clf = RandomForestClassifier(n_estimators=10, random_state=0).fit(Xi_train, y_train)
    model = eml.convert(clf, features="int16")
    np.testing.assert_array_equal(model.predict(Xi_test), clf.predict(Xi_test))
    assert model.threshold.max() <= 65535


def test_int16_thresholds_outside_range_are_pruned():
    rng = np.random.default_rng(0)
    X = rng.integers(-32768, 32768, size=(400, 3)).astype(float)
    X[:200, 0] = -40000  # below int16: a split there always sends int16 inputs right
    y = (X[:, 0] < -35000).astype(int) + (X[:, 1] > 0)
    clf = DecisionTreeClassifier(random_state=0).fit(X, y)
    model = eml.convert(clf, features="int16")
    Xi = np.clip(X, -32768, 32767).astype(np.int16)
    np.testing.assert_array_equal(model.predict(Xi), clf.predict(Xi.astype(np.float32)))


def test_float32_threshold_rounding_is_exact_where_naive_rounding_fails():
    t = np.float64(np.float32(0.1)) + 1e-12            # rounds up to float32(0.1)+ulp? no:
    t32 = keys.float32_threshold(np.array([t]))[0]
    assert np.float64(t32) <= t
    x = np.nextafter(t32, np.float32(np.inf))          # the next float32 is above t
    assert not (np.float64(x) <= t)
    # A threshold just below a float32 value: nearest rounding would go up and send x left.
    x = np.float32(0.3)
    t = np.float64(x) - 1e-12
    assert np.float32(t) == x                          # naive rounding lands on x ...
    assert keys.float32_threshold(np.array([t]))[0] < x  # ... the exact one stays below


def test_keys_preserve_float_order():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal(2000).astype(np.float32) *
                        np.float32(10.0) ** rng.integers(-38, 38, 2000).astype(np.float32),
                        np.array([0.0, -0.0, np.inf, -np.inf, 1e-45, -1e-45], np.float32)])
    t = keys.float32_threshold(rng.standard_normal(300) * 100)
    k, kt = keys.float32_keys(x), keys.float32_keys(t)
    assert (k[:, None] <= kt[None, :]).tolist() == (x[:, None] <= t[None, :]).tolist()


def test_large_forest_uses_wide_indices(large_forest):
    clf, X_test = large_forest
    model = eml.convert(clf)
    assert model.n_nodes + model.n_leaves > 65535
    np.testing.assert_array_equal(model.predict(X_test), clf.predict(X_test.astype(np.float32)))
    from emlearn_lab.trees.modelfile import from_bytes, to_bytes
    back = from_bytes(to_bytes(model), classes=model.classes_)
    np.testing.assert_array_equal(back.predict(X_test), model.predict(X_test))


def test_children_follow_parents(digits_forest):
    model = eml.convert(digits_forest[0])
    idx = np.arange(model.n_nodes)
    assert (model.left > idx).all() and (model.right > idx).all()


# -- errors ----------------------------------------------------------------------------------
def test_unfitted_estimator():
    with pytest.raises(eml.NotFittedError, match="not fitted yet"):
        eml.convert(RandomForestClassifier())


def test_unsupported_estimator():
    from sklearn.linear_model import LogisticRegression
    with pytest.raises(eml.UnsupportedModelError, match="cannot convert LogisticRegression"):
        eml.convert(LogisticRegression())


def test_multi_output_rejected():
    X = np.random.default_rng(0).standard_normal((50, 3))
    reg = DecisionTreeRegressor().fit(X, np.column_stack([X[:, 0], X[:, 1]]))
    with pytest.raises(eml.UnsupportedModelError, match="multi-output"):
        eml.convert(reg)


def test_nan_and_shape_errors(digits_forest):
    model = eml.convert(digits_forest[0])
    X = digits_forest[1][:5].copy()
    X[3, 7] = np.nan
    with pytest.raises(eml.InputError, match=r"NaN/inf .* row 3, column 7.*SimpleImputer"):
        model.predict(X)
    with pytest.raises(eml.InputError, match=r"expected features of shape \(n_rows, 64\)"):
        model.predict(X[:, :10])
    with pytest.raises(eml.InputError, match="real numbers"):
        model.predict(np.array([["a"] * 64]))
    X[3, 7] = 1e39
    with pytest.raises(eml.InputError, match=r"1e\+39 at row 3, column 7 is beyond the float32"):
        model.predict(X)


def test_int16_model_rejects_fractions():
    X = np.arange(40, dtype=float).reshape(20, 2)
    model = eml.convert(DecisionTreeClassifier().fit(X, np.arange(20) % 2), features="int16")
    with pytest.raises(eml.InputError, match="whole numbers"):
        model.predict(X + 0.5)
    with pytest.raises(eml.InputError, match=r"\[-32768, 32767\]"):
        model.predict(X * 1e5)


@pytest.mark.parametrize("layout", ["tiny", "small", "large"])
def test_model_file_roundtrip_every_layout(digits_forest, layout):
    from emlearn_lab.trees.modelfile import from_bytes, section_offsets, to_bytes
    clf, X_test = digits_forest
    model = eml.convert(clf)
    data = to_bytes(model, layout=layout)
    back = from_bytes(data, classes=model.classes_)
    np.testing.assert_array_equal(back.scores(X_test), model.scores(X_test))
    at = section_offsets(data)
    per_node = (at["leaf_start"] - at["feature"]) / model.n_nodes
    assert per_node <= {"tiny": 7.01, "small": 9.01, "large": 14.01}[layout]


def test_smallest_layout_is_chosen(digits_forest, large_forest):
    from emlearn_lab.trees.modelfile import to_bytes
    model = eml.convert(digits_forest[0])
    sizes = {layout: len(to_bytes(model, layout=layout)) for layout in ("tiny", "small", "large")}
    sizes.update({f"packed {w}": len(to_bytes(model, layout="packed", word_bytes=w, table=t))
                  for w, t in ((4, True),)})
    # A converted model writes the smallest split-node file (the faster walker); without
    # that choice (a compressed model's default), the smallest file: packed nodes here.
    assert model.file_layout == "split" and len(to_bytes(model)) == sizes["tiny"]
    assert len(to_bytes(replace(model, file_layout=None))) == min(sizes.values()) \
        == sizes["packed 4"] < sizes["tiny"]
    with pytest.raises(eml.ModelFileError,
                       match="does not fit the 'packed' layout: its fields need 2. bits"):
        to_bytes(model, layout="packed", word_bytes=2)
    with pytest.raises(eml.ModelFileError, match="does not fit the 'tiny' layout"):
        to_bytes(eml.convert(large_forest[0]), layout="tiny")


def test_header_form_is_the_short_one_when_the_counts_fit(digits_forest):
    """Compressed models (dense uint8 leaves) get the 28-byte header, converted ones (leaf
    values up to 2**28) the 40-byte one; either form reads back to the same model, and
    bad flag bits, unknown versions and truncation are refused in one line."""
    from emlearn_lab.trees.modelfile import (FIELDS, SHORT_VERSION, from_bytes, header_fields,
                                             payload_bytes, rewrite_header, to_bytes,
                                             unpack_header)
    clf, X_test = digits_forest
    model, small = eml.convert(clf), eml.compress(clf, leaf_bits=4)
    long_, short = to_bytes(model), to_bytes(small)
    assert (long_[4], short[4]) == (2, SHORT_VERSION)
    assert payload_bytes(long_) == len(long_) - 40 and payload_bytes(short) == len(short) - 28
    as_long = rewrite_header(short, version=2)
    assert len(as_long) == len(short) + 12 and rewrite_header(as_long, version=3) == short
    assert unpack_header(as_long)[2:] == unpack_header(short)[2:]
    for data in (short, as_long):
        np.testing.assert_array_equal(from_bytes(data).scores(X_test), small.scores(X_test))
    # The field table names every field of both forms once (the short one's flags byte
    # holds kind, features and layout).
    assert {f[0] for f in header_fields(2)} == set(FIELDS)
    assert {f[0] for f in header_fields(3)} == set(FIELDS) - {"kind", "features",
                                                              "layout"} | {"flags"}
    for bad, message in ((short[:5] + bytes([short[5] | 0x80]) + short[6:], "layout"),
                         (short[:4] + bytes([4]) + short[5:], "version 2 or 3"),
                         (as_long[:30], "shorter than the 40-byte header"),
                         (short[:27], "shorter than the 28-byte header")):
        with pytest.raises(eml.ModelFileError, match=message):
            from_bytes(bad)
