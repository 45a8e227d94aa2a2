"""eml.anomaly.pick_threshold and threshold_report: the selection arithmetic on known scores
(a detector here is anything with score_samples and a threshold; the detectors' own scores
are tested with each kind), and the one-line errors for bad labels."""
import numpy as np
import pytest

import emlearn_lab as eml


class Scored:
    """Rows are their own score: score_samples(X) = X[:, 0]."""
    task = "anomaly"
    threshold = 0.0

    def score_samples(self, X):
        return np.asarray(X, dtype=np.float64)[:, 0]


def _rows(scores):
    return np.asarray(scores, dtype=np.float64).reshape(-1, 1)


def test_fpr_flags_at_most_that_share_of_normal_rows():
    rng = np.random.default_rng(0)
    s = rng.normal(size=1000)
    det = Scored()
    for fpr in (0.0, 0.001, 0.01, 0.05, 0.5, 0.999):
        det.threshold = eml.anomaly.pick_threshold(det, _rows(s), fpr=fpr)
        flagged = (s < det.threshold).sum()
        assert flagged == int(np.floor(fpr * len(s) + 1e-9))
        assert det.threshold in s                 # one of the rows' own scores
    assert eml.anomaly.pick_threshold(det, _rows(s), fpr=1.0) == np.inf


def test_fpr_counts_normal_rows_only_and_keeps_ties_normal():
    s = np.array([1.0, 1.0, 1.0, 2.0, 3.0, -5.0, -6.0])
    y = np.array([1, 1, 1, 1, 1, -1, -1])
    det = Scored()
    t = eml.anomaly.pick_threshold(det, _rows(s), y, fpr=0.2)     # 1 of 5 normal rows allowed
    assert t == 1.0 and ((s < t) & (y == 1)).sum() == 0           # tied rows cannot be split
    assert eml.anomaly.pick_threshold(det, _rows(s), y) == 1.0   # default fpr 0.01


@pytest.mark.parametrize("metric", ["f1", "balanced_accuracy"])
def test_metric_separates_separable_scores_with_the_fewest_alarms(metric):
    s = np.array([5.0, 4.0, 3.0, 2.5, 0.0, -1.0])
    y = np.array([1, 1, 1, 1, -1, -1])
    det = Scored()
    det.threshold = eml.anomaly.pick_threshold(det, _rows(s), y, metric=metric)
    assert det.threshold == 2.5                   # the lowest threshold that flags both
    report = eml.anomaly.threshold_report(det, _rows(s), y)
    assert report["recall"] == 1.0 and report["false_positive_rate"] == 0.0
    assert report["f1"] == 1.0 and report["flagged"] == 2


def test_metric_matches_a_brute_force_search():
    rng = np.random.default_rng(3)
    s = np.round(np.concatenate([rng.normal(2, 1, 200), rng.normal(0, 1, 30)]), 1)
    y = np.array([1] * 200 + [-1] * 30)
    det = Scored()
    best = {}
    for t in np.append(np.unique(s), np.inf):
        flagged = s < t
        tp, fp = (flagged & (y == -1)).sum(), (flagged & (y == 1)).sum()
        f1 = 2 * tp / (tp + fp + 30) if tp else 0.0
        if f1 > best.get("f1", -1):
            best = {"f1": f1, "t": t}
    assert eml.anomaly.pick_threshold(det, _rows(s), y, metric="f1") == best["t"]


@pytest.mark.parametrize("y, match", [
    (np.array([0, 1, 1]), "1 \\(normal\\) or -1 \\(anomaly\\)"),
    (np.array([1, 1]), "2 labels for 3 rows"),
])
def test_bad_labels_say_what_is_expected(y, match):
    with pytest.raises(eml.InputError, match=match):
        eml.anomaly.pick_threshold(Scored(), _rows([1.0, 2.0, 3.0]), y)


def test_bad_arguments_are_one_line_errors():
    det = Scored()
    X = _rows([1.0, 2.0])
    with pytest.raises(eml.InputError, match="fpr= or metric="):
        eml.anomaly.pick_threshold(det, X, fpr=0.1, metric="f1")
    with pytest.raises(eml.InputError, match="fpr"):
        eml.anomaly.pick_threshold(det, X, fpr=1.5)
    with pytest.raises(eml.InputError, match="needs normal"):
        eml.anomaly.pick_threshold(det, X, metric="f1")
    with pytest.raises(eml.InputError, match="expected a detector"):
        eml.anomaly.pick_threshold(object(), X)


def test_plot_scores_draws_both_groups_and_the_threshold():
    det = Scored()
    s = np.array([5.0, 4.0, 3.0, 0.0, -1.0])
    det.threshold = 2.0
    ax = eml.anomaly.plot_scores(det, _rows(s), np.array([1, 1, 1, -1, -1]))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["normal (3)", "anomaly (2)", "threshold 2 (2 flagged)"]
    assert ax._repr_png_()[:4] == b"\x89PNG"
