"""Anomaly detection: detectors (IsolationForest, GaussianMixture, EllipticEnvelope) and
choosing their threshold.

A detector, to deploy, the live comparison and device apps, is a classifier of two classes,
scikit-learn's -1 (outlier) and 1 (inlier), with one score per row: higher is more normal,
and the device says inlier when the score reaches ``det.threshold``. ``det.score_samples``,
``det.decision_function`` and ``det.predict`` are scikit-learn's, computed from the score the
device computes too.

>>> det = eml.convert(IsolationForest().fit(X_normal))                   # doctest: +SKIP
>>> det.threshold = eml.anomaly.pick_threshold(det, X_val, y_val, fpr=0.01)  # doctest: +SKIP
>>> eml.anomaly.plot_scores(det, X_val, y_val)                           # doctest: +SKIP
"""
from .._lazy import attach

_LAZY = {"pick_threshold": ".threshold", "threshold_report": ".threshold",
         "plot_scores": ".plot"}
__getattr__, __dir__ = attach(__name__, _LAZY, set())
__all__ = list(_LAZY)
