# emlearn_lab detectors on the device: a model whose one score decides inlier (1) or outlier
# (0) against a threshold. The score is the model's own (scores(x)[0]); the threshold comes in
# the load call, so a new threshold is a new load, never a new model file.
import array

import emlab_common

# The row check cache starts with an object no caller holds (see emlab_common._UNSEEN).
_UNSEEN = object()


def load_trees(threshold, module, loader, sum_at, *args):
    """A tree detector: module.loader(*args) loads the trees (emltrees.load(path), or an
    inline module's load()), whose one integer score (the sum over trees) makes a row an
    inlier when it is >= threshold (an int). sum_at: where an inline module's _run leaves the
    sum in its _WORK buffer; -1 for emltrees (its work buffer says)."""
    if not isinstance(threshold, int) or not isinstance(sum_at, int):
        raise ValueError("detector threshold and sum index must be ints, got %r and %r: "
                         "deploy the model again" % (threshold, sum_at))
    mod = __import__(module)
    trees = getattr(mod, loader)(*args)
    if trees.n_outputs != 1:
        raise ValueError("a tree detector needs one score, the model has %d outputs: deploy "
                         "the model again" % trees.n_outputs)
    return Detector(trees, threshold, _direct(mod, trees, sum_at, threshold))


class Detector:
    """A loaded detector: predict(x) -> 1 (inlier) or 0 (outlier), scores(x) -> the one
    score (a 1-item array), plus n_features, features, kind (0: a classifier of two classes,
    outlier and inlier) and n_outputs (1). direct: whether predict calls the trees' kernel
    itself (no allocation, one Python-level call) rather than their scores()."""

    def __init__(self, model, threshold, direct=None):
        self.model = model
        self.n_features = model.n_features
        self.features = model.features
        self.kind = 0
        self.n_outputs = 1
        self.threshold = threshold
        self.scores = model.scores
        self.direct = direct is not None
        self.predict = direct or _decide(model.scores, threshold)


def _decide(scores, threshold):
    # The general path: one allocation (the scores slice) and a call more than _direct's.
    def predict(x):
        """1 if the row's score is >= the threshold (an inlier), else 0."""
        return 1 if scores(x)[0] >= threshold else 0
    return predict


def _direct(mod, trees, sum_at, threshold):
    """predict(x) calling the walker directly and reading the sum where it leaves it, or
    None (another kind of model, or int16 rows). Each extra Python-level call or allocation
    costs as much as walking a few trees (see emlab_common.bind). Checked at load against
    scores() on a row of zeros: a mismatch keeps the general path."""
    if trees.features != emlab_common.FEATURES_F32:
        return None
    if sum_at < 0:
        h = getattr(trees, "_h", None)
        blob = getattr(trees, "_blob", None)
        if h is None or blob is None:
            return None
        # emltrees.Trees keeps the walker it bound; h[11] is the first sum.
        kernel = getattr(trees, "_kernel", None)
        if kernel is None:
            return None
        nf = trees.n_features
        # [last row checked, n_features, kernel, work buffer, blob, sum index, threshold]
        st = [_UNSEEN, nf, kernel, h, blob, h[11], threshold]

        def predict(x):
            """1 if the row's sum over the trees is >= the threshold (an inlier), else 0."""
            if x is not st[0]:
                emlab_common.check_features(x, st[1], 0)
                st[0] = x
            st[2](0, st[3], st[4], x)
            return 1 if st[3][st[5]] >= st[6] else 0
        buf, at = h, h[11]
    else:
        run = getattr(mod, "_run", None) or getattr(mod, "_run0", None)
        buf = getattr(mod, "_WORK", None)
        if run is None or buf is None or sum_at >= len(buf):
            return None
        # [the inline walker (it checks the row), work buffer, sum index, threshold]
        st = [run, buf, sum_at, threshold]

        def predict(x):
            """1 if the row's sum over the trees is >= the threshold (an inlier), else 0."""
            st[0](x)
            return 1 if st[1][st[2]] >= st[3] else 0
        at = sum_at
    x = array.array("f", [0.0] * trees.n_features)
    want = trees.scores(x)[0]
    predict(x)
    return predict if buf[at] == want else None
