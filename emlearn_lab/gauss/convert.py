"""scikit-learn GaussianMixture, BayesianGaussianMixture and EllipticEnvelope -> GaussModel.

The parameters are the estimator's own (means, precision Cholesky factors), rounded once to
float32; the per-component constants are computed in float64 and rounded once. See
:mod:`.float32` for what the device then computes.
"""
import numpy as np

from ..exceptions import NotFittedError, UnsupportedModelError
from .model import COVARIANCE_TYPES, GaussModel

__all__ = ["accepts", "convert", "MIXTURES", "DEFAULT_CONTAMINATION", "N_THRESHOLD_SAMPLES"]

MIXTURES = ("GaussianMixture", "BayesianGaussianMixture")
ENVELOPES = ("EllipticEnvelope",)
# A mixture has no outlier threshold of its own: the default is the score_samples quantile
# below which this share of rows drawn from the fitted mixture fall (seeded, so converting
# twice gives the same threshold). eml.anomaly.pick_threshold sets one from your data.
DEFAULT_CONTAMINATION = 0.01
N_THRESHOLD_SAMPLES = 10000


def accepts(estimator) -> bool:
    return type(estimator).__name__ in MIXTURES + ENVELOPES


def convert(estimator, features: str = "float32") -> GaussModel:
    """A fitted GaussianMixture / BayesianGaussianMixture (any covariance_type) or
    EllipticEnvelope as a detector (see GaussModel)."""
    name = type(estimator).__name__
    if features != "float32":
        raise UnsupportedModelError(f"{name} takes float32 features; features={features!r} "
                                    "applies to trees")
    if name in ENVELOPES:
        return _envelope(estimator)
    if name not in MIXTURES:
        raise UnsupportedModelError(f"cannot convert {name} as a Gaussian detector")
    if not hasattr(estimator, "precisions_cholesky_"):
        raise NotFittedError(f"this {name} is not fitted yet: call fit(X) first")
    cov = estimator.covariance_type
    if cov not in COVARIANCE_TYPES:
        raise UnsupportedModelError(f"{name} covariance_type={cov!r} is not supported; use "
                                    f"one of {', '.join(COVARIANCE_TYPES)}")
    means = np.asarray(estimator.means_, dtype=np.float64)
    n = means.shape[1]
    chol = np.asarray(estimator.precisions_cholesky_, dtype=np.float64)
    if cov == "full":
        logdet = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        factor = np.stack([_pack_upper(c) for c in chol])
    elif cov == "tied":
        logdet = np.full(len(means), np.log(np.diag(chol)).sum())
        factor = _pack_upper(chol)
    elif cov == "diag":
        logdet = np.log(chol).sum(axis=1)
        factor = chol
    else:
        logdet = n * np.log(chol)
        factor = chol
    consts = logdet - 0.5 * n * np.log(2 * np.pi)
    if name == "BayesianGaussianMixture":
        from scipy.special import digamma
        dof = np.broadcast_to(np.asarray(estimator.degrees_of_freedom_, dtype=np.float64),
                              (len(means),))
        log_lambda = n * np.log(2.0) + digamma(0.5 * (dof[None, :] - np.arange(n)[:, None])
                                               ).sum(axis=0)
        consts = (consts + estimator._estimate_log_weights() - 0.5 * n * np.log(dof)
                  + 0.5 * (log_lambda - n / np.asarray(estimator.mean_precision_)))
    else:
        consts = consts + np.log(np.asarray(estimator.weights_, dtype=np.float64))
    model = GaussModel("mixture", cov, _f32(means, name), _f32(consts, name),
                       _f32(factor, name), source=f"scikit-learn {name}")
    model.threshold = _sampled_threshold(estimator, model)
    model.meta["threshold_basis"] = (
        f"the {DEFAULT_CONTAMINATION:.0%} quantile of score_samples over "
        f"{N_THRESHOLD_SAMPLES} rows drawn from the fitted mixture (seed 0)")
    return model


def _envelope(estimator) -> GaussModel:
    name = type(estimator).__name__
    if not hasattr(estimator, "location_") or not hasattr(estimator, "offset_"):
        raise NotFittedError(f"this {name} is not fitted yet: call fit(X) first")
    precision = np.asarray(estimator.get_precision(), dtype=np.float64)
    location = np.asarray(estimator.location_, dtype=np.float64)
    factor = _pack_upper(upper_factor(precision))[None, :]
    model = GaussModel("envelope", "full", _f32(location[None, :], name),
                       np.zeros(1, dtype=np.float32), _f32(factor, name),
                       source=f"scikit-learn {name}")
    model.threshold = float(estimator.offset_)
    model.meta["threshold_basis"] = "the estimator's offset_"
    return model


def upper_factor(precision: np.ndarray) -> np.ndarray:
    """Upper-triangular P with P @ P.T == precision (what precisions_cholesky_ is to a
    mixture), so that |P.T @ d|^2 is the squared Mahalanobis distance. The Cholesky factor of
    the reversed matrix, reversed; for a precision that is only positive semi-definite (a
    singular covariance: pinvh), the same from the clipped eigen decomposition via QR."""
    a = precision[::-1, ::-1]
    try:
        lower = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh((a + a.T) / 2)
        m = np.sqrt(np.clip(w, 0.0, None))[:, None] * v.T     # a == m.T @ m
        lower = np.linalg.qr(m, mode="r").T                   # m == q r: a == r.T @ r
    return lower[::-1, ::-1].copy()


def _pack_upper(p: np.ndarray) -> np.ndarray:
    """The upper triangle column by column: P[0,0], P[0,1], P[1,1], P[0,2], ..."""
    n = p.shape[0]
    return np.array([p[i, j] for j in range(n) for i in range(j + 1)])


def _f32(values, name) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        v = np.asarray(values, dtype=np.float64).astype(np.float32)
    if not np.all(np.isfinite(v)):
        raise UnsupportedModelError(
            f"the {name} has parameters that are NaN/inf or beyond the float32 range (a "
            "degenerate fit: a component of zero weight or variance); rescale the features "
            "or raise reg_covar / support_fraction and fit again")
    return v


def _sampled_threshold(estimator, model: GaussModel) -> float:
    """DEFAULT_CONTAMINATION quantile of the model's score_samples on rows drawn from the
    fitted mixture."""
    rng = np.random.default_rng(0)
    weights = np.asarray(estimator.weights_, dtype=np.float64)
    counts = rng.multinomial(N_THRESHOLD_SAMPLES, weights / weights.sum())
    cov = estimator.covariance_type
    covs = np.asarray(estimator.covariances_, dtype=np.float64)
    n = model.n_features
    rows = []
    for k, count in enumerate(counts):
        c = {"full": lambda: covs[k], "tied": lambda: covs,
             "diag": lambda: np.diag(covs[k]), "spherical": lambda: covs[k] * np.eye(n)}[cov]()
        rows.append(rng.multivariate_normal(estimator.means_[k], c, size=count,
                                            check_valid="ignore"))
    X = np.vstack(rows)
    with np.errstate(over="ignore"):
        X = np.clip(X, -3.4e38, 3.4e38)
    return float(np.quantile(model.score_samples(X), DEFAULT_CONTAMINATION))
