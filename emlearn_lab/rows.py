"""Validation of feature rows shared by every model's host reference: shape, dtype, finite
values, and the float32 conversion the device sees."""
import numpy as np

from .exceptions import InputError

__all__ = ["as_rows", "finite_float32", "nonfinite_message"]


def as_rows(X, n_features: int, what: str) -> np.ndarray:
    """X as a 2-D real array of n_features columns (one row may be 1-D). ``what`` completes
    the shape error: "The model was trained on 64 features."."""
    try:
        X = np.asarray(X)
    except Exception as e:
        raise InputError(f"features must be array-like of numbers: {e}") from None
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != n_features:
        raise InputError(f"expected features of shape (n_rows, {n_features}), got {X.shape}. "
                         f"{what}")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise InputError(f"features must be real numbers, got dtype {X.dtype}")
    return X


def nonfinite_message(X: np.ndarray, why: str) -> str:
    bad = np.argwhere(~np.isfinite(X))
    r, c = bad[0]
    return (f"features contain {len(bad)} NaN/inf value(s), first at row {r}, column {c}. "
            f"{why}: impute or drop those rows first (e.g. sklearn.impute.SimpleImputer).")


def finite_float32(X: np.ndarray, why: str) -> np.ndarray:
    """X as float32, refusing NaN/inf (``why`` says why the model cannot take them) and
    values beyond the float32 range."""
    if not np.all(np.isfinite(X)):
        raise InputError(nonfinite_message(X, why))
    with np.errstate(over="ignore"):
        X32 = X.astype(np.float32)
    if not np.all(np.isfinite(X32)):
        r, c = np.argwhere(~np.isfinite(X32))[0]
        raise InputError(f"feature value {float(X[r, c]):g} at row {r}, column {c} is "
                         "beyond the float32 range (about ±3.4e38) the device uses: "
                         "rescale it, or clip it to ±3.4e38")
    return X32
