"""scikit-learn IsolationForest -> IsolationModel: exact on the device through the tree runtime.

An isolation tree's score for a row is the path length of the leaf it reaches: the leaf's depth
plus ``c(n)``, the average path length of an unsuccessful search among the ``n`` training
samples left in it (scikit-learn's ``_average_path_length``). IsolationForest averages them over
the trees and reports ``score_samples = -2**(-mean / c(max_samples_))``.

Here each leaf holds its path length in fixed point (times ``2**leaf_shift``, rounded), so the
device's integer sum S over the trees is exact, and the documented host reference is

    score_samples = -2**(-(S / 2**leaf_shift / n_trees) / c(max_samples_))

in float64, computed from S (0.5 when ``c(max_samples_)`` is 0, as scikit-learn does). The
device decides inlier iff ``S >= threshold_units`` (an int). Every sum stays below 2**30: a
small int on 32-bit MicroPython, so reading it allocates nothing.
"""
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace

import numpy as np

from ..exceptions import InputError, NotFittedError
from ..protocol import register
from ..trees.convert import flatten_forest
from ..trees.model import TreeModel
from ..validate import one_of
from .detector import DetectorMixin

__all__ = ["accepts", "convert", "IsolationModel", "path_length_c"]

# The largest device sum and threshold: MicroPython's small ints on 32-bit ports end at 2**30-1.
SUM_MAX = 2**30 - 1
_NAME = "IsolationForest"


def accepts(est) -> bool:
    """Whether ``est`` is an IsolationForest (by class name: nothing is imported)."""
    return type(est).__name__ == _NAME


def path_length_c(n) -> np.ndarray:
    """c(n), the average path length of an unsuccessful search in a binary search tree of n
    keys, in float64 with the operations scikit-learn's IsolationForest uses (bit for bit):
    0 for n <= 1, 1 for n == 2, else 2 (ln(n - 1) + Euler's gamma) - 2 (n - 1) / n."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros(n.shape)
    out[n == 2] = 1.0
    big = n > 2
    m = n[big]
    out[big] = 2.0 * (np.log(m - 1.0) + np.euler_gamma) - 2.0 * (m - 1.0) / m
    return out


def convert(est, features: str = "float32") -> "IsolationModel":
    """A fitted IsolationForest -> IsolationModel (see the module docstring).

    Raises
    ------
    NotFittedError
        ``est`` is not fitted.
    InputError
        ``features`` other than "float32".
    """
    if not hasattr(est, "estimators_") or not hasattr(est, "offset_"):
        raise NotFittedError(f"This {type(est).__name__} instance is not fitted yet. Call "
                             "'fit' with appropriate arguments before converting it.")
    one_of("features", features, ("float32",), owner="eml.convert",
           remedy="IsolationForest converts with float32 features (exact for float32 rows).")
    n_features = int(est.n_features_in_)
    subsets = _feature_subsets(est, n_features)
    values = [_path_lengths(e.tree_) for e in est.estimators_]
    shift = _leaf_shift([float(v.max(initial=0.0)) for v in values])
    trees = _tree_model(est, subsets, values, shift, n_features, features)
    max_samples = int(getattr(est, "max_samples_", None) or est._max_samples)
    c = float(path_length_c([max_samples])[0])
    det = IsolationModel(trees=trees, c_max_samples=c, max_samples=max_samples,
                         offset=float(est.offset_), source=_describe(est))
    # scikit-learn's own threshold, less the fixed point's error bound: a training row that
    # scores exactly offset_ (an inlier to scikit-learn) stays one here (see
    # score_error_bound); that moves the threshold by < 1e-7.
    det.threshold = float(est.offset_) - det.score_error_bound
    return det


def _describe(est) -> str:
    return (f"IsolationForest(n_estimators={len(est.estimators_)}, "
            f"contamination={est.contamination!r})")


def _feature_subsets(est, n_features: int) -> list:
    """Each tree's columns of X, or None: scikit-learn subsets the columns only when it draws
    fewer features than X has (and then for fit and score alike)."""
    if int(getattr(est, "_max_features", n_features)) == n_features:
        return [None] * len(est.estimators_)
    return [np.asarray(f, dtype=np.int64) for f in est.estimators_features_]


def _path_lengths(tree) -> np.ndarray:
    """Per node: (depth counted from 1) + c(n_node_samples) - 1.0, scikit-learn's float64
    expression, as a column (the leaves' are the scores of the rows that reach them)."""
    depth = tree.compute_node_depths().astype(np.float64)
    return ((depth + path_length_c(tree.n_node_samples)) - 1.0)[:, None]


def _leaf_shift(tree_max: list) -> int:
    """The largest 2**shift (shift <= 30) at which the largest leaf of every tree, rounded and
    summed, is below SUM_MAX: every device sum and the threshold above it stay small ints."""
    total = sum(tree_max)
    if total == 0:
        return 0
    shift = min(30, int(np.floor(np.log2(SUM_MAX / total))))
    while sum(np.rint(m * 2.0 ** shift) for m in tree_max) > SUM_MAX - 1:
        shift -= 1
    return shift


def _tree_model(est, subsets, values, shift, n_features, features) -> TreeModel:
    scale = 2.0 ** shift
    views = []
    for e, cols in zip(est.estimators_, subsets):
        t = e.tree_
        feature = t.feature.astype(np.int64)
        if cols is not None:        # the tree's columns -> X's columns (leaves keep -2)
            feature = np.where(feature >= 0, cols[np.maximum(feature, 0)], feature)
        views.append(SimpleNamespace(children_left=t.children_left,
                                     children_right=t.children_right,
                                     threshold=t.threshold, feature=feature))
    feats, thrs, lefts, rights, roots, leaf_rows, n_nodes = \
        flatten_forest(views, values, features)
    fixed = np.rint(np.concatenate(leaf_rows) * scale).astype(np.int64)
    uniq, inverse = np.unique(fixed, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)

    def final(c):
        c = np.asarray(c, dtype=np.int64)
        return np.where(c >= 0, c, n_nodes + inverse[np.maximum(-c - 1, 0)])

    return TreeModel(
        kind="regressor", features=features, n_features=n_features,
        feature=(np.concatenate(feats) if n_nodes else np.zeros(0)).astype(np.int64),
        threshold=(np.concatenate(thrs) if n_nodes else np.zeros(0)).astype(np.int64),
        left=final(np.concatenate(lefts)), right=final(np.concatenate(rights)),
        roots=final(np.array(roots)), leaves=uniq, leaf_shift=shift, file_layout="split",
        source=_NAME)


@register
@dataclass(eq=False)
class IsolationModel(DetectorMixin):
    """A converted IsolationForest: a two-class classifier (outlier -1, inlier 1) with one
    integer score, the sum of the trees' fixed-point path lengths (see the module docstring).

    Attributes
    ----------
    trees : TreeModel
        The regressor whose integer sum S the device computes (leaf values: path lengths
        times ``2**trees.leaf_shift``).
    c_max_samples : float
        c(max_samples_): scikit-learn's normaliser of the mean path length.
    max_samples : int
    offset : float
        The estimator's ``offset_`` (its threshold on score_samples; the default
        ``threshold`` is this less ``score_error_bound``).
    threshold_units : int
        The device threshold: inlier iff S >= threshold_units (set through ``threshold``).
    """

    trees: TreeModel
    c_max_samples: float
    max_samples: int
    offset: float
    threshold_units: int = 0
    source: str = ""
    meta: dict = field(default_factory=dict)

    score_dtype = np.dtype("<i4")
    device_forms = TreeModel.device_forms

    # -- sizes ---------------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        return self.trees.n_features

    @property
    def features(self) -> str:
        return self.trees.features


    @property
    def n_trees(self) -> int:
        return self.trees.n_trees

    @cached_property
    def sum_max(self) -> int:
        """The largest sum any row can reach (each tree's largest leaf, summed; computed once:
        the trees are not meant to change)."""
        best = np.zeros(self.trees.n_nodes + self.trees.n_leaves, dtype=np.int64)
        nn = self.trees.n_nodes
        best[nn:] = self.trees.leaves[:, 0]
        for n in range(nn - 1, -1, -1):     # children follow parents: one backward pass
            best[n] = max(best[self.trees.left[n]], best[self.trees.right[n]])
        return int(best[self.trees.roots].sum())

    # -- the fixed-point reference -------------------------------------------------------
    @property
    def score_error_bound(self) -> float:
        """The most score_samples can differ from scikit-learn's: each tree's path length is
        rounded by at most half a unit (2**-leaf_shift), so the mean by as much, and
        |d score / d mean| <= ln 2 / c (plus float64 rounding). A row scoring exactly
        ``offset_`` in scikit-learn (``contamination`` puts ``offset_`` on a training row's
        score when (n_samples - 1) * contamination is a whole number) can land on either side;
        the default threshold, ``est.offset_ - det.score_error_bound``, keeps it an inlier."""
        if self.c_max_samples == 0:
            return 0.0
        return float(np.log(2.0) / self.c_max_samples * 0.5 / 2.0 ** self.trees.leaf_shift
                     + 1e-12)

    def score_of(self, sums) -> np.ndarray:
        """score_samples from device sums S: -2**(-(S / 2**shift / n_trees) / c), float64."""
        s = np.asarray(sums, dtype=np.float64)
        if self.c_max_samples == 0:          # one training sample: scikit-learn's 2**-1
            return np.full(s.shape, -0.5)
        mean = s / 2.0 ** self.trees.leaf_shift / self.n_trees
        return -np.power(2.0, -(mean / self.c_max_samples))

    @property
    def threshold(self) -> float:
        """In score_samples units: score_samples of the device threshold (rows scoring at
        least this are inliers). Setting it snaps to the smallest device sum whose
        score_samples is >= the value (above every reachable sum: every row an outlier)."""
        return float(self.score_of(np.array([self.threshold_units]))[0])

    @threshold.setter
    def threshold(self, value) -> None:
        self.threshold_units = self.units_for(value)

    def units_for(self, value) -> int:
        """The smallest device sum S (0 .. sum_max + 1) with score_of(S) >= value."""
        try:
            t = float(value)
        except (TypeError, ValueError):
            raise InputError(f"threshold must be a number in score_samples units, got "
                             f"{value!r}") from None
        if np.isnan(t):
            raise InputError("threshold must be a number in score_samples units, got NaN")
        lo, hi = 0, self.sum_max + 1          # score_of is non-decreasing in S
        while lo < hi:
            mid = (lo + hi) // 2
            if self.score_of(np.array([mid]))[0] >= t:
                hi = mid
            else:
                lo = mid + 1
        return lo

    # -- host reference (Model protocol) -------------------------------------------------
    def check_X(self, X) -> np.ndarray:
        return self.trees.check_X(X)

    def scores(self, X) -> np.ndarray:
        """The device's integer sums S, shape (n_rows, 1); higher = more normal."""
        return self.trees.scores(X)

    def score_values(self, scores) -> np.ndarray:
        """score_samples from scores as the device writes them, shape (n, 1)."""
        return self.score_of(np.asarray(scores)[:, 0])

    def predict_index(self, X) -> np.ndarray:
        """0 (outlier) or 1 (inlier) per row: S >= threshold_units, as the device decides."""
        return (self.scores(X)[:, 0] >= self.threshold_units).astype(np.int64)

    def compare(self, source, X) -> dict:
        """Agreement with the scikit-learn estimator ``source`` on float32 rows X:
        ``predict_agreement`` (share of rows with the same predict), ``max_score_error``
        (largest |score_samples - source.score_samples|), ``n_rows``."""
        X32 = self.check_X(X)
        same = self.predict(X32) == source.predict(X32)
        err = np.abs(self.score_samples(X32) - source.score_samples(X32))
        return {"predict_agreement": float(same.mean()) if len(X32) else 1.0,
                "max_score_error": float(err.max(initial=0.0)), "n_rows": len(X32)}

    # -- device and board (the tree runtime plus emlab_detect) ---------------------------
    def device_plan(self, form: str, target, name: str, heap_free_bytes: int) -> tuple:
        from .isolation_deploy import device_plan
        return device_plan(self, form, target, name, heap_free_bytes)

    def device_remedy(self, form: str) -> str:
        from .isolation_deploy import device_remedy
        return device_remedy(self, form)

    def pipeline_input_error(self) -> str | None:
        from ..trees.deployment import pipeline_input_error
        return pipeline_input_error(self.trees)

    def board_estimate(self, board, form: str, bundle, X=None):
        from .isolation_deploy import board_estimate
        return board_estimate(self, board, form, bundle, X)

    def __repr__(self) -> str:
        t = self.trees
        return (f"IsolationModel({t.n_trees} trees, {t.n_nodes} decision nodes, "
                f"threshold {self.threshold:.6g} (sum >= {self.threshold_units}), "
                f"{self.n_features} features, from {self.source or 'unknown'})")
