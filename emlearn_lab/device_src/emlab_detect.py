# emlearn_lab detectors on the device: a model whose one score decides inlier (1) or outlier
# (0) against a threshold. The score is the model's own (scores(x)[0]); the threshold comes in
# the load call, so a new threshold is a new load, never a new model file.


def load_trees(threshold, module, loader, *args):
    """A tree detector: module.loader(*args) loads the trees (emltrees.load(path), or an
    inline module's load()), whose one integer score (the sum over trees) makes a row an
    inlier when it is >= threshold (an int)."""
    if not isinstance(threshold, int):
        raise ValueError("detector threshold must be an int (the device sum), got %r: deploy "
                         "the model again" % (threshold,))
    trees = getattr(__import__(module), loader)(*args)
    if trees.n_outputs != 1:
        raise ValueError("a tree detector needs one score, the model has %d outputs: deploy "
                         "the model again" % trees.n_outputs)
    return Detector(trees, threshold)


class Detector:
    """A loaded detector: predict(x) -> 1 (inlier) or 0 (outlier), scores(x) -> the one
    score (a 1-item array), plus n_features, features, kind (0: a classifier of two classes,
    outlier and inlier) and n_outputs (1)."""

    def __init__(self, model, threshold):
        self.model = model
        self.n_features = model.n_features
        self.features = model.features
        self.kind = 0
        self.n_outputs = 1
        self.threshold = threshold
        self.scores = model.scores
        self.predict = _decide(model.scores, threshold)


def _decide(scores, threshold):
    # A closure over two values: called with the row, it stays within the five MicroPython
    # passes on the stack (see emlab_common.bind).
    def predict(x):
        """1 if the row's score is >= the threshold (an inlier), else 0."""
        return 1 if scores(x)[0] >= threshold else 0
    return predict
