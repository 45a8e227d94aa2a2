"""The nearest-neighbour arithmetic the device runs (device_src/emlknn.py), in numpy.

Distances
    float32 features: per example, ``acc = 0``, then for each feature in order
    ``d = x - e``, ``acc = acc + d * d`` (euclidean: the SQUARED distance) or
    ``acc = acc + |d|`` (manhattan), every operation rounded to float32. Every term is >= 0,
    so ``acc`` is never NaN; it may overflow to inf.
    int16 features: the same sums in integers; the converter bounds the values so that they
    fit a signed 32-bit machine int (see :func:`int16_bound`).
Neighbours
    The k examples with the smallest distance, ties to the lower example index (the base
    examples first, then the learned ones in the order they were learned).
Weights (weights="distance")
    ``s`` = the float32 distance: euclidean ``sqrt(float32(acc))``, manhattan
    ``float32(acc)``; ``w = float32(1 / s)``. As in scikit-learn, when a neighbour is at
    distance 0 (or 1 / s overflows to inf) the neighbours whose weight is inf weigh 1 and the
    others 0; when every weight is 0 (every distance overflowed) they all weigh 1.
Votes and values
    classifiers: per class the count of neighbours (uniform, int32) or the float32 sum of
    their weights, added in neighbour order; the class is the first maximum (scikit-learn's
    argmax). regressors: float32 ``sum(y) / k`` (uniform) or ``sum(w * y) / sum(w)``, sums in
    neighbour order.
"""
import numpy as np

__all__ = ["distances", "neighbours", "weights_of", "class_votes", "regression_values",
           "first_max", "int16_bound", "summed_terms", "INT32_MAX"]

INT32_MAX = 2**31 - 1
_CHUNK_CELLS = 4_000_000     # distance matrix cells computed at a time


def int16_bound(metric: str, n_features: int) -> int:
    """The largest |feature| an int16 model takes so that a distance fits a signed 32-bit int:
    euclidean n * (2L)**2 <= 2**31 - 1, manhattan n * 2L <= 2**31 - 1 (at most 32767)."""
    if metric == "euclidean":
        L = int(np.sqrt(INT32_MAX / n_features) // 2)
        while n_features * (2 * L) ** 2 > INT32_MAX:
            L -= 1
    else:
        L = INT32_MAX // (2 * n_features)
    return int(min(L, 32767))


def distances(X: np.ndarray, E: np.ndarray, metric: str) -> np.ndarray:
    """(n_rows, n_examples) distances as the device computes them: float32 for float32 rows
    and examples, int64 holding the device's int32 for int16 ones."""
    n, m = len(X), len(E)
    integer = X.dtype.kind == "i"
    out = np.empty((n, m), dtype=np.int64 if integer else np.float32)
    step = max(1, _CHUNK_CELLS // max(1, m))
    with np.errstate(over="ignore", invalid="ignore"):
        for a in range(0, n, step):
            Xa = X[a:a + step]
            if integer:
                d = Xa.astype(np.int64)[:, None, :] - E.astype(np.int64)[None, :, :]
                out[a:a + step] = (d * d if metric == "euclidean" else np.abs(d)).sum(axis=2)
                continue
            acc = np.zeros((len(Xa), m), dtype=np.float32)
            for j in range(X.shape[1]):
                d = Xa[:, j, None] - E[None, :, j]
                acc = acc + (d * d if metric == "euclidean" else np.abs(d))
            out[a:a + step] = acc
    return out


def neighbours(D: np.ndarray, k: int) -> np.ndarray:
    """(n_rows, k) example indices by (distance, index)."""
    return np.argsort(D, axis=1, kind="stable")[:, :k]


def weights_of(Dk: np.ndarray, metric: str) -> np.ndarray:
    """float32 weights (n_rows, k) of the neighbours at distances Dk (weights="distance")."""
    s = Dk.astype(np.float32)
    with np.errstate(divide="ignore", over="ignore"):
        if metric == "euclidean":
            s = np.sqrt(s)
        w = np.float32(1.0) / s
    inf = np.isinf(w)
    w = np.where(inf.any(axis=1, keepdims=True), inf.astype(np.float32), w)
    return np.where((w == 0).all(axis=1, keepdims=True), np.float32(1.0), w).astype(np.float32)


def class_votes(idx: np.ndarray, labels: np.ndarray, n_classes: int,
                w: np.ndarray | None) -> np.ndarray:
    """Per-class votes: int64 counts (w None) or float32 sums of the weights, added in
    neighbour order."""
    n, k = idx.shape
    rows = np.arange(n)
    votes = np.zeros((n, n_classes), dtype=np.int64 if w is None else np.float32)
    with np.errstate(over="ignore"):
        for i in range(k):
            c = labels[idx[:, i]]
            votes[rows, c] = votes[rows, c] + (1 if w is None else w[:, i])
    return votes


def regression_values(idx: np.ndarray, targets: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """float32 (n_rows,) mean (w None) or weighted mean of the neighbours' targets."""
    n, k = idx.shape
    num = np.zeros(n, dtype=np.float32)
    den = np.zeros(n, dtype=np.float32)
    with np.errstate(all="ignore"):
        for i in range(k):
            y = targets[idx[:, i]]
            if w is None:
                num = num + y
            else:
                num = num + w[:, i] * y
                den = den + w[:, i]
        return num / (np.float32(k) if w is None else den)


def first_max(votes: np.ndarray) -> np.ndarray:
    """The first maximum of each row (by "greater than", as the device)."""
    best = np.zeros(len(votes), dtype=np.int64)
    rows = np.arange(len(votes))
    for j in range(1, votes.shape[1]):
        best[votes[:, j] > votes[rows, best]] = j
    return best


def summed_terms(X: np.ndarray, E: np.ndarray, metric: str, k: int) -> np.ndarray:
    """Distance terms the device adds per row (n_rows,): once k examples are held it stops
    summing a distance when the sum reaches the k-th best so far (after the term that got it
    there), as device_src/emlknn.py and emlknn_kernels do."""
    D = distances(X, E, metric)
    n, m = D.shape
    big = np.iinfo(np.int64).max if D.dtype.kind == "i" else np.inf
    W = np.full((n, m), big, dtype=D.dtype)      # the k-th best before each example
    best = np.full((n, k), big, dtype=D.dtype)
    for i in range(m):
        if i >= k:
            W[:, i] = best[:, k - 1]
        best = np.sort(np.concatenate([best, D[:, i:i + 1]], axis=1), axis=1)[:, :k]
    terms = np.full((n, m), X.shape[1], dtype=np.int64)
    done = np.zeros((n, m), dtype=bool)
    integer = X.dtype.kind == "i"
    acc = np.zeros((n, m), dtype=np.int64 if integer else np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(X.shape[1]):
            if integer:
                d = X[:, j, None].astype(np.int64) - E[None, :, j].astype(np.int64)
            else:
                d = X[:, j, None] - E[None, :, j]
            acc = acc + (d * d if metric == "euclidean" else np.abs(d))
            stop = ~done & (acc >= W)
            terms[stop] = j + 1
            done |= stop
    return terms.sum(axis=1)
