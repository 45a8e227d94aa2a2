"""What every detector shares: scikit-learn's outlier/inlier face over one device score.

A kind of detector defines ``scores(X)`` (shape (n, 1), as the device writes them; higher is
more normal), ``score_values(scores)`` (score_samples from such scores), ``predict_index(X)``
(0 outlier, 1 inlier: the device's comparison with its threshold) and ``threshold``; this
mixin gives it the rest of scikit-learn's detector interface, and lets it stand in a
``Pipeline`` (``make_pipeline(extractor, det)``) so that a detector with a chosen threshold
deploys with its features.
"""
import numpy as np

from ..exceptions import UnsupportedModelError

__all__ = ["DetectorMixin"]


class DetectorMixin:
    kind = "classifier"           # two classes to deploy, live and apps
    task = "anomaly"
    classes_ = np.array([-1, 1])  # scikit-learn's outlier / inlier; index 0 / 1

    @property
    def n_outputs(self) -> int:
        return 1

    def score_samples(self, X) -> np.ndarray:
        """scikit-learn's score_samples (higher is more normal), float64, computed from the
        score the device computes."""
        return self.score_values(self.scores(X))

    def decision_function(self, X) -> np.ndarray:
        """score_samples - threshold: negative for an anomaly."""
        return self.score_samples(X) - self.threshold

    def predict(self, X) -> np.ndarray:
        """-1 (anomaly) or 1 (normal) per row, as the device decides."""
        return self.classes_[self.predict_index(X)]

    def decode(self, index, scores) -> np.ndarray:
        return self.classes_[np.asarray(index)]

    def fit(self, X, y=None):
        raise UnsupportedModelError(
            f"{type(self).__name__} is converted and already fitted: fit the scikit-learn "
            "estimator and convert it again (eml.convert)")

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags (what a Pipeline asks of its last step)."""
        from sklearn.utils import Tags, TargetTags
        return Tags(estimator_type="outlier_detector", target_tags=TargetTags(required=False))
