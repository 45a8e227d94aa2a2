# Shared by the loadable (emltrees) and inline model modules on the device.
import array

FEATURES_F32 = 0
FEATURES_I16 = 1
KIND_CLASSIFIER = 0
KIND_REGRESSOR = 1


def check_features(x, n_features, features):
    """Raise ValueError unless x is array('f') (float32 model) or array('h') (int16 model) of
    n_features items: the kernels read exactly that many bytes from its buffer."""
    want = 4 if features == FEATURES_F32 else 2
    if not isinstance(x, array.array) or len(x) != n_features \
            or len(bytes(memoryview(x)[:1])) != want:
        raise ValueError("expected array.array('%s') of %d features, got %r"
                         % ("f" if want == 4 else "h", n_features, x))


def tie_resolver(ties_path, n_features, n_outputs, n_trees, n_leaves, work):
    """settle(best) for kernels that flag a near tie: re-run scikit-learn's float64 average
    over the leaves recorded in work, with the per-leaf probabilities from ties_path."""
    import os
    import struct
    row_bytes = 8 * n_outputs
    if os.stat(ties_path)[6] != n_leaves * row_bytes:
        raise ValueError("tie file %s does not match the model (%d leaves x %d outputs)"
                         % (ties_path, n_leaves, n_outputs))
    fmt = "<%dQ" % n_outputs
    first_leaf = n_features + n_outputs

    def settle(best):
        import emlab_f64
        rows = []
        with open(ties_path, "rb") as f:
            for t in range(n_trees):
                f.seek(work[first_leaf + t] * row_bytes)
                rows.append(struct.unpack(fmt, f.read(row_bytes)))
        return emlab_f64.mean_argmax(rows, n_outputs)
    return settle


def bind(n_features, features, kind, n_outputs, n_trees, leaf_shift, kernel, a, b, c, d, work,
         settle=None):
    """predict(x) and scores(x) closures around kernel(a, b, c, d, x) -> class index, which
    leaves the integer sums in work[n_features:]. Closures calling the kernel directly, not
    methods or wrappers: each extra Python-level call or attribute lookup costs about as much
    as walking a tree, and these run once per sample. A negative kernel result flags a near
    tie, settled by settle() (see tie_resolver)."""
    checked = [None]  # the item-size check allocates, so it runs once per input object
    div = n_trees * (1 << leaf_shift) if leaf_shift >= 0 else n_trees / (1 << -leaf_shift)

    def scores(x):
        """The exact integer sums behind predict(): one per class, or one (regressor)."""
        if x is not checked[0]:
            check_features(x, n_features, features)
            checked[0] = x
        kernel(a, b, c, d, x)
        return work[n_features:n_features + n_outputs]

    if kind == KIND_CLASSIFIER:
        def predict(x):
            """Class index (0 .. n_outputs-1) for one row of features."""
            if x is not checked[0]:
                check_features(x, n_features, features)
                checked[0] = x
            r = kernel(a, b, c, d, x)
            if r < 0:
                # A near tie the integer sums cannot settle (see emlab_f64).
                r = settle(-1 - r) if settle else -1 - r
            return r
    else:
        def predict(x):
            """Predicted value for one row of features."""
            if x is not checked[0]:
                check_features(x, n_features, features)
                checked[0] = x
            kernel(a, b, c, d, x)
            return work[n_features] / div
    return predict, scores


class Model:
    """A loaded model: predict(x), scores(x), predict_proba(x) and its sizes."""

    def __init__(self, n_features, features, kind, n_outputs, n_trees, leaf_shift, predict,
                 scores):
        self.n_features = n_features
        self.features = features
        self.kind = kind
        self.n_outputs = n_outputs
        self.n_trees = n_trees
        self.leaf_shift = leaf_shift
        self.predict = predict
        self.scores = scores

    def predict_proba(self, x):
        """Class probabilities (classifiers): the integer sums over 2**leaf_shift * n_trees."""
        total = (1 << self.leaf_shift) * self.n_trees
        return [v / total for v in self.scores(x)]
