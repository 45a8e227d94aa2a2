"""Fewer trees and nodes (trees/prune.py): tree selection, cost-complexity pruning, leaf
refinement, their place in eml.compress / CompressedTrees / the sweep, and exactness."""
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import roc_auc_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import emlearn_lab as eml
from emlearn_lab.sweep_metrics import _auc
from emlearn_lab.trees.prune import Routed, _project_simplex, prune_model, selection_order


@pytest.fixture(scope="module")
def cancer(classification_data):
    X_train, X_test, y_train, y_test = classification_data["breast_cancer"]
    clf = RandomForestClassifier(n_estimators=30, random_state=0).fit(X_train, y_train)
    return clf, X_train, X_test, y_train, y_test


def _brier(model, X, y):
    p = model.predict_proba(X)
    return float(((p - (y[:, None] == model.classes_[None])) ** 2).sum(axis=1).mean())


# -- the three steps --------------------------------------------------------------------------

def test_selection_is_greedy_and_nested():
    rng = np.random.default_rng(0)
    Y = np.eye(3)[rng.integers(0, 3, 200)]
    outputs = np.stack([np.clip(Y + rng.normal(0, s, Y.shape), 0, None)
                        for s in (0.9, 0.2, 0.5, 0.3)])
    order = selection_order(outputs, Y)
    assert sorted(order) == [0, 1, 2, 3] and order[0] == 1      # the best tree alone first
    # Each step adds the tree that lowers the averaged ensemble's squared error most.
    for k in range(1, 4):
        chosen = outputs[order[:k]].sum(axis=0)
        errs = {t: (((chosen + outputs[t]) / (k + 1) - Y) ** 2).sum()
                for t in set(range(4)) - set(order[:k])}
        assert order[k] == min(errs, key=errs.get)


@pytest.mark.parametrize("alpha", [0.0, 0.002, 0.01, 0.05])
def test_cost_complexity_pruning_is_scikit_learns(classification_data, alpha):
    """On the rows a tree was grown on, pruning equals scikit-learn's own ccp_alpha: the
    same number of leaves and the same predictions."""
    X_train, X_test, y_train, _ = classification_data["breast_cancer"]
    X32 = X_train.astype(np.float32)
    full = DecisionTreeClassifier(random_state=0).fit(X32, y_train)
    ref = DecisionTreeClassifier(random_state=0, ccp_alpha=alpha).fit(X32, y_train)
    ours = prune_model(Routed(eml.convert(full), X32, y_train), ccp_alpha=alpha, refine=False)
    assert ours.n_nodes == ref.tree_.node_count - ref.get_n_leaves()
    np.testing.assert_array_equal(ours.predict(X_test), ref.predict(X_test.astype(np.float32)))


def test_cost_complexity_pruning_of_a_regressor(regression_data):
    X_train, _, y_train, _ = regression_data["diabetes"]
    X32 = X_train.astype(np.float32)
    full = DecisionTreeRegressor(random_state=0).fit(X32, y_train)
    ref = DecisionTreeRegressor(random_state=0, ccp_alpha=50.0).fit(X32, y_train)
    ours = prune_model(Routed(eml.convert(full), X32, y_train), ccp_alpha=50.0, refine=False)
    assert ours.n_nodes == ref.tree_.node_count - ref.get_n_leaves()
    np.testing.assert_allclose(ours.predict(X32), ref.predict(X32), rtol=1e-6)


def test_refinement_fits_the_rows_better_and_keeps_probabilities(cancer):
    clf, X_train, X_test, y_train, _ = cancer
    routed = Routed(eml.convert(clf), X_train, y_train)
    plain = prune_model(routed, n_trees=3, refine=False)
    refined = prune_model(routed, n_trees=3, refine=True)
    assert refined.n_nodes == plain.n_nodes and refined.n_trees == 3
    assert _brier(refined, X_train, y_train) < _brier(plain, X_train, y_train)
    np.testing.assert_allclose(refined.leaf_proba.sum(axis=1), 1.0)
    assert refined.leaf_proba.min() >= 0.0


def test_projection_onto_the_simplex():
    rng = np.random.default_rng(1)
    V = rng.normal(0, 2, (500, 4))
    P = _project_simplex(V)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert P.min() >= 0
    # No point of the simplex is closer: compare with random points on it.
    Q = rng.dirichlet(np.ones(4), (500, 50))
    assert (((V[:, None] - Q) ** 2).sum(axis=2) >= ((V - P) ** 2).sum(axis=1)[:, None]
            - 1e-9).all()


def test_selected_trees_are_the_best_few(cancer):
    """Three selected trees fit the rows better than the first three of the forest."""
    clf, X_train, X_test, y_train, y_test = cancer
    routed = Routed(eml.convert(clf), X_train, y_train)
    chosen = prune_model(routed, n_trees=3, refine=False)
    first = eml.convert(clf)
    first_three = prune_model(Routed(first, X_train, y_train), refine=False)
    first_three.roots = first_three.roots[:3]
    assert _brier(chosen, X_train, y_train) <= _brier(first_three, X_train, y_train)


# -- in eml.compress ----------------------------------------------------------------------------

def test_compress_prunes_to_a_fraction_at_close_auc(cancer):
    clf, X_train, X_test, y_train, y_test = cancer
    base = eml.convert(clf)
    small = eml.compress(clf, n_trees=4, ccp_alpha=0.003, X_train=X_train, y_train=y_train,
                         leaves_per_class=4, features="int16")
    assert small.n_trees == 4 and small.meta["compression"]["refine"] is True
    assert small.size_bytes * 4 < base.size_bytes
    assert _auc("ovo")(small, X_test, y_test) > _auc("ovo")(base, X_test, y_test) - 0.02


def test_compressed_trees_prunes_in_cross_validation(cancer):
    from sklearn.model_selection import cross_val_score
    clf, X_train, _, y_train, _ = cancer
    est = eml.CompressedTrees(RandomForestClassifier(10, random_state=0), n_trees=3,
                              ccp_alpha=0.003)
    assert cross_val_score(est, X_train, y_train, cv=3).mean() > 0.85
    assert est.fit(X_train, y_train).model_.n_trees == 3


def test_pruned_regressor(regression_data):
    X_train, X_test, y_train, y_test = regression_data["friedman"]
    reg = RandomForestRegressor(20, random_state=0).fit(X_train, y_train)
    small = eml.compress(reg, n_trees=5, ccp_alpha=0.05, X_train=X_train, y_train=y_train)
    assert small.n_trees == 5 and small.n_nodes < eml.convert(reg).n_nodes / 4
    r2 = 1 - ((small.predict(X_test) - y_test) ** 2).mean() / y_test.var()
    assert r2 > 0.75


@pytest.mark.parametrize("kwargs,message", [
    ({"n_trees": 3}, r"^The 'X_train' parameter of eml\.compress must be labelled rows with "
                     r"n_trees, ccp_alpha or refine\. Got None instead\. They choose"),
    ({"refine": True, "X_train": "rows"}, r"^The 'y_train' parameter .* must be the labels "
                                          r"of X_train"),
    ({"n_trees": 0, "X_train": "rows", "y_train": "y"}, r"'n_trees' .* Got 0 instead\. "
                                                        r"None keeps every tree"),
    ({"ccp_alpha": -1.0, "X_train": "rows", "y_train": "y"}, r"'ccp_alpha' .* Got -1\.0"),
    ({"n_trees": 2, "X_train": "rows", "y_train": "bad"}, r"y has labels the model does not "
                                                          r"know: \['x'\]"),
    ({"n_trees": 2, "X_train": "rows", "y_train": "column"}, r"^y must hold one label per "
                                                             r"row .* got shape \(20, 1\): "
                                                             r"pass y\.ravel\(\)"),
])
def test_bad_pruning_settings_are_explained(cancer, kwargs, message):
    clf, X_train, _, y_train, _ = cancer
    fill = {"rows": X_train[:20], "y": y_train[:20], "bad": np.array(["x"] * 20, dtype=object),
            "column": y_train[:20, None]}
    kwargs = {k: fill.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(eml.InputError, match=message):
        eml.compress(clf, **kwargs)


def test_a_regressor_needs_numeric_targets(regression_data):
    X_train, _, y_train, _ = regression_data["diabetes"]
    reg = RandomForestRegressor(3, random_state=0).fit(X_train, y_train)
    with pytest.raises(eml.InputError, match=r"^a regressor's targets must be numbers; y has "
                                             r"<U\d+ values such as 'a'"):
        eml.compress(reg, n_trees=2, X_train=X_train[:5], y_train=np.array(list("abcde")))


def test_pruning_refuses_a_compressed_model(cancer):
    clf, X_train, _, y_train, _ = cancer
    with pytest.raises(eml.InputError, match="already compressed"):
        eml.compress(eml.compress(clf, leaf_bits=4), n_trees=2, X_train=X_train,
                     y_train=y_train)


# -- the sweep --------------------------------------------------------------------------------

def test_auc_equals_scikit_learn():
    class Fixed:
        def __init__(self, P, classes):
            self.P, self.classes_ = P, classes

        def predict_proba(self, X):
            return self.P

    rng = np.random.default_rng(0)
    for n_classes in (2, 3, 7):
        for _ in range(10):
            n = int(rng.integers(30, 300))
            y = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n)])
            P = rng.integers(0, 4, (len(y), n_classes)) + 1e-9      # many tied scores
            P = P / P.sum(axis=1, keepdims=True)
            classes = np.array([f"c{i}" for i in range(n_classes)])
            for multi in ("ovo", "ovr"):
                ours = _auc(multi)(Fixed(P, classes), None, classes[y])
                ref = (roc_auc_score(classes[y], P[:, 1]) if n_classes == 2 else
                       roc_auc_score(classes[y], P, multi_class=multi, average="weighted",
                                     labels=classes))
                assert ours == pytest.approx(ref, abs=1e-12)


def test_auc_of_a_single_class_is_explained(cancer):
    clf, _, X_test, _, y_test = cancer
    one = y_test == 1
    with pytest.raises(eml.InputError, match=r"^ROC AUC needs rows of at least two classes; "
                                             r"y holds only \[1\]"):
        eml.compression_sweep(clf, X_test[one], y_test[one])


def test_sweep_prunes_and_reports_the_held_out_metric(cancer):
    clf, X_train, X_test, y_train, y_test = cancer
    X_val, y_val, X_hold, y_hold = X_test[:100], y_test[:100], X_test[100:], y_test[100:]
    sweep = eml.compression_sweep(clf, X_val, y_val, X_train=X_train, y_train=y_train,
                                  X_test=X_hold, y_test=y_hold, n_trees=(None, 8, 2),
                                  ccp_alpha=(0.0, 0.01), refine=(False, True),
                                  leaves_per_class=(None, 2), leaf_bits=(8, 0), n_jobs=2)
    structures = {(r["n_trees"], r["ccp_alpha"], r["refine"]) for r in sweep.rows}
    assert len(structures) == 12
    for row, model in zip(sweep.rows, sweep.models):
        assert row["bytes"] == model.size_bytes and row["kept_trees"] == model.n_trees
        assert row["metric"] == pytest.approx(_auc("ovo")(model, X_val, y_val))
    # Leaf settings went to the structures on the first stage's Pareto front only.
    first = [r for r in sweep.rows if (r["leaves_per_class"], r["leaf_bits"], r["features"])
             == (None, 8, "float32")]
    assert len(first) == 12 and len(sweep.rows) < 12 * 8
    best = sweep.best(max_drop=0.01)
    assert best.size_bytes == min(r["bytes"] for r in sweep.rows if r["drop"] <= 0.01)
    assert best.size_bytes * 4 < sweep.baseline["bytes"]
    text = sweep.report(max_drop=0.01)
    held = _auc("ovo")(best, X_hold, y_hold)
    assert f"held out {held:.4f} vs {sweep.baseline['held_out']:.4f}" in text
    assert "x smaller than uncompressed" in text and text.startswith("pick: n_trees=")
    assert "n_trees" in str(sweep.table())


def test_report_cautions_when_validation_rows_are_few(cancer):
    from emlearn_lab.sweep_metrics import _hanley_mcneil, auc_standard_error
    clf, X_train, X_test, y_train, y_test = cancer
    from emlearn_lab.sweep_metrics import _binary_auc
    # The formula against chance itself: AUCs of 50 + 50 binormal scores (true AUC 0.80)
    # spread by about what it says.
    rng = np.random.default_rng(0)
    positive = np.arange(100) < 50
    aucs = [_binary_auc(positive, rng.normal(positive * 1.19, 1.0)) for _ in range(2000)]
    assert _hanley_mcneil(np.mean(aucs), 50, 50) == pytest.approx(np.std(aucs), rel=0.1)
    few = eml.compression_sweep(clf, X_test[:24], y_test[:24], X_train=X_train,
                                y_train=y_train, n_trees=(None, 2), ccp_alpha=(0.0,),
                                refine=(True,), leaves_per_class=(None,), leaf_bits=(8,))
    se = auc_standard_error(eml.convert(clf), X_test[:24], y_test[:24])
    assert few.baseline["standard_error"] == se > 0.005
    assert f"Caution: on 24 validation rows the uncompressed AUC has a standard error of " \
           f"about {se:.3f}" in few.report(max_drop=0.01)
    assert "Caution" not in few.report(max_drop=2 * se + 0.01)


def test_sweep_of_a_regressor_scales_alpha_by_the_variance(regression_data):
    X_train, X_test, y_train, y_test = regression_data["friedman"]
    reg = RandomForestRegressor(10, random_state=0).fit(X_train, y_train)
    sweep = eml.compression_sweep(reg, X_test, y_test, X_train=X_train, y_train=y_train,
                                  metric="r2", n_trees=(None, 3), ccp_alpha=(0.0, 0.01),
                                  refine=(True,), leaves_per_class=(None, 8),
                                  features=("float32",))
    alphas = sorted({r["ccp_alpha"] for r in sweep.rows})
    assert alphas == [0.0, pytest.approx(0.01 * np.var(y_train))]
    assert sweep.best(max_drop=0.05).size_bytes < sweep.baseline["bytes"]


def test_sweep_needs_labels_with_its_rows(cancer):
    clf, X_train, X_test, y_train, y_test = cancer
    with pytest.raises(eml.InputError, match=r"^The 'y_train' parameter of "
                                             r"eml\.compression_sweep must be both X_train "
                                             r"and y_train"):
        eml.compression_sweep(clf, X_test, y_test, X_train=X_train)
    with pytest.raises(eml.InputError, match=r"^no structures to sweep: n_trees=\(64,\), .* "
                                             r"for a forest of 30 trees"):
        eml.compression_sweep(clf, X_test, y_test, X_train=X_train, y_train=y_train,
                              n_trees=(64,))
    with pytest.raises(eml.InputError, match=r"^y has labels the model does not know: "
                                             r"\[7\]; expected some of \[0, 1\]"):
        eml.compression_sweep(clf, X_test[:20], np.r_[y_test[:19], 7])
    with pytest.raises(eml.InputError, match="X_test has 10 rows, y_test 5"):
        eml.compression_sweep(clf, X_test, y_test, X_test=X_test[:10], y_test=y_test[:5])


# -- exact on the device ------------------------------------------------------------------------

@pytest.mark.device
@pytest.mark.parametrize("form", ["loadable", "inline"])
def test_pruned_models_agree_on_the_device(device, cancer, regression_data, form):
    clf, X_train, X_test, y_train, _ = cancer
    cases = [eml.compress(clf, n_trees=3, ccp_alpha=0.003, leaf_bits=None, X_train=X_train,
                          y_train=y_train),
             eml.compress(clf, n_trees=2, leaves_per_class=2, leaf_bits=0, features="int16",
                          X_train=X_train, y_train=y_train)]
    Xr, _, yr, _ = regression_data["friedman"]
    reg = RandomForestRegressor(8, random_state=0).fit(Xr, yr)
    cases.append(eml.compress(reg, n_trees=3, ccp_alpha=0.1, X_train=Xr, y_train=yr))
    for model, X in zip(cases, (X_test, X_test, Xr[:150])):
        report = device.deploy(model, X, form=form, repeats=3)
        assert report.agreement == 1.0, report.disagreements[:3]
