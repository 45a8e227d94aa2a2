"""scikit-learn KNeighborsClassifier / KNeighborsRegressor -> KNNModel."""
import numpy as np

from ..exceptions import InputError, NotFittedError, UnsupportedModelError
from ..rows import finite_float32
from ..validate import one_of
from .exact import int16_bound
from .model import KNNModel

__all__ = ["accepts", "convert"]

_NAMES = ("KNeighborsClassifier", "KNeighborsRegressor")
_METRICS = {"euclidean": "euclidean", "l2": "euclidean", "manhattan": "manhattan",
            "cityblock": "manhattan", "l1": "manhattan"}


def accepts(estimator) -> bool:
    return type(estimator).__name__ in _NAMES


def _metric(est, name: str) -> str:
    metric = getattr(est, "effective_metric_", est.metric)
    params = {k: v for k, v in dict(getattr(est, "effective_metric_params_", None)
                                    or est.metric_params or {}).items() if v is not None}
    if metric == "minkowski":
        p = params.pop("p", getattr(est, "p", 2))
        metric = {1: "manhattan", 2: "euclidean"}.get(p, f"minkowski with p={p!r}")
    if not isinstance(metric, str) or metric not in _METRICS or params:
        what = metric if isinstance(metric, str) else getattr(metric, "__name__", "callable")
        extra = f" with metric_params {params!r}" if params else ""
        raise UnsupportedModelError(
            f"{name}: metric {what}{extra} is not supported; the nearest supported setting is "
            f"{name}(metric='euclidean') (or 'manhattan'; minkowski with p=2 or p=1)")
    return _METRICS[metric]


def convert(est, features: str = "float32") -> KNNModel:
    """A fitted KNeighborsClassifier / KNeighborsRegressor as a KNNModel; ``features``
    "float32" (float32 distances) or "int16" (whole-number features, integer distances)."""
    name = type(est).__name__
    one_of("features", features, ("float32", "int16"), owner="eml.convert")
    if not hasattr(est, "_fit_X"):
        raise NotFittedError(f"this {name} is not fitted yet: call fit(X, y) first")
    if getattr(est, "outputs_2d_", False) or np.ndim(est._y) > 1:
        raise UnsupportedModelError(f"multi-output {name} is not supported; fit one "
                                    f"{name} per output")
    if est.weights not in ("uniform", "distance"):
        raise UnsupportedModelError(f"{name}(weights={est.weights!r}) is not supported; the "
                                    f"nearest supported setting is {name}(weights='distance')")
    metric = _metric(est, name)
    X = np.asarray(est._fit_X)
    k = int(est.n_neighbors)
    if k > len(X):
        raise UnsupportedModelError(f"{name}(n_neighbors={k}) has {len(X)} examples; use "
                                    f"n_neighbors <= {len(X)}")
    max_abs = 0
    if features == "int16":
        max_abs = int16_bound(metric, X.shape[1])
        if not np.all(np.isfinite(X)) or np.any(X != np.round(X)):
            raise InputError("features='int16' needs whole-number examples: quantise them "
                             "first, or convert with features='float32'")
        if X.size and np.abs(X).max() > max_abs:
            raise InputError(
                f"features='int16' with {metric} distances over {X.shape[1]} features takes "
                f"|values| <= {max_abs} (a distance must fit the device's 32-bit integers), "
                f"the examples reach {np.abs(X).max():g}: scale them down, or use "
                "metric='manhattan' or features='float32'")
        X = X.astype(np.int16)
    else:
        X = finite_float32(X, "an example with NaN cannot be a neighbour")
    if name == "KNeighborsClassifier":
        y = np.asarray(est._y, dtype=np.int64)
        return KNNModel("classifier", X, y, k, metric, est.weights, features,
                        np.asarray(est.classes_), max_abs, source=f"scikit-learn {name}")
    y = np.asarray(est._y, dtype=np.float64)
    y32 = finite_float32(y[:, None], "a NaN target cannot be averaged")[:, 0]
    return KNNModel("regressor", X, y32, k, metric, est.weights, features, None, max_abs,
                    source=f"scikit-learn {name}")
