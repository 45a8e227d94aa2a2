"""KNNModel: a converted nearest-neighbour classifier or regressor and its exact host reference
(the arithmetic of :mod:`.exact`), plus the mirror of the examples the device has learned."""
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import InputError
from ..protocol import register
from ..rows import as_rows, finite_float32, nonfinite_message
from . import exact

__all__ = ["KNNModel", "DEFAULT_CAPACITY"]

# Examples the device may learn (its store's capacity) unless ``model.capacity`` says otherwise.
DEFAULT_CAPACITY = 32
_NAN_WHY = "a distance to NaN has no meaning"


@register
@dataclass(eq=False)
class KNNModel:
    """k nearest neighbours with exact float32 or integer distances.

    Attributes
    ----------
    kind : {"classifier", "regressor"}
    X : ndarray
        The examples the model was converted with: float32, or int16 (``features="int16"``).
    y : ndarray
        Their class indices into ``classes_`` (int64) or their float32 targets.
    n_neighbors : int
    metric : {"euclidean", "manhattan"}
    weights : {"uniform", "distance"}
    features : {"float32", "int16"}
    max_abs : int
        int16 features: the largest |value| the model takes (distances fit a signed 32-bit
        int); 0 for float32.
    capacity : int
        How many examples the device may learn (``dev.learn``); set it before deploying.
        Learning beyond it is refused (the store is never silently truncated).
    learned_X, learned_y : ndarray
        The host's mirror of the device's store: the examples learned after conversion, in
        the order they were learned (see ``dev.learn`` and ``dev.pull_examples``).
    """

    kind: str
    X: np.ndarray
    y: np.ndarray
    n_neighbors: int
    metric: str = "euclidean"
    weights: str = "uniform"
    features: str = "float32"
    classes_: np.ndarray | None = None
    max_abs: int = 0
    capacity: int = DEFAULT_CAPACITY
    learned_X: np.ndarray | None = None
    learned_y: np.ndarray | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    device_forms = ("loadable",)

    def __post_init__(self):
        if self.learned_X is None:
            self.learned_X = self.X[:0].copy()
            self.learned_y = self.y[:0].copy()

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_outputs(self) -> int:
        return len(self.classes_) if self.kind == "classifier" else 1

    @property
    def n_examples(self) -> int:
        """Examples the model predicts from: converted + learned."""
        return len(self.X) + len(self.learned_X)

    @property
    def score_dtype(self):
        return np.dtype("<i4") if self.kind == "classifier" and self.weights == "uniform" \
            else np.dtype("<f4")

    @property
    def size_bytes(self) -> int:
        """Exact bytes of the examples file sent to the device."""
        from .knnfile import file_bytes
        return file_bytes(self, len(self.X))

    def examples(self) -> tuple:
        """(X, y) of every example, the learned ones last (their index order)."""
        return (np.concatenate([self.X, self.learned_X]),
                np.concatenate([self.y, self.learned_y]))

    # -- host reference ------------------------------------------------------------------
    def check_X(self, X) -> np.ndarray:
        """Validate rows and return them as the device receives them (float32 or int16)."""
        X = as_rows(X, self.n_features, f"The model's examples have {self.n_features} "
                    "features.")
        if self.features == "float32":
            return finite_float32(X, _NAN_WHY)
        if not np.issubdtype(X.dtype, np.integer):
            if not np.all(np.isfinite(X)):
                raise InputError(nonfinite_message(X, _NAN_WHY))
            if np.any(X != np.round(X)):
                raise InputError("int16 model: features must be whole numbers; quantise them "
                                 "first or convert with features='float32'")
        if X.size and np.abs(X).max() > self.max_abs:
            raise InputError(f"int16 {self.metric} model of {self.n_features} features: "
                             f"features must lie in [-{self.max_abs}, {self.max_abs}] (so that "
                             "a distance fits the device's 32-bit integers); scale them down, "
                             "or convert with metric='manhattan' or features='float32'")
        return X.astype(np.int16)

    def neighbours(self, X) -> tuple:
        """(indices (n, k) into ``examples()`` by (distance, index), their distances as the
        device computes them)."""
        X = self.check_X(X)
        E, _ = self.examples()
        D = exact.distances(X, E, self.metric)
        idx = exact.neighbours(D, self.n_neighbors)
        return idx, np.take_along_axis(D, idx, axis=1)

    def scores(self, X) -> np.ndarray:
        """What the device writes: classifiers the per-class votes (int32 counts for uniform
        weights, float32 weight sums for distance weights), regressors the float32 (weighted)
        mean of the neighbours' targets, shape (n, 1)."""
        idx, Dk = self.neighbours(X)
        _, labels = self.examples()
        w = exact.weights_of(Dk, self.metric) if self.weights == "distance" else None
        if self.kind == "classifier":
            return exact.class_votes(idx, labels, self.n_outputs, w)
        return exact.regression_values(idx, labels, w)[:, None]

    def predict_index(self, X) -> np.ndarray:
        s = self.scores(X)
        return exact.first_max(s) if self.kind == "classifier" else s

    def predict_proba(self, X) -> np.ndarray:
        if self.kind != "classifier":
            raise AttributeError("predict_proba is only available for classifiers")
        s = self.scores(X).astype(np.float64)
        return s / s.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        if self.kind == "classifier":
            return self.classes_[self.predict_index(X)]
        return self.scores(X)[:, 0].astype(np.float64)

    def decode(self, index, scores) -> np.ndarray:
        if self.kind == "classifier":
            return self.classes_[index]
        return np.asarray(scores)[:, 0].astype(np.float64)

    def compare(self, source, X) -> dict:
        """Agreement with the scikit-learn estimator on float32 rows X: ``predict_agreement``
        (classifiers: share of rows with the same class; regressors: share of rows whose value
        is within float32 rounding, rtol 1e-5, of scikit-learn's) and, for regressors,
        ``max_value_error``. Disagreements come from exact ties in distance broken otherwise
        (scikit-learn leaves its neighbour order among equal distances undefined) and from
        float32 distances, votes and means."""
        X32 = self.check_X(X)
        theirs = source.predict(X32.astype(np.float32))
        ours = self.predict(X32)
        if self.kind == "classifier":
            return {"predict_agreement": float(np.mean(ours == theirs)) if len(X32) else 1.0}
        close = np.isclose(ours, theirs, rtol=1e-5, atol=1e-30)
        return {"predict_agreement": float(close.mean()) if len(X32) else 1.0,
                "max_value_error": float(np.abs(ours - theirs).max(initial=0.0))}

    # -- the Model protocol's device and board parts ---------------------------------------
    def device_plan(self, form: str, target, name: str, heap_free_bytes: int) -> tuple:
        from .deployment import device_plan
        return device_plan(self, form, target, name, heap_free_bytes)

    def device_remedy(self, form: str) -> str:
        return ("Try fewer examples (a subset or a prototype per cluster), a smaller "
                "capacity, or features='int16' (half the bytes)")

    def pipeline_input_error(self) -> str | None:
        if self.features == "int16":
            return ("a feature pipeline needs a float32-input model: convert it with "
                    "features='float32'")
        return None

    def board_estimate(self, board, form: str, bundle, X=None):
        from .deployment import board_estimate
        return board_estimate(self, board, form, bundle, X)

    def __repr__(self) -> str:
        what = f"{len(self.X)} examples" + (f" + {len(self.learned_X)} learned"
                                            if len(self.learned_X) else "")
        return (f"KNNModel({self.kind}, k={self.n_neighbors}, {self.metric}, {self.weights} "
                f"weights, {self.features} features, {self.n_features} features, {what}, "
                f"capacity {self.capacity}, from {self.source or 'unknown'})")
