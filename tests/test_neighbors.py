"""Nearest neighbours on the host: conversion, the exact reference against an independent
one-operation-at-a-time float32 / integer implementation, agreement with scikit-learn, the
examples file, learning's checks and the board estimate."""
import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

import emlearn_lab as eml
from emlearn_lab.exceptions import InputError, ModelFileError, UnsupportedModelError
from emlearn_lab.neighbors import KNNModel
from emlearn_lab.neighbors.exact import INT32_MAX, int16_bound
from emlearn_lab.neighbors.knnfile import HEADER_BYTES, file_bytes, parse, store_bytes, to_bytes
from emlearn_lab.neighbors.learning import check_examples
from emlearn_lab.protocol import is_model
from emlearn_lab.runtime.build import Target

F = np.float32


def _slow_scores(model, x):
    """One row, one operation at a time with numpy scalars: the definition in exact.py."""
    with np.errstate(over="ignore"):
        return _slow(model, x)


def _slow(model, x):
    E, labels = model.examples()
    dist = []
    for e in E:
        if model.features == "float32":
            acc = F(0)
            for a, b in zip(x, e):
                d = F(a) - F(b)
                acc = F(acc + (d * d if model.metric == "euclidean" else abs(d)))
        else:
            acc = sum(int(a - int(b)) ** 2 if model.metric == "euclidean" else abs(int(a) - int(b))
                      for a, b in zip(x, e))
            assert acc <= INT32_MAX
        dist.append(acc)
    order = sorted(range(len(E)), key=lambda i: (dist[i], i))[:model.n_neighbors]
    w = None
    if model.weights == "distance":
        s = [F(dist[i]) for i in order]
        if model.metric == "euclidean":
            s = [F(np.sqrt(v)) for v in s]
        with np.errstate(divide="ignore", over="ignore"):
            w = [F(np.inf) if v == 0 else F(F(1) / v) for v in s]
        if any(np.isinf(v) for v in w):
            w = [F(1) if np.isinf(v) else F(0) for v in w]
        elif all(v == 0 for v in w):
            w = [F(1)] * len(w)
    if model.kind == "classifier":
        votes = [0 if w is None else F(0)] * model.n_outputs
        for j, i in enumerate(order):
            c = labels[i]
            votes[c] = votes[c] + (1 if w is None else w[j])
        return np.array(votes)
    num, den = F(0), F(0)
    with np.errstate(all="ignore"):
        for j, i in enumerate(order):
            num = F(num + (labels[i] if w is None else F(w[j] * labels[i])))
            den = F(den + (0 if w is None else w[j]))
        return np.array([F(num / (F(len(order)) if w is None else den))])


def _adversarial(X, rng, n=40, integer=False):
    """Rows of X, exact duplicates of examples, their midpoints (ties in distance), huge and
    tiny values."""
    rows = [X[rng.integers(len(X), size=n // 4)]]
    a, b = X[rng.integers(len(X), size=n // 4)], X[rng.integers(len(X), size=n // 4)]
    rows.append(np.round((a + b) / 2) if integer else (a + b) / 2)
    if not integer:
        special = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-38, 3.4e38, -3.4e38, 1e19, -1e19])
        rows.append(rng.choice(special, size=(n // 4, X.shape[1])))
    return np.vstack(rows)


def _data(kind, rng, n=60, f=5, dup=True):
    X = rng.integers(-4, 5, (n, f)).astype(float)
    if dup:
        X[n // 2:] = X[:n - n // 2]           # duplicate examples
    y = rng.integers(0, 3, n) if kind == "classifier" else rng.normal(size=n) * 10
    return X, y


CASES = [(kind, metric, weights, features)
         for kind in ("classifier", "regressor") for metric in ("euclidean", "manhattan")
         for weights in ("uniform", "distance") for features in ("float32", "int16")]


@pytest.mark.parametrize("kind,metric,weights,features", CASES)
def test_reference_equals_slow_definition(kind, metric, weights, features):
    rng = np.random.default_rng(hash((kind, metric, weights, features)) % 2**32)
    X, y = _data(kind, rng)
    cls = KNeighborsClassifier if kind == "classifier" else KNeighborsRegressor
    est = cls(n_neighbors=5, metric=metric, weights=weights).fit(X, y)
    model = eml.convert(est, features=features)
    assert is_model(model) and isinstance(model, KNNModel)
    Q = _adversarial(X, rng, integer=features == "int16")
    if features == "float32":
        Q = np.vstack([Q, X * 0.37 + 0.1])
    S = model.scores(Q)
    assert S.dtype == (np.int64 if kind == "classifier" and weights == "uniform"
                       else np.float32)
    for q, s in zip(model.check_X(Q), S):
        slow = _slow_scores(model, q)
        np.testing.assert_array_equal(s.astype(slow.dtype).view(np.uint8),
                                      slow.view(np.uint8)) if kind == "classifier" else \
            np.testing.assert_array_equal(s, slow)


def test_zero_distance_neighbours_take_all_the_weight():
    X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    y = np.array([0, 1, 2, 2, 2])
    est = KNeighborsClassifier(4, weights="distance").fit(X, y)
    model = eml.convert(est)
    np.testing.assert_array_equal(model.scores([[0.0, 0.0]]), [[1.0, 1.0, 0.0]])
    assert model.predict([[0.0, 0.0]])[0] == est.predict([[0.0, 0.0]])[0] == 0
    reg = eml.convert(KNeighborsRegressor(3, weights="distance").fit(X, [1.0, 3.0, 7, 7, 7]))
    np.testing.assert_array_equal(reg.predict([[0.0, 0.0]]), [2.0])
    # Every distance overflowed float32: the neighbours weigh alike.
    far = eml.convert(KNeighborsClassifier(2, weights="distance").fit([[3e38], [-3e38]], [0, 1]))
    np.testing.assert_array_equal(far.scores([[-3.4e38], [3.4e38]])[:, 0], [1.0, 1.0])


def _sk_figures():
    """Agreement with scikit-learn's predict on float32 rows: iris, digits, random rows with
    duplicate examples (exact ties, where scikit-learn's neighbour order is undefined)."""
    rng = np.random.default_rng(0)
    Xr = rng.integers(0, 4, (300, 3)).astype(float)
    yr = rng.integers(0, 3, 300)
    data = {"iris": load_iris(return_X_y=True), "digits": load_digits(return_X_y=True),
            "random-dups": (Xr, yr)}
    out = {}
    for name, (X, y) in data.items():
        for weights in ("uniform", "distance"):
            for p in (1, 2):
                est = KNeighborsClassifier(5, weights=weights, p=p).fit(X[::2], y[::2])
                out[name, weights, p] = eml.convert(est).compare(est, X[1::2])[
                    "predict_agreement"]
    return out


def test_agreement_with_scikit_learn():
    figures = _sk_figures()
    for (name, weights, p), agree in figures.items():
        floor = 0.98 if name != "random-dups" else 0.5
        assert agree >= floor, (name, weights, p, agree)
    # Without ties (distance weights on real-valued data) they agree on every row.
    assert figures["iris", "distance", 2] == 1.0


def test_regressor_compare():
    X, y = load_digits(return_X_y=True)
    for weights in ("uniform", "distance"):
        est = KNeighborsRegressor(4, weights=weights).fit(X[::2], y[::2])
        cmp = eml.convert(est).compare(est, X[1::2])
        assert cmp["predict_agreement"] > 0.99, cmp      # the rest: ties in distance


@pytest.mark.parametrize("kw,nearest", [
    ({"metric": "chebyshev"}, "metric='euclidean'"), ({"p": 3}, "metric='euclidean'"),
    ({"weights": lambda d: d}, "weights='distance'"), ({"metric": "cosine"}, "'manhattan'")])
def test_unsupported_settings_name_the_nearest(kw, nearest):
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(UnsupportedModelError, match="KNeighborsClassifier") as e:
        eml.convert(KNeighborsClassifier(3, **kw).fit(X, np.arange(20) % 2))
    assert nearest in str(e.value)
    with pytest.raises(UnsupportedModelError, match="multi-output"):
        eml.convert(KNeighborsRegressor(3).fit(X, np.c_[X[:, 0], X[:, 1]]))
    with pytest.raises(UnsupportedModelError, match="KNeighborsClassifier"):
        from sklearn.neighbors import RadiusNeighborsClassifier
        eml.convert(RadiusNeighborsClassifier().fit(X, np.arange(20) % 2))


@pytest.mark.parametrize("n_features", [1, 2, 3, 64, 1000, 32767])
def test_int16_bound_keeps_distances_in_int32(n_features):
    for metric in ("euclidean", "manhattan"):
        L = int16_bound(metric, n_features)
        worst = n_features * ((2 * L) ** 2 if metric == "euclidean" else 2 * L)
        assert 0 < L <= 32767 and worst <= INT32_MAX
        bigger = n_features * ((2 * L + 2) ** 2 if metric == "euclidean" else 2 * L + 2)
        assert L == 32767 or bigger > INT32_MAX


def test_int16_limits_are_refused_with_the_remedy():
    X = np.array([[30000.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    with pytest.raises(InputError, match="metric='manhattan'"):
        eml.convert(KNeighborsClassifier(1).fit(X, [0, 1, 1]), features="int16")
    model = eml.convert(KNeighborsClassifier(1, p=1).fit(X, [0, 1, 1]), features="int16")
    assert model.max_abs == 32767
    small = eml.convert(KNeighborsClassifier(1).fit(X[1:], [1, 1]), features="int16")
    with pytest.raises(InputError, match=r"\[-16383, 16383\]"):
        small.check_X([[20000, 0]])
    with pytest.raises(InputError, match="whole numbers"):
        small.check_X([[0.5, 0]])


def test_examples_file_round_trip_and_corruption():
    rng = np.random.default_rng(1)
    X, y = _data("classifier", rng, dup=False)
    model = eml.convert(KNeighborsClassifier(3).fit(X, y))
    data = to_bytes(model)
    assert len(data) == file_bytes(model, len(X)) == model.size_bytes
    Xb, yb = parse(model, data)
    np.testing.assert_array_equal(Xb, model.X)
    np.testing.assert_array_equal(yb, model.y)
    assert len(store_bytes(model)) == HEADER_BYTES
    with pytest.raises(ModelFileError):
        parse(model, data[:-4])
    with pytest.raises(ModelFileError, match="another model"):
        parse(model, data[:6] + b"\x01" + data[7:])
    bad = bytearray(data)
    bad[-2:] = b"\x09\x00"                       # a class index past the classes
    with pytest.raises(ModelFileError, match="class index"):
        parse(model, bytes(bad))


def test_learning_checks_and_mirror():
    rng = np.random.default_rng(2)
    X, y = _data("classifier", rng, dup=False)
    model = eml.convert(KNeighborsClassifier(1).fit(X, np.array(["a", "b", "c"])[y]))
    model.capacity = 2
    with pytest.raises(InputError, match="not one of the model's classes"):
        check_examples(model, X[:1], ["z"])
    with pytest.raises(InputError, match="one target per row"):
        check_examples(model, X[:2], ["a"])
    with pytest.raises(InputError, match="capacity 2"):
        check_examples(model, X[:3], ["a", "b", "c"])
    with pytest.raises(InputError, match="NaN"):
        check_examples(model, [[np.nan] * 5], ["a"])
    Xl, yl = check_examples(model, [9, 9, 9, 9, 9], "c")
    model.learned_X, model.learned_y = Xl, yl
    assert model.predict([[9, 9, 9, 9, 9]])[0] == "c"
    assert "1 learned" in repr(model)
    model.capacity = 0
    with pytest.raises(InputError, match="at least"):
        model.device_plan("auto", Target(6, 3, None), "m", 10**6)


def test_board_estimate():
    from emlearn_lab.board_fit.cores import emulated_board
    rng = np.random.default_rng(3)
    X, y = _data("classifier", rng, n=40, f=4, dup=False)
    for features in ("float32", "int16"):
        model = eml.convert(KNeighborsClassifier(3, weights="distance").fit(X, y),
                            features=features)
        model.capacity = 10
        est = eml.estimate(model, emulated_board("cortex-m3"))
        files = dict(est.files)
        assert files["model.knn"] == model.size_bytes
        assert files["model.knns"] == files["model.knns.tmp"] == file_bytes(model, 10)
        assert est.flash_bytes == sum(files.values())
        item = 4 if features == "float32" else 2
        assert est.heap.buffer_bytes >= 50 * 4 * item
        assert est.latency is not None and est.latency.instructions > 0
        assert est.fits
        assert eml.estimate(model, "esp32-devkitc").latency is None


def test_summed_terms_counts_the_early_stop():
    from emlearn_lab.neighbors.exact import summed_terms
    rng = np.random.default_rng(4)
    E = rng.integers(-5, 6, (40, 6)).astype(np.float32)
    X = rng.integers(-5, 6, (7, 6)).astype(np.float32)
    full = summed_terms(X, E, "euclidean", 40)          # never full before the last example
    np.testing.assert_array_equal(full, 40 * 6)
    some = summed_terms(X, E, "manhattan", 3)
    assert np.all(some < 40 * 6) and np.all(some >= 3 * 6 + 37)
    # Examples ever nearer the row: each enters the k best, no sum stops early.
    far = np.arange(40, 0, -1, dtype=np.int16)[:, None] * np.ones((1, 6), dtype=np.int16)
    np.testing.assert_array_equal(summed_terms(np.zeros((1, 6), np.int16), far, "euclidean",
                                               2), [40 * 6])
