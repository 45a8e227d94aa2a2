"""Tree compression: fewer trees and nodes, shared (k-means) and quantised leaves, int16
features, simplified nodes.

The result is an ordinary TreeModel, so it has a host reference, a model file and both device
forms, and deploy verifies it like any model. Its reference is itself, not scikit-learn: the
compression report scores that reference, and the device must match it bit for bit.

Steps, in order:

0. with labelled rows (``X_train``, ``y_train``): tree selection, cost-complexity pruning and
   leaf refinement (see :mod:`.prune`, which cites what each is based on);
1. leaf values as floats: class probabilities (scikit-learn's own float64) or regression values;
2. ``leaves_per_class``: k-means (scikit-learn, seeded) of all leaves of all trees, weighted by
   how many tree leaves share each value, into ``leaves_per_class * n_classes`` centroids
   (``leaves_per_class`` for a regressor); every leaf takes its centroid;
3. ``leaf_bits``: probabilities to integers ``round(p * (2**bits - 1))`` (a leaf that rounds to
   all zeros keeps one unit on its most probable class), or 0 bits: one vote for the most
   probable class (hard voting); regressors keep 32-bit fixed point;
4. exact de-duplication of leaf rows across all trees;
5. ``features="int16"``: learned per-feature scales (see :mod:`.quantise`); thresholds move to
   int16 space, and nodes that can only go one way are removed;
6. nodes whose two subtrees are identical (e.g. two leaves that became the same) are replaced
   by that subtree, bottom-up.
"""
import numpy as np

from ..exceptions import InputError
from ..validate import int_in, invalid, one_of
from .convert import FEATURES
from .model import TreeModel
from .quantise import Q_MAX, Q_MIN, fit_quantiser

__all__ = ["compress_model", "leaf_probabilities"]


def leaf_probabilities(model: TreeModel) -> np.ndarray:
    """Float leaf values: scikit-learn's class probabilities, or regression values."""
    if model.leaf_proba is not None:
        return model.leaf_proba
    return model.leaves / float(2.0 ** model.leaf_shift)


def _leaf_weights(model: TreeModel) -> np.ndarray:
    """How many tree leaves (parent references and leaf roots) point at each unique leaf."""
    refs = np.concatenate([model.left, model.right, model.roots]) - model.n_nodes
    return np.bincount(refs[refs >= 0], minlength=model.n_leaves).astype(np.float64)


def _check_params(model, leaves_per_class, leaf_bits, features, X_calib):
    owner = "eml.compress"
    int_in("leaves_per_class", leaves_per_class, 1, allow_none=True, owner=owner,
           remedy="None keeps every distinct leaf (exact de-duplication only).")
    if leaf_bits is not None and model.kind != "classifier":
        raise invalid("leaf_bits", leaf_bits, "None for a regressor", owner=owner,
                      remedy="Regression leaves stay 32-bit fixed point; leaf_bits applies "
                             "to classifiers (class-probability leaves).")
    int_in("leaf_bits", leaf_bits, 0, 8, allow_none=True, owner=owner,
           remedy="0: one vote for the most probable class (hard voting); None: full "
                  "precision; 'auto': 8 for classifiers.")
    one_of("features", features, FEATURES, owner=owner)
    if model.features == "int16" and features == "float32":
        raise invalid("features", features, "'int16' for a model converted with int16 "
                      "features", owner=owner, remedy="Its thresholds stay as they are.")
    if features == "int16" and model.features == "float32" and X_calib is None:
        raise invalid("X_calib", X_calib, "rows of training features when features='int16'",
                      owner=owner, remedy="They set the scale of each feature: pass e.g. "
                                          "X_calib=X_train.")


def _unique_rows(A: np.ndarray) -> tuple:
    """np.unique(A, axis=0, return_inverse=True) for a 2-D numeric array, by a lexsort of
    the columns (several times faster than the structured sort np.unique does)."""
    if len(A) == 0:
        return A, np.zeros(0, dtype=np.int64)
    order = np.lexsort(A.T[::-1])
    ranked = A[order]
    new = np.concatenate([[True], np.any(ranked[1:] != ranked[:-1], axis=1)])
    inverse = np.empty(len(A), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return ranked[new], inverse


def _cluster(values, weights, n_clusters, random_state):
    """Each leaf row replaced by its weighted k-means centroid (unchanged when there are no
    more distinct rows than clusters)."""
    import warnings
    uniq, inverse = _unique_rows(values)
    if len(uniq) <= n_clusters:
        return values
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    w = np.bincount(inverse, weights=weights, minlength=len(uniq))
    km = KMeans(n_clusters=n_clusters, random_state=random_state, n_init=4)
    with warnings.catch_warnings():   # rows that differ by less than k-means resolves
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = km.fit(uniq, sample_weight=w).labels_
    return km.cluster_centers_[labels][inverse]


def _quantise_leaves(P, leaf_bits):
    if leaf_bits == 0:
        V = np.zeros(P.shape, dtype=np.int64)
        V[np.arange(len(P)), np.argmax(P, axis=1)] = 1
        return V
    top = 2 ** leaf_bits - 1
    V = np.floor(np.clip(P, 0.0, 1.0) * top + 0.5).astype(np.int64)
    empty = ~V.any(axis=1)
    V[np.flatnonzero(empty), np.argmax(P[empty], axis=1)] = 1
    return V


def _int16_thresholds(model, quantiser):
    """int16 keys of the thresholds, and which nodes always go left / right."""
    t32 = _key_to_float32(model.threshold)
    T = quantiser.threshold(model.feature, t32)
    always_right = T < Q_MIN          # q(x) >= -32768 > T
    always_left = T >= Q_MAX          # q(x) <= 32767 <= T
    keys = np.clip(T, Q_MIN, Q_MAX) + 32768
    return keys, always_left, always_right


def _key_to_float32(k):
    """float32 thresholds from their uint32 keys (inverse of keys.float32_keys)."""
    k = np.asarray(k, dtype=np.int64).astype(np.uint32)
    bits = np.where(k & np.uint32(0x80000000), k & np.uint32(0x7FFFFFFF), ~k)
    return bits.astype(np.uint32).view(np.float32)


def _simplify(feature, threshold, left, right, roots, n_nodes, redirect):
    """Drop decision nodes that always go one way (redirect: -1 none, 0 left, 1 right) or
    whose two subtrees are identical. Returns new arrays; node order (children after parents)
    is kept. Children/roots use the TreeModel encoding (>= n_nodes: leaf)."""
    if n_nodes == 0:
        return feature, threshold, left, right, roots
    # Plain lists: this loop runs once per node of every setting of a sweep.
    left_l, right_l, red = left.tolist(), right.tolist(), redirect.tolist()
    feat_l, thr_l = feature.tolist(), threshold.tolist()
    resolved = list(range(n_nodes))                 # node -> node or leaf code it becomes
    canon = {}                                      # structure -> canonical id
    ident = [0] * n_nodes                           # canonical id of each kept node
    for n in range(n_nodes - 1, -1, -1):
        a, b = left_l[n], right_l[n]
        if a < n_nodes:
            a = resolved[a]
        if b < n_nodes:
            b = resolved[b]
        if red[n] >= 0:
            resolved[n] = a if red[n] == 0 else b
            continue
        ca = n_nodes - 1 - a if a >= n_nodes else ident[a]    # leaves: negative ids
        cb = n_nodes - 1 - b if b >= n_nodes else ident[b]
        if ca == cb:
            resolved[n] = a
            continue
        ident[n] = canon.setdefault((feat_l[n], thr_l[n], ca, cb), len(canon))
    resolved = np.asarray(resolved, dtype=np.int64)
    keep = np.flatnonzero(resolved == np.arange(n_nodes))
    new_id = np.full(n_nodes, -1, dtype=np.int64)
    new_id[keep] = np.arange(len(keep))
    n_new = len(keep)

    def enc(c):
        c = np.asarray(c, dtype=np.int64)
        c = np.where(c < n_nodes, resolved[np.minimum(c, n_nodes - 1)], c)
        return np.where(c >= n_nodes, c - n_nodes + n_new, new_id[np.minimum(c, n_nodes - 1)])

    return feature[keep], threshold[keep], enc(left[keep]), enc(right[keep]), enc(roots)


def compress_model(model: TreeModel, *, leaves_per_class=None, leaf_bits="auto",
                   features="float32", X_calib=None, quantile=0.001,
                   random_state=0) -> TreeModel:
    """See :func:`emlearn_lab.compression` (this takes a converted float32/int16 TreeModel)."""
    if model.meta.get("compression"):
        raise InputError("this model is already compressed: compress the original "
                         "estimator or its eml.convert() model instead")
    clf = model.kind == "classifier"
    if isinstance(leaf_bits, str) and leaf_bits == "auto":
        leaf_bits = 8 if clf else None
    _check_params(model, leaves_per_class, leaf_bits, features, X_calib)
    P = leaf_probabilities(model).astype(np.float64)
    weights = _leaf_weights(model)
    if leaves_per_class is not None:
        k = int(leaves_per_class) * (model.n_outputs if clf else 1)
        P = _cluster(P, weights, k, random_state)

    if clf and leaf_bits is not None:
        V, shift = _quantise_leaves(P, int(leaf_bits)), 0
    else:
        from .convert import _leaf_shift
        shift = _leaf_shift(float(np.abs(P).max(initial=0.0)), model.n_trees)
        V = np.rint(P * 2.0 ** shift).astype(np.int64)
    uniq, inverse = _unique_rows(V)
    n_nodes = model.n_nodes

    def remap(c):
        c = np.asarray(c, dtype=np.int64)
        return np.where(c >= n_nodes, n_nodes + inverse[np.maximum(c - n_nodes, 0)], c)

    left, right, roots = remap(model.left), remap(model.right), remap(model.roots)
    threshold, redirect, quantiser = model.threshold, np.full(n_nodes, -1), None
    out_features = model.features
    if features == "int16" and model.features == "float32":
        quantiser = fit_quantiser(X_calib, quantile)
        if quantiser.n_features != model.n_features:
            raise InputError(f"X_calib has {quantiser.n_features} features, the model "
                             f"{model.n_features}")
        threshold, always_left, always_right = _int16_thresholds(model, quantiser)
        redirect = np.where(always_left, 0, np.where(always_right, 1, -1))
        out_features = "int16"
    feature, threshold, left, right, roots = _simplify(
        model.feature, threshold, left, right, roots, n_nodes, redirect)
    settings = {**model.meta.get("pruning", {}), "leaves_per_class": leaves_per_class,
                "leaf_bits": leaf_bits, "features": features, "random_state": random_state}
    return TreeModel(
        kind=model.kind, features=out_features, n_features=model.n_features,
        feature=feature, threshold=threshold, left=left, right=right, roots=roots,
        leaves=uniq, leaf_shift=shift, classes_=model.classes_,
        leaf_bits=int(leaf_bits) if clf and leaf_bits is not None else None,
        quantiser=quantiser, source=f"{model.source} (compressed)",
        meta={"compression": settings})
