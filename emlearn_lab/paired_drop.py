"""How much a metric's drop between two models, scored on the same rows, moves by chance.

A compression sweep scores hundreds of settings on one set of validation rows, and
``Sweep.best(max_drop)`` takes the smallest whose drop is within ``max_drop``. On a few dozen
rows each setting's drop is noisy, and the smallest setting that passes tends to be one the
rows happened to favour: it loses more on new data. ``best(max_drop, confidence=c, margin=m)``
also asks for a one-sided non-inferiority test: ``drop + z(c) * se <= m`` (``m`` defaults to
``max_drop``), where ``se`` is the standard error of the *paired* drop (both models on the same
rows, so the rows' shared difficulty cancels) and ``z(c)`` the standard normal quantile.

Each metric is written as a sum of row terms plus a constant (to first order), the terms of
the rows of one class being exchangeable; the variance of the drop is then the sum over
classes of ``n_k`` times the within-class variance of the row terms' differences.

- ROC AUC: DeLong, DeLong & Clarke-Pearson (1988, *Comparing the areas under two or more
  correlated receiver operating characteristic curves*). An AUC is a two-sample U-statistic;
  its first-order (Hajek) projection gives each positive row its placement among the
  negatives (the fraction scored below it, ties half) over ``n_pos``, and each negative row
  its placement among the positives over ``n_neg``. For one binary AUC the sum above is
  exactly DeLong's ``S10/m + S01/n``. scikit-learn's one-vs-one and one-vs-rest averages
  are fixed-weight sums of such AUCs, so their row terms add up (the weights, class
  prevalences, are taken as fixed).
- accuracy, balanced accuracy, mean absolute error: each row's own contribution.
- r2: each row's squared error over the rows' total sum of squares (taken as fixed: it is
  the same for both models).
"""
import numpy as np

from .exceptions import InputError
from .sweep_metrics import auc_groups
from .trees.prune import label_indices

__all__ = ["row_terms", "drop_standard_error", "SUPPORTED"]

SUPPORTED = ("roc_auc_ovo_weighted", "roc_auc_ovr_weighted", "roc_auc", "accuracy",
             "balanced_accuracy", "r2", "neg_mean_absolute_error")


def _placements(positive: np.ndarray, score: np.ndarray):
    """(AUC, each positive row's placement among the negatives, each negative row's among
    the positives); a placement is the fraction of the other class it beats, ties half."""
    pos, neg = score[positive], score[~positive]        # both non-empty (auc_groups)
    neg_sorted, pos_sorted = np.sort(neg), np.sort(pos)
    below = (np.searchsorted(neg_sorted, pos, "left")
             + np.searchsorted(neg_sorted, pos, "right")) / (2.0 * len(neg))
    above = 1.0 - (np.searchsorted(pos_sorted, neg, "left")
                   + np.searchsorted(pos_sorted, neg, "right")) / (2.0 * len(pos))
    return float(below.mean()), below, above


def _add_auc(terms: np.ndarray, rows: np.ndarray, positive: np.ndarray, score: np.ndarray,
             weight: float) -> float:
    """Add ``weight`` x one AUC's row terms to ``terms[rows]``; returns weight x the AUC."""
    auc, below, above = _placements(positive, score)
    idx_pos, idx_neg = rows[positive], rows[~positive]
    terms[idx_pos] += weight * (below - auc) / len(idx_pos)
    terms[idx_neg] += weight * (above - auc) / len(idx_neg)
    return weight * auc


def _auc_terms(p: np.ndarray, k: np.ndarray, multi_class: str, classes):
    """(the averaged ROC AUC, its row terms): the sweep's own decomposition (auc_groups),
    each binary AUC's terms added with its share of the average."""
    groups = auc_groups(k, p.shape[1], multi_class, classes)
    total = np.sum([w for w, _ in groups])
    terms, index, value = np.zeros(len(k)), np.arange(len(k)), 0.0
    for w, parts in groups:
        for rows, positive, column in parts:
            value += _add_auc(terms, index[rows], positive, p[rows, column],
                              w / total / len(parts))
    return value, terms


def row_terms(metric, model, X, y):
    """(metric value, row terms, row groups) of ``model`` on (X, y): the metric minus a
    constant is, to first order, the sum of the row terms; rows of one group (class) are
    exchangeable. InputError for a metric this module does not cover."""
    if not isinstance(metric, str) or metric not in SUPPORTED:
        name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
        raise InputError(f"a confidence bound needs one of the metrics {', '.join(SUPPORTED)}; "
                         f"this sweep's metric is {name!r}: sweep with one of them, or pick "
                         "without confidence")
    if metric in ("r2", "neg_mean_absolute_error"):
        y = np.asarray(y, dtype=np.float64)
        err = y - model.predict(X).astype(np.float64)
        groups = np.zeros(len(y), dtype=np.int64)
        if metric == "neg_mean_absolute_error":
            terms = -np.abs(err) / len(y)
            return float(terms.sum()), terms, groups
        total = float(((y - y.mean()) ** 2).sum())
        if total == 0.0:
            raise InputError("r2 needs validation targets that vary; all are equal: give "
                             "more validation rows, or metric='neg_mean_absolute_error'")
        terms = -(err ** 2) / total
        return 1.0 + float(terms.sum()), terms, groups
    classes = np.asarray(model.classes_).tolist()
    k = label_indices(classes, y)
    if metric.startswith("roc_auc"):
        value, terms = _auc_terms(model.predict_proba(X), k,
                                  "ovo" if metric == "roc_auc_ovo_weighted" else "ovr", classes)
        return value, terms, k
    correct = (label_indices(classes, model.predict(X)) == k).astype(np.float64)
    if metric == "accuracy":
        terms = correct / len(k)
    else:                                         # balanced accuracy: mean recall per class
        count = np.bincount(k)
        terms = correct / (count[k] * np.count_nonzero(count))
    return float(terms.sum()), terms, k


def drop_standard_error(ref_terms, terms, groups) -> float:
    """Standard error of (reference metric - metric) from both models' row terms on the same
    rows: the sum over groups of n_k x the within-group variance of the differences."""
    d = np.asarray(ref_terms, dtype=np.float64) - np.asarray(terms, dtype=np.float64)
    var = 0.0
    for g in np.unique(groups):
        dg = d[groups == g]
        if len(dg) > 1:
            var += len(dg) * float(dg.var(ddof=1))
    return float(np.sqrt(var))
