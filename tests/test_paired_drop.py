"""The paired drop's standard error (paired_drop.py) and the sweep's noise-aware pick,
``Sweep.best(max_drop, confidence=...)``."""
from statistics import NormalDist

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

import emlearn_lab as eml
from emlearn_lab import paired_drop
from emlearn_lab.sweep_metrics import metric_fn
from emlearn_lab.exceptions import InputError


class _Columns:
    """A classifier whose probabilities are columns ``cols`` of X (X holds both models')."""

    def __init__(self, cols):
        self.cols, self.classes_ = cols, np.arange(len(cols))

    def predict_proba(self, X):
        return X[:, self.cols]

    def predict(self, X):
        return self.classes_[X[:, self.cols].argmax(axis=1)]


@pytest.fixture(scope="module")
def cancer(classification_data):
    X_train, X_test, y_train, y_test = classification_data["breast_cancer"]
    clf = RandomForestClassifier(n_estimators=30, random_state=0).fit(X_train, y_train)
    return clf, X_train, X_test, y_train, y_test


def test_row_terms_sum_to_the_sweeps_metrics(classification_data, regression_data):
    for name, est in (("digits", RandomForestClassifier(8, random_state=0)),
                      ("breast_cancer", RandomForestClassifier(8, random_state=0)),
                      ("friedman", RandomForestRegressor(8, random_state=0))):
        data = (regression_data if name == "friedman" else classification_data)[name]
        X_train, X_test, y_train, y_test = data
        model = eml.convert(est.fit(X_train, y_train))
        metrics = (("r2", "neg_mean_absolute_error") if name == "friedman" else
                   ("roc_auc_ovo_weighted", "roc_auc_ovr_weighted", "roc_auc", "accuracy",
                    "balanced_accuracy"))
        for metric in metrics:
            value, terms, groups = paired_drop.row_terms(metric, model, X_test, y_test)
            assert value == pytest.approx(metric_fn(metric)(model, X_test, y_test), abs=1e-12)
            assert terms.shape == groups.shape == (len(y_test),)


def test_binary_auc_standard_error_is_delongs():
    rng = np.random.default_rng(0)
    positive = rng.random(40) < 0.4
    a = np.round(rng.random(40) + 0.5 * positive, 1)         # ties, counted half
    b = rng.random(40) + 0.3 * positive

    def placements(s):                                        # DeLong's, pair by pair
        h = ((s[positive][:, None] > s[~positive][None]) +
             0.5 * (s[positive][:, None] == s[~positive][None]))
        return h.mean(axis=1), h.mean(axis=0)
    (a10, a01), (b10, b01) = placements(a), placements(b)
    s10, s01 = np.cov([a10, b10]), np.cov([a01, b01])
    s = s10 / positive.sum() + s01 / (~positive).sum()
    delong = np.sqrt(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    X = np.stack([1 - a, a, 1 - b, b], axis=1)
    y = positive.astype(int)
    _, ta, groups = paired_drop.row_terms("roc_auc", _Columns([0, 1]), X, y)
    _, tb, _ = paired_drop.row_terms("roc_auc", _Columns([2, 3]), X, y)
    assert paired_drop.drop_standard_error(ta, tb, groups) == pytest.approx(delong, rel=1e-12)


@pytest.mark.parametrize("metric", ["roc_auc_ovo_weighted", "roc_auc_ovr_weighted",
                                    "accuracy", "balanced_accuracy"])
def test_standard_error_is_what_chance_does(metric):
    """Two correlated 3-class scorers on many fresh sets of 90 rows: the drop between them
    spreads by what the standard error says, on average."""
    rng = np.random.default_rng(1)
    drops, errors = [], []
    for _ in range(600):
        y = np.repeat(np.arange(3), 30)
        shared = rng.normal(0, 1, (90, 3)) + 1.2 * np.eye(3)[y]
        X = np.hstack([shared + rng.normal(0, 0.4, (90, 3)),
                       0.8 * shared + rng.normal(0, 0.7, (90, 3))])
        va, ta, groups = paired_drop.row_terms(metric, _Columns([0, 1, 2]), X, y)
        vb, tb, _ = paired_drop.row_terms(metric, _Columns([3, 4, 5]), X, y)
        drops.append(va - vb)
        errors.append(paired_drop.drop_standard_error(ta, tb, groups))
    assert np.mean(errors) == pytest.approx(np.std(drops), rel=0.12)


def test_regression_standard_error_is_what_chance_does():
    rng = np.random.default_rng(2)

    class Fixed:
        def __init__(self, col):
            self.col = col

        def predict(self, X):
            return X[:, self.col]

    drops, errors = {"r2": [], "neg_mean_absolute_error": []}, {}
    errors = {k: [] for k in drops}
    for _ in range(600):
        y = rng.normal(0, 1, 60)
        X = np.stack([y + rng.normal(0, 0.5, 60), y + rng.normal(0, 0.6, 60)], axis=1)
        for metric in drops:
            va, ta, groups = paired_drop.row_terms(metric, Fixed(0), X, y)
            vb, tb, _ = paired_drop.row_terms(metric, Fixed(1), X, y)
            drops[metric].append(va - vb)
            errors[metric].append(paired_drop.drop_standard_error(ta, tb, groups))
    for metric in drops:
        assert np.mean(errors[metric]) == pytest.approx(np.std(drops[metric]), rel=0.12)


def _small_sweep(cancer, n_val):
    clf, X_train, X_test, y_train, y_test = cancer
    return eml.compression_sweep(clf, X_test[:n_val], y_test[:n_val], X_train=X_train,
                                 y_train=y_train, X_test=X_test[n_val:],
                                 y_test=y_test[n_val:], n_trees=(None, 8, 2, 1),
                                 ccp_alpha=(0.0, 0.01, 0.03), refine=(False, True),
                                 leaves_per_class=(None, 2, 1), leaf_bits=(8, 2))


def test_confident_pick_is_the_smallest_that_passes_the_test(cancer):
    sweep = _small_sweep(cancer, 40)
    z = NormalDist().inv_cdf(0.95)
    plain = sweep.best(max_drop=0.01)
    sure = sweep.best(max_drop=0.01, confidence=0.95)
    i = next(i for i, m in enumerate(sweep.models) if m is sure)
    assert sweep.rows[i]["drop"] + z * sweep.drop_se(i) <= 0.01
    smaller = [j for j, r in enumerate(sweep.rows)
               if r["drop"] <= 0.01 and r["bytes"] < sweep.rows[i]["bytes"]]
    assert smaller, "the test should have turned a smaller setting down"
    assert all(sweep.rows[j]["drop"] + z * sweep.drop_se(j) > 0.01 for j in smaller)
    assert plain.size_bytes < sure.size_bytes
    # confidence 0.5 (z = 0) is the plain rule.
    assert sweep.best(max_drop=0.01, confidence=0.5) is plain
    text = sweep.report(max_drop=0.01, confidence=0.95)
    assert (f"standard error {sweep.drop_se(i):.4f}, so at confidence 0.95 the drop is at "
            f"most {sweep.rows[i]['drop'] + z * sweep.drop_se(i):+.4f}") in text
    assert "Caution" not in text
    assert "best(max_drop=0.01, confidence=0.95)" in sweep.report(max_drop=0.01)


def test_a_drop_the_rows_cannot_vouch_for_is_explained(cancer):
    sweep = _small_sweep(cancer, 40)
    noisy = min((i for i in range(len(sweep.rows)) if sweep.drop_se(i) > 0),
                key=lambda i: sweep.rows[i]["bytes"])
    r = sweep.rows[noisy]
    with pytest.raises(InputError, match=r"passes the confidence test \(drop \+ 1\.645 "
                                         r"standard errors <= margin=.*no drop is certain "
                                         "enough. Give more validation rows, raise the margin "
                                         "or the budget, or lower confidence"):
        sweep.best(max_drop=max(r["drop"], 0.0), budget_bytes=r["bytes"], confidence=0.95)


@pytest.mark.parametrize("confidence", [1.0, 0.3, "high", float("nan")])
def test_bad_confidence_is_explained(cancer, confidence):
    sweep = _small_sweep(cancer, 40)
    with pytest.raises(InputError, match=r"confidence.*\[0\.5, 1"):
        sweep.best(max_drop=0.01, confidence=confidence)


def test_confidence_needs_a_metric_it_knows(cancer):
    clf, X_train, X_test, y_train, y_test = cancer

    def hit_rate(model, X, y):
        return float((model.predict(X) == y).mean())
    sweep = eml.compression_sweep(clf, X_test, y_test, metric=hit_rate,
                                  leaves_per_class=(None, 2), leaf_bits=(8,))
    assert sweep.best(max_drop=0.01) is not None
    with pytest.raises(InputError, match="a confidence bound needs one of the metrics "
                                         "roc_auc_ovo_weighted.*pick without confidence"):
        sweep.best(max_drop=0.01, confidence=0.95)


def test_a_wider_margin_allows_a_smaller_pick_that_still_passes(cancer):
    sweep = _small_sweep(cancer, 40)
    z = NormalDist().inv_cdf(0.95)
    strict = sweep.best(max_drop=0.01, confidence=0.95)
    wide = sweep.best(max_drop=0.01, confidence=0.95, margin=0.03)
    i = next(i for i, m in enumerate(sweep.models) if m is wide)
    r = sweep.rows[i]
    assert r["drop"] <= 0.01 and r["drop"] + z * sweep.drop_se(i) <= 0.03
    assert wide.size_bytes <= strict.size_bytes
    assert sweep.best(max_drop=0.01, confidence=0.95, margin=0.01) is strict
    with pytest.raises(InputError, match="margin is the bound of the confidence test: give "
                                         "confidence too"):
        sweep.best(max_drop=0.01, margin=0.015)
    with pytest.raises(InputError, match="margin"):
        sweep.best(max_drop=0.01, confidence=0.95, margin=-0.01)


def test_a_sweep_on_constant_targets_still_runs_and_explains_the_bound(regression_data):
    X_train, X_test, y_train, _ = regression_data["friedman"]
    reg = RandomForestRegressor(5, random_state=0).fit(X_train, y_train)
    flat = np.full(len(X_test), 3.0)
    sweep = eml.compression_sweep(reg, X_test, flat, metric="r2", leaves_per_class=(None, 4))
    assert sweep.best(max_drop=1.0) is not None         # the plain rule as before
    with pytest.raises(InputError, match="r2 needs validation targets that vary"):
        sweep.best(max_drop=1.0, confidence=0.95)
