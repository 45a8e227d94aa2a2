"""The metrics a compression sweep scores its settings with (higher is better), and how much
a ROC AUC moves by chance on a few rows (Hanley & McNeil's standard error, for the sweep's
caution)."""
import numpy as np

from .exceptions import InputError
from .trees.prune import label_indices
from .validate import invalid

__all__ = ["METRICS", "metric_fn", "auc_standard_error", "auc_groups"]


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (tied scores count half): the area scikit-learn's
    roc_auc_score computes, without its per-call input checks (a sweep scores thousands)."""
    from scipy.stats import rankdata
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise InputError("ROC AUC needs rows of both classes (of every class pair): give "
                         "more validation rows, or metric='accuracy'")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auc_groups(k: np.ndarray, n_columns: int, multi_class: str, classes) -> list:
    """scikit-learn's averaged ROC AUC as groups of binary AUCs, ``[(weight, [(rows, positive,
    column), ...])]``: each binary AUC scores probability column ``column`` over ``rows`` (a
    slice or a mask) with ``positive`` (a mask over those rows) the positive class; a group's
    AUC is the mean of its binary AUCs, and the average weights the groups by ``weight``.
    Binary: one AUC; "ovr": one per class, weighted by its rows; "ovo": both AUCs of every
    class pair, weighted by the pair's prevalence. InputError when y holds one class."""
    present = np.unique(k)
    if len(present) < 2:
        raise InputError(f"ROC AUC needs rows of at least two classes; y holds only "
                         f"{[classes[i] for i in present]}: give more validation rows, "
                         "or metric='accuracy'")
    every = slice(None)
    if n_columns == 2:
        return [(1.0, [(every, k == 1, 1)])]
    if multi_class == "ovr":
        support = np.bincount(k, minlength=n_columns)
        return [(support[c], [(every, k == c, c)]) for c in present]
    groups = []
    for i, a in enumerate(present):
        for b in present[i + 1:]:
            sel = (k == a) | (k == b)
            groups.append((sel.mean(), [(sel, k[sel] == a, a), (sel, k[sel] == b, b)]))
    return groups


def _auc(multi_class):
    def score(model, X, y):
        p = model.predict_proba(X)
        classes = np.asarray(model.classes_).tolist()
        groups = auc_groups(label_indices(classes, y), p.shape[1], multi_class, classes)
        aucs = [sum(_binary_auc(positive, p[rows, column]) for rows, positive, column in parts)
                / len(parts) for _, parts in groups]
        return float(np.average(aucs, weights=[w for w, _ in groups]))
    return score


def _hanley_mcneil(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of a ROC AUC from n_pos and n_neg rows (Hanley & McNeil 1982)."""
    q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
    var = (auc * (1.0 - auc) + (n_pos - 1) * (q1 - auc * auc) +
           (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return float(np.sqrt(max(var, 0.0)))


def auc_standard_error(model, X, y) -> float:
    """How much a ROC AUC on these rows moves by chance: Hanley & McNeil's standard error,
    for several classes the support-weighted mean over one-vs-rest AUCs (an approximation of
    the ovo/ovr averages). A class's AUC is taken as at most 1 - 1/n_rows (the formula
    gives 0 at 1.0, as if a few rows could prove it). ``nan`` when a class has no row."""
    p = model.predict_proba(X)
    k = label_indices(model.classes_, y)
    classes = [1] if p.shape[1] == 2 else range(p.shape[1])
    errors, weights = [], []
    for c in classes:
        positive = k == c
        n_pos = int(positive.sum())
        if n_pos in (0, len(positive)):
            return float("nan")
        n_neg = len(positive) - n_pos
        auc = min(_binary_auc(positive, p[:, c]), 1.0 - 1.0 / len(positive))
        errors.append(_hanley_mcneil(auc, n_pos, n_neg))
        weights.append(n_pos)
    return float(np.average(errors, weights=weights))


def _from_predictions(fn, **kw):
    def score(model, X, y):
        return float(fn(y, model.predict(X), **kw))
    return score


def _metrics() -> dict:
    from sklearn import metrics as m
    return {
        "roc_auc_ovo_weighted": _auc("ovo"), "roc_auc_ovr_weighted": _auc("ovr"),
        "roc_auc": _auc("ovr"), "accuracy": _from_predictions(m.accuracy_score),
        "balanced_accuracy": _from_predictions(m.balanced_accuracy_score),
        "f1_macro": _from_predictions(m.f1_score, average="macro"),
        "r2": _from_predictions(m.r2_score),
        "neg_mean_absolute_error": lambda mo, X, y: -float(
            m.mean_absolute_error(y, mo.predict(X))),
    }


METRICS = ("roc_auc_ovo_weighted", "roc_auc_ovr_weighted", "roc_auc", "accuracy",
           "balanced_accuracy", "f1_macro", "r2", "neg_mean_absolute_error")


def metric_fn(metric):
    """The scoring function metric(model, X, y) -> float of a name in METRICS (or the callable
    itself); InputError naming the choices otherwise."""
    if callable(metric):
        return metric
    table = _metrics()
    if not isinstance(metric, str) or metric not in table:
        raise invalid("metric", metric, f"one of {', '.join(map(repr, METRICS))} or a callable "
                      "metric(model, X, y) -> float", owner="eml.compression_sweep",
                      remedy="Higher must be better.")
    return table[metric]


