"""scikit-learn trees and forests -> TreeModel."""
import numpy as np

from ..exceptions import InputError, NotFittedError, UnsupportedModelError
from ..validate import one_of
from . import keys as _keys
from .model import TreeModel

__all__ = ["convert_trees", "is_tree_estimator"]

_SUPPORTED = ("DecisionTreeClassifier", "DecisionTreeRegressor", "RandomForestClassifier",
              "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
              "ExtraTreeClassifier", "ExtraTreeRegressor")
_INT32_MAX = 2**31 - 1
FEATURES = ("float32", "int16")


class _FeaturesError(InputError, UnsupportedModelError):
    """An unknown ``features=`` value: a bad keyword value, so an InputError (as eml.compress
    raises for it); also an UnsupportedModelError, which eml.convert raised for it before (and
    its docstring lists), so that ``except UnsupportedModelError`` / ``TypeError`` keep
    catching it."""


def is_tree_estimator(est) -> bool:
    return type(est).__name__ in _SUPPORTED


def _trees_of(est):
    name = type(est).__name__
    if name not in _SUPPORTED:
        raise UnsupportedModelError(
            f"cannot convert {name}: supported tree estimators are {', '.join(_SUPPORTED)}")
    if hasattr(est, "estimators_"):
        return [e.tree_ for e in est.estimators_]
    if not hasattr(est, "tree_"):
        raise NotFittedError(f"This {name} instance is not fitted yet. Call 'fit' with "
                             "appropriate arguments before converting it.")
    return [est.tree_]


def convert_trees(est, features: str = "float32") -> TreeModel:
    """Convert a fitted scikit-learn tree or forest.

    Parameters
    ----------
    est : fitted DecisionTree*, RandomForest*, ExtraTree(s)*
    features : {"float32", "int16"}
        "float32": features travel as float32 and every prediction equals scikit-learn's for
        float32 input. "int16": features travel as int16 (whole numbers); thresholds are
        floored, which is exact for integer inputs.

    Raises
    ------
    NotFittedError, UnsupportedModelError
    InputError
        An unknown ``features`` value (also an UnsupportedModelError, as it was before).
    """
    if not hasattr(est, "n_features_in_"):
        if type(est).__name__ in _SUPPORTED:
            raise NotFittedError(f"This {type(est).__name__} instance is not fitted yet. "
                                 "Call 'fit' with appropriate arguments before converting it.")
    trees = _trees_of(est)
    one_of("features", features, FEATURES, owner="eml.convert", error=_FeaturesError)
    if getattr(est, "n_outputs_", 1) != 1:
        raise UnsupportedModelError(
            f"multi-output estimators are not supported (n_outputs_={est.n_outputs_}); "
            "fit one estimator per output")
    is_clf = hasattr(est, "classes_")
    n_trees = len(trees)

    values = [_leaf_values(t, is_clf) for t in trees]
    vmax = max(float(np.abs(v).max(initial=0.0)) for v in values)
    shift = _leaf_shift(vmax, n_trees)
    scale = 2.0 ** shift

    feats, thrs, lefts, rights, roots, leaf_rows, node_offset = \
        flatten_forest(trees, values, features)

    proba = np.concatenate(leaf_rows)
    fixed = np.rint(proba * scale).astype(np.int64)
    # Leaves are de-duplicated on their exact float64 values as well: the near-tie path needs
    # scikit-learn's own float64 probabilities (see TreeModel.predict_index).
    exact = is_clf and n_trees > 1
    key = np.hstack([fixed, proba.view(np.int64)]) if exact else fixed
    uniq, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    uniq = fixed[first]
    n_nodes = node_offset

    def final(c):
        c = np.asarray(c, dtype=np.int64)
        return np.where(c >= 0, c, n_nodes + inverse[np.maximum(-c - 1, 0)])

    model = TreeModel(
        kind="classifier" if is_clf else "regressor",
        features=features,
        n_features=int(est.n_features_in_),
        feature=np.concatenate(feats).astype(np.int64) if feats else np.zeros(0, np.int64),
        threshold=np.concatenate(thrs).astype(np.int64),
        left=final(np.concatenate(lefts)),
        right=final(np.concatenate(rights)),
        roots=final(np.array(roots)),
        leaves=uniq,
        leaf_shift=shift,
        leaf_proba=proba[first] if exact else None,
        classes_=np.asarray(est.classes_) if is_clf else None,
        file_layout="split",        # the faster walker; eml.compress writes the smallest file
        source=type(est).__name__,
    )
    return model


def flatten_forest(trees, values, features) -> tuple:
    """Every tree's decision nodes and leaf rows numbered across the forest, in tree order:
    (features, thresholds, lefts, rights (lists of per-tree arrays), root codes, leaf values
    (per tree), the number of decision nodes). Children are provisional codes (_globalise):
    the caller maps leaf rows to its de-duplicated leaves. ``trees``: scikit-learn tree_
    objects, or anything with their children_left/right, threshold and feature arrays."""
    feats, thrs, lefts, rights, roots, leaf_rows = [], [], [], [], [], []
    node_offset = leaf_offset = 0
    for tree, vals in zip(trees, values):
        f, t, left, right, root, n_dec, leaf_vals = _flatten(tree, vals, features)
        feats.append(f)
        thrs.append(t)
        lefts.append(_globalise(left, node_offset, leaf_offset))
        rights.append(_globalise(right, node_offset, leaf_offset))
        roots.append(int(_globalise(np.array([root]), node_offset, leaf_offset)[0]))
        leaf_rows.append(leaf_vals)
        node_offset += n_dec
        leaf_offset += len(leaf_vals)
    return feats, thrs, lefts, rights, roots, leaf_rows, node_offset


def _globalise(c, node_offset, leaf_offset):
    """Provisional encoding across trees: decision nodes local -> global index, leaves
    -(local)-1 -> -(global leaf row)-1."""
    return np.where(c >= 0, c + node_offset, c - leaf_offset)


def _leaf_values(tree, is_clf):
    v = tree.value[:, 0, :].astype(np.float64)
    if is_clf:
        # The same operations as DecisionTreeClassifier.predict_proba, so that the float64
        # values are bit for bit those scikit-learn averages.
        normalizer = v.sum(axis=1)[:, np.newaxis]
        normalizer[normalizer == 0.0] = 1.0
        v = v / normalizer
    return v


def _leaf_shift(vmax: float, n_trees: int) -> int:
    # Largest power-of-two scale for which n_trees leaves of magnitude vmax sum within int32,
    # with one unit to spare for rounding. Classifier leaves are probabilities (vmax = 1).
    budget = (_INT32_MAX // n_trees) - 1
    if vmax == 0:
        return 30
    shift = int(np.floor(np.log2(budget / vmax)))
    while shift > -30 and np.rint(vmax * 2.0 ** shift) > budget:
        shift -= 1
    if shift < -30:
        raise UnsupportedModelError(f"leaf values up to {vmax:g} are too large to encode")
    return min(shift, 30)


def _flatten(tree, vals, features):
    """Decision nodes of one tree in scikit-learn order (children after parents).

    Returns feature, threshold key, left, right (local decision index, or -(local leaf)-1),
    root, number of decision nodes, and leaf value rows.
    """
    cl, cr = tree.children_left, tree.children_right
    is_leaf = cl == -1
    dec_id = np.cumsum(~is_leaf) - 1
    leaf_id = np.cumsum(is_leaf) - 1
    thr64 = tree.threshold.astype(np.float64)
    feat = tree.feature.astype(np.int64)

    if features == "float32":
        keys = _keys.float32_keys(_keys.float32_threshold(thr64))
        # Every threshold is finite, so no node is constant.
        redirect = None
    else:
        t_int = _keys.int16_threshold(thr64)
        # x <= t with t < -32768 is never true for int16 x: the node always goes right.
        # With t >= 32767 it is always true: key 65535 makes it always go left.
        always_right = (~is_leaf) & (t_int < -32768)
        keys = (np.clip(t_int, -32768, 32767) + 32768).astype(np.int64)
        redirect = always_right

    def ref(node):
        # Follow nodes that always go right (int16 only), then encode.
        while redirect is not None and redirect[node]:
            node = cr[node]
        return int(dec_id[node]) if not is_leaf[node] else -int(leaf_id[node]) - 1

    keep = np.flatnonzero(~is_leaf)
    if redirect is not None:
        keep = keep[~redirect[keep]]
        # Renumber the surviving decision nodes; order (and so children > parent) is kept.
        dec_id = np.full(len(cl), -1, dtype=np.int64)
        dec_id[keep] = np.arange(len(keep))
    left = np.array([ref(cl[n]) for n in keep], dtype=np.int64)
    right = np.array([ref(cr[n]) for n in keep], dtype=np.int64)
    root = ref(0)
    return (feat[keep], keys[keep], left, right, root, len(keep), vals[is_leaf])
