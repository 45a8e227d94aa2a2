"""TreeModel: a converted tree ensemble and its host reference implementation.

The host reference walks the same arrays with the same integer keys and integer leaf sums as
the device runtime, so for the same input the device must produce the same integers. The
tests check that on the virtual device, and check the host reference against scikit-learn.
"""
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import InputError
from ..protocol import register
from ..rows import as_rows, finite_float32, nonfinite_message
from . import keys as _keys
from .quantise import FeatureQuantiser

__all__ = ["TreeModel"]


@register
@dataclass(eq=False)
class TreeModel:
    """A tree ensemble (classifier or regressor) with exact integer inference.

    Attributes
    ----------
    kind : {"classifier", "regressor"}
    features : {"float32", "int16"}
        How the device receives features and how they are compared.
    n_features : int
    classes_ : ndarray or None
        Class labels (classifiers); predictions index into it.
    feature, threshold, left, right : ndarray, shape (n_nodes,)
        Decision nodes. ``threshold`` holds uint32 keys (see :mod:`.keys`). Children and
        ``roots`` below ``n_nodes`` are decision nodes, the others leaf ``c - n_nodes``. Every
        child index is larger than its parent's.
    roots : ndarray, shape (n_trees,)
    leaves : ndarray of int64, shape (n_leaves, n_outputs)
        Fixed-point leaf values: class probability or value times ``2**leaf_shift``.
    leaf_shift : int
    leaf_proba : ndarray of float64 or None
        Forest classifiers: scikit-learn's own per-tree class probabilities of each leaf. Rows
        whose integer class sums are within ``tie_margin`` are settled with them exactly as
        scikit-learn does (float64 sum in tree order, divide by n_trees, first maximum).
    leaf_bits : int or None
        Compressed classifiers (see :func:`emlearn_lab.compression`): leaves are small integers
        (0 .. 2**leaf_bits - 1; 0 bits: one vote for one class) and the model is its own
        reference: the first maximum of the integer sums wins, and ``predict_proba`` is the
        sums normalised per row.
    quantiser : FeatureQuantiser or None
        int16 models with learned scales: they take raw float features and quantise them
        exactly like the device (see :mod:`.quantise`).
    file_layout : str or None
        The node layout of its model file and the device walker (see :mod:`.modelfile`):
        None the smallest file, packed nodes included (compressed models: the default of
        eml.compress); "split" the smallest file of split nodes (converted models: the
        default of eml.convert, whose walkers take fewer instructions per node visit, see
        bench/README.md); or "tiny", "small", "large" or "packed".
    """

    kind: str
    features: str
    n_features: int
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    roots: np.ndarray
    leaves: np.ndarray
    leaf_shift: int
    classes_: np.ndarray | None = None
    leaf_proba: np.ndarray | None = None
    leaf_bits: int | None = None
    quantiser: FeatureQuantiser | None = None
    file_layout: str | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    device_forms = ("loadable", "inline")    # besides "auto" (see trees.deployment)
    score_dtype = np.dtype("<i4")             # integer sums of fixed-point leaves

    # -- sizes ---------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.feature)

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    @property
    def n_leaves(self) -> int:
        return len(self.leaves)

    @property
    def n_outputs(self) -> int:
        return self.leaves.shape[1]

    @property
    def max_depth(self) -> int:
        # Level by level from the roots: a shared subtree is reached again at every depth a
        # parent has, so the last level is the longest path.
        frontier, depth = np.unique(self.roots), 0
        while True:
            inner = frontier[frontier < self.n_nodes]
            if inner.size == 0:
                return depth
            frontier = np.unique(np.concatenate([self.left[inner], self.right[inner]]))
            depth += 1

    @property
    def size_bytes(self) -> int:
        """Exact bytes of the model file sent to the device."""
        from .modelfile import to_bytes
        return len(to_bytes(self))

    # -- host reference ------------------------------------------------------------------
    def check_X(self, X) -> np.ndarray:
        """Validate features and return them as float32 or int16 (what the device receives)."""
        X = as_rows(X, self.n_features,
                    f"The model was trained on {self.n_features} features.")
        if self.features == "int16" and self.quantiser is None:
            if not np.issubdtype(X.dtype, np.integer):
                if not np.all(np.isfinite(X)):
                    raise InputError(nonfinite_message(X, _NAN_WHY))
                if np.any(X != np.round(X)):
                    raise InputError("int16 model: features must be whole numbers; quantise "
                                     "them first or convert with features='float32'")
            if X.size and (X.min() < -32768 or X.max() > 32767):
                raise InputError("int16 model: features must lie in [-32768, 32767]")
            return X.astype(np.int16)
        return finite_float32(X, _NAN_WHY)

    def quantise(self, X) -> np.ndarray:
        """The int16 features the device computes from raw features X (learned-scale int16
        models); the device accepts either."""
        if self.quantiser is None:
            raise AttributeError("quantise() is for int16 models with learned scales "
                                 "(eml.compress(..., features='int16', X_calib=...))")
        return self.quantiser.transform(self.check_X(X))

    def feature_keys(self, X) -> np.ndarray:
        if self.quantiser is not None:
            return _keys.int16_keys(self.quantise(X))
        X = self.check_X(X)
        if self.features == "int16":
            return _keys.int16_keys(X)
        return _keys.float32_keys(X)

    def apply(self, X) -> np.ndarray:
        """Leaf index reached in each tree, shape (n_rows, n_trees)."""
        return self._walk(X)[0]

    def node_visits(self, X) -> np.ndarray:
        """Decision nodes evaluated per row, summed over trees (the work of one predict)."""
        return self._walk(X)[1]

    def _walk(self, X):
        K = self.feature_keys(X)
        rows = np.arange(len(K))
        out = np.empty((len(K), self.n_trees), dtype=np.int64)
        visits = np.zeros(len(K), dtype=np.int64)
        nn = self.n_nodes
        for t, root in enumerate(self.roots):
            idx = np.full(len(K), root, dtype=np.int64)
            active = np.flatnonzero(idx < nn)
            while active.size:
                visits[active] += 1
                n = idx[active]
                go_left = K[rows[active], self.feature[n]] <= self.threshold[n]
                idx[active] = np.where(go_left, self.left[n], self.right[n])
                active = active[idx[active] < nn]
            out[:, t] = idx - nn
        return out, visits

    def _leaves_and_scores(self, X):
        leaf = self.apply(X)
        total = np.zeros((leaf.shape[0], self.n_outputs), dtype=np.int64)
        for t in range(self.n_trees):
            total += self.leaves[leaf[:, t]]
        return leaf, total

    def scores(self, X) -> np.ndarray:
        """Exact integer sums of leaf values over trees, shape (n_rows, n_outputs)."""
        return self._leaves_and_scores(X)[1]

    @property
    def score_denominator(self) -> float:
        """scores / score_denominator = probabilities (classifier) or the value (regressor)."""
        return float(2.0 ** self.leaf_shift) * self.n_trees

    def predict_proba(self, X) -> np.ndarray:
        if self.kind != "classifier":
            raise AttributeError("predict_proba is only available for classifiers")
        if self.leaf_bits is not None:
            s = self.scores(X).astype(np.float64)
            return s / s.sum(axis=1, keepdims=True)
        return self.scores(X) / self.score_denominator

    @property
    def tie_margin(self) -> int:
        """Integer sums closer than this may be ordered differently by float64 averaging: each
        tree's leaf value was rounded by at most half a unit. 0 when there is no tie path."""
        return self.n_trees + 1 if self.leaf_proba is not None else 0

    def predict_index(self, X) -> np.ndarray:
        """Class index (classifiers, first maximum wins) or the integer sum (regressors)."""
        leaf, s = self._leaves_and_scores(X)
        if self.kind != "classifier":
            return s[:, 0]
        best = np.argmax(s, axis=1)
        if self.tie_margin:
            gap = s[np.arange(len(s)), best][:, None] - s
            gap[np.arange(len(s)), best] = self.tie_margin + 1
            near = np.flatnonzero((gap <= self.tie_margin).any(axis=1))
            if near.size:
                # scikit-learn's arithmetic: float64 sum in tree order, then / n_trees.
                acc = np.zeros((near.size, self.n_outputs), dtype=np.float64)
                for t in range(self.n_trees):
                    acc += self.leaf_proba[leaf[near, t]]
                acc /= self.n_trees
                best[near] = np.argmax(acc, axis=1)
        return best

    def predict(self, X) -> np.ndarray:
        if self.kind == "classifier":
            return self.classes_[self.predict_index(X)]
        return self.scores(X)[:, 0] / self.score_denominator


    # -- the Model protocol's device and board parts (emlearn_lab.protocol) ----------------
    def decode(self, index, scores) -> np.ndarray:
        """What predict returns, from the class indices or scores the device wrote."""
        if self.kind == "classifier":
            return self.classes_[index]
        return scores[:, 0] / self.score_denominator

    def device_plan(self, form: str, target, name: str, heap_free_bytes: int) -> tuple:
        from .deployment import device_plan
        return device_plan(self, form, target, name, heap_free_bytes)

    def device_remedy(self, form: str) -> str:
        from .deployment import device_remedy
        return device_remedy(self, form)

    def pipeline_input_error(self) -> str | None:
        from .deployment import pipeline_input_error
        return pipeline_input_error(self)

    def board_estimate(self, board, form: str, bundle, X=None):
        from .deployment import board_estimate
        return board_estimate(self, board, form, bundle, X)

    def __repr__(self) -> str:
        extra = "" if self.leaf_bits is None else f", {self.leaf_bits}-bit leaves"
        extra += ", learned int16 scales" if self.quantiser is not None else ""
        return (f"TreeModel({self.kind}, {self.n_trees} trees, {self.n_nodes} decision nodes, "
                f"{self.n_leaves} unique leaves{extra}, features={self.features!r}, "
                f"{self.n_features} features, from {self.source or 'unknown'})")


_NAN_WHY = "Trees on the device cannot branch on NaN"
