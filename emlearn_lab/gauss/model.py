"""GaussModel: a Gaussian mixture or elliptic envelope as a detector, with its exact host
reference.

A detector is a two-class classifier with one score (the detector contract): ``classes_`` is
[-1, 1] (outlier, inlier), ``scores`` the float32 log-density (mixtures) or minus the squared
Mahalanobis distance (EllipticEnvelope) exactly as the device writes it, and the device says
inlier iff score >= the float32 threshold. See :mod:`.float32` for the arithmetic.
"""
from dataclasses import dataclass, field

import numpy as np

from ..anomaly.detector import DetectorMixin
from ..exceptions import InputError
from ..protocol import register
from ..rows import as_rows, nonfinite_message
from . import float32 as _f32

__all__ = ["GaussModel", "COVARIANCE_TYPES", "ESTIMATORS"]

F = np.float32
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
ESTIMATORS = ("mixture", "envelope")


def snap_threshold(value) -> np.float32:
    """The smallest float32 whose float64 value is >= ``value`` (the device's units)."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise InputError(f"threshold must be a number (score_samples units), got {value!r}") \
            from None
    if t != t:
        raise InputError("threshold is NaN: give a number in score_samples units (e.g. "
                         "eml.anomaly.pick_threshold(det, X_val))")
    with np.errstate(over="ignore"):
        v = F(t)
    if float(v) < t:
        v = np.nextafter(v, F(np.inf))
    return F(v)


@register
@dataclass(eq=False)
class GaussModel(DetectorMixin):
    """A Gaussian detector with exact float32 inference (scikit-learn's detector interface
    from DetectorMixin: score_samples, decision_function, predict, decode).

    Attributes
    ----------
    estimator : {"mixture", "envelope"}
        GaussianMixture / BayesianGaussianMixture (score: log-density) or EllipticEnvelope
        (score: minus the squared Mahalanobis distance).
    covariance_type : {"full", "tied", "diag", "spherical"}
        An envelope is "full".
    means : ndarray float32 (n_components, n_features)
    consts : ndarray float32 (n_components,)
        c_k = log weight + log det(P_k) - n/2 log(2 pi) (+ the variational terms of a
        Bayesian mixture), computed in float64; 0 for an envelope.
    factor : ndarray float32
        The precision factor, packed: full (K, n(n+1)/2) upper triangles column by column,
        tied (n(n+1)/2,), diag (K, n), spherical (K,).
    """

    estimator: str
    covariance_type: str
    means: np.ndarray
    consts: np.ndarray
    factor: np.ndarray
    device_threshold: np.float32 = F(-np.inf)
    source: str = ""
    meta: dict = field(default_factory=dict)

    features = "float32"
    device_forms = ("loadable",)
    score_dtype = np.dtype("<f4")

    @property
    def n_features(self) -> int:
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def size_bytes(self) -> int:
        """Exact bytes of the model file sent to the device."""
        from .gaussfile import to_bytes
        return len(to_bytes(self))

    @property
    def n_factor(self) -> int:
        """Precision-factor multiplies per component and row."""
        n = self.n_features
        return n * (n + 1) // 2 if self.covariance_type in ("full", "tied") else n

    # -- the threshold (score_samples units outside, float32 device units inside) ----------
    @property
    def threshold(self) -> float:
        """Inlier iff score_samples >= threshold. Set it in score_samples units; it snaps to
        the smallest float32 at or above the value (what the device compares with)."""
        return float(self.device_threshold)

    @threshold.setter
    def threshold(self, value) -> None:
        self.device_threshold = snap_threshold(value)

    @property
    def threshold_bits(self) -> int:
        """The device threshold's float32 bits (what the load call passes)."""
        return int(np.array([self.device_threshold], dtype="<f4").view("<u4")[0])

    # -- host reference ------------------------------------------------------------------
    def check_X(self, X) -> np.ndarray:
        """Rows as float32 (what the device reads). ±inf and values beyond the float32 range
        (which become ±inf) are taken: their score is -inf or NaN, an outlier either way.
        NaN is refused."""
        X = as_rows(X, self.n_features, f"The detector was fitted on {self.n_features} "
                    "features.")
        if np.isnan(X).any():
            raise InputError(nonfinite_message(X, "NaN has no density under the model"))
        with np.errstate(over="ignore"):
            return X.astype(F)

    def scores(self, X) -> np.ndarray:
        """(n, 1) float32: the score the device writes (log-density, or -Mahalanobis^2)."""
        X32 = self.check_X(X)
        with np.errstate(all="ignore"):
            return self._scores(X32)[:, None]

    def _scores(self, X32):
        cov = self.covariance_type
        if self.estimator == "envelope":
            return -_f32.mahalanobis(X32, self.means, self.factor, cov, 0)
        lp = np.empty((len(X32), self.n_components), dtype=F)
        for k in range(self.n_components):
            m = _f32.mahalanobis(X32, self.means, self.factor, cov, k)
            lp[:, k] = self.consts[k] - F(0.5) * m
        return _f32.log_sum_exp(lp)

    def score_values(self, scores) -> np.ndarray:
        """score_samples from scores as the device writes them, shape (n, 1): the float32
        score itself, widened to float64."""
        return np.asarray(scores, dtype=np.float32)[:, 0].astype(np.float64)

    def predict_index(self, X) -> np.ndarray:
        """0 (outlier) / 1 (inlier): score >= threshold in float32, as the device compares
        (a NaN score is an outlier)."""
        return (self.scores(X)[:, 0] >= self.device_threshold).astype(np.int64)

    # -- the Model protocol's device and board parts --------------------------------------
    def device_plan(self, form: str, target, name: str, heap_free_bytes: int) -> tuple:
        from .deployment import device_plan
        return device_plan(self, form, target, name, heap_free_bytes)

    def device_remedy(self, form: str) -> str:
        from .deployment import device_remedy
        return device_remedy(self, form)

    def pipeline_input_error(self) -> str | None:
        return None  # float32 rows, as the extractors' features are

    def board_estimate(self, board, form: str, bundle, X=None):
        from .deployment import board_estimate
        return board_estimate(self, board, form, bundle, X)

    def compare(self, source, X) -> dict:
        """Agreement with the fitted scikit-learn estimator on float32 rows X:
        ``predict_agreement`` (EllipticEnvelope: its predict; a mixture has no outlier
        predict, so its score_samples against this model's threshold) and
        ``max_score_error`` (largest |score_samples - theirs|; equal infinities count 0),
        ``n_rows``."""
        X32 = self.check_X(X)
        theirs = np.asarray(source.score_samples(X32), dtype=np.float64)
        ours = self.score_samples(X32)
        if self.estimator == "envelope":
            their_pred = np.asarray(source.predict(X32))
        else:
            their_pred = np.where(theirs < self.threshold, -1, 1)
        with np.errstate(invalid="ignore"):
            diff = np.where(ours == theirs, 0.0, np.abs(ours - theirs))
        # Both NaN: the same (no density either way); one NaN: as far apart as can be.
        diff = np.where(np.isnan(ours) & np.isnan(theirs), 0.0, np.nan_to_num(diff, nan=np.inf))
        return {"predict_agreement": float(np.mean(self.predict(X32) == their_pred))
                if len(X32) else 1.0,
                "max_score_error": float(np.max(diff, initial=0.0)), "n_rows": len(X32)}

    def __repr__(self) -> str:
        what = ("EllipticEnvelope" if self.estimator == "envelope"
                else f"{self.n_components} components, {self.covariance_type} covariance")
        return (f"GaussModel(anomaly detector, {self.n_features} features, {what}, threshold "
                f"{self.threshold:.6g}, from {self.source or 'unknown'})")
