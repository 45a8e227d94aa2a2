"""Choosing a detector's threshold on validation rows, and what a threshold does on them.

Labels follow scikit-learn's detectors: 1 for a normal row, -1 for an anomaly. A row is
flagged (an anomaly) when its score is below the threshold, as ``det.predict`` and the device
decide it.
"""
import numpy as np

from ..exceptions import InputError
from ..validate import invalid

__all__ = ["pick_threshold", "threshold_report"]

_OWNER = "eml.anomaly.pick_threshold"
METRICS = ("f1", "balanced_accuracy")


def _normal_mask(y, n: int, owner: str) -> np.ndarray:
    """True for the normal rows of labels ``y`` (1 normal, -1 anomaly; None: all normal)."""
    if y is None:
        return np.ones(n, dtype=bool)
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise InputError(f"{owner}: y_val has {len(y)} labels for {n} rows; pass one label "
                         "per row")
    values = set(np.unique(y).tolist())
    if not values <= {-1, 1}:
        shown = sorted(values, key=str)[:5]
        raise InputError(f"{owner}: y_val must be 1 (normal) or -1 (anomaly) per row, as "
                         f"IsolationForest.predict gives, got values {shown}; map your labels, "
                         "e.g. np.where(is_anomaly, -1, 1)")
    return y == 1


def _scores(det, X, owner: str) -> np.ndarray:
    if not hasattr(det, "score_samples") or getattr(det, "task", None) != "anomaly":
        raise InputError(f"{owner}: expected a detector from eml.convert (IsolationForest, "
                         f"GaussianMixture, EllipticEnvelope), got {type(det).__name__}; "
                         "convert the fitted estimator first")
    return np.asarray(det.score_samples(X), dtype=np.float64)


def pick_threshold(det, X_val, y_val=None, *, fpr: float | None = None,
                   metric: str | None = None) -> float:
    """A threshold for ``det`` (in ``det.score_samples`` units), for ``det.threshold = ...``.

    Parameters
    ----------
    det : a detector from ``eml.convert``
    X_val : array-like, shape (n_rows, n_features)
        Validation rows, not the rows the detector was fitted on (their scores are
        optimistic).
    y_val : array-like of 1 (normal) and -1 (anomaly), optional
        None: every row is normal.
    fpr : float in [0, 1], optional
        The largest share of normal rows flagged as anomalies (false positive rate): the
        threshold is the highest that flags at most ``floor(fpr * n_normal)`` normal rows.
        The default when ``metric`` is not given: 0.01.
    metric : {"f1", "balanced_accuracy"}, optional
        Instead of ``fpr``: the threshold that maximises this metric of the anomaly class on
        the validation rows (needs both kinds of row); ties go to the lowest threshold (the
        fewest alarms).

    Returns
    -------
    float
        One of the rows' own scores (or +inf: flag everything), so it is exactly a score the
        device computes, and setting it as ``det.threshold`` changes nothing by snapping.
    """
    if fpr is not None and metric is not None:
        raise InputError(f"{_OWNER}: give fpr= or metric=, not both")
    scores = _scores(det, X_val, _OWNER)
    normal = _normal_mask(y_val, len(scores), _OWNER)
    if np.isnan(scores).any():
        raise InputError(f"{_OWNER}: the detector scores NaN on {int(np.isnan(scores).sum())} "
                         "rows; drop rows with NaN features first")
    if metric is not None:
        if metric not in METRICS:
            raise invalid("metric", metric, f"one of {METRICS}", owner=_OWNER)
        return _best_for_metric(scores, normal, metric)
    fpr = 0.01 if fpr is None else fpr
    if not isinstance(fpr, (int, float)) or not 0.0 <= float(fpr) <= 1.0:
        raise invalid("fpr", fpr, "a share of normal rows in [0, 1], e.g. 0.01", owner=_OWNER)
    s = np.sort(scores[normal])
    if not len(s):
        raise InputError(f"{_OWNER}: no normal rows (y_val == 1) to take a false positive "
                         "rate from; pass normal validation rows")
    k = int(np.floor(float(fpr) * len(s) + 1e-9))
    # Rows strictly below the threshold are flagged: s[k] flags s[:k] and rows tied with it
    # are kept, so at most k normal rows are flagged. k == len(s): everything flagged.
    return float(s[k]) if k < len(s) else float("inf")


def _best_for_metric(scores, normal, metric) -> float:
    anomaly = ~normal
    if not anomaly.any() or not normal.any():
        raise InputError(f"{_OWNER}: metric={metric!r} needs normal (1) and anomalous (-1) "
                         "validation rows; with normal rows only use fpr=")
    candidates = np.append(np.unique(scores), np.inf)      # flag rows below each candidate
    order = np.sort(scores[anomaly])
    normal_sorted = np.sort(scores[normal])
    tp = np.searchsorted(order, candidates, side="left").astype(np.float64)
    fp = np.searchsorted(normal_sorted, candidates, side="left").astype(np.float64)
    n_anom, n_norm = float(anomaly.sum()), float(normal.sum())
    if metric == "f1":
        value = np.where(tp > 0, 2 * tp / (tp + fp + n_anom), 0.0)
    else:
        value = 0.5 * (tp / n_anom + (n_norm - fp) / n_norm)
    return float(candidates[int(np.argmax(value))])          # first maximum: lowest threshold


def threshold_report(det, X, y=None) -> dict:
    """What ``det.threshold`` does on rows X with labels y (1 normal, -1 anomaly): the
    threshold, rows, anomalies, flagged, the false positive rate (normal rows flagged),
    recall (anomalies flagged; None without anomalies), precision and F1 of the anomaly
    class (None when nothing is flagged)."""
    owner = "eml.anomaly.threshold_report"
    scores = _scores(det, X, owner)
    normal = _normal_mask(y, len(scores), owner)
    flagged = scores < det.threshold
    tp = int((flagged & ~normal).sum())
    fp = int((flagged & normal).sum())
    n_anom = int((~normal).sum())
    recall = tp / n_anom if n_anom else None
    precision = tp / (tp + fp) if tp + fp else None
    f1 = (2 * precision * recall / (precision + recall)
          if precision is not None and recall is not None and precision + recall else None)
    return {"threshold": float(det.threshold), "rows": len(scores), "anomalies": n_anom,
            "flagged": int(flagged.sum()),
            "false_positive_rate": fp / int(normal.sum()) if normal.any() else None,
            "recall": recall, "precision": precision, "f1": f1}
